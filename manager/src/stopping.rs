//! `stop` is the manager's promise: once a stop is accepted its SIGKILL
//! deadline is in the container's record, so the signal, the wait and the
//! escalation complete even when the manager that accepted it is killed and
//! a new one recovers the container.

use std::sync::Arc;
use std::time::Duration;

use crate::error::{ManagerError, Result};
use crate::manager::Manager;
use crate::record::{now_nanos, ContainerRecord, Status};

/// True when the shim says the task's init has exited (its exit may not be
/// recorded yet).
pub async fn task_finished(client: &crate::shim::ShimClient, id: &str) -> bool {
    client.state(id, "").await.is_ok_and(|st| {
        st.status.enum_value_or_default() == berth_proto::containerd::api::Status::STOPPED
    })
}

/// How long a SIGKILLed task may take to be reaped.
const KILL_WAIT: Duration = Duration::from_secs(30);

impl Manager {
    /// The stop signal, up to `timeout` seconds (negative: the container's
    /// own), then SIGKILL. A stop already in flight keeps its earlier
    /// deadline.
    pub async fn stop_task(&self, key: &str, timeout: i32) -> Result<()> {
        let rec = self.resolve(key)?;
        let secs = if timeout < 0 {
            u64::from(rec.stop_timeout)
        } else {
            timeout as u64
        };
        let due = now_nanos().saturating_add(secs.saturating_mul(1_000_000_000));
        let rec = self.store.update(&rec.id, |r| {
            r.stop_requested = true;
            if r.status.has_task() {
                r.stop_deadline = match r.stop_deadline {
                    0 => due,
                    earlier => earlier.min(due),
                };
            }
        })?;
        if !rec.status.has_task() {
            if rec.status == Status::Restarting {
                self.store.update(&rec.id, |r| r.status = Status::Exited)?;
                self.bump();
            }
            return Ok(());
        }
        self.signal_stop(&rec).await?;
        self.finish_stop(&rec.id, rec.stop_deadline).await?;
        self.container_event(&rec, "stop", &[]);
        Ok(())
    }

    /// Sends the container's stop signal (a paused one is resumed to get it).
    async fn signal_stop(&self, rec: &ContainerRecord) -> Result<()> {
        let sig = crate::signal::parse(&rec.stop_signal).unwrap_or(libc::SIGTERM as u32);
        let client = self.running_client(rec)?;
        if let Err(e) = client.kill(&rec.id, "", sig, false).await {
            // a task that exited meanwhile is stopped: its exit is on its
            // way to the record
            let recorded = !self
                .store
                .get(&rec.id)?
                .is_some_and(|r| r.status.has_task());
            if !recorded && !task_finished(&client, &rec.id).await {
                return Err(e.into());
            }
        }
        if rec.status == Status::Paused {
            let _ = client.resume(&rec.id).await;
        }
        self.container_event(rec, "kill", &[("signal", sig.to_string())]);
        Ok(())
    }

    /// Waits for the exit until `deadline` (unix nanoseconds), then SIGKILL.
    async fn finish_stop(&self, id: &str, deadline: u64) -> Result<()> {
        let left = Duration::from_nanos(deadline.saturating_sub(now_nanos()));
        if self.wait_for_exit(id, Some(left)).await?.is_none() {
            self.kill_and_reap(id, KILL_WAIT).await?;
        }
        Ok(())
    }

    /// Carries on a stop the last manager accepted for a container recovery
    /// found running: the signal again while its deadline is ahead (the
    /// crash may have come before it was sent), then the wait and SIGKILL.
    pub fn resume_stop(self: &Arc<Self>, rec: ContainerRecord) {
        if rec.stop_deadline == 0 || !rec.status.has_task() {
            return;
        }
        let mgr = self.clone();
        tokio::spawn(async move {
            let id = rec.id.clone();
            let finished = async {
                if rec.stop_deadline > now_nanos() {
                    mgr.signal_stop(&rec).await?;
                }
                mgr.finish_stop(&id, rec.stop_deadline).await?;
                Ok::<_, ManagerError>(())
            }
            .await;
            match finished {
                Ok(()) => mgr.container_event(&rec, "stop", &[]),
                Err(e) => crate::log_line!("berth-manager: finish the stop of {id}: {e}"),
            }
        });
    }
}
