//! `/_ping`, `/version` and `/info` (what a client asks before anything
//! else, to negotiate the API version and learn what it talks to), and the
//! engine-wide `/events`, `/system/df` and `/commit`.

use std::sync::Arc;

use berth_proto::ttrpc;
use berth_supervisor::cli::CommitArgs;
use berth_supervisor::commands::{layers, view, volume};
use berth_supervisor::event_window::Window;
use bytes::Bytes;

use berth_proto::protobuf::well_known_types::empty::Empty;
use bollard_stubs::models::{SystemInfo, SystemVersion, SystemVersionComponents};
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::router::{API_VERSION, MIN_API_VERSION};
use crate::Engine;

fn v((maj, min): (u32, u32)) -> String {
    format!("{maj}.{min}")
}

/// `HEAD`/`GET /_ping`: `OK` and the headers clients negotiate with.
pub fn ping(m: &Method) -> Resp {
    let mut r = if m == Method::HEAD {
        http::empty(StatusCode::OK)
    } else {
        http::text(StatusCode::OK, "OK")
    };
    let h = r.headers_mut();
    h.insert("Builder-Version", HeaderValue::from_static("1"));
    h.insert(
        "Cache-Control",
        HeaderValue::from_static("no-cache, no-store, must-revalidate"),
    );
    h.insert("Pragma", HeaderValue::from_static("no-cache"));
    r
}

/// Go's name for this machine's architecture, as docker reports it.
pub fn go_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "386",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

fn kernel_version() -> String {
    nix::sys::utsname::uname()
        .map(|u| u.release().to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// `GET /version`.
pub async fn version(_e: &Arc<Engine>) -> Result<Resp, ApiError> {
    let ver = env!("CARGO_PKG_VERSION").to_string();
    let sv = SystemVersion {
        components: Some(vec![SystemVersionComponents {
            name: "Engine".into(),
            version: ver.clone(),
            details: None,
        }]),
        version: Some(ver),
        api_version: Some(v(API_VERSION)),
        min_api_version: Some(v(MIN_API_VERSION)),
        os: Some("linux".into()),
        arch: Some(go_arch().into()),
        kernel_version: Some(kernel_version()),
        experimental: Some(false),
        ..Default::default()
    };
    // the component's details are a free-form map the model leaves untyped
    let mut j = serde_json::to_value(&sv).unwrap_or_default();
    j["Components"][0]["Details"] = serde_json::json!({
        "ApiVersion": v(API_VERSION),
        "MinAPIVersion": v(MIN_API_VERSION),
        "Arch": go_arch(),
        "Os": "linux",
        "KernelVersion": kernel_version(),
        "Experimental": "false",
    });
    Ok(http::json(StatusCode::OK, &j))
}

/// `GET /info`, from the manager's own account of itself.
pub async fn info(e: &Arc<Engine>) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let i = m
        .system
        .info(m.ctx(), &Empty::new())
        .await
        .map_err(|x| m.err(x))?;
    let name = nix::unistd::gethostname()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    let si = SystemInfo {
        id: Some(format!("berth-{}", i.manager_pid)),
        containers: Some(i.containers.into()),
        containers_running: Some(i.containers_running.into()),
        containers_paused: Some(i.containers_paused.into()),
        containers_stopped: Some(i.containers_stopped.into()),
        images: Some(i.images.into()),
        driver: Some(i.storage_driver.clone()),
        docker_root_dir: Some(i.root.clone()),
        kernel_version: Some(i.kernel_version.clone()),
        operating_system: Some("berth".into()),
        os_type: Some("linux".into()),
        architecture: Some(std::env::consts::ARCH.into()),
        ncpu: Some(i.ncpu.into()),
        mem_total: Some(i.mem_total as i64),
        name: Some(name),
        server_version: Some(env!("CARGO_PKG_VERSION").into()),
        cgroup_driver: Some(bollard_stubs::models::SystemInfoCgroupDriverEnum::CGROUPFS),
        cgroup_version: Some(if i.cgroup_version == "1" {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_1
        } else {
            bollard_stubs::models::SystemInfoCgroupVersionEnum::_2
        }),
        default_runtime: Some("berth".into()),
        logging_driver: Some("json-file".into()),
        experimental_build: Some(false),
        ..Default::default()
    };
    Ok(http::json(StatusCode::OK, &si))
}

/// `GET /events?filters=&since=&until=`: the manager's events as docker's
/// JSON lines — recorded ones first when a bound is given — until `until`
/// or until the client goes away.
pub async fn events(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let mut filters = Vec::new();
    for (k, vals) in q.filters()? {
        filters.extend(vals.iter().map(|v| format!("{k}={v}")));
    }
    let window = Window::parse(q.get("since"), q.get("until"), chrono::Utc::now())
        .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let m = e.manager().await;
    let stream = berth_supervisor::event_window::open(&m, filters, &window).await?;
    let (mut rx, deadline) = (stream.rx, stream.deadline);
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    tokio::spawn(async move {
        let until = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::pin!(until);
        loop {
            tokio::select! {
                ev = rx.recv() => match ev {
                    Ok(Some(ev)) => {
                        if !window.holds(berth_supervisor::format::ts(ev.time.as_ref())) {
                            continue;
                        }
                        let mut line = view::event_json(&ev).to_string().into_bytes();
                        line.push(b'\n');
                        if tx.send(Bytes::from(line)).await.is_err() {
                            return;
                        }
                    }
                    Ok(None) | Err(ttrpc::Error::Eof) | Err(_) => return,
                },
                _ = &mut until => return,
                _ = tx.closed() => return,
            }
        }
    });
    Ok(resp)
}

/// `POST /commit?container=&repo=&tag=&comment=&author=&pause=&changes=`:
/// `berth commit`'s library call; the body's config is not merged (the
/// `changes` are, as Dockerfile instructions).
pub async fn commit(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let container = q
        .get("container")
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("commit needs a container (?container=)"))?;
    let reference = q
        .get("repo")
        .filter(|r| !r.is_empty())
        .map(|r| match q.get("tag") {
            Some(t) if !t.is_empty() => format!("{r}:{t}"),
            _ => r.to_string(),
        });
    let a = CommitArgs {
        message: q.get("comment").map(String::from),
        author: q.get("author").map(String::from),
        change: q
            .all("changes")
            .iter()
            .flat_map(|c| c.lines())
            .filter(|l| !l.trim().is_empty())
            .map(String::from)
            .collect(),
        pause: q.get("pause").is_none() || q.flag("pause")?,
        container: container.to_string(),
        reference,
    };
    let m = e.manager().await;
    let id = layers::commit_container(&m, &a).await?;
    Ok(http::json(
        StatusCode::CREATED,
        &serde_json::json!({ "Id": id }),
    ))
}

/// `GET /system/df`: images, containers and volumes with their sizes and
/// users, from which clients draw `system df`.
pub async fn df(e: &Arc<Engine>) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let berth_supervisor::commands::df::Inventory {
        images,
        containers,
        volumes,
    } = berth_supervisor::commands::df::inventory(&m)
        .await
        .map_err(ApiError::from)?;
    let now = chrono::Utc::now();
    let imgs: Vec<serde_json::Value> = images
        .iter()
        .map(|i| {
            serde_json::json!({
                "Id": i.id,
                "ParentId": "",
                "RepoTags": i.references.iter().map(|r| berth_supervisor::format::familiar(r)).collect::<Vec<_>>(),
                "RepoDigests": [],
                "Created": i.created.as_ref().map_or(0, |t| t.seconds),
                "Size": i.size,
                "SharedSize": 0,
                "Labels": {},
                "Containers": containers.iter().filter(|c| c.image_id == i.id).count(),
            })
        })
        .collect();
    let ctrs: Vec<serde_json::Value> = containers
        .iter()
        .map(|c| {
            serde_json::json!({
                "Id": c.id,
                "Names": [format!("/{}", c.name)],
                "Image": berth_supervisor::format::familiar(&c.image),
                "ImageID": c.image_id,
                "Command": view::spec_args(c).join(" "),
                "Created": c.created.as_ref().map_or(0, |t| t.seconds),
                "State": c.status,
                "Status": view::status_of(c, now),
                "SizeRw": 0,
                "SizeRootFs": 0,
                "Labels": c.labels,
                "Mounts": [],
            })
        })
        .collect();
    let vols: Vec<serde_json::Value> = volumes
        .iter()
        .map(|v| {
            let mut j = volume::inspect_json(v);
            j["UsageData"] = serde_json::json!({"Size": v.size, "RefCount": v.used_by.len()});
            j
        })
        .collect();
    let layers: u64 = images.iter().map(|i| i.size).sum();
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({
            "LayersSize": layers,
            "Images": imgs,
            "Containers": ctrs,
            "Volumes": vols,
            "BuildCache": [],
        }),
    ))
}
