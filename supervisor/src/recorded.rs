//! What `create` records about a container that the manager's record has no
//! field for, read back by `inspect` and `ps`: the streams `-a` attached
//! (docker's `Config.AttachStdin/Stdout/Stderr`) and the exposed ports
//! (`Config.ExposedPorts`: the image's, `--expose`, the published ones),
//! which `ps -f expose=` matches. Both ride in the spec's annotations, so
//! the record keeps them as it keeps the spec.

use std::collections::BTreeSet;

use serde_json::{json, Value};

use crate::cli::CreateFlags;

const ATTACH_ANNOTATION: &str = "berth.attach";
const EXPOSED_ANNOTATION: &str = "berth.exposed";

/// The streams a container was created attached to.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attached {
    pub stdin: bool,
    pub stdout: bool,
    pub stderr: bool,
}

/// docker's rule: `-a` names the streams; without it stdout and stderr;
/// `-i` adds stdin; a detached `run` attaches none.
pub fn attached(f: &CreateFlags) -> Result<Attached, String> {
    if f.detached {
        return Ok(Attached::default());
    }
    let shown = crate::session::Shown::parse(&f.attach)?;
    Ok(Attached {
        stdin: f.interactive || (!f.attach.is_empty() && shown.stdin),
        stdout: shown.stdout,
        stderr: shown.stderr,
    })
}

/// The container's exposed ports as `80/tcp`, sorted: the image's,
/// `--expose` (ranges spelled out) and every published container port.
pub fn exposed(f: &CreateFlags, image_config_json: &str) -> Result<Vec<String>, String> {
    let mut ports: BTreeSet<String> = crate::netflags::image_exposed(image_config_json)
        .into_iter()
        .map(|(p, proto)| format!("{p}/{proto}"))
        .collect();
    for e in &f.net.expose {
        for (p, proto) in crate::netflags::parse_expose(e)? {
            ports.insert(format!("{p}/{proto}"));
        }
    }
    for p in &f.net.publish {
        for m in crate::netflags::parse_publish(p)? {
            ports.insert(format!("{}/{}", m.container_port, m.protocol));
        }
    }
    Ok(ports.into_iter().collect())
}

/// Writes both into the spec's annotations.
pub fn annotate(spec: &mut Value, a: Attached, exposed: &[String]) {
    let streams: Vec<&str> = [
        (a.stdin, "stdin"),
        (a.stdout, "stdout"),
        (a.stderr, "stderr"),
    ]
    .iter()
    .filter(|(on, _)| *on)
    .map(|(_, s)| *s)
    .collect();
    spec["annotations"][ATTACH_ANNOTATION] = json!(streams.join(","));
    if !exposed.is_empty() {
        spec["annotations"][EXPOSED_ANNOTATION] = json!(exposed.join(","));
    }
}

fn annotation<'a>(spec: &'a Value, key: &str) -> impl Iterator<Item = &'a str> {
    spec["annotations"][key]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .filter(|s| !s.is_empty())
}

/// The streams recorded at create (none for a container made before
/// they were recorded).
pub fn attached_of(spec: &Value) -> Attached {
    let mut a = Attached::default();
    for s in annotation(spec, ATTACH_ANNOTATION) {
        match s {
            "stdin" => a.stdin = true,
            "stdout" => a.stdout = true,
            "stderr" => a.stderr = true,
            _ => {}
        }
    }
    a
}

/// The exposed ports recorded at create.
pub fn exposed_of(spec: &Value) -> Vec<String> {
    annotation(spec, EXPOSED_ANNOTATION)
        .map(String::from)
        .collect()
}

/// docker's `Config.AttachStdin/Stdout/Stderr` and `ExposedPorts`
/// (left out when there are none, as docker leaves it out).
pub fn add_to_config(config: &mut Value, spec: &Value) {
    let a = attached_of(spec);
    config["AttachStdin"] = json!(a.stdin);
    config["AttachStdout"] = json!(a.stdout);
    config["AttachStderr"] = json!(a.stderr);
    let exposed = exposed_of(spec);
    if !exposed.is_empty() {
        config["ExposedPorts"] = exposed
            .into_iter()
            .map(|p| (p, json!({})))
            .collect::<serde_json::Map<_, _>>()
            .into();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recorded_streams_and_ports_read_back() {
        let mut spec = json!({});
        let a = Attached {
            stdin: false,
            stdout: false,
            stderr: true,
        };
        annotate(&mut spec, a, &["80/tcp".into(), "8000/udp".into()]);
        assert_eq!(attached_of(&spec), a);
        assert_eq!(exposed_of(&spec), ["80/tcp", "8000/udp"]);
        let mut config = json!({});
        add_to_config(&mut config, &spec);
        assert_eq!(
            config,
            json!({"AttachStdin": false, "AttachStdout": false, "AttachStderr": true,
                   "ExposedPorts": {"80/tcp": {}, "8000/udp": {}}})
        );
        assert_eq!(attached_of(&json!({})), Attached::default());
    }
}
