//! Commands about images made here and the layers they are made of:
//! `commit`, `history`, `diff` and `image inspect`.

use std::collections::BTreeMap;

use berth_proto::layers::{CommitRequest, DiffRequest, HistoryRequest, InspectImageRequest};
use berth_proto::manager::ContainerInfo;
use chrono::{SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::change::apply_changes;
use crate::cli::{CommitArgs, DiffArgs, HistoryArgs, ImageInspectArgs};
use crate::client::Manager;
use crate::commands::inspect::raw_image_json;
use crate::error::CliError;
use crate::format::{ago, ellipsis, human_size, short_id, ts};
use crate::render::{Columns, ListFormat};

fn fail(e: CliError) -> i32 {
    eprintln!("{e}");
    1
}

/// The image's `config` object as stored.
async fn image_run_config(m: &Manager, image: &str) -> Result<Map<String, Value>, CliError> {
    let mut r = InspectImageRequest::new();
    r.image = image.to_string();
    let raw = m
        .layers
        .inspect_image(m.ctx(), &r)
        .await
        .map_err(|e| m.err(e))?;
    let cfg: Value = serde_json::from_str(&raw.config_json).unwrap_or(Value::Null);
    Ok(cfg["config"].as_object().cloned().unwrap_or_default())
}

fn key_of(kv: &str) -> &str {
    kv.split_once('=').map_or(kv, |(k, _)| k)
}

/// The config a committed image gets, as docker gives it: the image's,
/// with the container's command line, environment, working dir and labels.
pub fn container_config(image: &Map<String, Value>, c: &ContainerInfo) -> Map<String, Value> {
    let mut cfg = image.clone();
    let spec: Value = serde_json::from_str(&c.spec_json).unwrap_or(Value::Null);
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default()
    };
    let image_env = strings(&cfg.get("Env").cloned().unwrap_or(Value::Null));
    let in_image = |k: &str| image_env.iter().any(|e| key_of(e) == k);
    // what the front end adds at run time, not part of the container's config
    let env: Vec<String> = strings(&spec["process"]["env"])
        .into_iter()
        .filter(|e| {
            let k = key_of(e);
            !matches!(k, "HOSTNAME" | "TERM" | "HOME" | "PATH") || in_image(k)
        })
        .collect();
    if !env.is_empty() || cfg.contains_key("Env") {
        cfg.insert("Env".into(), json!(env));
    }
    let args = strings(&spec["process"]["args"]);
    let entrypoint = strings(&cfg.get("Entrypoint").cloned().unwrap_or(Value::Null));
    if !args.is_empty() {
        if !entrypoint.is_empty() && args.starts_with(&entrypoint) {
            let rest = &args[entrypoint.len()..];
            cfg.insert(
                "Cmd".into(),
                if rest.is_empty() {
                    Value::Null
                } else {
                    json!(rest)
                },
            );
        } else if !entrypoint.is_empty() {
            // run with --entrypoint
            cfg.insert("Entrypoint".into(), json!([args[0]]));
            cfg.insert("Cmd".into(), json!(args[1..]));
        } else {
            cfg.insert("Cmd".into(), json!(args));
        }
    }
    if let Some(cwd) = spec["process"]["cwd"].as_str() {
        if cwd != "/"
            || cfg
                .get("WorkingDir")
                .and_then(Value::as_str)
                .is_some_and(|w| !w.is_empty())
        {
            cfg.insert("WorkingDir".into(), json!(cwd));
        }
    }
    let labels: BTreeMap<&String, &String> = c
        .labels
        .iter()
        .filter(|(k, _)| !k.starts_with("berth."))
        .collect();
    if !labels.is_empty() {
        let l = cfg.entry("Labels").or_insert_with(|| json!({}));
        if !l.is_object() {
            *l = json!({});
        }
        if let Some(l) = l.as_object_mut() {
            for (k, v) in labels {
                l.insert(k.clone(), json!(v));
            }
        }
    }
    cfg
}

/// Refuses a bad `-c` line before the manager is even asked.
pub fn check_changes(a: &CommitArgs) -> Result<(), CliError> {
    apply_changes(&mut Map::new(), &a.change).map_err(|e| CliError::Invalid(format!("berth: {e}")))
}

/// Commits a container to an image as `a` asks (`berth commit` and the
/// API's `POST /commit`); returns the new image's id.
pub async fn commit_container(m: &Manager, a: &CommitArgs) -> Result<String, CliError> {
    let c = crate::commands::container::resolve(m, &a.container).await?;
    let image = if c.image_id.is_empty() {
        &c.image
    } else {
        &c.image_id
    };
    let base = image_run_config(m, image).await?;
    let mut cfg = container_config(&base, &c);
    apply_changes(&mut cfg, &a.change).map_err(|e| CliError::Invalid(format!("berth: {e}")))?;
    let mut r = CommitRequest::new();
    r.container = c.id.clone();
    r.config_json = Value::Object(cfg).to_string();
    r.comment = a.message.clone().unwrap_or_default();
    r.author = a.author.clone().unwrap_or_default();
    r.pause = a.pause;
    r.reference = a.reference.clone().unwrap_or_default();
    let i = m.layers.commit(m.ctx(), &r).await.map_err(|e| m.err(e))?;
    Ok(i.id)
}

/// `berth commit`.
pub async fn commit(m: &Manager, a: &CommitArgs) -> i32 {
    match commit_container(m, a).await {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(e) => fail(e),
    }
}

/// `berth history`.
pub async fn history(m: &Manager, a: &HistoryArgs) -> i32 {
    let fmt = match ListFormat::from_flag(a.format.as_deref(), &HISTORY_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let mut r = HistoryRequest::new();
    r.image = a.image.clone();
    let rows = match m.layers.history(m.ctx(), &r).await {
        Ok(h) => h.entries,
        Err(e) => {
            let e = m.err(e);
            if e.is_not_found() {
                return fail(CliError::Daemon {
                    code: berth_proto::ttrpc::Code::NOT_FOUND,
                    message: format!("No such image: {}", a.image),
                });
            }
            return fail(e);
        }
    };
    let now = Utc::now();
    let id = |s: &str| -> String {
        if s.is_empty() {
            "<missing>".into()
        } else if a.no_trunc {
            s.to_string()
        } else {
            short_id(s).to_string()
        }
    };
    if a.quiet {
        for h in &rows {
            println!("{}", id(&h.id));
        }
        return 0;
    }
    let created_by = |s: &str| -> String {
        let s = s.replace('\t', " ");
        if a.no_trunc {
            s
        } else {
            ellipsis(&s, 45)
        }
    };
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|h| {
            let created = ts(h.created.as_ref());
            json!({
                "Comment": h.comment,
                "CreatedAt": created.map(|t| t.to_rfc3339_opts(SecondsFormat::Secs, true)).unwrap_or_default(),
                "CreatedBy": created_by(&h.created_by),
                "CreatedSince": ago(created, now),
                "ID": id(&h.id),
                "Size": human_size(h.size),
            })
        })
        .collect();
    fmt.print(&rows, &HISTORY_COLUMNS)
}

/// `history`'s fields and headers, as docker's history context names them.
pub const HISTORY_COLUMNS: Columns = Columns {
    context: "*formatter.historyContext",
    default: "table {{.ID}}\\t{{.CreatedSince}}\\t{{.CreatedBy}}\\t{{.Size}}\\t{{.Comment}}",
    headers: &[
        ("ID", "IMAGE"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("CreatedBy", "CREATED BY"),
        ("Size", "SIZE"),
        ("Comment", "COMMENT"),
    ],
    older_errors: false,
};

/// `berth diff`.
pub async fn diff(m: &Manager, a: &DiffArgs) -> i32 {
    let mut r = DiffRequest::new();
    r.container = a.container.clone();
    match m.layers.diff(m.ctx(), &r).await {
        Ok(d) => {
            for c in &d.changes {
                println!("{} {}", c.kind, c.path);
            }
            0
        }
        Err(e) => fail(m.err(e)),
    }
}

/// `berth image inspect`.
pub async fn image_inspect(m: &Manager, a: &ImageInspectArgs) -> i32 {
    if let Err(e) = crate::render::check_inspect(a.format.as_deref()) {
        eprintln!("{e}");
        return e.exit_code();
    }
    let mut found = Vec::new();
    let mut code = 0;
    for n in &a.images {
        let mut r = InspectImageRequest::new();
        r.image = n.clone();
        match m.layers.inspect_image(m.ctx(), &r).await {
            Ok(raw) => found.push(raw_image_json(&raw)),
            Err(e) => {
                let e = m.err(e);
                if e.is_not_found() {
                    eprintln!("{}", CliError::NoSuchImage(n.clone()));
                    code = 1;
                } else {
                    return fail(e);
                }
            }
        }
    }
    match crate::render::print_inspect(&found, a.format.as_deref()) {
        0 => code,
        c => c,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn committed_config_carries_the_container_command() {
        let image = json!({"Env": ["PATH=/bin"], "Cmd": ["sh"], "Entrypoint": null})
            .as_object()
            .cloned()
            .unwrap();
        let c = ContainerInfo {
            spec_json: json!({"process": {
                "args": ["echo", "hi"],
                "env": ["PATH=/bin", "HOSTNAME=x", "A=1", "HOME=/root"],
                "cwd": "/"
            }})
            .to_string(),
            ..Default::default()
        };
        let cfg = container_config(&image, &c);
        assert_eq!(cfg["Cmd"], json!(["echo", "hi"]));
        assert_eq!(cfg["Env"], json!(["PATH=/bin", "A=1"]));
        assert!(!cfg.contains_key("WorkingDir"));
    }
}
