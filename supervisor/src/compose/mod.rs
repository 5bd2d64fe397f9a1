//! `berth compose`: docker compose v2's commands over the compose model
//! (`berth_compose`: files, merge, interpolation, profiles, validation) and
//! berth's own container, network, volume and build library functions.
//! Library code, so the CLI and the Docker API call the same steps.
//!
//! - [`cli`]: the command line; [`translate`]: the model → a [`project`]
//!   plan (each service's `run` flags, networks, volumes)
//! - [`names`]: docker compose's names and labels; [`members`]: the
//!   project's containers found by them
//! - [`plan`]: convergence of one service (pure); [`order`]: dependency
//!   order, concurrent where it allows; [`wait`]: `depends_on` conditions
//! - [`up`], [`down`], [`lifecycle`], [`oneoff`] (exec, run), [`ps`],
//!   [`logs`], [`images`], [`views`] (top, port, ls), [`resources`]
//!   (networks, volumes); [`progress`]: the lines printed meanwhile

pub mod cli;
pub mod down;
pub mod error;
pub mod images;
pub mod lifecycle;
pub mod logs;
pub mod members;
pub mod names;
pub mod oneoff;
pub mod order;
pub mod plan;
pub mod progress;
pub mod project;
pub mod ps;
pub mod resources;
pub mod translate;
pub mod up;
pub mod views;
pub mod wait;

use std::time::Duration;

use cli::{ComposeArgs, ComposeCommand};
use error::ComposeError;
use lifecycle::Op;
use members::OneOff;

use crate::client::Manager;
use crate::paths::Dirs;

/// Runs `berth compose …`; returns the exit code.  The project is loaded
/// (and so checked) before a manager is asked anything, so bad files
/// change nothing.
pub async fn main(a: ComposeArgs, dirs: &Dirs) -> i32 {
    match run(a, dirs).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("berth: {e}");
            1
        }
    }
}

async fn run(a: ComposeArgs, dirs: &Dirs) -> Result<i32, ComposeError> {
    if let ComposeCommand::Config(c) = &a.command {
        return translate::config(&a, c).map(|()| 0);
    }
    if let ComposeCommand::Ls(l) = &a.command {
        let m = Manager::connect_or_start(dirs).await?;
        views::ls(&m, l).await?;
        return Ok(0);
    }
    // `down` (and the views) of a project named by -p need no files
    let loaded = match translate::load(&a) {
        Ok(p) => Some(p),
        Err(e) if translate::is_missing_files(&e) && a.project_name.is_some() => None,
        Err(e) => return Err(e),
    };
    let m = Manager::connect_or_start(dirs).await?;
    let Some(p) = loaded else {
        let project = a.project_name.clone().unwrap_or_default();
        return without_files(&m, &project, &a.command).await;
    };
    let deps = p.deps();
    let services = |names: &[String]| p.select(names, true);
    let apply = |names: Vec<String>, op: Op| {
        let m = &m;
        let p = &p;
        let deps = &deps;
        async move {
            let cs = members::list(m, &p.name, &names, OneOff::Exclude).await?;
            lifecycle::apply(m, &cs, deps, &op).await?;
            Ok::<i32, ComposeError>(0)
        }
    };
    match a.command {
        ComposeCommand::Up(u) => {
            let detach = u.detach || u.wait;
            let o = up::UpOptions {
                converge: u.converge.clone(),
                start: !u.no_start,
                no_deps: u.no_deps,
                wait: u.wait.then_some(u.wait_timeout.map(Duration::from_secs)),
                timeout: u.timeout,
                services: u.services.clone(),
            };
            let selected = up::up(&m, &p, &o).await?;
            if !detach && !u.no_start {
                up::attach(&m, &p, &selected).await?;
            }
            Ok(0)
        }
        ComposeCommand::Create(c) => {
            let o = up::UpOptions {
                converge: c.converge.clone(),
                start: false,
                services: c.services.clone(),
                ..Default::default()
            };
            up::up(&m, &p, &o).await?;
            Ok(0)
        }
        ComposeCommand::Down(d) => {
            let images: Vec<(String, bool)> = p
                .services
                .iter()
                .map(|s| (s.image.clone(), s.local_image))
                .collect();
            let t = down::Target {
                project: &p.name,
                deps: &deps,
                from_files: true,
                images: &images,
            };
            down::down(&m, &t, &d).await?;
            Ok(0)
        }
        ComposeCommand::Ps(ps_args) => {
            let names = services(&ps_args.names)?;
            let oneoff = if ps_args.all {
                OneOff::Include
            } else {
                OneOff::Exclude
            };
            let cs = members::list(&m, &p.name, &names, oneoff).await?;
            ps::print(&m, &ps_args, &p.name, &cs).await?;
            Ok(0)
        }
        ComposeCommand::Logs(l) => {
            let names = services(&l.services)?;
            let cs = members::list(&m, &p.name, &names, OneOff::Exclude).await?;
            let tail = crate::logs::parse_tail(&l.tail).map_err(ComposeError::Invalid)?;
            let o = logs::LogOptions {
                follow: l.follow,
                tail,
                timestamps: l.timestamps,
                no_prefix: l.no_log_prefix,
                exit_status: false,
            };
            logs::show(&m, &cs, o).await?;
            Ok(0)
        }
        ComposeCommand::Build(b) => images::build(&m, &p, &b).await.map(|()| 0),
        ComposeCommand::Pull(s) => images::pull_or_push(&m, &p, &s.services, false)
            .await
            .map(|()| 0),
        ComposeCommand::Push(s) => images::pull_or_push(&m, &p, &s.services, true)
            .await
            .map(|()| 0),
        ComposeCommand::Start(s) => apply(services(&s.services)?, Op::Start).await,
        ComposeCommand::Stop(t) => apply(services(&t.services)?, Op::Stop(t.timeout)).await,
        ComposeCommand::Restart(t) => apply(services(&t.services)?, Op::Restart(t.timeout)).await,
        ComposeCommand::Kill(k) => {
            crate::flags::parse_signal(&k.signal)
                .map_err(|e| ComposeError::Invalid(e.to_string()))?;
            apply(services(&k.services)?, Op::Kill(k.signal.clone())).await
        }
        ComposeCommand::Pause(s) => apply(services(&s.services)?, Op::Pause).await,
        ComposeCommand::Unpause(s) => apply(services(&s.services)?, Op::Unpause).await,
        ComposeCommand::Rm(r) => {
            let names = services(&r.services)?;
            let mut cs = members::list(&m, &p.name, &names, OneOff::Include).await?;
            if r.stop {
                lifecycle::apply(&m, &cs, &deps, &Op::Stop(None)).await?;
                cs = members::list(&m, &p.name, &names, OneOff::Include).await?;
            }
            cs.retain(|c| !c.is_up());
            if cs.is_empty() {
                eprintln!("No stopped containers");
                return Ok(0);
            }
            let listed: Vec<&str> = cs.iter().map(|c| c.info.name.as_str()).collect();
            if !r.force
                && !crate::commands::volume::confirm(&format!(
                    "Going to remove {}",
                    listed.join(", ")
                ))
            {
                return Ok(0);
            }
            lifecycle::apply(
                &m,
                &cs,
                &deps,
                &Op::Remove {
                    volumes: r.volumes,
                    stop: None,
                },
            )
            .await?;
            Ok(0)
        }
        ComposeCommand::Exec(e) => oneoff::exec(&m, &p, &e).await,
        ComposeCommand::Run(r) => oneoff::run(&m, &p, &r).await,
        ComposeCommand::Top(s) => views::top(&m, &p.name, &services(&s.services)?)
            .await
            .map(|()| 0),
        ComposeCommand::Port(pa) => views::port(&m, &p.name, &pa).await,
        ComposeCommand::Images(i) => images::images(&m, &p, &i).await.map(|()| 0),
        ComposeCommand::Config(_) | ComposeCommand::Ls(_) => Ok(0),
    }
}

/// The commands that work on a project known only by `-p`: from the
/// labels of its containers, networks and volumes.
async fn without_files(
    m: &Manager,
    project: &str,
    command: &ComposeCommand,
) -> Result<i32, ComposeError> {
    let cs = members::list(m, project, &[], OneOff::Include).await?;
    match command {
        ComposeCommand::Down(d) => {
            let t = down::Target {
                project,
                deps: &[],
                from_files: false,
                images: &[],
            };
            down::down(m, &t, d).await?;
        }
        ComposeCommand::Ps(a) => ps::print(m, a, project, &cs).await?,
        ComposeCommand::Stop(t) => lifecycle::apply(m, &cs, &[], &Op::Stop(t.timeout)).await?,
        ComposeCommand::Kill(k) => {
            lifecycle::apply(m, &cs, &[], &Op::Kill(k.signal.clone())).await?
        }
        _ => {
            return Err(ComposeError::Invalid(format!(
                "project {project}: this command needs the compose file (none was found)"
            )))
        }
    }
    Ok(0)
}
