//! The compose model (`berth_compose`) → the project plan the orchestration
//! runs: each service's container as the `run`/`create` flags berth already
//! knows how to turn into a container (so a compose service and a `berth
//! run` share one path), its image and build, its networks with the service
//! name as alias, and the project's networks and volumes by their real
//! names.  Loading happens here, before any manager is asked anything.

use std::path::PathBuf;

use berth_compose as model;
use clap::Parser;

use crate::cli::{BuildArgs, Cli, Command, CreateFlags};
use crate::compose::cli::{ComposeArgs, ComposeCommand, ConfigArgs};
use crate::compose::error::ComposeError;
use crate::compose::names;
use crate::compose::project::{ProjectPlan, ServiceNetwork, ServicePlan};
use crate::compose::resources::{NetworkPlan, VolumePlan};
use crate::compose::wait::Condition;

/// The services a command names: the model enables them whatever their
/// profiles and checks that they exist.
fn named_services(c: &ComposeCommand) -> Vec<String> {
    match c {
        ComposeCommand::Up(u) => u.services.clone(),
        ComposeCommand::Create(c) => c.services.clone(),
        ComposeCommand::Run(r) => vec![r.service.clone()],
        ComposeCommand::Exec(e) => vec![e.service.clone()],
        ComposeCommand::Port(p) => vec![p.service.clone()],
        ComposeCommand::Logs(l) => l.services.clone(),
        ComposeCommand::Build(b) => b.services.clone(),
        ComposeCommand::Ps(p) => p.names.clone(),
        ComposeCommand::Stop(t) | ComposeCommand::Restart(t) => t.services.clone(),
        ComposeCommand::Kill(k) => k.services.clone(),
        ComposeCommand::Rm(r) => r.services.clone(),
        ComposeCommand::Images(i) => i.services.clone(),
        ComposeCommand::Pull(s)
        | ComposeCommand::Push(s)
        | ComposeCommand::Start(s)
        | ComposeCommand::Pause(s)
        | ComposeCommand::Unpause(s)
        | ComposeCommand::Top(s) => s.services.clone(),
        ComposeCommand::Down(_) | ComposeCommand::Config(_) | ComposeCommand::Ls(_) => Vec::new(),
    }
}

/// Reads the project the flags describe, printing the model's warnings.
fn load_model(a: &ComposeArgs) -> Result<model::Project, ComposeError> {
    let working_dir =
        std::env::current_dir().map_err(|e| crate::error::CliError::io("current directory", e))?;
    let opts = model::LoadOptions {
        working_dir,
        files: a.files.clone(),
        project_name: a.project_name.clone(),
        project_directory: a.project_directory.clone(),
        env_files: a.env_file.clone(),
        profiles: a.profile.clone(),
        services: named_services(&a.command),
        environment: None,
        stdin: None,
    };
    let (project, warnings) = model::load(&opts)?;
    for w in warnings {
        eprintln!("WARN[0000] {w}");
    }
    Ok(project)
}

/// The project of `a`, ready to run.
pub fn load(a: &ComposeArgs) -> Result<ProjectPlan, ComposeError> {
    plan(&load_model(a)?)
}

/// True when no compose file was found (a project named by `-p` can still
/// be taken down from its labels).
pub fn is_missing_files(e: &ComposeError) -> bool {
    matches!(e, ComposeError::Model(model::ComposeError::NotFound { .. }))
}

/// `compose config`.
pub fn config(a: &ComposeArgs, c: &ConfigArgs) -> Result<(), ComposeError> {
    let p = load_model(a)?;
    let text = if c.services {
        lines(model::service_names(&p))
    } else if c.volumes {
        lines(model::volume_names(&p))
    } else if c.profiles {
        let mut all: Vec<String> = p
            .services
            .values()
            .chain(p.disabled_services.values())
            .flat_map(|s| s.profiles.iter().cloned())
            .collect();
        all.sort();
        all.dedup();
        lines(all)
    } else {
        let format = match c.format.as_deref() {
            None | Some("yaml") => model::ConfigFormat::Yaml,
            Some("json") => model::ConfigFormat::Json,
            Some(f) => {
                return Err(ComposeError::Invalid(format!(
                    "unsupported format: {f} (yaml or json)"
                )))
            }
        };
        model::render_config(&p, format)?
    };
    if c.quiet {
        return Ok(());
    }
    match &c.output {
        Some(path) => std::fs::write(path, text)
            .map_err(|e| crate::error::CliError::io(format!("write {}", path.display()), e))?,
        None => print!("{text}"),
    }
    Ok(())
}

fn lines(v: Vec<String>) -> String {
    v.iter().map(|l| format!("{l}\n")).collect()
}

/// The model as the orchestration runs it.
pub fn plan(p: &model::Project) -> Result<ProjectPlan, ComposeError> {
    let order = model::start_order(p)?;
    let mut services = Vec::new();
    for name in &order {
        let s = &p.services[name];
        services.push(service(p, s)?);
    }
    let networks = p
        .networks
        .iter()
        .map(|(key, n)| {
            let pool = n.ipam.as_ref().and_then(|i| i.config.first());
            NetworkPlan {
                key: key.clone(),
                name: n.name.clone(),
                external: n.external,
                driver: n.driver.clone().unwrap_or_default(),
                subnet: pool.and_then(|c| c.subnet.clone()).unwrap_or_default(),
                gateway: pool.and_then(|c| c.gateway.clone()).unwrap_or_default(),
                internal: n.internal,
                options: n.driver_opts.clone().into_iter().collect(),
                labels: n.labels.clone().into_iter().collect(),
            }
        })
        .collect();
    let volumes = p
        .volumes
        .iter()
        .map(|(key, v)| VolumePlan {
            key: key.clone(),
            name: v.name.clone(),
            external: v.external,
            driver: v.driver.clone().unwrap_or_default(),
            options: v.driver_opts.clone().into_iter().collect(),
            labels: v.labels.clone().into_iter().collect(),
        })
        .collect();
    Ok(ProjectPlan {
        name: p.name.clone(),
        working_dir: p.working_dir.display().to_string(),
        config_files: p.files.iter().map(|f| f.display().to_string()).collect(),
        services,
        networks,
        volumes,
    })
}

/// `berth create IMAGE` as the command line would parse it: every flag at
/// its default, as `run` has it.
fn default_flags(image: &str) -> Result<CreateFlags, ComposeError> {
    match Cli::try_parse_from(["berth", "create", image]) {
        Ok(Cli {
            command: Some(Command::Create(c)),
            ..
        }) => Ok(c.create),
        _ => Err(ComposeError::Invalid(format!(
            "invalid image reference {image:?}"
        ))),
    }
}

/// `berth build PATH` at its defaults.
fn default_build(path: &str) -> Result<BuildArgs, ComposeError> {
    match Cli::try_parse_from(["berth", "build", path]) {
        Ok(Cli {
            command: Some(Command::Build(b)),
            ..
        }) => Ok(b),
        _ => Err(ComposeError::Invalid(format!(
            "invalid build context {path:?}"
        ))),
    }
}

/// Nanoseconds as a Go duration, the form the health flags take.
fn go(ns: i64) -> String {
    berth_godur::format(ns)
}

fn condition(c: model::Condition) -> Condition {
    match c {
        model::Condition::ServiceStarted => Condition::Started,
        model::Condition::ServiceHealthy => Condition::Healthy,
        model::Condition::ServiceCompletedSuccessfully => Condition::CompletedSuccessfully,
    }
}

/// One service's plan.
fn service(p: &model::Project, s: &model::Service) -> Result<ServicePlan, ComposeError> {
    let image = s
        .image
        .clone()
        .unwrap_or_else(|| names::built_image(&p.name, &s.name));
    let mut f = default_flags(&image)?;
    // entrypoint [a, b…] is `--entrypoint a` with b… before the command:
    // the same argv, in the only form `--entrypoint` has
    match &s.entrypoint {
        Some(e) if e.is_empty() => f.entrypoint = Some(String::new()),
        Some(e) => {
            f.entrypoint = Some(e[0].clone());
            f.command = e[1..].to_vec();
        }
        None => {}
    }
    if let Some(c) = &s.command {
        f.command.extend(c.iter().cloned());
    }
    f.env = s.env_list();
    f.workdir = s.working_dir.clone();
    f.user = s.user.clone();
    f.hostname = s.hostname.clone();
    f.label = s.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    f.stop_signal = s.stop_signal.clone();
    f.stop_timeout = s
        .stop_grace_period
        .map(|ns| u32::try_from((ns.max(0) + 999_999_999) / 1_000_000_000).unwrap_or(u32::MAX));
    f.restart = s.restart.clone().unwrap_or_else(|| "no".into());
    f.tty = s.tty;
    f.interactive = s.stdin_open;
    f.tmpfs = s.tmpfs.clone();
    f.security.cap_add = s.cap_add.clone();
    f.security.cap_drop = s.cap_drop.clone();
    f.security.read_only = s.read_only;
    f.security.init = s.init.unwrap_or(false);
    if let Some(l) = s
        .deploy
        .as_ref()
        .and_then(|d| d.resources.as_ref())
        .and_then(|r| r.limits.as_ref())
    {
        f.memory = l.memory.map(|b| b.to_string());
        f.cpus = l.cpus.map(|c| c.to_string());
        f.pids_limit = l.pids;
    }
    f.net.publish = s.ports.iter().map(publish).collect();
    f.net.expose = s.expose.clone();
    f.net.dns = s.dns.clone();
    f.net.add_host = s.extra_hosts.iter().map(|h| h.to_add_host()).collect();
    for v in &s.volumes {
        mount(p, v, &mut f)?;
    }
    let mut has_healthcheck = false;
    if let Some(h) = &s.healthcheck {
        if h.disabled() {
            f.health.no_healthcheck = true;
        } else {
            has_healthcheck = !h.test.is_empty();
            f.health.test = (!h.test.is_empty()).then(|| h.test.clone());
            f.health.interval = h.interval.map(go);
            f.health.timeout = h.timeout.map(go);
            f.health.start_period = h.start_period.map(go);
            f.health.retries = h.retries.map(|r| i64::try_from(r).unwrap_or(i64::MAX));
        }
    }
    let mut networks = Vec::new();
    match s.network_mode.as_deref() {
        Some(mode) => {
            f.network = match mode.strip_prefix("service:") {
                Some(other) => {
                    let theirs = p.services.get(other).and_then(|o| o.container_name.clone());
                    format!(
                        "container:{}",
                        theirs.unwrap_or_else(|| names::container_name(&p.name, other, 1))
                    )
                }
                None => mode.to_string(),
            }
        }
        None => {
            for (key, n) in &s.networks {
                let real = p.networks.get(key).map(|n| n.name.clone()).ok_or_else(|| {
                    ComposeError::Invalid(format!(
                        "service {:?} refers to undefined network {key:?}",
                        s.name
                    ))
                })?;
                let mut aliases = vec![s.name.clone()];
                aliases.extend(n.aliases.iter().cloned());
                networks.push(ServiceNetwork {
                    name: real,
                    aliases,
                    ipv4_address: n.ipv4_address.clone(),
                });
            }
        }
    }
    // flags berth would refuse are refused now, before anything is made
    crate::commands::container::run_options(&f)
        .map_err(|e| ComposeError::Invalid(format!("service {:?}: {e}", s.name)))?;
    let build = match &s.build {
        Some(b) => {
            let context = b.context.display().to_string();
            let mut args = default_build(&context)?;
            args.tag = vec![image.clone()];
            let file: PathBuf = b.context.join(&b.dockerfile);
            args.file = Some(file.display().to_string());
            args.build_arg = b
                .args
                .iter()
                .map(|(k, v)| match v {
                    Some(v) => format!("{k}={v}"),
                    None => k.clone(),
                })
                .collect();
            args.target = b.target.clone();
            Some(args)
        }
        None => None,
    };
    let mut depends_on: Vec<(String, Condition)> = s
        .depends_on
        .iter()
        .map(|(d, dep)| (d.clone(), condition(dep.condition)))
        .collect();
    for d in model::dependencies(p, &s.name) {
        if !depends_on.iter().any(|(x, _)| *x == d) {
            depends_on.push((d, Condition::Started));
        }
    }
    Ok(ServicePlan {
        name: s.name.clone(),
        local_image: s.image.is_none(),
        image,
        build,
        replicas: u32::try_from(s.replicas).unwrap_or(u32::MAX),
        config_hash: model::config_hash(s),
        container_name: s.container_name.clone(),
        depends_on,
        template: f,
        networks,
        has_healthcheck,
    })
}

/// A port as `-p` spells it: `[ip:][host:]container/proto`.
fn publish(port: &model::Port) -> String {
    let mut s = String::new();
    if let Some(ip) = &port.host_ip {
        s.push_str(ip);
        s.push(':');
    }
    match &port.published {
        Some(h) => {
            s.push_str(h);
            s.push(':');
        }
        None if port.host_ip.is_some() => s.push(':'),
        None => {}
    }
    s.push_str(&format!("{}/{}", port.target, port.protocol));
    s
}

/// One mount as `-v`/`--mount` spell it.
fn mount(
    p: &model::Project,
    v: &model::ServiceVolume,
    f: &mut CreateFlags,
) -> Result<(), ComposeError> {
    let ro = if v.read_only { ",readonly" } else { "" };
    match v.kind {
        model::MountKind::Bind => {
            let src = v.source.clone().unwrap_or_default();
            let create = !matches!(&v.bind, Some(b) if !b.create_host_path);
            if create {
                // `-v` makes a missing host directory, as compose does
                let mode = if v.read_only { ":ro" } else { "" };
                f.volume.push(format!("{src}:{}{mode}", v.target));
            } else {
                f.mounts
                    .mount
                    .push(format!("type=bind,source={src},target={}{ro}", v.target));
            }
        }
        model::MountKind::Volume => match &v.source {
            None => f.volume.push(v.target.clone()),
            Some(key) => {
                let name = p.volumes.get(key).map(|x| x.name.clone()).ok_or_else(|| {
                    ComposeError::Invalid(format!("undefined volume {key:?} (target {})", v.target))
                })?;
                let nocopy = if v.volume.as_ref().is_some_and(|o| o.nocopy) {
                    ",volume-nocopy"
                } else {
                    ""
                };
                f.mounts.mount.push(format!(
                    "type=volume,source={name},target={}{ro}{nocopy}",
                    v.target
                ));
            }
        },
        model::MountKind::Tmpfs => {
            let mut m = format!("type=tmpfs,target={}", v.target);
            if let Some(t) = &v.tmpfs {
                if let Some(size) = t.size {
                    m.push_str(&format!(",tmpfs-size={size}"));
                }
                if let Some(mode) = t.mode {
                    m.push_str(&format!(",tmpfs-mode={mode:o}"));
                }
            }
            f.mounts.mount.push(m);
        }
    }
    Ok(())
}
