//! The service's front: accepts connections (HTTP/1.1 with upgrades for
//! attach and exec), strips the `/v1.NN` prefix, answers with docker's
//! headers and hands each request to its endpoint.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use hyper::body::Incoming;
use hyper::header::HeaderValue;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::listen::{IdleClock, Listener};
use crate::{
    archive, attach, auth, build, containers, exec, image_io, images, networks, prune, system,
    update, Engine,
};

/// An API version, major and minor.
pub type ApiVersion = (u32, u32);

/// The newest API version served (docker 27.3).
pub const API_VERSION: (u32, u32) = (1, 47);
/// The oldest API version served.
pub const MIN_API_VERSION: (u32, u32) = (1, 24);

/// Accepts connections until idle for `idle` (never when `None`) or until
/// SIGTERM/SIGINT; removes its unix socket on the way out.
pub async fn serve(engine: Arc<Engine>, listener: Listener, idle: Option<Duration>) {
    let clock = engine.clock.clone();
    let idle = async {
        match idle {
            Some(d) => clock.idle(d).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(idle);
    let mut term = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("berth: watch SIGTERM: {e}");
            return;
        }
    };
    loop {
        tokio::select! {
            _ = &mut idle => break,
            _ = term.recv() => break,
            _ = tokio::signal::ctrl_c() => break,
            conn = accept(&listener) => match conn {
                Ok(io) => spawn_connection(engine.clone(), &clock, io),
                Err(e) => {
                    // out of descriptors and the like: wait a moment, keep serving
                    eprintln!("berth: accept: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            },
        }
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
}

/// A connection of either kind.
enum Conn {
    Unix(tokio::net::UnixStream),
    Tcp(tokio::net::TcpStream),
}

async fn accept(l: &Listener) -> std::io::Result<Conn> {
    match l {
        Listener::Unix(l, _) => l.accept().await.map(|(s, _)| Conn::Unix(s)),
        Listener::Tcp(l) => l.accept().await.map(|(s, _)| {
            let _ = s.set_nodelay(true);
            Conn::Tcp(s)
        }),
    }
}

fn spawn_connection(engine: Arc<Engine>, clock: &Arc<IdleClock>, conn: Conn) {
    let busy = clock.busy();
    tokio::spawn(async move {
        let svc = service_fn(move |req| {
            let engine = engine.clone();
            async move { Ok::<_, Infallible>(handle(engine, req).await) }
        });
        let builder = http1::Builder::new();
        let _ = match conn {
            Conn::Unix(s) => {
                builder
                    .serve_connection(TokioIo::new(s), svc)
                    .with_upgrades()
                    .await
            }
            Conn::Tcp(s) => {
                builder
                    .serve_connection(TokioIo::new(s), svc)
                    .with_upgrades()
                    .await
            }
        };
        drop(busy);
    });
}

/// The API version a path asks for and the path without it.
pub fn split_version(path: &str) -> Result<(Option<ApiVersion>, &str), ApiError> {
    let Some(rest) = path.strip_prefix("/v") else {
        return Ok((None, path));
    };
    let (ver, tail) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    let Some((maj, min)) = ver.split_once('.') else {
        return Ok((None, path));
    };
    let (Ok(maj), Ok(min)) = (maj.parse::<u32>(), min.parse::<u32>()) else {
        return Ok((None, path));
    };
    let v = (maj, min);
    if v > API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {maj}.{min} is too new. Maximum supported API version is {}.{}",
            API_VERSION.0, API_VERSION.1
        )));
    }
    if v < MIN_API_VERSION {
        return Err(ApiError::bad_request(format!(
            "client version {maj}.{min} is too old. Minimum supported API version is {}.{}, please upgrade your client to a newer version",
            MIN_API_VERSION.0, MIN_API_VERSION.1
        )));
    }
    Ok((Some(v), tail))
}

/// Answers one request, errors as docker's JSON, with docker's headers.
pub async fn handle(engine: Arc<Engine>, req: Request<Incoming>) -> Resp {
    let path = req.uri().path().to_string();
    if engine.trace {
        eprintln!("berth-api: {} {}", req.method(), req.uri());
    }
    let res = match split_version(&path) {
        Ok((v, rest)) => {
            let q = Query::parse(req.uri().query());
            route(&engine, req, v.unwrap_or(API_VERSION), rest, q).await
        }
        Err(e) => Err(e),
    };
    let mut resp = match res {
        Ok(r) => r,
        Err(e) => {
            if e.lost_manager {
                engine.reconnect().await;
            }
            http::error(&e)
        }
    };
    let h = resp.headers_mut();
    let v = format!("{}.{}", API_VERSION.0, API_VERSION.1);
    h.insert("Api-Version", HeaderValue::from_str(&v).unwrap());
    h.insert("Docker-Experimental", HeaderValue::from_static("false"));
    h.insert("Ostype", HeaderValue::from_static("linux"));
    h.insert(
        "Server",
        HeaderValue::from_str(&format!("berth/{} (linux)", env!("CARGO_PKG_VERSION"))).unwrap(),
    );
    resp
}

fn no_route(method: &Method, path: &str) -> ApiError {
    ApiError::not_found(format!("page not found: {method} {path}"))
}

/// The GET and HEAD endpoints: they read, so a repeat is harmless.
async fn route_read(
    e: &Arc<Engine>,
    m: &Method,
    path: &str,
    segs: &[&str],
    q: &Query,
) -> Result<Resp, ApiError> {
    match (m, segs) {
        (&Method::GET | &Method::HEAD, ["_ping"]) => Ok(system::ping(m)),
        (&Method::GET, ["version"]) => system::version(e).await,
        (&Method::GET, ["info"]) => system::info(e).await,
        (&Method::GET, ["events"]) => system::events(e, q).await,
        (&Method::GET, ["system", "df"]) => system::df(e).await,
        (&Method::GET, ["containers", "json"]) => containers::list(e, q).await,
        (&Method::GET, ["containers", id, "json"]) => containers::inspect(e, id).await,
        (&Method::GET, ["containers", id, "top"]) => containers::top(e, id).await,
        (&Method::GET, ["containers", id, "changes"]) => containers::changes(e, id).await,
        (&Method::GET, ["containers", id, "stats"]) => containers::stats(e, id, q).await,
        (&Method::GET, ["containers", id, "logs"]) => attach::logs(e, id, q).await,
        (&Method::GET, ["containers", id, "export"]) => archive::export(e, id).await,
        (&Method::GET, ["containers", id, "archive"]) => archive::get(e, id, q).await,
        (&Method::HEAD, ["containers", id, "archive"]) => archive::head(e, id, q).await,
        (&Method::GET, ["images", "get"]) => image_io::save(e, q.all("names").to_vec()).await,
        (&Method::GET, ["exec", id, "json"]) => exec::inspect(e, id),
        (&Method::GET, ["networks"]) => networks::list_networks(e, q).await,
        (&Method::GET, ["networks", id]) => networks::inspect_network(e, id).await,
        (&Method::GET, ["volumes"]) => networks::list_volumes(e, q).await,
        (&Method::GET, ["volumes", name]) => networks::inspect_volume(e, name).await,
        (&Method::GET, ["images", "json"]) => images::list(e, q).await,
        (&Method::GET, ["images", "search"]) => crate::search::search(q).await,
        (&Method::GET, ["images", name @ .., last]) if !name.is_empty() => {
            let name = name.join("/");
            match *last {
                "json" => images::inspect(e, &name).await,
                "history" => images::history(e, &name).await,
                "get" => image_io::save(e, vec![name]).await,
                _ => Err(no_route(m, path)),
            }
        }
        _ => Err(no_route(m, path)),
    }
}

async fn route(
    e: &Arc<Engine>,
    req: Request<Incoming>,
    version: (u32, u32),
    path: &str,
    q: Query,
) -> Result<Resp, ApiError> {
    let method = req.method().clone();
    let segs: Vec<&str> = path.trim_matches('/').split('/').collect();
    let m = &method;
    if m == Method::GET || m == Method::HEAD {
        // reads are asked again of the next manager when this one went away
        return match route_read(e, m, path, &segs, &q).await {
            Err(x) if x.lost_manager => {
                e.reconnect().await;
                route_read(e, m, path, &segs, &q).await
            }
            other => other,
        };
    }
    match (m, segs.as_slice()) {
        (&Method::POST, ["commit"]) => system::commit(e, &q).await,
        (&Method::POST, ["build"]) => build::build(e, req, &q).await,
        (&Method::POST, ["build", "prune"]) => prune::build_cache(e, &q).await,
        (&Method::POST, ["images", "prune"]) => prune::images(e, &q).await,
        (&Method::POST, ["containers", "create"]) => containers::create(e, req, &q).await,
        (&Method::POST, ["containers", "prune"]) => containers::prune(e, &q).await,
        (&Method::POST, ["containers", id, "start"]) => containers::start(e, id).await,
        (&Method::POST, ["containers", id, "stop"]) => containers::stop(e, id, &q).await,
        (&Method::POST, ["containers", id, "restart"]) => containers::restart(e, id, &q).await,
        (&Method::POST, ["containers", id, "kill"]) => containers::kill(e, id, &q).await,
        (&Method::POST, ["containers", id, "pause"]) => containers::pause(e, id, true).await,
        (&Method::POST, ["containers", id, "unpause"]) => containers::pause(e, id, false).await,
        (&Method::POST, ["containers", id, "rename"]) => containers::rename(e, id, &q).await,
        (&Method::POST, ["containers", id, "wait"]) => containers::wait(e, id, &q).await,
        (&Method::POST, ["containers", id, "resize"]) => containers::resize(e, id, "", &q).await,
        (&Method::POST, ["containers", id, "attach"]) => {
            attach::attach(e, req, id, &q, version).await
        }
        (&Method::DELETE, ["containers", id]) => containers::delete(e, id, &q).await,
        (&Method::POST, ["containers", id, "exec"]) => exec::create(e, req, id).await,
        (&Method::POST, ["exec", id, "start"]) => exec::start(e, req, id, version).await,
        (&Method::POST, ["exec", id, "resize"]) => exec::resize(e, id, &q).await,
        (&Method::POST, ["networks", "create"]) => networks::create_network(e, req).await,
        (&Method::POST, ["networks", "prune"]) => networks::prune_networks(e, &q).await,
        (&Method::DELETE, ["networks", id]) => networks::remove_network(e, id).await,
        (&Method::POST, ["networks", id, "connect"]) => networks::connect(e, req, id).await,
        (&Method::POST, ["networks", id, "disconnect"]) => networks::disconnect(e, req, id).await,
        (&Method::POST, ["volumes", "create"]) => networks::create_volume(e, req).await,
        (&Method::POST, ["volumes", "prune"]) => networks::prune_volumes(e, &q).await,
        (&Method::DELETE, ["volumes", name]) => networks::remove_volume(e, name, &q).await,
        (&Method::POST, ["images", "create"]) => images::pull(e, req, &q).await,
        (&Method::POST, ["images", "load"]) => image_io::load(e, req, &q).await,
        (&Method::POST, ["auth"]) => auth::login(e, req).await,
        (&Method::PUT, ["containers", id, "archive"]) => archive::put(e, req, id, &q).await,
        (&Method::POST, ["containers", id, "update"]) => update::update(e, req, id).await,
        (_, ["images", name @ .., last]) if !name.is_empty() => {
            let name = name.join("/");
            match (m, *last) {
                (&Method::POST, "tag") => images::tag(e, &name, &q).await,
                (&Method::POST, "push") => images::push(e, req, &name, &q).await,
                (&Method::DELETE, _) => images::delete(e, &format!("{name}/{last}"), &q).await,
                _ => Err(no_route(m, path)),
            }
        }
        (&Method::DELETE, ["images", name]) => images::delete(e, name, &q).await,
        _ => Err(no_route(m, path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hyper::StatusCode;

    #[test]
    fn version_prefixes() {
        assert_eq!(split_version("/_ping").unwrap(), (None, "/_ping"));
        assert_eq!(
            split_version("/v1.41/containers/json").unwrap(),
            (Some((1, 41)), "/containers/json")
        );
        assert_eq!(
            split_version("/v1.24/info").unwrap(),
            (Some((1, 24)), "/info")
        );
        let e = split_version("/v1.99/info").unwrap_err();
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
        assert!(e.message.contains("too new"));
        assert!(split_version("/v1.12/info")
            .unwrap_err()
            .message
            .contains("too old"));
        // a path that merely starts with v is no version
        assert_eq!(split_version("/volumes").unwrap(), (None, "/volumes"));
    }
}
