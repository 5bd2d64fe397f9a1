//! Variable substitution in Dockerfile words, the way the builder applies it
//! to ENV, LABEL, ARG, COPY, ADD, FROM, EXPOSE, USER, VOLUME, WORKDIR and
//! STOPSIGNAL: `$V`, `${V}`, `${V:-x}`, `${V-x}`, `${V:+x}`, `${V+x}`,
//! `${V:?msg}`, single quotes taken literally, double quotes with `$`
//! expanded, and the escape character making the next one literal.  Quotes
//! and escapes are removed from the result.

/// A word could not be expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LexError {
    #[error("unexpected end of statement while looking for matching {0}")]
    Unterminated(&'static str),
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    #[error("unsupported modifier ({0}) in substitution")]
    Modifier(char),
    #[error("{0}")]
    Required(String),
}

/// Looks a variable up: `None` when it is not set at all.
pub trait Vars {
    fn lookup(&self, name: &str) -> Option<String>;
}

impl Vars for [(String, String)] {
    /// The last definition wins, as in an environment list.
    fn lookup(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Vars for Vec<(String, String)> {
    fn lookup(&self, name: &str) -> Option<String> {
        self.as_slice().lookup(name)
    }
}

/// Expands one word with `escape` as the escape character (`\` or `` ` ``).
pub fn expand(word: &str, vars: &(impl Vars + ?Sized), escape: char) -> Result<String, LexError> {
    let mut lx = Lexer {
        chars: word.chars().collect(),
        pos: 0,
        escape,
        vars,
    };
    lx.until(None)
}

/// Expands every word of `words`.
pub fn expand_all(
    words: &[String],
    vars: &(impl Vars + ?Sized),
    escape: char,
) -> Result<Vec<String>, LexError> {
    words.iter().map(|w| expand(w, vars, escape)).collect()
}

struct Lexer<'a, V: Vars + ?Sized> {
    chars: Vec<char>,
    pos: usize,
    escape: char,
    vars: &'a V,
}

impl<V: Vars + ?Sized> Lexer<'_, V> {
    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    /// Reads up to (and consumes) `stop`, or to the end when `stop` is None.
    fn until(&mut self, stop: Option<char>) -> Result<String, LexError> {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if Some(c) == stop {
                self.pos += 1;
                return Ok(out);
            }
            match c {
                '\'' => out.push_str(&self.single_quoted()?),
                '"' => out.push_str(&self.double_quoted()?),
                '$' => out.push_str(&self.dollar()?),
                _ => {
                    self.pos += 1;
                    if c == self.escape {
                        match self.next() {
                            Some(n) => out.push(n),
                            None => break,
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
        if stop.is_some() {
            return Err(LexError::MissingBrace);
        }
        Ok(out)
    }

    fn single_quoted(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.next() {
                None => return Err(LexError::Unterminated("single-quote")),
                Some('\'') => return Ok(out),
                Some(c) => out.push(c),
            }
        }
    }

    fn double_quoted(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(LexError::Unterminated("double-quote")),
                Some('"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('$') => out.push_str(&self.dollar()?),
                Some(c) => {
                    self.pos += 1;
                    if c == self.escape {
                        // inside double quotes the escape only protects ", $ and itself
                        match self.peek() {
                            Some(n) if n == '"' || n == '$' || n == self.escape => {
                                self.pos += 1;
                                out.push(n);
                            }
                            _ => out.push(c),
                        }
                    } else {
                        out.push(c);
                    }
                }
            }
        }
    }

    fn name(&mut self) -> String {
        let mut name = String::new();
        match self.peek() {
            Some(c) if c.is_ascii_digit() => {
                while let Some(c) = self.peek().filter(|c| c.is_ascii_digit()) {
                    name.push(c);
                    self.pos += 1;
                }
            }
            _ => {
                while let Some(c) = self
                    .peek()
                    .filter(|c| c.is_ascii_alphanumeric() || *c == '_')
                {
                    name.push(c);
                    self.pos += 1;
                }
            }
        }
        name
    }

    fn dollar(&mut self) -> Result<String, LexError> {
        self.pos += 1;
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(self.vars.lookup(&name).unwrap_or_default());
        }
        self.pos += 1;
        match self.peek() {
            None => return Err(LexError::MissingBrace),
            Some('{') | Some('}') | Some(':') => return Err(LexError::BadSubstitution),
            _ => {}
        }
        let name = self.name();
        let value = self.vars.lookup(&name);
        match self.next() {
            None => Err(LexError::MissingBrace),
            Some('}') => Ok(value.unwrap_or_default()),
            Some(':') => {
                let modifier = self.next().ok_or(LexError::MissingBrace)?;
                let word = self.until(Some('}'))?;
                let set_nonempty = value.as_deref().is_some_and(|v| !v.is_empty());
                match modifier {
                    '-' if set_nonempty => Ok(value.unwrap_or_default()),
                    '-' => Ok(word),
                    '+' if set_nonempty => Ok(word),
                    '+' => Ok(String::new()),
                    '?' if set_nonempty => Ok(value.unwrap_or_default()),
                    '?' => Err(required(&name, &word)),
                    m => Err(LexError::Modifier(m)),
                }
            }
            Some(m @ ('-' | '+' | '?')) => {
                let word = self.until(Some('}'))?;
                match (m, value) {
                    ('-', Some(v)) => Ok(v),
                    ('-', None) => Ok(word),
                    ('+', Some(_)) => Ok(word),
                    ('+', None) => Ok(String::new()),
                    (_, Some(v)) => Ok(v),
                    (_, None) => Err(required(&name, &word)),
                }
            }
            Some(_) if name.is_empty() => Err(LexError::BadSubstitution),
            Some(m) => Err(LexError::Modifier(m)),
        }
    }
}

fn required(name: &str, message: &str) -> LexError {
    if message.is_empty() {
        LexError::Required(format!("{name}: is not allowed to be unset"))
    } else {
        LexError::Required(format!("{name}: {message}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Vec<(String, String)> {
        vec![
            ("A".into(), "apple".into()),
            ("E".into(), String::new()),
            ("S".into(), "two words".into()),
        ]
    }

    fn x(w: &str) -> String {
        expand(w, &env(), '\\').unwrap()
    }

    #[test]
    fn plain_and_braced() {
        assert_eq!(x("$A"), "apple");
        assert_eq!(x("${A}"), "apple");
        assert_eq!(x("x${A}y"), "xappley");
        assert_eq!(x("$A/b"), "apple/b");
        assert_eq!(x("$NOPE"), "");
        assert_eq!(x("a$"), "a$");
        assert_eq!(x("$ A"), "$ A");
        assert_eq!(x("$S"), "two words");
    }

    #[test]
    fn modifiers_follow_the_shell() {
        assert_eq!(x("${NOPE:-def}"), "def");
        assert_eq!(x("${E:-def}"), "def");
        assert_eq!(x("${E-def}"), "");
        assert_eq!(x("${NOPE-def}"), "def");
        assert_eq!(x("${A:-def}"), "apple");
        assert_eq!(x("${A:+alt}"), "alt");
        assert_eq!(x("${E:+alt}"), "");
        assert_eq!(x("${E+alt}"), "alt");
        assert_eq!(x("${NOPE:+alt}"), "");
        assert_eq!(x("${NOPE:-$A}"), "apple");
        assert_eq!(x("${NOPE:-${A:+x}y}"), "xy");
        assert_eq!(
            expand("${NOPE:?must be set}", &env(), '\\').unwrap_err(),
            LexError::Required("NOPE: must be set".into())
        );
    }

    #[test]
    fn quotes_and_escapes() {
        assert_eq!(x("'$A'"), "$A");
        assert_eq!(x("\"$A\""), "apple");
        assert_eq!(x("\"a b\""), "a b");
        assert_eq!(x("\\$A"), "$A");
        assert_eq!(x("a\\ b"), "a b");
        assert_eq!(x("\"\\$A \\\" \\x\""), "$A \" \\x");
        assert_eq!(x("'it''s'"), "its");
        assert_eq!(expand("`$A", &env(), '`').unwrap(), "$A");
        assert_eq!(expand("c:\\dir", &env(), '`').unwrap(), "c:\\dir");
    }

    #[test]
    fn errors() {
        assert_eq!(
            expand("'abc", &env(), '\\').unwrap_err(),
            LexError::Unterminated("single-quote")
        );
        assert_eq!(
            expand("\"abc", &env(), '\\').unwrap_err(),
            LexError::Unterminated("double-quote")
        );
        assert_eq!(
            expand("${A", &env(), '\\').unwrap_err(),
            LexError::MissingBrace
        );
        assert_eq!(
            expand("${}", &env(), '\\').unwrap_err(),
            LexError::BadSubstitution
        );
        assert_eq!(
            expand("${A%x}", &env(), '\\').unwrap_err(),
            LexError::Modifier('%')
        );
    }
}
