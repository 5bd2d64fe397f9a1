//! Registry credentials in docker's `config.json` (`$DOCKER_CONFIG/config.json`,
//! else `~/.docker/config.json`): `auths` entries holding base64
//! `user:password`, or a credential helper (`credsStore` for every
//! registry, `credHelpers` per registry) run as `docker-credential-NAME`
//! with docker's `get`/`store`/`erase` protocol. The file is rewritten
//! whole through a 0600 temporary file that is synced and renamed over
//! it, keeping every key berth does not know.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use base64::Engine;
use serde_json::{json, Map, Value};

/// The key docker uses for Docker Hub.
pub const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// A credentials store that failed.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: not a docker config file: {reason}")]
    Parse { path: String, reason: String },
    #[error("write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("credential helper docker-credential-{helper}: {reason}")]
    Helper { helper: String, reason: String },
}

/// The config file berth reads and writes.
pub fn config_path() -> PathBuf {
    let dir = std::env::var_os("DOCKER_CONFIG")
        .filter(|d| !d.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let home = std::env::var_os("HOME").unwrap_or_else(|| "/root".into());
            Path::new(&home).join(".docker")
        });
    dir.join("config.json")
}

/// The registry key a reference's or a server argument's host maps to
/// (`docker.io` and friends are Docker Hub's key).
pub fn server_key(server: &str) -> String {
    let s = server
        .trim_start_matches("https://")
        .trim_start_matches("http://")
        .trim_end_matches('/');
    let host = s.split('/').next().unwrap_or(s);
    match host {
        "" | "docker.io" | "index.docker.io" | "registry-1.docker.io" => DOCKER_HUB.into(),
        h => h.to_string(),
    }
}

/// The registry host a reference names (`busybox` is Docker Hub's).
pub fn reference_server(reference: &str) -> String {
    match reference.split_once('/') {
        Some((first, _)) if first.contains('.') || first.contains(':') || first == "localhost" => {
            server_key(first)
        }
        _ => DOCKER_HUB.into(),
    }
}

fn read(path: &Path) -> Result<Map<String, Value>, ConfigError> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Map::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.display().to_string(),
                source,
            })
        }
    };
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(ConfigError::Parse {
            path: path.display().to_string(),
            reason: "not a JSON object".into(),
        }),
        Err(e) => Err(ConfigError::Parse {
            path: path.display().to_string(),
            reason: e.to_string(),
        }),
    }
}

fn write(path: &Path, cfg: &Map<String, Value>) -> Result<(), ConfigError> {
    let err = |source| ConfigError::Write {
        path: path.display().to_string(),
        source,
    };
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(err)?;
    // tempfile creates it 0600
    let mut tmp = tempfile::Builder::new()
        .prefix(".config.json.")
        .tempfile_in(dir)
        .map_err(err)?;
    let text = serde_json::to_string_pretty(&Value::Object(cfg.clone())).unwrap_or_default();
    tmp.write_all(text.as_bytes()).map_err(err)?;
    tmp.as_file().sync_all().map_err(err)?;
    tmp.persist(path).map_err(|e| err(e.error))?;
    Ok(())
}

/// The helper for `key`, if one is configured.
fn helper_for(cfg: &Map<String, Value>, key: &str) -> Option<String> {
    cfg.get("credHelpers")
        .and_then(|h| h.get(key))
        .or_else(|| cfg.get("credsStore"))
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
}

fn run_helper(helper: &str, verb: &str, input: &str) -> Result<String, ConfigError> {
    let herr = |reason: String| ConfigError::Helper {
        helper: helper.to_string(),
        reason,
    };
    let mut child = Command::new(format!("docker-credential-{helper}"))
        .arg(verb)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| herr(e.to_string()))?;
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(input.as_bytes());
    }
    let out = child.wait_with_output().map_err(|e| herr(e.to_string()))?;
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() {
        let why = if stdout.is_empty() {
            String::from_utf8_lossy(&out.stderr).trim().to_string()
        } else {
            stdout
        };
        return Err(herr(format!("{verb}: {why}")));
    }
    Ok(stdout)
}

/// The stored username and password for `key` (`None`: none stored).
pub fn credentials(key: &str) -> Result<Option<(String, String)>, ConfigError> {
    let cfg = read(&config_path())?;
    if let Some(helper) = helper_for(&cfg, key) {
        return match run_helper(&helper, "get", key) {
            Ok(out) => {
                let v: Value = serde_json::from_str(&out).unwrap_or_default();
                Ok(Some((
                    v["Username"].as_str().unwrap_or_default().to_string(),
                    v["Secret"].as_str().unwrap_or_default().to_string(),
                )))
            }
            // the helper's "credentials not found in native keychain"
            Err(ConfigError::Helper { reason, .. }) if reason.contains("not found") => Ok(None),
            Err(e) => Err(e),
        };
    }
    let Some(entry) = cfg.get("auths").and_then(|a| a.get(key)) else {
        return Ok(None);
    };
    let Some(encoded) = entry["auth"].as_str() else {
        return Ok(None);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .ok()
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|s| {
            s.split_once(':')
                .map(|(u, p)| (u.to_string(), p.to_string()))
        });
    Ok(decoded)
}

/// Stores credentials for `key`: through its helper, or in `auths`.
pub fn store(key: &str, user: &str, password: &str) -> Result<(), ConfigError> {
    let path = config_path();
    let mut cfg = read(&path)?;
    if let Some(helper) = helper_for(&cfg, key) {
        let input = json!({"ServerURL": key, "Username": user, "Secret": password}).to_string();
        run_helper(&helper, "store", &input)?;
        // docker keeps an empty entry naming the registry
        set_entry(&mut cfg, key, json!({}));
    } else {
        let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
        set_entry(&mut cfg, key, json!({ "auth": auth }));
    }
    write(&path, &cfg)
}

fn set_entry(cfg: &mut Map<String, Value>, key: &str, entry: Value) {
    let auths = cfg.entry("auths").or_insert_with(|| json!({}));
    if !auths.is_object() {
        *auths = json!({});
    }
    if let Some(a) = auths.as_object_mut() {
        a.insert(key.to_string(), entry);
    }
}

/// Removes `key`'s credentials; false when there were none.
pub fn erase(key: &str) -> Result<bool, ConfigError> {
    let path = config_path();
    let mut cfg = read(&path)?;
    let mut had = false;
    if let Some(helper) = helper_for(&cfg, key) {
        had = run_helper(&helper, "erase", key).is_ok();
    }
    if let Some(a) = cfg.get_mut("auths").and_then(Value::as_object_mut) {
        had |= a.remove(key).is_some();
    }
    if had {
        write(&path, &cfg)?;
    }
    Ok(had)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn servers_map_to_docker_s_keys() {
        assert_eq!(reference_server("busybox"), DOCKER_HUB);
        assert_eq!(reference_server("library/busybox:1"), DOCKER_HUB);
        assert_eq!(reference_server("127.0.0.1:5443/x/y:1"), "127.0.0.1:5443");
        assert_eq!(reference_server("ghcr.io/a/b"), "ghcr.io");
        assert_eq!(server_key("https://127.0.0.1:5443/v2/"), "127.0.0.1:5443");
        assert_eq!(server_key("docker.io"), DOCKER_HUB);
    }

    #[test]
    fn entries_round_trip_and_other_keys_stay() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.json");
        std::fs::write(
            &path,
            r#"{"psFormat":"x","auths":{"other":{"auth":"eDp5"}}}"#,
        )
        .unwrap();
        let mut cfg = read(&path).unwrap();
        set_entry(&mut cfg, "reg:1", json!({"auth": "dTpw"}));
        write(&path, &cfg).unwrap();
        let back = read(&path).unwrap();
        assert_eq!(back["psFormat"], "x");
        assert_eq!(back["auths"]["other"]["auth"], "eDp5");
        assert_eq!(back["auths"]["reg:1"]["auth"], "dTpw");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
