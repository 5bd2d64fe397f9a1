//! Health checks on the front end: the `--health-*` flags of `run`/`create`,
//! merged with the image's `Healthcheck` as docker merges them, written into
//! the spec as the `berth.healthcheck` annotation (the manager runs the
//! check); and the manager's health state as `ps` and `inspect` show it.

use std::collections::HashMap;

use berth_proto::health::{ContainerHealth, GetHealthRequest};
use berth_proto::manager::ContainerInfo;
use clap::Args;
use serde_json::{json, Value};

use crate::client::Manager;
use crate::format::{rfc3339, ts};

/// The spec annotation the manager reads the check from.
pub const ANNOTATION: &str = "berth.healthcheck";

/// `run`/`create` health flags.
#[derive(Debug, Args, Default, Clone)]
pub struct HealthFlags {
    /// Command to run to check health
    #[arg(long = "health-cmd", value_name = "string")]
    pub cmd: Option<String>,
    /// Time between running the check (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-interval",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub interval: Option<String>,
    /// Maximum time to allow one check to run (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-timeout",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub timeout: Option<String>,
    /// Consecutive failures needed to report unhealthy
    #[arg(
        long = "health-retries",
        value_name = "int",
        allow_hyphen_values = true
    )]
    pub retries: Option<i64>,
    /// Start period for the container to initialize before starting health-retries countdown (ms|s|m|h) (default 0s)
    #[arg(
        long = "health-start-period",
        value_name = "duration",
        allow_hyphen_values = true
    )]
    pub start_period: Option<String>,
    /// Disable any container-specified HEALTHCHECK
    #[arg(long = "no-healthcheck")]
    pub no_healthcheck: bool,
    /// The whole test (`["CMD", …]`, `["CMD-SHELL", …]`, `["NONE"]`), as a
    /// compose file or the API gives it; no flag sets it
    #[arg(skip)]
    pub test: Option<Vec<String>>,
}

/// A health flag that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HealthError {
    #[error(
        "invalid argument \"{value}\" for \"--{flag}\" flag: time: invalid duration \"{value}\""
    )]
    Duration { flag: &'static str, value: String },
    #[error("--{0} cannot be negative")]
    Negative(&'static str),
    #[error("--no-healthcheck conflicts with --health-* options")]
    Conflict,
    #[error("--health-cmd cannot be empty")]
    EmptyCmd,
}

/// Parses a Go duration ("1m30s", "500ms", "2h", "0"), in nanoseconds.
pub fn parse_duration(flag: &'static str, s: &str) -> Result<i64, HealthError> {
    berth_godur::parse(s).ok_or_else(|| HealthError::Duration {
        flag,
        value: s.to_string(),
    })
}

/// The flags' part of a health check, checked; `None`: no flag given.
pub fn from_flags(f: &HealthFlags) -> Result<Option<Value>, HealthError> {
    let dur = |flag: &'static str, v: &Option<String>| -> Result<i64, HealthError> {
        let n = v
            .as_deref()
            .map(|s| parse_duration(flag, s))
            .transpose()?
            .unwrap_or(0);
        if n < 0 {
            return Err(HealthError::Negative(flag));
        }
        Ok(n)
    };
    let interval = dur("health-interval", &f.interval)?;
    let timeout = dur("health-timeout", &f.timeout)?;
    let start_period = dur("health-start-period", &f.start_period)?;
    let retries = f.retries.unwrap_or(0);
    if retries < 0 {
        return Err(HealthError::Negative("health-retries"));
    }
    let any = f.cmd.is_some()
        || f.test.is_some()
        || f.interval.is_some()
        || f.timeout.is_some()
        || f.retries.is_some()
        || f.start_period.is_some();
    if f.no_healthcheck {
        if any {
            return Err(HealthError::Conflict);
        }
        return Ok(Some(json!({"Test": ["NONE"]})));
    }
    if !any {
        return Ok(None);
    }
    let test: Vec<String> = match (&f.cmd, &f.test) {
        (Some(c), _) if c.trim().is_empty() => return Err(HealthError::EmptyCmd),
        (Some(c), _) => vec!["CMD-SHELL".into(), c.clone()],
        (None, Some(t)) if t.first().map(String::as_str) == Some("NONE") => {
            return Ok(Some(json!({"Test": ["NONE"]})))
        }
        (None, Some(t)) => t.clone(),
        (None, None) => Vec::new(),
    };
    Ok(Some(json!({
        "Test": test, "Interval": interval, "Timeout": timeout,
        "StartPeriod": start_period, "Retries": retries,
    })))
}

/// docker's merge: each field the flags leave unset (empty, zero) comes
/// from the image's `Healthcheck`.
pub fn merge(flags: Option<Value>, image_config_json: &str) -> Option<Value> {
    let image: Value = serde_json::from_str(image_config_json).unwrap_or(Value::Null);
    let cfg = image
        .get("config")
        .filter(|c| c.is_object())
        .unwrap_or(&image);
    let from_image = cfg.get("Healthcheck").filter(|h| h.is_object()).cloned();
    let Some(mut hc) = flags else {
        return from_image;
    };
    if let Some(img) = from_image {
        for k in ["Test", "Interval", "Timeout", "StartPeriod", "Retries"] {
            let unset = match &hc[k] {
                Value::Array(a) => a.is_empty(),
                Value::Number(n) => n.as_i64() == Some(0),
                Value::Null => true,
                _ => false,
            };
            if unset && !img[k].is_null() {
                hc[k] = img[k].clone();
            }
        }
    }
    Some(hc)
}

/// Puts the check into the spec for the manager.
pub fn apply(spec: &mut Value, check: Option<&Value>) {
    let runs = check
        .and_then(|c| c["Test"].as_array())
        .and_then(|t| t.first())
        .and_then(Value::as_str)
        .is_some_and(|k| k == "CMD" || k == "CMD-SHELL");
    if let (true, Some(c)) = (runs, check) {
        spec["annotations"][ANNOTATION] = Value::String(c.to_string());
    }
}

/// The health of `ids` that have a check, by container id; empty when the
/// manager cannot say (ps and inspect go on without it).
pub async fn states(m: &Manager, ids: &[String]) -> HashMap<String, ContainerHealth> {
    let mut r = GetHealthRequest::new();
    r.container_ids = ids.to_vec();
    match m.health.get_health(m.ctx(), &r).await {
        Ok(resp) => resp
            .healths
            .into_iter()
            .map(|h| (h.container_id.clone(), h))
            .collect(),
        Err(_) => HashMap::new(),
    }
}

/// `ps`'s STATUS with docker's health suffix for running containers.
pub fn status_with_health(
    status: String,
    c: &ContainerInfo,
    h: Option<&ContainerHealth>,
) -> String {
    match h {
        Some(h) if c.status == "running" => match h.status.as_str() {
            "starting" => format!("{status} (health: starting)"),
            s => format!("{status} ({s})"),
        },
        _ => status,
    }
}

/// docker's `State.Health`.
pub fn state_json(h: &ContainerHealth) -> Value {
    json!({
        "Status": h.status,
        "FailingStreak": h.failing_streak,
        "Log": h.log.iter().map(|l| json!({
            "Start": rfc3339(ts(l.start.as_ref())),
            "End": rfc3339(ts(l.end.as_ref())),
            "ExitCode": l.exit_code,
            "Output": l.output,
        })).collect::<Vec<_>>(),
    })
}

/// `inspect`'s container object with `State.Health` when it has a check.
pub async fn with_health(m: &Manager, mut v: Value, id: &str) -> Value {
    if let Some(h) = states(m, &[id.to_string()]).await.get(id) {
        v["State"]["Health"] = state_json(h);
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations() {
        let d = |s| parse_duration("health-interval", s);
        assert_eq!(d("30s").unwrap(), 30_000_000_000);
        assert_eq!(d("1m30s").unwrap(), 90_000_000_000);
        assert_eq!(d("500ms").unwrap(), 500_000_000);
        assert_eq!(d("1.5h").unwrap(), 5_400_000_000_000);
        assert_eq!(d("0").unwrap(), 0);
        assert_eq!(d("-1s").unwrap(), -1_000_000_000);
        for bad in ["", "x", "10", "1d", "s", "1s2"] {
            let e = d(bad).unwrap_err().to_string();
            assert!(e.contains(&format!("\"{bad}\"")), "{e}");
        }
    }

    #[test]
    fn flags_checked_and_merged_with_the_image() {
        let f = HealthFlags {
            interval: Some("1s".into()),
            retries: Some(2),
            ..Default::default()
        };
        let flags = from_flags(&f).unwrap();
        let image =
            r#"{"config":{"Healthcheck":{"Test":["CMD","true"],"Interval":5,"Timeout":7}}}"#;
        let hc = merge(flags, image).unwrap();
        assert_eq!(hc["Test"], json!(["CMD", "true"]));
        assert_eq!(hc["Interval"], 1_000_000_000);
        assert_eq!(hc["Timeout"], 7);
        assert_eq!(hc["Retries"], 2);
        assert_eq!(merge(None, image).unwrap()["Interval"], 5);
        assert!(merge(None, "{}").is_none());

        let none = HealthFlags {
            no_healthcheck: true,
            ..Default::default()
        };
        let hc = merge(from_flags(&none).unwrap(), image).unwrap();
        let mut spec = json!({});
        apply(&mut spec, Some(&hc));
        assert!(
            spec.get("annotations").is_none(),
            "NONE disables the image's check"
        );

        let cmd = HealthFlags {
            cmd: Some("exit 0".into()),
            ..Default::default()
        };
        let hc = merge(from_flags(&cmd).unwrap(), "{}");
        apply(&mut spec, hc.as_ref());
        let stored: Value =
            serde_json::from_str(spec["annotations"][ANNOTATION].as_str().unwrap()).unwrap();
        assert_eq!(stored["Test"], json!(["CMD-SHELL", "exit 0"]));

        // a whole test, as a compose file gives it
        let exec_form = HealthFlags {
            test: Some(vec!["CMD".into(), "wget".into(), "-q".into()]),
            interval: Some("1s".into()),
            ..Default::default()
        };
        let hc = from_flags(&exec_form).unwrap().unwrap();
        assert_eq!(hc["Test"], json!(["CMD", "wget", "-q"]));
        assert_eq!(hc["Interval"], 1_000_000_000);
        let off = HealthFlags {
            test: Some(vec!["NONE".into()]),
            ..Default::default()
        };
        assert_eq!(from_flags(&off).unwrap().unwrap()["Test"], json!(["NONE"]));

        for bad in [
            HealthFlags {
                no_healthcheck: true,
                cmd: Some("x".into()),
                ..Default::default()
            },
            HealthFlags {
                retries: Some(-1),
                ..Default::default()
            },
            HealthFlags {
                timeout: Some("-1s".into()),
                ..Default::default()
            },
            HealthFlags {
                interval: Some("soon".into()),
                ..Default::default()
            },
            HealthFlags {
                cmd: Some(" ".into()),
                ..Default::default()
            },
        ] {
            assert!(from_flags(&bad).is_err(), "{bad:?}");
        }
    }
}
