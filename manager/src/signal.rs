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
    fn numbers_for_the_shims_kill() {
        assert_eq!(parse("SIGTERM"), Ok(15));
        assert!(parse("SIGNOPE").unwrap_err().contains("SIGNOPE"));
    }
}
