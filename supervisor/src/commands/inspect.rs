//! `berth inspect`: docker-shaped JSON for containers and images, and the
//! subset of Go templates scripts use most: `{{.Path}}` (printed as Go
//! prints it), `{{json .Path}}`, `{{len .Path}}`, `{{index .Path "key"}}`.

use berth_proto::layers::{InspectImageRequest, InspectImageResponse};
use berth_proto::manager::ContainerInfo;
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::client::Manager;
use crate::error::CliError;
use crate::format::{familiar, rfc3339, ts};

/// A container as docker's inspect shows it.
pub fn container_json(c: &ContainerInfo) -> Value {
    let spec: Value = serde_json::from_str(&c.spec_json).unwrap_or(Value::Null);
    let args: Vec<Value> = spec["process"]["args"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let (path, rest) = match args.split_first() {
        Some((p, r)) => (p.clone(), r.to_vec()),
        None => (json!(""), vec![]),
    };
    let mounts: Vec<Value> = spec["mounts"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["type"] == "bind" || m["type"] == "tmpfs" && !is_default_mount(m))
                .map(|m| {
                    let opts: Vec<&str> = m["options"]
                        .as_array()
                        .map(|o| o.iter().filter_map(Value::as_str).collect())
                        .unwrap_or_default();
                    json!({
                        "Type": m["type"],
                        "Source": m["source"],
                        "Destination": m["destination"],
                        "Mode": if opts.contains(&"ro") { "ro" } else { "" },
                        "RW": !opts.contains(&"ro"),
                        "Propagation": opts.iter().find(|o| o.contains("private") || o.contains("shared") || o.contains("slave")).copied().unwrap_or(""),
                    })
                })
                .collect()
        })
        .unwrap_or_default();
    let res = &spec["linux"]["resources"];
    let rp = c.restart_policy.as_ref();
    json!({
        "Id": c.id,
        "Created": rfc3339(ts(c.created.as_ref())),
        "Path": path,
        "Args": rest,
        "State": {
            "Status": c.status,
            "Running": c.status == "running" || c.status == "paused",
            "Paused": c.status == "paused",
            "Restarting": c.status == "restarting",
            "OOMKilled": c.oom_killed,
            "Dead": c.status == "dead",
            "Pid": c.pid,
            "ExitCode": c.exit_code,
            "Error": c.error,
            "StartedAt": rfc3339(ts(c.started_at.as_ref())),
            "FinishedAt": rfc3339(ts(c.finished_at.as_ref())),
        },
        "Image": c.image_id,
        "LogPath": c.log_path,
        "Name": format!("/{}", c.name),
        "RestartCount": c.restart_count,
        "Driver": "overlayfs",
        "Platform": "linux",
        "HostConfig": {
            "AutoRemove": c.auto_remove,
            "RestartPolicy": {
                "Name": rp.map(|r| r.name.clone()).unwrap_or_default(),
                "MaximumRetryCount": rp.map(|r| r.max_retries).unwrap_or(0),
            },
            "NetworkMode": if spec["linux"]["namespaces"].as_array().is_some_and(|n| n.iter().any(|x| x["type"] == "network")) { "none" } else { "host" },
            "Memory": res["memory"]["limit"].as_i64().unwrap_or(0),
            "CpuQuota": res["cpu"]["quota"].as_i64().unwrap_or(0),
            "CpuPeriod": res["cpu"]["period"].as_u64().unwrap_or(0),
            "PidsLimit": res["pids"]["limit"].as_i64(),
        },
        "GraphDriver": {"Name": "overlayfs", "Data": graph_driver_data(c)},
        "Mounts": mounts,
        "Config": {
            "Hostname": spec["hostname"].as_str().unwrap_or(&c.id[..c.id.len().min(12)]),
            "User": format!("{}:{}", spec["process"]["user"]["uid"].as_u64().unwrap_or(0), spec["process"]["user"]["gid"].as_u64().unwrap_or(0)),
            "Tty": c.tty,
            "OpenStdin": c.open_stdin,
            "Env": spec["process"]["env"],
            "Cmd": args,
            "Image": c.image,
            "WorkingDir": spec["process"]["cwd"],
            "Labels": c.labels,
            "StopSignal": c.stop_signal,
            "StopTimeout": c.stop_timeout,
        },
        "BundlePath": c.bundle,
    })
}

/// docker's `GraphDriver.Data`, a map of strings: the overlay's dirs from
/// the rootfs mount line `overlay overlay on / (lowerdir=…,upperdir=…,workdir=…)`.
fn graph_driver_data(c: &ContainerInfo) -> Value {
    let mut data = serde_json::Map::new();
    let opts = c
        .rootfs_mounts
        .iter()
        .find_map(|l| l.rsplit_once('(').and_then(|(_, o)| o.strip_suffix(')')));
    for o in opts.into_iter().flat_map(|o| o.split(',')) {
        for (prefix, key) in [
            ("lowerdir=", "LowerDir"),
            ("upperdir=", "UpperDir"),
            ("workdir=", "WorkDir"),
        ] {
            if let Some(v) = o.strip_prefix(prefix) {
                data.insert(key.into(), v.into());
            }
        }
    }
    Value::Object(data)
}

fn is_default_mount(m: &Value) -> bool {
    matches!(m["destination"].as_str(), Some("/dev" | "/dev/shm"))
}

/// The keys docker's image `Config` always carries, with their zero values.
const IMAGE_CONFIG_DEFAULTS: [(&str, Value); 17] = [
    ("Hostname", Value::String(String::new())),
    ("Domainname", Value::String(String::new())),
    ("User", Value::String(String::new())),
    ("AttachStdin", Value::Bool(false)),
    ("AttachStdout", Value::Bool(false)),
    ("AttachStderr", Value::Bool(false)),
    ("Tty", Value::Bool(false)),
    ("OpenStdin", Value::Bool(false)),
    ("StdinOnce", Value::Bool(false)),
    ("Env", Value::Null),
    ("Cmd", Value::Null),
    ("Image", Value::String(String::new())),
    ("Volumes", Value::Null),
    ("WorkingDir", Value::String(String::new())),
    ("Entrypoint", Value::Null),
    ("OnBuild", Value::Null),
    ("Labels", Value::Null),
];

/// An image as docker's inspect shows it, from its config blob as stored.
pub fn raw_image_json(i: &InspectImageResponse) -> Value {
    let cfg: Value = serde_json::from_str(&i.config_json).unwrap_or(Value::Null);
    let mut config = serde_json::Map::new();
    for (k, v) in IMAGE_CONFIG_DEFAULTS.iter() {
        config.insert(k.to_string(), v.clone());
    }
    if let Some(stored) = cfg["config"].as_object() {
        for (k, v) in stored {
            config.insert(k.clone(), v.clone());
        }
    }
    let s = |k: &str| cfg[k].as_str().unwrap_or_default().to_string();
    json!({
        "Id": i.id,
        "RepoTags": i.references.iter().map(|r| familiar(r)).collect::<Vec<_>>(),
        "RepoDigests": [],
        "Parent": i.parent,
        "Comment": s("comment"),
        "Created": s("created"),
        "DockerVersion": s("docker_version"),
        "Author": s("author"),
        "Config": config,
        "Architecture": s("architecture"),
        "Os": s("os"),
        "Size": i.size,
        "RootFS": {
            "Type": cfg["rootfs"]["type"].as_str().unwrap_or("layers"),
            "Layers": cfg["rootfs"]["diff_ids"].as_array().cloned().unwrap_or_default(),
        },
        "Metadata": {"LastTagTime": "0001-01-01T00:00:00Z"},
    })
}

/// Splits a template action into its words, keeping quoted strings whole.
fn action_words(action: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in action.chars() {
        match c {
            '"' => {
                cur.push(c);
                quoted = !quoted;
            }
            c if c.is_whitespace() && !quoted => {
                if !cur.is_empty() {
                    out.push(std::mem::take(&mut cur));
                }
            }
            c => cur.push(c),
        }
    }
    if !cur.is_empty() {
        out.push(cur);
    }
    out
}

/// Evaluates one action: `.A.B`, `json .A`, `len .A`, `index .A "k"`.
fn eval_action(action: &str, v: &Value) -> Result<String, String> {
    let words = action_words(action);
    let field = |path: &str| {
        lookup(v, path).ok_or_else(|| format!("template: {action:?}: can't evaluate field {path}"))
    };
    match words.as_slice() {
        [f, path] if f == "json" => Ok(json_go(field(path)?)),
        [f, path] if f == "len" => match field(path)? {
            Value::Array(a) => Ok(a.len().to_string()),
            Value::Object(o) => Ok(o.len().to_string()),
            Value::String(s) => Ok(s.len().to_string()),
            Value::Null => Ok("0".into()),
            other => Err(format!("template: {action:?}: len of {other}")),
        },
        [f, path, key] if f == "index" => {
            let base = field(path)?;
            let got = match key.parse::<usize>() {
                Ok(n) => base.get(n),
                Err(_) => base.get(key.trim_matches('"')),
            };
            Ok(got.map_or_else(|| "<no value>".to_string(), |x| go_print(x, key)))
        }
        [path] => {
            let last = path.rsplit('.').next().unwrap_or(path);
            Ok(go_print(field(path)?, last))
        }
        _ => Err(format!("template: {action:?}: unsupported action")),
    }
}

/// What Go's `json` template function prints: compact, with `<`, `>` and
/// `&` escaped.
fn json_go(v: &Value) -> String {
    v.to_string()
        .replace('<', "\\u003c")
        .replace('>', "\\u003e")
        .replace('&', "\\u0026")
}

/// Fields docker's structs hold as slices or maps: their nil prints `[]` or
/// `map[]`, not `<no value>`.
const SLICE_FIELDS: [&str; 8] = [
    "Cmd",
    "Entrypoint",
    "Env",
    "OnBuild",
    "Layers",
    "RepoTags",
    "RepoDigests",
    "Args",
];
const MAP_FIELDS: [&str; 4] = ["Labels", "Volumes", "ExposedPorts", "Options"];

/// A value as Go's template printing shows it: `[a b]`, `map[k:v]`.
fn go_print(v: &Value, field: &str) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Null if SLICE_FIELDS.contains(&field) => "[]".into(),
        Value::Null if MAP_FIELDS.contains(&field) => "map[]".into(),
        Value::Null => "<no value>".into(),
        Value::Array(a) => format!(
            "[{}]",
            a.iter()
                .map(|x| go_print(x, ""))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        Value::Object(o) => format!(
            "map[{}]",
            o.iter()
                .map(|(k, x)| format!("{k}:{}", go_print(x, k)))
                .collect::<Vec<_>>()
                .join(" ")
        ),
        other => other.to_string(),
    }
}

/// Evaluates the `{{…}}` actions of `tpl` against `v`; other text is kept.
pub fn render_template(tpl: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {tpl:?}"))?;
        out.push_str(&eval_action(after[..end].trim(), v)?);
        rest = &after[end + 2..];
    }
    out.push_str(rest);
    Ok(out)
}

fn lookup<'a>(v: &'a Value, path: &str) -> Option<&'a Value> {
    if path == "." {
        return Some(v);
    }
    let mut cur = v;
    for part in path.strip_prefix('.')?.split('.') {
        cur = cur.get(part)?;
    }
    Some(cur)
}

/// Prints inspected objects: through the template `format`, or as docker's
/// indented JSON array. Returns the exit code.
pub fn print_inspected(found: &[Value], format: Option<&str>) -> i32 {
    match format {
        Some(tpl) => {
            for v in found {
                match render_template(tpl, v) {
                    Ok(s) => println!("{s}"),
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                }
            }
        }
        None => println!(
            "{}",
            serde_json::to_string_pretty(&Value::Array(found.to_vec())).unwrap_or_default()
        ),
    }
    0
}

/// A container's whole inspect JSON: its record, networks, volume mounts
/// and health (`berth inspect` and the API's `/containers/{id}/json`).
pub async fn container_inspect_json(m: &Manager, c: &ContainerInfo) -> Value {
    let mut j = container_json(c);
    crate::commands::network::add_network_settings(m, c, &mut j).await;
    crate::mounts::describe_volume_mounts(&mut j);
    crate::health::with_health(m, j, &c.id).await
}

/// `berth inspect`.
pub async fn inspect(m: &Manager, a: &InspectArgs) -> i32 {
    let mut found = Vec::new();
    let mut code = 0;
    for n in &a.names {
        let want_c = a.kind.as_deref().is_none_or(|k| k == "container");
        let want_i = a.kind.as_deref().is_none_or(|k| k == "image");
        let mut v = None;
        if want_c {
            match crate::commands::container::resolve(m, n).await {
                Ok(c) => v = Some(container_inspect_json(m, &c).await),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            }
        }
        if v.is_none() && want_i {
            let mut r = InspectImageRequest::new();
            r.image = n.clone();
            match m
                .layers
                .inspect_image(m.ctx(), &r)
                .await
                .map_err(|e| m.err(e))
            {
                Ok(i) => v = Some(raw_image_json(&i)),
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            }
        }
        match v {
            Some(v) => found.push(v),
            None => {
                let e = if a.kind.as_deref() == Some("image") {
                    CliError::NoSuchImage(n.clone())
                } else {
                    CliError::NoSuchObject(n.clone())
                };
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    match print_inspected(&found, a.format.as_deref()) {
        0 => code,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates() {
        let v = json!({"State": {"Status": "running", "Pid": 5}, "Name": "/x", "Env": ["A=1"]});
        assert_eq!(render_template("{{.State.Status}}", &v).unwrap(), "running");
        assert_eq!(
            render_template("pid={{ .State.Pid }}!", &v).unwrap(),
            "pid=5!"
        );
        assert_eq!(render_template("{{json .Env}}", &v).unwrap(), "[\"A=1\"]");
        assert!(render_template("{{.Nope}}", &v).is_err());
        assert_eq!(render_template("{{len .Env}}", &v).unwrap(), "1");
        assert_eq!(render_template("{{.Env}}", &v).unwrap(), "[A=1]");
        assert_eq!(
            render_template("{{index .State \"Pid\"}}", &v).unwrap(),
            "5"
        );
        let img = json!({"Config": {"Cmd": ["sh", "-c", "a<b"], "Entrypoint": null, "Labels": {"k": "v"}}});
        assert_eq!(
            render_template("{{.Config.Cmd}}", &img).unwrap(),
            "[sh -c a<b]"
        );
        assert_eq!(
            render_template("{{.Config.Entrypoint}}", &img).unwrap(),
            "[]"
        );
        assert_eq!(
            render_template("{{.Config.Labels}}", &img).unwrap(),
            "map[k:v]"
        );
        assert_eq!(
            render_template("{{json .Config.Cmd}}", &img).unwrap(),
            "[\"sh\",\"-c\",\"a\\u003cb\"]"
        );
        assert!(render_template("{{.Name", &v).is_err());
    }

    #[test]
    fn container_shape() {
        let mut c = ContainerInfo::new();
        c.id = "0123456789abcdef".into();
        c.name = "web".into();
        c.status = "exited".into();
        c.exit_code = 3;
        c.spec_json = r#"{"process":{"args":["sh","-c","exit 3"],"cwd":"/","user":{"uid":0,"gid":0}},
            "mounts":[{"destination":"/data","type":"bind","source":"/tmp","options":["rbind","rprivate","ro"]}],
            "linux":{"namespaces":[{"type":"network"}],"resources":{"memory":{"limit":1048576}}}}"#.into();
        let v = container_json(&c);
        assert_eq!(v["Name"], "/web");
        assert_eq!(v["Path"], "sh");
        assert_eq!(v["Args"], json!(["-c", "exit 3"]));
        assert_eq!(v["State"]["ExitCode"], 3);
        assert_eq!(v["State"]["Running"], false);
        assert_eq!(v["HostConfig"]["Memory"], 1048576);
        assert_eq!(v["HostConfig"]["NetworkMode"], "none");
        assert_eq!(v["Mounts"][0]["RW"], false);
        assert_eq!(v["Config"]["Hostname"], "0123456789ab");
    }
}
