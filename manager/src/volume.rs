//! Volumes of docker's `local` driver: a record per volume in the manager's
//! store (table `volumes`) and its data under `<root>/volumes/<name>/_data`.
//!
//! Crash-only: a volume's directory is made (and synced) before its record
//! is committed, and a directory without a record is adopted at start, so a
//! crash during create leaves a usable volume or none. Removal renames the
//! directory into `<root>/volumes/.trash/` first, then drops the record; a
//! record whose directory is gone is a removal cut short, finished at start.
//! A volume's data is never touched by anything but its containers and
//! `rm`/`prune`.
//!
//! Which containers use a volume is read from their stored specs (a bind
//! mount whose source is the volume's `_data`), so the container records stay
//! the one source of truth and nothing can drift.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::{DirBuilderExt, MetadataExt};
use std::path::{Path, PathBuf};

use berth_proto::volumes::VolumeInfo;
use redb::{Database, ReadableTable, TableDefinition};
use serde::{Deserialize, Serialize};

use crate::error::{ManagerError, Result};
use crate::manager::{random_hex, Manager};
use crate::record::{now_nanos, timestamp};

/// name → JSON [`VolumeRecord`].
const VOLUMES: TableDefinition<&str, &[u8]> = TableDefinition::new("volumes");

/// The only driver berth has.
pub const LOCAL: &str = "local";
/// Option keys of the local driver, as `mount(8)` takes them.
const OPTION_KEYS: &[&str] = &["type", "device", "o"];
/// Where removals park a volume's directory until it is deleted.
const TRASH: &str = ".trash";

/// One volume as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub name: String,
    pub driver: String,
    pub labels: BTreeMap<String, String>,
    pub options: BTreeMap<String, String>,
    /// Unix nanoseconds.
    pub created: u64,
    /// Made for one container (`-v /path`, an image's VOLUME).
    pub anonymous: bool,
}

/// Serializes volume creation and removal: a name is made or dropped whole.
static VOLUME_OPS: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn db<E: Into<redb::Error>>(e: E) -> ManagerError {
    ManagerError::Internal(format!("metadata store: {}", e.into()))
}

fn io(what: &str, path: &Path, e: std::io::Error) -> ManagerError {
    ManagerError::Internal(format!("{what} {}: {e}", path.display()))
}

/// docker's rule for local volume names.
pub fn validate_name(name: &str) -> Result<()> {
    let mut chars = name.chars();
    let ok = chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && name.len() <= 255
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'));
    if ok {
        return Ok(());
    }
    Err(ManagerError::InvalidArgument(format!(
        "create {name}: \"{name}\" includes invalid characters for a local volume name, only \"[a-zA-Z0-9][a-zA-Z0-9_.-]\" are allowed. If you intended to pass a host directory, use absolute path"
    )))
}

/// Checks the local driver's options: only type, device and o; type and
/// device go together.
pub fn validate_options(name: &str, opts: &BTreeMap<String, String>) -> Result<()> {
    for k in opts.keys() {
        if !OPTION_KEYS.contains(&k.as_str()) {
            return Err(ManagerError::InvalidArgument(format!(
                "create {name}: invalid option key: {k:?}: want type, device or o"
            )));
        }
    }
    if opts.is_empty() {
        return Ok(());
    }
    for k in ["type", "device"] {
        if opts.get(k).is_none_or(|v| v.is_empty()) {
            return Err(ManagerError::InvalidArgument(format!(
                "create {name}: missing required option: \"{k}\""
            )));
        }
    }
    let bind = opts
        .get("o")
        .is_some_and(|o| o.split(',').any(|x| x == "bind"));
    if bind && !Path::new(&opts["device"]).is_dir() {
        return Err(ManagerError::InvalidArgument(format!(
            "create {name}: bind device {} is not an existing directory",
            opts["device"]
        )));
    }
    Ok(())
}

fn encode(rec: &VolumeRecord) -> Vec<u8> {
    serde_json::to_vec(rec).expect("a volume record always serializes")
}

fn decode(name: &str, bytes: &[u8]) -> Result<VolumeRecord> {
    serde_json::from_slice(bytes).map_err(|e| {
        ManagerError::Internal(format!("metadata store: volume {name} is corrupt: {e}"))
    })
}

/// Volume records in the manager's database.
pub struct VolumeTable(pub std::sync::Arc<Database>);

impl VolumeTable {
    pub fn get(&self, name: &str) -> Result<Option<VolumeRecord>> {
        let txn = self.0.begin_read().map_err(db)?;
        let table = match txn.open_table(VOLUMES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(None),
            Err(e) => return Err(db(e)),
        };
        let v = table.get(name).map_err(db)?;
        v.map(|v| decode(name, v.value())).transpose()
    }

    pub fn list(&self) -> Result<Vec<VolumeRecord>> {
        let txn = self.0.begin_read().map_err(db)?;
        let table = match txn.open_table(VOLUMES) {
            Ok(t) => t,
            Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
            Err(e) => return Err(db(e)),
        };
        let mut out = Vec::new();
        for entry in table.iter().map_err(db)? {
            let (k, v) = entry.map_err(db)?;
            out.push(decode(k.value(), v.value())?);
        }
        Ok(out)
    }

    /// Stores a record unless one of that name exists; true if stored.
    pub fn insert_new(&self, rec: &VolumeRecord) -> Result<bool> {
        let txn = self.0.begin_write().map_err(db)?;
        {
            let mut table = txn.open_table(VOLUMES).map_err(db)?;
            if table.get(rec.name.as_str()).map_err(db)?.is_some() {
                return Ok(false);
            }
            table
                .insert(rec.name.as_str(), encode(rec).as_slice())
                .map_err(db)?;
        }
        txn.commit().map_err(db)?;
        Ok(true)
    }

    pub fn remove(&self, name: &str) -> Result<()> {
        let txn = self.0.begin_write().map_err(db)?;
        {
            let mut table = txn.open_table(VOLUMES).map_err(db)?;
            table.remove(name).map_err(db)?;
        }
        txn.commit().map_err(db)
    }
}

/// Bytes used by the files under `dir` (each inode once), not following
/// symlinks.
pub fn disk_usage(dir: &Path) -> u64 {
    fn walk(dir: &Path, seen: &mut std::collections::HashSet<(u64, u64)>, dev: u64) -> u64 {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return 0;
        };
        let mut total = 0;
        for e in entries.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.dev() != dev || !seen.insert((md.dev(), md.ino())) {
                continue;
            }
            if md.is_dir() {
                total += walk(&e.path(), seen, dev);
            } else if md.is_file() {
                total += md.len();
            }
        }
        total
    }
    match dir.symlink_metadata() {
        Ok(md) => walk(dir, &mut Default::default(), md.dev()),
        Err(_) => 0,
    }
}

fn sync_dir(path: &Path) {
    if let Ok(d) = std::fs::File::open(path) {
        let _ = d.sync_all();
    }
}

/// True if something is mounted on `path` (its device differs from its
/// parent's).
fn is_mountpoint(path: &Path) -> bool {
    let (Ok(md), Some(Ok(pmd))) = (path.metadata(), path.parent().map(|p| p.metadata())) else {
        return false;
    };
    md.dev() != pmd.dev()
}

/// The container ids whose spec mounts each volume, from their specs' bind
/// sources under `volumes_root`.
pub fn users_by_volume(
    volumes_root: &Path,
    specs: impl Iterator<Item = (String, String)>,
) -> HashMap<String, Vec<String>> {
    let mut out: HashMap<String, Vec<String>> = HashMap::new();
    for (id, spec_json) in specs {
        for name in volumes_in_spec(volumes_root, &spec_json) {
            let ids = out.entry(name).or_default();
            if !ids.contains(&id) {
                ids.push(id.clone());
            }
        }
    }
    out
}

/// The volume names a spec mounts, with their destinations.
pub fn volume_mounts_in_spec(volumes_root: &Path, spec_json: &str) -> Vec<(String, String)> {
    let Ok(spec) = serde_json::from_str::<serde_json::Value>(spec_json) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for m in spec
        .get("mounts")
        .and_then(|m| m.as_array())
        .into_iter()
        .flatten()
    {
        let (Some(src), Some(dst)) = (
            m.get("source").and_then(|s| s.as_str()),
            m.get("destination").and_then(|s| s.as_str()),
        ) else {
            continue;
        };
        if let Some(name) = volume_of_source(volumes_root, Path::new(src)) {
            out.push((name, dst.to_string()));
        }
    }
    out
}

fn volumes_in_spec(volumes_root: &Path, spec_json: &str) -> Vec<String> {
    volume_mounts_in_spec(volumes_root, spec_json)
        .into_iter()
        .map(|(n, _)| n)
        .collect()
}

/// `<root>/volumes/<name>/_data` → `name`.
pub fn volume_of_source(volumes_root: &Path, src: &Path) -> Option<String> {
    let rest = src.strip_prefix(volumes_root).ok()?;
    let mut parts = rest.components();
    let name = parts.next()?.as_os_str().to_str()?.to_string();
    let data = parts.next()?;
    (data.as_os_str() == "_data" && parts.next().is_none() && validate_name(&name).is_ok())
        .then_some(name)
}

impl Manager {
    pub fn volumes_root(&self) -> PathBuf {
        self.cfg.root.join("volumes")
    }

    fn volume_dir(&self, name: &str) -> PathBuf {
        self.volumes_root().join(name)
    }

    /// A volume's data directory.
    pub fn volume_data(&self, name: &str) -> PathBuf {
        self.volume_dir(name).join("_data")
    }

    fn volume_table(&self) -> std::result::Result<VolumeTable, crate::store::StoreError> {
        Ok(VolumeTable(self.store.db()?))
    }

    fn volume_users(&self) -> Result<HashMap<String, Vec<String>>> {
        let recs = self.store.list()?;
        // a dead container never runs again: its volumes are free (its
        // removal may wait for the space a volume's removal gives back)
        Ok(users_by_volume(
            &self.volumes_root(),
            recs.into_iter()
                .filter(|r| r.status != crate::record::Status::Dead)
                .map(|r| (r.id, r.spec_json)),
        ))
    }

    fn volume_info(&self, rec: &VolumeRecord, used_by: &[String]) -> VolumeInfo {
        VolumeInfo {
            name: rec.name.clone(),
            driver: rec.driver.clone(),
            mountpoint: self.volume_data(&rec.name).display().to_string(),
            created_at: timestamp(rec.created),
            labels: rec.labels.clone().into_iter().collect(),
            options: rec.options.clone().into_iter().collect(),
            anonymous: rec.anonymous,
            used_by: used_by.to_vec(),
            ..Default::default()
        }
    }

    fn no_such_volume(name: &str) -> ManagerError {
        ManagerError::NotFound(format!("get {name}: no such volume"))
    }

    /// `volume create`, and the implicit create of `-v NAME:/path`: an
    /// existing volume of that name is returned as it is (mounted again if
    /// its device mount is gone, e.g. after a reboot).
    pub async fn create_volume(
        &self,
        name: &str,
        driver: &str,
        options: BTreeMap<String, String>,
        labels: BTreeMap<String, String>,
    ) -> Result<VolumeInfo> {
        let anonymous = name.is_empty();
        let name = if anonymous {
            random_hex(64)
        } else {
            name.to_string()
        };
        validate_name(&name)?;
        if !driver.is_empty() && driver != LOCAL {
            return Err(ManagerError::NotFound(format!(
                "create {name}: error looking up volume plugin {driver}: plugin \"{driver}\" not found"
            )));
        }
        validate_options(&name, &options)?;
        let _g = VOLUME_OPS.lock().await;
        let table = self.volume_table()?;
        if let Some(rec) = table.get(&name)? {
            self.mount_volume(&rec)?;
            let users = self.volume_users()?;
            return Ok(self.volume_info(&rec, users.get(&name).map_or(&[], |v| v)));
        }
        // directory first: a crash before the record leaves a directory
        // that start adopts, never a record without its data
        let dir = self.volume_dir(&name);
        let data = dir.join("_data");
        let mut b = std::fs::DirBuilder::new();
        b.recursive(true).mode(0o701);
        b.create(self.volumes_root())
            .map_err(|e| io("create", &self.volumes_root(), e))?;
        b.mode(0o755);
        b.create(&data).map_err(|e| io("create", &data, e))?;
        sync_dir(&dir);
        sync_dir(&self.volumes_root());
        let rec = VolumeRecord {
            name: name.clone(),
            driver: LOCAL.into(),
            labels,
            options,
            created: now_nanos(),
            anonymous,
        };
        if let Err(e) = self.mount_volume(&rec) {
            let _ = std::fs::remove_dir_all(&dir);
            return Err(e);
        }
        table.insert_new(&rec)?;
        self.events
            .publish("volume", "create", &name, &[("driver", LOCAL.to_string())]);
        let mut info = self.volume_info(&rec, &[]);
        info.created = true;
        Ok(info)
    }

    /// Mounts a volume's device (`-o type=…,device=…`) on its `_data` unless
    /// it is mounted already; plain volumes need nothing.
    fn mount_volume(&self, rec: &VolumeRecord) -> Result<()> {
        let (Some(kind), Some(device)) = (rec.options.get("type"), rec.options.get("device"))
        else {
            return Ok(());
        };
        let data = self.volume_data(&rec.name);
        if is_mountpoint(&data) {
            return Ok(());
        }
        let mut flags = nix::mount::MsFlags::empty();
        let mut data_opts = Vec::new();
        for o in rec.options.get("o").into_iter().flat_map(|o| o.split(',')) {
            match o {
                "bind" => flags |= nix::mount::MsFlags::MS_BIND,
                "rbind" => flags |= nix::mount::MsFlags::MS_BIND | nix::mount::MsFlags::MS_REC,
                "ro" => flags |= nix::mount::MsFlags::MS_RDONLY,
                "nosuid" => flags |= nix::mount::MsFlags::MS_NOSUID,
                "nodev" => flags |= nix::mount::MsFlags::MS_NODEV,
                "noexec" => flags |= nix::mount::MsFlags::MS_NOEXEC,
                "" | "rw" => {}
                other => data_opts.push(other),
            }
        }
        let data_opts = data_opts.join(",");
        let fstype = (kind != "none").then_some(kind.as_str());
        nix::mount::mount(
            Some(device.as_str()),
            &data,
            fstype,
            flags,
            (!data_opts.is_empty()).then_some(data_opts.as_str()),
        )
        .map_err(|e| {
            ManagerError::InvalidArgument(format!(
                "error while mounting volume '{}': mount {device} ({kind}, {}) on {}: {e}",
                rec.name,
                rec.options.get("o").map_or("", |s| s.as_str()),
                data.display()
            ))
        })
    }

    pub fn get_volume(&self, name: &str) -> Result<VolumeInfo> {
        let rec = self
            .volume_table()?
            .get(name)?
            .ok_or_else(|| Self::no_such_volume(name))?;
        let users = self.volume_users()?;
        Ok(self.volume_info(&rec, users.get(name).map_or(&[], |v| v)))
    }

    pub async fn list_volumes(&self, sizes: bool) -> Result<Vec<VolumeInfo>> {
        let users = self.volume_users()?;
        let mut out = Vec::new();
        for rec in self.volume_table()?.list()? {
            let mut info = self.volume_info(&rec, users.get(&rec.name).map_or(&[], |v| v));
            if sizes {
                let data = self.volume_data(&rec.name);
                info.size = tokio::task::spawn_blocking(move || disk_usage(&data))
                    .await
                    .unwrap_or(0);
            }
            out.push(info);
        }
        Ok(out)
    }

    /// `volume rm`: refused while any container mounts it; returns the
    /// bytes freed.
    pub async fn remove_volume(&self, name: &str, force: bool) -> Result<u64> {
        let _g = VOLUME_OPS.lock().await;
        self.remove_volume_locked(name, force).await
    }

    async fn remove_volume_locked(&self, name: &str, force: bool) -> Result<u64> {
        let table = self.volume_table()?;
        let Some(rec) = table.get(name)? else {
            if force {
                return Ok(0);
            }
            return Err(Self::no_such_volume(name));
        };
        if let Some(ids) = self.volume_users()?.get(name) {
            return Err(ManagerError::FailedPrecondition(format!(
                "remove {name}: volume is in use - [{}]",
                ids.join(", ")
            )));
        }
        let data = self.volume_data(name);
        if rec.options.contains_key("device") {
            crate::bundle::unmount_all(&data);
        }
        let size = {
            let d = data.clone();
            tokio::task::spawn_blocking(move || disk_usage(&d))
                .await
                .unwrap_or(0)
        };
        // park the directory first: a crash after this finishes the removal
        // at start; before it, nothing happened
        let trash = self.volumes_root().join(TRASH);
        std::fs::create_dir_all(&trash).map_err(|e| io("create", &trash, e))?;
        let parked = trash.join(format!("{name}-{}", random_hex(8)));
        let dir = self.volume_dir(name);
        match std::fs::rename(&dir, &parked) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io("move aside", &dir, e)),
        }
        sync_dir(&self.volumes_root());
        table.remove(name)?;
        tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&parked))
            .await
            .ok();
        self.events
            .publish("volume", "destroy", name, &[("driver", rec.driver.clone())]);
        Ok(size)
    }

    /// `volume prune`: every volume no container mounts that `filter`
    /// admits.
    pub async fn prune_volumes(
        &self,
        filter: &crate::prune_filter::PruneSelector,
    ) -> Result<(Vec<String>, u64)> {
        let _g = VOLUME_OPS.lock().await;
        let users = self.volume_users()?;
        let (mut deleted, mut reclaimed) = (Vec::new(), 0);
        for rec in self.volume_table()?.list()? {
            if users.contains_key(&rec.name) || !filter.admits(&rec.labels, rec.created as i128) {
                continue;
            }
            match self.remove_volume_locked(&rec.name, true).await {
                Ok(n) => {
                    reclaimed += n;
                    deleted.push(rec.name);
                }
                Err(e) => crate::log_line!("berth-manager: prune volume {}: {e}", rec.name),
            }
        }
        Ok((deleted, reclaimed))
    }

    /// Checks that every volume a just-stored container mounts still exists.
    /// Under the volume lock: a removal either finished before (the
    /// container is refused) or comes after and sees the container as a user.
    pub async fn check_volumes_exist(&self, spec_json: &str) -> Result<()> {
        let _g = VOLUME_OPS.lock().await;
        for name in volumes_in_spec(&self.volumes_root(), spec_json) {
            if self.volume_table()?.get(&name)?.is_none() {
                return Err(Self::no_such_volume(&name));
            }
        }
        Ok(())
    }

    /// Removes the anonymous volumes a (removed) container's spec mounted
    /// that no other container uses: `rm -v` and `--rm`.
    pub async fn remove_anonymous_volumes(&self, spec_json: &str) {
        for name in volumes_in_spec(&self.volumes_root(), spec_json) {
            let anonymous =
                matches!(self.volume_table().map(|t| t.get(&name)), Ok(Ok(Some(r))) if r.anonymous);
            if anonymous {
                if let Err(e) = self.remove_volume(&name, true).await {
                    crate::log_line!("berth-manager: remove anonymous volume {name}: {e}");
                }
            }
        }
    }

    /// At start: finishes removals a crash cut short (records whose
    /// directory is gone, parked directories) and adopts directories whose
    /// record a crash kept from being written.
    pub fn recover_volumes(&self) {
        let root = self.volumes_root();
        let _ = std::fs::remove_dir_all(root.join(TRASH));
        // image views a copy-up left mounted
        if let Ok(views) = std::fs::read_dir(self.cfg.state.join("copyup")) {
            for v in views.flatten() {
                crate::bundle::unmount_all(&v.path());
                let _ = std::fs::remove_dir(v.path());
            }
        }
        let table = match self.volume_table() {
            Ok(t) => t,
            Err(e) => {
                crate::log_line!("berth-manager: list volumes: {e}");
                return;
            }
        };
        let recs = match table.list() {
            Ok(r) => r,
            Err(e) => {
                crate::log_line!("berth-manager: list volumes: {e}");
                return;
            }
        };
        for rec in &recs {
            if !self.volume_dir(&rec.name).exists() {
                crate::log_line!(
                    "berth-manager: volume {} has no directory: finishing its removal",
                    rec.name
                );
                let _ = table.remove(&rec.name);
            }
        }
        let Ok(entries) = std::fs::read_dir(&root) else {
            return;
        };
        for e in entries.flatten() {
            let Some(name) = e.file_name().to_str().map(str::to_string) else {
                continue;
            };
            // a copy-up cut short: the volume itself is still empty
            let _ = std::fs::remove_dir_all(e.path().join("_copyup"));
            if validate_name(&name).is_err() || recs.iter().any(|r| r.name == name) {
                continue;
            }
            let data = e.path().join("_data");
            if !data.is_dir() {
                continue;
            }
            let created = e
                .metadata()
                .map(|m| m.mtime().max(0) as u64 * 1_000_000_000)
                .unwrap_or_else(|_| now_nanos());
            let anonymous = name.len() == 64 && name.chars().all(|c| c.is_ascii_hexdigit());
            let rec = VolumeRecord {
                name: name.clone(),
                driver: LOCAL.into(),
                labels: BTreeMap::new(),
                options: BTreeMap::new(),
                created,
                anonymous,
            };
            match table.insert_new(&rec) {
                Ok(_) => crate::log_line!("berth-manager: adopted volume directory {name}"),
                Err(e) => crate::log_line!("berth-manager: adopt volume {name}: {e}"),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_docker() {
        for ok in ["ab", "vol-1", "a.b_c", "0x"] {
            assert!(validate_name(ok).is_ok(), "{ok}");
        }
        for bad in ["", "a", "-x", "a/b", "a b", "/abs", ".x"] {
            let e = validate_name(bad).unwrap_err().to_string();
            assert!(e.contains("invalid characters"), "{bad}: {e}");
        }
    }

    #[test]
    fn options_are_the_local_drivers() {
        let o = |kv: &[(&str, &str)]| -> BTreeMap<String, String> {
            kv.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert!(validate_options("v", &o(&[])).is_ok());
        assert!(validate_options(
            "v",
            &o(&[("type", "tmpfs"), ("device", "tmpfs"), ("o", "size=1m")])
        )
        .is_ok());
        assert!(validate_options("v", &o(&[("bogus", "1")])).is_err());
        assert!(validate_options("v", &o(&[("type", "tmpfs")])).is_err());
        let e = validate_options(
            "v",
            &o(&[("type", "none"), ("device", "/no/such/dir"), ("o", "bind")]),
        )
        .unwrap_err();
        assert!(e.to_string().contains("/no/such/dir"), "{e}");
    }

    #[test]
    fn users_come_from_specs() {
        let root = Path::new("/r/volumes");
        let spec = |src: &str| {
            serde_json::json!({"mounts": [
                {"destination": "/proc", "source": "proc", "type": "proc"},
                {"destination": "/data", "source": src, "type": "bind"},
            ]})
            .to_string()
        };
        let users = users_by_volume(
            root,
            [
                ("c1".to_string(), spec("/r/volumes/v1/_data")),
                ("c2".to_string(), spec("/r/volumes/v1/_data")),
                ("c3".to_string(), spec("/r/volumes/v2/_data/sub")),
                ("c4".to_string(), spec("/elsewhere/v3/_data")),
            ]
            .into_iter(),
        );
        assert_eq!(users.len(), 1);
        assert_eq!(users["v1"], ["c1", "c2"]);
    }

    #[test]
    fn records_round_trip_and_insert_is_new_only() {
        let dir = tempfile::tempdir().unwrap();
        let dbf = Database::create(dir.path().join("m.redb")).unwrap();
        let t = VolumeTable(std::sync::Arc::new(dbf));
        assert!(t.list().unwrap().is_empty());
        assert!(t.get("v1").unwrap().is_none());
        let rec = VolumeRecord {
            name: "v1".into(),
            driver: LOCAL.into(),
            labels: [("a".to_string(), "b".to_string())].into(),
            options: BTreeMap::new(),
            created: 5,
            anonymous: false,
        };
        assert!(t.insert_new(&rec).unwrap());
        let mut other = rec.clone();
        other.created = 9;
        assert!(!t.insert_new(&other).unwrap());
        assert_eq!(t.get("v1").unwrap().unwrap(), rec);
        t.remove("v1").unwrap();
        assert!(t.list().unwrap().is_empty());
    }

    fn manager(dir: &Path) -> Manager {
        let cfg = crate::config::Config {
            root: dir.join("root"),
            state: dir.join("state"),
            runtime: "berth-runtime".into(),
            shim: "containerd-shim-berth-v2".into(),
            manager_bin: "berth-manager".into(),
            debug: false,
        };
        std::fs::create_dir_all(&cfg.root).unwrap();
        let store = crate::store::Store::open(&cfg.db_path()).unwrap();
        let images = berth_image_store::ImageStore::open(&cfg.images_root()).unwrap();
        Manager::new(cfg, store, images)
    }

    #[tokio::test]
    async fn a_crash_at_any_step_leaves_a_volume_whole_or_gone() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path());
        let none = BTreeMap::new;
        let kept = m.create_volume("kept", "", none(), none()).await.unwrap();
        assert!(kept.created);
        std::fs::write(m.volume_data("kept").join("f"), "data").unwrap();
        let again = m
            .create_volume("kept", "local", none(), none())
            .await
            .unwrap();
        assert!(!again.created, "create of an existing volume returns it");
        m.create_volume("halfgone", "", none(), none())
            .await
            .unwrap();
        // crash states: a directory without record (create cut short), a
        // record without directory (removal cut short), a parked directory,
        // a copy-up side directory
        std::fs::create_dir_all(m.volume_data("orphan")).unwrap();
        std::fs::create_dir_all(m.volumes_root().join(TRASH)).unwrap();
        std::fs::rename(
            m.volume_dir("halfgone"),
            m.volumes_root().join(TRASH).join("halfgone-1"),
        )
        .unwrap();
        std::fs::create_dir_all(m.volume_dir("kept").join("_copyup/x")).unwrap();
        drop(m);

        let m = manager(dir.path());
        m.recover_volumes();
        let names: Vec<String> = m
            .list_volumes(false)
            .await
            .unwrap()
            .into_iter()
            .map(|v| v.name)
            .collect();
        assert_eq!(names, ["kept", "orphan"]);
        assert_eq!(
            std::fs::read(m.volume_data("kept").join("f")).unwrap(),
            b"data"
        );
        assert!(!m.volumes_root().join(TRASH).exists());
        assert!(!m.volume_dir("kept").join("_copyup").exists());

        assert_eq!(m.remove_volume("kept", false).await.unwrap(), 4);
        assert!(!m.volume_dir("kept").exists());
        assert!(m.remove_volume("kept", false).await.is_err());
        assert_eq!(m.remove_volume("kept", true).await.unwrap(), 0);
        let (pruned, _) = m.prune_volumes(&Default::default()).await.unwrap();
        assert_eq!(pruned, ["orphan"]);
    }

    #[tokio::test]
    async fn a_container_is_refused_a_volume_removed_under_it() {
        let dir = tempfile::tempdir().unwrap();
        let m = manager(dir.path());
        let v = m
            .create_volume("here", "", BTreeMap::new(), BTreeMap::new())
            .await
            .unwrap();
        let spec = |src: &str| {
            serde_json::json!({"mounts": [{"destination": "/d", "type": "bind", "source": src}]})
                .to_string()
        };
        m.check_volumes_exist(&spec(&v.mountpoint)).await.unwrap();
        let gone = m.volume_data("gone").display().to_string();
        let e = m.check_volumes_exist(&spec(&gone)).await.unwrap_err();
        assert_eq!(e.to_string(), "get gone: no such volume");
    }

    #[test]
    fn usage_counts_files_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), [0u8; 100]).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b"), [0u8; 20]).unwrap();
        std::fs::hard_link(dir.path().join("a"), dir.path().join("d/a2")).unwrap();
        assert_eq!(disk_usage(dir.path()), 120);
    }
}
