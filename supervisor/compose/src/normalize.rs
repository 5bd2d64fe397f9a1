//! From the file's variants ([`crate::raw`]) to the one canonical form
//! ([`crate::model`]): lists and maps become maps, strings become shell
//! words, durations nanoseconds, sizes bytes, relative paths absolute. Every
//! error carries the path of the offending value.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use crate::model::*;
use crate::raw::*;
use crate::{dotenv, ports};

/// A problem at a path of the merged document.
pub type PathError = (String, String);

/// What normalisation needs from the load.
pub struct Context<'a> {
    pub project_name: &'a str,
    pub project_dir: &'a Path,
    /// The interpolation environment (process over `.env`).
    pub env: &'a BTreeMap<String, String>,
}

impl Context<'_> {
    fn lookup(&self, k: &str) -> Option<String> {
        self.env.get(k).cloned()
    }

    /// A host path from the file: `~` expanded, relative paths against the
    /// project directory, `.`/`..` folded.
    pub fn host_path(&self, p: &str) -> PathBuf {
        let expanded = if p == "~" || p.starts_with("~/") {
            let home = self
                .lookup("HOME")
                .or_else(|| std::env::var("HOME").ok())
                .unwrap_or_else(|| "/".into());
            PathBuf::from(home).join(p.trim_start_matches('~').trim_start_matches('/'))
        } else {
            PathBuf::from(p)
        };
        let joined = if expanded.is_absolute() {
            expanded
        } else {
            self.project_dir.join(expanded)
        };
        clean(&joined)
    }
}

/// Folds `.` and `..` lexically (`/a/./b/../c` → `/a/c`).
pub fn clean(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    out.push("..");
                }
            }
            other => out.push(other.as_os_str()),
        }
    }
    out
}

fn at(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn strs(v: Option<Vec<Str>>) -> Vec<String> {
    v.unwrap_or_default().into_iter().map(|s| s.0).collect()
}

fn opt(v: Option<Str>) -> Option<String> {
    v.map(|s| s.0)
}

fn duration(v: Option<Str>, path: &str) -> Result<Option<i64>, PathError> {
    match v {
        None => Ok(None),
        Some(Str(s)) => berth_godur::parse(&s)
            .filter(|n| *n >= 0)
            .map(Some)
            .ok_or_else(|| {
                (
                    path.to_string(),
                    format!("invalid duration {s:?}: use a form like 30s, 1m30s or 500ms"),
                )
            }),
    }
}

fn size(s: &str, path: &str) -> Result<i64, PathError> {
    berth_bytesize::parse(s).ok_or_else(|| {
        (
            path.to_string(),
            format!("invalid size {s:?}: use bytes or a number with k, m or g"),
        )
    })
}

/// `KEY=VALUE` list items or map entries, in order, later keys winning.
/// `sep` splits list items; a bare key maps to `None`.
pub fn key_values(list: KvList, sep: &[char]) -> BTreeMap<String, Option<String>> {
    let mut out = BTreeMap::new();
    for e in list.entries {
        match e {
            KvEntry::Pair(k, v) => {
                out.insert(k, v);
            }
            KvEntry::Item(s) => {
                let split = sep.iter().find_map(|c| s.split_once(*c));
                match split {
                    Some((k, v)) => out.insert(k.to_string(), Some(v.to_string())),
                    None => out.insert(s, None),
                };
            }
        }
    }
    out
}

/// Labels: a bare key is an empty label.
fn labels(list: Option<KvList>) -> BTreeMap<String, String> {
    key_values(list.unwrap_or_default(), &['='])
        .into_iter()
        .map(|(k, v)| (k, v.unwrap_or_default()))
        .collect()
}

/// `command:`/`entrypoint:`: a string is split into shell words.
fn words(v: StrOrList, path: &str) -> Result<Vec<String>, PathError> {
    match v {
        StrOrList::List(l) => Ok(l),
        StrOrList::Str(s) => shlex::split(&s).ok_or_else(|| {
            (
                path.to_string(),
                format!("cannot split {s:?} into words: unbalanced quotes"),
            )
        }),
    }
}

fn str_or_list(v: Option<StrOrList>) -> Vec<String> {
    match v {
        None => Vec::new(),
        Some(StrOrList::Str(s)) => vec![s],
        Some(StrOrList::List(l)) => l,
    }
}

/// One service.
pub fn service(
    name: &str,
    raw: RawService,
    ctx: &Context,
    warnings: &mut Vec<String>,
) -> Result<Service, PathError> {
    let p = format!("services.{name}");
    let mut s = Service {
        name: name.to_string(),
        ..Default::default()
    };
    s.image = opt(raw.image);
    s.build = raw.build.map(|b| build(b, ctx));
    if s.image.is_none() && s.build.is_none() {
        return Err((
            p,
            "the service has neither an image nor a build context: give it image: or build:".into(),
        ));
    }
    s.cap_add = strs(raw.cap_add);
    s.cap_drop = strs(raw.cap_drop);
    s.command = raw
        .command
        .map(|c| words(c, &at(&p, "command")))
        .transpose()?;
    s.entrypoint = raw
        .entrypoint
        .map(|c| words(c, &at(&p, "entrypoint")))
        .transpose()?;
    s.container_name = opt(raw.container_name);
    for (dep, opts) in raw.depends_on.map(|d| d.0).unwrap_or_default() {
        let dp = format!("{p}.depends_on.{dep}");
        let opts = opts.unwrap_or_default();
        let condition = match opts.condition.as_ref().map(|c| c.0.as_str()) {
            None | Some("service_started") => Condition::ServiceStarted,
            Some("service_healthy") => Condition::ServiceHealthy,
            Some("service_completed_successfully") => Condition::ServiceCompletedSuccessfully,
            Some(other) => return Err((
                at(&dp, "condition"),
                format!("invalid condition {other:?}: use service_started, service_healthy or service_completed_successfully"),
            )),
        };
        s.depends_on.insert(
            dep,
            Dependency {
                condition,
                restart: opts.restart.is_some_and(|b| b.0),
                required: opts.required.is_none_or(|b| b.0),
            },
        );
    }
    let mut replicas = None;
    if let Some(d) = raw.deploy {
        let dp = at(&p, "deploy");
        replicas = d.replicas.map(|r| r.0);
        let limits = match d.resources.and_then(|r| r.limits) {
            None => None,
            Some(l) => {
                let lp = at(&dp, "resources.limits");
                let cpus = match l.cpus {
                    None => None,
                    Some(Str(c)) => match c.trim().parse::<f64>() {
                        Ok(v) if v.is_finite() && v > 0.0 => Some(v),
                        _ => {
                            return Err((
                                at(&lp, "cpus"),
                                format!("invalid cpus {c:?}: use a positive number like 0.5"),
                            ))
                        }
                    },
                };
                let memory = l
                    .memory
                    .map(|m| size(&m.0, &at(&lp, "memory")))
                    .transpose()?;
                Some(Limits {
                    cpus,
                    memory,
                    pids: l.pids.map(|p| p.0),
                })
            }
        };
        s.deploy = Some(Deploy {
            replicas,
            resources: limits.map(|l| Resources { limits: Some(l) }),
        });
    }
    let scale = raw.scale.map(|s| s.0);
    s.replicas = match (replicas, scale) {
        (Some(r), Some(sc)) if r != sc => {
            return Err((
                at(&p, "scale"),
                format!("scale ({sc}) and deploy.replicas ({r}) disagree: keep one"),
            ))
        }
        (Some(r), _) | (None, Some(r)) => r,
        (None, None) => 1,
    };
    if s.replicas > 1 && s.container_name.is_some() {
        return Err((
            at(&p, "container_name"),
            "a service with a container_name cannot have more than one replica".into(),
        ));
    }
    s.dns = str_or_list(raw.dns);
    // env_file contents first, `environment:` over them
    for (i, (file, required)) in raw
        .env_file
        .map(|e| e.0)
        .unwrap_or_default()
        .into_iter()
        .enumerate()
    {
        let ep = format!("{p}.env_file[{i}]");
        let path = ctx.host_path(&file);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {
                warnings.push(format!("env file {} not found, skipped", path.display()));
                continue;
            }
            Err(e) => return Err((ep, format!("cannot read {}: {e}", path.display()))),
        };
        let lookup = |k: &str| ctx.lookup(k);
        let vars = dotenv::parse(&text, &lookup)
            .map_err(|(line, msg)| (ep.clone(), format!("{}:{line}: {msg}", path.display())))?;
        for (k, v) in vars {
            s.environment.insert(k, Some(v));
        }
    }
    for (k, v) in key_values(raw.environment.unwrap_or_default(), &['=']) {
        let v = match v {
            Some(v) => Some(v),
            None => ctx.lookup(&k),
        };
        s.environment.insert(k, v);
    }
    for (i, e) in strs(raw.expose).into_iter().enumerate() {
        let (range, proto) = e.split_once('/').unwrap_or((&e, "tcp"));
        if ports::parse_range(range).is_err() || !matches!(proto, "tcp" | "udp" | "sctp") {
            return Err((format!("{p}.expose[{i}]"), format!("invalid port {e:?}")));
        }
        s.expose.push(e);
    }
    for (host, ip) in key_values(raw.extra_hosts.unwrap_or_default(), &['=', ':']) {
        match ip {
            Some(ip) if !host.is_empty() && !ip.is_empty() => s.extra_hosts.push(ExtraHost {
                host,
                ip: ip.trim_start_matches('[').trim_end_matches(']').to_string(),
            }),
            _ => {
                return Err((
                    at(&p, "extra_hosts"),
                    format!("invalid extra host {host:?}: use host:ip or host=ip"),
                ))
            }
        }
    }
    s.healthcheck = raw
        .healthcheck
        .map(|h| healthcheck(h, &at(&p, "healthcheck")))
        .transpose()?;
    s.hostname = opt(raw.hostname);
    s.init = raw.init.map(|b| b.0);
    s.labels = labels(raw.labels);
    s.network_mode = opt(raw.network_mode);
    if let Some(nets) = raw.networks {
        if s.network_mode.is_some() {
            return Err((
                at(&p, "networks"),
                "networks and network_mode cannot be used together".into(),
            ));
        }
        for (net, opts) in nets.0 {
            let opts = opts.unwrap_or_default();
            s.networks.insert(
                net,
                ServiceNetwork {
                    aliases: strs(opts.aliases),
                    ipv4_address: opt(opts.ipv4_address),
                    ipv6_address: opt(opts.ipv6_address),
                },
            );
        }
    }
    for (i, port) in raw.ports.unwrap_or_default().into_iter().enumerate() {
        let pp = format!("{p}.ports[{i}]");
        match port {
            StrOr::Short(spec) => s
                .ports
                .extend(ports::parse_short(&spec).map_err(|m| (pp, m))?),
            StrOr::Long(l) => s.ports.push(ports::from_long(&l).map_err(|m| (pp, m))?),
        }
    }
    s.profiles = strs(raw.profiles);
    s.pull_policy = opt(raw.pull_policy);
    s.read_only = raw.read_only.is_some_and(|b| b.0);
    s.restart = opt(raw.restart);
    if let Some(r) = &s.restart {
        let ok = match r.split_once(':') {
            Some(("on-failure", n)) => n.parse::<u32>().is_ok(),
            None => matches!(
                r.as_str(),
                "no" | "always" | "on-failure" | "unless-stopped"
            ),
            _ => false,
        };
        if !ok {
            return Err((
                at(&p, "restart"),
                format!("invalid restart policy {r:?}: use no, always, on-failure[:N] or unless-stopped"),
            ));
        }
    }
    s.stdin_open = raw.stdin_open.is_some_and(|b| b.0);
    s.stop_grace_period = duration(raw.stop_grace_period, &at(&p, "stop_grace_period"))?;
    s.stop_signal = opt(raw.stop_signal);
    s.tmpfs = str_or_list(raw.tmpfs);
    for (i, t) in s.tmpfs.iter().enumerate() {
        if !t.starts_with('/') {
            return Err((
                format!("{p}.tmpfs[{i}]"),
                format!("invalid tmpfs {t:?}: the path must be absolute"),
            ));
        }
    }
    s.tty = raw.tty.is_some_and(|b| b.0);
    s.user = opt(raw.user);
    for (i, v) in raw.volumes.unwrap_or_default().into_iter().enumerate() {
        let vp = format!("{p}.volumes[{i}]");
        let m = match v {
            StrOr::Short(spec) => short_mount(&spec, ctx),
            StrOr::Long(l) => long_mount(l, ctx),
        }
        .map_err(|m| (vp, m))?;
        s.volumes.push(m);
    }
    s.working_dir = opt(raw.working_dir);
    Ok(s)
}

fn build(b: StrOr<RawBuild>, ctx: &Context) -> Build {
    let raw = match b {
        StrOr::Short(ctx_dir) => RawBuild {
            context: Some(Str(ctx_dir)),
            ..Default::default()
        },
        StrOr::Long(l) => l,
    };
    let context = raw.context.map(|c| c.0).unwrap_or_else(|| ".".into());
    // a git or http context is passed on as written
    let context = if context.contains("://") || context.starts_with("git@") {
        PathBuf::from(context)
    } else {
        ctx.host_path(&context)
    };
    Build {
        context,
        dockerfile: opt(raw.dockerfile).unwrap_or_else(|| "Dockerfile".into()),
        args: key_values(raw.args.unwrap_or_default(), &['='])
            .into_iter()
            .map(|(k, v)| {
                let v = v.or_else(|| ctx.lookup(&k));
                (k, v)
            })
            .collect(),
        target: opt(raw.target),
    }
}

fn healthcheck(h: RawHealthcheck, p: &str) -> Result<Healthcheck, PathError> {
    let mut test = match h.test {
        None => Vec::new(),
        Some(StrOrList::Str(s)) if s == "NONE" => vec!["NONE".into()],
        Some(StrOrList::Str(s)) => vec!["CMD-SHELL".into(), s],
        Some(StrOrList::List(l)) => {
            match l.first().map(String::as_str) {
                Some("NONE") | Some("CMD") | Some("CMD-SHELL") => {}
                _ => {
                    return Err((
                        at(p, "test"),
                        "a test list must start with NONE, CMD or CMD-SHELL".into(),
                    ))
                }
            }
            if l[0] != "NONE" && l.len() < 2 {
                return Err((at(p, "test"), format!("{} needs a command", l[0])));
            }
            l
        }
    };
    if h.disable.is_some_and(|d| d.0) {
        test = vec!["NONE".into()];
    }
    Ok(Healthcheck {
        test,
        interval: duration(h.interval, &at(p, "interval"))?,
        timeout: duration(h.timeout, &at(p, "timeout"))?,
        retries: h.retries.map(|r| r.0),
        start_period: duration(h.start_period, &at(p, "start_period"))?,
        start_interval: duration(h.start_interval, &at(p, "start_interval"))?,
    })
}

fn is_host_path(s: &str) -> bool {
    s.starts_with('/') || s.starts_with('.') || s.starts_with('~')
}

/// `[SOURCE:]TARGET[:MODES]`.
pub fn short_mount(spec: &str, ctx: &Context) -> Result<ServiceVolume, String> {
    let parts: Vec<&str> = spec.split(':').collect();
    let (source, target, modes) = match parts.as_slice() {
        [t] => (None, *t, ""),
        [s, t] => (Some(*s), *t, ""),
        [s, t, m] => (Some(*s), *t, *m),
        _ => {
            return Err(format!(
                "invalid volume {spec:?}: use [source:]target[:mode]"
            ))
        }
    };
    if !target.starts_with('/') {
        return Err(format!(
            "invalid volume {spec:?}: the target {target:?} must be an absolute path"
        ));
    }
    let mut read_only = false;
    let mut propagation = None;
    let mut selinux = None;
    let mut nocopy = false;
    for m in modes.split(',').filter(|m| !m.is_empty()) {
        match m {
            "ro" => read_only = true,
            "rw" => read_only = false,
            "z" | "Z" => selinux = Some(m.to_string()),
            "nocopy" => nocopy = true,
            "shared" | "rshared" | "slave" | "rslave" | "private" | "rprivate" => {
                propagation = Some(m.to_string())
            }
            // docker desktop's consistency modes mean nothing on linux
            "consistent" | "cached" | "delegated" => {}
            other => return Err(format!("invalid volume mode {other:?} in {spec:?}")),
        }
    }
    let target = target.to_string();
    Ok(match source {
        Some(src) if is_host_path(src) => ServiceVolume {
            kind: MountKind::Bind,
            source: Some(ctx.host_path(src).to_string_lossy().into_owned()),
            target,
            read_only,
            bind: Some(BindOptions {
                create_host_path: true,
                propagation,
                selinux,
            }),
            volume: None,
            tmpfs: None,
        },
        Some("") => return Err(format!("invalid volume {spec:?}: empty source")),
        source => ServiceVolume {
            kind: MountKind::Volume,
            source: source.map(str::to_string),
            target,
            read_only,
            bind: None,
            volume: nocopy.then_some(VolumeOptions {
                nocopy,
                subpath: None,
            }),
            tmpfs: None,
        },
    })
}

/// The long syntax.
pub fn long_mount(raw: RawMount, ctx: &Context) -> Result<ServiceVolume, String> {
    let target = opt(raw.target).ok_or("target is required in the long syntax")?;
    if !target.starts_with('/') {
        return Err(format!("the target {target:?} must be an absolute path"));
    }
    let kind = match raw.kind.as_ref().map(|k| k.0.as_str()) {
        Some("bind") => MountKind::Bind,
        Some("volume") | None => MountKind::Volume,
        Some("tmpfs") => MountKind::Tmpfs,
        Some(k) => {
            return Err(format!(
                "unsupported mount type {k:?}: use bind, volume or tmpfs"
            ))
        }
    };
    let read_only = raw.read_only.is_some_and(|b| b.0);
    let source = opt(raw.source).filter(|s| !s.is_empty());
    Ok(match kind {
        MountKind::Bind => {
            let src = source.ok_or("a bind mount needs a source")?;
            let b = raw.bind.unwrap_or_default();
            ServiceVolume {
                kind,
                source: Some(ctx.host_path(&src).to_string_lossy().into_owned()),
                target,
                read_only,
                bind: Some(BindOptions {
                    create_host_path: b.create_host_path.is_some_and(|c| c.0),
                    propagation: opt(b.propagation),
                    selinux: opt(b.selinux),
                }),
                volume: None,
                tmpfs: None,
            }
        }
        MountKind::Volume => ServiceVolume {
            kind,
            source,
            target,
            read_only,
            bind: None,
            volume: raw.volume.map(|v| VolumeOptions {
                nocopy: v.nocopy.is_some_and(|n| n.0),
                subpath: opt(v.subpath),
            }),
            tmpfs: None,
        },
        MountKind::Tmpfs => {
            if source.is_some() {
                return Err("a tmpfs mount takes no source".into());
            }
            let t = raw.tmpfs.unwrap_or_default();
            let size = match t.size {
                None => None,
                Some(Str(s)) => Some(
                    berth_bytesize::parse(&s).ok_or_else(|| format!("invalid tmpfs size {s:?}"))?,
                ),
            };
            let mode = match t.mode {
                None => None,
                // YAML reads 1777 as a decimal number: the digits are octal
                Some(Str(m)) => Some(
                    u32::from_str_radix(m.trim_start_matches("0o"), 8)
                        .map_err(|_| format!("invalid tmpfs mode {m:?}"))?,
                ),
            };
            ServiceVolume {
                kind,
                source: None,
                target,
                read_only,
                bind: None,
                volume: None,
                tmpfs: Some(TmpfsOptions { size, mode }),
            }
        }
    })
}

/// The engine's name of a top-level network or volume: `name:`, else the
/// key for an external one, else `<project>_<key>`.
fn engine_name(key: &str, name: Option<Str>, external: bool, ctx: &Context) -> String {
    match opt(name) {
        Some(n) => n,
        None if external => key.to_string(),
        None => format!("{}_{key}", ctx.project_name),
    }
}

fn string_map(m: Option<BTreeMap<String, Str>>) -> BTreeMap<String, String> {
    m.unwrap_or_default()
        .into_iter()
        .map(|(k, v)| (k, v.0))
        .collect()
}

/// A top-level network.
pub fn network(key: &str, raw: Option<RawNetwork>, ctx: &Context) -> Network {
    let raw = raw.unwrap_or_default();
    let external = raw.external.is_some_and(|e| e.0);
    let name = engine_name(key, raw.name, external, ctx);
    let ipam = raw.ipam.map(|i| Ipam {
        driver: opt(i.driver),
        config: i
            .config
            .unwrap_or_default()
            .into_iter()
            .map(|c| IpamPool {
                subnet: opt(c.subnet),
                gateway: opt(c.gateway),
                ip_range: opt(c.ip_range),
            })
            .collect(),
    });
    Network {
        name,
        driver: opt(raw.driver),
        driver_opts: string_map(raw.driver_opts),
        ipam,
        external,
        internal: raw.internal.is_some_and(|b| b.0),
        enable_ipv6: raw.enable_ipv6.is_some_and(|b| b.0),
        attachable: raw.attachable.is_some_and(|b| b.0),
        labels: labels(raw.labels),
    }
}

/// A top-level volume.
pub fn volume(key: &str, raw: Option<RawVolume>, ctx: &Context) -> Volume {
    let raw = raw.unwrap_or_default();
    let external = raw.external.is_some_and(|e| e.0);
    Volume {
        name: engine_name(key, raw.name, external, ctx),
        driver: opt(raw.driver),
        driver_opts: string_map(raw.driver_opts),
        external,
        labels: labels(raw.labels),
    }
}
