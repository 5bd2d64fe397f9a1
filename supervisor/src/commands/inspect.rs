//! `berth inspect`: docker-shaped JSON for containers and images, and the
//! `-f '{{.Path}}'` subset of Go templates scripts use most.

use berth_proto::manager::{ContainerInfo, GetImageRequest, ImageInfo};
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::client::Manager;
use crate::error::CliError;
use crate::format::{rfc3339, ts};

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
        "GraphDriver": {"Name": "overlayfs", "Data": {"Mounts": c.rootfs_mounts}},
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

fn is_default_mount(m: &Value) -> bool {
    matches!(m["destination"].as_str(), Some("/dev" | "/dev/shm"))
}

/// An image as docker's inspect shows it.
pub fn image_json(i: &ImageInfo) -> Value {
    let cfg: Value = serde_json::from_str(&i.config_json).unwrap_or(Value::Null);
    let inner = if cfg.get("config").is_some() {
        cfg["config"].clone()
    } else {
        cfg
    };
    json!({
        "Id": i.id,
        "RepoTags": i.references,
        "RepoDigests": if i.manifest_digest.is_empty() { vec![] } else { vec![i.manifest_digest.clone()] },
        "Created": rfc3339(ts(i.created.as_ref())),
        "Config": inner,
        "Architecture": i.architecture,
        "Os": i.os,
        "Size": i.size,
    })
}

/// Evaluates `{{.A.B}}` and `{{json .A}}` against `v`; other text is kept.
pub fn render_template(tpl: &str, v: &Value) -> Result<String, String> {
    let mut out = String::new();
    let mut rest = tpl;
    while let Some(start) = rest.find("{{") {
        out.push_str(&rest[..start]);
        let after = &rest[start + 2..];
        let end = after
            .find("}}")
            .ok_or_else(|| format!("template: unclosed action in {tpl:?}"))?;
        let action = after[..end].trim();
        let (as_json, path) = match action.strip_prefix("json ") {
            Some(p) => (true, p.trim()),
            None => (false, action),
        };
        let field = lookup(v, path)
            .ok_or_else(|| format!("template: {action:?}: can't evaluate field {path}"))?;
        if as_json {
            out.push_str(&field.to_string());
        } else {
            match field {
                Value::String(s) => out.push_str(s),
                Value::Null => out.push_str("<no value>"),
                other => out.push_str(&other.to_string()),
            }
        }
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
                Ok(c) => {
                    let mut cj = container_json(&c);
                    crate::mounts::describe_volume_mounts(&mut cj);
                    v = Some(crate::health::with_health(m, cj, &c.id).await)
                }
                Err(e) if e.is_not_found() => {}
                Err(e) => {
                    eprintln!("{e}");
                    return 1;
                }
            }
        }
        if v.is_none() && want_i {
            let mut r = GetImageRequest::new();
            r.reference = n.clone();
            match m.images.get_image(m.ctx(), &r).await.map_err(|e| m.err(e)) {
                Ok(i) => v = Some(image_json(&i)),
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
    match &a.format {
        Some(tpl) => {
            for v in &found {
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
            serde_json::to_string_pretty(&Value::Array(found)).unwrap_or_default()
        ),
    }
    code
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
