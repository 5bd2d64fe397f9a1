//! The docker json-file log line, `{"log":"…\n","stream":"stdout","time":"…"}`:
//! one home for the contract between the shim, which writes a container's
//! output in this form (one line per output line, a partial line when the
//! output pauses), and the CLI's `logs`/`attach`, which read it back. The
//! file is docker's, so `docker logs` tooling reads berth's logs unchanged.

pub mod config;
pub mod rotate;

/// The file, in a container's bundle (the shim's working directory, on the
/// state file system), that takes the log lines the log itself could not
/// (a full disk), so a client attached to the container still gets its
/// output: docker delivers attach streams whatever becomes of the log.
pub const SPILL_FILE: &str = "log-spill.json";
/// The spill's bound: past it, lines are lost as the log's are.
pub const SPILL_MAX_BYTES: u64 = 8 << 20;

use std::borrow::Cow;
use std::time::SystemTime;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

/// Which of the container's streams a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    Stdout,
    Stderr,
}

impl Stream {
    /// The name stored in the `stream` field.
    pub fn as_str(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
        }
    }

    /// The stream a `stream` field names; anything but `stderr` reads as
    /// stdout, as docker's reader does.
    pub fn from_name(name: &str) -> Stream {
        if name == "stderr" {
            Stream::Stderr
        } else {
            Stream::Stdout
        }
    }
}

/// One log record as it reads back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub text: String,
    pub time: String,
}

/// The line as stored. Field names and their order are the file format.
#[derive(Serialize, Deserialize)]
struct Line<'a> {
    #[serde(default, borrow)]
    log: Cow<'a, str>,
    #[serde(default, borrow)]
    stream: Cow<'a, str>,
    #[serde(default, borrow)]
    time: Cow<'a, str>,
}

/// One json-file line for `bytes` of output (with its trailing newline).
/// Output that is not UTF-8 is stored lossily, as docker does.
pub fn encode(bytes: &[u8], stream: Stream, at: SystemTime) -> String {
    let line = Line {
        log: String::from_utf8_lossy(bytes),
        stream: stream.as_str().into(),
        time: rfc3339_nano(at).into(),
    };
    let mut out = serde_json::to_string(&line).unwrap_or_default();
    out.push('\n');
    out
}

/// Parses one line (without its newline); lines that are not log records are
/// skipped (`None`), so a torn last line never stops a reader.
pub fn parse_line(line: &[u8]) -> Option<Entry> {
    let raw: Line<'_> = serde_json::from_slice(line).ok()?;
    Some(Entry {
        stream: Stream::from_name(&raw.stream),
        text: raw.log.into_owned(),
        time: raw.time.into_owned(),
    })
}

/// `2006-01-02T15:04:05.999999999Z` in UTC, as Go's RFC3339Nano prints it
/// (trailing zeros of the fraction dropped), the form docker's log times take.
pub fn rfc3339_nano(at: SystemTime) -> String {
    let full = DateTime::<Utc>::from(at).to_rfc3339_opts(SecondsFormat::Nanos, true);
    // `…:05.120000000Z`: the fraction always has nine digits, so trimming
    // zeros stops at its dot at the latest, never in the seconds.
    let trimmed = full
        .trim_end_matches('Z')
        .trim_end_matches('0')
        .trim_end_matches('.');
    format!("{trimmed}Z")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

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
        let line = encode(b"hi \"x\"\n", Stream::Stderr, UNIX_EPOCH);
        let v: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
        assert_eq!(v["log"], "hi \"x\"\n");
        assert_eq!(v["stream"], "stderr");
        assert_eq!(v["time"], "1970-01-01T00:00:00Z");
        assert!(line.ends_with("}\n"));
        assert_eq!(
            line,
            "{\"log\":\"hi \\\"x\\\"\\n\",\"stream\":\"stderr\",\"time\":\"1970-01-01T00:00:00Z\"}\n"
        );
    }

    #[test]
    fn written_lines_read_back_and_torn_lines_are_skipped() {
        let line = encode(b"hi\n", Stream::Stderr, UNIX_EPOCH);
        let e = parse_line(line.trim_end().as_bytes()).unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.text, "hi\n");
        assert_eq!(e.time, "1970-01-01T00:00:00Z");
        assert!(parse_line(b"{\"log\":").is_none());
        let other = parse_line(br#"{"log":"x","stream":"weird"}"#).unwrap();
        assert_eq!(other.stream, Stream::Stdout);
    }
}
