//! `.env`, `--env-file` and `env_file:` files: `KEY=VALUE` lines, `export`
//! prefixes, `#` comments, single quotes (literal), double quotes (escapes,
//! may span lines) and `${VAR}` interpolation in unquoted and double-quoted
//! values. A bare `KEY` takes its value from the environment, or is left out.

use std::collections::BTreeMap;

use crate::interpolate::Interpolator;

/// Parses a dotenv text. `lookup` resolves variables the file does not set
/// itself; errors carry their 1-based line.
pub fn parse(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<(String, String)>, (usize, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    let lines: Vec<&str> = text.lines().collect();
    let mut i = 0;
    while i < lines.len() {
        let lineno = i + 1;
        let line = lines[i].trim_start();
        i += 1;
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let line = line
            .strip_prefix("export ")
            .map(str::trim_start)
            .unwrap_or(line);
        let (key, value) = match line.split_once('=') {
            Some((k, v)) => (k.trim_end(), Some(v.trim_start())),
            None => (line.trim_end(), None),
        };
        if !valid_key(key) {
            return Err((lineno, format!("invalid variable name {key:?}")));
        }
        let Some(value) = value else {
            if let Some(v) = lookup(key) {
                out.push((key.to_string(), v));
            }
            continue;
        };
        let known = out.clone();
        let resolve = |name: &str| {
            lookup(name).or_else(|| {
                known
                    .iter()
                    .rev()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.clone())
            })
        };
        let value = if let Some(rest) = value.strip_prefix('\'') {
            let (v, used) = quoted(rest, '\'', &lines[i..])
                .ok_or((lineno, "unterminated single-quoted value".to_string()))?;
            i += used;
            v
        } else if let Some(rest) = value.strip_prefix('"') {
            let (v, used) = quoted(rest, '"', &lines[i..])
                .ok_or((lineno, "unterminated double-quoted value".to_string()))?;
            i += used;
            let v = unescape(&v);
            Interpolator::new(&resolve)
                .string(&v)
                .map_err(|e| (lineno, e.to_string()))?
        } else {
            // an unquoted value ends at a comment preceded by whitespace
            let v = match value.find(" #").or_else(|| value.find("\t#")) {
                Some(at) => &value[..at],
                None => value,
            };
            Interpolator::new(&resolve)
                .string(v.trim_end())
                .map_err(|e| (lineno, e.to_string()))?
        };
        out.push((key.to_string(), value));
    }
    Ok(out)
}

/// Parses a dotenv text into a map, later lines winning.
pub fn parse_map(
    text: &str,
    lookup: &dyn Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, (usize, String)> {
    Ok(parse(text, lookup)?.into_iter().collect())
}

fn valid_key(k: &str) -> bool {
    let mut chars = k.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

/// The text up to the closing `quote` (`\` escapes it in double quotes),
/// continuing over the following lines; with the number of extra lines used.
fn quoted(first: &str, quote: char, more: &[&str]) -> Option<(String, usize)> {
    let mut acc = String::new();
    let mut used = 0;
    let mut cur = first.to_string();
    loop {
        let mut escaped = false;
        for (idx, c) in cur.char_indices() {
            if escaped {
                escaped = false;
                continue;
            }
            if c == '\\' && quote == '"' {
                escaped = true;
                continue;
            }
            if c == quote {
                acc.push_str(&cur[..idx]);
                return Some((acc, used));
            }
        }
        acc.push_str(&cur);
        acc.push('\n');
        cur = more.get(used)?.to_string();
        used += 1;
    }
}

fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some('r') => out.push('\r'),
            Some('"') => out.push('"'),
            Some('\\') => out.push('\\'),
            // keep `\$` as `$$` so interpolation yields a literal `$`
            Some('$') => out.push_str("$$"),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(text: &str) -> Vec<(String, String)> {
        let lookup = |k: &str| (k == "HOME").then(|| "/root".to_string());
        parse(text, &lookup).unwrap()
    }

    fn kv(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn plain_lines_comments_and_export() {
        assert_eq!(
            p("# c\nA=1\n\nexport B = two words \nC=x # note\nD=a#b\nE=\n"),
            kv(&[
                ("A", "1"),
                ("B", "two words"),
                ("C", "x"),
                ("D", "a#b"),
                ("E", "")
            ])
        );
    }

    #[test]
    fn quotes() {
        assert_eq!(
            p("A='lit $HOME # x'\nB=\"esc\\n${HOME}\"\nC=\"multi\nline\"\nD=after\n"),
            kv(&[
                ("A", "lit $HOME # x"),
                ("B", "esc\n/root"),
                ("C", "multi\nline"),
                ("D", "after")
            ])
        );
    }

    #[test]
    fn interpolation_sees_earlier_lines_and_the_environment() {
        assert_eq!(
            p("A=1\nB=${A}-$HOME-${NOPE:-d}\nHOME\nNOPE\n"),
            kv(&[("A", "1"), ("B", "1-/root-d"), ("HOME", "/root")])
        );
    }

    #[test]
    fn errors_carry_lines() {
        let lookup = |_: &str| None;
        assert_eq!(parse("A=1\n1BAD=2\n", &lookup).unwrap_err().0, 2);
        assert_eq!(parse("A='open\n", &lookup).unwrap_err().0, 1);
        assert_eq!(parse("\nA=${X:?need x}\n", &lookup).unwrap_err().0, 2);
    }
}
