//! `compose config`: the resolved model in docker compose's shape, as YAML
//! or JSON, and the lists of `config --services` / `--volumes`.

use serde::Serializer;
use serde_norway::Value;

use crate::error::ComposeError;
use crate::model::Project;

/// The output format of `compose config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

/// Renders the resolved project (active services, their networks and
/// volumes) as `compose config` prints it. A literal `$` prints as `$$`, so
/// the output loads back to the same project.
pub fn render_config(project: &Project, format: ConfigFormat) -> Result<String, ComposeError> {
    let render_err = |e: &dyn std::fmt::Display| ComposeError::Render(e.to_string());
    let mut tree = serde_norway::to_value(project).map_err(|e| render_err(&e))?;
    escape_dollars(&mut tree);
    match format {
        ConfigFormat::Yaml => serde_norway::to_string(&tree).map_err(|e| render_err(&e)),
        ConfigFormat::Json => serde_json::to_string_pretty(&tree)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| render_err(&e)),
    }
}

fn escape_dollars(v: &mut Value) {
    match v {
        Value::String(s) if s.contains('$') => *s = s.replace('$', "$$"),
        Value::Sequence(items) => items.iter_mut().for_each(escape_dollars),
        Value::Mapping(m) => m.values_mut().for_each(escape_dollars),
        Value::Tagged(t) => escape_dollars(&mut t.value),
        _ => {}
    }
}

/// `config --services`: active service names, in start order.
pub fn service_names(project: &Project) -> Vec<String> {
    crate::graph::start_order(project)
        .unwrap_or_else(|_| project.services.keys().cloned().collect())
}

/// `config --volumes`: the project's volume keys.
pub fn volume_names(project: &Project) -> Vec<String> {
    project.volumes.keys().cloned().collect()
}

/// `config --networks`: the project's network keys.
pub fn network_names(project: &Project) -> Vec<String> {
    project.networks.keys().cloned().collect()
}

/// Durations print as Go does (`1m30s`), the form compose files use.
pub(crate) fn ser_opt_duration<S: Serializer>(v: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(ns) => s.serialize_str(&berth_godur::format(*ns)),
        None => s.serialize_none(),
    }
}
