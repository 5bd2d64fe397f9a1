//! A container as the manager stores it, and its wire form.

use std::collections::BTreeMap;
use std::time::{SystemTime, UNIX_EPOCH};

use berth_proto::manager::{ContainerInfo, RestartPolicy};
use protobuf::well_known_types::timestamp::Timestamp;
use protobuf::MessageField;
use serde::{Deserialize, Serialize};

/// Where a container is in its life, as `docker ps` words it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Created,
    Running,
    Paused,
    Restarting,
    Exited,
    Dead,
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Restarting => "restarting",
            Status::Exited => "exited",
            Status::Dead => "dead",
        }
    }

    /// True while a task (a shim and an init process) belongs to the container.
    pub fn has_task(self) -> bool {
        matches!(self, Status::Running | Status::Paused)
    }
}

/// The shim serving a container's task.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShimRecord {
    /// ttrpc address the shim printed at `start` (empty while it is being
    /// started: recovery then looks for the bundle's `address` file).
    pub address: String,
    /// Task API version the shim speaks (2 or 3).
    pub version: i32,
}

/// One rootfs mount handed to the shim.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MountRecord {
    pub kind: String,
    pub source: String,
    pub target: String,
    pub options: Vec<String>,
}

impl MountRecord {
    /// `overlay on / (lowerdir=…,upperdir=…)`, for inspect.
    pub fn describe(&self) -> String {
        let target = if self.target.is_empty() {
            "/"
        } else {
            &self.target
        };
        format!(
            "{} {} on {target} ({})",
            self.kind,
            self.source,
            self.options.join(",")
        )
    }
}

/// The stored record of one container.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerRecord {
    pub id: String,
    pub name: String,
    pub image: String,
    pub image_id: String,
    pub spec_json: String,
    pub labels: BTreeMap<String, String>,
    pub restart_policy: String,
    pub restart_max_retries: u32,
    pub auto_remove: bool,
    pub tty: bool,
    pub open_stdin: bool,
    /// Unix nanoseconds.
    pub created: u64,
    pub status: Status,
    pub pid: u32,
    pub exit_code: i32,
    pub started_at: u64,
    pub finished_at: u64,
    pub restart_count: u32,
    pub oom_killed: bool,
    pub log_path: String,
    pub bundle: String,
    pub stop_signal: String,
    pub stop_timeout: u32,
    pub rootfs: Vec<MountRecord>,
    pub error: String,
    /// Snapshot key in the image store (the container id).
    pub snapshot: String,
    /// Set while a shim may exist for this container.
    pub shim: Option<ShimRecord>,
    /// The user stopped or killed it: no restart policy applies to this exit.
    pub stop_requested: bool,
    /// Unix nanoseconds at which an accepted `stop` sends SIGKILL (0: no stop
    /// in flight); a restarted manager finishes the stop from here.
    #[serde(default)]
    pub stop_deadline: u64,
}

/// Unix nanoseconds now.
pub fn now_nanos() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0)
}

/// A protobuf timestamp for unix nanoseconds; unset for 0.
pub fn timestamp(nanos: u64) -> MessageField<Timestamp> {
    if nanos == 0 {
        return MessageField::none();
    }
    let mut t = Timestamp::new();
    t.seconds = (nanos / 1_000_000_000) as i64;
    t.nanos = (nanos % 1_000_000_000) as i32;
    MessageField::some(t)
}

/// Unix nanoseconds of a protobuf timestamp; 0 when unset.
pub fn nanos_of(t: &MessageField<Timestamp>) -> u64 {
    t.as_ref()
        .map(|t| (t.seconds.max(0) as u64) * 1_000_000_000 + t.nanos.max(0) as u64)
        .unwrap_or(0)
}

impl ContainerRecord {
    pub fn to_info(&self) -> ContainerInfo {
        let mut policy = RestartPolicy::new();
        policy.name = self.restart_policy.clone();
        policy.max_retries = self.restart_max_retries;
        ContainerInfo {
            id: self.id.clone(),
            name: self.name.clone(),
            image: self.image.clone(),
            image_id: self.image_id.clone(),
            spec_json: self.spec_json.clone(),
            labels: self.labels.clone().into_iter().collect(),
            restart_policy: MessageField::some(policy),
            auto_remove: self.auto_remove,
            tty: self.tty,
            open_stdin: self.open_stdin,
            created: timestamp(self.created),
            status: self.status.as_str().to_string(),
            pid: if self.status.has_task() { self.pid } else { 0 },
            exit_code: self.exit_code,
            started_at: timestamp(self.started_at),
            finished_at: timestamp(self.finished_at),
            restart_count: self.restart_count,
            oom_killed: self.oom_killed,
            log_path: self.log_path.clone(),
            bundle: self.bundle.clone(),
            stop_signal: self.stop_signal.clone(),
            stop_timeout: self.stop_timeout,
            rootfs_mounts: self.rootfs.iter().map(MountRecord::describe).collect(),
            error: self.error.clone(),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps_round_trip_and_zero_is_unset() {
        assert!(timestamp(0).is_none());
        let t = timestamp(1_700_000_000_123_456_789);
        assert_eq!(nanos_of(&t), 1_700_000_000_123_456_789);
    }

    #[test]
    fn status_serializes_as_docker_words() {
        assert_eq!(
            serde_json::to_string(&Status::Running).unwrap(),
            "\"running\""
        );
        assert!(Status::Paused.has_task());
        assert!(!Status::Exited.has_task());
    }
}
