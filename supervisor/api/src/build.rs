//! `POST /build`: the classic builder's JSON stream.  The build runs as
//! `berth build -` — the CLI's own build, in a process of its own — fed
//! the request's tar context; that process gets the private mount
//! namespace the build's image views need (which a thread of this
//! multi-threaded service cannot have alone) and removes what an
//! interrupted step made when the client hangs up and it is stopped.  Its
//! output lines become `{"stream": …}`, the image `{"aux": {"ID": …}}`, a
//! failure `{"errorDetail": …}`.

use std::process::Stdio;
use std::sync::Arc;

use berth_proto::manager::GetImageRequest;
use bytes::Bytes;
use futures_util::StreamExt;
use http_body_util::BodyStream;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// A `{"k": "v"}` query parameter (`buildargs`, `labels`) as `k=v` flags.
fn map_param(q: &Query, k: &str) -> Result<Vec<String>, ApiError> {
    let Some(raw) = q.get(k).filter(|r| !r.is_empty()) else {
        return Ok(Vec::new());
    };
    let m: std::collections::BTreeMap<String, Option<String>> = serde_json::from_str(raw)
        .map_err(|e| ApiError::bad_request(format!("invalid {k} {raw:?}: {e}")))?;
    Ok(m.into_iter()
        .map(|(k, v)| match v {
            Some(v) => format!("{k}={v}"),
            None => k,
        })
        .collect())
}

/// The `berth build` argv the query asks for, ending in `-` (the context
/// on stdin).
pub fn build_args(q: &Query) -> Result<Vec<String>, ApiError> {
    if q.get("remote").is_some_and(|r| !r.is_empty()) {
        return Err(ApiError::bad_request(
            "remote build contexts are not supported by berth: send the context as a tar",
        ));
    }
    let mut a = vec!["build".to_string()];
    for t in q.all("t") {
        a.extend(["--tag".into(), t.clone()]);
    }
    if let Some(f) = q.get("dockerfile").filter(|f| !f.is_empty()) {
        a.extend(["--file".into(), f.to_string()]);
    }
    for b in map_param(q, "buildargs")? {
        a.extend(["--build-arg".into(), b]);
    }
    for l in map_param(q, "labels")? {
        a.extend(["--label".into(), l]);
    }
    if let Some(t) = q.get("target").filter(|t| !t.is_empty()) {
        a.extend(["--target".into(), t.to_string()]);
    }
    if let Some(n) = q
        .get("networkmode")
        .filter(|n| !n.is_empty() && *n != "default")
    {
        a.extend(["--network".into(), n.to_string()]);
    }
    if q.flag("nocache")? {
        a.push("--no-cache".into());
    }
    if q.flag("pull")? {
        a.push("--pull".into());
    }
    a.push("-".into());
    Ok(a)
}

fn line(v: serde_json::Value) -> Bytes {
    let mut b = serde_json::to_vec(&v).unwrap_or_default();
    b.push(b'\n');
    Bytes::from(b)
}

/// `POST /build`.
pub async fn build(e: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> Result<Resp, ApiError> {
    let args = build_args(q)?;
    // q=1: the stream carries only the image id (or the error)
    let quiet = q.flag("q")?;
    let exe = std::env::current_exe().ok();
    let berth = berth_supervisor::paths::binary_named(
        "berth",
        exe.as_deref(),
        std::env::var_os("PATH"),
        None,
    )
    .ok_or_else(|| ApiError::internal("berth not found beside berth-api or on PATH"))?;
    let mut child = tokio::process::Command::new(berth)
        .arg("--state")
        .arg(&e.dirs.state)
        .arg("--root")
        .arg(&e.dirs.root)
        .args(&args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|x| ApiError::internal(format!("start berth build: {x}")))?;
    let (Some(mut stdin), Some(stdout), Some(mut stderr)) =
        (child.stdin.take(), child.stdout.take(), child.stderr.take())
    else {
        return Err(ApiError::internal("berth build has no pipes"));
    };
    // the context streams into the build as it arrives
    tokio::spawn(async move {
        let mut body = BodyStream::new(req.into_body());
        while let Some(Ok(frame)) = body.next().await {
            if let Ok(data) = frame.into_data() {
                if stdin.write_all(&data).await.is_err() {
                    return;
                }
            }
        }
    });
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    let e = e.clone();
    tokio::spawn(async move {
        let err_text = tokio::spawn(async move {
            let mut s = String::new();
            let _ = stderr.read_to_string(&mut s).await;
            s
        });
        let mut lines = BufReader::new(stdout).lines();
        let mut built = None;
        loop {
            tokio::select! {
                l = lines.next_line() => match l {
                    Ok(Some(l)) => {
                        if let Some(id) = l.strip_prefix("Successfully built ") {
                            built = Some(id.trim().to_string());
                        }
                        if !quiet
                            && tx.send(line(json!({"stream": format!("{l}\n")}))).await.is_err()
                        {
                            break;
                        }
                    }
                    _ => break,
                },
                // the client went away: stop the build, which cleans up
                _ = tx.closed() => break,
            }
        }
        if tx.is_closed() {
            if let Some(pid) = child.id() {
                // SAFETY: kill(2) on the build's own pid, a plain syscall.
                unsafe {
                    libc::kill(pid as i32, libc::SIGTERM);
                }
            }
            let _ = child.wait().await;
            return;
        }
        let status = child.wait().await;
        let err_text = err_text.await.unwrap_or_default();
        match (status, built) {
            (Ok(s), Some(short)) if s.success() => {
                let m = e.manager().await;
                let mut r = GetImageRequest::new();
                r.reference = short.clone();
                let id = match m.images.get_image(m.ctx(), &r).await {
                    Ok(i) => i.id,
                    Err(_) => short,
                };
                let _ = tx.send(line(json!({"aux": {"ID": id}}))).await;
                if quiet {
                    // what a quiet build prints: the id alone
                    let _ = tx.send(line(json!({"stream": format!("{id}\n")}))).await;
                }
            }
            _ => {
                let msg = err_text
                    .lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .unwrap_or("the build failed")
                    .trim_start_matches("berth: ")
                    .to_string();
                let _ = tx
                    .send(line(json!({"errorDetail": {"message": msg}, "error": msg})))
                    .await;
            }
        }
    });
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_to_build_flags() {
        let q = Query::parse(Some(
            "t=a%3Av1&t=b&dockerfile=D&buildargs=%7B%22X%22%3A%221%22%7D&nocache=1&q=0",
        ));
        assert_eq!(
            build_args(&q).unwrap(),
            [
                "build",
                "--tag",
                "a:v1",
                "--tag",
                "b",
                "--file",
                "D",
                "--build-arg",
                "X=1",
                "--no-cache",
                "-"
            ]
        );
        assert!(build_args(&Query::parse(Some("remote=http://x"))).is_err());
        assert!(build_args(&Query::parse(Some("buildargs=%7Bx"))).is_err());
    }
}
