//! The one place `--format` is rendered, for every command that has it.
//! List commands (`ps`, `images`, `network ls`, …) turn each item into a
//! JSON object with docker's field names and hand the rows here: their
//! default table is itself a `table {{.ID}}\t…` template, `table` prefixes
//! get a header row from the command's column titles and aligned columns,
//! `json` prints one object per line. Inspect commands render whole objects:
//! an indented JSON array by default, `json` compact, or a template per
//! object. Templates are parsed before any work is done, so a malformed one
//! changes nothing.

use serde_json::{Map, Value};

use crate::template::{json_go, Missing, Piece, Reads, Template, TemplateError};

/// A list command's fields: the Go type docker names in errors, its default
/// format and the header of each field.
pub struct Columns {
    pub context: &'static str,
    pub default: &'static str,
    pub headers: &'static [(&'static str, &'static str)],
    /// `stats` and `system df` word a bad template as inspect does
    /// (`template parsing error: …`), the other lists as `failed to parse
    /// template: …`; both exit 1.
    pub older_errors: bool,
}

/// Why a `--format` could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    #[error("failed to parse template: {0}")]
    ListParse(TemplateError),
    #[error("template parsing error: {0}")]
    OlderListParse(TemplateError),
    #[error("failed to execute template: {0}")]
    ListExec(TemplateError),
    #[error("template parsing error: {0}")]
    Inspect(TemplateError),
    /// `info`/`version`: a field that is not there reads as Go's error.
    #[error("{0}")]
    Exec(TemplateError),
}

impl RenderError {
    /// docker's exit code: 64 for an inspect template that does not parse
    /// (a usage error), 1 otherwise.
    pub fn exit_code(&self) -> i32 {
        match self {
            RenderError::Inspect(TemplateError::Parse { .. }) => 64,
            _ => 1,
        }
    }
}

/// A parsed `--format` of a list command.
pub enum ListFormat {
    Json,
    Template { table: bool, tpl: Template },
}

impl ListFormat {
    /// Reads `--format`: absent, empty or `table` is the default table.
    pub fn parse(flag: Option<&str>, cols: &Columns) -> Result<ListFormat, RenderError> {
        let f = flag.unwrap_or("").trim();
        if f == "json" {
            return Ok(ListFormat::Json);
        }
        let f = if f.is_empty() || f == "table" {
            cols.default
        } else {
            f
        };
        let (table, body) = match f.strip_prefix("table") {
            Some(rest) => (true, rest.trim_matches(' ')),
            None => (false, f),
        };
        // docker reads the two-character escapes \t and \n as typed
        let body = body.replace("\\t", "\t").replace("\\n", "\n");
        let tpl = Template::parse(&body).map_err(if cols.older_errors {
            RenderError::OlderListParse
        } else {
            RenderError::ListParse
        })?;
        Ok(ListFormat::Template { table, tpl })
    }

    /// The fields of a row this format may show (`json` shows them all):
    /// a list need not build the others.
    pub fn reads(&self) -> Reads {
        match self {
            ListFormat::Json => Reads::All,
            ListFormat::Template { tpl, .. } => tpl.reads(),
        }
    }

    /// Renders rows of string cells, `cell(row, field)`, as [`render`] would
    /// render them made into objects, when the format is a plain template
    /// (see [`Template::pieces`]) and every field it names has a header and
    /// a cell. None otherwise: the caller makes the objects and renders
    /// them, and so prints what docker would, error or `<no value>`.
    ///
    /// [`render`]: ListFormat::render
    pub fn render_cells<R>(
        &self,
        rows: &[R],
        cols: &Columns,
        cell: impl Fn(&R, &str) -> Option<String>,
    ) -> Option<String> {
        let ListFormat::Template { table, tpl } = self else {
            return None;
        };
        let pieces = tpl.pieces()?;
        let mut out = String::new();
        if *table {
            for p in &pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Field(f) => out.push_str(cols.headers.iter().find(|(k, _)| k == f)?.1),
                }
            }
            out.push('\n');
        }
        for r in rows {
            for p in &pieces {
                match p {
                    Piece::Text(t) => out.push_str(t),
                    Piece::Field(f) => out.push_str(&cell(r, f)?),
                }
            }
            out.push('\n');
        }
        Some(if *table { tabwrite(&out) } else { out })
    }

    /// Renders `rows`; nothing is returned unless every row rendered.
    pub fn render(&self, rows: &[Value], cols: &Columns) -> Result<String, RenderError> {
        let missing = Missing::Struct(cols.context);
        match self {
            ListFormat::Json => Ok(rows.iter().map(|r| format!("{}\n", json_go(r))).collect()),
            ListFormat::Template { table, tpl } => {
                let mut out = String::new();
                if *table {
                    let header: Map<String, Value> = cols
                        .headers
                        .iter()
                        .map(|(k, v)| (k.to_string(), Value::String(v.to_string())))
                        .collect();
                    out.push_str(
                        &tpl.execute(&Value::Object(header), missing)
                            .map_err(RenderError::ListExec)?,
                    );
                    out.push('\n');
                }
                for r in rows {
                    out.push_str(&tpl.execute(r, missing).map_err(RenderError::ListExec)?);
                    out.push('\n');
                }
                Ok(if *table { tabwrite(&out) } else { out })
            }
        }
    }
}

impl ListFormat {
    /// Reads `--format` as [`ListFormat::parse`], printing docker's error.
    pub fn from_flag(flag: Option<&str>, cols: &Columns) -> Result<ListFormat, i32> {
        ListFormat::parse(flag, cols).map_err(|e| {
            eprintln!("{e}");
            e.exit_code()
        })
    }

    /// Prints `rows`, or the error and nothing else; returns the exit code.
    pub fn print(&self, rows: &[Value], cols: &Columns) -> i32 {
        match self.render(rows, cols) {
            Ok(s) => {
                print!("{s}");
                0
            }
            Err(e) => {
                eprintln!("{e}");
                e.exit_code()
            }
        }
    }
}

/// Prints inspected objects as [`inspect`] renders them; returns the exit
/// code.
pub fn print_inspect(found: &[Value], format: Option<&str>) -> i32 {
    match inspect(found, format) {
        Ok(s) => {
            print!("{s}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// Renders inspected objects: docker's indented JSON array, `json` for a
/// compact one, or a template run on each object.
pub fn inspect(found: &[Value], format: Option<&str>) -> Result<String, RenderError> {
    match format.map(str::trim) {
        None | Some("") => Ok(format!(
            "{}\n",
            serde_json::to_string_pretty(&Value::Array(found.to_vec())).unwrap_or_default()
        )),
        Some("json") => Ok(format!("{}\n", json_go(&Value::Array(found.to_vec())))),
        Some(f) => {
            let body = f.replace("\\t", "\t").replace("\\n", "\n");
            let tpl = Template::parse(&body).map_err(RenderError::Inspect)?;
            let mut out = String::new();
            for v in found {
                out.push_str(&tpl.execute(v, Missing::Map).map_err(RenderError::Inspect)?);
                out.push('\n');
            }
            Ok(out)
        }
    }
}

/// Renders the one object `info` and `version` print under `--format`:
/// `json` compact, else a template (parse errors exit 64, as docker's).
/// `name` is the template's name in errors (`version` names its own).
pub fn single(
    v: &Value,
    format: &str,
    name: &str,
    context: &'static str,
) -> Result<String, RenderError> {
    if format.trim() == "json" {
        return Ok(format!("{}\n", json_go(v)));
    }
    let body = format.replace("\\t", "\t").replace("\\n", "\n");
    let tpl = Template::parse_named(name, &body).map_err(RenderError::Inspect)?;
    let out = tpl
        .execute(v, Missing::Struct(context))
        .map_err(RenderError::Exec)?;
    Ok(format!("{out}\n"))
}

/// Prints what [`single`] renders; returns the exit code.
pub fn print_single(v: &Value, format: &str, name: &str, context: &'static str) -> i32 {
    match single(v, format, name, context) {
        Ok(s) => {
            print!("{s}");
            0
        }
        Err(e) => {
            eprintln!("{e}");
            e.exit_code()
        }
    }
}

/// Checks an inspect `--format` before anything is looked up.
pub fn check_inspect(format: Option<&str>) -> Result<(), RenderError> {
    match format.map(str::trim) {
        None | Some("") | Some("json") => Ok(()),
        Some(f) => Template::parse(&f.replace("\\t", "\t").replace("\\n", "\n"))
            .map(|_| ())
            .map_err(RenderError::Inspect),
    }
}

/// Aligns tab-separated cells as docker's tables do (Go's tabwriter with
/// a minimum cell width of 10 and 3 spaces of padding); the text after a
/// line's last tab is not a column and is left as is.
pub fn tabwrite(text: &str) -> String {
    const MIN_WIDTH: usize = 10;
    const PADDING: usize = 3;
    // each cell with its width in characters, counted once: a list of a
    // thousand rows has thousands of cells
    let lines: Vec<Vec<(&str, usize)>> = text
        .lines()
        .map(|l| l.split('\t').map(|c| (c, c.chars().count())).collect())
        .collect();
    let mut widths: Vec<usize> = Vec::new();
    for cells in &lines {
        for (i, (_, n)) in cells.iter().enumerate().take(cells.len().saturating_sub(1)) {
            let w = (n + PADDING).max(MIN_WIDTH);
            match widths.get_mut(i) {
                Some(x) => *x = (*x).max(w),
                None => widths.push(w),
            }
        }
    }
    let mut out = String::with_capacity(text.len() + lines.len() * widths.iter().sum::<usize>());
    for cells in &lines {
        for (i, (c, n)) in cells.iter().enumerate() {
            out.push_str(c);
            if i + 1 < cells.len() {
                out.extend(std::iter::repeat_n(' ', widths[i] - n));
            }
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const COLS: Columns = Columns {
        context: "*formatter.ContainerContext",
        default: "table {{.ID}}\\t{{.Names}}",
        headers: &[
            ("ID", "CONTAINER ID"),
            ("Names", "NAMES"),
            ("State", "STATE"),
        ],
        older_errors: false,
    };

    fn rows() -> Vec<Value> {
        vec![
            json!({"ID": "abc", "Names": "web", "State": "running"}),
            json!({"ID": "0123456789ab", "Names": "db", "State": "exited"}),
        ]
    }

    fn render(f: Option<&str>) -> Result<String, RenderError> {
        ListFormat::parse(f, &COLS)?.render(&rows(), &COLS)
    }

    #[test]
    fn default_and_table_templates() {
        let want = "CONTAINER ID   NAMES\nabc            web\n0123456789ab   db\n";
        assert_eq!(render(None).unwrap(), want);
        assert_eq!(render(Some("table")).unwrap(), want);
        assert_eq!(
            render(Some("table {{.Names}}\\t{{upper .State}}")).unwrap(),
            "NAMES     STATE\nweb       RUNNING\ndb        EXITED\n"
        );
        assert_eq!(
            render(Some("{{.Names}}:{{.State}}")).unwrap(),
            "web:running\ndb:exited\n"
        );
        assert_eq!(
            render(Some("json")).unwrap(),
            "{\"ID\":\"abc\",\"Names\":\"web\",\"State\":\"running\"}\n{\"ID\":\"0123456789ab\",\"Names\":\"db\",\"State\":\"exited\"}\n"
        );
    }

    #[test]
    fn cells_render_as_their_objects() {
        let cell = |r: &Value, k: &str| r.get(k).and_then(Value::as_str).map(String::from);
        for f in [
            None,
            Some("table {{.Names}}:{{.ID}}"),
            Some("{{.ID}}-{{.State}}"),
        ] {
            let fmt = ListFormat::parse(f, &COLS).unwrap();
            assert_eq!(
                fmt.render_cells(&rows(), &COLS, cell),
                Some(fmt.render(&rows(), &COLS).unwrap()),
                "{f:?}"
            );
        }
        // not plain, a field without a cell or header, json: rendered as objects
        for f in [Some("{{upper .ID}}"), Some("{{.Nope}}"), Some("json")] {
            let fmt = ListFormat::parse(f, &COLS).unwrap();
            assert_eq!(fmt.render_cells(&rows(), &COLS, cell), None, "{f:?}");
        }
    }

    #[test]
    fn bad_templates_read_as_docker() {
        let e = render(Some("{{.ID")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "failed to parse template: template: :1: unclosed action"
        );
        assert_eq!(e.exit_code(), 1);
        let e = render(Some("{{.Nope}}")).unwrap_err();
        assert!(e.to_string().starts_with("failed to execute template: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope in type *formatter.ContainerContext"), "{e}");
        let e = inspect(&[json!({})], Some("{{.Id")).unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: :1: unclosed action"
        );
        assert_eq!(e.exit_code(), 64);
        let e = inspect(&[json!({})], Some("{{.Nope}}")).unwrap_err();
        assert_eq!(e.exit_code(), 1);
        assert!(check_inspect(Some("{{.Id")).is_err());
        let e = single(&json!({}), "{{.X", "version", "system.versionInfo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "template parsing error: template: version:1: unclosed action"
        );
        assert_eq!(e.exit_code(), 64);
        let e = single(&json!({}), "{{.Nope}}", "version", "system.versionInfo").unwrap_err();
        assert_eq!(
            e.to_string(),
            "template: version:1:2: executing \"version\" at <.Nope>: can't evaluate field Nope in type system.versionInfo"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn inspect_shapes() {
        let v = [json!({"Id": "x", "State": {"Pid": 3}})];
        assert_eq!(inspect(&v, Some("{{.State.Pid}}")).unwrap(), "3\n");
        assert_eq!(
            inspect(&v, Some("json")).unwrap(),
            "[{\"Id\":\"x\",\"State\":{\"Pid\":3}}]\n"
        );
        assert!(inspect(&v, None).unwrap().starts_with("[\n  {"));
    }
}
