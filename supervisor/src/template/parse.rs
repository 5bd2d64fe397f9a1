//! Lexer and parser of the template language: text, `{{…}}` actions with
//! `{{-`/`-}}` trimming and comments, pipelines of commands joined by `|`,
//! variables, and the `if`/`range`/`with` blocks with `else`, `break` and
//! `continue`. Errors read as the Go template package's (`template: :1:
//! unclosed action`), since scripts and users compare them.

use serde_json::Value;

use super::funcs;

/// A parsed template body.
#[derive(Debug, Clone)]
pub enum Node {
    Text(String),
    Action(Pipe),
    If {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    With {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Range {
        pipe: Pipe,
        then: Vec<Node>,
        otherwise: Vec<Node>,
    },
    Break,
    Continue,
}

/// `$a, $b := cmd | cmd`.
#[derive(Debug, Clone)]
pub struct Pipe {
    pub decl: Vec<String>,
    /// `=` instead of `:=`: assigns variables already declared.
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

/// One command of a pipeline, with where it starts and its text for errors.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Arg>,
    pub pos: usize,
    pub text: String,
}

/// An operand.
#[derive(Debug, Clone)]
pub enum Arg {
    /// `.A.B`; empty for `.` itself.
    Field(Vec<String>),
    /// `$x.A.B`.
    Var(String, Vec<String>),
    /// `(pipeline).A.B`.
    Sub(Box<Pipe>, Vec<String>),
    Func(String),
    Const(Value),
}

/// Why a template does not parse: the line and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct ParseError {
    pub line: usize,
    pub msg: String,
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Dot,
    Field(String),
    Var(String),
    Ident(String),
    Str(String),
    Num(Value),
    LParen,
    RParen,
    Pipe,
    Declare,
    Assign,
    Comma,
}

/// A token, its offset in the template, and whether space came before it.
#[derive(Debug, Clone)]
struct Token {
    tok: Tok,
    pos: usize,
    spaced: bool,
}

enum Item {
    Text(String),
    Action { toks: Vec<Token>, pos: usize },
}

/// Line (from 1) of byte offset `pos` in `src`.
pub fn line_of(src: &str, pos: usize) -> usize {
    src[..pos.min(src.len())].matches('\n').count() + 1
}

/// Column (byte offset from the line's start) of `pos`, as Go counts it.
pub fn col_of(src: &str, pos: usize) -> usize {
    let pos = pos.min(src.len());
    match src[..pos].rfind('\n') {
        Some(nl) => pos - nl - 1,
        None => pos,
    }
}

/// Parses `src` into nodes.
pub fn parse(src: &str) -> Result<Vec<Node>, ParseError> {
    let items = split(src)?;
    let mut p = Parser {
        src,
        items,
        at: 0,
        vars: vec!["$".into()],
        range_depth: 0,
    };
    let (nodes, end) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End(pos) => Err(p.err(pos, "unexpected {{end}}")),
        Stop::Else(pos, _) => Err(p.err(pos, "unexpected {{else}}")),
    }
}

/// Splits the template into text and lexed actions, applying trim markers.
fn split(src: &str) -> Result<Vec<Item>, ParseError> {
    let mut items = Vec::new();
    let mut rest = 0;
    let mut trim_next = false;
    while let Some(found) = src[rest..].find("{{") {
        let start = rest + found;
        let mut text = &src[rest..start];
        if trim_next {
            text = text.trim_start();
        }
        let mut inner = start + 2;
        let trim_before = src[inner..].starts_with("- ")
            || src[inner..].starts_with("-\t")
            || src[inner..].starts_with("-\n");
        if trim_before {
            text = text.trim_end();
            inner += 1;
        }
        if !text.is_empty() {
            items.push(Item::Text(text.to_string()));
        }
        let (toks, close, trim_after) = lex_action(src, inner)?;
        if !toks.is_empty() {
            items.push(Item::Action { toks, pos: inner });
        }
        trim_next = trim_after;
        rest = close;
    }
    let mut text = &src[rest..];
    if trim_next {
        text = text.trim_start();
    }
    if !text.is_empty() {
        items.push(Item::Text(text.to_string()));
    }
    Ok(items)
}

/// Lexes one action from `start` up to `}}`; returns its tokens, the offset
/// after the delimiter and whether it ended in `-}}`. A comment action
/// yields no tokens.
fn lex_action(src: &str, start: usize) -> Result<(Vec<Token>, usize, bool), ParseError> {
    let err = |pos: usize, msg: &str| ParseError {
        line: line_of(src, pos),
        msg: msg.to_string(),
    };
    let b = src.as_bytes();
    let mut i = start;
    while i < b.len() && (b[i] as char).is_ascii_whitespace() {
        i += 1;
    }
    if src[i..].starts_with("/*") {
        let end = src[i..]
            .find("*/")
            .ok_or_else(|| err(start, "unclosed comment"))?;
        let mut j = i + end + 2;
        let mut trim = false;
        if src[j..].starts_with(" -}}") {
            trim = true;
            j += 1;
        }
        if !src[j..].starts_with("}}") {
            return Err(err(start, "comment ends before closing delimiter"));
        }
        return Ok((Vec::new(), j + 2, trim));
    }
    let mut toks = Vec::new();
    let mut spaced = true;
    loop {
        if i >= b.len() {
            return Err(err(start, "unclosed action"));
        }
        let c = b[i] as char;
        if c.is_ascii_whitespace() {
            let j = i;
            while i < b.len() && (b[i] as char).is_ascii_whitespace() {
                i += 1;
            }
            if src[i..].starts_with("-}}") && i > j {
                return Ok((toks, i + 3, true));
            }
            spaced = true;
            continue;
        }
        if src[i..].starts_with("}}") {
            return Ok((toks, i + 2, false));
        }
        let pos = i;
        let tok = match c {
            '(' => {
                i += 1;
                Tok::LParen
            }
            ')' => {
                i += 1;
                Tok::RParen
            }
            '|' => {
                i += 1;
                Tok::Pipe
            }
            ',' => {
                i += 1;
                Tok::Comma
            }
            '=' => {
                i += 1;
                Tok::Assign
            }
            ':' if src[i..].starts_with(":=") => {
                i += 2;
                Tok::Declare
            }
            '"' => {
                let (s, end) =
                    lex_quoted(src, i).ok_or_else(|| err(pos, "unterminated quoted string"))?;
                i = end;
                Tok::Str(s)
            }
            '`' => {
                let end = src[i + 1..]
                    .find('`')
                    .ok_or_else(|| err(pos, "unterminated raw quoted string"))?;
                let s = src[i + 1..i + 1 + end].to_string();
                i += end + 2;
                Tok::Str(s)
            }
            '.' if !b.get(i + 1).is_some_and(|d| d.is_ascii_digit()) => {
                let j = word_end(b, i + 1);
                let name = &src[i + 1..j];
                i = j;
                if name.is_empty() {
                    Tok::Dot
                } else {
                    Tok::Field(name.to_string())
                }
            }
            '$' => {
                let j = word_end(b, i + 1);
                let name = src[i..j].to_string();
                i = j;
                Tok::Var(name)
            }
            c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => {
                let mut j = i + 1;
                while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'.' || b[j] == b'_')
                {
                    j += 1;
                }
                let text = &src[i..j];
                i = j;
                Tok::Num(
                    number(text)
                        .ok_or_else(|| err(pos, &format!("bad number syntax: {text:?}")))?,
                )
            }
            c if c.is_alphabetic() || c == '_' => {
                let j = word_end(b, i);
                let name = src[i..j].to_string();
                i = j;
                Tok::Ident(name)
            }
            other => return Err(err(pos, &format!("unexpected {other:?} in command"))),
        };
        toks.push(Token { tok, pos, spaced });
        spaced = false;
    }
}

fn word_end(b: &[u8], mut j: usize) -> usize {
    while j < b.len() && (b[j].is_ascii_alphanumeric() || b[j] == b'_' || b[j] >= 0x80) {
        j += 1;
    }
    j
}

/// A Go number literal: integers (decimal, hex, octal, binary) and floats.
fn number(text: &str) -> Option<Value> {
    let t = text.replace('_', "");
    let (neg, digits) = match t.strip_prefix('-') {
        Some(d) => (true, d.to_string()),
        None => (false, t.trim_start_matches('+').to_string()),
    };
    let radix = |p: &str, r| {
        digits
            .strip_prefix(p)
            .and_then(|d| i64::from_str_radix(d, r).ok())
    };
    let int = radix("0x", 16)
        .or_else(|| radix("0X", 16))
        .or_else(|| radix("0b", 2))
        .or_else(|| radix("0o", 8))
        .or_else(|| digits.parse::<i64>().ok());
    if let Some(n) = int {
        return Some(Value::from(if neg { -n } else { n }));
    }
    let f: f64 = digits.parse().ok()?;
    serde_json::Number::from_f64(if neg { -f } else { f }).map(Value::Number)
}

/// A double-quoted Go string from `start`: its value and the offset after.
fn lex_quoted(src: &str, start: usize) -> Option<(String, usize)> {
    let mut out = String::new();
    let mut chars = src[start + 1..].char_indices();
    while let Some((k, c)) = chars.next() {
        match c {
            '"' => return Some((out, start + 1 + k + 1)),
            '\n' => return None,
            '\\' => {
                let (_, e) = chars.next()?;
                match e {
                    'n' => out.push('\n'),
                    't' => out.push('\t'),
                    'r' => out.push('\r'),
                    '\\' => out.push('\\'),
                    '"' => out.push('"'),
                    '\'' => out.push('\''),
                    '0' => out.push('\0'),
                    other => {
                        out.push('\\');
                        out.push(other);
                    }
                }
            }
            c => out.push(c),
        }
    }
    None
}

/// What ended a list of nodes.
enum Stop {
    Eof,
    End(usize),
    /// `{{else}}` or `{{else if …}}`/`{{else with …}}`: the tokens after else.
    Else(usize, Vec<Token>),
}

struct Parser<'a> {
    src: &'a str,
    items: Vec<Item>,
    at: usize,
    vars: Vec<String>,
    range_depth: usize,
}

impl Parser<'_> {
    fn err(&self, pos: usize, msg: &str) -> ParseError {
        ParseError {
            line: line_of(self.src, pos),
            msg: msg.to_string(),
        }
    }

    /// Nodes up to `{{end}}`, `{{else…}}` or the end of the template.
    fn list(&mut self) -> Result<(Vec<Node>, Stop), ParseError> {
        let mut nodes = Vec::new();
        while self.at < self.items.len() {
            let item = std::mem::replace(&mut self.items[self.at], Item::Text(String::new()));
            self.at += 1;
            match item {
                Item::Text(t) => nodes.push(Node::Text(t)),
                Item::Action { toks, pos } => {
                    let keyword = match &toks[0].tok {
                        Tok::Ident(k) => k.as_str(),
                        _ => "",
                    };
                    match keyword {
                        "end" => {
                            self.no_more(&toks[1..], pos, "end")?;
                            return Ok((nodes, Stop::End(pos)));
                        }
                        "else" => return Ok((nodes, Stop::Else(pos, toks[1..].to_vec()))),
                        "if" | "with" | "range" => {
                            nodes.push(self.block(keyword, &toks[1..], pos)?);
                        }
                        "break" | "continue" => {
                            if self.range_depth == 0 {
                                return Err(self.err(
                                    pos,
                                    &format!("{{{{{keyword}}}}} outside {{{{range}}}}"),
                                ));
                            }
                            self.no_more(&toks[1..], pos, keyword)?;
                            nodes.push(if keyword == "break" {
                                Node::Break
                            } else {
                                Node::Continue
                            });
                        }
                        "define" | "template" | "block" => {
                            return Err(self.err(
                                pos,
                                &format!("{{{{{keyword}}}}} is not supported in --format"),
                            ))
                        }
                        _ => {
                            let pipe = self.pipeline(&toks, pos, "command", true)?;
                            nodes.push(Node::Action(pipe));
                        }
                    }
                }
            }
        }
        Ok((nodes, Stop::Eof))
    }

    fn no_more(&self, rest: &[Token], pos: usize, what: &str) -> Result<(), ParseError> {
        match rest.first() {
            None => Ok(()),
            Some(t) => Err(self.err(
                t.pos.max(pos),
                &format!("unexpected {} in {what}", show(&t.tok)),
            )),
        }
    }

    /// `if`/`with`/`range` from its pipeline tokens through its `{{end}}`.
    fn block(&mut self, kind: &str, toks: &[Token], pos: usize) -> Result<Node, ParseError> {
        let mark = self.vars.len();
        let pipe = self.pipeline(toks, pos, kind, kind == "range")?;
        if kind == "range" {
            self.range_depth += 1;
        }
        let (then, end) = self.list()?;
        if kind == "range" {
            self.range_depth -= 1;
        }
        let otherwise = match end {
            Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
            Stop::End(_) => Vec::new(),
            Stop::Else(epos, rest) => match rest.first().map(|t| &t.tok) {
                None => {
                    let (nodes, end) = self.list()?;
                    match end {
                        Stop::End(_) => nodes,
                        Stop::Eof => return Err(self.err(self.src.len(), "unexpected EOF")),
                        Stop::Else(p, _) => return Err(self.err(p, "expected end; found {{else}}")),
                    }
                }
                Some(Tok::Ident(k)) if (k == "if" || k == "with") && kind != "range" => {
                    // else if …: a nested block sharing this one's {{end}}
                    let k = k.clone();
                    vec![self.block(&k, &rest[1..], epos)?]
                }
                Some(t) => return Err(self.err(epos, &format!("unexpected {} in else", show(t)))),
            },
        };
        self.vars.truncate(mark);
        let node = match kind {
            "if" => Node::If {
                pipe,
                then,
                otherwise,
            },
            "with" => Node::With {
                pipe,
                then,
                otherwise,
            },
            _ => Node::Range {
                pipe,
                then,
                otherwise,
            },
        };
        Ok(node)
    }

    /// A pipeline: optional declaration, then commands joined by `|`.
    fn pipeline(
        &mut self,
        toks: &[Token],
        pos: usize,
        ctx: &str,
        two_vars: bool,
    ) -> Result<Pipe, ParseError> {
        let mut decl = Vec::new();
        let mut assign = false;
        let mut rest = toks;
        // $x := … or $i, $v := …
        let is_var = |t: Option<&Token>| matches!(t.map(|t| &t.tok), Some(Tok::Var(_)));
        if is_var(rest.first()) {
            match rest.get(1).map(|t| &t.tok) {
                Some(Tok::Declare) | Some(Tok::Assign) => {
                    if let Tok::Var(v) = &rest[0].tok {
                        decl.push(v.clone());
                    }
                    assign = rest[1].tok == Tok::Assign;
                    rest = &rest[2..];
                }
                Some(Tok::Comma) if two_vars && is_var(rest.get(2)) => {
                    if let (Tok::Var(a), Tok::Var(b)) = (&rest[0].tok, &rest[2].tok) {
                        decl.push(a.clone());
                        decl.push(b.clone());
                    }
                    match rest.get(3).map(|t| &t.tok) {
                        Some(Tok::Declare) => {}
                        Some(Tok::Assign) => assign = true,
                        _ => return Err(self.err(pos, "expected :=")),
                    }
                    rest = &rest[4..];
                }
                _ => {}
            }
        }
        if assign {
            for v in &decl {
                if !self.vars.contains(v) {
                    return Err(self.err(pos, &format!("undefined variable {v:?}")));
                }
            }
        }
        if rest.is_empty() {
            return Err(self.err(pos, &format!("missing value for {ctx}")));
        }
        let mut cmds = Vec::new();
        let mut i = 0;
        loop {
            let (cmd, next) = self.command(rest, i, pos)?;
            cmds.push(cmd);
            i = next;
            match rest.get(i).map(|t| &t.tok) {
                None => break,
                Some(Tok::Pipe) => {
                    i += 1;
                    if i >= rest.len() {
                        return Err(self.err(pos, "missing command"));
                    }
                }
                Some(t) => return Err(self.err(pos, &format!("unexpected {} in operand", show(t)))),
            }
        }
        if !assign {
            self.vars.extend(decl.iter().cloned());
        }
        Ok(Pipe { decl, assign, cmds })
    }

    /// One command from `toks[i]`: operands up to `|`, `)` or the end.
    fn command(
        &mut self,
        toks: &[Token],
        mut i: usize,
        pos: usize,
    ) -> Result<(Cmd, usize), ParseError> {
        let start = toks[i].pos;
        let mut args = Vec::new();
        while let Some(t) = toks.get(i) {
            if matches!(t.tok, Tok::Pipe | Tok::RParen) {
                break;
            }
            let (arg, next) = self.operand(toks, i)?;
            args.push(arg);
            i = next;
        }
        if args.is_empty() {
            return Err(self.err(pos, "missing value for command"));
        }
        let end = toks
            .get(i)
            .map(|t| t.pos)
            .unwrap_or_else(|| action_end(self.src, start));
        let text = self.src[start..end].trim().to_string();
        Ok((
            Cmd {
                args,
                pos: start,
                text,
            },
            i,
        ))
    }

    /// A term and the field chain glued to it.
    fn operand(&mut self, toks: &[Token], i: usize) -> Result<(Arg, usize), ParseError> {
        let t = &toks[i];
        let mut next = i + 1;
        let chain = |first: Vec<String>, next: &mut usize| {
            let mut fields = first;
            while let Some(Token {
                tok: Tok::Field(f),
                spaced: false,
                ..
            }) = toks.get(*next)
            {
                fields.push(f.clone());
                *next += 1;
            }
            fields
        };
        let arg = match &t.tok {
            Tok::Dot => Arg::Field(Vec::new()),
            Tok::Field(f) => Arg::Field(chain(vec![f.clone()], &mut next)),
            Tok::Var(v) => {
                if !self.vars.contains(v) {
                    return Err(self.err(t.pos, &format!("undefined variable {v:?}")));
                }
                Arg::Var(v.clone(), chain(Vec::new(), &mut next))
            }
            Tok::Str(s) => Arg::Const(Value::String(s.clone())),
            Tok::Num(n) => Arg::Const(n.clone()),
            Tok::Ident(name) => match name.as_str() {
                "true" => Arg::Const(Value::Bool(true)),
                "false" => Arg::Const(Value::Bool(false)),
                "nil" => Arg::Const(Value::Null),
                n if funcs::exists(n) => Arg::Func(n.to_string()),
                n => return Err(self.err(t.pos, &format!("function {n:?} not defined"))),
            },
            Tok::LParen => {
                // find the matching paren
                let mut depth = 0;
                let mut j = i;
                loop {
                    match toks.get(j).map(|t| &t.tok) {
                        Some(Tok::LParen) => depth += 1,
                        Some(Tok::RParen) => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        Some(_) => {}
                        None => return Err(self.err(t.pos, "unclosed left paren")),
                    }
                    j += 1;
                }
                let inner =
                    self.pipeline(&toks[i + 1..j], t.pos, "parenthesized pipeline", false)?;
                next = j + 1;
                Arg::Sub(Box::new(inner), chain(Vec::new(), &mut next))
            }
            other => return Err(self.err(t.pos, &format!("unexpected {} in operand", show(other)))),
        };
        Ok((arg, next))
    }
}

/// Offset of the `}}` (or ` -}}`) closing the action that holds `from`.
fn action_end(src: &str, from: usize) -> usize {
    let end = src[from..].find("}}").map_or(src.len(), |e| from + e);
    if src[..end].ends_with(" -") {
        end - 2
    } else {
        end
    }
}

fn show(t: &Tok) -> String {
    match t {
        Tok::Dot => "\".\"".into(),
        Tok::Field(f) => format!("<.{f}>"),
        Tok::Var(v) => format!("<{v}>"),
        Tok::Ident(i) => format!("<{i}>"),
        Tok::Str(s) => format!("{s:?}"),
        Tok::Num(n) => n.to_string(),
        Tok::LParen => "\"(\"".into(),
        Tok::RParen => "\")\"".into(),
        Tok::Pipe => "\"|\"".into(),
        Tok::Declare => "\":=\"".into(),
        Tok::Assign => "\"=\"".into(),
        Tok::Comma => "\",\"".into(),
    }
}
