//! The container list as `ps` (and every other lister) gets it: each
//! container's record with a brief spec. A stored spec is 10–20 KB (the
//! seccomp profile, capabilities, resources); a list of a thousand of them
//! would pass ttrpc's 4 MiB message limit and cost every lister a parse of
//! megabytes. The brief spec keeps what listers read — the process's
//! args, env, cwd, user and terminal, the mounts, the annotations and the
//! hostname — and GetContainer still returns the whole spec.
//!
//! The list is kept, keyed by the store's generation, until a record
//! changes: an idle manager answers `ps` without reading its store.

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
    store: usize,
    generation: u64,
    infos: Vec<(bool, ContainerInfo)>,
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

/// Every container's info with a brief spec, newest first, each with
/// whether it counts as running for `ps` without `-a`.
pub fn list(
    store: &Store,
    running: impl Fn(&ContainerRecord) -> bool,
) -> crate::store::Result<Vec<(bool, ContainerInfo)>> {
    let key = (store as *const Store as usize, store.generation());
    {
        let cached = LISTED.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(l) = cached.as_ref().filter(|l| (l.store, l.generation) == key) {
            return Ok(l.infos.clone());
        }
    }
    // The generation is read before the records: a change meanwhile makes
    // the next call list again.
    let mut recs = store.list()?;
    recs.sort_by_key(|r| std::cmp::Reverse(r.created));
    let infos: Vec<(bool, ContainerInfo)> = recs
        .iter()
        .map(|r| {
            let mut info = r.to_info();
            info.spec_json = brief_spec(&r.spec_json);
            (running(r), info)
        })
        .collect();
    *LISTED.lock().unwrap_or_else(|e| e.into_inner()) = Some(Listed {
        store: key.0,
        generation: key.1,
        infos: infos.clone(),
    });
    Ok(infos)
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
}
