//! Merging `-f` files in order, as the compose spec says: mappings merge key
//! by key; `command`, `entrypoint` and `healthcheck.test` are replaced;
//! `environment`, `labels`, `build.args`, `extra_hosts`, `depends_on` and
//! service `networks` merge as maps whichever form each file used; `ports`
//! merge by their published address, `volumes` by their target, `expose`,
//! `dns`, `tmpfs`, `env_file`, `cap_add`/`cap_drop` and `profiles` as sets;
//! other sequences append. The `!reset` tag removes a value, `!override`
//! replaces it whole.

use serde_norway::{Mapping, Value};

/// A mapping key as text (YAML allows numbers and booleans as keys).
pub fn key_text(k: &Value) -> String {
    match k {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        Value::Null => "null".into(),
        _ => String::new(),
    }
}

/// Merges `over` onto `base` (both whole files).
pub fn merge_files(base: Value, over: Value) -> Value {
    merge_at(base, over, &mut Vec::new())
}

/// Drops `!reset` values and unwraps `!override`, for a file that is not
/// merged onto anything (the first one).
pub fn strip_tags(v: Value) -> Value {
    match v {
        Value::Tagged(t) if tag_is(&t.tag, "override") => strip_tags(t.value),
        Value::Tagged(t) if tag_is(&t.tag, "reset") => Value::Null,
        Value::Mapping(m) => Value::Mapping(
            m.into_iter()
                .filter(|(_, v)| !is_reset(v))
                .map(|(k, v)| (k, strip_tags(v)))
                .collect(),
        ),
        Value::Sequence(s) => Value::Sequence(
            s.into_iter()
                .filter(|v| !is_reset(v))
                .map(strip_tags)
                .collect(),
        ),
        other => other,
    }
}

fn tag_is(tag: &serde_norway::value::Tag, name: &str) -> bool {
    tag.to_string().trim_start_matches('!') == name
}

fn is_reset(v: &Value) -> bool {
    matches!(v, Value::Tagged(t) if tag_is(&t.tag, "reset"))
}

/// How the value at a path merges.
enum Rule {
    Replace,
    /// List or map forms of `KEY=VALUE` / `KEY: VALUE`, merged as a map.
    KeyValueMap(char),
    /// Lists of names or maps by name (`depends_on`, service `networks`).
    NamedMap,
    /// A string or a list, merged as a set in order.
    Set,
    /// Sequences of items deduplicated by a key, the later item winning.
    UniqueBy(fn(&Value) -> String),
    Default,
}

fn rule(path: &[String]) -> Rule {
    let p: Vec<&str> = path.iter().map(String::as_str).collect();
    match p.as_slice() {
        ["services", _, "command" | "entrypoint"] => Rule::Replace,
        ["services", _, "healthcheck", "test"] => Rule::Replace,
        ["services", _, "environment" | "labels"] => Rule::KeyValueMap('='),
        ["services", _, "build", "args" | "labels"] => Rule::KeyValueMap('='),
        ["services", _, "extra_hosts"] => Rule::KeyValueMap(':'),
        ["services", _, "depends_on" | "networks"] => Rule::NamedMap,
        ["networks" | "volumes", _, "labels"] => Rule::KeyValueMap('='),
        ["services", _, "dns" | "dns_search" | "tmpfs" | "env_file" | "expose"] => Rule::Set,
        ["services", _, "cap_add" | "cap_drop" | "profiles"] => Rule::Set,
        ["services", _, "networks", _, "aliases"] => Rule::Set,
        ["services", _, "ports"] => Rule::UniqueBy(port_key),
        ["services", _, "volumes"] => Rule::UniqueBy(volume_key),
        _ => Rule::Default,
    }
}

fn merge_at(base: Value, over: Value, path: &mut Vec<String>) -> Value {
    let over = match over {
        Value::Tagged(t) if tag_is(&t.tag, "override") => return strip_tags(t.value),
        Value::Tagged(t) if tag_is(&t.tag, "reset") => return Value::Null,
        other => other,
    };
    match rule(path) {
        Rule::Replace => strip_tags(over),
        Rule::KeyValueMap(sep) => {
            merge_maps(to_kv_map(base, sep), to_kv_map(strip_tags(over), sep), path)
        }
        Rule::NamedMap => merge_maps(to_named_map(base), to_named_map(strip_tags(over)), path),
        Rule::Set => {
            let mut out = to_list(base);
            for v in to_list(strip_tags(over)) {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Value::Sequence(out)
        }
        Rule::UniqueBy(key) => {
            let mut out = to_list(base);
            for v in to_list(strip_tags(over)) {
                let k = key(&v);
                match out.iter().position(|o| key(o) == k) {
                    Some(i) => out[i] = v,
                    None => out.push(v),
                }
            }
            Value::Sequence(out)
        }
        Rule::Default => match (base, over) {
            (Value::Mapping(b), Value::Mapping(o)) => merge_maps(b, o, path),
            // `build: ./dir` merged with `build: {…}`
            (Value::String(ctx), Value::Mapping(o)) if is_build(path) => {
                merge_maps(context_map(ctx), o, path)
            }
            (Value::Mapping(b), Value::String(ctx)) if is_build(path) => {
                merge_maps(b, context_map(ctx), path)
            }
            (Value::Sequence(mut b), Value::Sequence(o)) => {
                b.extend(o.into_iter().map(strip_tags));
                Value::Sequence(b)
            }
            (_, o) => strip_tags(o),
        },
    }
}

fn is_build(path: &[String]) -> bool {
    path.len() == 3 && path[0] == "services" && path[2] == "build"
}

fn context_map(ctx: String) -> Mapping {
    let mut m = Mapping::new();
    m.insert(Value::String("context".into()), Value::String(ctx));
    m
}

fn merge_maps(mut base: Mapping, over: Mapping, path: &mut Vec<String>) -> Value {
    for (k, v) in over {
        if is_reset(&v) {
            base.remove(&k);
            continue;
        }
        path.push(key_text(&k));
        let merged = match base.remove(&k) {
            Some(b) if !b.is_null() => merge_at(b, v, path),
            _ => merge_at(Value::Null, v, path),
        };
        path.pop();
        base.insert(k, merged);
    }
    Value::Mapping(base)
}

/// `[K=V, K]` or `{K: V}` as a mapping (`K` alone maps to null).
fn to_kv_map(v: Value, sep: char) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| {
                let s = scalar_text(&item);
                // extra_hosts accepts both `host:ip` and `host=ip`
                let split = if sep == ':' {
                    s.split_once('=').or_else(|| s.split_once(':'))
                } else {
                    s.split_once(sep)
                };
                match split {
                    Some((k, v)) => (Value::String(k.into()), Value::String(v.into())),
                    None => (Value::String(s), Value::Null),
                }
            })
            .collect(),
        _ => Mapping::new(),
    }
}

/// `[a, b]` or `{a: {…}}` as a mapping of name to options (null for none).
fn to_named_map(v: Value) -> Mapping {
    match v {
        Value::Mapping(m) => m,
        Value::Sequence(items) => items
            .into_iter()
            .map(|item| (Value::String(scalar_text(&item)), Value::Null))
            .collect(),
        _ => Mapping::new(),
    }
}

fn to_list(v: Value) -> Vec<Value> {
    match v {
        Value::Sequence(s) => s,
        Value::Null => Vec::new(),
        other => vec![other],
    }
}

fn scalar_text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Number(n) => n.to_string(),
        Value::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

/// The identity of a port entry, `ip:published:target/protocol`, the same
/// for the short and the long syntax of one port.
fn port_key(v: &Value) -> String {
    match v {
        Value::Mapping(m) => {
            let get = |k: &str| m.get(k).map(scalar_text).unwrap_or_default();
            let proto = match get("protocol") {
                p if p.is_empty() => "tcp".to_string(),
                p => p.to_ascii_lowercase(),
            };
            format!(
                "{}:{}:{}/{}",
                get("host_ip"),
                get("published"),
                get("target"),
                proto
            )
        }
        other => {
            let s = scalar_text(other);
            match crate::ports::parse_short(&s).as_deref() {
                Ok([p]) => format!(
                    "{}:{}:{}/{}",
                    p.host_ip.as_deref().unwrap_or_default(),
                    p.published.as_deref().unwrap_or_default(),
                    p.target,
                    p.protocol
                ),
                _ => s,
            }
        }
    }
}

/// The identity of a volume entry: its target path.
fn volume_key(v: &Value) -> String {
    match v {
        Value::Mapping(m) => m.get("target").map(scalar_text).unwrap_or_default(),
        other => {
            let s = scalar_text(other);
            let parts: Vec<&str> = s.split(':').collect();
            match parts.len() {
                1 => parts[0].to_string(),
                _ => parts[1].to_string(),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn y(s: &str) -> Value {
        serde_norway::from_str(s).unwrap()
    }

    fn merged(a: &str, b: &str) -> Value {
        merge_files(strip_tags(y(a)), y(b))
    }

    #[test]
    fn mappings_merge_key_by_key() {
        let m = merged(
            "services: {web: {image: a, restart: always}}",
            "services: {web: {image: b}, db: {image: c}}",
        );
        assert_eq!(
            m,
            y("services: {web: {image: b, restart: always}, db: {image: c}}")
        );
    }

    #[test]
    fn command_and_entrypoint_are_replaced() {
        let m = merged(
            "services: {web: {command: [a, b], entrypoint: [x], healthcheck: {test: [CMD, a], retries: 3}}}",
            "services: {web: {command: [c], entrypoint: sh, healthcheck: {test: [CMD, b]}}}",
        );
        assert_eq!(
            m,
            y("services: {web: {command: [c], entrypoint: sh, healthcheck: {test: [CMD, b], retries: 3}}}")
        );
    }

    #[test]
    fn environment_merges_across_forms() {
        let m = merged(
            "services: {web: {environment: [A=1, B=2, C]}}",
            "services: {web: {environment: {B: 3, D: 4}}}",
        );
        assert_eq!(
            m,
            y("services: {web: {environment: {A: '1', B: 3, C: null, D: 4}}}")
        );
    }

    #[test]
    fn ports_merge_by_address_and_volumes_by_target() {
        let m = merged(
            "services: {web: {ports: ['80:80', '443:443'], volumes: ['a:/data', '/x:/y']}}",
            "services: {web: {ports: ['80:80', '8080:80'], volumes: ['b:/data']}}",
        );
        assert_eq!(
            m,
            y("services: {web: {ports: ['80:80', '443:443', '8080:80'], volumes: ['b:/data', '/x:/y']}}")
        );
    }

    #[test]
    fn a_long_port_replaces_the_same_short_one() {
        let m = merged(
            "services: {web: {ports: ['8080:80', '9090:90']}}",
            "services: {web: {ports: [{target: 80, published: 8080, protocol: TCP}]}}",
        );
        assert_eq!(
            m,
            y("services: {web: {ports: [{target: 80, published: 8080, protocol: TCP}, '9090:90']}}")
        );
    }

    #[test]
    fn sets_and_named_maps() {
        let m = merged(
            "services: {web: {dns: 1.1.1.1, depends_on: [db], networks: [front], cap_add: [A]}}",
            "services: {web: {dns: [8.8.8.8, 1.1.1.1], depends_on: {cache: {condition: service_healthy}}, networks: {back: {aliases: [w]}}, cap_add: [A, B]}}",
        );
        assert_eq!(
            m,
            y("services: {web: {dns: [1.1.1.1, 8.8.8.8], depends_on: {db: null, cache: {condition: service_healthy}}, networks: {front: null, back: {aliases: [w]}}, cap_add: [A, B]}}")
        );
    }

    #[test]
    fn build_string_merges_with_mapping() {
        let m = merged(
            "services: {web: {build: ./app}}",
            "services: {web: {build: {target: prod}}}",
        );
        assert_eq!(
            m,
            y("services: {web: {build: {context: ./app, target: prod}}}")
        );
    }

    #[test]
    fn reset_and_override_tags() {
        let m = merged(
            "services: {web: {image: a, ports: ['80:80'], labels: {a: '1'}}}",
            "services: {web: {ports: !reset [], labels: !override {b: '2'}}}",
        );
        assert_eq!(m, y("services: {web: {image: a, labels: {b: '2'}}}"));
    }
}
