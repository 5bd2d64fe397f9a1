//! The Dockerfile's text to instructions: parser directives (`# escape=`,
//! `# syntax=`), comments, line continuations, `--flag=value` options, the
//! JSON (exec) and shell forms, and each instruction's arguments.  Variables
//! are not expanded here: that happens per step, with the values in scope
//! then (see [`crate::lex`]).

use std::collections::BTreeMap;

/// The file could not be parsed; names the file and the line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct ParseError {
    pub file: String,
    pub line: usize,
    pub message: String,
}

/// A command in exec form (`["a","b"]`) or shell form (`a b`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Exec(Vec<String>),
    Shell(String),
}

/// `HEALTHCHECK` options and command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub test: Command,
    pub interval: Option<String>,
    pub timeout: Option<String>,
    pub start_period: Option<String>,
    pub retries: Option<String>,
}

/// `COPY` / `ADD` arguments, not yet expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Copy {
    pub from: Option<String>,
    pub chown: Option<String>,
    pub chmod: Option<String>,
    pub sources: Vec<String>,
    pub dest: String,
}

/// One instruction with its arguments as written (quotes kept where a later
/// expansion removes them).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    From {
        image: String,
        name: Option<String>,
        platform: Option<String>,
    },
    Run(Command),
    Cmd(Command),
    Entrypoint(Command),
    /// `KEY=VALUE` pairs (raw words) or the legacy `KEY VALUE`
    Env(Vec<(String, String)>),
    /// names with optional default values (raw)
    Arg(Vec<(String, Option<String>)>),
    Label(Vec<(String, String)>),
    Expose(Vec<String>),
    Volume(Vec<String>),
    User(String),
    Workdir(String),
    Copy(Copy),
    Add(Copy),
    Shell(Vec<String>),
    StopSignal(String),
    /// `None` is `HEALTHCHECK NONE`
    Healthcheck(Option<Health>),
    /// the trigger's text, checked to parse, run in a child build
    Onbuild(Box<Instruction>),
    Maintainer(String),
}

/// One instruction, where it was, and its text (continuations joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    pub line: usize,
    pub original: String,
    pub kind: Kind,
}

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub escape: char,
    pub instructions: Vec<Instruction>,
}

/// Parses `text`; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Parsed, ParseError> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let lines: Vec<&str> = text.lines().collect();
    let err = |line: usize, message: String| ParseError {
        file: file.to_string(),
        line,
        message,
    };
    let mut escape = '\\';
    let mut i = 0;
    // directives: only at the very top, before any other line
    let mut seen = Vec::new();
    while i < lines.len() {
        let Some((name, value)) = directive(lines[i]) else {
            break;
        };
        if seen.contains(&name) {
            return Err(err(
                i + 1,
                format!("only one {name} parser directive can be used"),
            ));
        }
        if name == "escape" {
            escape = match value.as_str() {
                "\\" => '\\',
                "`" => '`',
                v => {
                    return Err(err(
                        i + 1,
                        format!("invalid escape token '{v}' does not match ` or \\"),
                    ))
                }
            };
        }
        seen.push(name);
        i += 1;
    }

    let mut out = Vec::new();
    while i < lines.len() {
        let raw = lines[i].trim_start();
        i += 1;
        let start = i;
        if raw.starts_with('#') || raw.trim().is_empty() {
            continue;
        }
        let (mut line, mut more) = trim_continuation(raw, escape);
        while more && i < lines.len() {
            let next = lines[i];
            i += 1;
            let trimmed = next.trim_start();
            if trimmed.starts_with('#') || trimmed.trim().is_empty() {
                continue;
            }
            let (part, m) = trim_continuation(next, escape);
            line.push_str(&part);
            more = m;
        }
        if line.trim().is_empty() {
            continue;
        }
        let ins = instruction(&line, escape).map_err(|m| err(start, m))?;
        out.push(Instruction {
            line: start,
            original: line.trim().to_string(),
            kind: ins,
        });
    }
    Ok(Parsed {
        escape,
        instructions: out,
    })
}

/// `# name=value` at the top of the file; only escape and syntax are known,
/// and an unknown one ends the directives like any comment.
fn directive(line: &str) -> Option<(String, String)> {
    let rest = line.trim().strip_prefix('#')?;
    let (name, value) = rest.split_once('=')?;
    let name = name.trim().to_ascii_lowercase();
    if name != "escape" && name != "syntax" {
        return None;
    }
    Some((name, value.trim().to_string()))
}

/// Removes a trailing escape (and the blanks after it): the line goes on.
fn trim_continuation(line: &str, escape: char) -> (String, bool) {
    let t = line.trim_end_matches([' ', '\t']);
    match t.strip_suffix(escape) {
        Some(rest) => (rest.to_string(), true),
        None => (line.to_string(), false),
    }
}

fn instruction(line: &str, escape: char) -> Result<Kind, String> {
    let line = line.trim();
    let (word, rest) = match line.find(char::is_whitespace) {
        Some(n) => (&line[..n], line[n..].trim_start()),
        None => (line, ""),
    };
    let cmd = word.to_ascii_lowercase();
    let upper = word.to_ascii_uppercase();
    let (flags, rest) = if matches!(
        cmd.as_str(),
        "from" | "copy" | "add" | "healthcheck" | "run"
    ) {
        flags(rest)?
    } else {
        (BTreeMap::new(), rest.to_string())
    };
    let rest = rest.as_str();
    let allowed: &[&str] = match cmd.as_str() {
        "from" => &["platform"],
        "copy" => &["from", "chown", "chmod", "link"],
        "add" => &["chown", "chmod", "link", "checksum", "keep-git-dir"],
        "healthcheck" => &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
        "run" => &[],
        _ => &[],
    };
    if let Some(k) = flags.keys().find(|k| !allowed.contains(&k.as_str())) {
        return Err(format!("unknown flag: --{k}"));
    }
    let needs_args = |what: &str| -> Result<(), String> {
        if rest.is_empty() {
            Err(format!("{what} requires at least one argument"))
        } else {
            Ok(())
        }
    };
    Ok(match cmd.as_str() {
        "from" => {
            let words: Vec<&str> = rest.split_whitespace().collect();
            match words.as_slice() {
                [image] => Kind::From {
                    image: image.to_string(),
                    name: None,
                    platform: flags.get("platform").cloned(),
                },
                [image, as_, name] if as_.eq_ignore_ascii_case("as") => Kind::From {
                    image: image.to_string(),
                    name: Some(name.to_ascii_lowercase()),
                    platform: flags.get("platform").cloned(),
                },
                [] => return Err("FROM requires either one or three arguments".into()),
                _ => return Err("FROM requires either one or three arguments".into()),
            }
        }
        "run" => {
            needs_args("RUN")?;
            Kind::Run(command(rest)?)
        }
        "cmd" => Kind::Cmd(command(rest)?),
        "entrypoint" => Kind::Entrypoint(command(rest)?),
        "shell" => match json_array(rest)? {
            Some(v) if !v.is_empty() => Kind::Shell(v),
            _ => return Err("SHELL requires the arguments to be in JSON form".into()),
        },
        "env" | "label" => {
            let pairs = name_values(rest, &upper, escape)?;
            if cmd == "env" {
                Kind::Env(pairs)
            } else {
                Kind::Label(pairs)
            }
        }
        "arg" => {
            let words = words(rest, escape);
            if words.is_empty() {
                return Err("ARG requires exactly one argument".into());
            }
            Kind::Arg(
                words
                    .into_iter()
                    .map(|w| match w.split_once('=') {
                        Some((k, v)) => (k.to_string(), Some(v.to_string())),
                        None => (w, None),
                    })
                    .collect(),
            )
        }
        "expose" => {
            needs_args("EXPOSE")?;
            Kind::Expose(rest.split_whitespace().map(String::from).collect())
        }
        "volume" => {
            needs_args("VOLUME")?;
            let v = json_or_words(rest)?;
            if v.iter().any(|p| p.trim().is_empty()) {
                return Err("VOLUME specified can not be an empty string".into());
            }
            Kind::Volume(v)
        }
        "user" => {
            needs_args("USER")?;
            Kind::User(rest.to_string())
        }
        "workdir" => {
            needs_args("WORKDIR")?;
            Kind::Workdir(rest.to_string())
        }
        "stopsignal" => {
            needs_args("STOPSIGNAL")?;
            Kind::StopSignal(rest.to_string())
        }
        "maintainer" => {
            needs_args("MAINTAINER")?;
            Kind::Maintainer(rest.to_string())
        }
        "copy" | "add" => {
            let mut all = json_or_words(rest)?;
            if all.len() < 2 {
                return Err(format!("{upper} requires at least two arguments, but only one was provided. Destination could not be determined."));
            }
            let dest = all.pop().unwrap_or_default();
            let c = Copy {
                from: flags.get("from").cloned(),
                chown: flags.get("chown").cloned(),
                chmod: flags.get("chmod").cloned(),
                sources: all,
                dest,
            };
            if cmd == "copy" {
                Kind::Copy(c)
            } else {
                Kind::Add(c)
            }
        }
        "healthcheck" => {
            let (kind, args) = match rest.find(char::is_whitespace) {
                Some(n) => (&rest[..n], rest[n..].trim_start()),
                None => (rest, ""),
            };
            if kind.eq_ignore_ascii_case("none") {
                if !args.is_empty() || !flags.is_empty() {
                    return Err("HEALTHCHECK NONE takes no arguments".into());
                }
                Kind::Healthcheck(None)
            } else if kind.eq_ignore_ascii_case("cmd") {
                if args.is_empty() {
                    return Err("Missing command after HEALTHCHECK CMD".into());
                }
                Kind::Healthcheck(Some(Health {
                    test: command(args)?,
                    interval: flags.get("interval").cloned(),
                    timeout: flags.get("timeout").cloned(),
                    start_period: flags.get("start-period").cloned(),
                    retries: flags.get("retries").cloned(),
                }))
            } else {
                return Err(format!("Unknown type {kind:?} in HEALTHCHECK (try CMD)"));
            }
        }
        "onbuild" => {
            needs_args("ONBUILD")?;
            let inner = instruction(rest, escape)?;
            match inner {
                Kind::Onbuild(_) => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".into())
                }
                Kind::From { .. } | Kind::Maintainer(_) => {
                    return Err(format!(
                        "{} isn't allowed as an ONBUILD trigger",
                        rest.split_whitespace()
                            .next()
                            .unwrap_or("")
                            .to_ascii_uppercase()
                    ))
                }
                _ => {}
            }
            Kind::Onbuild(Box::new(Instruction {
                line: 0,
                original: rest.to_string(),
                kind: inner,
            }))
        }
        _ => return Err(format!("unknown instruction: {upper}")),
    })
}

/// Leading `--name=value` (or `--name`) words.
fn flags(rest: &str) -> Result<(BTreeMap<String, String>, String), String> {
    let mut out = BTreeMap::new();
    let mut rest = rest.trim_start();
    while let Some(after) = rest.strip_prefix("--") {
        let end = after.find(char::is_whitespace).unwrap_or(after.len());
        let word = &after[..end];
        rest = after[end..].trim_start();
        if word.is_empty() {
            break;
        }
        let (k, v) = match word.split_once('=') {
            Some((k, v)) => (k, v),
            None => (word, "true"),
        };
        if out.insert(k.to_ascii_lowercase(), v.to_string()).is_some() {
            return Err(format!("duplicate flag specified: --{k}"));
        }
    }
    Ok((out, rest.to_string()))
}

/// Exec form when the text is a JSON array of strings, else shell form.
fn command(rest: &str) -> Result<Command, String> {
    Ok(match json_array(rest)? {
        Some(v) => Command::Exec(v),
        None => Command::Shell(rest.to_string()),
    })
}

/// `Some` for a JSON array of strings; `None` for text that is not JSON at
/// all (shell form); an error for a JSON array holding something else.
fn json_array(rest: &str) -> Result<Option<Vec<String>>, String> {
    if !rest.starts_with('[') {
        return Ok(None);
    }
    let Ok(v) = serde_json::from_str::<serde_json::Value>(rest) else {
        return Ok(None);
    };
    let Some(items) = v.as_array() else {
        return Ok(None);
    };
    items
        .iter()
        .map(|i| i.as_str().map(String::from))
        .collect::<Option<Vec<_>>>()
        .map(Some)
        .ok_or_else(|| format!("malformed JSON: expected an array of strings, got {rest}"))
}

fn json_or_words(rest: &str) -> Result<Vec<String>, String> {
    Ok(match json_array(rest)? {
        Some(v) => v,
        None => rest.split_whitespace().map(String::from).collect(),
    })
}

/// Splits on blanks outside quotes, keeping quotes and escapes in the words
/// (expansion removes them later).
pub fn words(rest: &str, escape: char) -> Vec<String> {
    let mut out = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    let mut blank_ok = false;
    let chars: Vec<char> = rest.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        i += 1;
        if let Some(q) = quote {
            if c == q {
                quote = None;
            }
            // inside single quotes the escape is an ordinary character
            if c != escape || q == '\'' {
                word.push(c);
                continue;
            }
        } else {
            if c.is_whitespace() {
                if in_word && (blank_ok || !word.is_empty()) {
                    out.push(std::mem::take(&mut word));
                }
                in_word = false;
                blank_ok = false;
                continue;
            }
            in_word = true;
            if c == '\'' || c == '"' {
                quote = Some(c);
                blank_ok = true;
            }
            if c != escape {
                word.push(c);
                continue;
            }
        }
        // an escape stays with the character after it; one at the end goes
        if i < chars.len() {
            word.push(c);
            word.push(chars[i]);
            i += 1;
        }
    }
    if in_word && (blank_ok || !word.is_empty()) {
        out.push(word);
    }
    out
}

/// ENV / LABEL: `k=v k2="v 2"`, or the legacy `k v…` (one pair, the rest of
/// the line as the value).
fn name_values(rest: &str, what: &str, escape: char) -> Result<Vec<(String, String)>, String> {
    let ws = words(rest, escape);
    if ws.is_empty() {
        return Err(format!("{what} requires at least one argument"));
    }
    if !ws[0].contains('=') {
        let Some(n) = rest.find(char::is_whitespace) else {
            return Err(format!("{what} must have two arguments"));
        };
        let value = rest[n..].trim_start();
        return Ok(vec![(rest[..n].to_string(), value.to_string())]);
    }
    ws.into_iter()
        .map(|w| match w.split_once('=') {
            Some(("", _)) => Err(format!("{what} names can not be blank")),
            Some((k, v)) => Ok((k.to_string(), v.to_string())),
            None => Err(format!(
                "Syntax error - can't find = in {w:?}. Must be of the form: name=value"
            )),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(text: &str) -> Kind {
        let p = parse("Dockerfile", text).unwrap();
        assert_eq!(p.instructions.len(), 1, "{:?}", p.instructions);
        p.instructions.into_iter().next().unwrap().kind
    }

    fn fail(text: &str) -> ParseError {
        parse("Dockerfile", text).unwrap_err()
    }

    #[test]
    fn comments_blanks_and_continuations() {
        let p = parse(
            "Dockerfile",
            "# a comment\n\nFROM busybox\n  # indented comment\nRUN echo a \\\n  # inside\n\n    && echo b\nCMD x\n",
        )
        .unwrap();
        let lines: Vec<_> = p.instructions.iter().map(|i| i.line).collect();
        assert_eq!(lines, vec![3, 5, 9]);
        assert_eq!(p.instructions[1].original, "RUN echo a     && echo b");
        assert_eq!(
            p.instructions[1].kind,
            Kind::Run(Command::Shell("echo a     && echo b".into()))
        );
    }

    #[test]
    fn continuation_allows_trailing_blanks() {
        assert_eq!(
            one("RUN a \\  \n b"),
            Kind::Run(Command::Shell("a  b".into()))
        );
    }

    #[test]
    fn escape_directive() {
        let p = parse(
            "Dockerfile",
            "# escape=`\nFROM x\nRUN dir c:\\ `\n  && echo\n",
        )
        .unwrap();
        assert_eq!(p.escape, '`');
        assert_eq!(
            p.instructions[1].kind,
            Kind::Run(Command::Shell("dir c:\\   && echo".into()))
        );
        // a directive after the first instruction is just a comment
        let p = parse("Dockerfile", "FROM x\n# escape=`\nRUN a \\\n b").unwrap();
        assert_eq!(p.escape, '\\');
        assert_eq!(p.instructions.len(), 2);
        // syntax is accepted and ignored
        assert_eq!(
            parse(
                "Dockerfile",
                "# syntax=docker/dockerfile:1\n# escape=\\\nFROM x"
            )
            .unwrap()
            .instructions
            .len(),
            1
        );
        assert_eq!(fail("# escape=x\nFROM a").line, 1);
        assert!(fail("# escape=`\n# escape=\\\nFROM a")
            .message
            .contains("only one escape"));
    }

    #[test]
    fn exec_and_shell_forms() {
        assert_eq!(
            one(r#"CMD ["echo", "a b"]"#),
            Kind::Cmd(Command::Exec(vec!["echo".into(), "a b".into()]))
        );
        assert_eq!(
            one("ENTRYPOINT echo hi"),
            Kind::Entrypoint(Command::Shell("echo hi".into()))
        );
        // not JSON: shell form, as docker takes it
        assert_eq!(
            one("CMD [\"a\", 'b']"),
            Kind::Cmd(Command::Shell("[\"a\", 'b']".into()))
        );
        assert!(fail("CMD [\"a\", 1]").message.contains("malformed JSON"));
        assert_eq!(
            one(r#"SHELL ["/bin/bash", "-c"]"#),
            Kind::Shell(vec!["/bin/bash".into(), "-c".into()])
        );
        assert!(fail("SHELL /bin/bash -c").message.contains("JSON form"));
    }

    #[test]
    fn from_forms() {
        assert_eq!(
            one("FROM busybox:1 AS Build"),
            Kind::From {
                image: "busybox:1".into(),
                name: Some("build".into()),
                platform: None
            }
        );
        assert_eq!(
            one("from --platform=linux/amd64 scratch"),
            Kind::From {
                image: "scratch".into(),
                name: None,
                platform: Some("linux/amd64".into())
            }
        );
        assert!(fail("FROM a b").message.contains("one or three"));
        assert!(fail("FROM --nope=1 a")
            .message
            .contains("unknown flag: --nope"));
    }

    #[test]
    fn env_label_arg() {
        assert_eq!(
            one(r#"ENV A=b C="d e" F=g\ h"#),
            Kind::Env(vec![
                ("A".into(), "b".into()),
                ("C".into(), "\"d e\"".into()),
                ("F".into(), "g\\ h".into())
            ])
        );
        assert_eq!(
            one("ENV A b c"),
            Kind::Env(vec![("A".into(), "b c".into())])
        );
        assert!(fail("ENV A").message.contains("two arguments"));
        assert!(fail("ENV A=1 B").message.contains("can't find ="));
        assert_eq!(
            one(r#"LABEL "com.x"="y z""#),
            Kind::Label(vec![("\"com.x\"".into(), "\"y z\"".into())])
        );
        assert_eq!(
            one("ARG A=1 B"),
            Kind::Arg(vec![("A".into(), Some("1".into())), ("B".into(), None)])
        );
    }

    #[test]
    fn copy_add_flags() {
        assert_eq!(
            one("COPY --from=build --chown=1:2 a b* /dst/"),
            Kind::Copy(Copy {
                from: Some("build".into()),
                chown: Some("1:2".into()),
                chmod: None,
                sources: vec!["a".into(), "b*".into()],
                dest: "/dst/".into()
            })
        );
        assert_eq!(
            one(r#"ADD ["a b", "/c d"]"#),
            Kind::Add(Copy {
                from: None,
                chown: None,
                chmod: None,
                sources: vec!["a b".into()],
                dest: "/c d".into()
            })
        );
        assert!(fail("COPY a").message.contains("at least two arguments"));
        assert!(fail("ADD --from=x a b").message.contains("unknown flag"));
    }

    #[test]
    fn healthcheck_and_onbuild() {
        assert_eq!(one("HEALTHCHECK NONE"), Kind::Healthcheck(None));
        assert_eq!(
            one("HEALTHCHECK --interval=5s --retries=3 CMD [\"true\"]"),
            Kind::Healthcheck(Some(Health {
                test: Command::Exec(vec!["true".into()]),
                interval: Some("5s".into()),
                timeout: None,
                start_period: None,
                retries: Some("3".into())
            }))
        );
        match one("ONBUILD RUN echo hi") {
            Kind::Onbuild(i) => {
                assert_eq!(i.original, "RUN echo hi");
                assert_eq!(i.kind, Kind::Run(Command::Shell("echo hi".into())));
            }
            k => panic!("{k:?}"),
        }
        assert!(fail("ONBUILD ONBUILD RUN x").message.contains("Chaining"));
        assert!(fail("ONBUILD FROM x").message.contains("isn't allowed"));
    }

    #[test]
    fn unknown_instruction_names_its_line() {
        let e = fail("FROM a\n\nRUNN echo\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.to_string(), "Dockerfile:3: unknown instruction: RUNN");
    }

    #[test]
    fn other_instructions() {
        assert_eq!(
            one("EXPOSE 80 443/udp"),
            Kind::Expose(vec!["80".into(), "443/udp".into()])
        );
        assert_eq!(
            one("VOLUME /a /b"),
            Kind::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(one("VOLUME [\"/a\"]"), Kind::Volume(vec!["/a".into()]));
        assert_eq!(one("USER 1000:1000"), Kind::User("1000:1000".into()));
        assert_eq!(one("WORKDIR /a b"), Kind::Workdir("/a b".into()));
        assert_eq!(
            one("STOPSIGNAL SIGKILL"),
            Kind::StopSignal("SIGKILL".into())
        );
        assert_eq!(one("MAINTAINER me"), Kind::Maintainer("me".into()));
        assert!(fail("WORKDIR").message.contains("requires at least one"));
    }

    #[test]
    fn words_keep_quotes_for_expansion() {
        assert_eq!(
            words(r#"a "b c" d\ e '' x"#, '\\'),
            vec!["a", "\"b c\"", "d\\ e", "''", "x"]
        );
    }
}
