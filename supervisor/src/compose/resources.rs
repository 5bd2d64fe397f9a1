//! The project's networks and volumes: made (with compose's labels) before
//! the containers that use them, found by name when `external`, and removed
//! by `down` (volumes only with `-v`).

use std::collections::HashMap;

use berth_proto::networks::{
    CreateNetworkRequest, GetNetworkRequest, ListNetworksRequest, RemoveNetworkRequest,
};
use berth_proto::volumes::{
    CreateVolumeRequest, GetVolumeRequest, ListVolumesRequest, RemoveVolumeRequest,
};

use crate::client::Manager;
use crate::compose::error::ComposeError;
use crate::compose::names;
use crate::compose::progress;
use crate::error::CliError;

/// A network the project uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetworkPlan {
    /// the name in the compose file (`default`, `back`, …)
    pub key: String,
    /// the network's real name: `<project>_<key>`, or its own when external
    pub name: String,
    pub external: bool,
    pub driver: String,
    pub subnet: String,
    pub gateway: String,
    pub internal: bool,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

/// A named volume the project uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VolumePlan {
    pub key: String,
    /// `<project>_<key>`, or its own name when external
    pub name: String,
    pub external: bool,
    pub driver: String,
    pub options: HashMap<String, String>,
    pub labels: HashMap<String, String>,
}

/// Makes the networks that do not exist yet; an external one must exist.
pub async fn ensure_networks(
    m: &Manager,
    project: &str,
    nets: &[NetworkPlan],
) -> Result<(), ComposeError> {
    for n in nets {
        let get = GetNetworkRequest {
            name: n.name.clone(),
            ..Default::default()
        };
        match m.networks.get_network(m.ctx(), &get).await {
            Ok(_) => continue,
            Err(e) => {
                let e = m.err(e);
                if !e.is_not_found() {
                    return Err(e.into());
                }
            }
        }
        if n.external {
            return Err(ComposeError::Invalid(format!(
                "network {} declared as external, but could not be found",
                n.name
            )));
        }
        progress::event("Network", &n.name, "Creating");
        let mut labels = n.labels.clone();
        labels.extend(names::resource_labels(project, names::NETWORK, &n.key));
        let req = CreateNetworkRequest {
            name: n.name.clone(),
            driver: n.driver.clone(),
            subnet: n.subnet.clone(),
            gateway: n.gateway.clone(),
            internal: n.internal,
            options: n.options.clone(),
            labels,
            ..Default::default()
        };
        match m.networks.create_network(m.ctx(), &req).await {
            Ok(_) => progress::event("Network", &n.name, "Created"),
            // made meanwhile by another command: as good
            Err(e) => {
                let e = m.err(e);
                if !matches!(&e, CliError::Daemon { message, .. } if message.contains("already exists"))
                {
                    return Err(e.into());
                }
            }
        }
    }
    Ok(())
}

/// Makes the volumes that do not exist yet; an external one must exist.
pub async fn ensure_volumes(
    m: &Manager,
    project: &str,
    vols: &[VolumePlan],
) -> Result<(), ComposeError> {
    for v in vols {
        if v.external {
            let get = GetVolumeRequest {
                name: v.name.clone(),
                ..Default::default()
            };
            m.volumes
                .get_volume(m.ctx(), &get)
                .await
                .map_err(|e| match m.err(e) {
                    e if e.is_not_found() => {
                        ComposeError::Invalid(format!("external volume {:?} not found", v.name))
                    }
                    e => e.into(),
                })?;
            continue;
        }
        let mut labels = v.labels.clone();
        labels.extend(names::resource_labels(project, names::VOLUME, &v.key));
        let req = CreateVolumeRequest {
            name: v.name.clone(),
            driver: v.driver.clone(),
            options: v.options.clone(),
            labels,
            ..Default::default()
        };
        let made = m
            .volumes
            .create_volume(m.ctx(), &req)
            .await
            .map_err(|e| m.err(e))?;
        if made.created {
            progress::event("Volume", &v.name, "Created");
        }
    }
    Ok(())
}

/// Removes the project's own networks (those carrying its label); one
/// still in use is reported and left.
pub async fn remove_networks(m: &Manager, project: &str) -> Result<(), ComposeError> {
    let nets = m
        .networks
        .list_networks(m.ctx(), &ListNetworksRequest::new())
        .await
        .map_err(|e| m.err(e))?
        .networks;
    let mut failed = None;
    for n in nets
        .iter()
        .filter(|n| n.labels.get(names::PROJECT).map(String::as_str) == Some(project))
    {
        progress::event("Network", &n.name, "Removing");
        let req = RemoveNetworkRequest {
            name: n.id.clone(),
            ..Default::default()
        };
        match m.networks.remove_network(m.ctx(), &req).await {
            Ok(_) => progress::event("Network", &n.name, "Removed"),
            Err(e) => {
                let e = m.err(e);
                if !e.is_not_found() {
                    eprintln!("berth: network {}: {e}", n.name);
                    failed = Some(e);
                }
            }
        }
    }
    failed.map_or(Ok(()), |e| Err(e.into()))
}

/// Removes the project's own volumes (those carrying its label).
pub async fn remove_volumes(m: &Manager, project: &str) -> Result<(), ComposeError> {
    let vols = m
        .volumes
        .list_volumes(m.ctx(), &ListVolumesRequest::new())
        .await
        .map_err(|e| m.err(e))?
        .volumes;
    let mut failed = None;
    for v in vols
        .iter()
        .filter(|v| v.labels.get(names::PROJECT).map(String::as_str) == Some(project))
    {
        progress::event("Volume", &v.name, "Removing");
        let req = RemoveVolumeRequest {
            name: v.name.clone(),
            ..Default::default()
        };
        match m.volumes.remove_volume(m.ctx(), &req).await {
            Ok(_) => progress::event("Volume", &v.name, "Removed"),
            Err(e) => {
                let e = m.err(e);
                if !e.is_not_found() {
                    eprintln!("berth: volume {}: {e}", v.name);
                    failed = Some(e);
                }
            }
        }
    }
    failed.map_or(Ok(()), |e| Err(e.into()))
}
