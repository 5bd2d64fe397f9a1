//! Variable interpolation as the compose spec has it: `$VAR`, `${VAR}`,
//! `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`,
//! `${VAR:+replacement}`, `${VAR+replacement}` and `$$` for a literal `$`;
//! defaults and replacements are interpolated themselves, so they nest. It
//! runs on the YAML tree before the typed parse: string values only, keys
//! untouched.

use std::collections::BTreeSet;

use serde_norway::Value;

use crate::lines::Seg;

/// Why a string failed to interpolate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InterpolationError {
    /// `${VAR:?msg}` / `${VAR?msg}` with VAR unset (or empty for `:?`).
    Required { var: String, message: String },
    /// A `$` that starts no valid reference.
    Syntax(String),
    /// Defaults nested deeper than [`MAX_NESTING`].
    TooDeep(String),
}

/// How deeply `${A:-${B:-…}}` may nest; real files use two or three levels.
pub const MAX_NESTING: usize = 64;

impl std::fmt::Display for InterpolationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            InterpolationError::Required { var, message } if message.is_empty() => {
                write!(f, "required variable {var} is missing a value")
            }
            InterpolationError::Required { var, message } => {
                write!(f, "required variable {var} is missing a value: {message}")
            }
            InterpolationError::Syntax(s) => write!(
                f,
                "invalid interpolation format in {s:?}: write a literal $ as $$"
            ),
            InterpolationError::TooDeep(s) => write!(
                f,
                "variables nested more than {MAX_NESTING} levels deep in {s:?}"
            ),
        }
    }
}

/// Variables looked up during interpolation, with the unset ones remembered
/// for compose's "variable is not set" warnings.
pub struct Interpolator<'a> {
    lookup: &'a dyn Fn(&str) -> Option<String>,
    /// Unset variables that were replaced by an empty string.
    pub unset: BTreeSet<String>,
    depth: usize,
}

impl<'a> Interpolator<'a> {
    pub fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Interpolator {
            lookup,
            unset: BTreeSet::new(),
            depth: 0,
        }
    }

    /// Interpolates every string value under `value`; on failure returns the
    /// path of the failing value with the error.
    pub fn value(
        &mut self,
        value: &mut Value,
        path: &mut Vec<Seg>,
    ) -> Result<(), (Vec<Seg>, InterpolationError)> {
        match value {
            Value::String(s) => {
                if s.contains('$') {
                    *s = self.string(s).map_err(|e| (path.clone(), e))?;
                }
            }
            Value::Sequence(items) => {
                for (i, item) in items.iter_mut().enumerate() {
                    path.push(Seg::Index(i));
                    self.value(item, path)?;
                    path.pop();
                }
            }
            Value::Mapping(map) => {
                for (k, v) in map.iter_mut() {
                    path.push(Seg::Key(crate::merge::key_text(k)));
                    self.value(v, path)?;
                    path.pop();
                }
            }
            Value::Tagged(t) => self.value(&mut t.value, path)?,
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
        Ok(())
    }

    /// Interpolates one string.
    pub fn string(&mut self, s: &str) -> Result<String, InterpolationError> {
        if self.depth > MAX_NESTING {
            return Err(InterpolationError::TooDeep(s.chars().take(40).collect()));
        }
        self.depth += 1;
        let r = self.string_at_depth(s);
        self.depth -= 1;
        r
    }

    fn string_at_depth(&mut self, s: &str) -> Result<String, InterpolationError> {
        let mut out = String::with_capacity(s.len());
        let mut rest = s;
        while let Some(i) = rest.find('$') {
            out.push_str(&rest[..i]);
            let after = &rest[i + 1..];
            if let Some(r) = after.strip_prefix('$') {
                out.push('$');
                rest = r;
            } else if let Some(r) = after.strip_prefix('{') {
                let end = closing_brace(r).ok_or_else(|| InterpolationError::Syntax(s.into()))?;
                out.push_str(&self.braced(&r[..end], s)?);
                rest = &r[end + 1..];
            } else {
                let n = name_len(after);
                if n == 0 {
                    return Err(InterpolationError::Syntax(s.into()));
                }
                out.push_str(&self.plain(&after[..n]));
                rest = &after[n..];
            }
        }
        out.push_str(rest);
        Ok(out)
    }

    fn plain(&mut self, name: &str) -> String {
        match (self.lookup)(name) {
            Some(v) => v,
            None => {
                self.unset.insert(name.to_string());
                String::new()
            }
        }
    }

    /// The inside of `${…}`.
    fn braced(&mut self, inner: &str, whole: &str) -> Result<String, InterpolationError> {
        let n = name_len(inner);
        if n == 0 {
            return Err(InterpolationError::Syntax(whole.into()));
        }
        let name = &inner[..n];
        let op = &inner[n..];
        if op.is_empty() {
            return Ok(self.plain(name));
        }
        let value = (self.lookup)(name);
        let (colon, op) = match op.strip_prefix(':') {
            Some(r) => (true, r),
            None => (false, op),
        };
        let mut chars = op.chars();
        let kind = chars.next();
        let arg = chars.as_str();
        // with a colon, an empty value counts as unset
        let set = match &value {
            Some(v) => !(colon && v.is_empty()),
            None => false,
        };
        match kind {
            Some('-') => {
                if set {
                    Ok(value.unwrap_or_default())
                } else {
                    self.string(arg)
                }
            }
            Some('?') => {
                if set {
                    Ok(value.unwrap_or_default())
                } else {
                    Err(InterpolationError::Required {
                        var: name.to_string(),
                        message: self.string(arg)?,
                    })
                }
            }
            Some('+') => {
                if set {
                    self.string(arg)
                } else {
                    Ok(String::new())
                }
            }
            _ => Err(InterpolationError::Syntax(whole.into())),
        }
    }
}

/// Length of the variable name at the start of `s` (`[A-Za-z_][A-Za-z0-9_]*`).
fn name_len(s: &str) -> usize {
    let b = s.as_bytes();
    if b.is_empty() || !(b[0].is_ascii_alphabetic() || b[0] == b'_') {
        return 0;
    }
    b.iter()
        .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
        .unwrap_or(b.len())
}

/// Index of the `}` closing a `${`, counting nested `${…}`.
fn closing_brace(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'$' if b.get(i + 1) == Some(&b'$') => i += 1,
            b'$' if b.get(i + 1) == Some(&b'{') => {
                depth += 1;
                i += 1;
            }
            b'}' if depth == 0 => return Some(i),
            b'}' => depth -= 1,
            _ => {}
        }
        i += 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn run(s: &str) -> Result<String, InterpolationError> {
        let env: BTreeMap<&str, &str> = [("SET", "val"), ("EMPTY", ""), ("PORT", "8080")].into();
        let lookup = move |k: &str| env.get(k).map(|v| v.to_string());
        Interpolator::new(&lookup).string(s)
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(run("$SET").unwrap(), "val");
        assert_eq!(run("a${SET}b").unwrap(), "avalb");
        assert_eq!(run("$SET-x").unwrap(), "val-x");
        assert_eq!(run("${PORT}:80").unwrap(), "8080:80");
        assert_eq!(run("no vars").unwrap(), "no vars");
    }

    #[test]
    fn dollar_dollar_is_a_literal_dollar() {
        assert_eq!(run("$$SET").unwrap(), "$SET");
        assert_eq!(run("a$$").unwrap(), "a$");
        assert_eq!(run("$${SET}").unwrap(), "${SET}");
    }

    #[test]
    fn defaults_distinguish_unset_and_empty() {
        assert_eq!(run("${UNSET:-d}").unwrap(), "d");
        assert_eq!(run("${UNSET-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY:-d}").unwrap(), "d");
        assert_eq!(run("${EMPTY-d}").unwrap(), "");
        assert_eq!(run("${SET:-d}").unwrap(), "val");
        assert_eq!(run("${UNSET:-}").unwrap(), "");
    }

    #[test]
    fn replacements() {
        assert_eq!(run("${SET:+x}").unwrap(), "x");
        assert_eq!(run("${EMPTY:+x}").unwrap(), "");
        assert_eq!(run("${EMPTY+x}").unwrap(), "x");
        assert_eq!(run("${UNSET+x}").unwrap(), "");
    }

    #[test]
    fn nested_defaults() {
        assert_eq!(run("${UNSET:-${SET}}").unwrap(), "val");
        assert_eq!(run("${UNSET:-${ALSO:-deep}}").unwrap(), "deep");
        assert_eq!(run("${UNSET:-a $$ b}").unwrap(), "a $ b");
        assert_eq!(run("${UNSET:-${SET}-${PORT}}/x").unwrap(), "val-8080/x");
    }

    #[test]
    fn required_variables() {
        assert_eq!(
            run("${UNSET:?set it please}").unwrap_err(),
            InterpolationError::Required {
                var: "UNSET".into(),
                message: "set it please".into()
            }
        );
        assert!(run("${EMPTY:?e}").is_err());
        assert_eq!(run("${EMPTY?e}").unwrap(), "");
        assert_eq!(run("${SET:?e}").unwrap(), "val");
        assert!(run("${UNSET?}")
            .unwrap_err()
            .to_string()
            .contains("required variable UNSET is missing a value"));
    }

    #[test]
    fn nesting_is_bounded() {
        let ok = format!(
            "{}x{}",
            "${U:-".repeat(MAX_NESTING - 1),
            "}".repeat(MAX_NESTING - 1)
        );
        assert_eq!(run(&ok).unwrap(), "x");
        let deep = format!("{}x{}", "${U:-".repeat(10_000), "}".repeat(10_000));
        assert!(matches!(run(&deep), Err(InterpolationError::TooDeep(_))));
    }

    #[test]
    fn syntax_errors() {
        for bad in [
            "$", "${", "${}", "${SET", "$1", "${SET!x}", "a $ b", "${1A}",
        ] {
            assert!(
                matches!(run(bad), Err(InterpolationError::Syntax(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn unset_plain_variables_are_empty_and_recorded() {
        let lookup = |_: &str| None;
        let mut i = Interpolator::new(&lookup);
        assert_eq!(i.string("a${NOPE}b$ALSO").unwrap(), "ab");
        assert_eq!(
            i.unset.iter().cloned().collect::<Vec<_>>(),
            ["ALSO", "NOPE"]
        );
    }

    #[test]
    fn tree_keys_untouched_and_paths_reported() {
        let lookup = |k: &str| (k == "A").then(|| "1".to_string());
        let mut v: Value = serde_norway::from_str(
            "services:\n  $A:\n    image: x${A}\n    ports: [\"${B:?need B}\"]\n",
        )
        .unwrap();
        let mut i = Interpolator::new(&lookup);
        let (path, err) = i.value(&mut v, &mut Vec::new()).unwrap_err();
        assert_eq!(crate::lines::path_string(&path), "services.$A.ports[0]");
        assert!(matches!(err, InterpolationError::Required { .. }));
        assert_eq!(v["services"]["$A"]["image"], Value::String("x1".into()));
    }
}
