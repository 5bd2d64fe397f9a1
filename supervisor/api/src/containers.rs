//! The container endpoints that answer at once: create, list, inspect,
//! start, stop, restart, kill, pause, rename, wait, resize, top, delete,
//! prune.  Each calls the supervisor library function the CLI's command
//! calls; only the answer's shape differs.

use std::sync::Arc;
use std::time::Duration;

use berth_proto::manager::{
    ContainerInfo, DeleteContainerRequest, KillRequest, ListContainersRequest, PruneRequest,
    RenameContainerRequest, ResizePtyRequest, TaskRequest,
};
use berth_supervisor::client::Manager;
use berth_supervisor::commands::{container, inspect, listing, view, volume};
use berth_supervisor::prune_filters::{self, PruneKind};
use bollard_stubs::models::{
    ContainerCreateResponse, ContainerSummary, ContainerWaitResponse, Port, PortTypeEnum,
};
use bytes::Bytes;
use hyper::body::Incoming;
use hyper::{Request, StatusCode};

use crate::create::{create_flags, CreateBody};
use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// The container `name` (id, id prefix or name), 404 when there is none.
pub async fn resolve(m: &Manager, name: &str) -> Result<ContainerInfo, ApiError> {
    Ok(container::resolve(m, name).await?)
}

fn task(id: &str) -> TaskRequest {
    let mut r = TaskRequest::new();
    r.container_id = id.to_string();
    r
}

fn is_running(c: &ContainerInfo) -> bool {
    matches!(c.status.as_str(), "running" | "paused" | "restarting")
}

/// `POST /containers/create?name=`.
pub async fn create(e: &Arc<Engine>, req: Request<Incoming>, q: &Query) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let body: CreateBody = http::parse_json(&body)?;
    let flags = create_flags(&body, q.get("name"))?;
    let m = e.manager().await;
    let c = container::create_container(&m, &flags).await?;
    let r = ContainerCreateResponse {
        id: c.id,
        warnings: vec![],
    };
    Ok(http::json(StatusCode::CREATED, &r))
}

fn ports_of(eps: &[berth_proto::networks::EndpointInfo]) -> Vec<Port> {
    eps.iter()
        .flat_map(|e| e.ports.iter())
        .map(|p| Port {
            ip: Some(if p.host_ip.is_empty() {
                "0.0.0.0".to_string()
            } else {
                p.host_ip.clone()
            }),
            private_port: p.container_port as u16,
            public_port: Some(p.host_port as u16),
            typ: Some(if p.protocol == "udp" {
                PortTypeEnum::UDP
            } else {
                PortTypeEnum::TCP
            }),
        })
        .collect()
}

/// `GET /containers/json?all&limit&filters`.
pub async fn list(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filter = crate::filters::containers(q)?;
    let limit = q.int("limit")?.filter(|&n| n > 0);
    let all = q.flag("all")? || limit.is_some() || filter.wants_all();
    let m = e.manager().await;
    let mut req = ListContainersRequest::new();
    // before/since name any container, so a filter sees them all
    req.all = true;
    let size = q.flag("size")?;
    // rows carry all a summary shows but what sizes read (the rootfs mount)
    req.rows = !size;
    let mut list = m
        .containers
        .list_containers(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?
        .containers;
    list.sort_by_key(|c| std::cmp::Reverse(c.created.as_ref().map(|t| (t.seconds, t.nanos))));
    let cx = listing::list_context(&m, &list).await;
    let mut kept = filter.select(list, |c| cx.facts(c))?;
    if !all {
        kept.retain(is_running);
    }
    if let Some(n) = limit {
        kept.truncate(n as usize);
    }
    let eps = &cx.eps_of;
    let sizes = if size {
        berth_supervisor::sizes::of_containers(&m, &kept).await?
    } else {
        std::collections::HashMap::new()
    };
    let now = chrono::Utc::now();
    let out: Vec<ContainerSummary> = kept
        .iter()
        .map(|c| {
            let args = view::spec_args(c);
            ContainerSummary {
                id: Some(c.id.clone()),
                names: Some(vec![format!("/{}", c.name)]),
                image: Some(berth_supervisor::format::familiar(&c.image)),
                image_id: Some(c.image_id.clone()),
                command: Some(args.join(" ")),
                created: c.created.as_ref().map(|t| t.seconds),
                ports: Some(ports_of(eps.get(&c.id).map(Vec::as_slice).unwrap_or(&[]))),
                labels: Some(c.labels.clone()),
                state: Some(c.status.clone()),
                status: Some(view::status_of(c, now)),
                size_rw: sizes.get(&c.id).map(|s| s.rw as i64),
                size_root_fs: sizes.get(&c.id).map(|s| s.root_fs as i64),
                ..Default::default()
            }
        })
        .collect();
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /containers/{id}/json`: the CLI's inspect JSON.
pub async fn inspect(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let mut j = inspect::container_inspect_json(&m, &c).await;
    // clients read the log driver before they read logs (docker-py's run)
    if j["HostConfig"].get("LogConfig").is_none() {
        j["HostConfig"]["LogConfig"] = serde_json::json!({"Type": "json-file", "Config": {}});
    }
    Ok(http::json(StatusCode::OK, &j))
}

/// `POST /containers/{id}/start`: 304 when it already runs.
pub async fn start(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if is_running(&c) {
        return Ok(http::empty(StatusCode::NOT_MODIFIED));
    }
    berth_supervisor::session::start_task(&m, &c.id)
        .await
        .map_err(|(x, _)| {
            let mut a = ApiError::from(x);
            // a process that cannot be started is the request's fault only
            // in the sense docker means: its status is 500 with the reason
            if a.status == StatusCode::CONFLICT {
                a.status = StatusCode::INTERNAL_SERVER_ERROR;
            }
            a
        })?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

fn timeout(q: &Query) -> Result<Option<i32>, ApiError> {
    let t = match q.int("t")? {
        Some(t) => Some(t),
        None => q.int("timeout")?,
    };
    Ok(t.map(|t| t.clamp(-1, i32::MAX as i64) as i32))
}

/// `POST /containers/{id}/stop?t=`: 304 when it is not running.
pub async fn stop(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let t = timeout(q)?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if !is_running(&c) {
        return Ok(http::empty(StatusCode::NOT_MODIFIED));
    }
    container::stop_one(&m, &c.id, t).await?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/restart?t=`.
pub async fn restart(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let t = timeout(q)?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if is_running(&c) {
        container::stop_one(&m, &c.id, t).await?;
    }
    berth_supervisor::session::start_task(&m, &c.id)
        .await
        .map_err(|(x, _)| ApiError::from(x))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/kill?signal=`: 409 when it is not running.
pub async fn kill(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let sig = berth_supervisor::flags::parse_signal(q.get("signal").unwrap_or("KILL"))
        .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if !is_running(&c) {
        return Err(ApiError::conflict(format!(
            "cannot kill container: {id}: container {} is not running",
            c.id
        )));
    }
    let mut r = KillRequest::new();
    r.container_id = c.id.clone();
    r.signal = sig;
    m.tasks.kill_task(m.ctx(), &r).await.map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/pause` and `/unpause`.
pub async fn pause(e: &Arc<Engine>, id: &str, pause: bool) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let r = task(&c.id);
    let res = if pause {
        m.tasks.pause_task(m.ctx(), &r).await
    } else {
        m.tasks.resume_task(m.ctx(), &r).await
    };
    res.map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/{id}/rename?name=`.
pub async fn rename(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let name = q
        .get("name")
        .filter(|n| !n.is_empty())
        .ok_or_else(|| ApiError::bad_request("rename needs a new name (?name=)"))?;
    let m = e.manager().await;
    let mut r = RenameContainerRequest::new();
    r.id = id.to_string();
    r.new_name = name.trim_start_matches('/').to_string();
    m.containers
        .rename_container(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// Waits for container `id`'s next exit and notes its code.
pub async fn wait_exit(e: &Engine, m: &Manager, id: &str) -> Result<i64, ApiError> {
    let id = id.to_string();
    let w = m
        .again(|m, _| {
            let r = task(&id);
            async move { m.tasks.wait_task(m.ctx(), &r).await.map_err(|x| m.err(x)) }
        })
        .await?;
    let code = i64::from(w.exit_code);
    e.record_exit(&id, code);
    Ok(code)
}

/// Resolves once container `c`, which has exited, no longer exists.  An
/// auto-remove container is removed here as `berth run --rm` removes it:
/// whoever deletes first (this or the manager's exit watcher) does the
/// work, and the manager's delete waits for a removal already under way,
/// so the answer comes the moment the container is gone, not at a poll.
async fn removed(m: &Manager, c: &ContainerInfo) {
    if c.auto_remove {
        let mut d = DeleteContainerRequest::new();
        d.id = c.id.clone();
        match container::delete_again(m, &d).await {
            Ok(()) => return,
            Err(x) if x.is_not_found() => return,
            // not removable now (it runs again): someone else removes it
            Err(_) => {}
        }
    }
    loop {
        match container::resolve(m, &c.id).await {
            Err(x) if x.is_not_found() => return,
            // a lost manager: the next poll goes to its successor
            _ => tokio::time::sleep(Duration::from_millis(20)).await,
        }
    }
}

/// `POST /containers/{id}/wait?condition=not-running|next-exit|removed`.
/// The headers go out at once (clients start the container after that);
/// the body comes with the exit.
pub async fn wait(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let condition = q.get("condition").unwrap_or("not-running").to_string();
    if !matches!(
        condition.as_str(),
        "not-running" | "next-exit" | "removed" | ""
    ) {
        return Err(ApiError::bad_request(format!(
            "invalid condition {condition:?}: not-running, next-exit or removed"
        )));
    }
    let m = e.manager().await;
    let c = match resolve(&m, id).await {
        Ok(c) => c,
        Err(x) if x.status == StatusCode::NOT_FOUND && condition == "removed" => {
            // gone already: an auto-removed container this service saw end
            return match e.exit_of(id) {
                Some(code) => Ok(http::json(StatusCode::OK, &wait_body(code))),
                None => Err(x),
            };
        }
        Err(x) => return Err(x),
    };
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    let e = e.clone();
    tokio::spawn(async move {
        let code = if condition == "next-exit" || is_running(&c) || c.status == "created" {
            wait_exit(&e, &m, &c.id).await
        } else {
            Ok(i64::from(c.exit_code))
        };
        let body = match code {
            Ok(code) => {
                if condition == "removed" {
                    removed(&m, &c).await;
                }
                wait_body(code)
            }
            Err(x) => ContainerWaitResponse {
                status_code: -1,
                error: Some(bollard_stubs::models::ContainerWaitExitError {
                    message: Some(x.message),
                }),
            },
        };
        let _ = tx
            .send(Bytes::from(serde_json::to_vec(&body).unwrap_or_default()))
            .await;
    });
    Ok(resp)
}

fn wait_body(code: i64) -> ContainerWaitResponse {
    ContainerWaitResponse {
        status_code: code,
        error: None,
    }
}

/// `POST /containers/{id}/resize?h=&w=` (and an exec's, with `exec_id`).
pub async fn resize(e: &Arc<Engine>, id: &str, exec_id: &str, q: &Query) -> Result<Resp, ApiError> {
    let dim = |k| -> Result<u32, ApiError> {
        let v = q.int(k)?.unwrap_or(0);
        u32::try_from(v).map_err(|_| ApiError::bad_request(format!("invalid {k}: {v}")))
    };
    let (h, w) = (dim("h")?, dim("w")?);
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let mut r = ResizePtyRequest::new();
    r.container_id = c.id;
    r.exec_id = exec_id.to_string();
    r.width = w;
    r.height = h;
    m.tasks
        .resize_pty(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::OK))
}

/// `GET /containers/{id}/top`.
pub async fn top(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if !is_running(&c) {
        return Err(ApiError::conflict(format!("container {id} is not running")));
    }
    let t = m
        .tasks
        .top_task(m.ctx(), &task(&c.id))
        .await
        .map_err(|x| m.err(x))?;
    let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.fields.clone()).collect();
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({"Titles": t.titles, "Processes": rows}),
    ))
}

/// `DELETE /containers/{id}?force&v`.
pub async fn delete(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let force = q.flag("force")?;
    let volumes = q.flag("v")?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let mut d = DeleteContainerRequest::new();
    d.id = c.id.clone();
    d.force = force;
    container::delete_again(&m, &d).await?;
    if volumes {
        volume::remove_anonymous(&m, &c.spec_json).await?;
    }
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /containers/prune`.
pub async fn prune(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filter = prune_filters::from_query(q.get("filters"), PruneKind::Containers)
        .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let m = e.manager().await;
    let mut r = PruneRequest::new();
    r.keep_images = true;
    r.filter = Some(filter).into();
    let p = m.system.prune(m.ctx(), &r).await.map_err(|x| m.err(x))?;
    Ok(http::json(
        StatusCode::OK,
        &serde_json::json!({"ContainersDeleted": p.containers_deleted, "SpaceReclaimed": p.space_reclaimed}),
    ))
}

/// `GET /containers/{id}/changes`: the container's filesystem changes
/// (kind 0 modified, 1 added, 2 deleted, as docker numbers them).
pub async fn changes(e: &Arc<Engine>, id: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    let mut r = berth_proto::layers::DiffRequest::new();
    r.container = c.id;
    let d = m.layers.diff(m.ctx(), &r).await.map_err(|x| m.err(x))?;
    let out: Vec<serde_json::Value> = d
        .changes
        .iter()
        .map(|ch| {
            let kind = match ch.kind.as_str() {
                "A" => 1,
                "D" => 2,
                _ => 0,
            };
            serde_json::json!({"Path": ch.path, "Kind": kind})
        })
        .collect();
    Ok(http::json(StatusCode::OK, &out))
}

/// One stats sample as docker's JSON; `pre` is the sample before it.
fn stats_json(
    c: &ContainerInfo,
    s: &berth_proto::manager::StatsResponse,
    pre: Option<&berth_proto::manager::StatsResponse>,
) -> serde_json::Value {
    let cpu = |s: Option<&berth_proto::manager::StatsResponse>| {
        serde_json::json!({
            "cpu_usage": {"total_usage": s.map_or(0, |s| s.cpu_usage_ns)},
            "system_cpu_usage": s.map_or(0, |s| s.system_cpu_usage_ns),
            "online_cpus": s.map_or(0, |s| s.online_cpus),
        })
    };
    let read = berth_supervisor::format::rfc3339(berth_supervisor::format::ts(s.read.as_ref()));
    serde_json::json!({
        "read": read,
        "preread": pre.map(|p| berth_supervisor::format::rfc3339(berth_supervisor::format::ts(p.read.as_ref())))
            .unwrap_or_else(|| "0001-01-01T00:00:00Z".into()),
        "id": c.id,
        "name": format!("/{}", c.name),
        "cpu_stats": cpu(Some(s)),
        "precpu_stats": cpu(pre),
        "memory_stats": {"usage": s.memory_usage, "limit": s.memory_limit, "stats": {}},
        "pids_stats": {"current": s.pids, "limit": s.pids_limit},
        "networks": {"eth0": {"rx_bytes": s.net_rx, "tx_bytes": s.net_tx}},
        "blkio_stats": {"io_service_bytes_recursive": [
            {"major": 0, "minor": 0, "op": "read", "value": s.blkio_read},
            {"major": 0, "minor": 0, "op": "write", "value": s.blkio_write},
        ]},
    })
}

/// `GET /containers/{id}/stats?stream=&one-shot=`: a sample a second while
/// streaming, or one (two samples apart, so CPU use can be computed).
pub async fn stats(e: &Arc<Engine>, id: &str, q: &Query) -> Result<Resp, ApiError> {
    let stream = q.get("stream").is_none() || q.flag("stream")?;
    let one_shot = q.flag("one-shot")?;
    let m = e.manager().await;
    let c = resolve(&m, id).await?;
    if !is_running(&c) {
        return Err(ApiError::conflict(format!("container {id} is not running")));
    }
    let sample = |m: Manager, id: String| async move {
        m.tasks
            .task_stats(m.ctx(), &task(&id))
            .await
            .map_err(|x| ApiError::from(m.err(x)))
    };
    let first = sample(m.clone(), c.id.clone()).await?;
    if !stream {
        let (pre, now) = if one_shot {
            (None, first)
        } else {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = sample(m.clone(), c.id.clone()).await?;
            (Some(first), now)
        };
        return Ok(http::json(
            StatusCode::OK,
            &stats_json(&c, &now, pre.as_ref()),
        ));
    }
    let (tx, mut resp) = http::channel("application/json");
    *resp.status_mut() = StatusCode::OK;
    tokio::spawn(async move {
        let mut pre: Option<berth_proto::manager::StatsResponse> = None;
        let mut now = first;
        loop {
            let mut line = stats_json(&c, &now, pre.as_ref()).to_string().into_bytes();
            line.push(b'\n');
            if tx.send(Bytes::from(line)).await.is_err() {
                return;
            }
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = tx.closed() => return,
            }
            match sample(m.clone(), c.id.clone()).await {
                Ok(s) => pre = Some(std::mem::replace(&mut now, s)),
                // stopped or gone: the stream ends
                Err(_) => return,
            }
        }
    });
    Ok(resp)
}
