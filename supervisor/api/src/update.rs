//! `POST /containers/{id}/update` (docker update): the body's resources
//! and restart policy as [`Changes`], applied by the library function
//! `berth update` calls. A field berth cannot change (cpuset, blkio,
//! reservations…) set to anything but its zero value is a 400 naming
//! it, never dropped.

use std::sync::Arc;

use berth_supervisor::commands::update::{update_container, Changes};
use berth_supervisor::flags::{self, CPU_PERIOD};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::http::{self, Resp};
use crate::Engine;

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct RestartPolicy {
    name: Option<String>,
    maximum_retry_count: Option<i64>,
}

/// The body's fields berth applies; every other one lands in `rest`.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "PascalCase", default)]
struct UpdateBody {
    memory: Option<i64>,
    memory_swap: Option<i64>,
    nano_cpus: Option<i64>,
    cpu_quota: Option<i64>,
    cpu_period: Option<i64>,
    cpu_shares: Option<i64>,
    pids_limit: Option<i64>,
    restart_policy: Option<RestartPolicy>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// docker's clients send every field, unset ones as their zero value.
fn is_zero(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.values().all(is_zero),
    }
}

fn changes(b: UpdateBody) -> Result<Changes, ApiError> {
    if let Some((k, _)) = b.rest.iter().find(|(_, v)| !is_zero(v)) {
        return Err(ApiError::bad_request(format!(
            "berth cannot update {k}: memory, memory-swap, cpus, cpu-shares, pids-limit and restart are supported"
        )));
    }
    let set = |v: Option<i64>| v.filter(|&x| x != 0);
    let quota = match (set(b.nano_cpus), set(b.cpu_quota)) {
        (Some(_), Some(_)) => {
            return Err(ApiError::bad_request(
                "conflicting options: NanoCPUs and CPUQuota cannot both be set",
            ))
        }
        (Some(n), None) => Some(n * CPU_PERIOD as i64 / 1_000_000_000),
        (None, Some(q)) => {
            if set(b.cpu_period).is_some_and(|p| p != CPU_PERIOD as i64) {
                return Err(ApiError::bad_request(format!(
                    "berth sets CPU quotas per {CPU_PERIOD}µs periods only (CpuPeriod)"
                )));
            }
            Some(q)
        }
        (None, None) => None,
    };
    let restart = match b.restart_policy {
        Some(RestartPolicy {
            name: Some(n),
            maximum_retry_count: max,
        }) if !n.is_empty() => {
            let spelled = match max.filter(|&m| m > 0) {
                Some(m) => format!("{n}:{m}"),
                None => n,
            };
            Some(flags::parse_restart(&spelled).map_err(|e| ApiError::bad_request(e.to_string()))?)
        }
        _ => None,
    };
    let shares = set(b.cpu_shares)
        .map(|s| u64::try_from(s).map_err(|_| ApiError::bad_request("invalid CpuShares")))
        .transpose()?;
    let c = Changes {
        memory: set(b.memory),
        swap: set(b.memory_swap),
        quota,
        shares,
        pids: b.pids_limit,
        restart,
    };
    c.check().map_err(ApiError::bad_request)?;
    Ok(c)
}

/// `POST /containers/{id}/update`.
pub async fn update(e: &Arc<Engine>, req: Request<Incoming>, id: &str) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let c = changes(http::parse_json(&body)?)?;
    // resolved first, so a missing container is docker's 404
    let info = crate::archive::resolve(e, id).await?;
    let m = e.manager().await;
    update_container(&m, &info.id, &c).await?;
    Ok(http::json(StatusCode::OK, &json!({"Warnings": []})))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Changes, ApiError> {
        changes(serde_json::from_str(s).unwrap())
    }

    #[test]
    fn docker_update_bodies() {
        let c = parse(r#"{"Memory":67108864,"MemorySwap":0,"NanoCpus":500000000,"CpusetCpus":"","BlkioWeight":0,"PidsLimit":null,"RestartPolicy":{"Name":"","MaximumRetryCount":0}}"#).unwrap();
        assert_eq!(c.memory, Some(64 << 20));
        assert_eq!(c.quota, Some(50_000));
        assert_eq!(c.swap, None);
        assert_eq!(c.restart, None);
        let c = parse(
            r#"{"RestartPolicy":{"Name":"on-failure","MaximumRetryCount":3},"PidsLimit":10}"#,
        )
        .unwrap();
        assert_eq!(c.restart, Some(("on-failure".into(), 3)));
        assert_eq!(c.pids, Some(10));
        // nothing to change, a field berth cannot change, a bad policy
        assert_eq!(parse("{}").err().unwrap().status, StatusCode::BAD_REQUEST);
        assert!(parse(r#"{"CpusetCpus":"0-1"}"#)
            .err()
            .unwrap()
            .message
            .contains("CpusetCpus"));
        assert!(parse(r#"{"RestartPolicy":{"Name":"sometimes"}}"#).is_err());
        assert!(parse(r#"{"Memory":67108864,"MemorySwap":1048576}"#).is_err());
    }
}
