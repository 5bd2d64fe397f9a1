//! What the interop tests (`interop_*.rs`, `shim_*.rs`) share: locating
//! ../shared/conformance, running a client command with a deadline, and
//! reading the env scripts' exports.

use std::fmt;
use std::fs;
use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long one client command (ctr, podman) may take. A healthy one takes
/// well under a second here; a hung runtime must fail the test, not stall CI.
pub const CMD_TIMEOUT: Duration = Duration::from_secs(20);

/// Starting an env may install Debian packages on a fresh machine first.
pub const ENV_START_TIMEOUT: Duration = Duration::from_secs(600);

/// `<workspace>/../shared/conformance`: the repo and shared/ sit side by side
/// on dev machines and in CI.
pub fn conformance_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/conformance");
    dir.canonicalize().unwrap_or_else(|e| {
        panic!(
            "{}: {e}; the interop tests need ../shared/conformance beside the repo",
            dir.display()
        )
    })
}

/// One of the conformance scripts, by file name.
pub fn conformance_script(name: &str) -> PathBuf {
    let p = conformance_dir().join(name);
    assert!(p.is_file(), "{} is missing", p.display());
    p
}

/// The runtime under test as an absolute path: the clients exec it from
/// their own working directories.
pub fn runtime_under_test() -> PathBuf {
    let bin = crate::runtime_bin();
    let abs = bin.canonicalize().unwrap_or_else(|e| {
        panic!(
            "runtime {}: {e}; build it (cargo build --release -p berth-runtime) \
             or point BERTH_RUNTIME at a runc-compatible binary",
            bin.display()
        )
    });
    eprintln!("runtime under test: {}", abs.display());
    abs
}

/// Serializes tests that share one daemon or one storage: each test starts
/// and stops the env, so a parallel test must not see it vanish mid-flight.
/// A panicking test poisons nothing that matters (the env is restarted).
pub fn serialize(lock: &'static Mutex<()>) -> MutexGuard<'static, ()> {
    lock.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// What a finished command did.
pub struct Outcome {
    pub cmdline: String,
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Outcome {
    /// The exit code (None when killed by a signal).
    pub fn code(&self) -> Option<i32> {
        self.status.code()
    }

    /// stdout without surrounding whitespace.
    pub fn out(&self) -> &str {
        self.stdout.trim()
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` -> {}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.cmdline,
            self.status,
            self.stdout.trim_end(),
            self.stderr.trim_end()
        )
    }
}

/// The command as it would be typed in a shell, to rerun it by hand.
fn cmdline(cmd: &Command) -> String {
    std::iter::once(cmd.get_program())
        .chain(cmd.get_args())
        .map(|a| shell_quote(&a.to_string_lossy()))
        .collect::<Vec<_>>()
        .join(" ")
}

fn shell_quote(arg: &str) -> String {
    let plain = !arg.is_empty()
        && arg
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "-_./=:,@+%{}".contains(c));
    if plain {
        arg.to_string()
    } else {
        format!("'{}'", arg.replace('\'', r"'\''"))
    }
}

/// Runs `cmd` to completion with stdin from /dev/null, killing it (and
/// panicking with what it printed) after `timeout`.
pub fn run(cmd: &mut Command, timeout: Duration) -> Outcome {
    match run_until(cmd, timeout) {
        Ok(outcome) => outcome,
        Err(why) => panic!("{why}"),
    }
}

/// Like [`run`] but never panics (for cleanup in `Drop`, where a panic
/// during unwinding would abort the whole test binary).
pub fn run_best_effort(cmd: &mut Command, timeout: Duration) -> Option<Outcome> {
    run_until(cmd, timeout)
        .map_err(|why| eprintln!("cleanup: {why}"))
        .ok()
}

/// Output goes to temporary files rather than pipes: detached containers,
/// conmon or shims may inherit a pipe and keep it open long after the client
/// exited, and reading a pipe to EOF would then hang.
fn run_until(cmd: &mut Command, timeout: Duration) -> Result<Outcome, String> {
    let line = cmdline(cmd);
    let capture = || tempfile::tempfile().map_err(|e| format!("temp file for `{line}`: {e}"));
    let (mut out, mut err) = (capture()?, capture()?);
    let dup = |f: &fs::File| f.try_clone().map_err(|e| format!("dup temp file: {e}"));
    let mut child = cmd
        .stdin(Stdio::null())
        .stdout(dup(&out)?)
        .stderr(dup(&err)?)
        .spawn()
        .map_err(|e| format!("cannot run `{line}`: {e}"))?;
    let deadline = Instant::now() + timeout;
    let (status, timed_out) = loop {
        match child.try_wait() {
            Ok(Some(status)) => break (status, false),
            Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
            Ok(None) => {
                let _ = child.kill();
                let status = child
                    .wait()
                    .map_err(|e| format!("wait for `{line}`: {e}"))?;
                break (status, true);
            }
            Err(e) => return Err(format!("wait for `{line}`: {e}")),
        }
    };
    let outcome = Outcome {
        cmdline: line,
        status,
        stdout: read_all(&mut out),
        stderr: read_all(&mut err),
    };
    if timed_out {
        return Err(format!("timed out after {timeout:?}: {outcome}"));
    }
    Ok(outcome)
}

fn read_all(f: &mut fs::File) -> String {
    let mut buf = Vec::new();
    let _ = f.seek(SeekFrom::Start(0));
    let _ = f.read_to_end(&mut buf);
    String::from_utf8_lossy(&buf).into_owned()
}

/// The `export NAME=VALUE` lines an env script prints on start.
pub fn parse_exports(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("export "))
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// The value of `name` among `exports`, or a panic naming the script.
pub fn export<'a>(exports: &'a [(String, String)], name: &str) -> &'a str {
    exports
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("env script did not export {name}: {exports:?}"))
}

/// A log file's current length, to show only what a test added later.
pub fn log_len(path: &Path) -> u64 {
    fs::metadata(path).map(|m| m.len()).unwrap_or(0)
}

/// The last `max_lines` lines written to `path` after byte `from`, without
/// lines containing any of `noise`.
pub fn log_since(path: &Path, from: u64, max_lines: usize, noise: &[&str]) -> String {
    let Ok(mut f) = fs::File::open(path) else {
        return format!("({} not readable)", path.display());
    };
    let mut buf = Vec::new();
    let _ = f
        .seek(SeekFrom::Start(from))
        .and_then(|_| f.read_to_end(&mut buf));
    let text = String::from_utf8_lossy(&buf);
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !noise.iter().any(|n| l.contains(n)))
        .collect();
    lines[lines.len().saturating_sub(max_lines)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exports_are_parsed() {
        let e = parse_exports("export A=/x/y\nnoise\nexport B=k=v\n");
        assert_eq!(export(&e, "A"), "/x/y");
        assert_eq!(export(&e, "B"), "k=v");
    }

    #[test]
    fn cmdlines_are_quoted_for_a_shell() {
        let mut c = Command::new("ctr");
        c.args(["exec", "sh", "-c", "sleep 1; echo 'done'", ""]);
        assert_eq!(
            cmdline(&c),
            r#"ctr exec sh -c 'sleep 1; echo '\''done'\''' ''"#
        );
    }
}
