//! `run`/`create --log-driver` and `--log-opt`: checked before anything is
//! created and stored in the spec as the `berth.log-config` annotation,
//! from which the manager gives the shim the log's rotation bounds and
//! `inspect` shows `HostConfig.LogConfig`.

use berth_jsonlog::config::{LogConfig, ANNOTATION};
use clap::Args;
use serde_json::Value;

/// The flags, flattened into `CreateFlags`.
#[derive(Debug, Args, Default, Clone)]
pub struct LogFlags {
    /// Logging driver for the container (json-file, local or none)
    #[arg(
        long = "log-driver",
        value_name = "string",
        default_value = "json-file"
    )]
    pub driver: String,
    /// Log driver options (max-size=SIZE, max-file=N)
    #[arg(long = "log-opt", value_name = "list")]
    pub opts: Vec<String>,
}

impl LogFlags {
    /// The config the flags ask for, or why it is not one.
    pub fn config(&self) -> Result<LogConfig, String> {
        LogConfig::parse(&self.driver, &self.opts).map_err(|e| e.to_string())
    }
}

/// Records `config` in `spec`.
pub fn apply(spec: &mut Value, config: &LogConfig) {
    spec["annotations"][ANNOTATION] =
        Value::String(serde_json::to_string(config).unwrap_or_default());
}

/// The container's `HostConfig.LogConfig`, as `inspect` shows it.
pub fn inspect(spec: &Value) -> Value {
    serde_json::to_value(LogConfig::from_spec(spec)).unwrap_or(Value::Null)
}

/// Whether `logs` can read the container's log; docker's refusal if not.
pub fn check_readable(spec_json: &str) -> Result<(), String> {
    let spec: Value = serde_json::from_str(spec_json).unwrap_or_default();
    if LogConfig::from_spec(&spec).readable() {
        Ok(())
    } else {
        Err("Error response from daemon: configured logging driver does not support reading".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_is_stored_and_shown() {
        let f = LogFlags {
            driver: "local".into(),
            opts: vec!["max-file=2".into()],
        };
        let mut spec = serde_json::json!({});
        apply(&mut spec, &f.config().unwrap());
        let shown = inspect(&spec);
        assert_eq!(shown["Type"], "local");
        assert_eq!(shown["Config"]["max-file"], "2");
        assert!(check_readable(&spec.to_string()).is_ok());
        let none = LogFlags {
            driver: "none".into(),
            opts: vec![],
        };
        apply(&mut spec, &none.config().unwrap());
        assert_eq!(
            check_readable(&spec.to_string()).unwrap_err(),
            "Error response from daemon: configured logging driver does not support reading"
        );
        assert_eq!(inspect(&serde_json::json!({}))["Type"], "json-file");
    }
}
