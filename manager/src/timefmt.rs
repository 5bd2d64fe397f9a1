//! RFC 3339 timestamps (image `created` fields) to unix nanoseconds.

/// `2024-01-02T03:04:05.123Z` or with a `±hh:mm` offset; `None` if it isn't
/// one, or is before 1970.
pub fn parse_rfc3339(s: &str) -> Option<u64> {
    let at = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    u64::try_from(at.timestamp_nanos_opt()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_utc_fractions_and_offsets() {
        assert_eq!(parse_rfc3339("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339("2024-02-29T12:00:00.5Z"),
            Some(1_709_208_000_500_000_000)
        );
        assert_eq!(
            parse_rfc3339("2024-02-29T14:00:00+02:00"),
            parse_rfc3339("2024-02-29T12:00:00Z")
        );
        assert_eq!(parse_rfc3339("yesterday"), None);
        assert_eq!(parse_rfc3339("1969-12-31T23:59:59Z"), None);
    }
}
