//! The container's output copied into its docker json-file log, one line
//! per output line; a partial line is written when the output pauses. The
//! line format itself is `berth_jsonlog`'s, shared with the CLI that reads it,
//! and so is the file (`LogFile`), which rotates within the log's bounds.
//! A [`Pump`] is a watch of the shim's [`Reactor`]: output costs no thread.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::{AsRawFd, RawFd};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use berth_jsonlog::rotate::LogFile;
use berth_jsonlog::Stream;

use crate::reactor::{Reactor, Watch};
use crate::stdio::CopyGuard;

/// How long output may pause before a partial line is written out.
const PARTIAL_FLUSH: Duration = Duration::from_millis(100);

/// A json-file log shared by a process's stdout and stderr.
pub type SharedLog = Arc<Mutex<LogFile>>;

/// Copies a pipe or pty into a json-file log as lines tagged with their
/// stream, until EOF.
pub struct Pump {
    from: File,
    log: SharedLog,
    stream: Stream,
    /// Output read but not written yet: a line not ended.
    pending: Vec<u8>,
    /// When `pending` is written out if nothing more comes.
    flush_at: Option<Instant>,
    _running: CopyGuard,
}

impl Pump {
    /// A pump of `from` into `log` tagged `stream`; counted in `running`
    /// until it ends.
    pub fn new(from: File, log: SharedLog, stream: &str, running: CopyGuard) -> Pump {
        Pump {
            from,
            log,
            stream: Stream::from_name(stream),
            pending: Vec::new(),
            flush_at: None,
            _running: running,
        }
    }

    fn take(&mut self, bytes: &[u8]) {
        self.pending.extend_from_slice(bytes);
        while let Some(nl) = self.pending.iter().position(|&b| b == b'\n') {
            write_entry(&self.log, &self.pending[..=nl], self.stream);
            self.pending.drain(..=nl);
        }
        if self.pending.is_empty() {
            // An idle pump holds no buffer.
            self.pending = Vec::new();
            self.flush_at = None;
        } else {
            self.flush_at = Some(Instant::now() + PARTIAL_FLUSH);
        }
    }

    fn flush(&mut self) {
        if !self.pending.is_empty() {
            write_entry(&self.log, &self.pending, self.stream);
        }
        self.pending = Vec::new();
        self.flush_at = None;
    }
}

impl Watch for Pump {
    fn fd(&self) -> RawFd {
        self.from.as_raw_fd()
    }

    fn ready(&mut self, _: &Reactor) -> bool {
        let mut buf = [0u8; 8192];
        match self.from.read(&mut buf) {
            Ok(0) => {}
            Ok(n) => {
                self.take(&buf[..n]);
                return true;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => return true,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return true,
            // EIO: the pty's other side closed.
            Err(_) => {}
        }
        self.flush();
        false
    }

    fn deadline(&self) -> Option<Instant> {
        self.flush_at
    }

    fn expired(&mut self) {
        self.flush();
    }
}

fn write_entry(log: &SharedLog, bytes: &[u8], stream: Stream) {
    let line = berth_jsonlog::encode(bytes, stream, SystemTime::now());
    let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
    // A full disk loses log lines, never the container, nor the output of
    // an attached client: the line goes to the spill it reads too.
    if f.write_line(line.as_bytes()).is_err() {
        spill(line.as_bytes());
    }
}

/// Opens (creating it empty) [`berth_jsonlog::SPILL_FILE`] in the working
/// directory (the bundle). Made with the log, so an attached client holds
/// it open from the start and still reads it once an exit removed the
/// bundle.
pub fn open_spill() -> io::Result<File> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(berth_jsonlog::SPILL_FILE)
}

/// Appends a line the log could not take to the spill, within its bound.
fn spill(line: &[u8]) {
    use std::io::Write;
    let Ok(mut f) = open_spill() else {
        return;
    };
    let len = f.metadata().map_or(u64::MAX, |m| m.len());
    if len.saturating_add(line.len() as u64) <= berth_jsonlog::SPILL_MAX_BYTES {
        // one write of one line: O_APPEND keeps it whole for the reader
        let _ = f.write_all(line);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::time::Duration;

    #[test]
    fn lines_are_split_and_a_paused_partial_line_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let log: SharedLog = Arc::new(Mutex::new(LogFile::open(&path, None).unwrap()));
        let (r, mut w) = std::io::pipe()
            .map(|(r, w)| (File::from(std::os::fd::OwnedFd::from(r)), w))
            .unwrap();
        let reactor = Arc::new(Reactor::new().unwrap());
        let copies = Arc::new(crate::stdio::Copies::default());
        reactor.add(Box::new(Pump::new(
            r,
            log.clone(),
            "stdout",
            copies.begin(),
        )));
        let looping = {
            let reactor = reactor.clone();
            std::thread::spawn(move || reactor.run())
        };
        w.write_all(b"one\ntwo\npart").unwrap();
        // The partial line must reach the file while the writer stays open.
        let seen = |n: usize| std::fs::read_to_string(&path).unwrap().lines().count() >= n;
        while !seen(3) {
            std::thread::sleep(Duration::from_millis(10));
        }
        w.write_all(b"ial\n").unwrap();
        drop(w);
        copies.wait(Duration::from_secs(10));
        reactor.stop();
        looping.join().unwrap();
        let logs: Vec<String> = std::fs::read_to_string(&path)
            .unwrap()
            .lines()
            .map(|l| {
                serde_json::from_str::<serde_json::Value>(l).unwrap()["log"]
                    .as_str()
                    .unwrap()
                    .to_string()
            })
            .collect();
        assert_eq!(logs, ["one\n", "two\n", "part", "ial\n"]);
    }
}
