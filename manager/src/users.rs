//! User and group names resolved from the container's own `/etc/passwd`
//! and `/etc/group` (never the host's), as docker does at create: the front
//! end leaves `-u NAME[:GROUP]`, an image's `USER name` and `--group-add`
//! in annotations, and the manager, which has the container's snapshot,
//! turns them into `process.user`.

use std::path::PathBuf;

use serde_json::{json, Value};

use crate::record::MountRecord;

/// `-u` / the image's `USER` as given, when it names a user or group.
pub const USER_ANNOTATION: &str = "berth.user";
/// `--group-add` values, comma-separated.
pub const GROUP_ADD_ANNOTATION: &str = "berth.group-add";

/// A name the container's files do not have: docker's words.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum UserError {
    #[error("unable to find user {0}: no matching entries in passwd file")]
    User(String),
    #[error("unable to find group {0}: no matching entries in group file")]
    Group(String),
    #[error("Unable to find group {0}: no matching entries in group file")]
    GroupAdd(String),
}

/// One `/etc/passwd` entry.
struct Passwd {
    name: String,
    uid: u32,
    gid: u32,
    home: String,
}

/// One `/etc/group` entry.
struct Group {
    name: String,
    gid: u32,
    members: Vec<String>,
}

fn parse_passwd(text: &str) -> Vec<Passwd> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(Passwd {
                name: f.first()?.to_string(),
                uid: f.get(2)?.parse().ok()?,
                gid: f.get(3)?.parse().ok()?,
                home: f.get(5).unwrap_or(&"").to_string(),
            })
        })
        .collect()
}

fn parse_group(text: &str) -> Vec<Group> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some(Group {
                name: f.first()?.to_string(),
                gid: f.get(2)?.parse().ok()?,
                members: f
                    .get(3)
                    .map(|m| {
                        m.split(',')
                            .filter(|x| !x.is_empty())
                            .map(String::from)
                            .collect()
                    })
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// The layer dirs of an overlay rootfs, top first (upper, then lowers).
fn layers(rootfs: &[MountRecord]) -> Vec<PathBuf> {
    let mut upper = Vec::new();
    let mut lower = Vec::new();
    for m in rootfs {
        for o in &m.options {
            if let Some(u) = o.strip_prefix("upperdir=") {
                upper.push(PathBuf::from(u));
            } else if let Some(l) = o.strip_prefix("lowerdir=") {
                lower.extend(l.split(':').map(PathBuf::from));
            }
        }
        if m.kind == "bind" || m.options.iter().any(|o| o == "bind" || o == "rbind") {
            upper.push(PathBuf::from(&m.source));
        }
    }
    upper.extend(lower);
    upper
}

/// A file of the container as its top-most layer has it.
fn read_in(layers: &[PathBuf], path: &str) -> String {
    layers
        .iter()
        .find_map(|l| std::fs::read_to_string(l.join(path)).ok())
        .unwrap_or_default()
}

/// The user and groups a spec's annotations name, resolved in `passwd`
/// and `group`; the spec's `process.user` (and `HOME`, when the front end
/// chose it) become theirs. A spec without such annotations is unchanged.
fn resolve_with(spec: &mut Value, passwd: &str, group: &str) -> Result<(), UserError> {
    let notes = &spec["annotations"];
    let user = notes[USER_ANNOTATION].as_str().map(String::from);
    let adds: Vec<String> = notes[GROUP_ADD_ANNOTATION]
        .as_str()
        .map(|s| {
            s.split(',')
                .filter(|x| !x.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    if user.is_none() && adds.is_empty() {
        return Ok(());
    }
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let find_group = |g: &str| -> Option<u32> {
        g.parse()
            .ok()
            .or_else(|| groups.iter().find(|x| x.name == g).map(|x| x.gid))
    };
    let current = &spec["process"]["user"];
    let (mut uid, mut gid) = (
        current["uid"].as_u64().unwrap_or(0) as u32,
        current["gid"].as_u64().unwrap_or(0) as u32,
    );
    let mut additional: Vec<u32> = Vec::new();
    let mut named_user = None;
    let mut home = None;
    if let Some(u) = &user {
        let (name, grp) = match u.split_once(':') {
            Some((n, g)) => (n, Some(g)),
            None => (u.as_str(), None),
        };
        let entry = match name.parse::<u32>() {
            Ok(n) => users.iter().find(|p| p.uid == n),
            Err(_) => Some(
                users
                    .iter()
                    .find(|p| p.name == name)
                    .ok_or_else(|| UserError::User(name.to_string()))?,
            ),
        };
        uid = entry
            .map(|p| p.uid)
            .unwrap_or_else(|| name.parse().unwrap_or(0));
        gid = entry.map(|p| p.gid).unwrap_or(0);
        if let Some(g) = grp {
            gid = find_group(g).ok_or_else(|| UserError::Group(g.to_string()))?;
        }
        named_user = entry;
    }
    // the primary group first, then the user's groups in /etc/group
    additional.push(gid);
    if let Some(p) = named_user {
        home = Some(p.home.clone()).filter(|h| !h.is_empty());
        additional.extend(
            groups
                .iter()
                .filter(|g| g.members.contains(&p.name))
                .map(|g| g.gid),
        );
    }
    for g in &adds {
        additional.push(find_group(g).ok_or_else(|| UserError::GroupAdd(g.clone()))?);
    }
    let mut seen = std::collections::HashSet::new();
    additional.retain(|g| seen.insert(*g));
    spec["process"]["user"] = json!({"uid": uid, "gid": gid, "additionalGids": additional});
    if let (Some(h), Some(env)) = (home, spec["process"]["env"].as_array_mut()) {
        // the front end's guess (it could not read passwd) gives way
        for e in env.iter_mut() {
            if e == "HOME=/" || e == "HOME=/root" {
                *e = json!(format!("HOME={h}"));
            }
        }
    }
    Ok(())
}

/// Resolves the spec's user annotations in the container's snapshot.
pub fn resolve(spec_json: &str, rootfs: &[MountRecord]) -> Result<String, UserError> {
    let Ok(mut spec) = serde_json::from_str::<Value>(spec_json) else {
        return Ok(spec_json.to_string());
    };
    let dirs = layers(rootfs);
    let passwd = read_in(&dirs, "etc/passwd");
    let group = read_in(&dirs, "etc/group");
    resolve_with(&mut spec, &passwd, &group)?;
    Ok(spec.to_string())
}

/// An exec'd process's `process.user`, resolved in the running container's
/// files as at create: `-u USER` (else the container's own user) with its
/// groups, plus the container's `--group-add` groups, which hold for every
/// process in it. A container with neither leaves the process unchanged.
pub fn resolve_process(
    process: &mut Value,
    user: &str,
    container_spec: &str,
    rootfs: &[MountRecord],
) -> Result<(), UserError> {
    let container: Value = serde_json::from_str(container_spec).unwrap_or_default();
    let notes = &container["annotations"];
    let mut annotations = json!({});
    let user = Some(user)
        .filter(|u| !u.is_empty())
        .or_else(|| notes[USER_ANNOTATION].as_str());
    if let Some(u) = user {
        annotations[USER_ANNOTATION] = json!(u);
    }
    if let Some(adds) = notes[GROUP_ADD_ANNOTATION].as_str() {
        annotations[GROUP_ADD_ANNOTATION] = json!(adds);
    }
    if annotations.as_object().is_some_and(|a| a.is_empty()) {
        return Ok(());
    }
    let dirs = layers(rootfs);
    let mut spec = json!({
        "process": process.take(),
        "annotations": annotations,
    });
    let resolved = resolve_with(
        &mut spec,
        &read_in(&dirs, "etc/passwd"),
        &read_in(&dirs, "etc/group"),
    );
    *process = spec["process"].take();
    resolved
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nweb:x:1000:1000::/home/web:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nnogroup:x:65534:\nweb:x:1000:\nstaff:x:50:web,other\n";

    fn spec(user: Option<&str>, adds: Option<&str>) -> Value {
        let mut s = json!({"process": {"user": {"uid": 0, "gid": 0}, "env": ["HOME=/root"]},
                           "annotations": {}});
        if let Some(u) = user {
            s["annotations"][USER_ANNOTATION] = json!(u);
        }
        if let Some(a) = adds {
            s["annotations"][GROUP_ADD_ANNOTATION] = json!(a);
        }
        s
    }

    fn user_of(user: Option<&str>, adds: Option<&str>) -> Result<Value, UserError> {
        let mut s = spec(user, adds);
        resolve_with(&mut s, PASSWD, GROUP)?;
        Ok(s["process"]["user"].clone())
    }

    #[test]
    fn names_resolve_like_docker() {
        assert_eq!(
            user_of(Some("nobody"), None).unwrap(),
            json!({"uid": 65534, "gid": 65534, "additionalGids": [65534]})
        );
        assert_eq!(
            user_of(Some("nobody:root"), None).unwrap(),
            json!({"uid": 65534, "gid": 0, "additionalGids": [0]})
        );
        assert_eq!(
            user_of(Some("web"), None).unwrap(),
            json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]})
        );
        assert_eq!(
            user_of(Some("1000:staff"), Some("1234,nogroup")).unwrap(),
            json!({"uid": 1000, "gid": 50, "additionalGids": [50, 1234, 65534]})
        );
        assert_eq!(
            user_of(Some("4321"), None).unwrap(),
            json!({"uid": 4321, "gid": 0, "additionalGids": [0]})
        );
        assert_eq!(
            user_of(Some("foo"), None).unwrap_err().to_string(),
            "unable to find user foo: no matching entries in passwd file"
        );
        assert_eq!(
            user_of(Some("nobody:nogrp"), None).unwrap_err(),
            UserError::Group("nogrp".into())
        );
        assert_eq!(
            user_of(None, Some("nosuch")).unwrap_err(),
            UserError::GroupAdd("nosuch".into())
        );
        let mut s = spec(Some("web"), None);
        resolve_with(&mut s, PASSWD, GROUP).unwrap();
        assert_eq!(s["process"]["env"], json!(["HOME=/home/web"]));
    }

    #[test]
    fn the_top_layer_wins() {
        let top = tempfile::tempdir().unwrap();
        let low = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(low.path().join("etc")).unwrap();
        std::fs::write(low.path().join("etc/passwd"), "u:x:1:1::/:/bin/sh\n").unwrap();
        let m = MountRecord {
            kind: "overlay".into(),
            source: "overlay".into(),
            target: String::new(),
            options: vec![
                format!("lowerdir={}", low.path().display()),
                format!("upperdir={}", top.path().display()),
            ],
        };
        let out = resolve(&spec(Some("u"), None).to_string(), std::slice::from_ref(&m)).unwrap();
        assert!(out.contains("\"uid\":1"), "{out}");
        std::fs::create_dir_all(top.path().join("etc")).unwrap();
        std::fs::write(top.path().join("etc/passwd"), "u:x:2:2::/:/bin/sh\n").unwrap();
        let out = resolve(&spec(Some("u"), None).to_string(), &[m]).unwrap();
        assert!(out.contains("\"uid\":2"), "{out}");
    }

    #[test]
    fn exec_user_resolves_in_the_container() {
        let root = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(root.path().join("etc")).unwrap();
        std::fs::write(root.path().join("etc/passwd"), PASSWD).unwrap();
        std::fs::write(root.path().join("etc/group"), GROUP).unwrap();
        let m = MountRecord {
            kind: "bind".into(),
            source: root.path().display().to_string(),
            target: String::new(),
            options: vec!["rbind".into()],
        };
        let mut p = json!({"args": ["id"], "user": {"uid": 0, "gid": 0}, "env": ["HOME=/root"]});
        resolve_process(&mut p, "web:staff", "{}", std::slice::from_ref(&m)).unwrap();
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 50, "additionalGids": [50]})
        );
        assert_eq!(p["env"], json!(["HOME=/home/web"]));
        assert_eq!(p["args"], json!(["id"]));
        let err = resolve_process(&mut p, "ghost", "{}", std::slice::from_ref(&m)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "unable to find user ghost: no matching entries in passwd file"
        );
        // the container's --group-add holds for exec'd processes, with or
        // without -u
        let container = json!({"annotations": {GROUP_ADD_ANNOTATION: "1234,nogroup"}}).to_string();
        let mut p = json!({"args": ["id"], "user": {"uid": 0, "gid": 0}});
        resolve_process(&mut p, "", &container, std::slice::from_ref(&m)).unwrap();
        assert_eq!(
            p["user"],
            json!({"uid": 0, "gid": 0, "additionalGids": [0, 1234, 65534]})
        );
        let mut p = json!({"args": ["id"], "user": {"uid": 0, "gid": 0}});
        resolve_process(&mut p, "web", &container, std::slice::from_ref(&m)).unwrap();
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 50, 1234, 65534]})
        );
        // the container's own user when exec has no -u
        let container = json!({"annotations": {USER_ANNOTATION: "web"}}).to_string();
        let mut p = json!({"args": ["id"], "user": {"uid": 1000, "gid": 1000}});
        resolve_process(&mut p, "", &container, std::slice::from_ref(&m)).unwrap();
        assert_eq!(
            p["user"],
            json!({"uid": 1000, "gid": 1000, "additionalGids": [1000, 50]})
        );
        // neither: unchanged
        let mut p = json!({"args": ["id"], "user": {"uid": 5, "gid": 6}});
        resolve_process(&mut p, "", "{}", &[m]).unwrap();
        assert_eq!(p["user"], json!({"uid": 5, "gid": 6}));
    }
}
