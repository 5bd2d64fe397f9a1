//! A container's files over the API: `HEAD`, `GET` and `PUT
//! /containers/{id}/archive` (what `docker cp` calls both ways) and `GET
//! /containers/{id}/export`, through the same confined tree code as
//! `berth cp` and `berth export` (paths resolved under the container's
//! root, so a symlink never leads out of it). Each runs on a thread of its
//! own (see [`crate::blocking`]).

use std::sync::Arc;

use base64::Engine as _;
use berth_proto::manager::ContainerInfo;
use berth_supervisor::commands::container;
use berth_supervisor::cp::export::export_to;
use berth_supervisor::cp::remote::{self, PathStat, RemoteCopyError};
use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::{Request, StatusCode};

use crate::blocking::{body_reader, on_own_thread, stream_response};
use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

impl From<RemoteCopyError> for ApiError {
    fn from(e: RemoteCopyError) -> ApiError {
        match e {
            RemoteCopyError::NotFound(..) => ApiError::not_found(e.to_string()),
            RemoteCopyError::NotADirectory(_) => ApiError::bad_request(e.to_string()),
            RemoteCopyError::Open(c) => ApiError::from(c),
            RemoteCopyError::Io(..) => ApiError::internal(e.to_string()),
        }
    }
}

/// The `path` parameter, required.
fn path_of(q: &Query) -> Result<String, ApiError> {
    q.get("path")
        .filter(|p| !p.is_empty())
        .map(String::from)
        .ok_or_else(|| ApiError::bad_request("path cannot be empty"))
}

/// `X-Docker-Container-Path-Stat`: base64 of the stat's JSON.
fn stat_header(s: &PathStat) -> HeaderValue {
    let json = serde_json::to_vec(s).unwrap_or_default();
    let b64 = base64::engine::general_purpose::STANDARD.encode(json);
    HeaderValue::from_str(&b64).unwrap_or_else(|_| HeaderValue::from_static(""))
}

/// The container `id`; a missing one is docker's 404 `No such
/// container: ID`.
pub async fn resolve(e: &Engine, id: &str) -> Result<ContainerInfo, ApiError> {
    let m = e.manager().await;
    container::resolve(&m, id).await.map_err(|x| {
        let x = ApiError::from(x);
        if x.status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!("No such container: {id}"))
        } else {
            x
        }
    })
}

async fn stat(e: &Arc<Engine>, id: &str, path: String) -> Result<PathStat, ApiError> {
    let c = resolve(e, id).await?;
    let id = id.to_string();
    on_own_thread(move || {
        let root = remote::open(&c)?;
        remote::stat(&root, &id, &path)
    })
    .await?
    .map_err(ApiError::from)
}

/// `HEAD /containers/{id}/archive?path=`: the path's stat in the header.
pub async fn head(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let s = stat(e, id, path_of(q)?).await?;
    let mut r = http::empty(StatusCode::OK);
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&s));
    Ok(r)
}

/// `GET /containers/{id}/archive?path=`: the path as a tar, its stat in
/// the header.
pub async fn get(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let path = path_of(q)?;
    let s = stat(e, id, path.clone()).await?;
    let c = resolve(e, id).await?;
    let mut r = stream_response("application/x-tar", move |w| {
        let root = remote::open(&c)?;
        remote::archive(&root, &path, w).map_err(ApiError::from)
    })
    .await?;
    r.headers_mut()
        .insert("X-Docker-Container-Path-Stat", stat_header(&s));
    Ok(r)
}

/// How much of a request body left after the tar's end (or after a refusal)
/// is read before the answer, so that the client reads the answer.
const UNREAD_BODY_LIMIT: u64 = 1 << 20;

/// `PUT /containers/{id}/archive?path=&noOverwriteDirNonDir=&copyUIDGID=`:
/// the request's tar written into the existing directory `path`.
pub async fn put(
    e: &Arc<Engine>,
    req: Request<Incoming>,
    id: &str,
    q: &Query,
) -> Result<Resp, ApiError> {
    let path = path_of(q)?;
    let no_overwrite = q.flag("noOverwriteDirNonDir")?;
    let copy_owner = q.flag("copyUIDGID")?;
    let c = resolve(e, id).await?;
    let mut input = body_reader(req);
    let id = id.to_string();
    on_own_thread(move || {
        let copied = (|| -> Result<(), ApiError> {
            let root = remote::open(&c)?;
            Ok(remote::extract(
                &root,
                &id,
                &path,
                &mut input,
                copy_owner,
                no_overwrite,
            )?)
        })();
        input.drain(UNREAD_BODY_LIMIT);
        copied
    })
    .await??;
    Ok(http::empty(StatusCode::OK))
}

/// `GET /containers/{id}/export`: the container's filesystem as one tar.
pub async fn export(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let c = resolve(e, id).await?;
    let name = id.to_string();
    stream_response("application/x-tar", move |w| {
        export_to(&c, w)
            .map_err(|x| ApiError::internal(format!("failed to export container {name}: {x}")))
    })
    .await
}
