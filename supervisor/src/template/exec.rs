//! Runs parsed templates over JSON values: field chains, variables,
//! pipelines (the previous command's result as the next one's last
//! argument), `if`/`with`/`range` with `else`, `break` and `continue`.

use std::borrow::Cow;

use serde_json::Value;

use super::funcs::{self, go_string, truthy, type_name};
use super::parse::{Arg, Cmd, Node, Pipe};

/// How a missing field reads: as docker's typed contexts (`can't evaluate
/// field X in type T`) or as its raw inspect maps (`map has no entry`).
#[derive(Debug, Clone, Copy)]
pub enum Missing {
    Struct(&'static str),
    Map,
}

/// An execution error: the command it happened in and why.
pub struct ExecError {
    pub pos: usize,
    pub node: String,
    pub msg: String,
}

enum Flow {
    Normal,
    Break,
    Continue,
}

/// Fields docker's structs hold as slices or maps: their nil prints `[]` or
/// `map[]`, not `<no value>`.
const SLICE_FIELDS: [&str; 9] = [
    "Cmd",
    "Entrypoint",
    "Env",
    "OnBuild",
    "Layers",
    "RepoTags",
    "RepoDigests",
    "Args",
    "Mounts",
];
const MAP_FIELDS: [&str; 4] = ["Labels", "Volumes", "ExposedPorts", "Options"];

pub struct State<'a> {
    pub out: String,
    /// `$`, read in place: a list renders each of its rows with a fresh
    /// state, and a copy of each row would cost more than the rendering
    root: Cow<'a, Value>,
    /// variables declared since
    vars: Vec<(String, Value)>,
    missing: Missing,
    cmd: Option<&'a Cmd>,
}

impl<'a> State<'a> {
    pub fn new(root: &'a Value, missing: Missing) -> Self {
        State {
            out: String::new(),
            root: Cow::Borrowed(root),
            vars: Vec::new(),
            missing,
            cmd: None,
        }
    }

    fn fail(&self, msg: impl Into<String>) -> ExecError {
        ExecError {
            pos: self.cmd.map_or(0, |c| c.pos),
            node: self.cmd.map(|c| c.text.clone()).unwrap_or_default(),
            msg: msg.into(),
        }
    }

    pub fn run(&mut self, nodes: &'a [Node], dot: &Value) -> Result<(), ExecError> {
        self.walk(nodes, dot).map(|_| ())
    }

    fn walk(&mut self, nodes: &'a [Node], dot: &Value) -> Result<Flow, ExecError> {
        for n in nodes {
            match n {
                Node::Text(t) => self.out.push_str(t),
                // `{{.A.B}}`, most of what list tables print: read in place,
                // not copied out of the row and printed from the copy
                Node::Action(Pipe { decl, cmds, .. })
                    if decl.is_empty()
                        && matches!(cmds.as_slice(), [Cmd { args, .. }] if matches!(args.as_slice(), [Arg::Field(_)])) =>
                {
                    let c = &cmds[0];
                    let Arg::Field(chain) = &c.args[0] else {
                        continue;
                    };
                    let saved = self.cmd.replace(c);
                    let v = self.fields(dot, chain)?;
                    self.cmd = saved;
                    match v {
                        Value::String(s) => self.out.push_str(s),
                        v => {
                            let text = print_value(v, chain.last().map(String::as_str));
                            self.out.push_str(&text);
                        }
                    }
                }
                Node::Action(p) => {
                    let v = self.pipe(p, dot)?;
                    if p.decl.is_empty() {
                        let text = print_value(&v, last_field(p));
                        self.out.push_str(&text);
                    }
                }
                Node::If {
                    pipe,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = if truthy(&v) {
                        self.walk(then, dot)?
                    } else {
                        self.walk(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::With {
                    pipe,
                    then,
                    otherwise,
                } => {
                    let mark = self.vars.len();
                    let v = self.pipe(pipe, dot)?;
                    let flow = if truthy(&v) {
                        self.walk(then, &v)?
                    } else {
                        self.walk(otherwise, dot)?
                    };
                    self.vars.truncate(mark);
                    if !matches!(flow, Flow::Normal) {
                        return Ok(flow);
                    }
                }
                Node::Range {
                    pipe,
                    then,
                    otherwise,
                } => {
                    let bare = Pipe {
                        decl: Vec::new(),
                        assign: false,
                        cmds: pipe.cmds.clone(),
                    };
                    let v = self.eval_cmds(&pipe.cmds, dot, &bare)?;
                    let items: Vec<(Value, Value)> = match v {
                        Value::Array(a) => a
                            .into_iter()
                            .enumerate()
                            .map(|(i, x)| (Value::from(i), x))
                            .collect(),
                        Value::Object(o) => {
                            o.into_iter().map(|(k, x)| (Value::String(k), x)).collect()
                        }
                        Value::Null => Vec::new(),
                        Value::Number(n) if n.as_i64().is_some() => (0..n.as_i64().unwrap_or(0))
                            .map(|i| (Value::from(i), Value::from(i)))
                            .collect(),
                        other => {
                            return Err(self
                                .fail(format!("range can't iterate over {}", go_string(&other))))
                        }
                    };
                    if items.is_empty() {
                        match self.walk(otherwise, dot)? {
                            Flow::Normal => continue,
                            f => return Ok(f),
                        }
                    }
                    for (k, x) in items {
                        let mark = self.vars.len();
                        match pipe.decl.as_slice() {
                            [v] => self.vars.push((v.clone(), x.clone())),
                            [a, b] => {
                                self.vars.push((a.clone(), k));
                                self.vars.push((b.clone(), x.clone()));
                            }
                            _ => {}
                        }
                        let flow = self.walk(then, &x)?;
                        self.vars.truncate(mark);
                        if matches!(flow, Flow::Break) {
                            break;
                        }
                    }
                }
                Node::Break => return Ok(Flow::Break),
                Node::Continue => return Ok(Flow::Continue),
            }
        }
        Ok(Flow::Normal)
    }

    /// Evaluates a pipeline and binds its variables.
    fn pipe(&mut self, p: &'a Pipe, dot: &Value) -> Result<Value, ExecError> {
        let v = self.eval_cmds(&p.cmds, dot, p)?;
        for name in &p.decl {
            if p.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = v.clone();
                } else if name == "$" {
                    self.root = Cow::Owned(v.clone());
                }
            } else {
                self.vars.push((name.clone(), v.clone()));
            }
        }
        Ok(v)
    }

    fn eval_cmds(&mut self, cmds: &'a [Cmd], dot: &Value, _p: &Pipe) -> Result<Value, ExecError> {
        let mut last: Option<Value> = None;
        for c in cmds {
            last = Some(self.command(c, dot, last)?);
        }
        Ok(last.unwrap_or(Value::Null))
    }

    fn command(
        &mut self,
        c: &'a Cmd,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, ExecError> {
        let saved = self.cmd.replace(c);
        let r = self.command_inner(c, dot, piped);
        if r.is_ok() {
            self.cmd = saved;
        }
        r
    }

    fn command_inner(
        &mut self,
        c: &'a Cmd,
        dot: &Value,
        piped: Option<Value>,
    ) -> Result<Value, ExecError> {
        let (first, rest) = c
            .args
            .split_first()
            .ok_or_else(|| self.fail("empty command"))?;
        match first {
            Arg::Func(name) if name == "and" || name == "or" => {
                // evaluated lazily, stopping at the first decisive operand
                let mut last = Value::Null;
                let n = rest.len() + usize::from(piped.is_some());
                if n == 0 {
                    return Err(self.fail(format!(
                        "wrong number of args for {name}: want at least 1 got 0"
                    )));
                }
                for a in rest {
                    last = self.arg(a, dot)?;
                    if truthy(&last) == (name == "or") {
                        return Ok(last);
                    }
                }
                if let Some(p) = piped {
                    last = p;
                }
                Ok(last)
            }
            Arg::Func(name) => {
                let mut args = Vec::with_capacity(rest.len() + 1);
                for a in rest {
                    args.push(self.arg(a, dot)?);
                }
                args.extend(piped);
                funcs::call(name, args).map_err(|m| self.fail(m))
            }
            // .Label "key": the one method docker's list contexts offer
            Arg::Field(chain) if chain.last().is_some_and(|l| l == "Label") && rest.len() == 1 => {
                let holder = self.fields(dot, &chain[..chain.len() - 1])?;
                let key = self.arg(&rest[0], dot)?;
                Ok(label(holder, &go_string(&key)))
            }
            _ => {
                if !rest.is_empty() || piped.is_some() {
                    return Err(self.fail(format!(
                        "can't give argument to non-function {}",
                        arg_text(first)
                    )));
                }
                self.arg(first, dot)
            }
        }
    }

    fn arg(&mut self, a: &'a Arg, dot: &Value) -> Result<Value, ExecError> {
        match a {
            Arg::Field(chain) => self.fields(dot, chain).cloned(),
            Arg::Var(name, chain) => {
                let base = self.vars.iter().rev().find(|(n, _)| n == name);
                match base {
                    Some((_, v)) => self.fields(v, chain).cloned(),
                    None if name == "$" => self.fields(&self.root, chain).cloned(),
                    None => Err(self.fail(format!("undefined variable: {name}"))),
                }
            }
            Arg::Sub(p, chain) => {
                let v = self.pipe(p, dot)?;
                self.fields(&v, chain).cloned()
            }
            Arg::Func(name) => funcs::call(name, Vec::new()).map_err(|m| self.fail(m)),
            Arg::Const(v) => Ok(v.clone()),
        }
    }

    fn fields<'v>(&self, base: &'v Value, chain: &[String]) -> Result<&'v Value, ExecError> {
        let mut cur = base;
        for name in chain {
            cur = match cur {
                Value::Object(o) => match o.get(name) {
                    Some(x) => x,
                    None => match self.missing {
                        // the context itself is a struct: an unknown field
                        // is an error; below it are maps (labels, event
                        // attributes) whose missing keys print <no value>
                        Missing::Struct(t) if std::ptr::eq(cur, base) => {
                            return Err(
                                self.fail(format!("can't evaluate field {name} in type {t}"))
                            )
                        }
                        Missing::Struct(_) => &Value::Null,
                        Missing::Map => {
                            return Err(self.fail(format!("map has no entry for key {name:?}")))
                        }
                    },
                },
                Value::Null => {
                    return Err(self.fail(format!("nil pointer evaluating interface {{}}.{name}")))
                }
                other => {
                    return Err(self.fail(format!(
                        "can't evaluate field {name} in type {}",
                        type_name(other)
                    )))
                }
            };
        }
        Ok(cur)
    }
}

/// `.Label "k"`: the value of label k from a `Labels` map or docker's
/// `k=v,k2=v2` list string.
fn label(holder: &Value, key: &str) -> Value {
    match &holder["Labels"] {
        Value::Object(o) => o.get(key).cloned().unwrap_or(Value::String(String::new())),
        Value::String(s) => Value::String(
            s.split(',')
                .filter_map(|kv| kv.split_once('='))
                .find(|(k, _)| *k == key)
                .map(|(_, v)| v.to_string())
                .unwrap_or_default(),
        ),
        _ => Value::String(String::new()),
    }
}

fn arg_text(a: &Arg) -> String {
    match a {
        Arg::Field(c) if c.is_empty() => ".".into(),
        Arg::Field(c) => format!(".{}", c.join(".")),
        Arg::Var(v, c) if c.is_empty() => v.clone(),
        Arg::Var(v, c) => format!("{v}.{}", c.join(".")),
        Arg::Sub(..) => "(pipeline)".into(),
        Arg::Func(f) => f.clone(),
        Arg::Const(v) => go_string(v),
    }
}

/// The field a lone `{{.A.B}}` action reads, for printing docker's nil
/// slices and maps.
fn last_field(p: &Pipe) -> Option<&str> {
    match p.cmds.as_slice() {
        [Cmd { args, .. }] => match args.as_slice() {
            [Arg::Field(c)] | [Arg::Var(_, c)] => c.last().map(String::as_str),
            _ => None,
        },
        _ => None,
    }
}

/// A value as a template prints it.
fn print_value(v: &Value, field: Option<&str>) -> String {
    match (v, field) {
        (Value::Null, Some(f)) if SLICE_FIELDS.contains(&f) => "[]".into(),
        (Value::Null, Some(f)) if MAP_FIELDS.contains(&f) => "map[]".into(),
        (Value::Null, _) => "<no value>".into(),
        _ => go_string(v),
    }
}
