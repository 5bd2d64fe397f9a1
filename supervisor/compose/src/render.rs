//! `compose config`: the resolved model in docker compose's shape, as YAML
//! or JSON, and the lists of `config --services` / `--volumes`.

use serde::Serializer;

use crate::error::ComposeError;
use crate::model::Project;

/// The output format of `compose config`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ConfigFormat {
    Yaml,
    Json,
}

/// Renders the resolved project (active services, their networks and
/// volumes) as `compose config` prints it.
pub fn render_config(project: &Project, format: ConfigFormat) -> Result<String, ComposeError> {
    match format {
        ConfigFormat::Yaml => {
            serde_norway::to_string(project).map_err(|e| ComposeError::Render(e.to_string()))
        }
        ConfigFormat::Json => serde_json::to_string_pretty(project)
            .map(|mut s| {
                s.push('\n');
                s
            })
            .map_err(|e| ComposeError::Render(e.to_string())),
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
