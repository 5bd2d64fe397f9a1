//! `compose start|stop|restart|kill|pause|unpause|rm`: one operation on the
//! project's containers, service by service in dependency order (stops and
//! kills dependents first), the containers of one service at once.

use berth_proto::manager::{DeleteContainerRequest, KillRequest, TaskRequest};
use futures_util::future::join_all;

use crate::client::Manager;
use crate::commands::container;
use crate::compose::error::ComposeError;
use crate::compose::members::ProjectContainer;
use crate::compose::order::{self, Direction};
use crate::compose::progress;
use crate::error::CliError;

/// What is done to each container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    Start,
    /// seconds before the kill; `None`: each container's own timeout
    Stop(Option<i32>),
    Restart(Option<i32>),
    /// the signal, as `kill -s` takes it
    Kill(String),
    Pause,
    Unpause,
    /// remove containers, stopping running ones first (`stop`: seconds
    /// before the kill, as [`Op::Stop`]); `volumes`: their anonymous
    /// volumes too
    Remove {
        volumes: bool,
        stop: Option<i32>,
    },
}

impl Op {
    fn direction(&self) -> Direction {
        match self {
            Op::Start | Op::Restart(_) | Op::Unpause => Direction::Forward,
            _ => Direction::Reverse,
        }
    }

    /// docker compose's words before and after.
    fn words(&self) -> (&'static str, &'static str) {
        match self {
            Op::Start => ("Starting", "Started"),
            Op::Stop(_) => ("Stopping", "Stopped"),
            Op::Restart(_) => ("Restarting", "Started"),
            Op::Kill(_) => ("Killing", "Killed"),
            Op::Pause => ("Pausing", "Paused"),
            Op::Unpause => ("Unpausing", "Unpaused"),
            Op::Remove { .. } => ("Removing", "Removed"),
        }
    }

    /// Whether the container is in a state this op applies to.
    fn applies(&self, c: &ProjectContainer) -> bool {
        let s = c.info.status.as_str();
        match self {
            Op::Start => !c.is_up(),
            Op::Stop(_) | Op::Kill(_) => c.is_up(),
            Op::Pause => s == "running",
            Op::Unpause => s == "paused",
            Op::Restart(_) | Op::Remove { .. } => true,
        }
    }
}

/// Does `op` to one container.
pub async fn one(m: &Manager, c: &ProjectContainer, op: &Op) -> Result<(), CliError> {
    let id = c.info.id.as_str();
    let task = || {
        let mut r = TaskRequest::new();
        r.container_id = id.to_string();
        r
    };
    match op {
        Op::Start => container_start(m, id).await,
        Op::Stop(t) => container::stop_one(m, id, *t).await,
        Op::Restart(t) => {
            if c.is_up() {
                container::stop_one(m, id, *t).await?;
            }
            container_start(m, id).await
        }
        Op::Kill(sig) => {
            let mut r = KillRequest::new();
            r.container_id = id.to_string();
            r.signal =
                crate::flags::parse_signal(sig).map_err(|e| CliError::Invalid(e.to_string()))?;
            m.tasks.kill_task(m.ctx(), &r).await.map_err(|e| m.err(e))?;
            Ok(())
        }
        Op::Pause => {
            m.tasks
                .pause_task(m.ctx(), &task())
                .await
                .map_err(|e| m.err(e))?;
            Ok(())
        }
        Op::Unpause => {
            m.tasks
                .resume_task(m.ctx(), &task())
                .await
                .map_err(|e| m.err(e))?;
            Ok(())
        }
        Op::Remove { volumes, stop } => {
            // each container goes as soon as it has stopped, while the
            // others of its service still stop
            if c.is_up() {
                progress::container(&c.info.name, "Stopping");
                container::stop_one(m, id, *stop).await?;
                progress::container(&c.info.name, "Stopped");
            }
            progress::container(&c.info.name, "Removing");
            let mut d = DeleteContainerRequest::new();
            d.id = id.to_string();
            d.force = true;
            container::delete_again(m, &d).await?;
            if *volumes {
                crate::commands::volume::remove_anonymous(m, &c.info.spec_json).await?;
            }
            Ok(())
        }
    }
}

async fn container_start(m: &Manager, id: &str) -> Result<(), CliError> {
    crate::session::start_task(m, id).await.map_err(|(e, _)| e)
}

/// Does `op` to every container of `containers` that it applies to, in
/// the dependency order of `deps` (service → its dependencies), printing
/// docker compose's progress lines.
pub async fn apply(
    m: &Manager,
    containers: &[ProjectContainer],
    deps: &[(String, Vec<String>)],
    op: &Op,
) -> Result<(), ComposeError> {
    let (doing, done) = op.words();
    // services the model does not know (orphans) go last, unordered
    let mut graph: Vec<(String, Vec<String>)> = deps.to_vec();
    for c in containers {
        if !graph.iter().any(|(s, _)| *s == c.member.service) {
            graph.push((c.member.service.clone(), Vec::new()));
        }
    }
    let results = order::run(&graph, op.direction(), |service| async move {
        let mine = containers
            .iter()
            .filter(|c| c.member.service == service && op.applies(c));
        let each = mine.map(|c| async move {
            if !matches!(op, Op::Remove { .. }) {
                progress::container(&c.info.name, doing);
            }
            one(m, c, op).await?;
            progress::container(&c.info.name, done);
            Ok::<(), CliError>(())
        });
        for r in join_all(each).await {
            r?;
        }
        Ok::<(), ComposeError>(())
    })
    .await;
    first_error(results)
}

/// The first failure of an ordered run, printing every other one.
pub fn first_error<T>(results: Vec<(String, Result<T, ComposeError>)>) -> Result<(), ComposeError> {
    let mut first = None;
    for (_, r) in results {
        match r {
            Ok(_) => {}
            Err(ComposeError::Skipped(_)) => {}
            Err(e) if first.is_none() => first = Some(e),
            Err(e) => eprintln!("berth: {e}"),
        }
    }
    first.map_or(Ok(()), Err)
}
