//! Container names: docker's rule for user-chosen ones and docker-like
//! `adjective_surname` picks when none is given.

const ADJECTIVES: &[&str] = &[
    "admiring", "bold", "brave", "calm", "clever", "eager", "elated", "focused", "gallant",
    "happy", "jolly", "keen", "kind", "lucid", "modest", "nifty", "quirky", "serene", "sharp",
    "stoic", "tender", "upbeat", "vibrant", "wizardly", "zealous",
];

const SURNAMES: &[&str] = &[
    "agnesi", "babbage", "curie", "darwin", "euclid", "fermat", "galois", "hopper", "hypatia",
    "kepler", "lamarr", "lovelace", "meitner", "noether", "pascal", "ritchie", "shannon",
    "thompson", "turing", "wozniak",
];

/// docker's `[a-zA-Z0-9][a-zA-Z0-9_.-]+`, a leading `/` allowed.
pub fn validate(name: &str) -> Result<&str, String> {
    let n = name.strip_prefix('/').unwrap_or(name);
    let mut chars = n.chars();
    let first_ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric());
    let rest_ok =
        n.len() >= 2 && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if first_ok && rest_ok && n.len() <= 128 {
        Ok(n)
    } else {
        Err(format!(
            "invalid container name {name:?}: only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
        ))
    }
}

/// A random docker-like name; `attempt` > 0 adds a number as docker does
/// after a collision, one digit more per attempt: with only 500 plain names,
/// a thousand containers must not run out of picks.
pub fn random(attempt: u32) -> String {
    let r = crate::manager::random_hex(16);
    let n = u64::from_str_radix(&r, 16).unwrap_or(0);
    let a = ADJECTIVES[(n % ADJECTIVES.len() as u64) as usize];
    let s = SURNAMES[((n >> 16) % SURNAMES.len() as u64) as usize];
    if attempt == 0 {
        format!("{a}_{s}")
    } else {
        format!("{a}_{s}{}", (n >> 32) % 10u64.pow(attempt.min(9)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_name_rule() {
        assert_eq!(validate("/web-1").unwrap(), "web-1");
        assert!(validate("a").is_err());
        assert!(validate("-x").is_err());
        assert!(validate("a b").is_err());
        assert!(validate("").is_err());
        assert!(validate(&"a".repeat(129)).is_err());
    }

    #[test]
    fn random_names_are_valid() {
        for i in 0..20 {
            assert!(validate(&random(i % 2)).is_ok());
            assert!(validate(&random(i)).is_ok());
        }
    }

    #[test]
    fn retries_draw_from_more_names() {
        // the retry digit was always 0: 500 names in all, used up by a
        // thousand containers
        let last: std::collections::HashSet<char> =
            (0..50).filter_map(|_| random(1).chars().last()).collect();
        assert!(last.len() > 1, "{last:?}");
    }
}
