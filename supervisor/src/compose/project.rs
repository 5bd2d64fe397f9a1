//! The project as the orchestration uses it: for each service the container
//! it makes (as `run`/`create` flags), its image and build, its replicas,
//! its dependencies and its config hash; the networks and volumes to make.
//! [`crate::compose::translate`] derives it from the compose model.

use crate::cli::{BuildArgs, CreateFlags};
use crate::compose::error::ComposeError;
use crate::compose::resources::{NetworkPlan, VolumePlan};
use crate::compose::wait::Condition;

/// A network a service's containers join, by its real name.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceNetwork {
    pub name: String,
    /// the service's name first, then the file's `aliases`
    pub aliases: Vec<String>,
    pub ipv4_address: Option<String>,
}

/// One service, ready to make containers from.
#[derive(Debug, Clone, Default)]
pub struct ServicePlan {
    pub name: String,
    /// the image its containers run
    pub image: String,
    /// `build:` as `berth build` flags (tagged with `image`)
    pub build: Option<BuildArgs>,
    /// built by the project under its default name (`--rmi local` removes it)
    pub local_image: bool,
    pub replicas: u32,
    pub config_hash: String,
    pub container_name: Option<String>,
    pub depends_on: Vec<(String, Condition)>,
    /// the container's flags, but for its name, its project labels and its
    /// networks (filled per container)
    pub template: CreateFlags,
    /// the networks joined, the first at create; empty: `template.network`
    /// (a `network_mode`) as it is
    pub networks: Vec<ServiceNetwork>,
    pub has_healthcheck: bool,
}

/// The whole project.
#[derive(Debug, Clone, Default)]
pub struct ProjectPlan {
    pub name: String,
    pub working_dir: String,
    pub config_files: Vec<String>,
    /// in the model's dependency order
    pub services: Vec<ServicePlan>,
    pub networks: Vec<NetworkPlan>,
    pub volumes: Vec<VolumePlan>,
}

impl ProjectPlan {
    pub fn service(&self, name: &str) -> Option<&ServicePlan> {
        self.services.iter().find(|s| s.name == name)
    }

    /// service → the services it depends on, for [`crate::compose::order`].
    pub fn deps(&self) -> Vec<(String, Vec<String>)> {
        self.services
            .iter()
            .map(|s| {
                (
                    s.name.clone(),
                    s.depends_on.iter().map(|(d, _)| d.clone()).collect(),
                )
            })
            .collect()
    }

    /// The services named on the command line (all when none), plus what
    /// they depend on unless `no_deps`; an unknown name is an error.
    pub fn select(&self, names: &[String], no_deps: bool) -> Result<Vec<String>, ComposeError> {
        for n in names {
            if self.service(n).is_none() {
                return Err(ComposeError::Invalid(format!("no such service: {n}")));
            }
        }
        if names.is_empty() {
            return Ok(self.services.iter().map(|s| s.name.clone()).collect());
        }
        let mut wanted: Vec<String> = names.to_vec();
        if !no_deps {
            let mut i = 0;
            while i < wanted.len() {
                if let Some(s) = self.service(&wanted[i]) {
                    for (d, _) in &s.depends_on {
                        if !wanted.contains(d) {
                            wanted.push(d.clone());
                        }
                    }
                }
                i += 1;
            }
        }
        // keep the model's order
        Ok(self
            .services
            .iter()
            .filter(|s| wanted.contains(&s.name))
            .map(|s| s.name.clone())
            .collect())
    }

    /// `deps` restricted to `selected`.
    pub fn deps_of(&self, selected: &[String]) -> Vec<(String, Vec<String>)> {
        self.deps()
            .into_iter()
            .filter(|(s, _)| selected.contains(s))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan() -> ProjectPlan {
        let svc = |name: &str, deps: &[&str]| ServicePlan {
            name: name.into(),
            depends_on: deps
                .iter()
                .map(|d| (d.to_string(), Condition::Started))
                .collect(),
            ..Default::default()
        };
        ProjectPlan {
            name: "p".into(),
            services: vec![
                svc("db", &[]),
                svc("web", &["db"]),
                svc("client", &["web"]),
                svc("x", &[]),
            ],
            ..Default::default()
        }
    }

    #[test]
    fn selection_takes_dependencies() {
        let p = plan();
        assert_eq!(p.select(&[], false).unwrap().len(), 4);
        assert_eq!(
            p.select(&["client".into()], false).unwrap(),
            ["db", "web", "client"]
        );
        assert_eq!(p.select(&["client".into()], true).unwrap(), ["client"]);
        assert!(p.select(&["nope".into()], false).is_err());
    }
}
