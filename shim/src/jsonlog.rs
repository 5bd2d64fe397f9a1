//! The container's output copied into its docker json-file log, one line
//! per output line; a partial line is written when the output pauses. The
//! line format itself is `berth_jsonlog`'s, shared with the CLI that reads it.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use berth_jsonlog::Stream;
use nix::poll::{poll, PollFd, PollFlags};

/// How long output may pause before a partial line is written out.
const PARTIAL_FLUSH_MS: i32 = 100;

/// A json-file log shared by a process's stdout and stderr.
pub type SharedLog = Arc<Mutex<File>>;

/// Copies `from` into `log` as json lines tagged `stream` until EOF.
pub fn pump(mut from: File, log: &SharedLog, stream: &str) {
    let stream = Stream::from_name(stream);
    let mut buf = vec![0u8; 8192];
    let mut pending: Vec<u8> = Vec::new();
    loop {
        if !pending.is_empty() && !readable_within(&from, PARTIAL_FLUSH_MS) {
            write_entry(log, &pending, stream);
            pending.clear();
        }
        let n = match from.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            // EIO: the pty's other side closed.
            Err(_) => break,
        };
        pending.extend_from_slice(&buf[..n]);
        while let Some(nl) = pending.iter().position(|&b| b == b'\n') {
            write_entry(log, &pending[..=nl], stream);
            pending.drain(..=nl);
        }
    }
    if !pending.is_empty() {
        write_entry(log, &pending, stream);
    }
}

fn readable_within(f: &File, ms: i32) -> bool {
    let mut fds = [PollFd::new(f.as_raw_fd(), PollFlags::POLLIN)];
    matches!(poll(&mut fds, ms), Ok(n) if n > 0)
}

fn write_entry(log: &SharedLog, bytes: &[u8], stream: Stream) {
    let line = berth_jsonlog::encode(bytes, stream, SystemTime::now());
    let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
    // A full disk loses log lines, never the container; a line cut short
    // is taken back so the log stays whole lines once space is freed.
    let mut written = 0;
    let bytes = line.as_bytes();
    while written < bytes.len() {
        match f.write(&bytes[written..]) {
            Ok(0) => break,
            Ok(n) => written += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(_) => break,
        }
    }
    if written > 0 && written < bytes.len() {
        if let Ok(md) = f.metadata() {
            let _ = f.set_len(md.len().saturating_sub(written as u64));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn lines_are_split_and_a_paused_partial_line_is_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("log.json");
        let log: SharedLog = Arc::new(Mutex::new(File::create(&path).unwrap()));
        let (r, mut w) = std::io::pipe()
            .map(|(r, w)| (File::from(std::os::fd::OwnedFd::from(r)), w))
            .unwrap();
        let reader = {
            let log = log.clone();
            std::thread::spawn(move || pump(r, &log, "stdout"))
        };
        w.write_all(b"one\ntwo\npart").unwrap();
        // The partial line must reach the file while the writer stays open.
        let seen = |n: usize| std::fs::read_to_string(&path).unwrap().lines().count() >= n;
        while !seen(3) {
            std::thread::sleep(Duration::from_millis(10));
        }
        w.write_all(b"ial\n").unwrap();
        drop(w);
        reader.join().unwrap();
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
