//! `-u NAME[:GROUP]`, an image's `USER name` and `--group-add`: names are
//! resolved by the manager from the container's own `/etc/passwd` and
//! `/etc/group` (the front end never reads the host's); numeric ids and
//! `root` are resolved here as before.

use serde_json::{json, Value};

use crate::flags::{self, FlagError, User};

/// Spec annotations the manager resolves (see berth-manager's `users`).
const USER_ANNOTATION: &str = "berth.user";
const GROUP_ADD_ANNOTATION: &str = "berth.group-add";

/// A user as `-u` or `USER` give it.
#[derive(Debug, Clone, PartialEq)]
pub enum UserSpec {
    /// Ids (or root) only.
    Numeric(User),
    /// Names a user or group: resolved in the container.
    Named(String),
}

fn is_name(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Classifies `-u`'s value; anything neither ids nor names is an error.
pub fn classify(s: &str) -> Result<UserSpec, FlagError> {
    if let Ok(u) = flags::parse_user(s) {
        return Ok(UserSpec::Numeric(u));
    }
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    if is_name(u) && g.is_none_or(is_name) {
        Ok(UserSpec::Named(s.to_string()))
    } else {
        Err(FlagError::User(s.to_string()))
    }
}

/// The user the container runs as when one is asked for: `-u`, else the
/// image's. Ids too go to the manager, which takes a bare uid's group from
/// the container's passwd file (else 0), as docker does.
pub fn requested(flag: Option<&str>, image_user: &str) -> Result<Option<String>, FlagError> {
    let given = match flag {
        Some(f) => f,
        None if image_user.is_empty() => return Ok(None),
        None => image_user,
    };
    classify(given)?;
    Ok(Some(given.to_string()))
}

/// True when `user` names a user or group rather than giving ids.
pub fn is_named(user: &str) -> bool {
    matches!(classify(user), Ok(UserSpec::Named(_)))
}

/// Checks `--group-add` values (ids or names).
pub fn check_group_add(values: &[String]) -> Result<(), FlagError> {
    for v in values {
        if v.parse::<u32>().is_err() && !is_name(v) {
            return Err(FlagError::User(v.clone()));
        }
    }
    Ok(())
}

/// Leaves the names for the manager in the spec's annotations.
pub fn annotate(spec: &mut Value, user: Option<&str>, group_add: &[String]) {
    if let Some(u) = user {
        spec["annotations"][USER_ANNOTATION] = json!(u);
    }
    if !group_add.is_empty() {
        spec["annotations"][GROUP_ADD_ANNOTATION] = json!(group_add.join(","));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_here_names_for_the_manager() {
        assert_eq!(
            classify("1000:0").unwrap(),
            UserSpec::Numeric(User { uid: 1000, gid: 0 })
        );
        assert_eq!(
            classify("nobody:nogroup").unwrap(),
            UserSpec::Named("nobody:nogroup".into())
        );
        assert!(classify("a b").is_err());
        assert!(classify("x:").is_err());
        assert_eq!(requested(None, "web").unwrap().as_deref(), Some("web"));
        assert_eq!(requested(Some("0"), "web").unwrap().as_deref(), Some("0"));
        assert_eq!(requested(None, "").unwrap(), None);
        assert!(requested(Some("a b"), "").is_err());
        assert!(is_named("web") && !is_named("0:0"));
        assert!(check_group_add(&["12".into(), "staff".into()]).is_ok());
        assert!(check_group_add(&["a b".into()]).is_err());
        let mut spec = json!({});
        annotate(&mut spec, Some("web"), &["1".into(), "staff".into()]);
        assert_eq!(spec["annotations"][GROUP_ADD_ANNOTATION], "1,staff");
    }
}
