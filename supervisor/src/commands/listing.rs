//! What a container list filters on and shows besides the containers
//! themselves — their network endpoints and health — gathered once per
//! list, and each container's [`ContainerFacts`] for docker's filters:
//! `berth ps` and the API's `GET /containers/json` select with the same
//! facts.

use std::collections::HashMap;

use berth_proto::health::ContainerHealth;
use berth_proto::manager::ContainerInfo;
use berth_proto::networks::EndpointInfo;

use crate::client::Manager;
use crate::filters::ContainerFacts;

/// The endpoints and health states of the containers of a list.
#[derive(Default)]
pub struct ListContext {
    /// network endpoints by container id
    pub eps_of: HashMap<String, Vec<EndpointInfo>>,
    /// health states by container id (containers with a health check)
    pub health: HashMap<String, ContainerHealth>,
}

/// Gathers what [`ListContext`] holds for `list` (nothing is an error:
/// a manager without networks or health answers lists none).
pub async fn list_context(m: &Manager, list: &[ContainerInfo]) -> ListContext {
    let mut eps_of: HashMap<String, Vec<EndpointInfo>> = HashMap::new();
    for e in crate::commands::network::endpoints(m, "")
        .await
        .unwrap_or_default()
    {
        eps_of.entry(e.container_id.clone()).or_default().push(e);
    }
    // only a container whose spec has a check has a health: the manager is
    // asked about those alone, and not at all when there are none (a
    // list's rows keep the check's annotation for this)
    let ids: Vec<String> = list
        .iter()
        .filter(|c| c.spec_json.contains(crate::health::ANNOTATION))
        .map(|c| c.id.clone())
        .collect();
    let health = if ids.is_empty() {
        HashMap::new()
    } else {
        crate::health::states(m, &ids).await
    };
    ListContext { eps_of, health }
}

impl ListContext {
    /// The names of the networks `c` is on, sorted.
    pub fn networks_of(&self, c: &ContainerInfo) -> Vec<String> {
        let mut n: Vec<String> = self
            .eps_of
            .get(c.id.as_str())
            .map(|v| v.iter().map(|e| e.network_name.clone()).collect())
            .unwrap_or_default();
        n.sort();
        n
    }

    /// What docker's container filters look at of `c`.
    pub fn facts(&self, c: &ContainerInfo) -> ContainerFacts {
        let (shown, dests) = super::view::mounts_of(c);
        ContainerFacts {
            id: c.id.clone(),
            name: c.name.clone(),
            image: c.image.clone(),
            image_id: c.image_id.clone(),
            status: c.status.clone(),
            exit_code: c.exit_code,
            labels: c
                .labels
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            networks: self.networks_of(c),
            volumes: shown.into_iter().chain(dests).collect(),
            health: self
                .health
                .get(&c.id)
                .map_or_else(|| "none".to_string(), |h| h.status.clone()),
            created: c.created.as_ref().map_or((0, 0), |t| (t.seconds, t.nanos)),
            published: self
                .eps_of
                .get(c.id.as_str())
                .into_iter()
                .flatten()
                .flat_map(|e| e.ports.iter())
                .map(|p| format!("{}/{}", p.container_port, p.protocol))
                .collect(),
            exposed: crate::recorded::exposed_of(
                &serde_json::from_str(&c.spec_json).unwrap_or_default(),
            ),
        }
    }
}
