//! The cgroup hierarchies found where hosts mount them, under
//! `/sys/fs/cgroup`, without reading mountinfo.
//!
//! `/proc/self/mountinfo` lists every mount of the namespace: on a host
//! running a thousand containers that is a thousand overlay lines the
//! kernel formats (lower dirs and all) on each read, and every container
//! start would pay for it. `/proc/self/cgroup` names each hierarchy; its
//! usual mount point is checked with two stat calls instead: the file
//! system must be cgroup (v1) or cgroup2, and the directory the
//! hierarchy's top cgroup (kernfs node 1), so the mount shows the whole
//! hierarchy, as mountinfo's root `/`. Anything else — a hierarchy
//! mounted elsewhere, a sub-tree bind mount, a cgroup namespace (whose
//! mountinfo roots are relative to it) — is left to mountinfo.

use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::hierarchy::parse_proc_cgroup;
use crate::{Error, Mount};

/// Where hosts mount their cgroup hierarchies.
const DEFAULT_ROOT: &str = "/sys/fs/cgroup";
/// statfs(2) `f_type` of a cgroup v1 hierarchy.
const CGROUP_SUPER_MAGIC: i64 = 0x0027_e0eb;
/// statfs(2) `f_type` of the cgroup2 hierarchy.
const CGROUP2_SUPER_MAGIC: i64 = 0x6367_7270;
/// Inode of `/proc/self/ns/cgroup` in the initial cgroup namespace
/// (the kernel's PROC_CGROUP_INIT_INO).
const INITIAL_CGROUP_NS_INO: u64 = 0xEFFF_FFFB;
/// Inode of a hierarchy's top cgroup directory (its kernfs root node).
const TOP_CGROUP_INO: u64 = 1;

/// The v1 hierarchies and the cgroup2 mount.
pub(crate) type Found = (Vec<Mount>, Option<Mount>);

/// The v1 hierarchies (ascending hierarchy id) and the cgroup2 mount as
/// found at their default mount points, or `None` when any hierarchy
/// listed in `proc_cgroup` is not there and mountinfo must tell.
pub(crate) fn find(proc_cgroup: &str) -> Result<Option<Found>, Error> {
    if !in_initial_cgroup_ns() {
        return Ok(None);
    }
    let own = parse_proc_cgroup(proc_cgroup)?;
    let top = |path: &Path, magic: i64| is_top_cgroup(path, magic).then(|| path.to_path_buf());
    let mount = |controllers: Vec<String>, mountpoint: PathBuf, own_cgroup: &str| Mount {
        controllers,
        mountpoint,
        root: "/".into(),
        own_cgroup: Some(own_cgroup.to_string()),
    };
    let root = Path::new(DEFAULT_ROOT);
    if let Some(mp) = top(root, CGROUP2_SUPER_MAGIC) {
        // a pure cgroup2 host: its only line is `0::PATH`
        return Ok(match own.as_slice() {
            [(ctrls, path)] if ctrls.is_empty() => {
                Some((Vec::new(), Some(mount(Vec::new(), mp, path))))
            }
            _ => None,
        });
    }
    // each line's hierarchy id, to keep v1 hierarchies in a stable order
    let ids = proc_cgroup
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            l.split(':')
                .next()
                .and_then(|i| i.parse().ok())
                .unwrap_or(u32::MAX)
        });
    let mut v1: Vec<(u32, Mount)> = Vec::new();
    let mut unified = None;
    for (id, (ctrls, path)) in ids.zip(&own) {
        if ctrls.is_empty() {
            let Some(mp) = top(&root.join("unified"), CGROUP2_SUPER_MAGIC) else {
                return Ok(None);
            };
            unified = Some(mount(Vec::new(), mp, path));
            continue;
        }
        // `cpu,cpuacct` at /sys/fs/cgroup/cpu,cpuacct, `name=systemd` at
        // /sys/fs/cgroup/systemd
        let dir = ctrls
            .iter()
            .map(|c| c.strip_prefix("name=").unwrap_or(c))
            .collect::<Vec<_>>()
            .join(",");
        let Some(mp) = top(&root.join(dir), CGROUP_SUPER_MAGIC) else {
            return Ok(None);
        };
        v1.push((id, mount(ctrls.clone(), mp, path)));
    }
    v1.sort_by_key(|(id, _)| *id);
    if v1.is_empty() && unified.is_none() {
        return Ok(None);
    }
    Ok(Some((v1.into_iter().map(|(_, m)| m).collect(), unified)))
}

/// Whether this process is in the initial cgroup namespace, where
/// /proc/self/cgroup and mountinfo name cgroups from the hierarchy's top.
fn in_initial_cgroup_ns() -> bool {
    std::fs::metadata("/proc/self/ns/cgroup").is_ok_and(|m| m.ino() == INITIAL_CGROUP_NS_INO)
}

/// Whether `path` is the top cgroup of a hierarchy of file system `magic`.
fn is_top_cgroup(path: &Path, magic: i64) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    meta.ino() == TOP_CGROUP_INO && fs_magic(path) == Some(magic)
}

/// statfs(2)'s `f_type` of `path`.
fn fs_magic(path: &Path) -> Option<i64> {
    let mut c = path.as_os_str().as_bytes().to_vec();
    c.push(0);
    let mut st = std::mem::MaybeUninit::<libc::statfs>::uninit();
    // SAFETY: `c` is NUL-terminated and outlives the call; `st` is written
    // by the kernel and read only when the call succeeds.
    let rc = unsafe { libc::statfs(c.as_ptr().cast(), st.as_mut_ptr()) };
    // SAFETY: statfs returned 0, so it filled `st`.
    let f_type = (rc == 0).then(|| unsafe { st.assume_init() }.f_type)?;
    // its width and sign vary by architecture
    #[allow(clippy::unnecessary_cast)]
    Some(f_type as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn magic_of_proc_is_not_cgroup() {
        assert!(fs_magic(Path::new("/proc")).is_some());
        assert!(!is_top_cgroup(Path::new("/proc"), CGROUP_SUPER_MAGIC));
        assert!(!is_top_cgroup(
            Path::new("/nonexistent"),
            CGROUP2_SUPER_MAGIC
        ));
    }

    #[test]
    fn a_listed_hierarchy_missing_from_the_default_paths_leaves_it_to_mountinfo() {
        if !in_initial_cgroup_ns() {
            return;
        }
        let none = find("12:name=berth-test-nowhere:/\n").unwrap();
        assert!(none.is_none(), "{none:?}");
    }
}
