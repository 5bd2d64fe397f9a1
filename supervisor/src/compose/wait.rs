//! Waiting for `depends_on` conditions, as docker compose does before it
//! starts a dependent service: `service_started` (the dependency's
//! containers run), `service_healthy` (their health check says healthy;
//! unhealthy or exited is a failure) and `service_completed_successfully`
//! (they exited with status 0).

use std::time::Duration;

use berth_proto::manager::TaskRequest;

use crate::client::Manager;
use crate::compose::error::ComposeError;
use crate::compose::members::ProjectContainer;
use crate::compose::progress;

/// How often health and state are looked at while waiting.
const POLL: Duration = Duration::from_millis(50);

/// The condition a dependent waits for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    Started,
    Healthy,
    CompletedSuccessfully,
}

impl Condition {
    /// From the compose file's spelling; `None` for an unknown one.
    pub fn parse(s: &str) -> Option<Condition> {
        match s {
            "service_started" => Some(Condition::Started),
            "service_healthy" => Some(Condition::Healthy),
            "service_completed_successfully" => Some(Condition::CompletedSuccessfully),
            _ => None,
        }
    }
}

/// Waits until every container of a dependency meets `cond`.
pub async fn until(
    m: &Manager,
    containers: &[ProjectContainer],
    cond: Condition,
) -> Result<(), ComposeError> {
    for c in containers {
        match cond {
            Condition::Started => {}
            Condition::Healthy => {
                progress::container(&c.info.name, "Waiting");
                healthy(m, c).await?;
                progress::container(&c.info.name, "Healthy");
            }
            Condition::CompletedSuccessfully => {
                progress::container(&c.info.name, "Waiting");
                completed(m, c).await?;
                progress::container(&c.info.name, "Exited");
            }
        }
    }
    Ok(())
}

/// Polls the container's health until it is healthy.
async fn healthy(m: &Manager, c: &ProjectContainer) -> Result<(), ComposeError> {
    let id = c.info.id.clone();
    loop {
        let states = crate::health::states(m, std::slice::from_ref(&id)).await;
        match states.get(&id).map(|h| h.status.as_str()) {
            Some("healthy") => return Ok(()),
            Some("unhealthy") => {
                return Err(ComposeError::Dependency(format!(
                    "container {} is unhealthy",
                    c.info.name
                )))
            }
            Some(_) => {}
            None => {
                return Err(ComposeError::Dependency(format!(
                    "container {} has no healthcheck configured",
                    c.info.name
                )))
            }
        }
        let now = crate::commands::container::resolve(m, &id).await?;
        if !matches!(now.status.as_str(), "running" | "restarting") {
            return Err(ComposeError::Dependency(format!(
                "container {} exited ({})",
                c.info.name, now.exit_code
            )));
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Waits for the container's exit; anything but status 0 is a failure.
async fn completed(m: &Manager, c: &ProjectContainer) -> Result<(), ComposeError> {
    let mut req = TaskRequest::new();
    req.container_id = c.info.id.clone();
    let w = m
        .again(|m, _| {
            let req = req.clone();
            async move { m.tasks.wait_task(m.ctx(), &req).await.map_err(|e| m.err(e)) }
        })
        .await?;
    if w.exit_code != 0 {
        return Err(ComposeError::Dependency(format!(
            "service {:?} didn't complete successfully: exit {}",
            c.member.service, w.exit_code
        )));
    }
    Ok(())
}
