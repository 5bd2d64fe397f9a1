//! Where a container's output goes: the stdio URI the shim gets for the
//! container's json-file log, with the rotation bounds of the log driver
//! the container was created with (the `berth.log-config` annotation of
//! its spec; `berth_jsonlog::config` says what each driver means).

use berth_jsonlog::config::LogConfig;

/// The shim's stdout/stderr URI for a container's log at `log_path`.
pub fn stdio_uri(log_path: &str, spec_json: &str) -> String {
    let spec: serde_json::Value = serde_json::from_str(spec_json).unwrap_or_default();
    // the CLI checked the config at create; a record it cannot read keeps
    // an unbounded log rather than none
    let rotation = LogConfig::from_spec(&spec).rotation().ok().flatten();
    match rotation {
        Some(r) => format!(
            "file://{log_path}?format=json&max-size={}&max-file={}",
            r.max_size, r.max_files
        ),
        None => format!("file://{log_path}?format=json"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_come_from_the_annotation() {
        assert_eq!(stdio_uri("/l", "{}"), "file:///l?format=json");
        let spec = serde_json::json!({"annotations": {"berth.log-config":
            r#"{"Type":"json-file","Config":{"max-size":"1m","max-file":"3"}}"#}});
        assert_eq!(
            stdio_uri("/l", &spec.to_string()),
            "file:///l?format=json&max-size=1048576&max-file=3"
        );
    }
}
