//! A project's containers as the manager has them, found by their
//! `com.docker.compose.*` labels: the observed side of convergence and what
//! `ps`, `logs`, `down` and the lifecycle commands act on.

use berth_proto::manager::{ContainerInfo, ListContainersRequest};

use crate::client::Manager;
use crate::compose::names::{self, Member};
use crate::compose::plan::Observed;
use crate::error::CliError;

/// One container of the project.
#[derive(Debug, Clone)]
pub struct ProjectContainer {
    pub info: ContainerInfo,
    pub member: Member,
}

impl ProjectContainer {
    /// Running, paused or restarting: it has a live task.
    pub fn is_up(&self) -> bool {
        matches!(
            self.info.status.as_str(),
            "running" | "paused" | "restarting"
        )
    }

    /// The container as convergence sees it.
    pub fn observed(&self) -> Observed {
        Observed {
            id: self.info.id.clone(),
            name: self.info.name.clone(),
            number: self.member.number,
            config_hash: self.member.config_hash.clone(),
            image_id: self.info.image_id.clone(),
            running: self.is_up(),
        }
    }
}

/// Which of the project's containers to list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OneOff {
    /// the services' containers only (not `compose run` ones)
    Exclude,
    /// `compose run` containers only
    Only,
    /// both
    Include,
}

/// Every container of `project`, sorted by service and number; `services`
/// empty: all services.
pub async fn list(
    m: &Manager,
    project: &str,
    services: &[String],
    oneoff: OneOff,
) -> Result<Vec<ProjectContainer>, CliError> {
    let mut req = ListContainersRequest::new();
    req.all = true;
    let all = m
        .again(|m, _| {
            let req = req.clone();
            async move {
                m.containers
                    .list_containers(m.ctx(), &req)
                    .await
                    .map_err(|e| m.err(e))
            }
        })
        .await?
        .containers;
    let mut out: Vec<ProjectContainer> = all
        .into_iter()
        .filter_map(|info| {
            let member = names::member_of(project, &info.labels)?;
            let wanted_kind = match oneoff {
                OneOff::Exclude => !member.oneoff,
                OneOff::Only => member.oneoff,
                OneOff::Include => true,
            };
            let wanted_service = services.is_empty() || services.contains(&member.service);
            (wanted_kind && wanted_service).then_some(ProjectContainer { info, member })
        })
        .collect();
    out.sort_by(|a, b| {
        (&a.member.service, a.member.number, &a.info.name).cmp(&(
            &b.member.service,
            b.member.number,
            &b.info.name,
        ))
    });
    Ok(out)
}

/// The projects that have containers, with their containers (for `ls`).
pub async fn projects(m: &Manager) -> Result<Vec<(String, Vec<ContainerInfo>)>, CliError> {
    let mut req = ListContainersRequest::new();
    req.all = true;
    let all = m
        .containers
        .list_containers(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))?
        .containers;
    let mut by: std::collections::BTreeMap<String, Vec<ContainerInfo>> = Default::default();
    for c in all {
        if let Some(p) = c.labels.get(names::PROJECT).cloned() {
            by.entry(p).or_default().push(c);
        }
    }
    Ok(by.into_iter().collect())
}
