//! Signal names as users write them: `SIGTERM`, `TERM`, `15`.

use nix::sys::signal::Signal;
use std::str::FromStr;

pub fn parse(s: &str) -> Result<u32, String> {
    let bad = || format!("invalid signal {s:?}");
    let t = s.trim();
    if t.is_empty() {
        return Err(bad());
    }
    if let Ok(n) = t.parse::<u32>() {
        // real-time signals are valid too, up to SIGRTMAX
        return if (1..=64).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    Signal::from_str(&name).map(|s| s as u32).map_err(|_| bad())
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
