//! The mounts of `run`/`create`: `-v` in all its forms (host bind, named
//! volume, anonymous volume), `--mount` with docker's keys, `--tmpfs`,
//! `--volumes-from` and the image's `VOLUME` entries (`--read-only` is a
//! security flag: volumes, binds and tmpfs stay writable under it).
//!
//! [`MountPlan::parse`] is pure and checks everything that can be checked
//! before a manager is asked, so bad input changes nothing; [`resolve`]
//! then creates the volumes (named ones on first use, anonymous ones) and
//! turns every volume into a bind of its data directory, and [`Resolved::
//! rollback`] removes the volumes it made when the container is not made.

use std::collections::{BTreeMap, HashMap};

use clap::Args;
use serde_json::Value;

use berth_proto::volumes::{CreateVolumeRequest, RemoveVolumeRequest};

use crate::client::Manager;
use crate::error::CliError;
use crate::flags::{self, Bind, Tmpfs};

/// `run`/`create` flags about mounts that `-v`/`--tmpfs` do not cover.
#[derive(Debug, Args, Default, Clone)]
pub struct MountFlags {
    /// Attach a filesystem mount to the container (type=bind|volume|tmpfs,source=…,target=…,readonly)
    #[arg(long = "mount", value_name = "mount")]
    pub mount: Vec<String>,
    /// Mount volumes from the specified container(s) (CONTAINER[:ro|:rw])
    #[arg(long = "volumes-from", value_name = "list")]
    pub volumes_from: Vec<String>,
}

/// A mount flag that does not parse.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MountError {
    #[error(transparent)]
    Flag(#[from] flags::FlagError),
    #[error("invalid volume specification: '{spec}': {why}")]
    Volume { spec: String, why: String },
    #[error("invalid argument \"{spec}\" for \"--mount\" flag: {why}")]
    Mount { spec: String, why: String },
    #[error("invalid argument \"{0}\" for \"--volumes-from\" flag: want CONTAINER[:ro|:rw]")]
    VolumesFrom(String),
    #[error("Duplicate mount point: {0}")]
    Duplicate(String),
}

/// A volume the container mounts; `name` empty: a new anonymous one.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct VolumeMount {
    pub name: String,
    pub destination: String,
    pub read_only: bool,
    /// `nocopy`, `volume-nocopy`: no copy-up of the image's content
    pub nocopy: bool,
    /// `--mount volume-opt=…`, `volume-driver=…`, `volume-label=…`: used
    /// when the volume is created
    pub driver: String,
    pub options: BTreeMap<String, String>,
    pub labels: BTreeMap<String, String>,
}

/// `--volumes-from CONTAINER[:ro|:rw]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VolumesFrom {
    pub container: String,
    /// `None`: each mount keeps its own mode
    pub read_only: Option<bool>,
}

/// Every mount of a new container as the flags give them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MountPlan {
    pub binds: Vec<Bind>,
    pub volumes: Vec<VolumeMount>,
    pub tmpfs: Vec<Tmpfs>,
    pub volumes_from: Vec<VolumesFrom>,
}

fn check_destination(dst: &str) -> Result<(), String> {
    if !dst.starts_with('/') {
        return Err(format!(
            "invalid mount path: '{dst}' mount path must be absolute"
        ));
    }
    if dst.split('/').all(str::is_empty) {
        return Err("invalid specification: destination can't be '/'".into());
    }
    Ok(())
}

/// Parses one `-v`: `/ctr` (anonymous volume), `NAME:/ctr[:opts]` (named
/// volume) or `/host:/ctr[:opts]` (bind, checked by [`flags::parse_volume`]).
pub fn parse_v(spec: &str) -> Result<Result<Bind, VolumeMount>, MountError> {
    let bad = |why: String| MountError::Volume {
        spec: spec.to_string(),
        why,
    };
    let parts: Vec<&str> = spec.split(':').collect();
    if parts.first().is_some_and(|s| s.starts_with('/')) && parts.len() >= 2 {
        return Ok(Ok(flags::parse_volume(spec)?));
    }
    let (name, dst, opts) = match parts.as_slice() {
        [d] => ("", *d, ""),
        [n, d] => (*n, *d, ""),
        [n, d, o] => (*n, *d, *o),
        _ => return Err(bad("too many colons".into())),
    };
    if parts.len() > 1 && name.is_empty() {
        return Err(bad("empty volume name".into()));
    }
    let mut read_only = None;
    let mut nocopy = false;
    for o in opts.split(',').filter(|o| !o.is_empty()) {
        match o {
            "ro" | "rw" if read_only.is_some() => return Err(bad("ro and rw given twice".into())),
            "ro" | "rw" => read_only = Some(o == "ro"),
            "nocopy" => nocopy = true,
            // SELinux relabels have no meaning here
            "z" | "Z" => {}
            other => return Err(bad(format!("invalid mode: {other}"))),
        }
    }
    check_destination(dst)
        .map_err(|e| bad(format!("invalid mount config for type \"volume\": {e}")))?;
    Ok(Err(VolumeMount {
        name: name.to_string(),
        destination: dst.to_string(),
        read_only: read_only.unwrap_or(false),
        nocopy,
        ..Default::default()
    }))
}

fn truth(v: Option<&str>) -> Result<bool, String> {
    match v {
        None | Some("true") | Some("1") => Ok(true),
        Some("false") | Some("0") => Ok(false),
        Some(v) => Err(format!("invalid value for readonly: {v}")),
    }
}

fn key_value(v: &str) -> (String, String) {
    match v.split_once('=') {
        Some((k, v)) => (k.to_string(), v.to_string()),
        None => (v.to_string(), String::new()),
    }
}

/// The things one `--mount` can be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mount {
    Bind(Bind),
    Volume(VolumeMount),
    Tmpfs(Tmpfs),
}

/// Parses one `--mount` with docker's keys.
pub fn parse_mount(spec: &str) -> Result<Mount, MountError> {
    let bad = |why: String| MountError::Mount {
        spec: spec.to_string(),
        why,
    };
    let mut kind = "volume".to_string();
    let (mut source, mut target) = (String::new(), String::new());
    let mut read_only = false;
    let mut propagation = "rprivate".to_string();
    let mut vol = VolumeMount::default();
    let mut tmpfs_opts: Vec<String> = vec!["noexec".into(), "nosuid".into(), "nodev".into()];
    for field in spec.split(',') {
        let (k, v) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), Some(v)),
            None => (field.to_ascii_lowercase(), None),
        };
        let need = |v: Option<&str>| -> Result<String, MountError> {
            v.map(str::to_string)
                .ok_or_else(|| bad(format!("invalid field '{field}' must be a key=value pair")))
        };
        match k.as_str() {
            "type" => kind = need(v)?,
            "source" | "src" => source = need(v)?,
            "target" | "destination" | "dst" => target = need(v)?,
            "readonly" | "ro" => read_only = truth(v).map_err(bad)?,
            "bind-propagation" => {
                let p = need(v)?;
                if ![
                    "private", "rprivate", "shared", "rshared", "slave", "rslave",
                ]
                .contains(&p.as_str())
                {
                    return Err(bad(format!("invalid bind propagation: {p}")));
                }
                propagation = p;
            }
            "consistency" | "bind-nonrecursive" => {}
            "volume-nocopy" => vol.nocopy = truth(v).map_err(bad)?,
            "volume-driver" => vol.driver = need(v)?,
            "volume-label" => {
                let (k, v) = key_value(&need(v)?);
                vol.labels.insert(k, v);
            }
            "volume-opt" => {
                let (k, v) = key_value(&need(v)?);
                vol.options.insert(k, v);
            }
            "tmpfs-size" => {
                let n = flags::parse_size(&need(v)?).map_err(|e| bad(e.to_string()))?;
                tmpfs_opts.push(format!("size={n}"));
            }
            "tmpfs-mode" => {
                let m = need(v)?;
                u32::from_str_radix(&m, 8).map_err(|_| bad(format!("invalid tmpfs-mode: {m}")))?;
                tmpfs_opts.push(format!("mode={m}"));
            }
            _ => return Err(bad(format!("unexpected key '{k}' in '{field}'"))),
        }
    }
    let config = |why: String| bad(format!("invalid mount config for type \"{kind}\": {why}"));
    if target.is_empty() {
        return Err(config("field Target must not be empty".into()));
    }
    check_destination(&target).map_err(config)?;
    match kind.as_str() {
        "bind" => {
            if source.is_empty() {
                return Err(config("field Source must not be empty".into()));
            }
            if !source.starts_with('/') {
                return Err(config(format!(
                    "invalid mount path: '{source}' mount path must be absolute"
                )));
            }
            if !std::path::Path::new(&source).exists() {
                return Err(config(format!("bind source path does not exist: {source}")));
            }
            Ok(Mount::Bind(Bind {
                source,
                destination: target,
                read_only,
                propagation,
            }))
        }
        "volume" => {
            if source.starts_with('/') {
                return Err(config(format!(
                    "invalid volume name '{source}': use type=bind for host paths"
                )));
            }
            vol.name = source;
            vol.destination = target;
            vol.read_only = read_only;
            Ok(Mount::Volume(vol))
        }
        "tmpfs" => {
            if !source.is_empty() {
                return Err(config("field Source must be empty for a tmpfs".into()));
            }
            if read_only {
                tmpfs_opts.push("ro".into());
            }
            Ok(Mount::Tmpfs(Tmpfs {
                destination: target,
                options: tmpfs_opts,
            }))
        }
        other => Err(bad(format!(
            "invalid mount type '{other}': want bind, volume or tmpfs"
        ))),
    }
}

/// Parses `--volumes-from`.
pub fn parse_volumes_from(s: &str) -> Result<VolumesFrom, MountError> {
    let (c, mode) = match s.split_once(':') {
        Some((c, m)) => (c, Some(m)),
        None => (s, None),
    };
    let read_only = match mode {
        None => None,
        Some("ro") => Some(true),
        Some("rw") => Some(false),
        Some(_) => return Err(MountError::VolumesFrom(s.to_string())),
    };
    if c.is_empty() {
        return Err(MountError::VolumesFrom(s.to_string()));
    }
    Ok(VolumesFrom {
        container: c.to_string(),
        read_only,
    })
}

impl MountPlan {
    /// Parses `-v`, `--mount`, `--tmpfs` and `--volumes-from`; a
    /// destination given twice is an error, as in docker.
    pub fn parse(
        volume: &[String],
        tmpfs: &[String],
        flags_: &MountFlags,
    ) -> Result<MountPlan, MountError> {
        let mut plan = MountPlan::default();
        for v in volume {
            match parse_v(v)? {
                Ok(b) => plan.binds.push(b),
                Err(vm) => plan.volumes.push(vm),
            }
        }
        for m in &flags_.mount {
            match parse_mount(m)? {
                Mount::Bind(b) => plan.binds.push(b),
                Mount::Volume(v) => plan.volumes.push(v),
                Mount::Tmpfs(t) => plan.tmpfs.push(t),
            }
        }
        for t in tmpfs {
            plan.tmpfs.push(flags::parse_tmpfs(t)?);
        }
        for f in &flags_.volumes_from {
            plan.volumes_from.push(parse_volumes_from(f)?);
        }
        let mut seen = std::collections::HashSet::new();
        let dests = plan
            .binds
            .iter()
            .map(|b| &b.destination)
            .chain(plan.volumes.iter().map(|v| &v.destination))
            .chain(plan.tmpfs.iter().map(|t| &t.destination));
        for d in dests {
            if !seen.insert(d.trim_end_matches('/')) {
                return Err(MountError::Duplicate(d.clone()));
            }
        }
        Ok(plan)
    }

    fn covers(&self, dst: &str) -> bool {
        let dst = dst.trim_end_matches('/');
        self.binds
            .iter()
            .any(|b| b.destination.trim_end_matches('/') == dst)
            || self
                .volumes
                .iter()
                .any(|v| v.destination.trim_end_matches('/') == dst)
            || self
                .tmpfs
                .iter()
                .any(|t| t.destination.trim_end_matches('/') == dst)
    }
}

/// The image's `VOLUME` paths (`config.Volumes` of its config JSON).
pub fn image_volumes(config_json: &str) -> Vec<String> {
    let Ok(v) = serde_json::from_str::<Value>(config_json) else {
        return Vec::new();
    };
    let cfg = v.get("config").filter(|c| c.is_object()).unwrap_or(&v);
    let mut out: Vec<String> = cfg
        .get("Volumes")
        .and_then(Value::as_object)
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    out.sort();
    out
}

/// Binds to copy from a `--volumes-from` container's spec: its bind mounts
/// (volumes and host paths) except the files berth itself provides.
pub fn binds_of_spec(spec_json: &str, read_only: Option<bool>) -> Vec<Bind> {
    const OWN: &[&str] = &["/etc/hosts", "/etc/hostname", "/etc/resolv.conf"];
    let Ok(spec) = serde_json::from_str::<Value>(spec_json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in spec
        .get("mounts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let s = |k: &str| m.get(k).and_then(Value::as_str).unwrap_or("").to_string();
        if s("type") != "bind" || OWN.contains(&s("destination").as_str()) {
            continue;
        }
        let opts: Vec<String> = m
            .get("options")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|o| o.as_str().map(str::to_string))
            .collect();
        let propagation = opts
            .iter()
            .find(|o| o.contains("private") || o.contains("shared") || o.contains("slave"))
            .cloned()
            .unwrap_or_else(|| "rprivate".into());
        out.push(Bind {
            source: s("source"),
            destination: s("destination"),
            read_only: read_only.unwrap_or_else(|| opts.iter().any(|o| o == "ro")),
            propagation,
        });
    }
    out
}

/// The mounts of a container about to be created, volumes made.
#[derive(Debug, Default)]
pub struct Resolved {
    pub binds: Vec<Bind>,
    /// volumes this call created, removed again by [`Resolved::rollback`]
    pub created: Vec<String>,
    /// destinations whose volume gets no copy-up
    pub nocopy: Vec<String>,
}

impl Resolved {
    /// Removes the volumes made for a container that was not created.
    pub async fn rollback(&self, m: &Manager) {
        for name in &self.created {
            let mut r = RemoveVolumeRequest::new();
            r.name = name.clone();
            r.force = true;
            let _ = m.volumes.remove_volume(m.ctx(), &r).await;
        }
    }
}

/// Creates the volumes of `plan` (plus anonymous ones for the image's
/// `VOLUME` paths nothing else covers) and returns every mount as binds:
/// `--volumes-from` first, then the flags' volumes, then the image's.
pub async fn resolve(
    m: &Manager,
    plan: &MountPlan,
    image_config_json: &str,
) -> Result<Resolved, CliError> {
    let mut out = Resolved::default();
    let mut from: Vec<Bind> = Vec::new();
    for vf in &plan.volumes_from {
        let c = crate::commands::container::resolve(m, &vf.container).await?;
        for b in binds_of_spec(&c.spec_json, vf.read_only) {
            if !plan.covers(&b.destination) && !from.iter().any(|x| x.destination == b.destination)
            {
                from.push(b);
            }
        }
    }
    let mut wanted = plan.volumes.clone();
    for path in image_volumes(image_config_json) {
        let covered = plan.covers(&path) || from.iter().any(|b| b.destination == path);
        if !covered {
            wanted.push(VolumeMount {
                destination: path,
                ..Default::default()
            });
        }
    }
    out.binds = from;
    for v in &wanted {
        let mut r = CreateVolumeRequest::new();
        r.name = v.name.clone();
        r.driver = v.driver.clone();
        r.options = v.options.clone().into_iter().collect::<HashMap<_, _>>();
        r.labels = v.labels.clone().into_iter().collect::<HashMap<_, _>>();
        let info = match m.volumes.create_volume(m.ctx(), &r).await {
            Ok(i) => i,
            Err(e) => {
                out.rollback(m).await;
                return Err(m.err(e));
            }
        };
        if info.created {
            out.created.push(info.name.clone());
        }
        if v.nocopy {
            out.nocopy.push(v.destination.clone());
        }
        out.binds.push(Bind {
            source: info.mountpoint,
            destination: v.destination.clone(),
            read_only: v.read_only,
            propagation: "rprivate".into(),
        });
    }
    Ok(out)
}

/// The spec annotation naming the destinations whose volumes the manager
/// must not fill from the image (a JSON array).
pub const NOCOPY_ANNOTATION: &str = "berth.volumes.nocopy";

/// Marks the `nocopy` volume mounts in the spec for the manager.
pub fn apply_nocopy(spec: &mut Value, resolved: &Resolved) {
    if !resolved.nocopy.is_empty() {
        spec["annotations"][NOCOPY_ANNOTATION] =
            Value::String(serde_json::json!(resolved.nocopy).to_string());
    }
}

/// `--read-only`: the root filesystem read-only (volumes and binds stay as
/// their own flags say).
/// The volume a bind source is, `<root>/volumes/<name>/_data` → `name`.
pub fn volume_of_source(source: &str) -> Option<&str> {
    let rest = source.strip_suffix("/_data")?;
    let (parent, name) = rest.rsplit_once('/')?;
    (parent.ends_with("/volumes") && !name.is_empty()).then_some(name)
}

/// `inspect`'s `Mounts`: binds of volume data dirs read as docker's volume
/// mounts (`Type` volume, `Name`, `Driver`).
pub fn describe_volume_mounts(container: &mut Value) {
    let Some(mounts) = container.get_mut("Mounts").and_then(Value::as_array_mut) else {
        return;
    };
    for m in mounts {
        let name = m["Source"]
            .as_str()
            .and_then(volume_of_source)
            .map(str::to_string);
        if let Some(name) = name {
            m["Type"] = Value::String("volume".into());
            m["Name"] = Value::String(name);
            m["Driver"] = Value::String("local".into());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v_forms() {
        assert_eq!(
            parse_v("/anon").unwrap(),
            Err(VolumeMount {
                destination: "/anon".into(),
                ..Default::default()
            })
        );
        let Err(v) = parse_v("data:/d:nocopy").unwrap() else {
            panic!("a named volume")
        };
        assert!(v.nocopy && !v.read_only);
        let Err(v) = parse_v("data:/d:ro").unwrap() else {
            panic!("a named volume")
        };
        assert_eq!(
            (v.name.as_str(), v.destination.as_str(), v.read_only),
            ("data", "/d", true)
        );
        let dir = std::env::temp_dir();
        let Ok(b) = parse_v(&format!("{}:/h", dir.display())).unwrap() else {
            panic!("a bind")
        };
        assert_eq!(b.destination, "/h");
        for bad in [
            "rel",
            "v:rel",
            "v:/",
            "v:/x:bogus",
            "a:b:c:d",
            ":/x",
            "v:/x:ro,rw",
        ] {
            let e = parse_v(bad).unwrap_err().to_string();
            assert!(e.contains(bad), "{e} should name {bad}");
        }
    }

    #[test]
    fn mount_keys() {
        assert_eq!(
            parse_mount("type=volume,source=v,target=/x,readonly").unwrap(),
            Mount::Volume(VolumeMount {
                name: "v".into(),
                destination: "/x".into(),
                read_only: true,
                ..Default::default()
            })
        );
        let Mount::Volume(v) =
            parse_mount("target=/x,volume-opt=type=tmpfs,volume-label=a=b").unwrap()
        else {
            panic!("volume by default")
        };
        assert!(v.name.is_empty());
        assert_eq!(v.options["type"], "tmpfs");
        assert_eq!(v.labels["a"], "b");
        let Mount::Tmpfs(t) =
            parse_mount("type=tmpfs,dst=/t,tmpfs-size=1m,tmpfs-mode=1770").unwrap()
        else {
            panic!("tmpfs")
        };
        assert!(t.options.contains(&"size=1048576".to_string()));
        assert!(t.options.contains(&"mode=1770".to_string()));
        let dir = std::env::temp_dir();
        let Mount::Bind(b) =
            parse_mount(&format!("type=bind,src={},dst=/h,ro=false", dir.display())).unwrap()
        else {
            panic!("bind")
        };
        assert!(!b.read_only);
        for bad in [
            "type=volume,target=/x,bogus=1",
            "type=volume,source=v",
            "type=bind,source=/no/such/path,target=/x",
            "type=bind,target=/x",
            "type=tmpfs,source=x,target=/x",
            "type=nfs,target=/x",
            "type=volume,target=rel",
            "type=volume,target=/x,readonly=maybe",
            "type",
        ] {
            let e = parse_mount(bad).unwrap_err().to_string();
            assert!(e.contains(bad) && !e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn plan_refuses_duplicates_and_reads_volumes_from() {
        let f = MountFlags {
            mount: vec!["type=tmpfs,target=/x".into()],
            ..Default::default()
        };
        let e = MountPlan::parse(&["v:/x".into()], &[], &f).unwrap_err();
        assert_eq!(e, MountError::Duplicate("/x".into()));
        let f = MountFlags {
            volumes_from: vec!["c1:ro".into(), "c2".into()],
            ..Default::default()
        };
        let p = MountPlan::parse(&["/a".into(), "n:/b".into()], &["/t".into()], &f).unwrap();
        assert_eq!(p.volumes.len(), 2);
        assert_eq!(p.tmpfs.len(), 1);
        assert_eq!(p.volumes_from[0].read_only, Some(true));
        assert_eq!(p.volumes_from[1].read_only, None);
        assert!(parse_volumes_from("c:rx").is_err());
        assert!(parse_volumes_from(":ro").is_err());
    }

    #[test]
    fn inspect_names_volume_mounts() {
        let mut c = serde_json::json!({"Mounts": [
            {"Type": "bind", "Source": "/r/volumes/data/_data", "Destination": "/d"},
            {"Type": "bind", "Source": "/srv/_data", "Destination": "/s"},
        ]});
        describe_volume_mounts(&mut c);
        assert_eq!(c["Mounts"][0]["Type"], "volume");
        assert_eq!(c["Mounts"][0]["Name"], "data");
        assert_eq!(c["Mounts"][1]["Type"], "bind");
    }

    #[test]
    fn image_volumes_and_spec_binds() {
        assert_eq!(
            image_volumes(r#"{"config":{"Volumes":{"/var/lib/db":{},"/data":{}}}}"#),
            ["/data", "/var/lib/db"]
        );
        assert!(image_volumes(r#"{"config":{"Volumes":null}}"#).is_empty());
        assert!(image_volumes("").is_empty());
        let spec = serde_json::json!({"mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/d", "type": "bind", "source": "/v/d/_data", "options": ["rbind", "rprivate", "rw"]},
            {"destination": "/etc/hosts", "type": "bind", "source": "/s/hosts", "options": ["rbind", "ro"]},
        ]})
        .to_string();
        let b = binds_of_spec(&spec, None);
        assert_eq!(b.len(), 1);
        assert_eq!(
            (b[0].source.as_str(), b[0].read_only),
            ("/v/d/_data", false)
        );
        assert!(binds_of_spec(&spec, Some(true))[0].read_only);
    }
}
