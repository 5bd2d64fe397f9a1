//! The container list as `ps` (and every other lister) gets it: each
//! container's record with a brief spec. A stored spec is 10–20 KB (the
//! seccomp profile, capabilities, resources); a list of a thousand of them
//! would pass ttrpc's 4 MiB message limit and cost every lister a parse of
//! megabytes. The brief spec keeps what listers read — the process's
//! args, env, cwd, user and terminal, the mounts, the annotations and the
//! hostname — and GetContainer still returns the whole spec.
//!
//! The list is kept and only the records changed since (the store
//! remembers which) are read again: an idle manager answers `ps` without
//! reading its store, a busy one reads what changed.
//!
//! List views (`ps`, the API's container list) ask for rows instead: each
//! container's info cut to what such a view shows (see [`row_of`]), about
//! a third of a brief one's bytes, made when first asked for and kept
//! until the record changes: `ps` of a thousand containers then moves and
//! parses under a megabyte instead of 2.5 MB. Rows are kept encoded, and
//! an answer is their bytes laid end to end as the list message's
//! repeated field: `ps` costs the manager a copy of each row, not a clone,
//! an encoding and a free of a thousand messages.

use std::collections::HashMap;
use std::sync::Mutex;

use berth_proto::manager::ContainerInfo;
use protobuf::{CodedOutputStream, Message};
use serde_json::{Map, Value};

use crate::record::ContainerRecord;
use crate::store::Store;

/// The keys of the spec's `process` a brief spec keeps.
const PROCESS_KEYS: [&str; 5] = ["args", "env", "cwd", "user", "terminal"];
/// The top-level keys of the spec a brief spec keeps.
const SPEC_KEYS: [&str; 3] = ["mounts", "annotations", "hostname"];

/// The listing of one store at one generation, newest container first.
struct Listed {
    store: u64,
    generation: u64,
    /// Per container: its creation time (the order), whether it counts as
    /// running, its info.
    infos: Vec<(u64, bool, ContainerInfo)>,
    /// Rows made from `infos` so far, encoded, by container id and whether
    /// they keep the bind mounts.
    rows: HashMap<(String, bool), Vec<u8>>,
}

static LISTED: Mutex<Option<Listed>> = Mutex::new(None);

/// The brief form of a stored spec (see the module doc); a spec that does
/// not parse is passed on as it is.
pub fn brief_spec(spec_json: &str) -> String {
    let Ok(Value::Object(mut spec)) = serde_json::from_str::<Value>(spec_json) else {
        return spec_json.to_string();
    };
    let mut brief = Map::new();
    if let Some(Value::Object(mut process)) = spec.remove("process") {
        let kept: Map<String, Value> = PROCESS_KEYS
            .iter()
            .filter_map(|k| process.remove(*k).map(|v| (k.to_string(), v)))
            .collect();
        brief.insert("process".into(), Value::Object(kept));
    }
    for k in SPEC_KEYS {
        if let Some(v) = spec.remove(k) {
            brief.insert(k.into(), v);
        }
    }
    Value::Object(brief).to_string()
}

fn entry(
    r: &ContainerRecord,
    running: &impl Fn(&ContainerRecord) -> bool,
) -> (u64, bool, ContainerInfo) {
    let mut info = r.to_info();
    info.spec_json = brief_spec(&r.spec_json);
    (r.created, running(r), info)
}

/// Every container's info with a brief spec, newest first, each with
/// whether it counts as running for `ps` without `-a`. Only the records
/// changed since the last call are read again.
pub fn list(
    store: &Store,
    running: impl Fn(&ContainerRecord) -> bool,
) -> crate::store::Result<Vec<(bool, ContainerInfo)>> {
    let mut cached = LISTED.lock().unwrap_or_else(|e| e.into_inner());
    refresh(&mut cached, store, &running)?;
    Ok(cached
        .as_ref()
        .map(|l| l.infos.iter().map(|(_, r, i)| (*r, i.clone())).collect())
        .unwrap_or_default())
}

/// Brings `cached` up to the store's generation.
fn refresh(
    cached: &mut Option<Listed>,
    store: &Store,
    running: &impl Fn(&ContainerRecord) -> bool,
) -> crate::store::Result<()> {
    let at = store.instance();
    let changed = cached
        .as_ref()
        .filter(|l| l.store == at)
        .and_then(|l| store.changed_since(l.generation));
    match (cached.as_mut(), changed) {
        (Some(l), Some((ids, now))) => {
            for id in ids {
                l.rows.retain(|(row, _), _| *row != id);
                l.infos.retain(|(_, _, i)| i.id != id);
                if let Some(r) = store.get(&id)? {
                    l.infos.push(entry(&r, running));
                }
            }
            l.infos
                .sort_by_key(|(created, _, _)| std::cmp::Reverse(*created));
            l.generation = now;
        }
        _ => {
            // The generation is read before the records: a change
            // meanwhile is read again by the next call.
            let now = store.generation();
            let mut infos: Vec<(u64, bool, ContainerInfo)> =
                store.list()?.iter().map(|r| entry(r, running)).collect();
            infos.sort_by_key(|(created, _, _)| std::cmp::Reverse(*created));
            *cached = Some(Listed {
                store: at,
                generation: now,
                infos,
                rows: HashMap::new(),
            });
        }
    }
    Ok(())
}

/// The spec's keys a row keeps, besides `process.args` and the bind mounts:
/// the exposed ports, and the health check, by which a lister knows which
/// containers to ask the health of (most have none).
const ROW_ANNOTATIONS: [&str; 2] = ["berth.exposed", crate::health::ANNOTATION];

/// The spec of a row: of a brief spec, `process.args`, the bind mounts'
/// type, source and destination (unless not `with_mounts`), and the
/// annotations of [`ROW_ANNOTATIONS`]; a spec that does not parse is passed
/// on as it is.
pub fn row_spec(spec_json: &str, with_mounts: bool) -> String {
    let Ok(Value::Object(spec)) = serde_json::from_str::<Value>(spec_json) else {
        return spec_json.to_string();
    };
    let mut row = Map::new();
    if let Some(args) = spec.get("process").and_then(|p| p.get("args")) {
        row.insert("process".into(), serde_json::json!({ "args": args }));
    }
    if let Some(Value::Array(mounts)) = spec.get("mounts").filter(|_| with_mounts) {
        let binds: Vec<Value> = mounts
            .iter()
            .filter(|m| m.get("type").and_then(Value::as_str) == Some("bind"))
            .map(|m| {
                ["type", "source", "destination"]
                    .iter()
                    .filter_map(|k| m.get(*k).map(|v| (k.to_string(), v.clone())))
                    .collect::<Map<String, Value>>()
                    .into()
            })
            .collect();
        row.insert("mounts".into(), Value::Array(binds));
    }
    if let Some(Value::Object(notes)) = spec.get("annotations") {
        let kept: Map<String, Value> = ROW_ANNOTATIONS
            .iter()
            .filter_map(|k| notes.get(*k).map(|v| (k.to_string(), v.clone())))
            .collect();
        if !kept.is_empty() {
            row.insert("annotations".into(), Value::Object(kept));
        }
    }
    Value::Object(row).to_string()
}

/// A container's row: its info (with a brief spec) without what no list
/// view shows — a [`row_spec`], no bundle, log path or rootfs mounts.
fn row_of(info: &ContainerInfo, with_mounts: bool) -> ContainerInfo {
    let mut row = info.clone();
    row.spec_json = row_spec(&info.spec_json, with_mounts);
    row.bundle.clear();
    row.log_path.clear();
    row.rootfs_mounts.clear();
    row
}

/// The field number of `ListContainersResponse.containers`.
const CONTAINERS_FIELD: u32 = 1;

/// Every container's row (see [`row_of`]), newest first, as an encoded
/// `ListContainersResponse`; without `all`, only those `running` counts as
/// running.
pub fn rows(
    store: &Store,
    running: impl Fn(&ContainerRecord) -> bool,
    all: bool,
    with_mounts: bool,
) -> crate::store::Result<Vec<u8>> {
    let mut cached = LISTED.lock().unwrap_or_else(|e| e.into_inner());
    refresh(&mut cached, store, &running)?;
    let mut out = Vec::new();
    let Some(l) = cached.as_mut() else {
        return Ok(out);
    };
    let Listed { infos, rows, .. } = l;
    let mut os = CodedOutputStream::vec(&mut out);
    for (_, _, i) in infos.iter().filter(|(_, r, _)| all || *r) {
        let row = rows.entry((i.id.clone(), with_mounts)).or_insert_with(|| {
            row_of(i, with_mounts)
                .write_to_bytes()
                .expect("a container's row encodes")
        });
        os.write_bytes(CONTAINERS_FIELD, row)
            .expect("writing to a Vec does not fail");
    }
    os.flush().expect("writing to a Vec does not fail");
    drop(os);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_brief_spec_keeps_what_listers_read() {
        let spec = r#"{"ociVersion":"1.0.2","process":{"args":["sleep","1d"],"env":["A=1"],
            "cwd":"/","user":{"uid":0,"gid":0},"capabilities":{"bounding":["CAP_KILL"]}},
            "mounts":[{"destination":"/v","type":"bind","source":"/s"}],
            "annotations":{"berth.healthcheck":"{}"},"hostname":"h",
            "linux":{"seccomp":{"defaultAction":"SCMP_ACT_ERRNO"}}}"#;
        let brief: Value = serde_json::from_str(&brief_spec(spec)).unwrap();
        assert_eq!(brief["process"]["args"], serde_json::json!(["sleep", "1d"]));
        assert_eq!(brief["process"]["env"][0], "A=1");
        assert!(brief["process"].get("capabilities").is_none());
        assert!(brief.get("linux").is_none() && brief.get("ociVersion").is_none());
        assert_eq!(brief["mounts"][0]["source"], "/s");
        assert_eq!(brief["hostname"], "h");
        assert!(brief["annotations"].get("berth.healthcheck").is_some());
        assert_eq!(brief_spec("garbage"), "garbage");
    }

    #[test]
    fn a_row_spec_keeps_args_binds_and_exposed_ports() {
        let spec = r#"{"process":{"args":["sleep","1d"],"env":["A=1"],"cwd":"/"},
            "mounts":[{"destination":"/proc","type":"proc","source":"proc","options":["nosuid"]},
            {"destination":"/v","type":"bind","source":"/s","options":["rbind"]}],
            "annotations":{"berth.exposed":"80/tcp","berth.attach":"","berth.healthcheck":"{}"},
            "hostname":"h"}"#;
        let row: Value = serde_json::from_str(&row_spec(&brief_spec(spec), true)).unwrap();
        assert_eq!(
            row,
            serde_json::json!({
                "process": {"args": ["sleep", "1d"]},
                "mounts": [{"destination": "/v", "type": "bind", "source": "/s"}],
                "annotations": {"berth.exposed": "80/tcp", "berth.healthcheck": "{}"},
            })
        );
        let bare: Value = serde_json::from_str(&row_spec(&brief_spec(spec), false)).unwrap();
        assert!(bare.get("mounts").is_none());
        assert_eq!(bare["process"]["args"], row["process"]["args"]);
        assert_eq!(row_spec("garbage", true), "garbage");
    }

    #[test]
    fn rows_follow_changes() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.redb")).unwrap();
        let mut a = crate::store::tests::rec("rowa", "one");
        a.spec_json = r#"{"process":{"args":["a"],"env":["X=1"]}}"#.into();
        a.log_path = "/log".into();
        store.insert(&a).unwrap();
        let shown = |store: &Store, all: bool| -> Vec<(String, u32, String, String)> {
            let bytes = rows(store, |r| r.pid > 0, all, true).unwrap();
            berth_proto::manager::ListContainersResponse::parse_from_bytes(&bytes)
                .unwrap()
                .containers
                .into_iter()
                .map(|i| (i.id, i.pid, i.spec_json, i.log_path))
                .collect()
        };
        let spec = r#"{"process":{"args":["a"]}}"#.to_string();
        assert_eq!(
            shown(&store, true),
            [("rowa".into(), 0, spec.clone(), String::new())]
        );
        assert!(shown(&store, false).is_empty());
        store
            .update("rowa", |r| {
                r.pid = 7;
                r.status = crate::record::Status::Running;
            })
            .unwrap();
        assert_eq!(
            shown(&store, false),
            [("rowa".into(), 7, spec, String::new())]
        );
        store.remove("rowa").unwrap();
        assert!(shown(&store, true).is_empty());
    }

    #[test]
    fn the_list_follows_changes_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("m.redb")).unwrap();
        let ids = |store: &Store| -> Vec<(bool, String, u32)> {
            list(store, |r| r.pid > 0)
                .unwrap()
                .into_iter()
                .map(|(run, i)| (run, i.id, i.pid))
                .collect()
        };
        let mut old = crate::store::tests::rec("old", "one");
        old.created = 1;
        let mut new = crate::store::tests::rec("new", "two");
        new.created = 2;
        store.insert(&old).unwrap();
        store.insert(&new).unwrap();
        assert_eq!(
            ids(&store),
            [(false, "new".into(), 0), (false, "old".into(), 0)]
        );
        store
            .update("old", |r| {
                r.pid = 9;
                r.status = crate::record::Status::Running;
            })
            .unwrap();
        assert_eq!(
            ids(&store),
            [(false, "new".into(), 0), (true, "old".into(), 9)]
        );
        store.remove("new").unwrap();
        assert_eq!(ids(&store), [(true, "old".into(), 9)]);
    }
}
