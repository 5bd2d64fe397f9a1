//! Network and volume endpoints: the manager calls `berth network` and
//! `berth volume` make, answered with the same docker-shaped JSON the CLI's
//! inspect prints.

use std::collections::HashMap;
use std::sync::Arc;

use berth_proto::networks::{
    ConnectRequest, CreateNetworkRequest, DisconnectRequest, GetNetworkRequest,
    ListNetworksRequest, PruneNetworksRequest, RemoveNetworkRequest,
};
use berth_proto::volumes::{
    CreateVolumeRequest, GetVolumeRequest, PruneVolumesRequest, RemoveVolumeRequest,
};
use berth_supervisor::commands::{network, volume};
use berth_supervisor::prune_filters::{self, PruneKind};
use bollard_stubs::models::{
    NetworkConnectRequest, NetworkCreateRequest, NetworkDisconnectRequest, VolumeCreateOptions,
};
use hyper::body::Incoming;
use hyper::{Request, StatusCode};
use serde_json::json;

use crate::error::ApiError;
use crate::http::{self, Query, Resp};
use crate::Engine;

/// A manager NOT_FOUND worded as docker words it for `kind` `name`.
fn not_found<'a>(kind: &'a str, name: &'a str) -> impl Fn(ApiError) -> ApiError + 'a {
    move |x| {
        if x.status == StatusCode::NOT_FOUND {
            ApiError::not_found(format!("{kind} {name} not found"))
        } else {
            x
        }
    }
}

/// API filters as the CLI's `KEY=VALUE` filter strings.
fn filter_strings(f: &HashMap<String, Vec<String>>) -> Vec<String> {
    f.iter()
        .flat_map(|(k, vs)| vs.iter().map(move |v| format!("{k}={v}")))
        .collect()
}

/// `GET /networks?filters=`.
pub async fn list_networks(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filters = filter_strings(&q.filters()?);
    let m = e.manager().await;
    let nets = m
        .networks
        .list_networks(m.ctx(), &ListNetworksRequest::new())
        .await
        .map_err(|x| m.err(x))?
        .networks;
    let mut out = Vec::new();
    for n in &nets {
        if network::matches_filters(n, &filters)? {
            out.push(network::network_json(n));
        }
    }
    Ok(http::json(StatusCode::OK, &out))
}

/// `GET /networks/{id}`.
pub async fn inspect_network(e: &Arc<Engine>, name: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let req = GetNetworkRequest {
        name: name.to_string(),
        ..Default::default()
    };
    let n = m
        .networks
        .get_network(m.ctx(), &req)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(not_found("network", name))?;
    Ok(http::json(StatusCode::OK, &network::network_json(&n)))
}

/// `POST /networks/create`.
pub async fn create_network(e: &Arc<Engine>, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad_request(
            "network create needs a body naming the network",
        ));
    }
    let b: NetworkCreateRequest = serde_json::from_slice(&body)
        .map_err(|x| ApiError::bad_request(format!("invalid JSON request body: {x}")))?;
    let ipam = b
        .ipam
        .as_ref()
        .and_then(|i| i.config.as_ref())
        .and_then(|c| c.first());
    let req = CreateNetworkRequest {
        name: b.name.clone(),
        driver: b.driver.clone().unwrap_or_default(),
        subnet: ipam.and_then(|c| c.subnet.clone()).unwrap_or_default(),
        gateway: ipam.and_then(|c| c.gateway.clone()).unwrap_or_default(),
        internal: b.internal == Some(true),
        options: b.options.clone().unwrap_or_default(),
        labels: b.labels.clone().unwrap_or_default(),
        ..Default::default()
    };
    let m = e.manager().await;
    let n = m
        .networks
        .create_network(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::json(
        StatusCode::CREATED,
        &json!({"Id": n.id, "Warning": ""}),
    ))
}

/// `DELETE /networks/{id}`.
pub async fn remove_network(e: &Arc<Engine>, name: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let req = RemoveNetworkRequest {
        name: name.to_string(),
        ..Default::default()
    };
    m.networks
        .remove_network(m.ctx(), &req)
        .await
        .map_err(|x| ApiError::from(m.err(x)))
        .map_err(not_found("network", name))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /networks/prune`.
pub async fn prune_networks(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filter = prune_filters::from_query(q.get("filters"), PruneKind::Networks)
        .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let req = PruneNetworksRequest {
        filter: Some(filter).into(),
        ..Default::default()
    };
    let m = e.manager().await;
    let r = m
        .networks
        .prune_networks(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"NetworksDeleted": r.deleted}),
    ))
}

/// `POST /networks/{id}/connect`.
pub async fn connect(
    e: &Arc<Engine>,
    req: Request<Incoming>,
    name: &str,
) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let b: NetworkConnectRequest = http::parse_json(&body)?;
    let container = b
        .container
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("connect needs a Container"))?;
    let ep = b.endpoint_config.unwrap_or_default();
    let req = ConnectRequest {
        network: name.to_string(),
        container,
        aliases: ep.aliases.unwrap_or_default(),
        ipv4_address: ep
            .ipam_config
            .and_then(|i| i.ipv4_address)
            .unwrap_or_default(),
        ..Default::default()
    };
    let m = e.manager().await;
    m.networks
        .connect_container(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::OK))
}

/// `POST /networks/{id}/disconnect`.
pub async fn disconnect(
    e: &Arc<Engine>,
    req: Request<Incoming>,
    name: &str,
) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let b: NetworkDisconnectRequest = http::parse_json(&body)?;
    let container = b
        .container
        .filter(|c| !c.is_empty())
        .ok_or_else(|| ApiError::bad_request("disconnect needs a Container"))?;
    let req = DisconnectRequest {
        network: name.to_string(),
        container,
        force: b.force == Some(true),
        ..Default::default()
    };
    let m = e.manager().await;
    m.networks
        .disconnect_container(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::OK))
}

/// `GET /volumes?filters=`.
pub async fn list_volumes(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filters = filter_strings(&q.filters()?)
        .iter()
        .map(|f| volume::parse_filter(f))
        .collect::<Result<Vec<_>, _>>()?;
    let m = e.manager().await;
    let vols: Vec<_> = volume::list(&m, false)
        .await?
        .into_iter()
        .filter(|v| volume::matches_all(v, &filters))
        .map(|v| volume::inspect_json(&v))
        .collect();
    Ok(http::json(
        StatusCode::OK,
        &json!({"Volumes": vols, "Warnings": []}),
    ))
}

/// `GET /volumes/{name}`.
pub async fn inspect_volume(e: &Arc<Engine>, name: &str) -> Result<Resp, ApiError> {
    let m = e.manager().await;
    let mut r = GetVolumeRequest::new();
    r.name = name.to_string();
    let v = m
        .volumes
        .get_volume(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::json(StatusCode::OK, &volume::inspect_json(&v)))
}

/// `POST /volumes/create`.
pub async fn create_volume(e: &Arc<Engine>, req: Request<Incoming>) -> Result<Resp, ApiError> {
    let body = http::read_body(req).await?;
    let b: VolumeCreateOptions = http::parse_json(&body)?;
    let mut r = CreateVolumeRequest::new();
    r.name = b.name.unwrap_or_default();
    r.driver = b.driver.unwrap_or_default();
    r.options = b.driver_opts.unwrap_or_default();
    r.labels = b.labels.unwrap_or_default();
    let m = e.manager().await;
    let v = m
        .volumes
        .create_volume(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::json(StatusCode::CREATED, &volume::inspect_json(&v)))
}

/// `DELETE /volumes/{name}?force`.
pub async fn remove_volume(e: &Arc<Engine>, name: &str, q: &Query) -> Result<Resp, ApiError> {
    let mut r = RemoveVolumeRequest::new();
    r.name = name.to_string();
    r.force = q.flag("force")?;
    let m = e.manager().await;
    m.volumes
        .remove_volume(m.ctx(), &r)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::empty(StatusCode::NO_CONTENT))
}

/// `POST /volumes/prune`.
pub async fn prune_volumes(e: &Arc<Engine>, q: &Query) -> Result<Resp, ApiError> {
    let filter = prune_filters::from_query(q.get("filters"), PruneKind::Volumes)
        .map_err(|x| ApiError::bad_request(x.to_string()))?;
    let req = PruneVolumesRequest {
        filter: Some(filter).into(),
        ..Default::default()
    };
    let m = e.manager().await;
    let r = m
        .volumes
        .prune_volumes(m.ctx(), &req)
        .await
        .map_err(|x| m.err(x))?;
    Ok(http::json(
        StatusCode::OK,
        &json!({"VolumesDeleted": r.volumes_deleted, "SpaceReclaimed": r.space_reclaimed}),
    ))
}
