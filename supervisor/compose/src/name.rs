//! Project names as docker compose forms them: lower case, only
//! `[a-z0-9_-]`, starting with a letter or a digit. A name given
//! explicitly must already be in that form; a directory's basename is
//! normalised into it.

use crate::error::ComposeError;

/// True when `name` is a valid project name as it stands.
pub fn is_valid(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && (b[0].is_ascii_lowercase() || b[0].is_ascii_digit())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'_' || *c == b'-')
}

/// Normalises a directory's basename: lower case, other characters dropped,
/// leading `_`/`-` dropped.
pub fn normalize(name: &str) -> String {
    let lowered: String = name
        .to_lowercase()
        .chars()
        .filter(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == '_' || *c == '-')
        .collect();
    lowered.trim_start_matches(['_', '-']).to_string()
}

/// Checks an explicitly given name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`).
pub fn check_explicit(name: &str) -> Result<String, ComposeError> {
    if name.is_empty() {
        return Err(ComposeError::EmptyProjectName);
    }
    if !is_valid(name) {
        return Err(ComposeError::ProjectName(name.to_string()));
    }
    Ok(name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basenames_are_normalised() {
        assert_eq!(normalize("My App"), "myapp");
        assert_eq!(normalize("_-web.Site_2"), "website_2");
        assert_eq!(normalize("Ünïcode-x"), "ncode-x");
        assert_eq!(normalize("..."), "");
    }

    #[test]
    fn explicit_names_must_be_valid() {
        assert_eq!(check_explicit("app_1-x").unwrap(), "app_1-x");
        assert!(check_explicit("9lives").is_ok());
        for bad in ["App", "-app", "_app", "my app", "a.b"] {
            assert!(
                matches!(check_explicit(bad), Err(ComposeError::ProjectName(_))),
                "{bad}"
            );
        }
        assert!(matches!(
            check_explicit(""),
            Err(ComposeError::EmptyProjectName)
        ));
    }
}
