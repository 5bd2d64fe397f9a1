//! `commit -c`: one Dockerfile instruction that changes only an image's
//! config (CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME,
//! WORKDIR), parsed from its line and applied to a config object
//! (`{"Cmd": …, "Env": …}`, the OCI image config's `config`).

use serde_json::{json, Map, Value};

/// The instructions `commit -c` accepts.
pub const CHANGE_INSTRUCTIONS: &str =
    "CMD, ENTRYPOINT, ENV, EXPOSE, LABEL, ONBUILD, USER, VOLUME, WORKDIR";

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChangeError {
    #[error("invalid change {line:?}: {why}")]
    Invalid { line: String, why: String },
}

/// Applies each of `lines` to `config` in order.
pub fn apply_changes(config: &mut Map<String, Value>, lines: &[String]) -> Result<(), ChangeError> {
    let mut cmd_set = false;
    for line in lines {
        apply_one(config, line, &mut cmd_set)?;
    }
    Ok(())
}

fn apply_one(
    config: &mut Map<String, Value>,
    line: &str,
    cmd_set: &mut bool,
) -> Result<(), ChangeError> {
    let bad = |why: String| ChangeError::Invalid {
        line: line.to_string(),
        why,
    };
    let trimmed = line.trim();
    let (word, rest) = match trimmed.split_once(char::is_whitespace) {
        Some((w, r)) => (w, r.trim()),
        None => (trimmed, ""),
    };
    let instr = word.to_ascii_uppercase();
    let need_args = || {
        if rest.is_empty() {
            Err(bad(format!("{instr} requires at least one argument")))
        } else {
            Ok(())
        }
    };
    match instr.as_str() {
        "CMD" => {
            need_args()?;
            config.insert("Cmd".into(), json!(command_form(rest).map_err(bad)?));
            *cmd_set = true;
        }
        "ENTRYPOINT" => {
            need_args()?;
            config.insert("Entrypoint".into(), json!(command_form(rest).map_err(bad)?));
            // as in a Dockerfile: an inherited CMD does not outlive a new ENTRYPOINT
            if !*cmd_set {
                config.insert("Cmd".into(), Value::Null);
            }
        }
        "ENV" | "LABEL" => {
            need_args()?;
            let pairs = key_values(rest, instr == "ENV").map_err(bad)?;
            if instr == "ENV" {
                let env = config.entry("Env").or_insert_with(|| json!([]));
                if !env.is_array() {
                    *env = json!([]);
                }
                if let Some(list) = env.as_array_mut() {
                    for (k, v) in pairs {
                        let prefix = format!("{k}=");
                        list.retain(|e| !e.as_str().is_some_and(|e| e.starts_with(&prefix)));
                        list.push(json!(format!("{k}={v}")));
                    }
                }
            } else {
                let labels = object_entry(config, "Labels");
                for (k, v) in pairs {
                    labels.insert(k, json!(v));
                }
            }
        }
        "EXPOSE" => {
            need_args()?;
            let ports = object_entry(config, "ExposedPorts");
            for p in words(rest).map_err(bad)? {
                let (port, proto) = p.split_once('/').unwrap_or((&p, "tcp"));
                let valid_port =
                    |s: &str| !s.is_empty() && s.split('-').all(|n| n.parse::<u16>().is_ok());
                if !valid_port(port) || !matches!(proto, "tcp" | "udp" | "sctp") {
                    return Err(bad(format!("invalid port {p:?}")));
                }
                ports.insert(format!("{port}/{proto}"), json!({}));
            }
        }
        "ONBUILD" => {
            need_args()?;
            let inner = rest
                .split_whitespace()
                .next()
                .unwrap_or("")
                .to_ascii_uppercase();
            if matches!(inner.as_str(), "ONBUILD" | "FROM" | "MAINTAINER") {
                return Err(bad(format!("{inner} isn't allowed as an ONBUILD trigger")));
            }
            let list = config.entry("OnBuild").or_insert_with(|| json!([]));
            if !list.is_array() {
                *list = json!([]);
            }
            if let Some(l) = list.as_array_mut() {
                l.push(json!(rest));
            }
        }
        "USER" => {
            need_args()?;
            config.insert("User".into(), json!(rest));
        }
        "VOLUME" => {
            need_args()?;
            let paths = if rest.starts_with('[') {
                json_array(rest).ok_or_else(|| bad("VOLUME: malformed JSON array".into()))?
            } else {
                words(rest).map_err(bad)?
            };
            let vols = object_entry(config, "Volumes");
            for p in paths {
                if p.is_empty() {
                    return Err(bad("VOLUME specified can not be an empty string".into()));
                }
                vols.insert(p, json!({}));
            }
        }
        "WORKDIR" => {
            need_args()?;
            let dir = if rest.starts_with('/') {
                rest.to_string()
            } else {
                let base = config
                    .get("WorkingDir")
                    .and_then(Value::as_str)
                    .filter(|s| !s.is_empty())
                    .unwrap_or("/");
                format!("{}/{rest}", base.trim_end_matches('/'))
            };
            config.insert("WorkingDir".into(), json!(dir));
        }
        "" => return Err(bad("empty instruction".into())),
        other => {
            return Err(bad(format!(
                "{other} is not a valid change command (want one of {CHANGE_INSTRUCTIONS})"
            )))
        }
    }
    Ok(())
}

fn object_entry<'a>(config: &'a mut Map<String, Value>, key: &str) -> &'a mut Map<String, Value> {
    let v = config.entry(key).or_insert_with(|| json!({}));
    if !v.is_object() {
        *v = json!({});
    }
    match v {
        Value::Object(m) => m,
        _ => unreachable!("just made an object"),
    }
}

/// A JSON array of strings, or `None` when `s` is not one.
fn json_array(s: &str) -> Option<Vec<String>> {
    serde_json::from_str::<Vec<String>>(s).ok()
}

/// CMD/ENTRYPOINT: the exec form (a JSON array) or the shell form.
fn command_form(rest: &str) -> Result<Vec<String>, String> {
    if rest.starts_with('[') {
        if let Some(v) = json_array(rest) {
            return Ok(v);
        }
    }
    Ok(vec!["/bin/sh".into(), "-c".into(), rest.into()])
}

/// Splits on whitespace, honouring quotes and backslash escapes.
fn words(s: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some('"'), '\\') | (None, '\\') => {
                if let Some(n) = chars.next() {
                    cur.push(n);
                }
                in_word = true;
            }
            (Some(_), c) => cur.push(c),
            (None, '"' | '\'') => {
                quote = Some(c);
                in_word = true;
            }
            (None, c) if c.is_whitespace() => {
                if in_word {
                    out.push(std::mem::take(&mut cur));
                    in_word = false;
                }
            }
            (None, c) => {
                cur.push(c);
                in_word = true;
            }
        }
    }
    if quote.is_some() {
        return Err("unterminated quote".into());
    }
    if in_word {
        out.push(cur);
    }
    Ok(out)
}

/// ENV/LABEL arguments: `k=v k2="v 2"`, or (legacy) `k value with spaces`.
fn key_values(rest: &str, env: bool) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest)?;
    let first_has_eq = ws.first().is_some_and(|w| w.contains('='));
    if !first_has_eq {
        // `ENV key value…`: one pair, the value is the rest of the line
        let (k, v) = match rest.split_once(char::is_whitespace) {
            Some((k, v)) => (k.to_string(), v.trim().to_string()),
            None => {
                return Err(format!(
                    "{} must have two arguments",
                    if env { "ENV" } else { "LABEL" }
                ))
            }
        };
        return Ok(vec![(k, words(&v)?.join(" "))]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
            _ => Err(format!("{w:?}: want KEY=VALUE")),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn apply(lines: &[&str]) -> Result<Value, ChangeError> {
        let mut c = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]})
            .as_object()
            .cloned()
            .unwrap();
        let lines: Vec<String> = lines.iter().map(|s| s.to_string()).collect();
        apply_changes(&mut c, &lines)?;
        Ok(Value::Object(c))
    }

    #[test]
    fn each_instruction() {
        let c = apply(&[
            r#"CMD ["echo", "hi"]"#,
            "ENV A=1 B=\"two words\"",
            "ENV PATH /usr/bin",
            "EXPOSE 80 53/udp",
            "LABEL a=b",
            "ONBUILD RUN true",
            "USER nobody",
            "VOLUME /data",
            "WORKDIR /srv",
            "workdir app",
        ])
        .unwrap();
        assert_eq!(c["Cmd"], json!(["echo", "hi"]));
        assert_eq!(c["Env"], json!(["A=1", "B=two words", "PATH=/usr/bin"]));
        assert_eq!(c["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
        assert_eq!(c["Labels"], json!({"a": "b"}));
        assert_eq!(c["OnBuild"], json!(["RUN true"]));
        assert_eq!(c["User"], json!("nobody"));
        assert_eq!(c["Volumes"], json!({"/data": {}}));
        assert_eq!(c["WorkingDir"], json!("/srv/app"));
    }

    #[test]
    fn shell_form_and_entrypoint_resets_inherited_cmd() {
        let c = apply(&["ENTRYPOINT top -b"]).unwrap();
        assert_eq!(c["Entrypoint"], json!(["/bin/sh", "-c", "top -b"]));
        assert_eq!(c["Cmd"], Value::Null);
        let c = apply(&["CMD x", "ENTRYPOINT [\"e\"]"]).unwrap();
        assert_eq!(c["Cmd"], json!(["/bin/sh", "-c", "x"]));
    }

    #[test]
    fn bad_lines_say_what() {
        let e = apply(&["RUN rm -rf /"]).unwrap_err().to_string();
        assert!(
            e.starts_with("invalid change \"RUN rm -rf /\": RUN is not a valid change command"),
            "{e}"
        );
        assert!(apply(&["CMD"]).is_err());
        assert!(apply(&["EXPOSE http"]).is_err());
        assert!(apply(&["ENV A=\"x"]).is_err());
        assert!(apply(&["ONBUILD FROM x"]).is_err());
        assert!(apply(&[""]).is_err());
    }
}
