//! `berth inspect`: docker-shaped JSON for containers and images, printed
//! through [`crate::render`] (indented JSON, `json`, or a Go template).

use berth_proto::layers::{InspectImageRequest, InspectImageResponse};
use berth_proto::manager::ContainerInfo;
use serde_json::{json, Value};

use crate::cli::InspectArgs;
use crate::client::Manager;
use crate::error::CliError;
use crate::format::{familiar, rfc3339, ts};

/// A container as docker's inspect shows it.
pub fn container_json(c: &ContainerInfo) -> Value {
    let mut j = container_json_base(c);
    let spec: Value = serde_json::from_str(&c.spec_json).unwrap_or(Value::Null);
    crate::recorded::add_to_config(&mut j["Config"], &spec);
    j
}

fn container_json_base(c: &ContainerInfo) -> Value {
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
            "LogConfig": crate::logflags::inspect(&spec),
            "NetworkMode": if spec["linux"]["namespaces"].as_array().is_some_and(|n| n.iter().any(|x| x["type"] == "network")) { "none" } else { "host" },
            "Memory": res["memory"]["limit"].as_i64().unwrap_or(0),
            "CpuQuota": res["cpu"]["quota"].as_i64().unwrap_or(0),
            "CpuPeriod": res["cpu"]["period"].as_u64().unwrap_or(0),
            "PidsLimit": res["pids"]["limit"].as_i64(),
            "MemorySwap": res["memory"]["swap"].as_i64().unwrap_or(0),
            "CpuShares": res["cpu"]["shares"].as_u64().unwrap_or(0),
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

/// A container as `inspect` shows it: the record plus its networks, volume
/// mounts and health (the CLI and the Docker API both call this).
pub async fn container_inspect_json(m: &Manager, c: &ContainerInfo) -> Value {
    let mut j = container_json(c);
    crate::commands::network::add_network_settings(m, c, &mut j).await;
    crate::mounts::describe_volume_mounts(&mut j);
    crate::health::with_health(m, j, &c.id).await
}

/// `berth inspect`.
pub async fn inspect(m: &Manager, a: &InspectArgs) -> i32 {
    if let Err(e) = crate::render::check_inspect(a.format.as_deref()) {
        eprintln!("{e}");
        return e.exit_code();
    }
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
    match crate::render::print_inspect(&found, a.format.as_deref()) {
        0 => code,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn templates_on_inspected_shapes() {
        let v = json!({"State": {"Status": "running", "Pid": 5}, "Name": "/x", "Env": ["A=1"]});
        let img = json!({"Config": {"Cmd": ["sh", "-c", "a<b"], "Entrypoint": null, "Labels": {"k": "v"}}});
        let one = |tpl: &str, v: &Value| {
            crate::render::inspect(std::slice::from_ref(v), Some(tpl)).unwrap()
        };
        assert_eq!(one("{{.State.Status}}", &v), "running\n");
        assert_eq!(one("{{json .Env}}", &v), "[\"A=1\"]\n");
        assert_eq!(one("{{.Config.Cmd}}", &img), "[sh -c a<b]\n");
        assert_eq!(one("{{.Config.Entrypoint}}", &img), "[]\n");
        assert_eq!(one("{{.Config.Labels}}", &img), "map[k:v]\n");
        assert_eq!(
            one("{{json .Config.Cmd}}", &img),
            "[\"sh\",\"-c\",\"a\\u003cb\"]\n"
        );
        assert!(crate::render::inspect(&[v], Some("{{.Nope}}")).is_err());
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
