//! docker's byte sizes as text, the form of `-m 512m`, `--tmpfs /t:size=64m`
//! and compose's `memory: 1g`: one parser for the CLI and the compose model.

/// Parses a size: bytes, or a number with b, k, m, g or t (binary units,
/// case-insensitive, an optional trailing `b`: `1GB`); `None` when it is not
/// one, is not positive, or exceeds `i64` bytes.
pub fn parse(s: &str) -> Option<i64> {
    let t = s.trim().to_ascii_lowercase();
    let t = t.strip_suffix('b').filter(|r| !r.is_empty()).unwrap_or(&t);
    let (num, mult) = match t.chars().last() {
        Some('k') => (&t[..t.len() - 1], 1i64 << 10),
        Some('m') => (&t[..t.len() - 1], 1 << 20),
        Some('g') => (&t[..t.len() - 1], 1 << 30),
        Some('t') => (&t[..t.len() - 1], 1 << 40),
        _ => (t, 1),
    };
    let v: f64 = num.parse().ok()?;
    if !v.is_finite() || v <= 0.0 {
        return None;
    }
    let bytes = v * mult as f64;
    if bytes > i64::MAX as f64 {
        return None;
    }
    Some(bytes as i64)
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn units() {
        assert_eq!(parse("512m"), Some(512 << 20));
        assert_eq!(parse("1g"), Some(1 << 30));
        assert_eq!(parse("1GB"), Some(1 << 30));
        assert_eq!(parse("100"), Some(100));
        assert_eq!(parse("10b"), Some(10));
        assert_eq!(parse("1.5k"), Some(1536));
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "b",
            "m",
            "-1m",
            "0",
            "abc",
            "1x",
            "nan",
            "inf",
            "99999999999t",
        ] {
            assert_eq!(parse(bad), None, "{bad}");
        }
    }
}
