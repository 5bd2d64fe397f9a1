//! Health checks: docker's `HEALTHCHECK` run by the manager as an exec in
//! the container, every interval, with docker's rules (a timeout counts as a
//! failure with exit code -1; failures inside the start period do not count;
//! `retries` failures in a row make the container unhealthy; one success
//! makes it healthy). The state (status, failing streak, the last 5
//! results) is kept in the store's `health` table, one write per check, and
//! `health_status: …` events go out when the status changes.
//!
//! The check is the `berth.healthcheck` annotation of the container's spec
//! (docker's `Healthcheck` object as JSON), so it is stored with the
//! container in the same transaction. A watcher started with the manager
//! looks at the running containers every second and runs one monitor per
//! container run (its `started_at`), so checks start with the container and
//! are picked up again after a manager restart without any hook in the
//! task code.

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use berth_proto::health::{ContainerHealth, HealthLog};
use redb::TableDefinition;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{ManagerError, Result};
use crate::manager::Manager;
use crate::record::{now_nanos, timestamp, ContainerRecord, Status};

/// The spec annotation that carries a container's health check.
pub const ANNOTATION: &str = "berth.healthcheck";
/// container id → JSON [`HealthState`].
const HEALTH: TableDefinition<&str, &[u8]> = TableDefinition::new("health");
/// Results kept per container, as docker keeps.
const KEEP: usize = 5;
/// Longest output kept per result, as docker keeps.
const MAX_OUTPUT: usize = 4096;
/// docker's defaults for unset (zero) durations and retries.
const DEFAULT_INTERVAL: u64 = 30_000_000_000;
const DEFAULT_TIMEOUT: u64 = 30_000_000_000;
const DEFAULT_RETRIES: u32 = 3;

/// docker's `Healthcheck` (durations in nanoseconds).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "PascalCase")]
pub struct HealthConfig {
    pub test: Vec<String>,
    pub interval: u64,
    pub timeout: u64,
    pub start_period: u64,
    pub retries: u32,
}

impl HealthConfig {
    /// The check of a stored spec, if it has one that runs something.
    pub fn of_spec(spec_json: &str) -> Option<HealthConfig> {
        // most containers have none: a scan is far cheaper than a parse
        if !spec_json.contains(ANNOTATION) {
            return None;
        }
        let spec: Value = serde_json::from_str(spec_json).ok()?;
        let raw = spec
            .pointer(&format!("/annotations/{ANNOTATION}"))?
            .as_str()?;
        let cfg: HealthConfig = serde_json::from_str(raw).ok()?;
        cfg.argv(&[]).map(|_| cfg)
    }

    /// The probe's argv: `CMD args…` as is, `CMD-SHELL cmd` through the
    /// container's shell; `NONE` or nothing: no check.
    pub fn argv(&self, shell: &[String]) -> Option<Vec<String>> {
        match self.test.split_first() {
            Some((k, rest)) if k == "CMD" && !rest.is_empty() => Some(rest.to_vec()),
            Some((k, rest)) if k == "CMD-SHELL" && !rest.is_empty() => {
                let mut argv = if shell.is_empty() {
                    vec!["/bin/sh".to_string(), "-c".to_string()]
                } else {
                    shell.to_vec()
                };
                argv.push(rest.join(" "));
                Some(argv)
            }
            _ => None,
        }
    }

    fn interval(&self) -> Duration {
        Duration::from_nanos(if self.interval == 0 {
            DEFAULT_INTERVAL
        } else {
            self.interval
        })
    }

    fn timeout(&self) -> Duration {
        Duration::from_nanos(if self.timeout == 0 {
            DEFAULT_TIMEOUT
        } else {
            self.timeout
        })
    }

    fn retries(&self) -> u32 {
        if self.retries == 0 {
            DEFAULT_RETRIES
        } else {
            self.retries
        }
    }
}

/// One probe's result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthResult {
    pub start: u64,
    pub end: u64,
    pub exit_code: i32,
    pub output: String,
}

/// A container's health as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthState {
    /// starting | healthy | unhealthy
    pub status: String,
    pub failing_streak: u32,
    pub log: Vec<HealthResult>,
    /// `started_at` of the run this state belongs to: a new run starts over
    pub generation: u64,
}

impl HealthState {
    pub fn starting(generation: u64) -> HealthState {
        HealthState {
            status: "starting".into(),
            failing_streak: 0,
            log: Vec::new(),
            generation,
        }
    }

    /// Takes one result with docker's rules; `in_start_period`: failures
    /// do not count yet.
    pub fn record(&mut self, r: HealthResult, cfg: &HealthConfig, in_start_period: bool) {
        if r.exit_code == 0 {
            self.failing_streak = 0;
            self.status = "healthy".into();
        } else if !in_start_period {
            self.failing_streak += 1;
            if self.failing_streak >= cfg.retries() {
                self.status = "unhealthy".into();
            }
        }
        self.log.push(r);
        if self.log.len() > KEEP {
            let cut = self.log.len() - KEEP;
            self.log.drain(..cut);
        }
    }

    pub fn to_wire(&self, id: &str) -> ContainerHealth {
        ContainerHealth {
            container_id: id.to_string(),
            status: self.status.clone(),
            failing_streak: self.failing_streak,
            log: self
                .log
                .iter()
                .map(|r| HealthLog {
                    start: timestamp(r.start),
                    end: timestamp(r.end),
                    exit_code: r.exit_code,
                    output: r.output.clone(),
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        }
    }
}

fn db<E: Into<redb::Error>>(e: E) -> ManagerError {
    ManagerError::Internal(format!("metadata store: {}", e.into()))
}

/// Cuts `s` to at most `max` bytes on a character boundary.
fn cap(mut s: String, max: usize) -> String {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
    s
}

/// The running monitors: container id → the run (generation) each watches.
static MONITORS: Mutex<Option<HashMap<String, u64>>> = Mutex::new(None);
/// Containers whose spec has no health check (a spec never changes):
/// `ps` asks for every container's health and needs no store read for these.
static NO_CHECK: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn no_check() -> std::sync::MutexGuard<'static, Option<HashSet<String>>> {
    NO_CHECK.lock().unwrap_or_else(|e| e.into_inner())
}

/// The store (its instance) and its generation the watcher last looked at.
static SCANNED: Mutex<Option<(u64, u64)>> = Mutex::new(None);

fn monitors() -> std::sync::MutexGuard<'static, Option<HashMap<String, u64>>> {
    MONITORS.lock().unwrap_or_else(|e| e.into_inner())
}

impl Manager {
    pub fn health_state(&self, id: &str) -> Result<Option<HealthState>> {
        let txn = self.store.db()?.begin_read().map_err(db)?;
        let table = match txn.open_table(HEALTH) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db(e)),
        };
        let v = table.get(id).map_err(db)?;
        Ok(v.and_then(|v| serde_json::from_slice(v.value()).ok()))
    }

    fn put_health(&self, id: &str, state: &HealthState) -> Result<()> {
        let txn = self.store.db()?.begin_write().map_err(db)?;
        {
            let mut t = txn.open_table(HEALTH).map_err(db)?;
            let bytes = serde_json::to_vec(state).expect("health state serializes");
            t.insert(id, bytes.as_slice()).map_err(db)?;
        }
        txn.commit().map_err(db)
    }

    fn forget_health(&self, id: &str) {
        let Ok(db) = self.store.db() else {
            return;
        };
        let Ok(txn) = db.begin_write() else {
            return;
        };
        if let Ok(mut t) = txn.open_table(HEALTH) {
            let _ = t.remove(id);
        }
        let _ = txn.commit();
    }

    /// The health of the given containers that have a check.
    pub fn get_health(&self, ids: &[String]) -> Result<Vec<ContainerHealth>> {
        let mut out = Vec::new();
        for id in ids {
            if no_check().as_ref().is_some_and(|s| s.contains(id)) {
                continue;
            }
            let Some(rec) = self.store.get(id)? else {
                continue;
            };
            if HealthConfig::of_spec(&rec.spec_json).is_none() {
                no_check()
                    .get_or_insert_with(HashSet::new)
                    .insert(id.clone());
                continue;
            }
            // a run whose first check has not happened yet is starting
            let state = match self.health_state(id)? {
                Some(s) if rec.status != Status::Running || s.generation == rec.started_at => s,
                _ if rec.status == Status::Running => HealthState::starting(rec.started_at),
                _ => continue,
            };
            out.push(state.to_wire(id));
        }
        Ok(out)
    }

    /// Starts the watcher that keeps one monitor per running container with
    /// a health check (see the module doc).
    pub fn start_health_checks(self: &Arc<Self>) {
        let mgr = self.clone();
        tokio::spawn(async move {
            loop {
                mgr.spawn_monitors();
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        });
    }

    fn spawn_monitors(self: &Arc<Self>) {
        // After a first look at every record, only the records changed
        // since the last look are read (all of them again if the store's
        // memory of changes does not reach back that far).
        let store_at = self.store.instance();
        let mut scanned = SCANNED.lock().unwrap_or_else(|e| e.into_inner());
        let since = scanned.filter(|(s, _)| *s == store_at).map(|(_, g)| g);
        let changed = since.and_then(|g| self.store.changed_since(g));
        let mut guard = monitors();
        let running = guard.get_or_insert_with(HashMap::new);
        match changed {
            Some((ids, now)) => {
                for id in ids {
                    match self.store.get(&id) {
                        Ok(Some(rec)) => self.consider(rec, running),
                        Ok(None) => self.forget(&id, running),
                        Err(_) => return,
                    }
                }
                *scanned = Some((store_at, now));
            }
            None => {
                let now = self.store.generation();
                let Ok(recs) = self.store.list() else {
                    return;
                };
                let known: HashSet<&str> = recs.iter().map(|r| r.id.as_str()).collect();
                // the state of removed containers goes with them
                for id in running.keys().cloned().collect::<Vec<_>>() {
                    if !known.contains(id.as_str()) {
                        self.forget(&id, running);
                    }
                }
                if let Some(s) = no_check().as_mut() {
                    s.retain(|id| known.contains(id.as_str()));
                }
                for rec in recs {
                    self.consider(rec, running);
                }
                *scanned = Some((store_at, now));
            }
        }
    }

    /// Starts a monitor for a running container's run that has none.
    fn consider(self: &Arc<Self>, rec: ContainerRecord, running: &mut HashMap<String, u64>) {
        if rec.status != Status::Running || running.get(&rec.id) == Some(&rec.started_at) {
            return;
        }
        let Some(cfg) = HealthConfig::of_spec(&rec.spec_json) else {
            return;
        };
        running.insert(rec.id.clone(), rec.started_at);
        let mgr = self.clone();
        tokio::spawn(async move { mgr.monitor(rec, cfg).await });
    }

    /// Drops what is kept for a removed container.
    fn forget(&self, id: &str, running: &mut HashMap<String, u64>) {
        if running.remove(id).is_some() {
            self.forget_health(id);
        }
        if let Some(s) = no_check().as_mut() {
            s.remove(id);
        }
    }

    /// Probes one run of a container until it stops running.
    async fn monitor(self: Arc<Self>, rec: ContainerRecord, cfg: HealthConfig) {
        let (id, generation) = (rec.id.clone(), rec.started_at);
        let mut state = match self.health_state(&id) {
            Ok(Some(s)) if s.generation == generation => s,
            _ => {
                let s = HealthState::starting(generation);
                let _ = self.put_health(&id, &s);
                s
            }
        };
        loop {
            tokio::time::sleep(cfg.interval()).await;
            let current = match self.store.get(&id) {
                Ok(Some(r)) if r.status == Status::Running && r.started_at == generation => r,
                _ => break,
            };
            let in_start_period = now_nanos() < generation.saturating_add(cfg.start_period);
            let result = self.probe(&current, &cfg).await;
            let before = state.status.clone();
            state.record(result, &cfg, in_start_period);
            if let Err(e) = self.put_health(&id, &state) {
                crate::log_line!("berth-manager: health of {id}: {e}");
            }
            if state.status != before {
                self.container_event(&current, &format!("health_status: {}", state.status), &[]);
            }
        }
        if matches!(self.store.get(&id), Ok(None)) {
            self.forget_health(&id);
        }
        let mut guard = monitors();
        if let Some(m) = guard.as_mut() {
            if m.get(&id) == Some(&generation) {
                m.remove(&id);
            }
        }
    }

    /// Runs the check once as an exec in the container.
    async fn probe(&self, rec: &ContainerRecord, cfg: &HealthConfig) -> HealthResult {
        let start = now_nanos();
        let done = |exit_code: i32, output: String| HealthResult {
            start,
            end: now_nanos(),
            exit_code,
            output: cap(output, MAX_OUTPUT),
        };
        let spec: Value = serde_json::from_str(&rec.spec_json).unwrap_or_default();
        let mut process = spec.get("process").cloned().unwrap_or_default();
        let Some(argv) = cfg.argv(&[]) else {
            return done(-1, "no health check command".into());
        };
        process["args"] = serde_json::json!(argv);
        process["terminal"] = Value::Bool(false);
        let exec = match self
            .exec(&rec.id, &process.to_string(), "", false, false)
            .await
        {
            Ok(e) => e,
            Err(e) => return done(-1, format!("{e}\n")),
        };
        let open = |p: &str| {
            tokio::net::unix::pipe::OpenOptions::new()
                .read_write(true)
                .open_receiver(p)
                .ok()
                .map(Arc::new)
        };
        let pipes: Vec<_> = [&exec.stdout_path, &exec.stderr_path]
            .into_iter()
            .filter_map(|p| open(p))
            .collect();
        let output = Arc::new(Mutex::new(Vec::<u8>::new()));
        let readers: Vec<_> = pipes
            .iter()
            .map(|p| {
                let (p, out) = (p.clone(), output.clone());
                tokio::spawn(async move {
                    let mut buf = [0u8; 4096];
                    loop {
                        if p.readable().await.is_err() {
                            break;
                        }
                        match p.try_read(&mut buf) {
                            Ok(0) => break,
                            Ok(n) => keep(&out, &buf[..n]),
                            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => continue,
                            Err(_) => break,
                        }
                    }
                })
            })
            .collect();
        let result = async {
            self.start_exec(&rec.id, &exec.exec_id).await?;
            match tokio::time::timeout(cfg.timeout(), self.wait_exec(&rec.id, &exec.exec_id)).await
            {
                Ok(w) => w.map(|w| Some(w.exit_code)),
                Err(_) => {
                    let _ = self
                        .kill_task(&rec.id, "SIGKILL", false, &exec.exec_id)
                        .await;
                    // reap it, so the shim, the FIFOs and the exec table let go
                    let reap = self.wait_exec(&rec.id, &exec.exec_id);
                    let _ = tokio::time::timeout(Duration::from_secs(5), reap).await;
                    Ok(None)
                }
            }
        }
        .await;
        for r in readers {
            r.abort();
        }
        // what the probe wrote last is still in the pipes
        let mut buf = [0u8; 4096];
        for p in &pipes {
            while let Ok(n) = p.try_read(&mut buf) {
                if n == 0 {
                    break;
                }
                keep(&output, &buf[..n]);
            }
        }
        self.exec_exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(&exec.exec_id);
        let text =
            String::from_utf8_lossy(&output.lock().unwrap_or_else(|e| e.into_inner())).into_owned();
        match result {
            Ok(Some(code)) => done(code, text),
            Ok(None) => done(
                -1,
                format!(
                    "Health check exceeded timeout ({})",
                    humanize(cfg.timeout())
                ),
            ),
            Err(e) => done(-1, format!("{text}{e}\n")),
        }
    }
}

fn keep(out: &Mutex<Vec<u8>>, data: &[u8]) {
    let mut o = out.lock().unwrap_or_else(|e| e.into_inner());
    let room = MAX_OUTPUT.saturating_sub(o.len());
    o.extend_from_slice(&data[..data.len().min(room)]);
}

/// A duration as Go prints it for whole seconds or milliseconds ("30s", "500ms").
fn humanize(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(retries: u32) -> HealthConfig {
        HealthConfig {
            test: vec!["CMD-SHELL".into(), "true".into()],
            retries,
            ..Default::default()
        }
    }

    fn result(code: i32) -> HealthResult {
        HealthResult {
            start: 1,
            end: 2,
            exit_code: code,
            output: String::new(),
        }
    }

    #[test]
    fn docker_rules_for_status() {
        let c = cfg(2);
        let mut s = HealthState::starting(7);
        s.record(result(1), &c, true);
        assert_eq!((s.status.as_str(), s.failing_streak), ("starting", 0));
        s.record(result(1), &c, false);
        assert_eq!((s.status.as_str(), s.failing_streak), ("starting", 1));
        s.record(result(1), &c, false);
        assert_eq!((s.status.as_str(), s.failing_streak), ("unhealthy", 2));
        s.record(result(0), &c, false);
        assert_eq!((s.status.as_str(), s.failing_streak), ("healthy", 0));
        for _ in 0..10 {
            s.record(result(0), &c, false);
        }
        assert_eq!(s.log.len(), KEEP);
    }

    #[test]
    fn config_from_spec_annotation() {
        let spec = serde_json::json!({"annotations": {ANNOTATION:
            r#"{"Test":["CMD-SHELL","exit 0"],"Interval":1000000000,"Retries":2}"#}})
        .to_string();
        let c = HealthConfig::of_spec(&spec).unwrap();
        assert_eq!(c.interval(), Duration::from_secs(1));
        assert_eq!(c.timeout(), Duration::from_secs(30));
        assert_eq!(c.retries(), 2);
        assert_eq!(c.argv(&[]).unwrap(), ["/bin/sh", "-c", "exit 0"]);
        let none = serde_json::json!({"annotations": {ANNOTATION: r#"{"Test":["NONE"]}"#}});
        assert!(HealthConfig::of_spec(&none.to_string()).is_none());
        assert!(HealthConfig::of_spec("{}").is_none());
        let cmd = HealthConfig {
            test: vec!["CMD".into(), "ls".into(), "/".into()],
            ..Default::default()
        };
        assert_eq!(cmd.argv(&[]).unwrap(), ["ls", "/"]);
    }

    #[test]
    fn output_is_capped_on_a_char_boundary() {
        let s = cap("é".repeat(3000), MAX_OUTPUT);
        assert!(s.len() <= MAX_OUTPUT && s.chars().all(|c| c == 'é'));
        assert_eq!(humanize(Duration::from_millis(1500)), "1500ms");
        assert_eq!(humanize(Duration::from_secs(2)), "2s");
    }
}
