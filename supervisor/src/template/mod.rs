//! Go's text/template language over JSON values, as docker users write it
//! in `--format`: `{{.State.Pid}}`, `{{json .}}`, `{{range .Mounts}}…{{end}}`,
//! `{{index .Config.Labels "k"}}`, `{{.Names | printf "%s"}}`, `{{if}}…`.
//! Parsing and running are separate so a malformed template is refused
//! before anything is asked of the manager. No template crate fits: the Go
//! engines on crates.io are unmaintained and work on their own value type,
//! not on the serde values every berth command already builds.

mod exec;
mod funcs;
mod parse;

use std::collections::BTreeSet;

use serde_json::Value;

pub use exec::Missing;
pub use funcs::json_go;

/// A template that failed to parse or to run, worded as Go's.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TemplateError {
    /// `template: :1: unclosed action`.
    #[error("template: {name}:{line}: {msg}")]
    Parse {
        name: String,
        line: usize,
        msg: String,
    },
    /// `template: :1:2: executing "" at <.Nope>: can't evaluate field …`.
    #[error("template: {name}:{line}:{col}: executing \"{name}\" at <{node}>: {msg}")]
    Exec {
        name: String,
        line: usize,
        col: usize,
        node: String,
        msg: String,
    },
}

/// The fields of its data a template may read by name (see
/// [`Template::reads`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Reads {
    /// the whole data may be handed on (`{{json .}}`, `{{range $k, $v := .}}`)
    All,
    /// at most these fields
    Only(BTreeSet<String>),
}

impl Reads {
    /// Whether the field `name` may be read.
    pub fn wants(&self, name: &str) -> bool {
        match self {
            Reads::All => true,
            Reads::Only(names) => names.contains(name),
        }
    }
}

/// A piece of a plain template (see [`Template::pieces`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Piece<'a> {
    Text(&'a str),
    /// `{{.Name}}`: a field of dot, printed as it is when it is a string
    Field(&'a str),
}

/// A parsed template.
#[derive(Debug, Clone)]
pub struct Template {
    name: String,
    src: String,
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `src`; unknown functions and unbalanced blocks fail here.
    pub fn parse(src: &str) -> Result<Template, TemplateError> {
        Template::parse_named("", src)
    }

    /// Parses `src` as a template called `name`, which errors repeat
    /// (`template: version:1: …`).
    pub fn parse_named(name: &str, src: &str) -> Result<Template, TemplateError> {
        let nodes = parse::parse(src).map_err(|e| TemplateError::Parse {
            name: name.to_string(),
            line: e.line,
            msg: e.msg,
        })?;
        Ok(Template {
            name: name.to_string(),
            src: src.to_string(),
            nodes,
        })
    }

    /// The fields of the data this template may read: the first name of
    /// every `.A…` and `$.A…` chain (`.Label "k"` reads `Labels`), or all
    /// when a bare `.` or `$` may hand the whole data on. Chains under a
    /// `with` or `range` (whose dot is another value) count too: the set
    /// may hold more than is read, never less. A list builds only these of
    /// each row's fields, so leaving a field out changes no output.
    pub fn reads(&self) -> Reads {
        let mut names = BTreeSet::new();
        if reads_nodes(&self.nodes, &mut names) {
            Reads::Only(names)
        } else {
            Reads::All
        }
    }

    /// The template as pieces when it is text and `{{.Name}}` actions alone,
    /// as list tables are: a list whose cells are strings prints such a
    /// template from them, with what running it on an object of those
    /// strings would print, without making the object. None otherwise.
    pub fn pieces(&self) -> Option<Vec<Piece<'_>>> {
        use parse::{Arg, Cmd, Node, Pipe};
        self.nodes
            .iter()
            .map(|n| match n {
                Node::Text(t) => Some(Piece::Text(t)),
                Node::Action(Pipe { decl, cmds, .. }) if decl.is_empty() => match cmds.as_slice() {
                    [Cmd { args, .. }] => match args.as_slice() {
                        [Arg::Field(chain)] => match chain.as_slice() {
                            [name] => Some(Piece::Field(name)),
                            _ => None,
                        },
                        _ => None,
                    },
                    _ => None,
                },
                _ => None,
            })
            .collect()
    }

    /// Runs the template with `data` as dot; `missing` says how an absent
    /// field reads.
    pub fn execute(&self, data: &Value, missing: Missing) -> Result<String, TemplateError> {
        let mut st = exec::State::new(data, missing);
        st.run(&self.nodes, data).map_err(|e| TemplateError::Exec {
            name: self.name.clone(),
            line: parse::line_of(&self.src, e.pos),
            col: parse::col_of(&self.src, e.pos),
            node: e.node,
            msg: e.msg,
        })?;
        Ok(st.out)
    }
}

/// Adds what `nodes` read to `names`; false when they may read it all.
fn reads_nodes(nodes: &[parse::Node], names: &mut BTreeSet<String>) -> bool {
    use parse::Node;
    nodes.iter().all(|n| match n {
        Node::Text(_) | Node::Break | Node::Continue => true,
        Node::Action(p) => reads_pipe(p, names),
        Node::If {
            pipe,
            then,
            otherwise,
        }
        | Node::With {
            pipe,
            then,
            otherwise,
        }
        | Node::Range {
            pipe,
            then,
            otherwise,
        } => reads_pipe(pipe, names) && reads_nodes(then, names) && reads_nodes(otherwise, names),
    })
}

fn reads_pipe(p: &parse::Pipe, names: &mut BTreeSet<String>) -> bool {
    use parse::Arg;
    p.cmds.iter().flat_map(|c| &c.args).all(|a| {
        let chain = match a {
            Arg::Field(chain) => chain,
            Arg::Var(v, chain) if v == "$" => chain,
            // other variables hold what a pipeline gave them: only a bare
            // `.` or `$`, seen where it was given, is the data itself
            Arg::Var(..) | Arg::Func(_) | Arg::Const(_) => return true,
            Arg::Sub(inner, _) => return reads_pipe(inner, names),
        };
        match chain.first() {
            None => false,
            Some(first) => {
                if chain.last().is_some_and(|l| l == "Label") {
                    names.insert("Labels".to_string());
                }
                names.insert(first.clone());
                true
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CTR: Missing = Missing::Struct("*formatter.ContainerContext");

    fn run(t: &str, v: &Value) -> String {
        Template::parse(t)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
            .execute(v, CTR)
            .unwrap_or_else(|e| panic!("{t}: {e}"))
    }

    fn parse_err(t: &str) -> String {
        Template::parse(t).unwrap_err().to_string()
    }

    fn exec_err(t: &str, v: &Value) -> String {
        Template::parse(t)
            .unwrap()
            .execute(v, CTR)
            .unwrap_err()
            .to_string()
    }

    fn sample() -> Value {
        json!({
            "ID": "abc", "Names": "web", "State": {"Status": "running", "Pid": 5},
            "Env": ["A=1", "B=2"], "Config": {"Labels": {"k": "v", "a.b": "c"}, "Cmd": null},
            "Mounts": [{"Source": "/s", "Destination": "/d"}, {"Source": "/t", "Destination": "/e"}],
            "Count": 3, "Empty": "", "Ratio": 1.5, "Flag": true
        })
    }

    #[test]
    fn fields_and_printing() {
        let v = sample();
        assert_eq!(run("{{.State.Status}}", &v), "running");
        assert_eq!(run("pid={{ .State.Pid }}!", &v), "pid=5!");
        assert_eq!(run("{{.Env}}", &v), "[A=1 B=2]");
        assert_eq!(run("{{.Config.Labels}}", &v), "map[a.b:c k:v]");
        assert_eq!(run("{{.Config.Cmd}}", &v), "[]");
        assert_eq!(run("{{.Ratio}}", &v), "1.5");
        assert_eq!(run("{{.}}", &json!("x")), "x");
        assert_eq!(run("{{json .Env}}", &v), r#"["A=1","B=2"]"#);
        assert_eq!(run("{{json .Config.Cmd}}", &v), "null");
        assert_eq!(run("{{json \"a<b\"}}", &v), r#""a\u003cb""#);
    }

    #[test]
    fn functions() {
        let v = sample();
        assert_eq!(run("{{len .Env}}", &v), "2");
        assert_eq!(run(r#"{{index .Config.Labels "k"}}"#, &v), "v");
        assert_eq!(run(r#"{{index .Config.Labels "nope"}}"#, &v), "");
        assert_eq!(run("{{index .Env 1}}", &v), "B=2");
        assert_eq!(
            run(
                "{{upper .Names}} {{lower \"AB\"}} {{title \"hello world\"}}",
                &v
            ),
            "WEB ab Hello World"
        );
        assert_eq!(run(r#"{{join .Env ","}}"#, &v), "A=1,B=2");
        assert_eq!(run(r#"{{split "a:b:c" ":"}}"#, &v), "[a b c]");
        assert_eq!(run(r#"{{index (split "a:b" ":") 1}}"#, &v), "b");
        assert_eq!(run("{{println .Names}}", &v), "web\n");
        assert_eq!(
            run(
                r#"{{printf "%s-%d|%5s|%-4s|%q" .Names .Count "x" "y" "z"}}"#,
                &v
            ),
            "web-3|    x|y   |\"z\""
        );
        assert_eq!(run(r#"{{.Names | printf "%s!"}}"#, &v), "web!");
        assert_eq!(run(r#"{{.Names | upper | printf "<%s>"}}"#, &v), "<WEB>");
        assert_eq!(run("{{print 1 2 \"a\" 3}}", &v), "1 2a3");
        assert_eq!(
            run(r#"{{pad .Names 1 2}}|{{truncate .Names 2}}"#, &v),
            " web  |we"
        );
        assert_eq!(run(r#"{{slice .Names 1}}"#, &v), "eb");
        assert_eq!(
            run(
                "{{eq .Count 3}} {{ne .Names \"web\"}} {{lt 1 2}} {{ge 1.5 2}}",
                &v
            ),
            "true false true false"
        );
        assert_eq!(run(r#"{{eq .Names "a" "b" "web"}}"#, &v), "true");
        assert_eq!(
            run(
                "{{and .Flag .Empty}}|{{or .Empty .Names}}|{{not .Flag}}",
                &v
            ),
            "|web|false"
        );
    }

    #[test]
    fn control_flow() {
        let v = sample();
        assert_eq!(
            run("{{range .Mounts}}{{.Source}}:{{.Destination}} {{end}}", &v),
            "/s:/d /t:/e "
        );
        assert_eq!(
            run(
                "{{range $i, $m := .Mounts}}{{$i}}={{$m.Source}};{{end}}",
                &v
            ),
            "0=/s;1=/t;"
        );
        assert_eq!(
            run(
                "{{range $k, $v := .Config.Labels}}{{$k}}={{$v}},{{end}}",
                &v
            ),
            "a.b=c,k=v,"
        );
        assert_eq!(
            run(
                "{{range .Nothing}}x{{else}}none{{end}}",
                &json!({"Nothing": []})
            ),
            "none"
        );
        assert_eq!(
            run(
                "{{range .Env}}{{if eq . \"B=2\"}}{{break}}{{end}}{{.}};{{end}}",
                &v
            ),
            "A=1;"
        );
        assert_eq!(
            run(
                "{{range .Env}}{{if eq . \"A=1\"}}{{continue}}{{end}}{{.}}{{end}}",
                &v
            ),
            "B=2"
        );
        assert_eq!(run("{{if .Flag}}yes{{else}}no{{end}}", &v), "yes");
        assert_eq!(
            run(
                "{{if .Empty}}yes{{else if .Count}}count{{else}}no{{end}}",
                &v
            ),
            "count"
        );
        assert_eq!(run("{{with .State}}{{.Pid}}{{end}}", &v), "5");
        assert_eq!(run("{{with .Empty}}x{{else}}empty{{end}}", &v), "empty");
        assert_eq!(
            run("{{$n := .Names}}{{range .Env}}{{$n}}{{end}}", &v),
            "webweb"
        );
        assert_eq!(run("{{$x := 1}}{{$x = 2}}{{$x}}", &v), "2");
        assert_eq!(run("{{range .Env}}{{$.Names}}{{end}}", &v), "webweb");
        assert_eq!(run("a  {{- .Names -}}  b{{/* note */}}", &v), "awebb");
        assert_eq!(run("{{.Label \"k\"}}", &json!({"Labels": "k=v,x=y"})), "v");
    }

    #[test]
    fn reads_names_the_fields_a_template_can_see() {
        let reads = |t: &str| Template::parse(t).unwrap().reads();
        let only = |names: &[&str]| Reads::Only(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(reads("table {{.ID}}\t{{.Names}}"), only(&["ID", "Names"]));
        assert_eq!(
            reads(r#"{{if .State}}{{.Label "k" | upper}}{{end}}{{$.Size}}"#),
            only(&["Label", "Labels", "Size", "State"])
        );
        assert_eq!(
            reads("{{range .Mounts}}{{.Source}}{{end}}{{with .A}}{{.B}}{{end}}"),
            only(&["A", "B", "Mounts", "Source"])
        );
        assert_eq!(
            reads(r#"{{$x := "a"}}{{$x}} {{printf "%s" (.ID)}}"#),
            only(&["ID"])
        );
        assert_eq!(reads("plain"), only(&[]));
        for all in [
            "{{json .}}",
            "{{.}}",
            "{{$}}",
            "{{range $k, $v := .}}{{$k}}{{end}}",
            "{{$r := .}}{{$r.ID}}",
            "{{with .ID}}{{.}}{{end}}",
            r#"{{index . "ID"}}"#,
            "{{(.).ID}}",
        ] {
            assert_eq!(reads(all), Reads::All, "{all}");
        }
        assert!(Reads::All.wants("anything"));
        assert!(!only(&["ID"]).wants("Names"));
    }

    #[test]
    fn plain_templates_come_in_pieces() {
        let t = Template::parse("{{.ID}}\t{{ .Names }}!").unwrap();
        assert_eq!(
            t.pieces(),
            Some(vec![
                Piece::Field("ID"),
                Piece::Text("\t"),
                Piece::Field("Names"),
                Piece::Text("!"),
            ])
        );
        for not_plain in [
            "{{.}}",
            "{{.A.B}}",
            "{{.A | upper}}",
            "{{json .A}}",
            "{{$x := .A}}",
            "{{if .A}}x{{end}}",
            "{{$.A}}",
            r#"{{.Label "k"}}"#,
        ] {
            assert_eq!(
                Template::parse(not_plain).unwrap().pieces(),
                None,
                "{not_plain}"
            );
        }
    }

    #[test]
    fn errors_read_as_go() {
        let v = sample();
        assert_eq!(parse_err("{{.ID"), "template: :1: unclosed action");
        assert_eq!(
            parse_err("{{foo .ID}}"),
            "template: :1: function \"foo\" not defined"
        );
        assert_eq!(parse_err("{{if}}"), "template: :1: missing value for if");
        assert_eq!(parse_err("{{end}}"), "template: :1: unexpected {{end}}");
        assert_eq!(parse_err("{{if .A}}x"), "template: :1: unexpected EOF");
        assert_eq!(
            parse_err("{{$x}}"),
            "template: :1: undefined variable \"$x\""
        );
        assert_eq!(
            parse_err("a\n{{\"open}}"),
            "template: :2: unterminated quoted string"
        );
        assert_eq!(
            exec_err("{{.Nope}}", &v),
            "template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"
        );
        let e = Template::parse("x{{.Nope}}")
            .unwrap()
            .execute(&v, Missing::Map)
            .unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: :1:3: executing \"\" at <.Nope>: map has no entry for key \"Nope\""
        );
        // below the context's own fields are maps: a missing key is no value
        assert_eq!(run("{{.State.Nope}}", &v), "<no value>");
        assert_eq!(run("{{.Config.Labels.nope}}", &v), "<no value>");
        assert!(exec_err("{{index .Env 5}}", &v).contains("index out of range: 5"));
        assert!(exec_err("{{upper .Count}}", &v).contains("expected string"));
        // text after the last action is kept, a lone }} is text
        assert_eq!(run("{{.ID}}}}", &v), "abc}}");
    }
}
