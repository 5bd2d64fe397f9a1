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

use std::sync::Mutex;

use berth_proto::manager::ContainerInfo;
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
    let at = store.instance();
    let mut cached = LISTED.lock().unwrap_or_else(|e| e.into_inner());
    let changed = cached
        .as_ref()
        .filter(|l| l.store == at)
        .and_then(|l| store.changed_since(l.generation));
    match (cached.as_mut(), changed) {
        (Some(l), Some((ids, now))) => {
            for id in ids {
                l.infos.retain(|(_, _, i)| i.id != id);
                if let Some(r) = store.get(&id)? {
                    l.infos.push(entry(&r, &running));
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
                store.list()?.iter().map(|r| entry(r, &running)).collect();
            infos.sort_by_key(|(created, _, _)| std::cmp::Reverse(*created));
            *cached = Some(Listed {
                store: at,
                generation: now,
                infos,
            });
        }
    }
    Ok(cached
        .as_ref()
        .map(|l| l.infos.iter().map(|(_, r, i)| (*r, i.clone())).collect())
        .unwrap_or_default())
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
