//! `berth update`: a container's limits and restart policy changed in
//! place. The new resources are merged into the container's current ones
//! (so `--memory` keeps a swap limit set before) and sent to the manager,
//! which applies them to a running task through the runtime's `update`
//! and stores them in the container's spec, so `inspect` shows them and
//! the next start uses them. Every flag is checked before anything is sent.

use berth_proto::manager::{RestartPolicy, UpdateRequest};
use clap::Args;
use serde_json::{json, Value};

use crate::client::Manager;
use crate::error::CliError;
use crate::flags;

/// `berth update` and `berth container update`.
#[derive(Debug, Args)]
pub struct UpdateArgs {
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Swap limit equal to memory plus swap: -1 to enable unlimited swap
    #[arg(long = "memory-swap", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// Number of CPUs
    #[arg(long)]
    pub cpus: Option<String>,
    /// CPU shares (relative weight)
    #[arg(short = 'c', long = "cpu-shares")]
    pub cpu_shares: Option<u64>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits
    #[arg(long)]
    pub restart: Option<String>,
    /// The containers: names, ids or id prefixes
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// The changes asked for (by `berth update`'s flags or the API's
/// `POST /containers/{id}/update` body), checked by [`Changes::check`].
#[derive(Debug, Default, PartialEq)]
pub struct Changes {
    /// memory limit in bytes
    pub memory: Option<i64>,
    /// memory plus swap in bytes, -1 for unlimited
    pub swap: Option<i64>,
    /// CPU quota per [`flags::CPU_PERIOD`]
    pub quota: Option<i64>,
    pub shares: Option<u64>,
    /// pids limit, 0 or -1 for none
    pub pids: Option<i64>,
    /// restart policy name and its maximum retries
    pub restart: Option<(String, u32)>,
}

impl Changes {
    /// Refuses no change at all and a swap limit below the memory limit.
    pub fn check(&self) -> Result<(), String> {
        if *self == Changes::default() {
            return Err("you must provide one or more flags when using this command".into());
        }
        if let (Some(m), Some(s)) = (self.memory, self.swap) {
            if s != -1 && s < m {
                return Err(
                    "Minimum memoryswap limit should be larger than memory limit, see usage".into(),
                );
            }
        }
        Ok(())
    }
}

fn changes(a: &UpdateArgs) -> Result<Changes, String> {
    let inv = |e: flags::FlagError| e.to_string();
    let c = Changes {
        memory: a
            .memory
            .as_deref()
            .map(flags::parse_size)
            .transpose()
            .map_err(inv)?,
        swap: match a.memory_swap.as_deref() {
            Some("-1") => Some(-1),
            Some(s) => Some(flags::parse_size(s).map_err(inv)?),
            None => None,
        },
        quota: a
            .cpus
            .as_deref()
            .map(flags::parse_cpus)
            .transpose()
            .map_err(inv)?,
        shares: a.cpu_shares,
        pids: a.pids_limit,
        restart: a
            .restart
            .as_deref()
            .map(flags::parse_restart)
            .transpose()
            .map_err(inv)?,
    };
    c.check()?;
    Ok(c)
}

/// The container's resources with `c` applied (only the sections touched).
fn merged(spec_json: &str, c: &Changes) -> Value {
    let spec: Value = serde_json::from_str(spec_json).unwrap_or_default();
    let cur = &spec["linux"]["resources"];
    let mut out = json!({});
    if c.memory.is_some() || c.swap.is_some() {
        let mut mem = cur["memory"].clone();
        if !mem.is_object() {
            mem = json!({});
        }
        if let Some(m) = c.memory {
            mem["limit"] = json!(m);
        }
        if let Some(s) = c.swap {
            mem["swap"] = json!(s);
        }
        out["memory"] = mem;
    }
    if c.quota.is_some() || c.shares.is_some() {
        let mut cpu = cur["cpu"].clone();
        if !cpu.is_object() {
            cpu = json!({});
        }
        if let Some(q) = c.quota {
            cpu["quota"] = json!(q);
            cpu["period"] = json!(flags::CPU_PERIOD);
        }
        if let Some(s) = c.shares {
            cpu["shares"] = json!(s);
        }
        out["cpu"] = cpu;
    }
    if let Some(p) = c.pids {
        // docker: 0 or -1 lift the limit
        out["pids"] = json!({"limit": if p <= 0 { -1 } else { p }});
    }
    out
}

/// `berth update`.
pub async fn update(m: &Manager, a: &UpdateArgs) -> i32 {
    let c = match changes(a) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let mut code = 0;
    for name in &a.containers {
        match update_container(m, name, &c).await {
            Ok(()) => println!("{name}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    code
}

/// Applies `c` (checked) to the container `name`: `berth update` and the
/// API's `POST /containers/{id}/update`.
pub async fn update_container(m: &Manager, name: &str, c: &Changes) -> Result<(), CliError> {
    let info = crate::commands::container::resolve(m, name).await?;
    let mut req = UpdateRequest::new();
    req.container_id = info.id.clone();
    let resources = merged(&info.spec_json, c);
    if resources.as_object().is_some_and(|o| !o.is_empty()) {
        req.resources_json = resources.to_string();
    }
    if let Some((policy, max)) = &c.restart {
        let mut p = RestartPolicy::new();
        p.name = policy.clone();
        p.max_retries = *max;
        req.restart_policy = Some(p).into();
    }
    m.tasks
        .update_task(m.ctx(), &req)
        .await
        .map(drop)
        .map_err(|e| m.err(e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(f: impl FnOnce(&mut UpdateArgs)) -> UpdateArgs {
        let mut a = UpdateArgs {
            memory: None,
            memory_swap: None,
            cpus: None,
            cpu_shares: None,
            pids_limit: None,
            restart: None,
            containers: vec!["c".into()],
        };
        f(&mut a);
        a
    }

    #[test]
    fn flags_are_checked_and_merged_into_the_current_resources() {
        assert!(changes(&args(|_| {})).is_err());
        assert!(changes(&args(|a| a.memory = Some("lots".into()))).is_err());
        assert!(changes(&args(|a| a.restart = Some("sometimes".into()))).is_err());
        assert!(changes(&args(|a| {
            a.memory = Some("64m".into());
            a.memory_swap = Some("32m".into());
        }))
        .is_err());
        let c = changes(&args(|a| {
            a.memory = Some("64m".into());
            a.cpus = Some("0.5".into());
            a.pids_limit = Some(0);
        }))
        .unwrap();
        let spec = r#"{"linux":{"resources":{"memory":{"limit":1,"swap":268435456},"cpu":{"shares":512}}}}"#;
        let r = merged(spec, &c);
        assert_eq!(r["memory"], json!({"limit": 64 << 20, "swap": 268435456}));
        assert_eq!(
            r["cpu"],
            json!({"shares": 512, "quota": 50000, "period": 100000})
        );
        assert_eq!(r["pids"], json!({"limit": -1}));
    }
}
