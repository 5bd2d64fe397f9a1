//! Go's `time.Duration` as text, the form docker users type in flags
//! (`--health-interval 30s`), Dockerfiles (`HEALTHCHECK --interval=1m30s`)
//! and time filters (`--since 10m`), and the form docker prints back. One
//! home for both directions, so every command reads and writes durations
//! alike.

/// Parses a Go duration (`"1m30s"`, `"500ms"`, `"-2h"`, `"0"`, `"1.5s"`), in
/// nanoseconds; `None` when it is not one (no unit, an unknown unit, an
/// empty string, or more than `i64` nanoseconds).
pub fn parse(s: &str) -> Option<i64> {
    let (neg, body) = match s.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    if body == "0" {
        return Some(0);
    }
    if body.is_empty() {
        return None;
    }
    let mut total: f64 = 0.0;
    let mut rest = body;
    while !rest.is_empty() {
        let num_len = rest.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
        if num_len == 0 {
            return None;
        }
        let num: f64 = rest[..num_len].parse().ok()?;
        rest = &rest[num_len..];
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        let unit = match &rest[..unit_len] {
            "ns" => 1.0,
            "us" | "µs" | "μs" => 1e3,
            "ms" => 1e6,
            "s" => 1e9,
            "m" => 60e9,
            "h" => 3600e9,
            _ => return None,
        };
        rest = &rest[unit_len..];
        total += num * unit;
    }
    if total > i64::MAX as f64 {
        return None;
    }
    let n = total as i64;
    Some(if neg { -n } else { n })
}

/// Nanoseconds as Go prints a duration: `0s`, `500ms`, `30s`, `1m30s`,
/// `1h0m0s`, `1.5s`.
pub fn format(ns: i64) -> String {
    if ns == 0 {
        return "0s".into();
    }
    if ns < 0 {
        return format!("-{}", format(ns.saturating_neg()));
    }
    if ns < 1_000_000_000 {
        return match ns {
            n if n % 1_000_000 == 0 => format!("{}ms", n / 1_000_000),
            n if n % 1_000 == 0 => format!("{}µs", n / 1_000),
            n => format!("{n}ns"),
        };
    }
    let secs = ns as f64 / 1e9;
    let (h, rest) = ((secs / 3600.0).floor(), secs % 3600.0);
    let (m, sec) = ((rest / 60.0).floor(), rest % 60.0);
    let sec = format!("{sec}");
    match (h as i64, m as i64) {
        (0, 0) => format!("{sec}s"),
        (0, m) => format!("{m}m{sec}s"),
        (h, m) => format!("{h}h{m}m{sec}s"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_go_parses() {
        assert_eq!(parse("0"), Some(0));
        assert_eq!(parse("1m30s"), Some(90_000_000_000));
        assert_eq!(parse("500ms"), Some(500_000_000));
        assert_eq!(parse("1.5s"), Some(1_500_000_000));
        assert_eq!(parse("2h"), Some(7_200_000_000_000));
        assert_eq!(parse("-3s"), Some(-3_000_000_000));
        assert_eq!(parse("+3us"), Some(3_000));
    }

    #[test]
    fn refuses_what_go_refuses() {
        for bad in ["", "x", "10", "1d", "s", "-", "1.2.3s", "99999999999h"] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn prints_as_go_prints() {
        assert_eq!(format(0), "0s");
        assert_eq!(format(30_000_000_000), "30s");
        assert_eq!(format(90_000_000_000), "1m30s");
        assert_eq!(format(3_600_000_000_000), "1h0m0s");
        assert_eq!(format(500_000_000), "500ms");
        assert_eq!(format(1_500_000_000), "1.5s");
        assert_eq!(format(-2_000_000_000), "-2s");
    }
}
