//! A container's logging driver and its options as `run --log-driver` and
//! `--log-opt` give them (docker's `HostConfig.LogConfig`): checked once by
//! the CLI before anything is created, and turned into the shim's rotation
//! bounds by the manager when the task starts. berth keeps every driver's
//! log in the json-file format: `local` is json-file with `local`'s default
//! bounds (20 MB × 5 files), and `none` keeps no readable log.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::rotate::Rotation;

/// The spec annotation the CLI stores the log config under (its JSON).
pub const ANNOTATION: &str = "berth.log-config";

/// `local`'s default bounds: 20 MB files, 5 of them.
const LOCAL_MAX_SIZE: u64 = 20 << 20;
const LOCAL_MAX_FILES: u32 = 5;

/// What a log config may not be.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ConfigError {
    #[error("error looking up logging plugin {0}: plugin \"{0}\" not found")]
    UnknownDriver(String),
    #[error("logging driver {0} is not supported by berth (json-file, local or none)")]
    Unsupported(String),
    #[error("invalid logging opts for driver none")]
    NoneTakesNoOpts,
    #[error("unknown log opt '{0}' for json-file log driver")]
    UnknownJsonOpt(String),
    #[error("unknown log opt '{0}' for log driver local")]
    UnknownLocalOpt(String),
    #[error("failed to initialize logging driver: {0}")]
    Value(String),
    #[error("invalid log opt '{0}': expected key=value")]
    NotKeyValue(String),
}

/// Docker's `LogConfig`: the driver and its options as given.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct LogConfig {
    #[serde(rename = "Type")]
    pub driver: String,
    #[serde(rename = "Config", default)]
    pub opts: BTreeMap<String, String>,
}

/// Docker's log drivers berth does not have.
const OTHER_DRIVERS: [&str; 10] = [
    "syslog",
    "journald",
    "gelf",
    "fluentd",
    "awslogs",
    "splunk",
    "etwlogs",
    "gcplogs",
    "logentries",
    "loki",
];

/// json-file options that only add attributes to docker's lines; berth's
/// lines carry none, so they are accepted and have no effect.
const JSON_ATTR_OPTS: [&str; 5] = ["labels", "labels-regex", "env", "env-regex", "tag"];

impl LogConfig {
    /// Parses `--log-driver` (empty: json-file) and `--log-opt key=value`s.
    pub fn parse(driver: &str, opts: &[String]) -> Result<LogConfig, ConfigError> {
        let driver = if driver.is_empty() {
            "json-file"
        } else {
            driver
        };
        let mut map = BTreeMap::new();
        for o in opts {
            let (k, v) = o
                .split_once('=')
                .ok_or_else(|| ConfigError::NotKeyValue(o.clone()))?;
            map.insert(k.to_string(), v.to_string());
        }
        let c = LogConfig {
            driver: driver.to_string(),
            opts: map,
        };
        c.rotation()?;
        Ok(c)
    }

    /// True when the container keeps a log `logs` can read.
    pub fn readable(&self) -> bool {
        self.driver != "none"
    }

    /// The bounds the shim keeps the log within (`None`: unbounded).
    /// `none` keeps a single small file the running `run`/`attach` read
    /// from; it is replaced as it fills and `logs` refuses to read it.
    pub fn rotation(&self) -> Result<Option<Rotation>, ConfigError> {
        let (defaults, allowed): (Option<Rotation>, &[&str]) = match self.driver.as_str() {
            "json-file" => (None, &["max-size", "max-file", "compress"]),
            "local" => (
                Some(Rotation {
                    max_size: LOCAL_MAX_SIZE,
                    max_files: LOCAL_MAX_FILES,
                }),
                &["max-size", "max-file", "compress"],
            ),
            "none" => {
                if !self.opts.is_empty() {
                    return Err(ConfigError::NoneTakesNoOpts);
                }
                return Ok(Some(Rotation {
                    max_size: 1 << 20,
                    max_files: 1,
                }));
            }
            d if OTHER_DRIVERS.contains(&d) => return Err(ConfigError::Unsupported(d.into())),
            d => return Err(ConfigError::UnknownDriver(d.into())),
        };
        let local = defaults.is_some();
        for k in self.opts.keys() {
            let attr = !local && JSON_ATTR_OPTS.contains(&k.as_str());
            if !allowed.contains(&k.as_str()) && !attr {
                return Err(if local {
                    ConfigError::UnknownLocalOpt(k.clone())
                } else {
                    ConfigError::UnknownJsonOpt(k.clone())
                });
            }
        }
        let value = |m: String| ConfigError::Value(m);
        let max_files = match self.opts.get("max-file") {
            Some(v) => {
                let n: i64 = v
                    .parse()
                    .map_err(|_| value(format!("invalid max-file '{v}': not a whole number")))?;
                if n < 1 {
                    return Err(value("max-file cannot be less than 1".into()));
                }
                u32::try_from(n).map_err(|_| value(format!("max-file {v} is too large")))?
            }
            None => defaults.map(|d| d.max_files).unwrap_or(1),
        };
        if let Some(c) = self.opts.get("compress") {
            match c.as_str() {
                "false" => {}
                "true" => {
                    return Err(value(
                        "compress is not supported by berth: rotated logs are kept uncompressed"
                            .into(),
                    ))
                }
                _ => {
                    return Err(value(format!(
                        "invalid compress value '{c}': true or false"
                    )))
                }
            }
        }
        let max_size = match self.opts.get("max-size") {
            Some(v) => {
                let n = parse_size(v).map_err(|e| {
                    value(if local {
                        format!("invalid value for max-size: {v}: {e}")
                    } else {
                        e
                    })
                })?;
                if n == 0 && !local {
                    return Err(value("max-size must be a positive number".into()));
                }
                Some(n)
            }
            None => defaults.map(|d| d.max_size),
        };
        Ok(match max_size {
            Some(n) if n > 0 => Some(Rotation {
                max_size: n,
                max_files,
            }),
            _ => None,
        })
    }

    /// The config stored in a runtime spec's annotation; json-file
    /// without bounds when there is none (containers made before).
    pub fn from_spec(spec: &serde_json::Value) -> LogConfig {
        spec.pointer("/annotations")
            .and_then(|a| a.get(ANNOTATION))
            .and_then(|v| v.as_str())
            .and_then(|s| serde_json::from_str(s).ok())
            .unwrap_or_else(|| LogConfig {
                driver: "json-file".into(),
                opts: BTreeMap::new(),
            })
    }
}

/// Parses a size as docker's log options take it: a number, optionally
/// with a fraction, then an optional `k`/`m`/`g`/`t`/`p` (binary
/// multiples), an optional `i` and an optional `b`, any case.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let bad = || format!("invalid size: '{s}'");
    let lower = s.to_ascii_lowercase();
    let digits_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(digits_end);
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let unit = unit.strip_prefix(' ').unwrap_or(unit);
    let unit = unit.strip_suffix('b').unwrap_or(unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    let v: f64 = num.parse().map_err(|_| bad())?;
    let bytes = v * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(o: &[&str]) -> Vec<String> {
        o.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn sizes_are_binary_multiples() {
        assert_eq!(parse_size("1m"), Ok(1 << 20));
        assert_eq!(parse_size("1.5M"), Ok(3 << 19));
        assert_eq!(parse_size("10kb"), Ok(10 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("abc"), Err("invalid size: 'abc'".into()));
        assert_eq!(parse_size(""), Err("invalid size: ''".into()));
        assert!(parse_size("1x").is_err());
        assert!(parse_size("1..2m").is_err());
    }

    #[test]
    fn drivers_and_their_bounds() {
        let c = LogConfig::parse("", &opts(&["max-size=1m", "max-file=3"])).unwrap();
        assert_eq!(c.driver, "json-file");
        assert_eq!(
            c.rotation().unwrap(),
            Some(Rotation {
                max_size: 1 << 20,
                max_files: 3
            })
        );
        let c = LogConfig::parse("json-file", &[]).unwrap();
        assert_eq!(c.rotation().unwrap(), None);
        let c = LogConfig::parse("local", &[]).unwrap();
        assert_eq!(
            c.rotation().unwrap(),
            Some(Rotation {
                max_size: 20 << 20,
                max_files: 5
            })
        );
        let c = LogConfig::parse("none", &[]).unwrap();
        assert!(!c.readable());
        let c = LogConfig::parse("json-file", &opts(&["max-file=3", "tag=x"])).unwrap();
        assert_eq!(c.rotation().unwrap(), None);
    }

    #[test]
    fn bad_configs_say_what_docker_says() {
        let err = |d: &str, o: &[&str]| LogConfig::parse(d, &opts(o)).unwrap_err().to_string();
        assert_eq!(
            err("", &["max-size=0"]),
            "failed to initialize logging driver: max-size must be a positive number"
        );
        assert_eq!(
            err("", &["max-size=abc"]),
            "failed to initialize logging driver: invalid size: 'abc'"
        );
        assert_eq!(
            err("", &["max-file=0"]),
            "failed to initialize logging driver: max-file cannot be less than 1"
        );
        assert_eq!(
            err("", &["foo=bar"]),
            "unknown log opt 'foo' for json-file log driver"
        );
        assert_eq!(
            err("local", &["foo=1"]),
            "unknown log opt 'foo' for log driver local"
        );
        assert_eq!(
            err("local", &["max-size=1x"]),
            "failed to initialize logging driver: invalid value for max-size: 1x: invalid size: '1x'"
        );
        assert_eq!(
            err("bogus", &[]),
            "error looking up logging plugin bogus: plugin \"bogus\" not found"
        );
        assert_eq!(
            err("none", &["max-size=1m"]),
            "invalid logging opts for driver none"
        );
        assert!(err("syslog", &[]).contains("not supported"));
    }

    #[test]
    fn config_round_trips_through_the_spec_annotation() {
        let c = LogConfig::parse("local", &opts(&["max-size=5m"])).unwrap();
        let spec =
            serde_json::json!({"annotations": {ANNOTATION: serde_json::to_string(&c).unwrap()}});
        assert_eq!(LogConfig::from_spec(&spec), c);
        assert_eq!(
            LogConfig::from_spec(&serde_json::json!({})).driver,
            "json-file"
        );
    }
}
