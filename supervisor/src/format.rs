//! Output shapes shared by `ps`, `images`, `inspect`, `logs` and `events`:
//! docker's human durations and sizes, truncated ids and padded tables.

use std::time::Duration;

use berth_proto::protobuf::well_known_types::timestamp::Timestamp;
use chrono::{DateTime, SecondsFormat, Utc};

/// A protobuf timestamp as UTC; `None` when unset (zero).
pub fn ts(t: Option<&Timestamp>) -> Option<DateTime<Utc>> {
    let t = t?;
    if t.seconds == 0 && t.nanos == 0 {
        return None;
    }
    DateTime::from_timestamp(t.seconds, t.nanos.max(0) as u32)
}

/// RFC 3339 with nanoseconds, as docker's inspect shows times; the zero time
/// for unset ones.
pub fn rfc3339(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => t.to_rfc3339_opts(SecondsFormat::Nanos, true),
        None => "0001-01-01T00:00:00Z".into(),
    }
}

/// A list's `CreatedAt` cell: `2026-12-04 15:57:16 +0000 UTC`.
pub fn created_at(t: Option<DateTime<Utc>>) -> String {
    t.map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string())
        .unwrap_or_default()
}

/// docker's `HumanDuration` ("3 seconds", "About a minute", "2 hours").
pub fn human_duration(d: Duration) -> String {
    let secs = d.as_secs();
    let minutes = secs / 60;
    let hours = minutes / 60;
    if secs < 1 {
        "Less than a second".into()
    } else if secs == 1 {
        "1 second".into()
    } else if secs < 60 {
        format!("{secs} seconds")
    } else if minutes == 1 {
        "About a minute".into()
    } else if minutes < 60 {
        format!("{minutes} minutes")
    } else if hours == 1 {
        "About an hour".into()
    } else if hours < 48 {
        format!("{hours} hours")
    } else if hours < 24 * 7 * 2 {
        format!("{} days", hours / 24)
    } else if hours < 24 * 30 * 2 {
        format!("{} weeks", hours / 24 / 7)
    } else if hours < 24 * 365 * 2 {
        format!("{} months", hours / 24 / 30)
    } else {
        format!("{} years", hours / 24 / 365)
    }
}

/// "5 minutes ago" from `t` to `now`.
pub fn ago(t: Option<DateTime<Utc>>, now: DateTime<Utc>) -> String {
    match t {
        Some(t) => format!("{} ago", human_duration(since(t, now))),
        None => "N/A".into(),
    }
}

fn since(t: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (now - t).to_std().unwrap_or(Duration::ZERO)
}

/// docker's `HumanSizeWithPrecision(size, 3)`: decimal units, 3 significant
/// digits ("4.26MB", "123kB", "0B").
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 9] = ["B", "kB", "MB", "GB", "TB", "PB", "EB", "ZB", "YB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1000.0 && i < UNITS.len() - 1 {
        v /= 1000.0;
        i += 1;
    }
    format!("{}{}", g3(v), UNITS[i])
}

/// Binary-unit size as `docker stats` shows memory ("1.5MiB").
pub fn bytes_size(bytes: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i < UNITS.len() - 1 {
        v /= 1024.0;
        i += 1;
    }
    format!("{}{}", g3(v), UNITS[i])
}

/// C's `%.3g` for the non-negative values sizes take (below 1000).
fn g3(v: f64) -> String {
    if v == 0.0 {
        return "0".into();
    }
    let digits = v.abs().log10().floor() as i32;
    let decimals = (2 - digits).max(0) as usize;
    let s = format!("{v:.decimals$}");
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.').to_string()
    } else {
        s
    }
}

/// The 12-character id docker shows; strips a `sha256:` prefix.
pub fn short_id(id: &str) -> &str {
    let id = id.strip_prefix("sha256:").unwrap_or(id);
    &id[..id.len().min(12)]
}

/// Cuts `s` to `max` characters, ending in "…" when cut (docker's Ellipsis).
pub fn ellipsis(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// A table with columns padded like docker's tabwriter (3 spaces between).
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            if i < widths.len() {
                widths[i] = widths[i].max(c.chars().count());
            }
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            l.push_str(c);
            if i + 1 < cells.len() {
                let pad = widths[i] - c.chars().count() + 3;
                l.push_str(&" ".repeat(pad));
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for r in rows {
        line(r.iter().map(String::as_str).collect());
    }
    out
}

/// `ps`'s STATUS column.
pub struct StatusView<'a> {
    pub status: &'a str,
    pub exit_code: i32,
    pub started: Option<DateTime<Utc>>,
    pub finished: Option<DateTime<Utc>>,
}

pub fn ps_status(v: &StatusView, now: DateTime<Utc>) -> String {
    let up =
        |t: Option<DateTime<Utc>>| human_duration(t.map(|t| since(t, now)).unwrap_or_default());
    match v.status {
        "running" => format!("Up {}", up(v.started)),
        "paused" => format!("Up {} (Paused)", up(v.started)),
        "restarting" => format!("Restarting ({}) {}", v.exit_code, ago(v.finished, now)),
        "exited" => match v.finished {
            Some(_) => format!("Exited ({}) {}", v.exit_code, ago(v.finished, now)),
            None => format!("Exited ({})", v.exit_code),
        },
        "created" => "Created".into(),
        "dead" => "Dead".into(),
        other => {
            let mut c = other.chars();
            match c.next() {
                Some(f) => f.to_uppercase().chain(c).collect(),
                None => String::new(),
            }
        }
    }
}

/// `ps`'s COMMAND column: the argv joined, cut to 20 and quoted.
pub fn ps_command(args: &[String]) -> String {
    format!("\"{}\"", ellipsis(&args.join(" "), 20))
}

/// Splits a normalized reference into docker's REPOSITORY and TAG columns,
/// showing docker.io/library names short as docker does.
pub fn repo_tag(reference: &str) -> (String, String) {
    let (name, tag) = match reference.rsplit_once(':') {
        Some((n, t)) if !t.contains('/') => (n, t),
        _ => (reference, "<none>"),
    };
    let name = name.split('@').next().unwrap_or(name);
    let short = name
        .strip_prefix("docker.io/library/")
        .or_else(|| name.strip_prefix("docker.io/"))
        .unwrap_or(name);
    (short.to_string(), tag.to_string())
}

/// Reference shown for a container's image: docker.io/library stripped.
pub fn familiar(reference: &str) -> String {
    let r = reference
        .strip_prefix("docker.io/library/")
        .or_else(|| reference.strip_prefix("docker.io/"))
        .unwrap_or(reference);
    r.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_like_docker() {
        let s = Duration::from_secs;
        assert_eq!(
            human_duration(Duration::from_millis(300)),
            "Less than a second"
        );
        assert_eq!(human_duration(s(1)), "1 second");
        assert_eq!(human_duration(s(3)), "3 seconds");
        assert_eq!(human_duration(s(61)), "About a minute");
        assert_eq!(human_duration(s(300)), "5 minutes");
        assert_eq!(human_duration(s(3700)), "About an hour");
        assert_eq!(human_duration(s(5 * 3600)), "5 hours");
        assert_eq!(human_duration(s(3 * 86400)), "3 days");
        assert_eq!(human_duration(s(20 * 86400)), "2 weeks");
        assert_eq!(human_duration(s(90 * 86400)), "3 months");
        assert_eq!(human_duration(s(800 * 86400)), "2 years");
    }

    #[test]
    fn sizes_like_docker() {
        assert_eq!(human_size(0), "0B");
        assert_eq!(human_size(999), "999B");
        assert_eq!(human_size(1000), "1kB");
        assert_eq!(human_size(4_261_234), "4.26MB");
        assert_eq!(human_size(12_345_678), "12.3MB");
        assert_eq!(human_size(1_500_000_000), "1.5GB");
        assert_eq!(bytes_size(1536), "1.5KiB");
        assert_eq!(bytes_size(100), "100B");
    }

    #[test]
    fn ids_commands_and_refs() {
        assert_eq!(short_id("sha256:0123456789abcdef"), "0123456789ab");
        assert_eq!(short_id("abc"), "abc");
        assert_eq!(ps_command(&["sh".into()]), "\"sh\"");
        assert_eq!(
            ps_command(&["sh".into(), "-c".into(), "sleep 1000; echo done".into()]),
            "\"sh -c sleep 1000; e…\""
        );
        assert_eq!(
            repo_tag("docker.io/library/busybox:latest"),
            ("busybox".into(), "latest".into())
        );
        assert_eq!(
            repo_tag("127.0.0.1:5000/library/busybox:v1"),
            ("127.0.0.1:5000/library/busybox".into(), "v1".into())
        );
        assert_eq!(
            repo_tag("127.0.0.1:5000/x"),
            ("127.0.0.1:5000/x".into(), "<none>".into())
        );
        assert_eq!(
            familiar("docker.io/library/busybox:latest"),
            "busybox:latest"
        );
    }

    #[test]
    fn statuses_and_tables() {
        let now = Utc::now();
        let t = |secs: i64| Some(now - chrono::Duration::seconds(secs));
        let v = StatusView {
            status: "running",
            exit_code: 0,
            started: t(3),
            finished: None,
        };
        assert_eq!(ps_status(&v, now), "Up 3 seconds");
        let v = StatusView {
            status: "paused",
            ..v
        };
        assert_eq!(ps_status(&v, now), "Up 3 seconds (Paused)");
        let v = StatusView {
            status: "exited",
            exit_code: 137,
            started: t(10),
            finished: t(120),
        };
        assert_eq!(ps_status(&v, now), "Exited (137) 2 minutes ago");
        let v = StatusView {
            status: "created",
            exit_code: 0,
            started: None,
            finished: None,
        };
        assert_eq!(ps_status(&v, now), "Created");
        let out = table(&["A", "BB"], &[vec!["xxxx".into(), "y".into()]]);
        assert_eq!(out, "A      BB\nxxxx   y\n");
    }

    #[test]
    fn timestamps() {
        let mut p = Timestamp::new();
        assert_eq!(ts(Some(&p)), None);
        p.seconds = 1;
        p.nanos = 5;
        assert_eq!(rfc3339(ts(Some(&p))), "1970-01-01T00:00:01.000000005Z");
        assert_eq!(rfc3339(None), "0001-01-01T00:00:00Z");
    }
}
