//! `--log` and `--log-format`: errors and warnings as logrus writes them,
//! since runc's callers (containerd's shim, conmon) parse the log file.

use crate::cli::LogFormat;
use std::io::Write;
use std::path::PathBuf;
use std::sync::OnceLock;

struct Config {
    file: Option<PathBuf>,
    format: LogFormat,
    debug: bool,
}

static CONFIG: OnceLock<Config> = OnceLock::new();

pub fn init(file: Option<PathBuf>, format: LogFormat, debug: bool) {
    let _ = CONFIG.set(Config {
        file,
        format,
        debug,
    });
}

fn line(level: &str, msg: &str, format: LogFormat) -> String {
    let time = crate::state::rfc3339_now();
    match format {
        LogFormat::Json => {
            serde_json::json!({"level": level, "msg": msg, "time": time}).to_string() + "\n"
        }
        LogFormat::Text => format!("time=\"{time}\" level={level} msg={msg:?}\n"),
    }
}

fn write(level: &str, msg: &str) {
    let Some(cfg) = CONFIG.get() else { return };
    let Some(path) = &cfg.file else { return };
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = f.write_all(line(level, msg, cfg.format).as_bytes());
    }
}

/// An error: always on stderr, and in the log file when there is one.
pub fn error(msg: &str) {
    write("error", msg);
    eprintln!("berth-runtime: {msg}");
}

/// A warning: in the log file, or on stderr without one.
pub fn warn(msg: &str) {
    match CONFIG.get().and_then(|c| c.file.as_ref()) {
        Some(_) => write("warning", msg),
        None => eprintln!("berth-runtime: warning: {msg}"),
    }
}

pub fn debug(msg: &str) {
    if CONFIG.get().is_some_and(|c| c.debug) {
        write("debug", msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_lines_are_logrus_shaped() {
        let l = line("error", "container not running", LogFormat::Json);
        let v: serde_json::Value = serde_json::from_str(&l).unwrap();
        assert_eq!(v["level"], "error");
        assert_eq!(v["msg"], "container not running");
        assert!(v["time"].as_str().unwrap().ends_with('Z'));
        let t = line("warning", "x \"y\"", LogFormat::Text);
        assert!(t.contains("level=warning msg=\"x \\\"y\\\"\""), "{t}");
    }
}
