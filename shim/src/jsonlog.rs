//! Docker json-file log lines: `{"log":"…\n","stream":"stdout","time":"…"}`,
//! one per output line; a partial line is written when the output pauses.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::sync::{Arc, Mutex};
use std::time::{SystemTime, UNIX_EPOCH};

use nix::poll::{poll, PollFd, PollFlags};

/// How long output may pause before a partial line is written out.
const PARTIAL_FLUSH_MS: i32 = 100;

/// A json-file log shared by a process's stdout and stderr.
pub type SharedLog = Arc<Mutex<File>>;

/// Copies `from` into `log` as json lines tagged `stream` until EOF.
pub fn pump(mut from: File, log: &SharedLog, stream: &str) {
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

fn write_entry(log: &SharedLog, bytes: &[u8], stream: &str) {
    let line = entry(bytes, stream, SystemTime::now());
    let mut f = log.lock().unwrap_or_else(|p| p.into_inner());
    // A full disk loses log lines, never the container.
    let _ = f.write_all(line.as_bytes());
}

/// One json-file line (with its trailing newline).
pub fn entry(bytes: &[u8], stream: &str, at: SystemTime) -> String {
    let text = String::from_utf8_lossy(bytes);
    let record = serde_json::json!({
        "log": text,
        "stream": stream,
        "time": rfc3339_nano(at),
    });
    format!("{record}\n")
}

/// `2006-01-02T15:04:05.999999999Z` in UTC, as Go's RFC3339Nano prints it
/// (trailing zeros of the fraction dropped).
pub fn rfc3339_nano(at: SystemTime) -> String {
    let d = at.duration_since(UNIX_EPOCH).unwrap_or_default();
    let secs = d.as_secs();
    let (days, rem) = (secs / 86400, secs % 86400);
    let (y, m, day) = civil_from_days(days as i64);
    let mut s = format!(
        "{y:04}-{m:02}-{day:02}T{:02}:{:02}:{:02}",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    );
    let nanos = d.subsec_nanos();
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// Days since 1970-01-01 to a proleptic Gregorian date (Howard Hinnant's
/// algorithm).
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn timestamps_match_go() {
        let t = UNIX_EPOCH + Duration::new(1_700_000_000, 120_000_000);
        assert_eq!(rfc3339_nano(t), "2023-11-14T22:13:20.12Z");
        assert_eq!(rfc3339_nano(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let leap = UNIX_EPOCH + Duration::new(951_782_400 + 5, 1);
        assert_eq!(rfc3339_nano(leap), "2000-02-29T00:00:05.000000001Z");
    }

    #[test]
    fn entries_are_docker_json_lines() {
        let line = entry(b"hi \"x\"\n", "stderr", UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["log"], "hi \"x\"\n");
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        assert!(line.ends_with("}\n"));
    }

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
