//! The build driver: walks a Dockerfile's stages step by step, asks the
//! build cache for each step, and otherwise makes the step's image through
//! the [`Backend`]: RUN as a real container committed as a layer, COPY/ADD
//! as a layer tar built on the host, every other instruction as a new
//! config.  Output is docker's classic builder's, through an [`Output`].

use std::path::{Path, PathBuf};

use serde_json::{json, Map, Value};
use sha2::{Digest, Sha256};

use crate::backend::{Backend, BackendError, Image, MountedImage, NewImage, Output, RunStep};
use crate::context::{self, ContextError, Placement, Tree};
use crate::ignore::clean;
use crate::lex::{self, LexError};
use crate::parser::{self, Command, Copy, Health, Instruction, Kind, ParseError};

/// A build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error(transparent)]
    Parse(#[from] ParseError),
    /// a step failed: where, and why
    #[error("{file}:{line}: {message}")]
    Step {
        file: String,
        line: usize,
        message: String,
    },
    /// a RUN step's command exited non-zero; `berth build` exits with its code
    #[error("{file}:{line}: {message}")]
    Run {
        file: String,
        line: usize,
        message: String,
        code: i32,
    },
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Backend(#[from] BackendError),
}

/// Args docker lets a build use without declaring them.
const PREDEFINED_ARGS: &[&str] = &[
    "HTTP_PROXY",
    "http_proxy",
    "HTTPS_PROXY",
    "https_proxy",
    "FTP_PROXY",
    "ftp_proxy",
    "NO_PROXY",
    "no_proxy",
    "ALL_PROXY",
    "all_proxy",
];

/// What to build and how.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// the Dockerfile's name, for errors
    pub file_name: String,
    pub dockerfile: String,
    /// the build context; `None` when there is none (`berth build -`)
    pub context: Option<PathBuf>,
    pub tags: Vec<String>,
    /// `--build-arg`: a value, or `None` for "from my environment, if set"
    pub build_args: Vec<(String, Option<String>)>,
    pub target: Option<String>,
    pub no_cache: bool,
    pub pull: bool,
    pub labels: Vec<(String, String)>,
    /// "none" or "host", for RUN
    pub network: String,
    /// keep intermediate containers (`--rm=false`)
    pub keep_containers: bool,
    /// labels RUN containers `berth.build=<id>`
    pub build_id: String,
}

/// The result of a build.
#[derive(Debug, Clone, PartialEq)]
pub struct Built {
    pub image: Image,
    pub tags: Vec<String>,
}

/// `name` or `name:tag` with docker's default tag added.
pub fn normalize_tag(t: &str) -> Result<String, BuildError> {
    let bad = || {
        BuildError::Invalid(format!(
            "invalid argument \"{t}\" for \"-t, --tag\" flag: invalid reference format"
        ))
    };
    if t.is_empty() || t.contains(char::is_whitespace) {
        return Err(bad());
    }
    let last = t.rsplit('/').next().unwrap_or(t);
    let (repo, tagged) = match last.split_once(':') {
        Some((_, "")) => return Err(bad()),
        Some(_) => (t.rsplit_once(':').map(|x| x.0).unwrap_or(t), true),
        None => (t, false),
    };
    if repo.chars().any(|c| c.is_ascii_uppercase()) {
        return Err(BuildError::Invalid(format!(
            "invalid argument \"{t}\" for \"-t, --tag\" flag: invalid reference format: repository name must be lowercase"
        )));
    }
    Ok(if tagged {
        t.to_string()
    } else {
        format!("{t}:latest")
    })
}

/// A word as a Dockerfile would write it: quoted (with `\\`, `"` and `$`
/// escaped) unless it is plain.
fn quote_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@+,".contains(c));
    if plain {
        return s.to_string();
    }
    let mut q = String::from("\"");
    for c in s.chars() {
        if matches!(c, '\\' | '"' | '$') {
            q.push('\\');
        }
        q.push(c);
    }
    q.push('"');
    q
}

/// The first 12 hex digits of an image or container id.
pub fn short(id: &str) -> String {
    id.trim_start_matches("sha256:").chars().take(12).collect()
}

struct Stage {
    name: Option<String>,
    from: Instruction,
    steps: Vec<Instruction>,
}

/// Splits the instructions into meta args and stages.
fn stages(file: &str, ins: Vec<Instruction>) -> Result<(Vec<Instruction>, Vec<Stage>), BuildError> {
    let mut meta = Vec::new();
    let mut out: Vec<Stage> = Vec::new();
    for i in ins {
        match (&i.kind, out.last_mut()) {
            (Kind::From { name, .. }, _) => {
                if let Some(n) = name {
                    if out.iter().any(|s| s.name.as_deref() == Some(n)) {
                        return Err(step_err(file, &i, format!("duplicate name {n}")));
                    }
                }
                out.push(Stage {
                    name: name.clone(),
                    from: i,
                    steps: Vec::new(),
                })
            }
            (_, Some(s)) => s.steps.push(i),
            (Kind::Arg(_), None) => meta.push(i),
            (_, None) => {
                return Err(step_err(
                    file,
                    &i,
                    "no build stage in current context (the first instruction must be FROM)".into(),
                ))
            }
        }
    }
    if out.is_empty() {
        return Err(BuildError::Invalid(format!(
            "{file}: the Dockerfile (or its stdin) cannot be empty: it needs a FROM"
        )));
    }
    Ok((meta, out))
}

fn step_err(file: &str, i: &Instruction, message: String) -> BuildError {
    BuildError::Step {
        file: file.to_string(),
        line: i.line,
        message,
    }
}

/// Per-stage state as steps go.
struct State {
    image: Image,
    /// ARGs declared in this stage, with their values
    args: Vec<(String, String)>,
    cmd_set: bool,
}

impl State {
    fn env_pairs(&self) -> Vec<(String, String)> {
        env_list(&self.image.config)
            .iter()
            .filter_map(|e| e.split_once('='))
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Variables for expansion: args, then the config's Env (which wins).
    fn vars(&self) -> Vec<(String, String)> {
        let mut v = self.args.clone();
        v.extend(self.env_pairs());
        v
    }

    /// Args in scope that Env does not override, as `K=V`.
    fn arg_env(&self) -> Vec<String> {
        let env = self.env_pairs();
        self.args
            .iter()
            .filter(|(k, _)| !env.iter().any(|(e, _)| e == k))
            .map(|(k, v)| format!("{k}={v}"))
            .collect()
    }
}

fn env_list(config: &Value) -> Vec<String> {
    config
        .get("Env")
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn str_list(config: &Value, key: &str) -> Vec<String> {
    config
        .get(key)
        .and_then(|e| e.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

/// A copy of the config's `key` object (Labels, ExposedPorts, Volumes).
fn object_of(config: &Value, key: &str) -> Map<String, Value> {
    config
        .get(key)
        .and_then(|l| l.as_object())
        .cloned()
        .unwrap_or_default()
}

fn obj(config: &mut Value) -> &mut Map<String, Value> {
    if !config.is_object() {
        *config = json!({});
    }
    config.as_object_mut().expect("just made an object")
}

/// Go's `%q` of a list: `["a" "b"]`.
fn go_list(v: &[String]) -> String {
    let parts: Vec<String> = v.iter().map(|s| json!(s).to_string()).collect();
    format!("[{}]", parts.join(" "))
}

/// The config's SHELL, or `/bin/sh -c`.
fn shell_of(config: &Value) -> Vec<String> {
    let s = str_list(config, "Shell");
    if s.is_empty() {
        vec!["/bin/sh".to_string(), "-c".to_string()]
    } else {
        s
    }
}

/// A HEALTHCHECK as docker's history shows it (Go's `%q` of its struct):
/// `&{["CMD-SHELL" "true"] "30s" "0s" "0s" '\x02'}`.
fn go_health(hc: &Value) -> String {
    let test = go_list(&str_list(hc, "Test"));
    let d = |k: &str| berth_godur::format(hc.get(k).and_then(|v| v.as_i64()).unwrap_or(0));
    let retries = hc.get("Retries").and_then(|v| v.as_i64()).unwrap_or(0);
    let rune = match u32::try_from(retries).ok().and_then(char::from_u32) {
        Some(c) if c == '\'' || c == '\\' => format!("'\\{c}'"),
        Some(c) if (' '..='~').contains(&c) => format!("'{c}'"),
        _ if (0..0x100).contains(&retries) => format!("'\\x{retries:02x}'"),
        _ => format!("'\\u{retries:04x}'"),
    };
    format!(
        "&{{{test} {:?} {:?} {:?} {rune}}}",
        d("Interval"),
        d("Timeout"),
        d("StartPeriod")
    )
}

/// The cache key of a step.
fn cache_key(parent: &str, created_by: &str, config: &Value, extra: &str) -> String {
    let mut h = Sha256::new();
    h.update(
        json!({"parent": parent, "created_by": created_by, "config": config, "extra": extra})
            .to_string(),
    );
    hex::encode(h.finalize())
}

/// Runs a build; `out` gets docker's classic builder output.
pub async fn build(
    opts: &Options,
    backend: &dyn Backend,
    out: &mut dyn Output,
) -> Result<Built, BuildError> {
    let tags = opts
        .tags
        .iter()
        .map(|t| normalize_tag(t))
        .collect::<Result<Vec<_>, _>>()?;
    let file = opts.file_name.as_str();
    let parsed = parser::parse(file, &opts.dockerfile)?;
    let escape = parsed.escape;
    let (meta, mut all) = stages(file, parsed.instructions)?;
    let target = match &opts.target {
        Some(t) => all
            .iter()
            .position(|s| s.name.as_deref() == Some(t.to_ascii_lowercase().as_str()))
            .ok_or_else(|| {
                BuildError::Invalid(format!("failed to reach build target {t} in Dockerfile"))
            })?,
        None => all.len() - 1,
    };
    all.truncate(target + 1);
    if !opts.labels.is_empty() {
        // --label is a LABEL step at the end, as docker's classic builder has it
        let pairs: Vec<(String, String)> = opts
            .labels
            .iter()
            .map(|(k, v)| (quote_word(k), quote_word(v)))
            .collect();
        let text = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ");
        let last = all.last_mut().expect("at least one stage");
        last.steps.push(Instruction {
            line: 0,
            original: format!("LABEL {text}"),
            kind: Kind::Label(pairs),
        });
    }
    let total = meta.len() + all.iter().map(|s| 1 + s.steps.len()).sum::<usize>();
    let tree = match &opts.context {
        Some(c) => Some(Tree::context(c).map_err(|e| BuildError::Invalid(e.to_string()))?),
        None => None,
    };
    let mut d = Driver {
        opts,
        backend,
        out,
        file,
        escape,
        tree,
        n: 0,
        total,
        used_args: Vec::new(),
        stage_images: Vec::new(),
    };

    // ARGs before the first FROM: for FROM lines only
    let mut meta_args: Vec<(String, String)> = Vec::new();
    for i in &meta {
        d.n += 1;
        d.out
            .line(&format!("Step {}/{} : {}", d.n, d.total, i.original));
        if let Kind::Arg(list) = &i.kind {
            for (k, default) in list {
                if let Some(v) = d.arg_value(k, default.as_deref(), &meta_args, i)? {
                    meta_args.push((k.clone(), v));
                } else if let Some(pos) = meta_args.iter().position(|(m, _)| m == k) {
                    meta_args.remove(pos);
                }
                d.used_args.push(k.clone());
            }
        }
    }

    let mut last = Image::default();
    for stage in &all {
        last = d.stage(stage, &meta_args, &meta).await?;
        d.stage_images.push((stage.name.clone(), last.clone()));
    }
    let unused: Vec<&str> = opts
        .build_args
        .iter()
        .map(|(k, _)| k.as_str())
        .filter(|k| !d.used_args.iter().any(|u| u == k) && !PREDEFINED_ARGS.contains(k))
        .collect();
    if !unused.is_empty() {
        d.out.line(&format!(
            "[Warning] One or more build-args [{}] were not consumed",
            unused.join(" ")
        ));
    }
    if last.id.is_empty() {
        return Err(BuildError::Invalid(
            "No image was generated. Is your Dockerfile empty?".into(),
        ));
    }
    d.out
        .line(&format!("Successfully built {}", short(&last.id)));
    for t in &tags {
        backend.tag(&last.id, t).await?;
        d.out.line(&format!("Successfully tagged {t}"));
    }
    Ok(Built { image: last, tags })
}

struct Driver<'a> {
    opts: &'a Options,
    backend: &'a dyn Backend,
    out: &'a mut dyn Output,
    file: &'a str,
    escape: char,
    tree: Option<Tree>,
    n: usize,
    total: usize,
    used_args: Vec<String>,
    stage_images: Vec<(Option<String>, Image)>,
}

/// What a step does, once expanded.
enum Action {
    /// only the config changes
    Config { config: Value, created_by: String },
    Run {
        config: Value,
        created_by: String,
        step: RunStep,
        shown: String,
    },
    Copy {
        config: Value,
        created_by: String,
        sources: Vec<context::Source>,
        from: Option<Image>,
        copy: Copy,
        dest: String,
        owner: Option<String>,
        mode: Option<u32>,
        add: bool,
    },
}

impl Driver<'_> {
    fn err(&self, i: &Instruction, message: impl Into<String>) -> BuildError {
        step_err(self.file, i, message.into())
    }

    fn lex_err(&self, i: &Instruction, e: LexError) -> BuildError {
        self.err(i, format!("{}: {e}", i.original))
    }

    /// An ARG's value: the --build-arg one, else its default (expanded).
    fn arg_value(
        &self,
        name: &str,
        default: Option<&str>,
        vars: &[(String, String)],
        i: &Instruction,
    ) -> Result<Option<String>, BuildError> {
        if let Some((_, Some(v))) = self.opts.build_args.iter().rev().find(|(k, _)| k == name) {
            return Ok(Some(v.clone()));
        }
        match default {
            Some(d) => lex::expand(d, vars, self.escape)
                .map(Some)
                .map_err(|e| self.lex_err(i, e)),
            None => Ok(None),
        }
    }

    async fn stage(
        &mut self,
        stage: &Stage,
        meta_args: &[(String, String)],
        meta: &[Instruction],
    ) -> Result<Image, BuildError> {
        self.n += 1;
        let from = &stage.from;
        self.out.line(&format!(
            "Step {}/{} : {}",
            self.n, self.total, from.original
        ));
        let Kind::From { image, .. } = &from.kind else {
            unreachable!("a stage starts with FROM")
        };
        let name = lex::expand(image, meta_args, self.escape).map_err(|e| self.lex_err(from, e))?;
        if name.is_empty() {
            return Err(self.err(from, "base name (FROM) should not be blank"));
        }
        let base = if let Some((_, img)) = self
            .stage_images
            .iter()
            .rev()
            .find(|(n, _)| n.as_deref() == Some(name.to_ascii_lowercase().as_str()))
        {
            img.clone()
        } else if name == "scratch" {
            Image {
                id: String::new(),
                config: json!({}),
            }
        } else {
            self.backend
                .image(&name, self.opts.pull)
                .await
                .map_err(|e| self.err(from, e.message))?
        };
        self.out.line(&format!(" ---> {}", short(&base.id)));
        let mut st = State {
            image: base,
            args: Vec::new(),
            cmd_set: false,
        };
        let _ = meta;
        // ONBUILD triggers of the base run first, then leave the config
        let triggers = str_list(&st.image.config, "OnBuild");
        if !triggers.is_empty() {
            obj(&mut st.image.config).remove("OnBuild");
            let what = if triggers.len() == 1 {
                "trigger"
            } else {
                "triggers"
            };
            self.out
                .line(&format!("# Executing {} build {what}", triggers.len()));
            for t in &triggers {
                let p = parser::parse(self.file, t)?;
                for mut i in p.instructions {
                    i.line = from.line;
                    self.step(&mut st, &i, meta_args, false).await?;
                }
            }
        }
        for i in &stage.steps {
            self.n += 1;
            self.out
                .line(&format!("Step {}/{} : {}", self.n, self.total, i.original));
            self.step(&mut st, i, meta_args, true).await?;
        }
        Ok(st.image)
    }

    async fn step(
        &mut self,
        st: &mut State,
        i: &Instruction,
        meta_args: &[(String, String)],
        _counted: bool,
    ) -> Result<(), BuildError> {
        let action = self.plan(st, i, meta_args).await?;
        let parent = st.image.id.clone();
        let (config, created_by, extra) = match &action {
            Action::Config { config, created_by } => (config, created_by, String::new()),
            Action::Run {
                config,
                created_by,
                step,
                ..
            } => (config, created_by, format!("run {}", step.network)),
            Action::Copy {
                config,
                created_by,
                from,
                owner,
                mode,
                ..
            } => (
                config,
                created_by,
                format!(
                    "copy {} {:?} {:?}",
                    from.as_ref().map(|f| f.id.as_str()).unwrap_or(""),
                    owner,
                    mode
                ),
            ),
        };
        let key = cache_key(&parent, created_by, config, &extra);
        // the step's image has the config computed here, cached or made:
        // the key covers it, so the next step's key is the same both ways
        let config = config.clone();
        if !self.opts.no_cache {
            if let Some(id) = self.backend.cached(&key).await? {
                self.out.line(" ---> Using cache");
                self.out.line(&format!(" ---> {}", short(&id)));
                st.image = Image { id, config };
                return Ok(());
            }
        }
        let made = match action {
            Action::Config { config, created_by } => {
                self.backend
                    .create_image(NewImage {
                        parent: parent.clone(),
                        config,
                        created_by,
                        layer_tar: None,
                    })
                    .await?
            }
            Action::Run {
                config,
                created_by,
                step,
                shown,
            } => self.run(i, &config, &created_by, &step, &shown).await?,
            Action::Copy {
                config,
                created_by,
                sources,
                from,
                copy,
                dest,
                owner,
                mode,
                add,
            } => {
                let req = CopyReq {
                    config,
                    created_by,
                    sources,
                    from,
                    copy,
                    dest,
                    owner,
                    mode,
                    add,
                };
                self.copy(i, &parent, req).await?
            }
        };
        self.backend.remember(&key, &made.id).await?;
        self.out.line(&format!(" ---> {}", short(&made.id)));
        st.image = Image {
            id: made.id,
            config,
        };
        Ok(())
    }

    async fn run(
        &mut self,
        i: &Instruction,
        config: &Value,
        created_by: &str,
        step: &RunStep,
        shown: &str,
    ) -> Result<Image, BuildError> {
        if step.image.is_empty() {
            return Err(self.err(
                i,
                format!("The command '{shown}' cannot run: the image is empty (FROM scratch has no shell)"),
            ));
        }
        let id = self
            .backend
            .create_container(step)
            .await
            .map_err(|e| self.err(i, e.message))?;
        self.out.line(&format!(" ---> Running in {}", short(&id)));
        let result = match self.backend.run_container(&id, self.out).await {
            Ok(0) => self
                .backend
                .commit(&id, config, created_by)
                .await
                .map_err(|e| self.err(i, e.message)),
            Ok(code) => Err(BuildError::Run {
                file: self.file.to_string(),
                line: i.line,
                message: format!("The command '{shown}' returned a non-zero code: {code}"),
                code,
            }),
            Err(e) => Err(self.err(i, e.message)),
        };
        if !self.opts.keep_containers {
            let removed = self.backend.remove_container(&id).await;
            if result.is_ok() {
                self.out
                    .line(&format!("Removing intermediate container {}", short(&id)));
                removed?;
            }
        }
        result
    }

    async fn copy(
        &mut self,
        i: &Instruction,
        parent: &str,
        r: CopyReq,
    ) -> Result<Image, BuildError> {
        // the parent's filesystem: directories above the destination keep
        // their metadata, an existing directory takes the files, names in
        // --chown are looked up there
        let view = if parent.is_empty() {
            None
        } else {
            Some(
                self.backend
                    .mount_image(parent)
                    .await
                    .map_err(|e| self.err(i, e.message))?,
            )
        };
        let from_view = match &r.from {
            Some(img) if !img.id.is_empty() => match self.backend.mount_image(&img.id).await {
                Ok(m) => Some(m),
                Err(e) => {
                    self.release(view).await;
                    return Err(self.err(i, e.message));
                }
            },
            _ => None,
        };
        let result = self
            .copy_with(i, parent, &r, view.as_ref(), from_view.as_ref())
            .await;
        self.release(view).await;
        self.release(from_view).await;
        result
    }

    async fn release(&self, m: Option<MountedImage>) {
        if let Some(m) = m {
            let _ = self.backend.release(m).await;
        }
    }

    async fn copy_with(
        &mut self,
        i: &Instruction,
        parent: &str,
        r: &CopyReq,
        view: Option<&MountedImage>,
        from_view: Option<&MountedImage>,
    ) -> Result<Image, BuildError> {
        let what = if r.add { "ADD" } else { "COPY" };
        let cerr = |e: ContextError| self.err(i, format!("{what} failed: {e}"));
        let view_path = view.map(|v| v.path.as_path());
        let owner = match &r.owner {
            Some(o) => Some(resolve_owner(o, view_path).map_err(|m| self.err(i, m))?),
            None => None,
        };
        let tree_owned;
        let tree: &Tree = match (&r.from, from_view, &self.tree) {
            (Some(_), Some(v), _) => {
                tree_owned = Tree::plain(&v.path);
                &tree_owned
            }
            (Some(_), None, _) => {
                return Err(cerr(ContextError::NotFound(r.copy.sources.join(" "))))
            }
            (None, _, Some(t)) => t,
            (None, _, None) => {
                return Err(self.err(
                    i,
                    format!(
                        "{what} failed: there is no build context (the Dockerfile came from stdin)"
                    ),
                ))
            }
        };
        let mut dest_is_dir = r.dest.ends_with('/')
            || r.sources.len() > 1
            || r.copy.sources.iter().any(|s| crate::ignore::is_glob(s));
        let mut dest = clean(&r.dest);
        if let Some(v) = view_path {
            // symlinks on the way to the destination are the image's: follow
            // them inside it (`/var/run` → `/run`), never out to the host
            let image = Tree::plain(v);
            let inside = |p: &str| -> Option<String> {
                let host = image.resolve(p).ok()?;
                let rel = host.strip_prefix(v).ok()?;
                Some(clean(&format!("/{}", rel.display())))
            };
            if let Some(resolved) = inside(&dest) {
                if v.join(resolved.trim_start_matches('/')).is_dir() {
                    dest_is_dir = true;
                }
            }
            let (parent, name) = dest.rsplit_once('/').unwrap_or(("", &dest));
            dest = match (
                dest_is_dir,
                inside(&dest),
                inside(if parent.is_empty() { "/" } else { parent }),
            ) {
                (true, Some(d), _) => d,
                (false, _, Some(p)) if !name.is_empty() => clean(&format!("{p}/{name}")),
                _ => dest,
            };
        }
        if r.sources.len() > 1 && !r.dest.ends_with('/') && !dest_is_dir {
            return Err(self.err(i, format!("When using {what} with more than one source file, the destination must be a directory and end with a /")));
        }
        // sources in another image are looked up again in this mount of it
        let resolved;
        let sources = if r.from.is_some() {
            resolved = tree.sources(&r.copy.sources).map_err(cerr)?;
            &resolved
        } else {
            &r.sources
        };
        if sources.len() > 1 {
            dest_is_dir = true;
        }
        let place = Placement {
            dest: dest.clone(),
            dest_is_dir,
            owner,
            mode: r.mode,
            unpack: r.add,
        };
        let tmp = tempfile::Builder::new()
            .prefix("berth-build-layer-")
            .suffix(".tar")
            .tempfile()
            .map_err(|e| self.err(i, format!("create layer tar: {e}")))?;
        {
            let f = std::io::BufWriter::new(tmp.as_file());
            context::write_layer(sources, tree, &place, view_path, f).map_err(cerr)?;
        }
        let img = self
            .backend
            .create_image(NewImage {
                parent: parent.to_string(),
                config: r.config.clone(),
                created_by: r.created_by.clone(),
                layer_tar: Some(tmp.path().to_path_buf()),
            })
            .await
            .map_err(|e| self.err(i, e.message))?;
        Ok(img)
    }

    /// Expands a step and works out what it does.
    async fn plan(
        &mut self,
        st: &mut State,
        i: &Instruction,
        _meta_args: &[(String, String)],
    ) -> Result<Action, BuildError> {
        let vars = st.vars();
        let x = |s: &str| lex::expand(s, &vars, self.escape).map_err(|e| self.lex_err(i, e));
        let mut config = st.image.config.clone();
        if !config.is_object() {
            config = json!({});
        }
        // the shell goes in front when the step's config is known (below)
        let nop = |s: String| format!("#(nop) {s}");
        let shell = shell_of(&config);
        let argv = |c: &Command| match c {
            Command::Exec(v) => v.clone(),
            Command::Shell(s) => {
                let mut v = shell.clone();
                v.push(s.clone());
                v
            }
        };
        let action = match &i.kind {
            Kind::From { .. } => unreachable!("FROM starts a stage"),
            Kind::Run(c) => {
                let args = argv(c);
                let arg_env = st.arg_env();
                let mut created_by = args.join(" ");
                if !arg_env.is_empty() {
                    created_by = format!("|{} {} {created_by}", arg_env.len(), arg_env.join(" "));
                }
                let mut env = env_list(&config);
                env.extend(arg_env);
                let step = RunStep {
                    image: st.image.id.clone(),
                    args: args.clone(),
                    env,
                    workdir: config
                        .get("WorkingDir")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                    user: config
                        .get("User")
                        .and_then(|v| v.as_str())
                        .unwrap_or("")
                        .to_string(),
                    network: self.opts.network.clone(),
                    labels: {
                        let mut l = vec![("berth.build".into(), self.opts.build_id.clone())];
                        if self.opts.keep_containers {
                            // kept on purpose (--rm=false): no later build sweeps it
                            l.push(("berth.build.keep".into(), "true".into()));
                        }
                        l
                    },
                };
                Action::Run {
                    config,
                    created_by,
                    step,
                    shown: args.join(" "),
                }
            }
            Kind::Cmd(c) => {
                let v = argv(c);
                obj(&mut config).insert("Cmd".into(), json!(v));
                st.cmd_set = true;
                Action::Config {
                    created_by: nop(format!(" CMD {}", go_list(&v))),
                    config,
                }
            }
            Kind::Entrypoint(c) => {
                let v = argv(c);
                let o = obj(&mut config);
                o.insert("Entrypoint".into(), json!(v));
                if !st.cmd_set {
                    o.insert("Cmd".into(), Value::Null);
                }
                Action::Config {
                    created_by: nop(format!(" ENTRYPOINT {}", go_list(&v))),
                    config,
                }
            }
            Kind::Env(pairs) => {
                let mut env = env_list(&config);
                let mut shown = Vec::new();
                // every pair sees the variables from before the line, not
                // its neighbours (`ENV A=1 B=$A` leaves B empty, as docker does)
                for (k, v) in pairs {
                    let k = x(k)?;
                    let v = x(v)?;
                    if k.is_empty() {
                        return Err(self.err(i, "ENV names can not be blank"));
                    }
                    env.retain(|e| e.split_once('=').map(|x| x.0).unwrap_or(e) != k);
                    env.push(format!("{k}={v}"));
                    shown.push(format!("{k}={v}"));
                }
                obj(&mut config).insert("Env".into(), json!(env));
                Action::Config {
                    created_by: nop(format!(" ENV {}", shown.join(" "))),
                    config,
                }
            }
            Kind::Label(pairs) => {
                let mut labels = object_of(&config, "Labels");
                let mut shown = Vec::new();
                for (k, v) in pairs {
                    let k = x(k)?;
                    let v = x(v)?;
                    if k.is_empty() {
                        return Err(self.err(i, "LABEL names can not be blank"));
                    }
                    shown.push(format!("{k}={v}"));
                    labels.insert(k, json!(v));
                }
                obj(&mut config).insert("Labels".into(), Value::Object(labels));
                Action::Config {
                    created_by: nop(format!(" LABEL {}", shown.join(" "))),
                    config,
                }
            }
            Kind::Arg(list) => {
                let mut shown = Vec::new();
                for (k, default) in list {
                    self.used_args.push(k.clone());
                    let meta = _meta_args
                        .iter()
                        .rev()
                        .find(|(m, _)| m == k)
                        .map(|x| x.1.clone());
                    let v = self
                        .arg_value(k, default.as_deref(), &vars, i)?
                        .or(meta)
                        .or_else(|| {
                            PREDEFINED_ARGS
                                .contains(&k.as_str())
                                .then(|| std::env::var(k).ok())
                                .flatten()
                        });
                    st.args.retain(|(a, _)| a != k);
                    match v {
                        Some(v) => {
                            shown.push(match default {
                                Some(d) => format!("{k}={d}"),
                                None => k.clone(),
                            });
                            st.args.push((k.clone(), v));
                        }
                        None => shown.push(k.clone()),
                    }
                }
                Action::Config {
                    created_by: nop(format!(" ARG {}", shown.join(" "))),
                    config,
                }
            }
            Kind::Expose(ports) => {
                let mut exposed = object_of(&config, "ExposedPorts");
                let mut shown = Vec::new();
                for p in ports {
                    let p = x(p)?;
                    let (port, proto) = match p.split_once('/') {
                        Some((a, b)) => (a.to_string(), b.to_ascii_lowercase()),
                        None => (p.clone(), "tcp".to_string()),
                    };
                    let ok = port
                        .split_once('-')
                        .map(|(a, b)| a.parse::<u16>().is_ok() && b.parse::<u16>().is_ok())
                        .unwrap_or_else(|| port.parse::<u16>().is_ok());
                    if !ok || !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
                        return Err(self.err(i, format!("invalid containerPort: {p}")));
                    }
                    let k = format!("{port}/{proto}");
                    shown.push(k.clone());
                    exposed.insert(k, json!({}));
                }
                obj(&mut config).insert("ExposedPorts".into(), Value::Object(exposed));
                Action::Config {
                    created_by: nop(format!(" EXPOSE {}", shown.join(" "))),
                    config,
                }
            }
            Kind::Volume(vols) => {
                let mut v = object_of(&config, "Volumes");
                let mut shown = Vec::new();
                for p in vols {
                    let p = x(p)?;
                    if p.trim().is_empty() {
                        return Err(self.err(i, "VOLUME specified can not be an empty string"));
                    }
                    v.insert(p.clone(), json!({}));
                    shown.push(p);
                }
                obj(&mut config).insert("Volumes".into(), Value::Object(v));
                Action::Config {
                    created_by: nop(format!(" VOLUME [{}]", shown.join(" "))),
                    config,
                }
            }
            Kind::User(u) => {
                let u = x(u)?;
                obj(&mut config).insert("User".into(), json!(u));
                Action::Config {
                    created_by: nop(format!(" USER {u}")),
                    config,
                }
            }
            Kind::Workdir(w) => {
                let w = x(w)?;
                let cur = config
                    .get("WorkingDir")
                    .and_then(|v| v.as_str())
                    .unwrap_or("/")
                    .to_string();
                let path = if w.starts_with('/') {
                    clean(&w)
                } else {
                    clean(&format!("{}/{w}", if cur.is_empty() { "/" } else { &cur }))
                };
                obj(&mut config).insert("WorkingDir".into(), json!(path));
                Action::Config {
                    created_by: nop(format!("WORKDIR {path}")),
                    config,
                }
            }
            Kind::StopSignal(s) => {
                let s = x(s)?;
                obj(&mut config).insert("StopSignal".into(), json!(s));
                Action::Config {
                    created_by: nop(format!(" STOPSIGNAL {s}")),
                    config,
                }
            }
            Kind::Shell(v) => {
                obj(&mut config).insert("Shell".into(), json!(v));
                Action::Config {
                    created_by: nop(format!(" SHELL [{}]", v.join(" "))),
                    config,
                }
            }
            Kind::Healthcheck(h) => {
                let mut hc = match h {
                    None => json!({"Test": ["NONE"]}),
                    Some(h) => self.health(i, h)?,
                };
                // what this HEALTHCHECK leaves out, the previous one gives
                if let (Some(prev), Some(new)) = (
                    config.get("Healthcheck").and_then(|p| p.as_object()),
                    hc.as_object_mut(),
                ) {
                    for k in ["Interval", "Timeout", "StartPeriod", "Retries"] {
                        if let (None, Some(v)) = (new.get(k), prev.get(k)) {
                            new.insert(k.into(), v.clone());
                        }
                    }
                }
                let shown = go_health(&hc);
                obj(&mut config).insert("Healthcheck".into(), hc);
                Action::Config {
                    created_by: nop(format!(" HEALTHCHECK {shown}")),
                    config,
                }
            }
            Kind::Onbuild(inner) => {
                let mut list = str_list(&config, "OnBuild");
                list.push(inner.original.clone());
                obj(&mut config).insert("OnBuild".into(), json!(list));
                Action::Config {
                    created_by: nop(format!(" ONBUILD {}", inner.original)),
                    config,
                }
            }
            Kind::Maintainer(m) => Action::Config {
                created_by: nop(format!(" MAINTAINER {m}")),
                config,
            },
            Kind::Copy(c) | Kind::Add(c) => {
                let add = matches!(i.kind, Kind::Add(_));
                let what = if add { "ADD" } else { "COPY" };
                let srcs = lex::expand_all(&c.sources, &vars, self.escape)
                    .map_err(|e| self.lex_err(i, e))?;
                if let Some(u) = srcs.iter().find(|s| s.contains("://")) {
                    return Err(self.err(
                        i,
                        format!("{what} failed: {u}: remote sources are not supported; download it into the context first"),
                    ));
                }
                let dest_raw = x(&c.dest)?;
                let workdir = config
                    .get("WorkingDir")
                    .and_then(|v| v.as_str())
                    .filter(|w| !w.is_empty())
                    .unwrap_or("/")
                    .to_string();
                let mut dest = if dest_raw.starts_with('/') {
                    dest_raw.clone()
                } else {
                    format!("{}/{dest_raw}", workdir.trim_end_matches('/'))
                };
                if (dest_raw.ends_with('/') || dest_raw == "." || dest_raw.ends_with("/."))
                    && !dest.ends_with('/')
                {
                    dest.push('/');
                }
                let owner = c.chown.as_deref().map(&x).transpose()?;
                let mode = match &c.chmod {
                    Some(m) => Some(
                        u32::from_str_radix(m, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| self.err(i, format!("invalid chmod parameter: {m}")))?,
                    ),
                    None => None,
                };
                let from = match &c.from {
                    Some(f) => {
                        let f = x(f)?;
                        Some(self.stage_or_image(i, &f).await?)
                    }
                    None => None,
                };
                let sources = match (&from, &self.tree) {
                    (Some(img), _) if img.id.is_empty() => {
                        return Err(self.err(i, format!("{what} failed: the source stage is empty")))
                    }
                    (Some(img), _) => {
                        // resolved inside the mounted image while the step runs
                        let view = self
                            .backend
                            .mount_image(&img.id)
                            .await
                            .map_err(|e| self.err(i, e.message))?;
                        let t = Tree::plain(&view.path);
                        let r = t.sources(&srcs).and_then(|s| {
                            let d = context::digest(&s, &t)?;
                            Ok((s, d))
                        });
                        let _ = self.backend.release(view).await;
                        r.map_err(|e| self.err(i, format!("{what} failed: {e}")))?
                    }
                    (None, Some(t)) => {
                        let s = t
                            .sources(&srcs)
                            .map_err(|e| self.err(i, format!("{what} failed: {e}")))?;
                        let d = context::digest(&s, t)
                            .map_err(|e| self.err(i, format!("{what} failed: {e}")))?;
                        (s, d)
                    }
                    (None, None) => {
                        return Err(self.err(
                            i,
                            format!("{what} failed: there is no build context (the Dockerfile came from stdin)"),
                        ))
                    }
                };
                let (sources, digest) = sources;
                let kind = if sources.len() > 1 {
                    "multi"
                } else if sources.first().is_some_and(|s| s.is_dir) {
                    "dir"
                } else {
                    "file"
                };
                let created_by = nop(format!("{what} {kind}:{digest} in {dest} "));
                Action::Copy {
                    config,
                    created_by,
                    sources,
                    from,
                    copy: Copy {
                        sources: srcs,
                        ..c.clone()
                    },
                    dest,
                    owner,
                    mode,
                    add: add && c.from.is_none(),
                }
            }
        };
        // `#(nop)` history lines start with the step's shell, as docker's do
        Ok(match action {
            Action::Config { config, created_by } => Action::Config {
                created_by: format!("{} {created_by}", shell_of(&config).join(" ")),
                config,
            },
            Action::Copy {
                config,
                created_by,
                sources,
                from,
                copy,
                dest,
                owner,
                mode,
                add,
            } => Action::Copy {
                created_by: format!("{} {created_by}", shell_of(&config).join(" ")),
                config,
                sources,
                from,
                copy,
                dest,
                owner,
                mode,
                add,
            },
            run => run,
        })
    }

    fn health(&self, i: &Instruction, h: &Health) -> Result<Value, BuildError> {
        let test = match &h.test {
            Command::Exec(v) => {
                let mut t = vec!["CMD".to_string()];
                t.extend(v.iter().cloned());
                t
            }
            Command::Shell(s) => vec!["CMD-SHELL".to_string(), s.clone()],
        };
        let mut hc = Map::new();
        hc.insert("Test".into(), json!(test));
        for (flag, key, v) in [
            ("interval", "Interval", &h.interval),
            ("timeout", "Timeout", &h.timeout),
            ("start-period", "StartPeriod", &h.start_period),
        ] {
            if let Some(v) = v {
                let ns = berth_godur::parse(v).ok_or_else(|| {
                    self.err(i, format!("invalid --{flag} {v:?}: not a duration"))
                })?;
                hc.insert(key.into(), json!(ns));
            }
        }
        if let Some(r) = &h.retries {
            let n: i64 = r
                .parse()
                .ok()
                .filter(|n| *n >= 0)
                .ok_or_else(|| self.err(i, format!("invalid --retries {r:?}")))?;
            hc.insert("Retries".into(), json!(n));
        }
        Ok(Value::Object(hc))
    }

    /// `--from=`: an earlier stage by name or index, else an image.
    async fn stage_or_image(&mut self, i: &Instruction, f: &str) -> Result<Image, BuildError> {
        let lf = f.to_ascii_lowercase();
        if let Some((_, img)) = self
            .stage_images
            .iter()
            .find(|(n, _)| n.as_deref() == Some(lf.as_str()))
        {
            return Ok(img.clone());
        }
        if let Ok(n) = f.parse::<usize>() {
            return self
                .stage_images
                .get(n)
                .map(|(_, img)| img.clone())
                .ok_or_else(|| {
                    self.err(
                        i,
                        format!("invalid from flag value {f}: stage {n} is not an earlier stage"),
                    )
                });
        }
        self.backend
            .image(f, false)
            .await
            .map_err(|e| self.err(i, e.message))
    }
}

struct CopyReq {
    config: Value,
    created_by: String,
    sources: Vec<context::Source>,
    from: Option<Image>,
    copy: Copy,
    dest: String,
    owner: Option<String>,
    mode: Option<u32>,
    add: bool,
}

/// `--chown=user[:group]`: numbers, or names looked up in the image's
/// /etc/passwd and /etc/group.
pub fn resolve_owner(spec: &str, rootfs: Option<&Path>) -> Result<(u64, u64), String> {
    let (u, g) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let lookup = |file: &str, name: &str| -> Result<(u64, u64), String> {
        let Some(root) = rootfs else {
            return Err(format!(
                "unable to convert uid/gid chown string to host mapping: no such user/group {name:?} (no image to look it up in)"
            ));
        };
        let text = std::fs::read_to_string(root.join(file)).unwrap_or_default();
        for line in text.lines() {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() >= 4 && f[0] == name {
                let id = f[2]
                    .parse()
                    .map_err(|_| format!("bad /{file} entry for {name}"))?;
                let gid = f[3].parse().unwrap_or(id);
                return Ok((id, gid));
            }
        }
        Err(format!(
            "unable to convert uid/gid chown string to host mapping: can't find uid for user {name}: no such user: {name}"
        ))
    };
    let (uid, primary_gid) = match u.parse::<u64>() {
        Ok(n) => (n, n),
        Err(_) => lookup("etc/passwd", u)?,
    };
    let gid = match g {
        None => primary_gid,
        Some(g) => match g.parse::<u64>() {
            Ok(n) => n,
            Err(_) => lookup("etc/group", g).map(|(id, _)| id)?,
        },
    };
    Ok((uid, gid))
}

#[cfg(test)]
mod tests;
