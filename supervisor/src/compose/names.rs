//! docker compose's naming and labelling conventions, so that tools which
//! know them (and `docker compose` itself) recognise a berth project: the
//! names of containers, networks, volumes and built images, and the
//! `com.docker.compose.*` labels that tie each object to its project.

use std::collections::HashMap;

/// The project an object belongs to.
pub const PROJECT: &str = "com.docker.compose.project";
/// The service a container runs.
pub const SERVICE: &str = "com.docker.compose.service";
/// The container's index among its service's replicas (1, 2, …).
pub const NUMBER: &str = "com.docker.compose.container-number";
/// `True` for `compose run` containers, `False` otherwise.
pub const ONEOFF: &str = "com.docker.compose.oneoff";
/// The hash of the service's configuration the container was made from.
pub const CONFIG_HASH: &str = "com.docker.compose.config-hash";
/// The project's working directory.
pub const WORKING_DIR: &str = "com.docker.compose.project.working_dir";
/// The project's compose files, comma-separated.
pub const CONFIG_FILES: &str = "com.docker.compose.project.config_files";
/// The version of the compose implementation that made the object.
pub const VERSION: &str = "com.docker.compose.version";
/// The network's name in the compose file (on networks).
pub const NETWORK: &str = "com.docker.compose.network";
/// The volume's name in the compose file (on volumes).
pub const VOLUME: &str = "com.docker.compose.volume";

/// What `com.docker.compose.version` says on objects berth makes.
pub const COMPOSE_VERSION: &str = concat!("berth-", env!("CARGO_PKG_VERSION"));

/// `<project>-<service>-<n>`, the name of a service's n-th container.
pub fn container_name(project: &str, service: &str, number: u32) -> String {
    format!("{project}-{service}-{number}")
}

/// `<project>-<service>-run-<id>`: a `compose run` container; `id` is a
/// random suffix (12 hex digits).
pub fn oneoff_name(project: &str, service: &str, id: &str) -> String {
    format!("{project}-{service}-run-{id}")
}

/// `<project>_<name>`: a network or volume of the project; external ones
/// keep their own name (the caller decides).
pub fn scoped(project: &str, name: &str) -> String {
    format!("{project}_{name}")
}

/// `<project>-<service>`: the image a service's `build:` makes when it
/// names no `image:`.
pub fn built_image(project: &str, service: &str) -> String {
    format!("{project}-{service}")
}

/// Who a container is: the labels every project container carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContainerLabels<'a> {
    pub project: &'a str,
    pub service: &'a str,
    pub number: u32,
    pub oneoff: bool,
    pub config_hash: &'a str,
    pub working_dir: &'a str,
    pub config_files: &'a [String],
}

impl ContainerLabels<'_> {
    /// The labels as `KEY=VALUE` entries, the form `--label` takes.
    pub fn entries(&self) -> Vec<String> {
        let oneoff = if self.oneoff { "True" } else { "False" };
        vec![
            format!("{PROJECT}={}", self.project),
            format!("{SERVICE}={}", self.service),
            format!("{NUMBER}={}", self.number),
            format!("{ONEOFF}={oneoff}"),
            format!("{CONFIG_HASH}={}", self.config_hash),
            format!("{WORKING_DIR}={}", self.working_dir),
            format!("{CONFIG_FILES}={}", self.config_files.join(",")),
            format!("{VERSION}={COMPOSE_VERSION}"),
        ]
    }
}

/// The labels of a project's network (`kind` = [`NETWORK`]) or volume
/// (`kind` = [`VOLUME`]) named `name` in the compose file.
pub fn resource_labels(project: &str, kind: &str, name: &str) -> HashMap<String, String> {
    HashMap::from([
        (PROJECT.to_string(), project.to_string()),
        (kind.to_string(), name.to_string()),
        (VERSION.to_string(), COMPOSE_VERSION.to_string()),
    ])
}

/// A container as the project sees it, read back from its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub service: String,
    pub number: u32,
    pub oneoff: bool,
    pub config_hash: String,
}

/// The project membership written by [`ContainerLabels`], if `labels`
/// belong to `project`.
pub fn member_of(project: &str, labels: &HashMap<String, String>) -> Option<Member> {
    if labels.get(PROJECT).map(String::as_str) != Some(project) {
        return None;
    }
    Some(Member {
        service: labels.get(SERVICE)?.clone(),
        number: labels.get(NUMBER).and_then(|n| n.parse().ok()).unwrap_or(0),
        oneoff: labels.get(ONEOFF).is_some_and(|v| v == "True"),
        config_hash: labels.get(CONFIG_HASH).cloned().unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_compose() {
        assert_eq!(container_name("app", "web", 2), "app-web-2");
        assert_eq!(
            oneoff_name("app", "web", "0123456789ab"),
            "app-web-run-0123456789ab"
        );
        assert_eq!(scoped("app", "default"), "app_default");
        assert_eq!(built_image("app", "web"), "app-web");
    }

    #[test]
    fn labels_round_trip() {
        let files = vec![
            "/p/compose.yaml".to_string(),
            "/p/override.yaml".to_string(),
        ];
        let l = ContainerLabels {
            project: "app",
            service: "web",
            number: 3,
            oneoff: false,
            config_hash: "abc",
            working_dir: "/p",
            config_files: &files,
        };
        let map: HashMap<String, String> = l
            .entries()
            .iter()
            .map(|e| {
                let (k, v) = e.split_once('=').unwrap();
                (k.to_string(), v.to_string())
            })
            .collect();
        assert_eq!(map[CONFIG_FILES], "/p/compose.yaml,/p/override.yaml");
        assert_eq!(map[ONEOFF], "False");
        let m = member_of("app", &map).unwrap();
        assert_eq!(
            m,
            Member {
                service: "web".into(),
                number: 3,
                oneoff: false,
                config_hash: "abc".into()
            }
        );
        assert!(member_of("other", &map).is_none());
    }
}
