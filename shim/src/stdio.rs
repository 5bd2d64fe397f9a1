//! A process's stdio: what the runtime hands the container, and the
//! copies between it and containerd's FIFOs, files, a logging binary or a
//! pty master. Output into a json-file log is pumped by the shim's reactor;
//! the rarer copies (stdin, a pty into a FIFO or plain file) run on threads.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use berth_jsonlog::rotate::{LogFile, Rotation};

use crate::jsonlog::{Pump, SharedLog};
use crate::reactor::Reactor;
use crate::runtime::ProcessIo;
use crate::uri::{Target, UriError};

/// Stack size of a copy thread: a loop around an 8 KiB heap buffer.
const COPY_STACK: usize = 64 * 1024;

/// Stdio the shim could not set up.
#[derive(Debug, thiserror::Error)]
pub enum StdioError {
    /// A bad URI.
    #[error(transparent)]
    Uri(#[from] UriError),
    /// A FIFO or file could not be opened.
    #[error("open {path}: {source}")]
    Open {
        /// The path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// A pipe or thread could not be made.
    #[error("stdio: {0}")]
    Io(#[from] io::Error),
    /// The logging binary failed.
    #[error("logging binary {path}: {message}")]
    Binary {
        /// The binary.
        path: PathBuf,
        /// What happened.
        message: String,
    },
    /// A combination the shim does not do.
    #[error("{0}")]
    Unsupported(String),
}

/// The stdio a task or exec asked for.
#[derive(Debug, Clone, Default)]
pub struct StdioSpec {
    /// stdin URI.
    pub stdin: String,
    /// stdout URI.
    pub stdout: String,
    /// stderr URI.
    pub stderr: String,
    /// A pty instead of pipes.
    pub terminal: bool,
}

/// Counts output copies still running, so delete can wait for output to
/// be written out.
#[derive(Default)]
pub struct Copies {
    running: Mutex<usize>,
    done: Condvar,
}

/// One running output copy; dropping it ends the count.
pub struct CopyGuard(Arc<Copies>);

impl Drop for CopyGuard {
    fn drop(&mut self) {
        *self.0.running.lock().unwrap_or_else(|p| p.into_inner()) -= 1;
        self.0.done.notify_all();
    }
}

impl Copies {
    /// Counts a copy until the guard is dropped.
    pub fn begin(self: &Arc<Self>) -> CopyGuard {
        *self.running.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        CopyGuard(self.clone())
    }

    /// Runs an output copy on a thread (counted until it ends).
    fn spawn(self: &Arc<Self>, name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
        let running = self.begin();
        spawn_thread(name, move || {
            f();
            drop(running);
        })
    }

    /// Waits until every output copy finished, or `limit` passed (a
    /// process's child may keep the output open forever).
    pub fn wait(&self, limit: Duration) {
        let n = self.running.lock().unwrap_or_else(|p| p.into_inner());
        let _ = self
            .done
            .wait_timeout_while(n, limit, |n| *n > 0)
            .map_err(|p| p.into_inner());
    }
}

/// Runs a copy nobody waits for (stdin).
fn spawn_thread(name: &str, f: impl FnOnce() + Send + 'static) -> io::Result<()> {
    std::thread::Builder::new()
        .name(name.into())
        .stack_size(COPY_STACK)
        .spawn(f)
        .map(drop)
}

/// The host side of a process's stdio.
pub struct Plumbing {
    /// What the runtime passes on to the process (non-terminal).
    pub io: ProcessIo,
    /// The write end of the process's stdin; CloseIO drops it.
    pub stdin: Arc<Mutex<Option<File>>>,
    /// Output copies in flight.
    pub copies: Arc<Copies>,
    reactor: Arc<Reactor>,
    stdin_fifo: Option<PathBuf>,
    stdout: Target,
    stderr: Target,
}

fn open_err(path: &Path) -> impl FnOnce(io::Error) -> StdioError + '_ {
    move |source| StdioError::Open {
        path: path.to_path_buf(),
        source,
    }
}

fn pipe() -> io::Result<(File, File)> {
    let (r, w) = io::pipe()?;
    Ok((File::from(OwnedFd::from(r)), File::from(OwnedFd::from(w))))
}

/// A FIFO opened for writing without waiting for a reader: read-write
/// keeps it open when the client goes away (output then waits in the pipe
/// for the next reader instead of failing).
fn open_fifo_writer(path: &Path) -> Result<File, StdioError> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .map_err(open_err(path))
}

fn open_append(path: &Path) -> Result<File, StdioError> {
    OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o640)
        .open(path)
        .map_err(open_err(path))
}

/// A json-file log, kept within `rotate`'s bounds.
fn open_log(path: &Path, rotate: Option<Rotation>) -> Result<LogFile, StdioError> {
    LogFile::open(path, rotate).map_err(open_err(path))
}

fn copy(mut from: File, to: &mut impl Write) {
    let mut buf = vec![0u8; 8192];
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EIO: the pty's slave side is gone.
            Err(_) => return,
        };
        if to.write_all(&buf[..n]).is_err() {
            return;
        }
    }
}

/// Writes into a shared stdin writer that CloseIO may take away.
struct SharedWriter(Arc<Mutex<Option<File>>>);

impl Write for SharedWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.0.lock().unwrap_or_else(|p| p.into_inner()).as_mut() {
            Some(f) => f.write(buf),
            None => Err(io::ErrorKind::BrokenPipe.into()),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Plumbing {
    /// Parses the URIs and prepares what the process gets. Nothing is
    /// copied until [`Plumbing::start_copies`] / [`Plumbing::start_console`].
    pub fn new(
        spec: &StdioSpec,
        container_id: &str,
        namespace: &str,
        reactor: &Arc<Reactor>,
    ) -> Result<Plumbing, StdioError> {
        let stdin_target = Target::parse(&spec.stdin)?;
        let stdin_fifo = match stdin_target {
            Target::Null => None,
            Target::Fifo(p) => Some(p),
            _ => {
                return Err(StdioError::Unsupported(format!(
                    "stdin {:?}: only a FIFO can feed stdin",
                    spec.stdin
                )))
            }
        };
        let stdout = Target::parse(&spec.stdout)?;
        let mut stderr = Target::parse(&spec.stderr)?;
        // containerd passes the logging binary as stdout only.
        if matches!(stdout, Target::Binary { .. }) {
            stderr = stdout.clone();
        }
        if spec.terminal && matches!(stdout, Target::Binary { .. }) {
            return Err(StdioError::Unsupported(
                "a terminal process cannot log to a binary".into(),
            ));
        }
        let mut p = Plumbing {
            io: ProcessIo::default(),
            stdin: Arc::new(Mutex::new(None)),
            copies: Arc::new(Copies::default()),
            reactor: reactor.clone(),
            stdin_fifo,
            stdout,
            stderr,
        };
        if !spec.terminal {
            p.plumb_pipes(container_id, namespace)?;
        }
        Ok(p)
    }

    fn plumb_pipes(&mut self, container_id: &str, namespace: &str) -> Result<(), StdioError> {
        if let Some(fifo) = self.stdin_fifo.clone() {
            let (r, w) = pipe()?;
            self.io.stdin = Some(Stdio::from(r));
            *self.stdin.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
            let writer = SharedWriter(self.stdin.clone());
            let closer = self.stdin.clone();
            spawn_thread("stdin", move || {
                // Blocks until the client opens its end, as containerd's
                // shims do; EOF from the client closes the process's stdin.
                if let Ok(f) = File::open(&fifo) {
                    let mut writer = writer;
                    copy(f, &mut writer);
                }
                closer.lock().unwrap_or_else(|p| p.into_inner()).take();
            })?;
        }
        if let Target::Binary { path, args } = self.stdout.clone() {
            let (out_r, out_w) = pipe()?;
            let (err_r, err_w) = pipe()?;
            start_logging_binary(&path, &args, container_id, namespace, out_r, err_r)?;
            self.io.stdout = Some(Stdio::from(out_w));
            self.io.stderr = Some(Stdio::from(err_w));
            return Ok(());
        }
        let json = self.json_log()?;
        self.io.stdout = self.output(&self.stdout.clone(), "stdout", &json)?;
        self.io.stderr = self.output(&self.stderr.clone(), "stderr", &json)?;
        Ok(())
    }

    /// One json-file log for both streams when both go to the same file.
    fn json_log(&self) -> Result<Option<(PathBuf, SharedLog)>, StdioError> {
        for t in [&self.stdout, &self.stderr] {
            if let Target::File {
                path,
                json: true,
                rotate,
            } = t
            {
                let f = open_log(path, *rotate)?;
                // a spill that cannot be made now is tried again if needed
                let _ = crate::jsonlog::open_spill();
                return Ok(Some((path.clone(), Arc::new(Mutex::new(f)))));
            }
        }
        Ok(None)
    }

    fn output(
        &self,
        target: &Target,
        stream: &'static str,
        json: &Option<(PathBuf, SharedLog)>,
    ) -> Result<Option<Stdio>, StdioError> {
        match target {
            Target::Null => Ok(None),
            // Raw file output needs no copying: the process appends itself.
            Target::File {
                path, json: false, ..
            } => Ok(Some(Stdio::from(open_append(path)?))),
            Target::File {
                path,
                json: true,
                rotate,
            } => {
                let log = match json {
                    Some((p, log)) if p == path => log.clone(),
                    _ => Arc::new(Mutex::new(open_log(path, *rotate)?)),
                };
                let (r, w) = pipe()?;
                self.reactor
                    .add(Box::new(Pump::new(r, log, stream, self.copies.begin())));
                Ok(Some(Stdio::from(w)))
            }
            // The process writes into the FIFO itself: no copy thread. It
            // holds the FIFO open read-write, so a client that goes away
            // never makes it fail (output waits in the pipe for the next
            // reader), and the client sees EOF when the process and its
            // children are gone.
            Target::Fifo(path) => Ok(Some(Stdio::from(open_fifo_writer(path)?))),
            Target::Binary { .. } => Err(StdioError::Unsupported(format!(
                "{stream}: a logging binary must be given as stdout"
            ))),
        }
    }

    /// Starts copying between a terminal process's pty master and its
    /// stdin/stdout targets; returns the master (kept for resizing).
    pub fn start_console(&self, master: File) -> Result<Arc<File>, StdioError> {
        let master = Arc::new(master);
        if let Some(fifo) = self.stdin_fifo.clone() {
            *self.stdin.lock().unwrap_or_else(|p| p.into_inner()) = Some(master.try_clone()?);
            let writer = SharedWriter(self.stdin.clone());
            spawn_thread("stdin", move || {
                if let Ok(f) = File::open(&fifo) {
                    let mut writer = writer;
                    copy(f, &mut writer);
                }
            })?;
        }
        let from = master.try_clone()?;
        match self.stdout.clone() {
            Target::Null => {
                // Nobody reads the output, but the pty must be drained or
                // the process blocks once its buffer is full.
                self.copies
                    .spawn("stdout", move || copy(from, &mut io::sink()))?;
            }
            Target::Fifo(path) => {
                let mut fifo = open_fifo_writer(&path)?;
                self.copies.spawn("stdout", move || copy(from, &mut fifo))?;
            }
            Target::File {
                path, json: false, ..
            } => {
                let mut f = open_append(&path)?;
                self.copies.spawn("stdout", move || copy(from, &mut f))?;
            }
            Target::File {
                path,
                json: true,
                rotate,
            } => {
                let log: SharedLog = Arc::new(Mutex::new(open_log(&path, rotate)?));
                self.reactor.add(Box::new(Pump::new(
                    from,
                    log,
                    "stdout",
                    self.copies.begin(),
                )));
            }
            Target::Binary { .. } => {
                return Err(StdioError::Unsupported(
                    "a terminal process cannot log to a binary".into(),
                ))
            }
        }
        Ok(master)
    }

    /// Closes the process's stdin (CloseIO).
    pub fn close_stdin(stdin: &Mutex<Option<File>>) {
        stdin.lock().unwrap_or_else(|p| p.into_inner()).take();
    }
}

/// containerd's logging-binary protocol: the binary reads the process's
/// stdout on fd 3 and stderr on fd 4, and closes fd 5 when it is ready.
fn start_logging_binary(
    path: &Path,
    args: &[String],
    container_id: &str,
    namespace: &str,
    stdout: File,
    stderr: File,
) -> Result<(), StdioError> {
    let (mut ready_r, ready_w) = pipe()?;
    let fds = [stdout.as_raw_fd(), stderr.as_raw_fd(), ready_w.as_raw_fd()];
    let mut cmd = Command::new(path);
    cmd.args(args)
        .env("CONTAINER_ID", container_id)
        .env("CONTAINER_NAMESPACE", namespace)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    // SAFETY: between fork and exec the closure only calls dup2 and fcntl,
    // which are async-signal-safe, on descriptors open in the parent.
    unsafe {
        cmd.pre_exec(move || {
            for (i, &fd) in fds.iter().enumerate() {
                let target = 3 + i as i32;
                if fd == target {
                    let flags = libc::fcntl(fd, libc::F_GETFD);
                    if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                        return Err(io::Error::last_os_error());
                    }
                } else if libc::dup2(fd, target) < 0 {
                    return Err(io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let fail = |message: String| StdioError::Binary {
        path: path.to_path_buf(),
        message,
    };
    // The binary's exit is collected by the shim's reaper.
    let child = cmd.spawn().map_err(|e| fail(e.to_string()))?;
    drop((stdout, stderr, ready_w, cmd));
    let mut ignored = Vec::new();
    ready_r
        .read_to_end(&mut ignored)
        .map_err(|e| fail(format!("waiting for it to get ready: {e}")))?;
    let _ = child;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_output_goes_straight_to_the_process() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("out.log");
        let spec = StdioSpec {
            stdout: format!("file://{}", out.display()),
            ..Default::default()
        };
        let p = Plumbing::new(&spec, "c", "ns", &Arc::new(Reactor::new().unwrap())).unwrap();
        assert!(p.io.stdout.is_some());
        assert!(p.io.stderr.is_none() && p.io.stdin.is_none());
        assert_eq!(*p.copies.running.lock().unwrap(), 0, "no copy thread");
        assert!(out.exists());
    }

    #[test]
    fn a_missing_fifo_is_an_error_naming_it() {
        let spec = StdioSpec {
            stdout: "/nonexistent/dir/fifo".into(),
            ..Default::default()
        };
        let err = Plumbing::new(&spec, "c", "ns", &Arc::new(Reactor::new().unwrap()))
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("/nonexistent/dir/fifo"), "{err}");
    }
}
