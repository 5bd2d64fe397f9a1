//! Runs the OCI runtime (berth-runtime, or runc through `BinaryName`) with
//! runc's command line. Exits are collected by the [`Reaper`], never by
//! `wait` here.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;

use serde::Deserialize;

use crate::reaper::Reaper;

/// A runtime command that failed.
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    /// The binary could not be started.
    #[error("cannot run {binary}: {source}")]
    Spawn {
        /// The runtime binary.
        binary: String,
        /// Why.
        source: std::io::Error,
    },
    /// The runtime ran and reported failure.
    #[error("{binary} {command} exited with status {status}: {message}")]
    Failed {
        /// The runtime binary.
        binary: String,
        /// The subcommand.
        command: String,
        /// Its exit status.
        status: u32,
        /// The last error it logged, or its stderr.
        message: String,
    },
    /// The runtime failed on a container it keeps no state for: the
    /// container does not exist (any more).
    #[error("{binary} {command} exited with status {status}: {message}")]
    NotFound {
        /// The runtime binary.
        binary: String,
        /// The subcommand.
        command: String,
        /// Its exit status.
        status: u32,
        /// The last error it logged, or its stderr.
        message: String,
    },
    /// The runtime's output was not what runc prints.
    #[error("{binary} {command}: unexpected output: {message}")]
    Output {
        /// The runtime binary.
        binary: String,
        /// The subcommand.
        command: String,
        /// What was wrong.
        message: String,
    },
}

/// The stdio a runtime command hands to the container process it starts.
#[derive(Default)]
pub struct ProcessIo {
    /// stdin (None: /dev/null).
    pub stdin: Option<Stdio>,
    /// stdout (None: /dev/null).
    pub stdout: Option<Stdio>,
    /// stderr (None: /dev/null).
    pub stderr: Option<Stdio>,
}

/// One runtime binary with its state root and log file.
#[derive(Clone)]
pub struct Runtime {
    binary: PathBuf,
    root: PathBuf,
    log: PathBuf,
    /// Collects exits in the serving shim; without it (one-shot `delete`)
    /// the command is waited for directly.
    reaper: Option<Arc<Reaper>>,
}

impl Runtime {
    /// `binary --root ROOT --log LOG --log-format json ...`.
    pub fn new(
        binary: PathBuf,
        root: PathBuf,
        log: PathBuf,
        reaper: Option<Arc<Reaper>>,
    ) -> Runtime {
        Runtime {
            binary,
            root,
            log,
            reaper,
        }
    }

    /// The runtime binary.
    pub fn binary(&self) -> &Path {
        &self.binary
    }

    /// The runtime's `--root`.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.binary);
        c.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&self.log)
            .args(["--log-format", "json"])
            .args(args);
        c
    }

    fn name(&self) -> String {
        self.binary.display().to_string()
    }

    /// Runs `args`; the child gets `io` as its stdio. Returns its stdout when
    /// `capture` (then `io.stdout` is ignored).
    fn run(&self, args: &[&str], io: ProcessIo, capture: bool) -> Result<Vec<u8>, RuntimeError> {
        let mut cmd = self.command(args);
        cmd.stdin(io.stdin.unwrap_or_else(Stdio::null));
        cmd.stderr(io.stderr.unwrap_or_else(Stdio::null));
        cmd.stdout(if capture {
            Stdio::piped()
        } else {
            io.stdout.unwrap_or_else(Stdio::null)
        });
        let log_from = fs::metadata(&self.log).map(|m| m.len()).unwrap_or(0);
        let mut child = cmd.spawn().map_err(|source| RuntimeError::Spawn {
            binary: self.name(),
            source,
        })?;
        drop(cmd);
        let mut out = Vec::new();
        if let Some(mut pipe) = child.stdout.take() {
            let _ = pipe.read_to_end(&mut out);
        }
        let status = match &self.reaper {
            Some(r) => r.wait(child.id() as i32).status,
            None => {
                use std::os::unix::process::ExitStatusExt;
                let s = child.wait().map_err(|source| RuntimeError::Spawn {
                    binary: self.name(),
                    source,
                })?;
                s.code()
                    .map(|c| c as u32)
                    .unwrap_or_else(|| 128 + s.signal().unwrap_or(0) as u32)
            }
        };
        if status != 0 {
            return Err(RuntimeError::Failed {
                binary: self.name(),
                command: args.first().copied().unwrap_or("").to_string(),
                status,
                message: last_logged_error(&self.log, log_from)
                    .unwrap_or_else(|| "no error logged".to_string()),
            });
        }
        Ok(out)
    }

    /// Whether the runtime keeps state for container `id`: runc and
    /// berth-runtime both keep a `<root>/<id>/` directory per container.
    pub fn knows(&self, id: &str) -> bool {
        fs::symlink_metadata(self.root.join(id)).is_ok()
    }

    /// [`Self::run`] of a command on the existing container `id`: a failure
    /// while the runtime keeps no state for `id` is
    /// [`RuntimeError::NotFound`], whatever words the runtime used.
    fn run_on(
        &self,
        id: &str,
        args: &[&str],
        io: ProcessIo,
        capture: bool,
    ) -> Result<Vec<u8>, RuntimeError> {
        self.run(args, io, capture).map_err(|e| match e {
            RuntimeError::Failed {
                binary,
                command,
                status,
                message,
            } if !self.knows(id) => RuntimeError::NotFound {
                binary,
                command,
                status,
                message,
            },
            e => e,
        })
    }

    /// `create --bundle B --pid-file P [--console-socket S] ID`.
    pub fn create(
        &self,
        id: &str,
        bundle: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), RuntimeError> {
        let (bundle, pid_file) = (path_str(bundle), path_str(pid_file));
        let mut args = vec!["create", "--bundle", &bundle, "--pid-file", &pid_file];
        let socket = console_socket.map(path_str);
        if let Some(s) = &socket {
            args.extend(["--console-socket", s]);
        }
        args.push(id);
        self.run(&args, io, false).map(drop)
    }

    /// `exec --detach --process P --pid-file F [--console-socket S] ID`.
    pub fn exec(
        &self,
        id: &str,
        process_json: &Path,
        pid_file: &Path,
        console_socket: Option<&Path>,
        io: ProcessIo,
    ) -> Result<(), RuntimeError> {
        let (process, pid_file) = (path_str(process_json), path_str(pid_file));
        let mut args = vec![
            "exec",
            "--detach",
            "--process",
            &process,
            "--pid-file",
            &pid_file,
        ];
        let socket = console_socket.map(path_str);
        if let Some(s) = &socket {
            args.extend(["--console-socket", s]);
        }
        args.push(id);
        self.run_on(id, &args, io, false).map(drop)
    }

    /// `start ID`.
    pub fn start(&self, id: &str) -> Result<(), RuntimeError> {
        self.run_on(id, &["start", id], ProcessIo::default(), false)
            .map(drop)
    }

    /// `kill [--all] ID SIGNAL`.
    pub fn kill(&self, id: &str, signal: u32, all: bool) -> Result<(), RuntimeError> {
        let sig = signal.to_string();
        let mut args = vec!["kill"];
        if all {
            args.push("--all");
        }
        args.extend([id, sig.as_str()]);
        self.run_on(id, &args, ProcessIo::default(), false)
            .map(drop)
    }

    /// `delete [--force] ID`.
    pub fn delete(&self, id: &str, force: bool) -> Result<(), RuntimeError> {
        let mut args = vec!["delete"];
        if force {
            args.push("--force");
        }
        args.push(id);
        self.run_on(id, &args, ProcessIo::default(), false)
            .map(drop)
    }

    /// `pause ID`.
    pub fn pause(&self, id: &str) -> Result<(), RuntimeError> {
        self.run_on(id, &["pause", id], ProcessIo::default(), false)
            .map(drop)
    }

    /// `resume ID`.
    pub fn resume(&self, id: &str) -> Result<(), RuntimeError> {
        self.run_on(id, &["resume", id], ProcessIo::default(), false)
            .map(drop)
    }

    /// `update --resources FILE ID`.
    pub fn update(&self, id: &str, resources_json: &Path) -> Result<(), RuntimeError> {
        let file = path_str(resources_json);
        self.run_on(
            id,
            &["update", "--resources", &file, id],
            ProcessIo::default(),
            false,
        )
        .map(drop)
    }

    /// `ps --format json ID`: the container's pids.
    pub fn ps(&self, id: &str) -> Result<Vec<i32>, RuntimeError> {
        let out = self.run_on(
            id,
            &["ps", "--format", "json", id],
            ProcessIo::default(),
            true,
        )?;
        let text = String::from_utf8_lossy(&out);
        let text = text.trim();
        if text.is_empty() || text == "null" {
            return Ok(Vec::new());
        }
        serde_json::from_str(text).map_err(|e| RuntimeError::Output {
            binary: self.name(),
            command: "ps".into(),
            message: format!("{e}: {text:?}"),
        })
    }
}

fn path_str(p: &Path) -> String {
    p.to_string_lossy().into_owned()
}

#[derive(Deserialize)]
struct LogLine {
    #[serde(default)]
    level: String,
    #[serde(default)]
    msg: String,
}

/// The last `error`/`fatal` message the runtime wrote to its JSON log after
/// byte `from` (runc's `--log-format json` lines).
fn last_logged_error(log: &Path, from: u64) -> Option<String> {
    let text = fs::read(log).ok()?;
    let start = usize::try_from(from).unwrap_or(0).min(text.len());
    String::from_utf8_lossy(&text[start..])
        .lines()
        .filter_map(|l| serde_json::from_str::<LogLine>(l).ok())
        .filter(|l| l.level == "error" || l.level == "fatal")
        .map(|l| l.msg)
        .next_back()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failure_on_a_container_the_runtime_does_not_keep_is_not_found() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        fs::create_dir(&root).unwrap();
        // `false` fails every command with no message: only the runtime's
        // state tells a missing container from any other failure.
        let rt = Runtime::new(
            "false".into(),
            root.clone(),
            dir.path().join("log.json"),
            None,
        );
        assert!(matches!(rt.start("c1"), Err(RuntimeError::NotFound { .. })));
        assert!(matches!(
            rt.kill("c1", 9, false),
            Err(RuntimeError::NotFound { .. })
        ));
        fs::create_dir(root.join("c1")).unwrap();
        assert!(rt.knows("c1"));
        assert!(matches!(rt.start("c1"), Err(RuntimeError::Failed { .. })));
        assert!(matches!(
            rt.delete("c1", true),
            Err(RuntimeError::Failed { .. })
        ));
    }

    #[test]
    fn the_last_logged_error_after_the_offset_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("log.json");
        fs::write(
            &log,
            "{\"level\":\"error\",\"msg\":\"old\"}\n{\"level\":\"info\",\"msg\":\"x\"}\n",
        )
        .unwrap();
        let from = fs::metadata(&log).unwrap().len();
        assert_eq!(last_logged_error(&log, from), None);
        fs::write(
            &log,
            "{\"level\":\"error\",\"msg\":\"old\"}\n{\"level\":\"info\",\"msg\":\"x\"}\n\
             {\"level\":\"error\",\"msg\":\"first\"}\nnot json\n{\"level\":\"fatal\",\"msg\":\"new\"}\n",
        )
        .unwrap();
        assert_eq!(last_logged_error(&log, from).as_deref(), Some("new"));
    }
}
