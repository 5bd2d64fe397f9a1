//! `compose up` and `compose create`: the project's networks and volumes,
//! its images (built when `build:` says so), then each service converged
//! ([`plan::converge`]) in dependency order once the conditions of its
//! `depends_on` hold; `--wait` waits for every service to run (healthy when
//! it has a check), and without `-d` the logs are followed until the
//! containers stop or ctrl-c stops them.

use std::collections::HashMap;
use std::time::Duration;

use berth_proto::manager::{ContainerInfo, GetImageRequest};
use berth_proto::networks::ConnectRequest;
use futures_util::future::join_all;

use crate::client::Manager;
use crate::commands::container;
use crate::compose::cli::ConvergeFlags;
use crate::compose::error::ComposeError;
use crate::compose::lifecycle::{self, first_error, Op};
use crate::compose::logs::{self, LogOptions};
use crate::compose::members::{self, OneOff, ProjectContainer};
use crate::compose::names::{self, ContainerLabels};
use crate::compose::order::{self, Direction};
use crate::compose::plan::{self, Action, Wanted};
use crate::compose::project::{ProjectPlan, ServicePlan};
use crate::compose::wait::{self, Condition};
use crate::compose::{progress, resources};
use crate::error::CliError;

/// What `up`/`create` were asked.
#[derive(Debug, Clone, Default)]
pub struct UpOptions {
    pub converge: ConvergeFlags,
    /// start the containers (`create` and `up --no-start` do not)
    pub start: bool,
    pub no_deps: bool,
    /// `--wait`, with its timeout
    pub wait: Option<Option<Duration>>,
    /// stop timeout for recreated containers
    pub timeout: Option<i32>,
    pub services: Vec<String>,
}

/// `--scale svc=N` as a map; an unknown service or a bad number is an error.
pub fn scales(p: &ProjectPlan, flags: &[String]) -> Result<HashMap<String, u32>, ComposeError> {
    let mut out = HashMap::new();
    for f in flags {
        let bad = || ComposeError::Invalid(format!("invalid --scale {f:?}: want SERVICE=NUM"));
        let (s, n) = f.split_once('=').ok_or_else(bad)?;
        let n: u32 = n.parse().map_err(|_| bad())?;
        if p.service(s).is_none() {
            return Err(ComposeError::Invalid(format!("no such service: {s}")));
        }
        out.insert(s.to_string(), n);
    }
    Ok(out)
}

/// `up`/`create`: returns the services brought up, by name.
pub async fn up(m: &Manager, p: &ProjectPlan, o: &UpOptions) -> Result<Vec<String>, ComposeError> {
    let selected = p.select(&o.services, o.no_deps)?;
    let scale = scales(p, &o.converge.scale)?;
    for s in &p.services {
        let n = scale.get(&s.name).copied().unwrap_or(s.replicas);
        if s.container_name.is_some() && n > 1 {
            return Err(ComposeError::Invalid(format!(
                "service {:?} sets container_name, so it cannot have {n} containers",
                s.name
            )));
        }
    }
    resources::ensure_networks(m, &p.name, &p.networks).await?;
    resources::ensure_volumes(m, &p.name, &p.volumes).await?;
    for name in &selected {
        let s = p.service(name).expect("selected from the plan");
        images(m, s, &o.converge).await?;
    }
    // one listing serves every service: each converges its own containers
    let existing = members::list(m, &p.name, &[], OneOff::Exclude).await?;
    orphans(m, p, &existing, o.converge.remove_orphans).await?;
    let deps = p.deps_of(&selected);
    let existing = &existing;
    let results = order::run(&deps, Direction::Forward, |name| {
        let s = p.service(name).expect("selected from the plan");
        let replicas = scale.get(name).copied().unwrap_or(s.replicas);
        let mine: Vec<ProjectContainer> = existing
            .iter()
            .filter(|c| c.member.service == name)
            .cloned()
            .collect();
        async move { converge_service(m, p, s, mine, replicas, o).await }
    })
    .await;
    first_error(results)?;
    if let Some(timeout) = o.wait {
        let waited = wait_all(m, p, &selected);
        match timeout {
            Some(t) => tokio::time::timeout(t, waited).await.map_err(|_| {
                ComposeError::Invalid(format!(
                    "the project was not running and healthy within {}s",
                    t.as_secs()
                ))
            })??,
            None => waited.await?,
        }
    }
    Ok(selected)
}

/// The service's image: built when it has `build:` and `--build` asks or
/// the image is missing (never with `--no-build`).
async fn images(m: &Manager, s: &ServicePlan, f: &ConvergeFlags) -> Result<(), ComposeError> {
    let Some(build) = &s.build else {
        return Ok(());
    };
    let present = current_image(m, &s.image).await?.is_some();
    if f.no_build || (present && !f.build) {
        return Ok(());
    }
    progress::event("Service", &s.name, "Building");
    if crate::commands::build::build(m, build).await != 0 {
        return Err(ComposeError::Build {
            service: s.name.clone(),
        });
    }
    progress::event("Service", &s.name, "Built");
    Ok(())
}

/// Containers of services the files no longer have: removed with
/// `--remove-orphans`, else named in a warning.
async fn orphans(
    m: &Manager,
    p: &ProjectPlan,
    all: &[ProjectContainer],
    remove: bool,
) -> Result<(), ComposeError> {
    let orphans: Vec<ProjectContainer> = all
        .iter()
        .filter(|c| p.service(&c.member.service).is_none())
        .cloned()
        .collect();
    if orphans.is_empty() {
        return Ok(());
    }
    if remove {
        let op = Op::Remove {
            volumes: false,
            stop: None,
        };
        lifecycle::apply(m, &orphans, &[], &op).await?;
    } else {
        let names: Vec<&str> = orphans.iter().map(|c| c.info.name.as_str()).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        );
    }
    Ok(())
}

/// Waits for the service's dependencies, then converges its containers
/// (`mine`, as they were when `up` began).
async fn converge_service(
    m: &Manager,
    p: &ProjectPlan,
    s: &ServicePlan,
    mine: Vec<ProjectContainer>,
    replicas: u32,
    o: &UpOptions,
) -> Result<(), ComposeError> {
    if o.start {
        for (dep, cond) in &s.depends_on {
            if *cond == Condition::Started {
                continue;
            }
            let theirs =
                members::list(m, &p.name, std::slice::from_ref(dep), OneOff::Exclude).await?;
            wait::until(m, &theirs, *cond).await?;
        }
    }
    let image_id = current_image(m, &s.image).await?;
    let wanted = Wanted {
        config_hash: &s.config_hash,
        image_id: image_id.as_deref(),
        replicas,
        force_recreate: o.converge.force_recreate,
        no_recreate: o.converge.no_recreate,
    };
    let actions = plan::converge(wanted, mine.iter().map(|c| c.observed()).collect());
    let steps = actions.into_iter().map(|a| async move {
        match a {
            Action::Keep(c) => {
                progress::container(&c.name, "Running");
                Ok(())
            }
            Action::Start(c) => {
                if o.start {
                    start(m, &c.id, &c.name).await?;
                }
                Ok(())
            }
            Action::Remove(c) => {
                if c.running {
                    progress::container(&c.name, "Stopping");
                    container::stop_one(m, &c.id, o.timeout).await?;
                }
                progress::container(&c.name, "Removing");
                remove(m, &c.id).await?;
                progress::container(&c.name, "Removed");
                Ok(())
            }
            Action::Recreate(c) => {
                progress::container(&c.name, "Recreate");
                if c.running {
                    container::stop_one(m, &c.id, o.timeout).await?;
                }
                remove(m, &c.id).await?;
                let made = create(m, p, s, c.number).await?;
                progress::container(&made.name, "Recreated");
                if o.start {
                    start(m, &made.id, &made.name).await?;
                }
                Ok(())
            }
            Action::Create { number } => {
                let made = create(m, p, s, number).await?;
                if o.start {
                    start(m, &made.id, &made.name).await?;
                }
                Ok::<(), CliError>(())
            }
        }
    });
    for r in join_all(steps).await {
        r?;
    }
    Ok(())
}

/// The id of the image `reference` names now; `None` when it is not
/// stored (the create pulls it).
async fn current_image(m: &Manager, reference: &str) -> Result<Option<String>, CliError> {
    let req = GetImageRequest {
        reference: reference.to_string(),
        ..Default::default()
    };
    match m.images.get_image(m.ctx(), &req).await {
        Ok(i) => Ok(Some(i.id)),
        Err(e) => match m.err(e) {
            e if e.is_not_found() => Ok(None),
            e => Err(e),
        },
    }
}

async fn start(m: &Manager, id: &str, name: &str) -> Result<(), CliError> {
    progress::container(name, "Starting");
    crate::session::start_task(m, id)
        .await
        .map_err(|(e, _)| e)?;
    progress::container(name, "Started");
    Ok(())
}

async fn remove(m: &Manager, id: &str) -> Result<(), CliError> {
    let mut d = berth_proto::manager::DeleteContainerRequest::new();
    d.id = id.to_string();
    d.force = true;
    container::delete_again(m, &d).await
}

/// Makes the service's container number `number`: its flags with its name,
/// labels and first network, then joins the other networks.
pub async fn create(
    m: &Manager,
    p: &ProjectPlan,
    s: &ServicePlan,
    number: u32,
) -> Result<ContainerInfo, CliError> {
    let name = s
        .container_name
        .clone()
        .unwrap_or_else(|| names::container_name(&p.name, &s.name, number));
    progress::container(&name, "Creating");
    let mut f = s.template.clone();
    f.name = Some(name.clone());
    f.label.extend(
        ContainerLabels {
            project: &p.name,
            service: &s.name,
            number,
            oneoff: false,
            config_hash: &s.config_hash,
            working_dir: &p.working_dir,
            config_files: &p.config_files,
        }
        .entries(),
    );
    if let Some(first) = s.networks.first() {
        f.network = first.name.clone();
        f.net.network_alias = first.aliases.clone();
        f.net.ip = first.ipv4_address.clone();
    }
    let made = container::create_container(m, &f).await?;
    for n in s.networks.iter().skip(1) {
        let req = ConnectRequest {
            network: n.name.clone(),
            container: made.id.clone(),
            aliases: n.aliases.clone(),
            ipv4_address: n.ipv4_address.clone().unwrap_or_default(),
            ..Default::default()
        };
        if let Err(e) = m.networks.connect_container(m.ctx(), &req).await {
            let e = m.err(e);
            let _ = remove(m, &made.id).await;
            return Err(e);
        }
    }
    progress::container(&name, "Created");
    Ok(made)
}

/// `--wait`: every selected service running, and healthy if it has a check.
async fn wait_all(m: &Manager, p: &ProjectPlan, selected: &[String]) -> Result<(), ComposeError> {
    for name in selected {
        let s = p.service(name).expect("selected from the plan");
        let theirs = members::list(m, &p.name, std::slice::from_ref(name), OneOff::Exclude).await?;
        if s.has_healthcheck {
            wait::until(m, &theirs, Condition::Healthy).await?;
        } else {
            for c in &theirs {
                let now = container::resolve(m, &c.info.id).await?;
                if now.status != "running" {
                    return Err(ComposeError::Dependency(format!(
                        "container {} is {}",
                        c.info.name, now.status
                    )));
                }
            }
        }
    }
    Ok(())
}

/// The attached `up`: follows the logs of the selected services until
/// their containers stop, or ctrl-c, which stops them.
pub async fn attach(m: &Manager, p: &ProjectPlan, selected: &[String]) -> Result<(), ComposeError> {
    let containers = members::list(m, &p.name, selected, OneOff::Exclude).await?;
    let follow = logs::show(
        m,
        &containers,
        LogOptions {
            follow: true,
            exit_status: true,
            ..Default::default()
        },
    );
    tokio::select! {
        r = follow => Ok(r?),
        _ = tokio::signal::ctrl_c() => {
            eprintln!("Gracefully stopping... (press Ctrl+C again to force)");
            let deps = p.deps_of(selected);
            let now = members::list(m, &p.name, selected, OneOff::Exclude).await?;
            tokio::select! {
                r = lifecycle::apply(m, &now, &deps, &Op::Stop(None)) => r,
                _ = tokio::signal::ctrl_c() => {
                    lifecycle::apply(m, &now, &deps, &Op::Kill("SIGKILL".into())).await
                }
            }
        }
    }
}
