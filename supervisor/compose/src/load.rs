//! Loading a project: find the files, read `.env`, parse each file,
//! interpolate it, merge them in order, parse the result into the typed
//! model, normalise it, and apply the profiles.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde_norway::Value;

use crate::error::{ComposeError, Location};
use crate::interpolate::{InterpolationError, Interpolator};
use crate::lines::{self, Seg};
use crate::model::{MountKind, Network, Project};
use crate::normalize::{self, Context};
use crate::raw::RawFile;
use crate::{dotenv, graph, merge, name};

/// The file names looked for, in order of preference.
pub const DEFAULT_FILES: [&str; 4] = [
    "compose.yaml",
    "compose.yml",
    "docker-compose.yaml",
    "docker-compose.yml",
];

/// Override files loaded after a discovered file of the same directory.
pub const OVERRIDE_FILES: [&str; 4] = [
    "compose.override.yaml",
    "compose.override.yml",
    "docker-compose.override.yaml",
    "docker-compose.override.yml",
];

/// What `berth compose`'s global flags say about the project.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// The directory the command runs in; discovery starts here and
    /// relative `-f` and `--env-file` paths resolve against it. Empty: the
    /// process's current directory.
    pub working_dir: PathBuf,
    /// `-f`, in order; `-` reads the standard input. Empty: `COMPOSE_FILE`,
    /// else discovery in `working_dir` and its parents.
    pub files: Vec<PathBuf>,
    /// `-p`.
    pub project_name: Option<String>,
    /// `--project-directory`; default: the directory of the first file.
    pub project_directory: Option<PathBuf>,
    /// `--env-file`, in order; empty: `.env` in the project directory.
    pub env_files: Vec<PathBuf>,
    /// `--profile`; empty: `COMPOSE_PROFILES`.
    pub profiles: Vec<String>,
    /// Services named on the command line: they are enabled whatever their
    /// profiles, and must exist.
    pub services: Vec<String>,
    /// The process environment; `None` reads the real one.
    pub environment: Option<BTreeMap<String, String>>,
    /// The content `-f -` reads; `None` reads the real standard input.
    pub stdin: Option<String>,
}

/// One compose file's text.
struct Source {
    /// As it is named in errors.
    display: String,
    text: String,
}

/// Loads the project the options describe; also returns warnings for the
/// CLI to print on stderr (unset variables, skipped files).
pub fn load(opts: &LoadOptions) -> Result<(Project, Vec<String>), ComposeError> {
    let cwd;
    let opts = if opts.working_dir.as_os_str().is_empty() {
        cwd = LoadOptions {
            working_dir: std::env::current_dir().map_err(|source| ComposeError::Read {
                path: ".".into(),
                source,
            })?,
            ..opts.clone()
        };
        &cwd
    } else {
        opts
    };
    let process_env = process_env(opts);
    let mut warnings = Vec::new();
    let (paths, project_dir) = resolve_files(opts, &process_env, &mut warnings)?;
    let mut sources = Vec::new();
    for p in &paths {
        if p.as_os_str() == "-" {
            let text = match &opts.stdin {
                Some(t) => t.clone(),
                None => {
                    let mut t = String::new();
                    std::io::stdin().read_to_string(&mut t).map_err(|source| {
                        ComposeError::Read {
                            path: p.clone(),
                            source,
                        }
                    })?;
                    t
                }
            };
            sources.push(Source {
                display: "-".into(),
                text,
            });
        } else {
            let text = std::fs::read_to_string(p).map_err(|source| ComposeError::Read {
                path: p.clone(),
                source,
            })?;
            sources.push(Source {
                display: p.display().to_string(),
                text,
            });
        }
    }
    load_sources(sources, paths, project_dir, process_env, opts, warnings)
}

/// Loads a project from one file's text, as if it were `compose.yaml` in
/// the working directory (`.env` and `env_file:` are still read from
/// there). Never panics, whatever the text: the fuzzing entry point.
pub fn load_from_str(
    text: &str,
    opts: &LoadOptions,
) -> Result<(Project, Vec<String>), ComposeError> {
    let project_dir = opts
        .project_directory
        .clone()
        .unwrap_or_else(|| opts.working_dir.clone());
    let path = project_dir.join("compose.yaml");
    let sources = vec![Source {
        display: path.display().to_string(),
        text: text.to_string(),
    }];
    load_sources(
        sources,
        vec![path],
        project_dir,
        process_env(opts),
        opts,
        Vec::new(),
    )
}

fn process_env(opts: &LoadOptions) -> BTreeMap<String, String> {
    opts.environment
        .clone()
        .unwrap_or_else(|| std::env::vars().collect())
}

/// The files in merge order and the project directory.
fn resolve_files(
    opts: &LoadOptions,
    env: &BTreeMap<String, String>,
    warnings: &mut Vec<String>,
) -> Result<(Vec<PathBuf>, PathBuf), ComposeError> {
    let mut files: Vec<PathBuf> = opts.files.clone();
    if files.is_empty() {
        if let Some(list) = env.get("COMPOSE_FILE").filter(|l| !l.is_empty()) {
            let sep = env
                .get("COMPOSE_PATH_SEPARATOR")
                .and_then(|s| s.chars().next())
                .unwrap_or(':');
            files = list.split(sep).map(PathBuf::from).collect();
        }
    }
    let files: Vec<PathBuf> = if files.is_empty() {
        discover(&opts.working_dir, warnings)?
    } else {
        files
            .into_iter()
            .map(|f| {
                if f.as_os_str() == "-" || f.is_absolute() {
                    f
                } else {
                    normalize::clean(&opts.working_dir.join(f))
                }
            })
            .collect()
    };
    let project_dir = match &opts.project_directory {
        Some(d) if d.is_absolute() => normalize::clean(d),
        Some(d) => normalize::clean(&opts.working_dir.join(d)),
        None => match files.first() {
            Some(f) if f.as_os_str() != "-" => f
                .parent()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| opts.working_dir.clone()),
            _ => opts.working_dir.clone(),
        },
    };
    Ok((files, project_dir))
}

/// The first directory from `dir` upwards holding a compose file: that file
/// and its override file, if any.
pub fn discover(dir: &Path, warnings: &mut Vec<String>) -> Result<Vec<PathBuf>, ComposeError> {
    let mut cur = Some(dir);
    while let Some(d) = cur {
        let found: Vec<PathBuf> = DEFAULT_FILES
            .iter()
            .map(|n| d.join(n))
            .filter(|p| p.is_file())
            .collect();
        if let Some(first) = found.first() {
            if found.len() > 1 {
                warnings.push(format!(
                    "found multiple compose files with supported names: {}; using {}",
                    found
                        .iter()
                        .map(|p| p.display().to_string())
                        .collect::<Vec<_>>()
                        .join(", "),
                    first.display()
                ));
            }
            let mut out = vec![first.clone()];
            if let Some(o) = OVERRIDE_FILES
                .iter()
                .map(|n| d.join(n))
                .find(|p| p.is_file())
            {
                out.push(o);
            }
            return Ok(out);
        }
        cur = d.parent();
    }
    Err(ComposeError::NotFound {
        dir: dir.to_path_buf(),
    })
}

/// The interpolation environment: `--env-file`s (or `.env`), the process
/// environment over them.
fn project_env(
    opts: &LoadOptions,
    project_dir: &Path,
    process: &BTreeMap<String, String>,
) -> Result<BTreeMap<String, String>, ComposeError> {
    let explicit = !opts.env_files.is_empty();
    let files: Vec<PathBuf> = if explicit {
        opts.env_files
            .iter()
            .map(|f| opts.working_dir.join(f))
            .collect()
    } else {
        vec![project_dir.join(".env")]
    };
    let mut env = BTreeMap::new();
    for f in files {
        let text = match std::fs::read_to_string(&f) {
            Ok(t) => t,
            Err(e) if !explicit && e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(source) => return Err(ComposeError::Read { path: f, source }),
        };
        let known = env.clone();
        let lookup = |k: &str| process.get(k).or_else(|| known.get(k)).cloned();
        let vars =
            dotenv::parse(&text, &lookup).map_err(|(line, message)| ComposeError::EnvFile {
                path: f.clone(),
                line,
                message,
            })?;
        env.extend(vars);
    }
    env.extend(process.iter().map(|(k, v)| (k.clone(), v.clone())));
    Ok(env)
}

/// Finds where a path of the merged document was written: the last file
/// that has it exactly, else the file with the deepest part of it.
struct Locator<'a> {
    sources: &'a [Source],
}

impl Locator<'_> {
    fn locate(&self, path: &str) -> Location {
        let segs = lines::parse_path(path);
        let mut best: Option<(usize, usize, &Source)> = None;
        for src in self.sources.iter().rev() {
            if let Some((depth, line)) = lines::deepest(&src.text, &segs) {
                if depth == segs.len() {
                    best = Some((depth, line, src));
                    break;
                }
                if best.is_none_or(|(d, _, _)| d < depth) {
                    best = Some((depth, line, src));
                }
            }
        }
        match best {
            Some((_, line, src)) => Location {
                file: src.display.clone(),
                path: path.to_string(),
                line: Some(line),
            },
            None => Location {
                file: self
                    .sources
                    .last()
                    .map(|s| s.display.clone())
                    .unwrap_or_default(),
                path: path.to_string(),
                line: None,
            },
        }
    }

    fn error(&self, path: &str, message: impl Into<String>) -> ComposeError {
        ComposeError::Invalid {
            at: self.locate(path),
            message: message.into(),
        }
    }
}

/// Keys of the compose specification berth does not implement: named as
/// such rather than as unknown.
const UNSUPPORTED: &[&str] = &[
    "secrets",
    "configs",
    "include",
    "logging",
    "ulimits",
    "sysctls",
    "devices",
    "links",
    "external_links",
    "security_opt",
    "privileged",
    "shm_size",
    "mem_limit",
    "memswap_limit",
    "mem_reservation",
    "cpus",
    "cpu_shares",
    "cpuset",
    "pids_limit",
    "pid",
    "ipc",
    "userns_mode",
    "platform",
    "domainname",
    "dns_search",
    "dns_opt",
    "mac_address",
    "volumes_from",
    "annotations",
    "group_add",
    "oom_score_adj",
    "isolation",
    "runtime",
    "extends",
    "develop",
    "reservations",
    "placement",
    "restart_policy",
    "update_config",
    "rollback_config",
    "mode",
    "endpoint_mode",
    "cache_from",
    "cache_to",
    "secrets",
    "ssh",
    "network",
    "shm_size",
    "additional_contexts",
    "dockerfile_inline",
    "no_cache",
    "pull",
    "tags",
    "platforms",
];

/// Turns a typed-parse error into one naming the file, path and line.
fn typed_error(
    locator: &Locator,
    err: serde_path_to_error::Error<serde_norway::Error>,
) -> ComposeError {
    let mut path = err.path().to_string();
    if path == "." {
        path.clear();
    }
    let msg = err.inner().to_string();
    // "unknown field `x`, expected one of …": name the key, not the list
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let key = rest.split('`').next().unwrap_or_default();
        // the path already ends at the unknown key when serde got that far
        if !path.ends_with(key) {
            path = if path.is_empty() {
                key.to_string()
            } else {
                format!("{path}.{key}")
            };
        }
        let message = if UNSUPPORTED.contains(&key) {
            format!("{key} is not supported by berth")
        } else {
            format!("unknown key {key:?}")
        };
        return locator.error(&path, message);
    }
    locator.error(&path, msg)
}

/// Removes `x-*` extension keys wherever the spec allows them (everywhere
/// but inside free-form maps such as `environment`, `labels` or `args`).
fn strip_extensions(v: &mut Value, parent: &str) {
    const FREE_FORM: &[&str] = &[
        "environment",
        "labels",
        "args",
        "driver_opts",
        "extra_hosts",
        "options",
        "sysctls",
        "annotations",
    ];
    match v {
        Value::Mapping(m) => {
            if !FREE_FORM.contains(&parent) {
                m.retain(|k, _| !matches!(k, Value::String(s) if s.starts_with("x-")));
            }
            for (k, child) in m.iter_mut() {
                strip_extensions(child, &merge::key_text(k));
            }
        }
        Value::Sequence(s) => {
            for child in s {
                strip_extensions(child, "");
            }
        }
        Value::Tagged(t) => strip_extensions(&mut t.value, parent),
        _ => {}
    }
}

/// Service names become parts of container names and DNS names.
fn valid_service_name(name: &str) -> bool {
    let b = name.as_bytes();
    !b.is_empty()
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'.' | b'-'))
}

/// The YAML parser's time grows with the square of `[`/`{` nesting before
/// its own recursion limit (128) stops it; far deeper nesting is refused
/// first so a hostile file cannot stall a command.
const MAX_FLOW_DEPTH: usize = 1000;

/// The deepest `[`/`{` nesting, counting brackets outside quotes and
/// comments (an over-estimate where plain scalars or multi-line quotes hold
/// brackets, which is harmless at this limit).
fn flow_depth(text: &str) -> usize {
    let (mut depth, mut max) = (0usize, 0usize);
    let mut quote: Option<u8> = None;
    let mut comment = false;
    let mut prev = b' ';
    for &c in text.as_bytes() {
        if comment {
            comment = c != b'\n';
        } else if let Some(q) = quote {
            // a quote ends at its line too: an apostrophe in a plain
            // scalar must not hide the brackets of the lines below
            if c == q || c == b'\n' {
                quote = None;
            }
        } else {
            match c {
                b'[' | b'{' => {
                    depth += 1;
                    max = max.max(depth);
                }
                b']' | b'}' => depth = depth.saturating_sub(1),
                b'"' | b'\'' => quote = Some(c),
                b'#' if prev == b' ' || prev == b'\n' || prev == b'\t' => comment = true,
                _ => {}
            }
        }
        prev = c;
    }
    max
}

fn load_sources(
    sources: Vec<Source>,
    paths: Vec<PathBuf>,
    project_dir: PathBuf,
    process: BTreeMap<String, String>,
    opts: &LoadOptions,
    mut warnings: Vec<String>,
) -> Result<(Project, Vec<String>), ComposeError> {
    let env = project_env(opts, &project_dir, &process)?;
    let lookup = |k: &str| env.get(k).cloned();
    let mut unset = BTreeSet::new();
    let mut merged: Option<Value> = None;
    for src in &sources {
        let yaml_err = |e: serde_norway::Error| ComposeError::Yaml {
            file: src.display.clone(),
            message: e.to_string(),
        };
        if flow_depth(&src.text) > MAX_FLOW_DEPTH {
            return Err(ComposeError::Yaml {
                file: src.display.clone(),
                message: format!("brackets nested more than {MAX_FLOW_DEPTH} levels deep"),
            });
        }
        let mut v: Value = serde_norway::from_str(&src.text).map_err(yaml_err)?;
        v.apply_merge().map_err(yaml_err)?;
        let one = Locator {
            sources: std::slice::from_ref(src),
        };
        match &v {
            Value::Mapping(_) => {}
            Value::Null => return Err(one.error("", "the compose file is empty")),
            _ => return Err(one.error("", "the top level must be a mapping")),
        }
        let mut interp = Interpolator::new(&lookup);
        interp.value(&mut v, &mut Vec::new()).map_err(
            |(path, e): (Vec<Seg>, InterpolationError)| {
                one.error(&lines::path_string(&path), e.to_string())
            },
        )?;
        unset.extend(interp.unset);
        if v.get("version").is_some() {
            warnings.push(format!(
                "{}: the attribute `version` is obsolete and ignored; remove it",
                src.display
            ));
        }
        strip_extensions(&mut v, "");
        merged = Some(match merged {
            None => merge::strip_tags(v),
            Some(base) => merge::merge_files(base, v),
        });
    }
    for var in unset {
        warnings.push(format!(
            "the {var:?} variable is not set, defaulting to a blank string"
        ));
    }
    let locator = Locator { sources: &sources };
    let merged = merged.unwrap_or(Value::Mapping(Default::default()));
    let raw: RawFile =
        serde_path_to_error::deserialize(merged).map_err(|e| typed_error(&locator, e))?;

    let project_name = if let Some(p) = &opts.project_name {
        name::check_explicit(p)?
    } else if let Some(p) = env.get("COMPOSE_PROJECT_NAME").filter(|p| !p.is_empty()) {
        name::check_explicit(p)?
    } else if let Some(p) = raw.name.as_ref().filter(|p| !p.0.is_empty()) {
        name::check_explicit(&p.0).map_err(|e| locator.error("name", e.to_string()))?
    } else {
        let base = project_dir
            .file_name()
            .map(|b| b.to_string_lossy().into_owned())
            .unwrap_or_default();
        let n = name::normalize(&base);
        if n.is_empty() {
            return Err(ComposeError::EmptyProjectName);
        }
        n
    };

    let ctx = Context {
        project_name: &project_name,
        project_dir: &project_dir,
        env: &env,
    };
    let mut services = BTreeMap::new();
    for (key, rs) in raw.services {
        if !valid_service_name(&key) {
            return Err(locator.error(
                &format!("services.{key}"),
                format!("invalid service name {key:?}: use letters, digits, '_', '.' and '-', starting with a letter or digit"),
            ));
        }
        let s = normalize::service(&key, rs, &ctx, &mut warnings)
            .map_err(|(p, m)| locator.error(&p, m))?;
        services.insert(key, s);
    }
    let mut networks: BTreeMap<String, Network> = raw
        .networks
        .into_iter()
        .map(|(key, rn)| {
            let n = normalize::network(&key, rn, &ctx);
            (key, n)
        })
        .collect();
    let mut volumes: BTreeMap<String, _> = raw
        .volumes
        .into_iter()
        .map(|(key, rv)| {
            let v = normalize::volume(&key, rv, &ctx);
            (key, v)
        })
        .collect();

    let profiles: Vec<String> = if opts.profiles.is_empty() {
        env.get("COMPOSE_PROFILES")
            .map(|p| {
                p.split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect()
            })
            .unwrap_or_default()
    } else {
        opts.profiles.clone()
    };
    let (mut active, disabled) =
        crate::profiles::split(services, &profiles, &opts.services, &mut warnings)?;

    // networks: `default` for services that name none
    for s in active.values_mut() {
        if s.networks.is_empty() && s.network_mode.is_none() {
            s.networks.insert("default".into(), Default::default());
        }
    }
    let mut used_networks = BTreeSet::new();
    let mut used_volumes = BTreeSet::new();
    for (sname, s) in &active {
        for net in s.networks.keys() {
            if net != "default" && !networks.contains_key(net) {
                return Err(locator.error(
                    &format!("services.{sname}.networks.{net}"),
                    format!("service {sname:?} refers to undefined network {net:?}: declare it under the top-level networks"),
                ));
            }
            used_networks.insert(net.clone());
        }
        for (i, m) in s.volumes.iter().enumerate() {
            if let (MountKind::Volume, Some(src)) = (m.kind, &m.source) {
                if !volumes.contains_key(src) {
                    return Err(locator.error(
                        &format!("services.{sname}.volumes[{i}]"),
                        format!("service {sname:?} refers to undefined volume {src:?}: declare it under the top-level volumes"),
                    ));
                }
                used_volumes.insert(src.clone());
            }
        }
    }
    if used_networks.contains("default") && !networks.contains_key("default") {
        networks.insert(
            "default".into(),
            Network {
                name: format!("{project_name}_default"),
                ..Default::default()
            },
        );
    }
    networks.retain(|k, _| used_networks.contains(k));
    volumes.retain(|k, _| used_volumes.contains(k));

    let project = Project {
        name: project_name,
        working_dir: project_dir,
        files: paths,
        services: active,
        disabled_services: disabled,
        networks,
        volumes,
        environment: env,
    };
    graph::start_order(&project)?;
    Ok((project, warnings))
}

#[cfg(test)]
mod tests {
    use super::flow_depth;

    #[test]
    fn flow_depth_counts_brackets_outside_quotes_and_comments() {
        assert_eq!(flow_depth("a: [1, {b: [2]}]\n"), 3);
        assert_eq!(flow_depth("a: \"[[[\" # {{{{\nb: '{{'\n"), 0);
        assert_eq!(flow_depth("a: it's\nb: [[x]]\n"), 2);
    }
}
