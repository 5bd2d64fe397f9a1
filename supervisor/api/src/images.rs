//! Image endpoints: list, pull (`POST /images/create`) and push with
//! docker's progress JSON stream, inspect (the CLI's inspect JSON), tag,
//! delete and history.

use std::sync::Arc;

use berth_proto::layers::{HistoryRequest, InspectImageRequest};
use berth_proto::manager::{
    ListImagesRequest, Progress, PullRequest, PushRequest, RemoveImageRequest, TagRequest,
};
use berth_proto::ttrpc;
use berth_proto::ttrpc::r#async::ClientStreamReceiver;
use berth_supervisor::client::Manager;
use berth_supervisor::commands::{container, images, inspect};
use bollard_stubs::models::{HistoryResponseItem, ImageDeleteResponseItem, ImageSummary};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// `GET /images/json`.
pub async fn list(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let mut r = ListImagesRequest::new();
    r.all = q.flag("all")?;
    let filter = crate::filters::images(q)?;
    let m = e.manager().await;
    let mut list = m
        .images
        .list_images(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?
        .images;
    list.sort_by_key(|i| std::cmp::Reverse(i.created.as_ref().map(|t| (t.seconds, t.nanos))));
    let list = filter.select(list, images::image_facts)?;
    let mut out = Vec::new();
    for i in list {
        let mut refs = i.references.clone();
        if refs.is_empty() && !i.reference.is_empty() {
            refs.push(i.reference.clone());
        }
        let tags: Vec<String> = refs
            .iter()
            .filter(|r| !r.contains('@'))
            .map(|r| berth_supervisor::format::familiar(r))
            .collect();
        let labels = serde_json::from_str::<serde_json::Value>(&i.config_json)
            .ok()
            .and_then(|c| serde_json::from_value(c["config"]["Labels"].clone()).ok())
            .unwrap_or_default();
        out.push(ImageSummary {
            id: i.id.clone(),
            parent_id: String::new(),
            repo_tags: tags,
            repo_digests: vec![],
            created: i.created.as_ref().map_or(0, |t| t.seconds),
            size: i.size as i64,
            shared_size: -1,
            virtual_size: None,
            labels,
            containers: -1,
            manifests: None,
        });
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// One layer's progress as docker's JSON message.
pub fn layer_json(p: &Progress) -> serde_json::Value {
    let status = match p.action.as_str() {
        "waiting" => "Waiting",
        "downloading" => "Downloading",
        "verifying" => "Verifying Checksum",
        "extracting" => "Extracting",
        "pushing" => "Pushing",
        "pushed" => "Pushed",
        "already exists" => "Already exists",
        "done" => "Pull complete",
        "loaded" => "Loading layer",
        other => other,
    };
    json!({"status": status, "progressDetail": {"current": p.current, "total": p.total}, "id": p.id})
}

/// Sends a manager progress stream as docker's JSON lines: per-layer
/// `status`/`progressDetail`/`id`, summary messages as `status`, and a
/// failure as `errorDetail` (the status is already 200 then).
async fn progress_json(
    m: Manager,
    stream: ttrpc::Result<ClientStreamReceiver<Progress>>,
    tx: tokio::sync::mpsc::Sender<Bytes>,
    done: Option<String>,
) {
    let line = |v: serde_json::Value| {
        let mut b = serde_json::to_vec(&v).unwrap_or_default();
        b.push(b'\n');
        Bytes::from(b)
    };
    let err = |msg: String| line(json!({"errorDetail": {"message": msg}, "error": msg}));
    let mut rx = match stream {
        Ok(rx) => rx,
        Err(x) => {
            let _ = tx.send(err(m.err(x).to_string())).await;
            return;
        }
    };
    loop {
        let v = match rx.recv().await {
            Ok(Some(p)) if !p.message.is_empty() => json!({"status": p.message}),
            Ok(Some(p)) if p.done || p.id.is_empty() => continue,
            Ok(Some(p)) => layer_json(&p),
            Ok(None) | Err(ttrpc::Error::Eof) => break,
            Err(x) => {
                let msg = match m.err(x) {
                    berth_supervisor::error::CliError::Daemon { message, .. } => message,
                    other => other.to_string(),
                };
                let _ = tx.send(err(msg)).await;
                return;
            }
        };
        if tx.send(line(v)).await.is_err() {
            return;
        }
    }
    if let Some(d) = done {
        let _ = tx.send(line(json!({"status": d}))).await;
    }
}

/// `POST /images/create?fromImage=&tag=`: a pull (with the credentials
/// of `X-Registry-Auth`); `fromSrc=` is an import.
pub async fn pull(e: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> Result<Resp, ApiError> {
    if q.get("fromSrc").is_some() {
        return crate::image_io::import(e, req, q).await;
    }
    let (username, password) = crate::auth::registry_auth(req.headers())?;
    let Some(from) = q.get("fromImage").filter(|f| !f.is_empty()) else {
        return Err(ApiError::bad_request(
            "images/create needs fromImage= (a pull) or fromSrc=- (an import)",
        ));
    };
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) if t.starts_with("sha256:") => format!("{from}@{t}"),
        Some(t) => format!("{from}:{t}"),
        None => container::with_default_tag(from),
    };
    let m = e.manager().await;
    let mut r = PullRequest::new();
    r.reference = reference.clone();
    (r.username, r.password) = (username, password);
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    tokio::spawn(async move {
        let s = m.images.pull_image(m.ctx(), &r).await;
        progress_json(m, s, tx, None).await;
    });
    Ok(resp)
}

/// `POST /images/{name}/push?tag=`, with the credentials of
/// `X-Registry-Auth`.
pub async fn push(
    e: &Arc<Engine>,
    req: Request<Incoming>,
    name: &str,
    q: &Query,
) -> Result<Resp, ApiError> {
    let reference = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{name}:{t}"),
        None => container::with_default_tag(name),
    };
    let m = e.manager().await;
    let mut r = PushRequest::new();
    r.reference = reference;
    (r.username, r.password) = crate::auth::registry_auth(req.headers())?;
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    tokio::spawn(async move {
        let s = m.images.push_image(m.ctx(), &r).await;
        progress_json(m, s, tx, None).await;
    });
    Ok(resp)
}

/// A manager NOT_FOUND for an image, worded as docker words it.
fn no_such_image(name: &str) -> impl Fn(ApiError) -> ApiError + '_ {
    move |x| {
        if x.status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!("No such image: {name}"))
        } else {
            x
        }
    }
}

/// `GET /images/{name}/json`: the CLI's image inspect JSON.
pub async fn inspect(e: &Arc<Engine>, name: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let mut r = InspectImageRequest::new();
    r.image = name.to_string();
    let i = m
        .layers
        .inspect_image(m.ctx(), &r)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(no_such_image(name))?;
    Ok(http::json(StatusCode::OK, &inspect::raw_image_json(&i)))
}

/// `POST /images/{name}/tag?repo=&tag=`.
pub async fn tag(e: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let repo = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .ok_or_else(|| ApiError::bad_request("tag needs a repository (?repo=)"))?;
    let target = match q.get("tag").filter(|t| !t.is_empty()) {
        Some(t) => format!("{repo}:{t}"),
        None => container::with_default_tag(repo),
    };
    let m = e.manager().await;
    let mut r = TagRequest::new();
    r.source = name.to_string();
    r.target = target;
    m.images
        .tag_image(m.ctx(), &r)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(no_such_image(name))?;
    Ok(http::empty(StatusCode::CREATED))
}

/// `DELETE /images/{name}?force`.
pub async fn delete(e: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let mut r = RemoveImageRequest::new();
    r.reference = name.to_string();
    r.force = q.flag("force")?;
    let resp = m
        .images
        .remove_image(m.ctx(), &r)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(no_such_image(name))?;
    let mut out: Vec<ImageDeleteResponseItem> = resp
        .untagged
        .iter()
        .map(|u| ImageDeleteResponseItem {
            untagged: Some(berth_supervisor::format::familiar(u)),
            deleted: None,
        })
        .collect();
    out.extend(resp.deleted.iter().map(|d| ImageDeleteResponseItem {
        untagged: None,
        deleted: Some(d.clone()),
    }));
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /images/{name}/history`.
pub async fn history(e: &Arc<Engine>, name: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let mut r = HistoryRequest::new();
    r.image = name.to_string();
    let h = m
        .layers
        .history(m.ctx(), &r)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(no_such_image(name))?;
    let out: Vec<HistoryResponseItem> = h
        .entries
        .iter()
        .map(|x| HistoryResponseItem {
            id: if x.id.is_empty() {
                "<missing>".into()
            } else {
                x.id.clone()
            },
            created: x.created.as_ref().map_or(0, |t| t.seconds),
            created_by: x.created_by.clone(),
            tags: x.tags.clone(),
            size: x.size as i64,
            comment: x.comment.clone(),
        })
        .collect();
    Ok(http::json(StatusCode::OK, &out))
}
