//! The compose file as written, in serde types that accept each key's
//! variants (string or list, list or map, short or long syntax) and reject
//! unknown keys. `normalize` turns it into the canonical [`crate::model`].
//! Scalars are lenient where interpolation leaves strings (`replicas: "3"`
//! after `${N}`), as the compose spec's type casting is.

use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFile {
    /// Obsolete; accepted and ignored.
    #[allow(dead_code)]
    pub version: Option<IgnoredAny>,
    pub name: Option<Str>,
    #[serde(default)]
    pub services: BTreeMap<String, RawService>,
    #[serde(default)]
    pub networks: BTreeMap<String, Option<RawNetwork>>,
    #[serde(default)]
    pub volumes: BTreeMap<String, Option<RawVolume>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawService {
    pub build: Option<StrOr<RawBuild>>,
    pub cap_add: Option<Vec<Str>>,
    pub cap_drop: Option<Vec<Str>>,
    pub command: Option<StrOrList>,
    pub container_name: Option<Str>,
    pub depends_on: Option<NamedMap<RawDependency>>,
    pub deploy: Option<RawDeploy>,
    pub dns: Option<StrOrList>,
    pub entrypoint: Option<StrOrList>,
    pub env_file: Option<EnvFiles>,
    pub environment: Option<KvList>,
    pub expose: Option<Vec<Str>>,
    pub extra_hosts: Option<KvList>,
    pub healthcheck: Option<RawHealthcheck>,
    pub hostname: Option<Str>,
    pub image: Option<Str>,
    pub init: Option<Bool>,
    pub labels: Option<KvList>,
    pub network_mode: Option<Str>,
    pub networks: Option<NamedMap<RawServiceNetwork>>,
    pub ports: Option<Vec<StrOr<RawPort>>>,
    pub profiles: Option<Vec<Str>>,
    pub pull_policy: Option<Str>,
    pub read_only: Option<Bool>,
    pub restart: Option<Str>,
    pub scale: Option<U64>,
    pub stdin_open: Option<Bool>,
    pub stop_grace_period: Option<Str>,
    pub stop_signal: Option<Str>,
    pub tmpfs: Option<StrOrList>,
    pub tty: Option<Bool>,
    pub user: Option<Str>,
    pub volumes: Option<Vec<StrOr<RawMount>>>,
    pub working_dir: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBuild {
    pub context: Option<Str>,
    pub dockerfile: Option<Str>,
    pub args: Option<KvList>,
    pub target: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDependency {
    pub condition: Option<Str>,
    pub restart: Option<Bool>,
    pub required: Option<Bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawDeploy {
    pub replicas: Option<U64>,
    pub resources: Option<RawResources>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawResources {
    pub limits: Option<RawLimits>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawLimits {
    pub cpus: Option<Str>,
    pub memory: Option<Str>,
    pub pids: Option<I64>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawHealthcheck {
    pub test: Option<StrOrList>,
    pub interval: Option<Str>,
    pub timeout: Option<Str>,
    pub retries: Option<U64>,
    pub start_period: Option<Str>,
    pub start_interval: Option<Str>,
    pub disable: Option<Bool>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawServiceNetwork {
    pub aliases: Option<Vec<Str>>,
    pub ipv4_address: Option<Str>,
    pub ipv6_address: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawPort {
    pub target: Option<Str>,
    pub published: Option<Str>,
    pub host_ip: Option<Str>,
    pub protocol: Option<Str>,
    pub mode: Option<Str>,
    /// Informational only.
    #[allow(dead_code)]
    pub name: Option<Str>,
    #[allow(dead_code)]
    pub app_protocol: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawMount {
    #[serde(rename = "type")]
    pub kind: Option<Str>,
    pub source: Option<Str>,
    pub target: Option<Str>,
    pub read_only: Option<Bool>,
    pub bind: Option<RawBindOptions>,
    pub volume: Option<RawVolumeOptions>,
    pub tmpfs: Option<RawTmpfsOptions>,
    /// macOS only; accepted and ignored.
    #[allow(dead_code)]
    pub consistency: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawBindOptions {
    pub propagation: Option<Str>,
    pub create_host_path: Option<Bool>,
    pub selinux: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawVolumeOptions {
    pub nocopy: Option<Bool>,
    pub subpath: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawTmpfsOptions {
    pub size: Option<Str>,
    pub mode: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawNetwork {
    pub name: Option<Str>,
    pub driver: Option<Str>,
    pub driver_opts: Option<BTreeMap<String, Str>>,
    pub ipam: Option<RawIpam>,
    pub external: Option<Bool>,
    pub internal: Option<Bool>,
    pub enable_ipv6: Option<Bool>,
    pub attachable: Option<Bool>,
    pub labels: Option<KvList>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawIpam {
    pub driver: Option<Str>,
    pub config: Option<Vec<RawIpamPool>>,
    #[allow(dead_code)]
    pub options: Option<BTreeMap<String, Str>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawIpamPool {
    pub subnet: Option<Str>,
    pub gateway: Option<Str>,
    pub ip_range: Option<Str>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct RawVolume {
    pub name: Option<Str>,
    pub driver: Option<Str>,
    pub driver_opts: Option<BTreeMap<String, Str>>,
    pub external: Option<Bool>,
    pub labels: Option<KvList>,
}

/// A scalar as text: strings, numbers and booleans all read as strings.
#[derive(Debug, Clone, PartialEq)]
pub struct Str(pub String);

impl<'de> Deserialize<'de> for Str {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ScalarVisitor).map(Str)
    }
}

struct ScalarVisitor;

impl Visitor<'_> for ScalarVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

/// An unsigned integer, or a string holding one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct U64(pub u64);

impl<'de> Deserialize<'de> for U64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = u64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a non-negative integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<u64, E> {
                Ok(v)
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<u64, E> {
                u64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Signed(v), &self))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<u64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V).map(U64)
    }
}

/// An integer (may be negative: `pids: -1`), or a string holding one.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct I64(pub i64);

impl<'de> Deserialize<'de> for I64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = i64;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer")
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
                i64::try_from(v).map_err(|_| E::invalid_value(de::Unexpected::Unsigned(v), &self))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
                v.trim()
                    .parse()
                    .map_err(|_| E::invalid_value(de::Unexpected::Str(v), &self))
            }
        }
        d.deserialize_any(V).map(I64)
    }
}

/// A boolean, or a string holding one (`"true"`, `"false"`, `yes`, `no`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bool(pub bool);

impl<'de> Deserialize<'de> for Bool {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = bool;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a boolean")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<bool, E> {
                Ok(v)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<bool, E> {
                match v.trim().to_ascii_lowercase().as_str() {
                    "true" | "yes" | "on" | "1" => Ok(true),
                    "false" | "no" | "off" | "0" => Ok(false),
                    _ => Err(E::invalid_value(de::Unexpected::Str(v), &self)),
                }
            }
        }
        d.deserialize_any(V).map(Bool)
    }
}

/// A string, or a list of strings.
#[derive(Debug, Clone, PartialEq)]
pub enum StrOrList {
    Str(String),
    List(Vec<String>),
}

impl<'de> Deserialize<'de> for StrOrList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrList, E> {
                Ok(StrOrList::Str(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOrList, E> {
                Ok(StrOrList::Str(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOrList, E> {
                Ok(StrOrList::Str(v.to_string()))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<StrOrList, A::Error> {
                let items: Vec<Str> = Deserialize::deserialize(SeqAccessDeserializer::new(s))?;
                Ok(StrOrList::List(items.into_iter().map(|s| s.0).collect()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[KEY=VALUE, KEY]` or `{KEY: VALUE}`; values of the map may be any
/// scalar or null. Kept in order, with whether each came from the list form.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct KvList {
    pub entries: Vec<KvEntry>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum KvEntry {
    /// A list item, split later (the separator depends on the key).
    Item(String),
    /// A map entry.
    Pair(String, Option<String>),
}

impl<'de> Deserialize<'de> for KvList {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = KvList;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of KEY=VALUE strings or a mapping")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<KvList, A::Error> {
                let items: Vec<Str> = Deserialize::deserialize(SeqAccessDeserializer::new(s))?;
                Ok(KvList {
                    entries: items.into_iter().map(|s| KvEntry::Item(s.0)).collect(),
                })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<KvList, A::Error> {
                let mut entries = Vec::new();
                while let Some(k) = m.next_key::<Str>()? {
                    let v: Option<Str> = m.next_value()?;
                    entries.push(KvEntry::Pair(k.0, v.map(|v| v.0)));
                }
                Ok(KvList { entries })
            }
        }
        d.deserialize_any(V)
    }
}

/// A list of names, or a map of name to options (null for none).
#[derive(Debug)]
pub struct NamedMap<T>(pub Vec<(String, Option<T>)>);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for NamedMap<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = NamedMap<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a list of names or a mapping")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<NamedMap<T>, A::Error> {
                let items: Vec<Str> = Deserialize::deserialize(SeqAccessDeserializer::new(s))?;
                Ok(NamedMap(items.into_iter().map(|s| (s.0, None)).collect()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut m: A) -> Result<NamedMap<T>, A::Error> {
                let mut out = Vec::new();
                while let Some(k) = m.next_key::<Str>()? {
                    let v: Option<T> = m.next_value()?;
                    out.push((k.0, v));
                }
                Ok(NamedMap(out))
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// Short syntax (a string or a number) or the long syntax's mapping.
#[derive(Debug)]
pub enum StrOr<T> {
    Short(String),
    Long(T),
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for StrOr<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
            type Value = StrOr<T>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string or a mapping")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOr<T>, E> {
                Ok(StrOr::Short(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOr<T>, E> {
                Ok(StrOr::Short(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOr<T>, E> {
                Ok(StrOr::Short(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, m: A) -> Result<StrOr<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(m)).map(StrOr::Long)
            }
        }
        d.deserialize_any(V(PhantomData))
    }
}

/// `env_file:` — a path, a list of paths, or a list of `{path, required}`.
#[derive(Debug, Default)]
pub struct EnvFiles(pub Vec<(String, bool)>);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawEnvFile {
    path: Str,
    required: Option<Bool>,
    #[allow(dead_code)]
    format: Option<Str>,
}

impl<'de> Deserialize<'de> for EnvFiles {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EnvFiles;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a path or a list of paths")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EnvFiles, E> {
                Ok(EnvFiles(vec![(v.to_string(), true)]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, s: A) -> Result<EnvFiles, A::Error> {
                let items: Vec<StrOr<RawEnvFile>> =
                    Deserialize::deserialize(SeqAccessDeserializer::new(s))?;
                Ok(EnvFiles(
                    items
                        .into_iter()
                        .map(|i| match i {
                            StrOr::Short(p) => (p, true),
                            StrOr::Long(f) => (f.path.0, f.required.is_none_or(|r| r.0)),
                        })
                        .collect(),
                ))
            }
        }
        d.deserialize_any(V)
    }
}
