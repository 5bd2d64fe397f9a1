//! Running OCI hooks: the state JSON on stdin, an optional timeout.

use oci_spec::runtime::Hook;
use std::io::Write;
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{kind} hook {path}: cannot start: {source}")]
    Spawn {
        kind: &'static str,
        path: String,
        source: std::io::Error,
    },
    #[error("{kind} hook {path} failed: {status}{stderr}")]
    Failed {
        kind: &'static str,
        path: String,
        status: String,
        stderr: String,
    },
    #[error("{kind} hook {path} timed out after {secs}s")]
    Timeout {
        kind: &'static str,
        path: String,
        secs: i64,
    },
}

/// Runs `hooks` in order; the first failure stops the rest.
pub fn run(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Result<(), Error> {
    for h in hooks {
        run_one(kind, h, state_json)?;
    }
    Ok(())
}

/// Runs every hook even when some fail (poststart, poststop: the spec wants
/// a warning and the lifecycle going on); returns the failures.
pub fn run_all(kind: &'static str, hooks: &[Hook], state_json: &[u8]) -> Vec<Error> {
    hooks
        .iter()
        .filter_map(|h| run_one(kind, h, state_json).err())
        .collect()
}

fn run_one(kind: &'static str, hook: &Hook, state_json: &[u8]) -> Result<(), Error> {
    let path = hook.path().display().to_string();
    let mut cmd = Command::new(hook.path());
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::inherit())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|source| Error::Spawn {
        kind,
        path: path.clone(),
        source,
    })?;
    if let Some(mut stdin) = child.stdin.take() {
        // a hook that doesn't read its stdin is fine
        let _ = stdin.write_all(state_json);
    }
    let deadline = hook
        .timeout()
        .map(|t| Instant::now() + Duration::from_secs(t as u64));
    let status = loop {
        match child.try_wait() {
            Ok(Some(s)) => break s,
            Ok(None) => {}
            Err(source) => return Err(Error::Spawn { kind, path, source }),
        }
        if deadline.is_some_and(|d| Instant::now() >= d) {
            let _ = child.kill();
            let _ = child.wait();
            return Err(Error::Timeout {
                kind,
                path,
                secs: hook.timeout().unwrap_or(0),
            });
        }
        std::thread::sleep(Duration::from_millis(2));
    };
    if status.success() {
        return Ok(());
    }
    let mut stderr = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut stderr);
    }
    let stderr = stderr.trim();
    Err(Error::Failed {
        kind,
        path,
        status: status.to_string(),
        stderr: if stderr.is_empty() {
            String::new()
        } else {
            format!(": {}", stderr.lines().next().unwrap_or(""))
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hook(json: &str) -> Hook {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn hook_gets_state_on_stdin() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out");
        let h = hook(&format!(
            r#"{{"path":"/bin/sh","args":["sh","-c","cat > {}"]}}"#,
            out.display()
        ));
        run("prestart", &[h], b"{\"id\":\"x\"}").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"{\"id\":\"x\"}");
    }

    #[test]
    fn failing_hook_is_reported() {
        let h = hook(r#"{"path":"/bin/sh","args":["sh","-c","echo boom >&2; exit 3"]}"#);
        let e = run("poststart", &[h], b"{}").unwrap_err();
        let msg = e.to_string();
        assert!(msg.contains("poststart hook /bin/sh failed"), "{msg}");
        assert!(msg.contains("boom"), "{msg}");
    }

    #[test]
    fn slow_hook_times_out() {
        let h = hook(r#"{"path":"/bin/sleep","args":["sleep","5"],"timeout":1}"#);
        let start = Instant::now();
        let e = run("createRuntime", &[h], b"{}").unwrap_err();
        assert!(matches!(e, Error::Timeout { .. }));
        assert!(start.elapsed() < Duration::from_secs(4));
    }
}
