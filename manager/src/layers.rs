//! Images made here: `commit` of a container's changes (pausing it while
//! its upper dir is read), new images from a parent plus a layer tar or a
//! config change (a build's steps), `diff`, `history`, `image inspect`'s
//! raw config, and the build cache. The image store does the work on a
//! blocking thread; this module finds containers, pauses and resumes them,
//! and speaks the wire's messages.

use std::path::PathBuf;
use std::sync::Arc;

use berth_image_store::{Error as StoreError, ImageStore, NewImage, NewLayer};
use berth_proto::layers as lpb;
use berth_proto::manager as pb;
use serde_json::Value;

use crate::error::{ManagerError, Result};
use crate::manager::Manager;
use crate::record::{timestamp, Status};
use crate::service::images::image_error;
use crate::timefmt::parse_rfc3339;

/// An image store error as the request's error.
pub fn layers_error(e: StoreError) -> ManagerError {
    match e {
        StoreError::Lineage(_) | StoreError::Create(_) => {
            ManagerError::InvalidArgument(e.to_string())
        }
        StoreError::Snapshot(berth_image_store::SnapshotError::NotFound(_)) => {
            ManagerError::NotFound(e.to_string())
        }
        e => image_error(e),
    }
}

/// Runs `f` on the image store on a blocking thread.
async fn blocking<T: Send + 'static>(
    store: &Arc<ImageStore>,
    f: impl FnOnce(&ImageStore) -> std::result::Result<T, StoreError> + Send + 'static,
) -> Result<T> {
    let store = store.clone();
    tokio::task::spawn_blocking(move || f(&store))
        .await
        .map_err(ManagerError::internal)?
        .map_err(layers_error)
}

/// A request's `config_json`: `None` when empty, else a JSON object.
fn parse_config(field: &str, json: &str) -> Result<Option<Value>> {
    if json.trim().is_empty() {
        return Ok(None);
    }
    let v: Value = serde_json::from_str(json)
        .map_err(|e| ManagerError::InvalidArgument(format!("{field}: not valid JSON: {e}")))?;
    if !v.is_object() {
        return Err(ManagerError::InvalidArgument(format!(
            "{field}: want a JSON object"
        )));
    }
    Ok(Some(v))
}

fn non_empty(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_string())
}

/// The container's command line as docker writes it into `created_by`.
fn command_line(spec_json: &str) -> String {
    serde_json::from_str::<Value>(spec_json)
        .ok()
        .and_then(|s| {
            s["process"]["args"].as_array().map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(" ")
            })
        })
        .unwrap_or_default()
}

impl Manager {
    /// `commit`: the container's upper dir as a new layer on its image.
    pub async fn commit_container(&self, req: lpb::CommitRequest) -> Result<pb::ImageInfo> {
        let config = parse_config("config_json", &req.config_json)?;
        let rec = self.resolve(&req.container)?;
        let _g = self.lock_container(&rec.id).await;
        let rec = self.resolve(&rec.id)?;
        if rec.snapshot.is_empty() {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} has no filesystem to commit",
                rec.name
            )));
        }
        let spec = NewImage {
            parent: None,
            config,
            created_by: if req.created_by.is_empty() {
                command_line(&rec.spec_json)
            } else {
                req.created_by.clone()
            },
            comment: req.comment.clone(),
            author: req.author.clone(),
            reference: non_empty(&req.reference),
            cache_key: non_empty(&req.build_cache_key),
        };
        // Paused, nothing in the container writes while its upper dir is read.
        // Recorded as paused while it is, so a manager killed meanwhile
        // leaves a container `unpause` can resume.
        let paused = if req.pause && rec.status == Status::Running {
            let client = self.running_client(&rec)?;
            client.pause(&rec.id).await?;
            if let Err(e) = self.store.update(&rec.id, |r| r.status = Status::Paused) {
                let _ = client.resume(&rec.id).await;
                return Err(e.into());
            }
            Some(client)
        } else {
            None
        };
        let key = rec.snapshot.clone();
        let made = blocking(&self.images, move |s| s.commit_snapshot(&key, &spec)).await;
        if let Some(client) = paused {
            if let Err(e) = client.resume(&rec.id).await {
                // still recorded as paused: `unpause` can try again
                return Err(ManagerError::Internal(format!(
                    "container {} stays paused after commit: {e}",
                    rec.name
                )));
            }
            self.store.update(&rec.id, |r| {
                if r.status == Status::Paused {
                    r.status = Status::Running
                }
            })?;
        }
        let summary = made?;
        self.container_event(&rec, "commit", &[]);
        self.image_info(summary.id.to_string()).await
    }

    /// A new image from a parent (or scratch), a layer tar and a config.
    pub async fn create_image(&self, req: lpb::CreateImageRequest) -> Result<pb::ImageInfo> {
        let config = parse_config("config_json", &req.config_json)?;
        let tar = non_empty(&req.layer_tar_path).map(PathBuf::from);
        if let Some(t) = &tar {
            if !t.is_file() {
                return Err(ManagerError::InvalidArgument(format!(
                    "layer_tar_path: no such file: {}",
                    t.display()
                )));
            }
        }
        let spec = NewImage {
            parent: non_empty(&req.parent),
            config,
            created_by: req.created_by.clone(),
            comment: req.comment.clone(),
            author: String::new(),
            reference: non_empty(&req.reference),
            cache_key: non_empty(&req.build_cache_key),
        };
        let summary = blocking(&self.images, move |s| {
            let layer = match &tar {
                Some(t) => NewLayer::Tar(t),
                None => NewLayer::None,
            };
            s.create_image(&spec, layer)
        })
        .await?;
        self.image_info(summary.id.to_string()).await
    }

    /// `diff`: the container's changes, A/C/D.
    pub async fn diff_container(&self, req: lpb::DiffRequest) -> Result<lpb::DiffResponse> {
        let rec = self.resolve(&req.container)?;
        if rec.snapshot.is_empty() {
            return Ok(lpb::DiffResponse::default());
        }
        let key = rec.snapshot.clone();
        let changes = blocking(&self.images, move |s| s.snapshot_changes(&key)).await?;
        Ok(lpb::DiffResponse {
            changes: changes
                .into_iter()
                .map(|c| lpb::Change {
                    kind: c.kind.letter().to_string(),
                    path: c.path,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    /// `history`: newest first.
    pub async fn image_history(&self, req: lpb::HistoryRequest) -> Result<lpb::HistoryResponse> {
        let image = req.image.clone();
        let rows = blocking(&self.images, move |s| s.history(&image)).await?;
        Ok(lpb::HistoryResponse {
            entries: rows
                .into_iter()
                .map(|r| lpb::HistoryEntry {
                    id: r.id.map(|d| d.to_string()).unwrap_or_default(),
                    created: timestamp(r.created.as_deref().and_then(parse_rfc3339).unwrap_or(0)),
                    created_by: r.created_by,
                    size: r.size,
                    comment: r.comment,
                    empty_layer: r.empty_layer,
                    tags: r.tags,
                    ..Default::default()
                })
                .collect(),
            ..Default::default()
        })
    }

    pub async fn inspect_image(
        &self,
        req: lpb::InspectImageRequest,
    ) -> Result<lpb::InspectImageResponse> {
        let image = req.image.clone();
        let raw = blocking(&self.images, move |s| s.raw_image(&image)).await?;
        Ok(lpb::InspectImageResponse {
            id: raw.id.to_string(),
            manifest_digest: raw.manifest_digest.to_string(),
            references: raw.names,
            config_json: String::from_utf8_lossy(&raw.config).into_owned(),
            size: raw.size,
            parent: raw.parent.map(|p| p.to_string()).unwrap_or_default(),
            ..Default::default()
        })
    }

    pub async fn lookup_build_cache(
        &self,
        req: lpb::BuildCacheKey,
    ) -> Result<lpb::BuildCacheEntry> {
        let key = req.key.clone();
        let found = blocking(&self.images, move |s| s.lookup_build_cache(&key)).await?;
        match found {
            Some(id) => Ok(lpb::BuildCacheEntry {
                key: req.key,
                image_id: id.to_string(),
                ..Default::default()
            }),
            None => Err(ManagerError::NotFound(format!(
                "no build cache entry for key {}",
                req.key
            ))),
        }
    }

    pub async fn store_build_cache(&self, req: lpb::BuildCacheEntry) -> Result<()> {
        let (key, image) = (req.key.clone(), req.image_id.clone());
        blocking(&self.images, move |s| s.store_build_cache(&key, &image)).await?;
        Ok(())
    }

    /// A made image as `GetImage` describes it, with its config as stored.
    async fn image_info(&self, id: String) -> Result<pb::ImageInfo> {
        let raw = blocking(&self.images, move |s| s.raw_image(&id)).await?;
        let cfg: Value = serde_json::from_slice(&raw.config).unwrap_or(Value::Null);
        let s = |k: &str| cfg[k].as_str().unwrap_or_default().to_string();
        Ok(pb::ImageInfo {
            reference: raw.names.first().cloned().unwrap_or_default(),
            references: raw.names,
            id: raw.id.to_string(),
            manifest_digest: raw.manifest_digest.to_string(),
            size: raw.size,
            created: timestamp(cfg["created"].as_str().and_then(parse_rfc3339).unwrap_or(0)),
            config_json: cfg.get("config").map(Value::to_string).unwrap_or_default(),
            architecture: s("architecture"),
            os: s("os"),
            ..Default::default()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_json_must_be_an_object() {
        assert!(parse_config("c", "").unwrap().is_none());
        assert!(parse_config("c", "{\"Cmd\":[\"sh\"]}").unwrap().is_some());
        let e = parse_config("config_json", "[1]").unwrap_err().to_string();
        assert_eq!(e, "config_json: want a JSON object");
        let e = parse_config("config_json", "{").unwrap_err().to_string();
        assert!(e.starts_with("config_json: not valid JSON"), "{e}");
    }

    #[test]
    fn created_by_is_the_command_line() {
        let spec = r#"{"process":{"args":["/bin/sh","-c","echo hi > /x"]}}"#;
        assert_eq!(command_line(spec), "/bin/sh -c echo hi > /x");
        assert_eq!(command_line("nonsense"), "");
    }
}
