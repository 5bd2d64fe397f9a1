//! Image archives over the API: `POST /images/load` (docker load),
//! `GET /images/{name}/get` and `GET /images/get?names=` (docker save),
//! `POST /images/create?fromSrc=-` (docker import). The body is spooled
//! to a file under the state dir and handed to the manager (or the
//! manager's archive streamed back) by the same library functions as
//! `berth load`, `save` and `import`; the spooled file is removed
//! whatever happens.

use std::sync::Arc;

use berth_proto::ttrpc;
use berth_supervisor::commands::images::{
    import_archive, load_archive, save_archive, spool_file, TempFile,
};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use tokio::io::AsyncReadExt;

use crate::blocking::body_to_file;
use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

fn line(v: serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// `Loaded image: REF` with the reference as docker shows it
/// (`busybox:latest`, not `docker.io/library/busybox:latest`).
fn familiar_message(m: &str) -> String {
    match m.strip_prefix("Loaded image: ") {
        Some(r) => format!("Loaded image: {}", berth_supervisor::format::familiar(r)),
        None => m.to_string(),
    }
}

/// The request body in a spooled file under the state dir.
async fn spool(e: &Engine, req: Request<Incoming>, what: &str) -> Result<TempFile, ApiError> {
    let (f, tmp) = spool_file(&e.dirs.state, what)?;
    body_to_file(req, f).await?;
    Ok(tmp)
}

/// `POST /images/load?quiet=`: docker's JSON stream, `{"stream": "Loaded
/// image: …\n"}` per image (and layer progress unless `quiet`). An
/// archive the manager refuses before loading anything is the response's
/// status (400 for a malformed one), as docker answers.
pub async fn load(e: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> Result<Resp, ApiError> {
    let quiet = q.flag("quiet")?;
    let tmp = spool(e, req, "load").await?;
    let m = e.manager().await;
    let mut rx = load_archive(&m, &tmp.0).await.map_err(|x| m.err(x))?;
    let first = match rx.recv().await {
        Ok(p) => p,
        Err(ttrpc::Error::Eof) => None,
        Err(x) => return Err(m.err(x).into()),
    };
    let (tx, resp) = http::channel("application/json");
    tokio::spawn(async move {
        let _keep = tmp;
        let mut next = first;
        while let Some(p) = next.take() {
            let v = if !p.message.is_empty() {
                Some(json!({"stream": format!("{}\n", familiar_message(&p.message))}))
            } else if !quiet && !p.done && !p.id.is_empty() {
                Some(crate::images::layer_json(&p))
            } else {
                None
            };
            if let Some(v) = v {
                if tx.send(line(v)).await.is_err() {
                    return;
                }
            }
            next = match rx.recv().await {
                Ok(p) => p,
                Err(ttrpc::Error::Eof) => None,
                Err(x) => {
                    let msg = match m.err(x) {
                        berth_supervisor::error::CliError::Daemon { message, .. } => message,
                        other => other.to_string(),
                    };
                    let _ = tx
                        .send(line(json!({"errorDetail": {"message": msg}, "error": msg})))
                        .await;
                    return;
                }
            };
        }
    });
    Ok(resp)
}

/// `GET /images/{name}/get` and `GET /images/get?names=…`: one archive
/// of the images, streamed from the file the manager wrote.
pub async fn save(e: &Arc<Engine>, names: Vec<String>) -> Result<Resp, ApiError> {
    if names.is_empty() {
        return Err(ApiError::bad_request("no images to save (?names=)"));
    }
    let (f, tmp) = spool_file(&e.dirs.state, "save")?;
    drop(f);
    let m = e.manager().await;
    save_archive(&m, &names, &tmp.0).await?;
    let mut file = tokio::fs::File::open(&tmp.0)
        .await
        .map_err(|x| ApiError::internal(format!("open the saved archive: {x}")))?;
    let (tx, mut resp) = http::channel("application/x-tar");
    *resp.status_mut() = StatusCode::OK;
    tokio::spawn(async move {
        let _keep = tmp;
        let mut buf = vec![0u8; 256 << 10];
        loop {
            match file.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if tx.send(Bytes::copy_from_slice(&buf[..n])).await.is_err() {
                        break;
                    }
                }
            }
        }
    });
    Ok(resp)
}

/// `POST /images/create?fromSrc=-&repo=&tag=`: the body's rootfs tarball
/// as a new image; docker's JSON stream with its id as the status.
pub async fn import(e: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> Result<Resp, ApiError> {
    if q.get("fromSrc") != Some("-") {
        return Err(ApiError::bad_request(
            "berth imports from the request body only (fromSrc=-)",
        ));
    }
    if q.all("changes").iter().any(|c| !c.is_empty()) {
        return Err(ApiError::bad_request(
            "berth import takes no changes (--change)",
        ));
    }
    let reference = match (q.get("repo").filter(|r| !r.is_empty()), q.get("tag")) {
        (None, _) => String::new(),
        (Some(r), Some(t)) if !t.is_empty() => format!("{r}:{t}"),
        (Some(r), _) => r.to_string(),
    };
    let tmp = spool(e, req, "import").await?;
    let m = e.manager().await;
    let id = import_archive(&m, &tmp.0, &reference).await?;
    let mut r = http::json(StatusCode::OK, &json!({"status": id}));
    // docker's clients read this as a JSON message stream: one line
    let b = line(json!({"status": id}));
    *r.body_mut() = http::full(b);
    Ok(r)
}
