//! `.dockerignore`: which context paths a build never sees.  Docker's rules:
//! `#` comment lines, blanks trimmed, paths cleaned and a leading `/`
//! dropped, `*` and `?` within one path element, `**` across any number of
//! them, `!` re-including what an earlier pattern excluded, the last
//! matching pattern winning, and a path excluded when one of its parent
//! directories is.

use regex::Regex;

/// A pattern could not be compiled.
#[derive(Debug, thiserror::Error)]
#[error(".dockerignore: bad pattern {pattern:?}: {reason}")]
pub struct IgnoreError {
    pub pattern: String,
    pub reason: String,
}

#[derive(Debug, Clone)]
struct Pattern {
    exclusion: bool,
    regex: Regex,
}

/// Compiled `.dockerignore` patterns.
#[derive(Debug, Clone, Default)]
pub struct Ignore {
    patterns: Vec<Pattern>,
}

/// `filepath.Clean` for slash-separated paths.
pub fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                if out.last().is_some_and(|l| *l != "..") {
                    out.pop();
                } else if !rooted {
                    out.push("..");
                }
            }
            p => out.push(p),
        }
    }
    let joined = out.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

impl Ignore {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Result<Ignore, IgnoreError> {
        let mut patterns = Vec::new();
        for line in text.lines() {
            if line.starts_with('#') {
                continue;
            }
            let mut p = line.trim();
            if p.is_empty() {
                continue;
            }
            let exclusion = p.starts_with('!');
            if exclusion {
                p = p[1..].trim();
            }
            let mut cleaned = if p.is_empty() {
                String::new()
            } else {
                clean(p)
            };
            if cleaned.len() > 1 && cleaned.starts_with('/') {
                cleaned.remove(0);
            }
            let regex = Regex::new(&to_regex(&cleaned)).map_err(|e| IgnoreError {
                pattern: line.to_string(),
                reason: e.to_string(),
            })?;
            patterns.push(Pattern { exclusion, regex });
        }
        Ok(Ignore { patterns })
    }

    /// True when `path` (relative to the context, slash-separated) is left
    /// out of the build.
    pub fn excludes(&self, path: &str) -> bool {
        let path = clean(path);
        let parents: Vec<&str> = path.split('/').collect();
        let mut matched = false;
        for p in &self.patterns {
            // an exclusion can only undo a match, an inclusion only make one
            if p.exclusion != matched {
                continue;
            }
            let mut hit = p.regex.is_match(&path);
            if !hit && parents.len() > 1 {
                for i in 1..parents.len() {
                    if p.regex.is_match(&parents[..i].join("/")) {
                        hit = true;
                        break;
                    }
                }
            }
            if hit {
                matched = !p.exclusion;
            }
        }
        matched
    }

    /// True when some `!` pattern could re-include something under an
    /// excluded directory, so the walk must still look inside it.
    pub fn has_exceptions(&self) -> bool {
        self.patterns.iter().any(|p| p.exclusion)
    }
}

fn to_regex(pattern: &str) -> String {
    let mut re = String::from("^");
    let chars: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        match c {
            '*' if chars.get(i) == Some(&'*') => {
                i += 1;
                if chars.get(i) == Some(&'/') {
                    i += 1;
                }
                if i >= chars.len() {
                    re.push_str(".*");
                } else {
                    re.push_str("(.*/)?");
                }
            }
            '*' => re.push_str("[^/]*"),
            '?' => re.push_str("[^/]"),
            '\\' => {
                if i < chars.len() {
                    re.push_str(&regex::escape(&chars[i].to_string()));
                    i += 1;
                } else {
                    re.push_str("\\\\");
                }
            }
            '[' | ']' => re.push(c),
            '^' if re.ends_with('[') => re.push('^'),
            c => re.push_str(&regex::escape(&c.to_string())),
        }
    }
    re.push('$');
    re
}

/// `filepath.Match`-style glob for COPY sources: `*`, `?` and classes within
/// one path element.
pub fn glob_matches(pattern: &str, path: &str) -> bool {
    let p: Vec<&str> = pattern.split('/').collect();
    let f: Vec<&str> = path.split('/').collect();
    if p.len() != f.len() {
        return false;
    }
    p.iter().zip(f.iter()).all(|(p, f)| {
        Regex::new(&to_regex(p))
            .map(|r| r.is_match(f))
            .unwrap_or(false)
    })
}

/// True when a COPY source uses glob characters.
pub fn is_glob(s: &str) -> bool {
    s.contains(['*', '?', '['])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ig(text: &str) -> Ignore {
        Ignore::parse(text).unwrap()
    }

    #[test]
    fn clean_paths() {
        assert_eq!(clean("a//b/./c/.."), "a/b");
        assert_eq!(clean("/../a"), "/a");
        assert_eq!(clean("../a"), "../a");
        assert_eq!(clean("./"), ".");
        assert_eq!(clean("a/../.."), "..");
    }

    #[test]
    fn plain_and_parent_dirs() {
        let i = ig("# comment\n  node_modules  \n/build\n*.log\n");
        assert!(i.excludes("node_modules"));
        assert!(i.excludes("node_modules/x/y.js"));
        assert!(i.excludes("build/out"));
        assert!(i.excludes("a.log"));
        assert!(!i.excludes("dir/a.log"));
        assert!(!i.excludes("src/node_modules"));
        assert!(!i.excludes("# comment"));
    }

    #[test]
    fn double_star() {
        let i = ig("**/*.tmp\ndocs/**\n");
        assert!(i.excludes("a.tmp"));
        assert!(i.excludes("x/y/a.tmp"));
        assert!(i.excludes("docs/a/b"));
        assert!(!i.excludes("a.tmpx"));
        let i = ig("a/**/b");
        assert!(i.excludes("a/b"));
        assert!(i.excludes("a/x/y/b"));
        assert!(!i.excludes("a/xb"));
    }

    #[test]
    fn exceptions_and_last_match_wins() {
        let i = ig("*.md\n!README.md\n");
        assert!(i.excludes("CHANGES.md"));
        assert!(!i.excludes("README.md"));
        let i = ig("!README.md\n*.md\n");
        assert!(i.excludes("README.md"));
        let i = ig("dir\n!dir/keep\n");
        assert!(i.excludes("dir/other"));
        assert!(!i.excludes("dir/keep"));
        assert!(i.has_exceptions());
    }

    #[test]
    fn question_mark_and_classes() {
        let i = ig("file?.txt\n[ab].c\n[^x]y\n");
        assert!(i.excludes("file1.txt"));
        assert!(!i.excludes("file12.txt"));
        assert!(i.excludes("a.c"));
        assert!(!i.excludes("c.c"));
        assert!(i.excludes("zy"));
        assert!(!i.excludes("xy"));
    }

    #[test]
    fn escapes_and_specials() {
        let i = ig("a\\*b\nx+y\n");
        assert!(i.excludes("a*b"));
        assert!(!i.excludes("aXb"));
        assert!(i.excludes("x+y"));
    }

    #[test]
    fn globs_for_copy() {
        assert!(glob_matches("*.txt", "a.txt"));
        assert!(!glob_matches("*.txt", "d/a.txt"));
        assert!(glob_matches("d/*", "d/a.txt"));
        assert!(glob_matches("f?le", "file"));
        assert!(is_glob("a*"));
        assert!(!is_glob("a"));
    }
}
