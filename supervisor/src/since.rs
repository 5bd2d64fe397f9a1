//! docker's time arguments (`logs --since/--until`): an RFC 3339 time
//! (date alone, or without seconds or zone: local time), a Unix timestamp
//! with optional fraction, or a Go duration counted back from now.

use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};

/// Parses `value` of `--flag` into an instant, `now` anchoring durations.
pub fn parse_time(flag: &str, value: &str, now: DateTime<Utc>) -> Result<DateTime<Utc>, String> {
    let bad = || {
        format!(
            "invalid value \"{value}\" for --{flag}: use an RFC 3339 time (2006-01-02T15:04:05Z), a Unix timestamp or a duration like 10m"
        )
    };
    let v = value.trim();
    if v.is_empty() {
        return Err(bad());
    }
    // a duration: digits followed by a unit ("10m", "1h30m", "1.5s")
    if v.ends_with(|c: char| c.is_ascii_alphabetic()) && !v.contains('-') && !v.contains(':') {
        let ns = crate::health::parse_duration("since", v).map_err(|_| bad())?;
        return Ok(now - chrono::Duration::nanoseconds(ns));
    }
    if let Ok(t) = DateTime::parse_from_rfc3339(v) {
        return Ok(t.with_timezone(&Utc));
    }
    for f in ["%Y-%m-%dT%H:%M:%S%.f", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(v, f) {
            return local(t).ok_or_else(bad);
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(v, "%Y-%m-%d") {
        return local(d.and_hms_opt(0, 0, 0).ok_or_else(bad)?).ok_or_else(bad);
    }
    let (secs, frac) = v.split_once('.').unwrap_or((v, ""));
    if secs.is_empty() || !secs.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    if !frac.bytes().all(|b| b.is_ascii_digit()) || frac.len() > 9 {
        return Err(bad());
    }
    let secs: i64 = secs.parse().map_err(|_| bad())?;
    let nanos: u32 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<9}").parse().map_err(|_| bad())?
    };
    Utc.timestamp_opt(secs, nanos).single().ok_or_else(bad)
}

fn local(t: NaiveDateTime) -> Option<DateTime<Utc>> {
    Local
        .from_local_datetime(&t)
        .earliest()
        .map(|t| t.with_timezone(&Utc))
}

/// Whether a log entry stamped `time` (RFC 3339) falls in [since, until];
/// an entry whose stamp does not parse is kept.
pub fn within(time: &str, since: Option<DateTime<Utc>>, until: Option<DateTime<Utc>>) -> bool {
    let Ok(t) = DateTime::parse_from_rfc3339(time) else {
        return true;
    };
    let t = t.with_timezone(&Utc);
    since.is_none_or(|s| t >= s) && until.is_none_or(|u| t <= u)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> DateTime<Utc> {
        Utc.timestamp_opt(1_700_000_000, 0).unwrap()
    }

    #[test]
    fn docker_time_forms() {
        let p = |v| parse_time("since", v, now()).unwrap().timestamp();
        assert_eq!(p("10m"), 1_700_000_000 - 600);
        assert_eq!(p("1h30m"), 1_700_000_000 - 5400);
        assert_eq!(p("1700000000"), 1_700_000_000);
        assert_eq!(
            parse_time("since", "1700000000.5", now())
                .unwrap()
                .timestamp_subsec_millis(),
            500
        );
        assert_eq!(p("2023-11-14T22:13:20Z"), 1_700_000_000);
        assert_eq!(p("2023-11-14T23:13:20+01:00"), 1_700_000_000);
        // zone-less forms are local time: only check they parse
        for v in ["2023-11-14", "2023-11-14T22:13", "2023-11-14T22:13:20"] {
            assert!(parse_time("since", v, now()).is_ok(), "{v}");
        }
    }

    #[test]
    fn bad_times_name_the_flag_and_value() {
        for v in [
            "",
            "bogus",
            "10x",
            "-5",
            "2023-13-40",
            "12.ab",
            "1.1234567890",
        ] {
            let e = parse_time("until", v, now()).unwrap_err();
            assert!(e.contains("--until") && e.contains(v), "{v}: {e}");
        }
    }

    #[test]
    fn window() {
        let s = Some(Utc.timestamp_opt(10, 0).unwrap());
        let u = Some(Utc.timestamp_opt(20, 0).unwrap());
        assert!(within("1970-01-01T00:00:15Z", s, u));
        assert!(!within("1970-01-01T00:00:05Z", s, u));
        assert!(!within("1970-01-01T00:00:25Z", s, u));
        assert!(within("1970-01-01T00:00:25Z", s, None));
        assert!(within("garbled", s, u));
    }
}
