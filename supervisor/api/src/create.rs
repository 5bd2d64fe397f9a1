//! `POST /containers/create`: the request body (Config + HostConfig +
//! NetworkingConfig) becomes the flags `berth create` would be given, and
//! the CLI's own [`CreateFlags`] parser and container creation do the rest,
//! so the API and the CLI build the same spec from the same code.  A field
//! berth cannot honour is refused with a 400 naming it, never dropped.

use std::collections::HashMap;

use bollard_stubs::models::{ContainerConfig, HostConfig, MountTypeEnum, NetworkingConfig};
use clap::Parser;
use serde::Deserialize;

use berth_supervisor::cli::CreateFlags;

use crate::error::ApiError;

/// The create request's body.
#[derive(Debug, Default, Deserialize)]
pub struct CreateBody {
    #[serde(flatten)]
    pub config: ContainerConfig,
    #[serde(rename = "HostConfig")]
    pub host_config: Option<HostConfig>,
    #[serde(rename = "NetworkingConfig")]
    pub networking_config: Option<NetworkingConfig>,
}

/// `berth create`'s flags alone, parsed the way the CLI parses them.
#[derive(Parser)]
#[command(name = "create", no_binary_name = true)]
struct CreateOnly {
    #[command(flatten)]
    create: CreateFlags,
}

/// The value [`create_args`]'s flag writer takes for a flag without one.
const SWITCH: &str = "\0switch";

/// Healthcheck durations come in nanoseconds; the flags take Go durations.
fn nanos(n: i64) -> String {
    format!("{}ms", n / 1_000_000)
}

/// The `berth create` argv the body means (no program name), ending in
/// `-- IMAGE CMD…`.
pub fn create_args(body: &CreateBody, name: Option<&str>) -> Result<Vec<String>, ApiError> {
    let c = &body.config;
    let mut a: Vec<String> = Vec::new();
    let mut flag = |f: &str, v: &str| {
        a.push(f.to_string());
        if v != SWITCH {
            a.push(v.to_string());
        }
    };
    if let Some(n) = name.filter(|n| !n.is_empty()) {
        flag("--name", n.trim_start_matches('/'));
    }
    // the API never pulls on create: a missing image is the client's 404,
    // and docker's clients pull then (with their progress)
    flag("--pull", "never");
    for e in c.env.iter().flatten() {
        flag("--env", e);
    }
    if let Some(w) = c.working_dir.as_deref().filter(|w| !w.is_empty()) {
        flag("--workdir", w);
    }
    if let Some(u) = c.user.as_deref().filter(|u| !u.is_empty()) {
        flag("--user", u);
    }
    if let Some(h) = c.hostname.as_deref().filter(|h| !h.is_empty()) {
        flag("--hostname", h);
    }
    if let Some(s) = c.stop_signal.as_deref().filter(|s| !s.is_empty()) {
        flag("--stop-signal", s);
    }
    if let Some(t) = c.stop_timeout {
        flag("--stop-timeout", &t.to_string());
    }
    let mut labels: Vec<_> = c.labels.iter().flatten().collect();
    labels.sort();
    for (k, v) in labels {
        flag("--label", &format!("{k}={v}"));
    }
    for p in c.exposed_ports.iter().flat_map(|m| m.keys()) {
        flag("--expose", p);
    }
    if let Some(h) = &c.healthcheck {
        match h.test.as_deref() {
            Some([none]) if none == "NONE" => a.push("--no-healthcheck".into()),
            Some([kind, rest @ ..]) if kind == "CMD-SHELL" || kind == "CMD" => {
                let mut flag = |f: &str, v: &str| {
                    a.push(f.to_string());
                    a.push(v.to_string());
                };
                flag("--health-cmd", &rest.join(" "));
                if let Some(i) = h.interval.filter(|&i| i > 0) {
                    flag("--health-interval", &nanos(i));
                }
                if let Some(t) = h.timeout.filter(|&t| t > 0) {
                    flag("--health-timeout", &nanos(t));
                }
                if let Some(s) = h.start_period.filter(|&s| s > 0) {
                    flag("--health-start-period", &nanos(s));
                }
                if let Some(r) = h.retries.filter(|&r| r > 0) {
                    flag("--health-retries", &r.to_string());
                }
            }
            None => {}
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                "Healthcheck.Test {other:?}: use [\"CMD\", …], [\"CMD-SHELL\", cmd] or [\"NONE\"]"
            )))
            }
        }
    }
    let mut flag = |f: &str, v: &str| {
        a.push(f.to_string());
        if v != SWITCH {
            a.push(v.to_string());
        }
    };
    if let Some(h) = &body.host_config {
        host_config_args(h, &mut flag)?;
    }
    if let Some(n) = &body.networking_config {
        let eps = n.endpoints_config.as_ref();
        for ep in eps.into_iter().flat_map(|m| m.values()) {
            for al in ep.aliases.iter().flatten() {
                flag("--network-alias", al);
            }
            if let Some(ip) = ep
                .ipam_config
                .as_ref()
                .and_then(|i| i.ipv4_address.as_deref())
                .filter(|i| !i.is_empty())
            {
                flag("--ip", ip);
            }
        }
    }
    if c.tty == Some(true) {
        a.push("--tty".into());
    }
    if c.open_stdin == Some(true) {
        a.push("--interactive".into());
    }
    let mut cmd: Vec<String> = Vec::new();
    if let Some(ep) = &c.entrypoint {
        match ep.split_first() {
            // [""] resets the image's entrypoint
            None => a.extend(["--entrypoint".into(), String::new()]),
            Some((first, rest)) => {
                a.extend(["--entrypoint".into(), first.clone()]);
                cmd.extend(rest.iter().cloned());
            }
        }
    }
    cmd.extend(c.cmd.iter().flatten().cloned());
    let image = c
        .image
        .as_deref()
        .filter(|i| !i.is_empty())
        .ok_or_else(|| ApiError::bad_request("config has no Image: name the image to run"))?;
    a.push("--".into());
    a.push(image.to_string());
    a.extend(cmd);
    Ok(a)
}

/// HostConfig's fields as flags; a field that is set and that berth has no
/// flag for is refused.
fn host_config_args(h: &HostConfig, flag: &mut impl FnMut(&str, &str)) -> Result<(), ApiError> {
    let unsupported = |field: &str| {
        Err(ApiError::bad_request(format!(
            "HostConfig.{field} is not supported by berth"
        )))
    };
    if h.auto_remove == Some(true) {
        flag("--rm", SWITCH);
    }
    for b in h.binds.iter().flatten() {
        flag("--volume", b);
    }
    if let Some(n) = h.network_mode.as_deref().filter(|n| !n.is_empty()) {
        flag("--network", n);
    }
    if let Some(ports) = &h.port_bindings {
        let mut keys: Vec<_> = ports.keys().collect();
        keys.sort();
        for k in keys {
            let bindings = ports[k].as_deref().unwrap_or(&[]);
            if bindings.is_empty() {
                flag("--expose", k);
            }
            for b in bindings {
                let ip = b.host_ip.as_deref().unwrap_or("");
                let port = b.host_port.as_deref().unwrap_or("");
                let spec = match (ip.is_empty(), port.is_empty()) {
                    (true, true) => k.clone(),
                    (true, false) => format!("{port}:{k}"),
                    (false, _) => format!("{ip}:{port}:{k}"),
                };
                flag("--publish", &spec);
            }
        }
    }
    if h.publish_all_ports == Some(true) {
        flag("--publish-all", SWITCH);
    }
    if let Some(r) = &h.restart_policy {
        let name = r.name.map(|n| n.to_string()).unwrap_or_default();
        match (name.as_str(), r.maximum_retry_count.unwrap_or(0)) {
            ("" | "no", _) => {}
            ("on-failure", n) if n > 0 => flag("--restart", &format!("on-failure:{n}")),
            (p, _) => flag("--restart", p),
        }
    }
    if let Some(m) = h.memory.filter(|&m| m > 0) {
        flag("--memory", &m.to_string());
    }
    if let Some(n) = h.nano_cpus.filter(|&n| n > 0) {
        flag("--cpus", &format!("{}", n as f64 / 1e9));
    }
    if let Some(p) = h.pids_limit.filter(|&p| p != 0) {
        flag("--pids-limit", &p.to_string());
    }
    for c in h.cap_add.iter().flatten() {
        flag("--cap-add", c);
    }
    for c in h.cap_drop.iter().flatten() {
        flag("--cap-drop", c);
    }
    if h.privileged == Some(true) {
        flag("--privileged", SWITCH);
    }
    if h.readonly_rootfs == Some(true) {
        flag("--read-only", SWITCH);
    }
    if h.init == Some(true) {
        flag("--init", SWITCH);
    }
    for s in h.security_opt.iter().flatten() {
        flag("--security-opt", s);
    }
    for g in h.group_add.iter().flatten() {
        flag("--group-add", g);
    }
    for d in h.dns.iter().flatten() {
        flag("--dns", d);
    }
    for d in h.dns_search.iter().flatten() {
        flag("--dns-search", d);
    }
    for d in h.dns_options.iter().flatten() {
        flag("--dns-option", d);
    }
    for e in h.extra_hosts.iter().flatten() {
        flag("--add-host", e);
    }
    let mut sysctls: Vec<_> = h.sysctls.iter().flatten().collect();
    sysctls.sort();
    for (k, v) in sysctls {
        flag("--sysctl", &format!("{k}={v}"));
    }
    let mut tmpfs: Vec<_> = h.tmpfs.iter().flatten().collect();
    tmpfs.sort();
    for (k, v) in tmpfs {
        flag(
            "--tmpfs",
            &if v.is_empty() {
                k.clone()
            } else {
                format!("{k}:{v}")
            },
        );
    }
    if let Some(s) = h.shm_size.filter(|&s| s > 0) {
        flag("--shm-size", &s.to_string());
    }
    for v in h.volumes_from.iter().flatten() {
        flag("--volumes-from", v);
    }
    for u in h.ulimits.iter().flatten() {
        let (Some(n), Some(s), Some(hard)) = (&u.name, u.soft, u.hard) else {
            return Err(ApiError::bad_request(
                "HostConfig.Ulimits: each needs Name, Soft and Hard",
            ));
        };
        flag("--ulimit", &format!("{n}={s}:{hard}"));
    }
    for d in h.devices.iter().flatten() {
        let host = d.path_on_host.as_deref().unwrap_or("");
        let inside = d
            .path_in_container
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or(host);
        let perms = d
            .cgroup_permissions
            .as_deref()
            .filter(|p| !p.is_empty())
            .unwrap_or("rwm");
        flag("--device", &format!("{host}:{inside}:{perms}"));
    }
    for m in h.mounts.iter().flatten() {
        let typ = match m.typ {
            Some(MountTypeEnum::BIND) | None => "bind",
            Some(MountTypeEnum::VOLUME) => "volume",
            Some(MountTypeEnum::TMPFS) => "tmpfs",
            Some(other) => {
                return Err(ApiError::bad_request(format!(
                    "HostConfig.Mounts: type {other} is not supported by berth"
                )))
            }
        };
        let mut spec = format!("type={typ}");
        if let Some(s) = m.source.as_deref().filter(|s| !s.is_empty()) {
            spec.push_str(&format!(",source={s}"));
        }
        let target = m
            .target
            .as_deref()
            .ok_or_else(|| ApiError::bad_request("HostConfig.Mounts: a mount has no Target"))?;
        spec.push_str(&format!(",target={target}"));
        if m.read_only == Some(true) {
            spec.push_str(",readonly");
        }
        flag("--mount", &spec);
    }
    let set = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    if set(&h.pid_mode) {
        return unsupported("PidMode");
    }
    if set(&h.ipc_mode)
        && h.ipc_mode.as_deref() != Some("private")
        && h.ipc_mode.as_deref() != Some("shareable")
    {
        return unsupported("IpcMode");
    }
    if set(&h.userns_mode) {
        return unsupported("UsernsMode");
    }
    if set(&h.cgroup_parent) {
        return unsupported("CgroupParent");
    }
    if h.links.as_ref().is_some_and(|l| !l.is_empty()) {
        return unsupported("Links");
    }
    Ok(())
}

/// The body as `berth create`'s flags, checked as the CLI checks them.
pub fn create_flags(body: &CreateBody, name: Option<&str>) -> Result<CreateFlags, ApiError> {
    let args = create_args(body, name)?;
    let parsed = CreateOnly::try_parse_from(&args).map_err(|e| {
        let msg = e.render().to_string();
        let line = msg
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty())
            .unwrap_or("invalid request");
        ApiError::bad_request(line.strip_prefix("error: ").unwrap_or(line).to_string())
    })?;
    berth_supervisor::commands::container::run_options(&parsed.create)
        .map_err(|e| ApiError::bad_request(e.to_string()))?;
    Ok(parsed.create)
}

/// Labels as `KEY=VALUE` (what a label filter compares).
pub fn label_pairs(labels: &HashMap<String, String>) -> Vec<String> {
    labels.iter().map(|(k, v)| format!("{k}={v}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(j: serde_json::Value) -> CreateBody {
        serde_json::from_value(j).unwrap()
    }

    #[test]
    fn a_docker_run_body_becomes_create_flags() {
        let b = body(serde_json::json!({
            "Image": "busybox", "Cmd": ["sh", "-c", "exit 3"], "Env": ["A=1"],
            "Tty": false, "OpenStdin": true, "Labels": {"x": "y"},
            "Entrypoint": null, "WorkingDir": "/tmp",
            "HostConfig": {"AutoRemove": true, "Binds": ["v1:/data"], "NetworkMode": "default",
                "PortBindings": {"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "8080"}]},
                "RestartPolicy": {"Name": "no", "MaximumRetryCount": 0}, "Memory": 1048576,
                "ConsoleSize": [0, 0], "CgroupnsMode": "", "Isolation": ""},
            "NetworkingConfig": {"EndpointsConfig": {"net1": {"Aliases": ["db"]}}}
        }));
        let f = create_flags(&b, Some("web")).unwrap();
        assert_eq!(f.name.as_deref(), Some("web"));
        assert_eq!(f.image, "busybox");
        assert_eq!(f.command, ["sh", "-c", "exit 3"]);
        assert_eq!(f.env, ["A=1"]);
        assert!(f.rm && f.interactive && !f.tty);
        assert_eq!(f.volume, ["v1:/data"]);
        assert_eq!(f.net.publish, ["127.0.0.1:8080:80/tcp"]);
        assert_eq!(f.net.network_alias, ["db"]);
        assert_eq!(f.memory.as_deref(), Some("1048576"));
        assert_eq!(f.workdir.as_deref(), Some("/tmp"));
        assert_eq!(f.label, ["x=y"]);
    }

    #[test]
    fn entrypoint_arrays_split_into_entrypoint_and_command() {
        let b = body(
            serde_json::json!({"Image": "busybox", "Entrypoint": ["sh", "-c"], "Cmd": ["echo hi"]}),
        );
        let f = create_flags(&b, None).unwrap();
        assert_eq!(f.entrypoint.as_deref(), Some("sh"));
        assert_eq!(f.command, ["-c", "echo hi"]);
    }

    #[test]
    fn bad_bodies_are_refused_with_a_reason() {
        let no_image = body(serde_json::json!({"Cmd": ["true"]}));
        assert!(create_flags(&no_image, None)
            .unwrap_err()
            .message
            .contains("Image"));
        let bad_name = body(serde_json::json!({"Image": "busybox"}));
        assert!(create_flags(&bad_name, Some("a b")).is_err());
        let pid = body(serde_json::json!({"Image": "busybox", "HostConfig": {"PidMode": "host"}}));
        assert!(create_flags(&pid, None)
            .unwrap_err()
            .message
            .contains("PidMode"));
        assert!(serde_json::from_str::<CreateBody>(r#"{"Image": 3}"#).is_err());
        assert!(serde_json::from_str::<CreateBody>(
            r#"{"Image": "b", "HostConfig": {"Memory": "x"}}"#
        )
        .is_err());
    }
}
