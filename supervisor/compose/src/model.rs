//! The normalised compose project: one canonical form for every key, so the
//! orchestration never sees the file's variants (string or list, list or map,
//! short or long syntax). Durations are nanoseconds, sizes are bytes, paths of
//! binds and build contexts are absolute. Serialises to `compose config`'s
//! shape (see `render`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Serialize;

/// A loaded project: the active services (profiles applied) and the
/// top-level networks and volumes they use, with their engine names resolved.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Project {
    /// The normalised project name (`-p`, `COMPOSE_PROJECT_NAME`, `name:`, or
    /// the project directory's basename).
    pub name: String,
    /// The project directory: relative paths in the files resolve against it.
    #[serde(skip)]
    pub working_dir: PathBuf,
    /// The compose files in merge order (`-` for stdin).
    #[serde(skip)]
    pub files: Vec<PathBuf>,
    /// Active services by name.
    pub services: BTreeMap<String, Service>,
    /// Services left out by their profiles (compose `config` does not show
    /// them; `run`/named services on the command line enable them at load).
    #[serde(skip)]
    pub disabled_services: BTreeMap<String, Service>,
    /// Networks by their key in the file; `default` is added when a service
    /// uses it.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, Network>,
    /// Volumes by their key in the file.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub volumes: BTreeMap<String, Volume>,
    /// The variables interpolation saw (process environment over `.env` and
    /// `--env-file`); `environment: [KEY]` entries were resolved from it.
    #[serde(skip)]
    pub environment: BTreeMap<String, String>,
}

/// One service, normalised.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Service {
    /// The service's key in `services:` (not serialised: it is the map key).
    #[serde(skip)]
    pub name: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub profiles: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub build: Option<Build>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_add: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub cap_drop: Vec<String>,
    /// `command:`; a string was split into shell words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub command: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub container_name: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub depends_on: BTreeMap<String, Dependency>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub deploy: Option<Deploy>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dns: Vec<String>,
    /// `entrypoint:`; a string was split into shell words.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<Vec<String>>,
    /// `env_file:` contents, then `environment:` over them. `None`: a bare
    /// `KEY` whose variable is unset — leave it out of the container.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, Option<String>>,
    /// `expose:` entries as written (`80`, `80/udp`, `8000-8010`).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub expose: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub extra_hosts: Vec<ExtraHost>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub healthcheck: Option<Healthcheck>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hostname: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub image: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub init: Option<bool>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub network_mode: Option<String>,
    /// Networks the service joins by their key in the project's `networks`;
    /// `default` when neither `networks:` nor `network_mode:` is given.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub networks: BTreeMap<String, ServiceNetwork>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub ports: Vec<Port>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pull_policy: Option<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<String>,
    /// How many containers: `deploy.replicas`, else `scale`, else 1.
    #[serde(skip)]
    pub replicas: u64,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub stdin_open: bool,
    /// Nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::render::ser_opt_duration"
    )]
    pub stop_grace_period: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stop_signal: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tmpfs: Vec<String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub tty: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub volumes: Vec<ServiceVolume>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub working_dir: Option<String>,
}

impl Service {
    /// The environment as `KEY=VALUE` strings for a container spec, unset
    /// bare keys left out.
    pub fn env_list(&self) -> Vec<String> {
        self.environment
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={v}")))
            .collect()
    }
}

/// `build:` — a string is the context.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Build {
    /// Absolute (resolved against the project directory), or a URL as given.
    pub context: PathBuf,
    /// Relative to the context unless absolute; `Dockerfile` by default.
    pub dockerfile: String,
    /// `None`: a bare `KEY` whose variable is unset.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub args: BTreeMap<String, Option<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
}

/// A `depends_on` entry; the list form gives `service_started`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Dependency {
    pub condition: Condition,
    /// Restart this service when the dependency is restarted by compose.
    pub restart: bool,
    /// A missing or disabled dependency is an error when true, a warning when
    /// false.
    pub required: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Condition {
    ServiceStarted,
    ServiceHealthy,
    ServiceCompletedSuccessfully,
}

/// `deploy:` keys berth uses.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Deploy {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replicas: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub resources: Option<Resources>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Resources {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub limits: Option<Limits>,
}

/// `deploy.resources.limits`.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Limits {
    /// CPUs as a fraction (`0.5`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub cpus: Option<f64>,
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pids: Option<i64>,
}

/// An `extra_hosts` entry (`host:ip`, `host=ip` or a map entry); printed
/// as `host=ip`, the form that also holds IPv6 addresses unambiguously.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtraHost {
    pub host: String,
    pub ip: String,
}

impl Serialize for ExtraHost {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&format!("{}={}", self.host, self.ip))
    }
}

impl ExtraHost {
    /// docker's `--add-host` form, `host:ip`.
    pub fn to_add_host(&self) -> String {
        format!("{}:{}", self.host, self.ip)
    }
}

/// `healthcheck:`, in the image config's form.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Healthcheck {
    /// `["CMD", …]`, `["CMD-SHELL", cmd]` or `["NONE"]` (also what
    /// `disable: true` becomes); empty: inherit the image's test.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub test: Vec<String>,
    /// Nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::render::ser_opt_duration"
    )]
    pub interval: Option<i64>,
    /// Nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::render::ser_opt_duration"
    )]
    pub timeout: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retries: Option<u64>,
    /// Nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::render::ser_opt_duration"
    )]
    pub start_period: Option<i64>,
    /// Nanoseconds.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "crate::render::ser_opt_duration"
    )]
    pub start_interval: Option<i64>,
}

impl Healthcheck {
    /// True when the check is switched off (`disable: true` or `test: NONE`).
    pub fn disabled(&self) -> bool {
        self.test.first().map(String::as_str) == Some("NONE")
    }
}

/// A service's membership of one network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct ServiceNetwork {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv4_address: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6_address: Option<String>,
}

/// One published or exposed container port; short-syntax ranges are expanded
/// into one entry per container port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Port {
    pub target: u16,
    /// Host port or host range (`8080`, `8000-8010`); `None`: an ephemeral
    /// host port.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub published: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub host_ip: Option<String>,
    /// `tcp`, `udp` or `sctp`.
    pub protocol: String,
    /// `ingress` (docker's default) or `host`.
    pub mode: String,
}

impl Port {
    /// The host port range as numbers, when published.
    pub fn published_range(&self) -> Option<(u16, u16)> {
        let p = self.published.as_deref()?;
        crate::ports::parse_range(p).ok()
    }
}

/// A mount of a service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceVolume {
    #[serde(rename = "type")]
    pub kind: MountKind,
    /// Bind: absolute host path. Volume: the key in the project's `volumes`
    /// (`None`: anonymous). Tmpfs: `None`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    pub target: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub read_only: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub volume: Option<VolumeOptions>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tmpfs: Option<TmpfsOptions>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum MountKind {
    Bind,
    Volume,
    Tmpfs,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct BindOptions {
    /// Create the host path when missing (short syntax always does).
    pub create_host_path: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub propagation: Option<String>,
    /// `z` or `Z`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub selinux: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct VolumeOptions {
    /// Do not copy the image's content into a new volume.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub nocopy: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subpath: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct TmpfsOptions {
    /// Bytes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub size: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

/// A top-level network.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Network {
    /// The engine's name: `name:`, else `<project>_<key>` (external: the key).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipam: Option<Ipam>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub internal: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub enable_ipv6: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub attachable: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Ipam {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub config: Vec<IpamPool>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct IpamPool {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subnet: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub gateway: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip_range: Option<String>,
}

/// A top-level volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Volume {
    /// The engine's name: `name:`, else `<project>_<key>` (external: the key).
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub driver: Option<String>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub driver_opts: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub external: bool,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub labels: BTreeMap<String, String>,
}

impl Project {
    /// A service by name, active or left out by its profiles.
    pub fn service(&self, name: &str) -> Option<&Service> {
        self.services
            .get(name)
            .or_else(|| self.disabled_services.get(name))
    }
}
