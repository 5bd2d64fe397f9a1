//! Container metadata in redb: one write transaction per state change, so
//! a crash at any instant leaves the old records or the new ones.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

use redb::{Database, ReadableTable, TableDefinition};

use crate::record::ContainerRecord;

/// id → JSON record.
const CONTAINERS: TableDefinition<&str, &[u8]> = TableDefinition::new("containers");
/// redb's page cache for the store. Its default (1 GiB) lets the cache grow
/// with every record ever read, a resident cost per container; the records
/// are small and the OS page cache holds the file anyway. Smaller than the
/// allocator state redb writes when it opens the file (half a MiB, never
/// read again), so that state is not kept either.
const CACHE_BYTES: usize = 256 << 10;
/// name → id.
const NAMES: TableDefinition<&str, &str> = TableDefinition::new("names");

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("metadata store {path}: {source}")]
    Open {
        path: String,
        source: Box<redb::Error>,
    },
    #[error("metadata store: {0}")]
    Db(Box<redb::Error>),
    #[error("metadata store: record {id} is corrupt: {source}")]
    Corrupt {
        id: String,
        source: serde_json::Error,
    },
    #[error("conflict: the container name \"/{0}\" is already in use")]
    NameInUse(String),
    #[error("container id {0} already exists")]
    IdInUse(String),
    #[error("no such container: {0}")]
    NotFound(String),
    #[error("multiple containers match prefix {0}")]
    Ambiguous(String),
}

pub type Result<T> = std::result::Result<T, StoreError>;

fn db<E: Into<redb::Error>>(e: E) -> StoreError {
    StoreError::Db(Box::new(e.into()))
}

/// The manager's metadata database.
pub struct Store {
    /// `None` once an I/O error (a full disk) poisoned the handle: redb
    /// refuses every later transaction on it, reads included, so the next
    /// use opens the file again and work goes on once space is freed,
    /// without a manager restart.
    db: RwLock<Option<Arc<Database>>>,
    path: PathBuf,
    /// Bumped after every committed change of a container record: readers
    /// that derive something from all records (the health watcher, the
    /// container list) redo it only when this moved.
    generation: AtomicU64,
    /// The ids of the last changes with their generations, so a reader can
    /// redo its work for those records alone.
    changes: Mutex<VecDeque<(u64, String)>>,
    /// Tells this store from any other opened by the process.
    instance: u64,
}

static INSTANCES: AtomicU64 = AtomicU64::new(0);

/// Changes remembered; a reader further behind reads everything again.
const CHANGES_KEPT: usize = 1024;

impl Store {
    /// Opens (creating if needed) the database at `path`; redb's file lock
    /// makes a second manager on the same root fail here.
    pub fn open(path: &Path) -> Result<Store> {
        let open_err = |e: redb::Error| StoreError::Open {
            path: path.display().to_string(),
            source: Box::new(e),
        };
        let db = open_db(path).map_err(|e| open_err(*e))?;
        let txn = db.begin_write().map_err(|e| open_err(e.into()))?;
        txn.open_table(CONTAINERS).map_err(|e| open_err(e.into()))?;
        txn.open_table(NAMES).map_err(|e| open_err(e.into()))?;
        txn.commit().map_err(|e| open_err(e.into()))?;
        Ok(Store {
            db: RwLock::new(Some(Arc::new(db))),
            path: path.to_path_buf(),
            generation: AtomicU64::new(0),
            changes: Mutex::new(VecDeque::new()),
            instance: INSTANCES.fetch_add(1, Ordering::SeqCst),
        })
    }

    /// Changes of container records so far (see the field).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// A number no other store of this process has: what readers keep
    /// with a generation.
    pub fn instance(&self) -> u64 {
        self.instance
    }

    /// The ids of the records changed after generation `since` (each once)
    /// and the generation now; None when `since` is older than the changes
    /// remembered (read every record instead).
    pub fn changed_since(&self, since: u64) -> Option<(Vec<String>, u64)> {
        let changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let now = self.generation();
        if now == since {
            return Some((Vec::new(), now));
        }
        match changes.front() {
            Some((first, _)) if *first <= since + 1 => {}
            _ => return None,
        }
        let mut ids: Vec<String> = Vec::new();
        for (_, id) in changes.iter().filter(|(g, _)| *g > since) {
            if !ids.contains(id) {
                ids.push(id.clone());
            }
        }
        Some((ids, now))
    }

    fn commit(&self, txn: redb::WriteTransaction, id: &str) -> Result<()> {
        let mut changes = self.changes.lock().unwrap_or_else(|e| e.into_inner());
        let done = txn.commit().map_err(db);
        let generation = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        changes.push_back((generation, id.to_string()));
        if changes.len() > CHANGES_KEPT {
            changes.pop_front();
        }
        done
    }

    /// The database, for modules that keep tables of their own in it
    /// (networks, volumes, health), opened again if an I/O error poisoned
    /// the last handle (see [`Store::with_db`]).
    pub fn db(&self) -> Result<Arc<Database>> {
        if let Some(db) = self.db.read().unwrap_or_else(|e| e.into_inner()).as_ref() {
            return Ok(db.clone());
        }
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if let Some(db) = slot.as_ref() {
            return Ok(db.clone());
        }
        // fails while an old handle's transaction still holds the file
        // lock, or while the disk is still too full to repair the file:
        // the next use tries again
        let db = Arc::new(open_db(&self.path).map_err(StoreError::Db)?);
        crate::log_line!(
            "berth-manager: metadata store {} reopened",
            self.path.display()
        );
        *slot = Some(db.clone());
        Ok(db)
    }

    /// Drops the handle after an I/O error, so the file lock is free for
    /// the next [`Store::db`] to open it again.
    fn drop_handle(&self, failed: &Arc<Database>) {
        let mut slot = self.db.write().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_some_and(|db| Arc::ptr_eq(db, failed)) {
            *slot = None;
        }
    }

    /// Runs `f` with the database. An I/O error of this work drops the
    /// handle; a handle an earlier I/O error had poisoned (another module's
    /// transaction on the full disk) is opened again and `f` retried once,
    /// as nothing of it was done.
    fn with_db<R>(&self, mut f: impl FnMut(&Database) -> Result<R>) -> Result<R> {
        let db = self.db()?;
        let r = f(&db);
        match &r {
            Err(StoreError::Db(e)) if matches!(**e, redb::Error::PreviousIo) => {
                self.drop_handle(&db);
                drop(db);
                let db = self.db()?;
                let r = f(&db);
                if r.as_ref().is_err_and(is_io) {
                    self.drop_handle(&db);
                }
                r
            }
            Err(e) if is_io(e) => {
                self.drop_handle(&db);
                r
            }
            _ => r,
        }
    }

    pub fn get(&self, id: &str) -> Result<Option<ContainerRecord>> {
        self.with_db(|d| {
            let txn = d.begin_read().map_err(db)?;
            let table = txn.open_table(CONTAINERS).map_err(db)?;
            let value = table.get(id).map_err(db)?;
            value.map(|v| decode(id, v.value())).transpose()
        })
    }

    pub fn list(&self) -> Result<Vec<ContainerRecord>> {
        self.with_db(|d| {
            let txn = d.begin_read().map_err(db)?;
            let table = txn.open_table(CONTAINERS).map_err(db)?;
            let mut out = Vec::new();
            for entry in table.iter().map_err(db)? {
                let (k, v) = entry.map_err(db)?;
                out.push(decode(k.value(), v.value())?);
            }
            Ok(out)
        })
    }

    /// Finds a container by exact name, exact id, or unique id prefix.
    pub fn resolve(&self, key: &str) -> Result<ContainerRecord> {
        let key = key.strip_prefix('/').unwrap_or(key);
        if key.is_empty() {
            return Err(StoreError::NotFound(String::new()));
        }
        self.with_db(|d| {
            let txn = d.begin_read().map_err(db)?;
            let names = txn.open_table(NAMES).map_err(db)?;
            let table = txn.open_table(CONTAINERS).map_err(db)?;
            if let Some(id) = names.get(key).map_err(db)? {
                let id = id.value().to_string();
                if let Some(v) = table.get(id.as_str()).map_err(db)? {
                    return decode(&id, v.value());
                }
            }
            if let Some(v) = table.get(key).map_err(db)? {
                return decode(key, v.value());
            }
            let mut found: Option<ContainerRecord> = None;
            for entry in table.range(key..).map_err(db)? {
                let (k, v) = entry.map_err(db)?;
                if !k.value().starts_with(key) {
                    break;
                }
                if found.is_some() {
                    return Err(StoreError::Ambiguous(key.to_string()));
                }
                found = Some(decode(k.value(), v.value())?);
            }
            found.ok_or_else(|| StoreError::NotFound(key.to_string()))
        })
    }

    /// Stores a new record and claims its name, or changes nothing.
    pub fn insert(&self, rec: &ContainerRecord) -> Result<()> {
        self.with_db(|d| {
            let txn = d.begin_write().map_err(db)?;
            {
                let mut names = txn.open_table(NAMES).map_err(db)?;
                let mut table = txn.open_table(CONTAINERS).map_err(db)?;
                if names.get(rec.name.as_str()).map_err(db)?.is_some() {
                    return Err(StoreError::NameInUse(rec.name.clone()));
                }
                if table.get(rec.id.as_str()).map_err(db)?.is_some() {
                    return Err(StoreError::IdInUse(rec.id.clone()));
                }
                names
                    .insert(rec.name.as_str(), rec.id.as_str())
                    .map_err(db)?;
                table
                    .insert(rec.id.as_str(), encode(rec).as_slice())
                    .map_err(db)?;
            }
            self.commit(txn, &rec.id)
        })
    }

    /// Reads, changes and writes one record in a single transaction;
    /// returns the new record.
    pub fn update(
        &self,
        id: &str,
        change: impl FnOnce(&mut ContainerRecord),
    ) -> Result<ContainerRecord> {
        let mut change = Some(change);
        self.with_db(|d| {
            let txn = d.begin_write().map_err(db)?;
            let rec = {
                let mut table = txn.open_table(CONTAINERS).map_err(db)?;
                let mut rec = match table.get(id).map_err(db)? {
                    Some(v) => decode(id, v.value())?,
                    None => return Err(StoreError::NotFound(id.to_string())),
                };
                // a retry after the change was made is not one (see with_db)
                let Some(change) = change.take() else {
                    return Err(db(redb::Error::PreviousIo));
                };
                change(&mut rec);
                // id and name are keys: only `rename` changes a name
                rec.id = id.to_string();
                table.insert(id, encode(&rec).as_slice()).map_err(db)?;
                rec
            };
            self.commit(txn, id)?;
            Ok(rec)
        })
    }

    pub fn rename(&self, id: &str, new_name: &str) -> Result<ContainerRecord> {
        self.with_db(|d| {
            let txn = d.begin_write().map_err(db)?;
            let rec = {
                let mut names = txn.open_table(NAMES).map_err(db)?;
                let mut table = txn.open_table(CONTAINERS).map_err(db)?;
                let mut rec = match table.get(id).map_err(db)? {
                    Some(v) => decode(id, v.value())?,
                    None => return Err(StoreError::NotFound(id.to_string())),
                };
                if let Some(owner) = names.get(new_name).map_err(db)? {
                    if owner.value() != id {
                        return Err(StoreError::NameInUse(new_name.to_string()));
                    }
                }
                names.remove(rec.name.as_str()).map_err(db)?;
                names.insert(new_name, id).map_err(db)?;
                rec.name = new_name.to_string();
                table.insert(id, encode(&rec).as_slice()).map_err(db)?;
                rec
            };
            self.commit(txn, id)?;
            Ok(rec)
        })
    }

    /// Drops the record and its name; a missing record is not an error.
    pub fn remove(&self, id: &str) -> Result<()> {
        self.with_db(|d| {
            let txn = d.begin_write().map_err(db)?;
            {
                let mut names = txn.open_table(NAMES).map_err(db)?;
                let mut table = txn.open_table(CONTAINERS).map_err(db)?;
                let old = table.remove(id).map_err(db)?.map(|v| v.value().to_vec());
                if let Some(bytes) = old {
                    let rec = decode(id, &bytes)?;
                    let owned = names
                        .get(rec.name.as_str())
                        .map_err(db)?
                        .is_some_and(|v| v.value() == id);
                    if owned {
                        names.remove(rec.name.as_str()).map_err(db)?;
                    }
                }
            }
            self.commit(txn, id)
        })
    }
}

/// Opens (creating if needed) the database file.
fn open_db(path: &Path) -> std::result::Result<Database, Box<redb::Error>> {
    redb::Builder::new()
        .set_cache_size(CACHE_BYTES)
        .create(path)
        .map_err(|e| Box::new(e.into()))
}

/// An I/O error of the file (a full disk): redb refuses every later
/// transaction on the same handle.
fn is_io(e: &StoreError) -> bool {
    matches!(e, StoreError::Db(e) if matches!(**e, redb::Error::Io(_) | redb::Error::PreviousIo))
}

fn encode(rec: &ContainerRecord) -> Vec<u8> {
    serde_json::to_vec(rec).expect("a record always serializes")
}

fn decode(id: &str, bytes: &[u8]) -> Result<ContainerRecord> {
    serde_json::from_slice(bytes).map_err(|source| StoreError::Corrupt {
        id: id.to_string(),
        source,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::record::Status;

    pub(crate) fn rec(id: &str, name: &str) -> ContainerRecord {
        ContainerRecord {
            id: id.into(),
            name: name.into(),
            image: "busybox".into(),
            image_id: String::new(),
            spec_json: "{}".into(),
            labels: Default::default(),
            restart_policy: "no".into(),
            restart_max_retries: 0,
            auto_remove: false,
            tty: false,
            open_stdin: false,
            created: 1,
            status: Status::Created,
            pid: 0,
            exit_code: 0,
            started_at: 0,
            finished_at: 0,
            restart_count: 0,
            oom_killed: false,
            log_path: String::new(),
            bundle: String::new(),
            stop_signal: "SIGTERM".into(),
            stop_timeout: 10,
            rootfs: vec![],
            error: String::new(),
            snapshot: id.into(),
            shim: None,
            stop_requested: false,
            stop_deadline: 0,
        }
    }

    #[test]
    fn changes_are_named_until_they_are_too_old() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.redb")).unwrap();
        let start = store.generation();
        assert_eq!(store.changed_since(start), Some((vec![], start)));
        store.insert(&rec("a1", "one")).unwrap();
        store.insert(&rec("b2", "two")).unwrap();
        store.update("a1", |r| r.pid = 7).unwrap();
        // a refused change is no change
        assert!(store.insert(&rec("c3", "one")).is_err());
        let (ids, now) = store.changed_since(start).unwrap();
        assert_eq!(
            (ids, now),
            (vec!["a1".to_string(), "b2".to_string()], start + 3)
        );
        store.remove("b2").unwrap();
        assert_eq!(store.changed_since(now).unwrap().0, ["b2"]);
        for i in 0..CHANGES_KEPT {
            store.update("a1", |r| r.pid = i as u32).unwrap();
        }
        assert_eq!(store.changed_since(now), None, "older than remembered");
    }

    #[test]
    fn insert_resolve_rename_remove() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.redb")).unwrap();
        store.insert(&rec("abc123", "web")).unwrap();
        store.insert(&rec("abd456", "db")).unwrap();
        assert_eq!(store.resolve("web").unwrap().id, "abc123");
        assert_eq!(store.resolve("abc").unwrap().id, "abc123");
        assert_eq!(store.resolve("abd456").unwrap().name, "db");
        assert!(matches!(store.resolve("ab"), Err(StoreError::Ambiguous(_))));
        assert!(matches!(store.resolve("zz"), Err(StoreError::NotFound(_))));

        assert!(matches!(
            store.insert(&rec("fff", "web")),
            Err(StoreError::NameInUse(_))
        ));
        assert!(
            store.get("fff").unwrap().is_none(),
            "a refused insert left a record"
        );

        assert!(matches!(
            store.rename("abc123", "db"),
            Err(StoreError::NameInUse(_))
        ));
        store.rename("abc123", "front").unwrap();
        assert!(store.resolve("web").is_err());
        assert_eq!(store.resolve("front").unwrap().id, "abc123");

        store.remove("abc123").unwrap();
        assert!(store.resolve("front").is_err());
        // the freed name can be taken again
        store.insert(&rec("eee", "front")).unwrap();
        assert_eq!(store.list().unwrap().len(), 2);
    }

    #[test]
    fn update_persists_across_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.redb");
        {
            let store = Store::open(&path).unwrap();
            store.insert(&rec("abc", "web")).unwrap();
            store
                .update("abc", |r| {
                    r.status = Status::Exited;
                    r.exit_code = 3;
                })
                .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let r = store.get("abc").unwrap().unwrap();
        assert_eq!((r.status, r.exit_code), (Status::Exited, 3));
        assert!(matches!(
            store.update("nope", |_| {}),
            Err(StoreError::NotFound(_))
        ));
    }
}
