//! Signal names as users write them (`SIGTERM`, `TERM`, `15`), read by the
//! one parser every tier shares (`berth_signal`), as the number the shim's
//! kill takes.

pub fn parse(s: &str) -> Result<u32, String> {
    berth_signal::parse(s)
        .map(|n| n as u32)
        .map_err(|e| e.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_garbage() {
        assert_eq!(parse("SIGTERM"), Ok(15));
        assert_eq!(parse("kill"), Ok(9));
        assert_eq!(parse("HUP"), Ok(1));
        assert_eq!(parse("10"), Ok(10));
        assert!(parse("0").is_err());
        assert!(parse("SIGNOPE").is_err());
        assert!(parse("").is_err());
    }
}
