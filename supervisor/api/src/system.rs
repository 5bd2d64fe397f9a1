//! `/_ping`, `/version` and `/info`: what a client asks before anything
//! else, to negotiate the API version and learn what it talks to.

use std::sync::Arc;

use berth_proto::protobuf::well_known_types::empty::Empty;
use bollard_stubs::models::{SystemInfo, SystemVersion, SystemVersionComponents};
use hyper::header::HeaderValue;
use hyper::{Method, StatusCode};

use crate::error::ApiError;
use crate::http::{self, Resp};
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
