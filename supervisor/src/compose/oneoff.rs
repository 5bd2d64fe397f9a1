//! `compose exec` and `compose run`: a command in a service's running
//! container (through `berth exec`), or in a new one-off container made
//! from the service's configuration (through `berth run`), named
//! `<project>-<service>-run-<id>` and labelled `oneoff=True`.

use std::io::Read;

use crate::client::Manager;
use crate::commands::{container, exec};
use crate::compose::cli::{ExecArgs, RunArgs};
use crate::compose::error::ComposeError;
use crate::compose::members::{self, OneOff};
use crate::compose::names::{self, ContainerLabels};
use crate::compose::project::ProjectPlan;
use crate::compose::up::{self, UpOptions};

/// The `--index`-th container of `service`.
async fn nth(
    m: &Manager,
    project: &str,
    service: &str,
    index: u32,
) -> Result<String, ComposeError> {
    let theirs = members::list(m, project, &[service.to_string()], OneOff::Exclude).await?;
    theirs
        .iter()
        .find(|c| c.member.number == index)
        .map(|c| c.info.name.clone())
        .ok_or_else(|| {
            ComposeError::Invalid(format!(
                "service {service:?} is not running container #{index}"
            ))
        })
}

fn stdin_is_tty() -> bool {
    crate::tty::is_tty(libc::STDIN_FILENO)
}

/// `compose exec`: returns the command's exit code.
pub async fn exec(m: &Manager, p: &ProjectPlan, a: &ExecArgs) -> Result<i32, ComposeError> {
    if p.service(&a.service).is_none() {
        return Err(ComposeError::Invalid(format!(
            "no such service: {}",
            a.service
        )));
    }
    let name = nth(m, &p.name, &a.service, a.index).await?;
    let args = crate::cli::ExecArgs {
        interactive: !a.detach,
        tty: !a.no_tty && !a.detach && stdin_is_tty(),
        detach: a.detach,
        env: a.env.clone(),
        env_file: Vec::new(),
        workdir: a.workdir.clone(),
        user: a.user.clone(),
        container: name,
        command: a.command.clone(),
    };
    Ok(exec::exec(m, &args).await)
}

/// 12 random hex digits for a one-off container's name.
fn random_suffix() -> String {
    let mut b = [0u8; 6];
    if let Ok(mut f) = std::fs::File::open("/dev/urandom") {
        let _ = f.read_exact(&mut b);
    }
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// `compose run`: starts the service's dependencies (unless `--no-deps`),
/// then runs the one-off container; returns its exit code.
pub async fn run(m: &Manager, p: &ProjectPlan, a: &RunArgs) -> Result<i32, ComposeError> {
    let s = p
        .service(&a.service)
        .ok_or_else(|| ComposeError::Invalid(format!("no such service: {}", a.service)))?;
    let deps: Vec<String> = s.depends_on.iter().map(|(d, _)| d.clone()).collect();
    if !a.no_deps && !deps.is_empty() {
        let o = UpOptions {
            start: true,
            services: deps,
            ..Default::default()
        };
        up::up(m, p, &o).await?;
    } else {
        crate::compose::resources::ensure_networks(m, &p.name, &p.networks).await?;
        crate::compose::resources::ensure_volumes(m, &p.name, &p.volumes).await?;
    }
    let mut f = s.template.clone();
    f.name = Some(
        a.name
            .clone()
            .unwrap_or_else(|| names::oneoff_name(&p.name, &s.name, &random_suffix())),
    );
    f.label.extend(
        ContainerLabels {
            project: &p.name,
            service: &s.name,
            number: 1,
            oneoff: true,
            config_hash: &s.config_hash,
            working_dir: &p.working_dir,
            config_files: &p.config_files,
        }
        .entries(),
    );
    f.label.extend(a.label.iter().cloned());
    if let Some(first) = s.networks.first() {
        f.network = first.name.clone();
        f.net.network_alias = first.aliases.clone();
    }
    // a one-off container publishes the service's ports only when asked
    if !a.service_ports {
        f.net.publish.clear();
    }
    f.net.publish.extend(a.publish.iter().cloned());
    f.volume.extend(a.volume.iter().cloned());
    f.env.extend(a.env.iter().cloned());
    if let Some(e) = &a.entrypoint {
        f.entrypoint = Some(e.clone());
        f.command.clear();
    }
    if !a.command.is_empty() {
        f.command = a.command.clone();
    }
    if a.user.is_some() {
        f.user = a.user.clone();
    }
    if a.workdir.is_some() {
        f.workdir = a.workdir.clone();
    }
    f.rm = a.rm;
    if a.rm {
        f.restart = "no".into();
    }
    f.interactive = !a.detach;
    f.tty = !a.no_tty && !a.detach && stdin_is_tty();
    container::run_options(&f).map_err(ComposeError::Cli)?;
    Ok(container::run(m, &f, a.detach, &[]).await)
}
