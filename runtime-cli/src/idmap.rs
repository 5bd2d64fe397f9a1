//! Writing a new user namespace's uid/gid maps.
//!
//! Root writes `/proc/<pid>/{uid,gid}_map` itself. An unprivileged runtime may
//! write only one line mapping its own id (and, for gids, only after denying
//! `setgroups`, which the kernel requires so a user can't drop a group that
//! restricts it); anything more goes through the setuid `newuidmap` /
//! `newgidmap`, which grant the ranges `/etc/subuid` and `/etc/subgid` list for
//! the user. [`check`] tells which path a config takes and refuses, before
//! anything is created, maps that neither can write.

use oci_spec::runtime::LinuxIdMapping;
use std::path::{Path, PathBuf};
use std::process::Command;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(
        "{field}: uid {uid} may map only its own id ({own}) without newuidmap/newgidmap: {why}"
    )]
    NotGranted {
        field: &'static str,
        uid: u32,
        own: u32,
        why: String,
    },
    #[error("{field}: host ids {first}-{last} are not granted to {user} in {file}")]
    OutsideSubids {
        field: &'static str,
        first: u64,
        last: u64,
        user: String,
        file: &'static str,
    },
    #[error("write {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("{tool} {pid}: {detail}")]
    Helper {
        tool: &'static str,
        pid: i32,
        detail: String,
    },
}

/// Which of uid and gid maps go through which writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Writer {
    /// the runtime writes the map file itself
    Direct,
    /// the setuid helper (`newuidmap` / `newgidmap`) writes it
    Helper,
}

/// How a container's maps get written: decided up front by [`check`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    uid: Option<(Writer, Vec<LinuxIdMapping>)>,
    gid: Option<(Writer, Vec<LinuxIdMapping>)>,
    /// the runtime is root of its own user namespace (no restrictions)
    privileged: bool,
}

/// One kind of id: the names and files that differ between uids and gids.
struct Kind {
    field: &'static str,
    map_file: &'static str,
    subid_file: &'static str,
    tool: &'static str,
}

const UID: Kind = Kind {
    field: "linux.uidMappings",
    map_file: "uid_map",
    subid_file: "/etc/subuid",
    tool: "newuidmap",
};

const GID: Kind = Kind {
    field: "linux.gidMappings",
    map_file: "gid_map",
    subid_file: "/etc/subgid",
    tool: "newgidmap",
};

/// The caller as the id checks see it.
pub struct Caller {
    pub uid: u32,
    pub gid: u32,
    pub name: Option<String>,
}

impl Caller {
    pub fn current() -> Caller {
        // SAFETY: geteuid/getegid have no failure mode.
        let (uid, gid) = unsafe { (libc::geteuid(), libc::getegid()) };
        // root's name is never shown nor matched against /etc/subuid: spare
        // the passwd lookup on every create
        let name = if uid == 0 {
            None
        } else {
            nix::unistd::User::from_uid(uid.into())
                .ok()
                .flatten()
                .map(|u| u.name)
        };
        Caller { uid, gid, name }
    }

    fn describe(&self) -> String {
        match &self.name {
            Some(n) => format!("user {n} (uid {})", self.uid),
            None => format!("uid {}", self.uid),
        }
    }
}

/// Decides how to write `uids`/`gids` for `caller`, reading the subordinate
/// id files only when a helper is needed, and refuses maps nobody may write.
pub fn check(
    caller: &Caller,
    uids: &[LinuxIdMapping],
    gids: &[LinuxIdMapping],
) -> Result<Plan, Error> {
    if caller.uid == 0 {
        return Ok(Plan {
            uid: (!uids.is_empty()).then(|| (Writer::Direct, uids.to_vec())),
            gid: (!gids.is_empty()).then(|| (Writer::Direct, gids.to_vec())),
            privileged: true,
        });
    }
    let one = |kind: &Kind, maps: &[LinuxIdMapping], own: u32| {
        if maps.is_empty() {
            return Ok(None);
        }
        if is_own_id_only(maps, own) {
            return Ok(Some((Writer::Direct, maps.to_vec())));
        }
        let text = std::fs::read_to_string(kind.subid_file).unwrap_or_default();
        let ranges = subid_ranges(&text, caller);
        check_granted(kind, maps, own, &ranges, caller)?;
        if find_tool(kind.tool).is_none() {
            return Err(Error::NotGranted {
                field: kind.field,
                uid: caller.uid,
                own,
                why: format!("{} not found in PATH (Debian package uidmap)", kind.tool),
            });
        }
        Ok(Some((Writer::Helper, maps.to_vec())))
    };
    Ok(Plan {
        uid: one(&UID, uids, caller.uid)?,
        gid: one(&GID, gids, caller.gid)?,
        privileged: false,
    })
}

impl Plan {
    /// Writes the maps of the process `pid`, which has just unshared its user
    /// namespace and is dumpable (so its /proc files belong to the caller).
    pub fn write(&self, pid: i32) -> Result<(), Error> {
        if let Some((w, maps)) = &self.uid {
            write_one(&UID, *w, pid, maps)?;
        }
        if let Some((w, maps)) = &self.gid {
            if *w == Writer::Direct && !self.privileged {
                let path = format!("/proc/{pid}/setgroups");
                std::fs::write(&path, "deny").map_err(|source| Error::Write { path, source })?;
            }
            write_one(&GID, *w, pid, maps)?;
        }
        Ok(())
    }

    /// Whether a helper or an unprivileged write needs the child dumpable.
    pub fn needs_dumpable(&self) -> bool {
        !self.privileged
    }
}

fn write_one(kind: &Kind, w: Writer, pid: i32, maps: &[LinuxIdMapping]) -> Result<(), Error> {
    match w {
        Writer::Direct => {
            let path = format!("/proc/{pid}/{}", kind.map_file);
            std::fs::write(&path, id_map_text(maps)).map_err(|source| Error::Write { path, source })
        }
        Writer::Helper => {
            let tool = find_tool(kind.tool).unwrap_or_else(|| PathBuf::from(kind.tool));
            let mut cmd = Command::new(&tool);
            cmd.arg(pid.to_string());
            for m in maps {
                cmd.args([
                    m.container_id().to_string(),
                    m.host_id().to_string(),
                    m.size().to_string(),
                ]);
            }
            let out = cmd.output().map_err(|e| Error::Helper {
                tool: kind.tool,
                pid,
                detail: format!("cannot run {}: {e}", tool.display()),
            })?;
            if out.status.success() {
                return Ok(());
            }
            let msg = String::from_utf8_lossy(&out.stderr);
            Err(Error::Helper {
                tool: kind.tool,
                pid,
                detail: format!("{} ({})", msg.trim(), out.status),
            })
        }
    }
}

/// A single line mapping exactly the caller's own id: what the kernel lets
/// an unprivileged process write.
fn is_own_id_only(maps: &[LinuxIdMapping], own: u32) -> bool {
    matches!(maps, [m] if m.host_id() == own && m.size() == 1)
}

/// `[first, end)` host id ranges granted to `caller` by a subuid/subgid file
/// (`name:start:count` or `uid:start:count` lines).
fn subid_ranges(text: &str, caller: &Caller) -> Vec<(u64, u64)> {
    let uid = caller.uid.to_string();
    text.lines()
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (who, start, count) = (f.next()?, f.next()?, f.next()?);
            let mine = who == uid || caller.name.as_deref() == Some(who);
            let start: u64 = start.trim().parse().ok()?;
            let count: u64 = count.trim().parse().ok()?;
            (mine && count > 0).then_some((start, start + count))
        })
        .collect()
}

fn check_granted(
    kind: &Kind,
    maps: &[LinuxIdMapping],
    own: u32,
    ranges: &[(u64, u64)],
    caller: &Caller,
) -> Result<(), Error> {
    for m in maps {
        let first = u64::from(m.host_id());
        let end = first + u64::from(m.size());
        let own_only = m.size() == 1 && m.host_id() == own;
        let granted = ranges.iter().any(|(s, e)| *s <= first && end <= *e);
        if !own_only && !granted {
            return Err(Error::OutsideSubids {
                field: kind.field,
                first,
                last: end.saturating_sub(1),
                user: caller.describe(),
                file: kind.subid_file,
            });
        }
    }
    Ok(())
}

fn find_tool(name: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin".into());
    std::env::split_paths(&path)
        .chain([PathBuf::from("/usr/bin")])
        .map(|d| d.join(name))
        .find(|p| is_executable(p))
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// Formats id mappings as `/proc/<pid>/uid_map` wants them.
pub fn id_map_text(maps: &[LinuxIdMapping]) -> String {
    maps.iter()
        .map(|m| format!("{} {} {}\n", m.container_id(), m.host_id(), m.size()))
        .collect()
}

/// Maps a container uid to its host uid through the mappings.
pub fn map_to_host(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        let off = id.checked_sub(m.container_id())?;
        (off < m.size()).then(|| m.host_id() + off)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use oci_spec::runtime::LinuxIdMappingBuilder;

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        LinuxIdMappingBuilder::default()
            .container_id(c)
            .host_id(h)
            .size(n)
            .build()
            .unwrap()
    }

    fn bob() -> Caller {
        Caller {
            uid: 1000,
            gid: 1000,
            name: Some("bob".into()),
        }
    }

    #[test]
    fn root_writes_everything_itself() {
        let root = Caller {
            uid: 0,
            gid: 0,
            name: None,
        };
        let p = check(&root, &[map(0, 100000, 65536)], &[map(0, 100000, 65536)]).unwrap();
        assert!(!p.needs_dumpable());
        assert_eq!(p.uid.as_ref().unwrap().0, Writer::Direct);
    }

    #[test]
    fn own_id_is_written_directly() {
        let p = check(&bob(), &[map(0, 1000, 1)], &[map(0, 1000, 1)]).unwrap();
        assert_eq!(p.uid.as_ref().unwrap().0, Writer::Direct);
        assert_eq!(p.gid.as_ref().unwrap().0, Writer::Direct);
        assert!(p.needs_dumpable());
    }

    #[test]
    fn subid_lines_by_name_or_uid() {
        let text = "alice:100000:65536\nbob:200000:65536\n1000:300000:10\nbad line\n";
        assert_eq!(
            subid_ranges(text, &bob()),
            vec![(200000, 265536), (300000, 300010)]
        );
    }

    #[test]
    fn ranges_outside_the_grant_are_refused() {
        let ranges = [(200000, 265536)];
        let ok = [map(0, 1000, 1), map(1, 200000, 65536)];
        check_granted(&UID, &ok, 1000, &ranges, &bob()).unwrap();
        let bad = [map(0, 1000, 1), map(1, 200000, 65537)];
        let e = check_granted(&UID, &bad, 1000, &ranges, &bob()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "linux.uidMappings: host ids 200000-265536 are not granted to user bob (uid 1000) in /etc/subuid"
        );
        let other = [map(0, 0, 1)];
        assert!(check_granted(&UID, &other, 1000, &ranges, &bob()).is_err());
    }

    #[test]
    fn id_maps_format_and_translate() {
        let maps = vec![
            LinuxIdMappingBuilder::default()
                .container_id(0u32)
                .host_id(1000u32)
                .size(1u32)
                .build()
                .unwrap(),
            LinuxIdMappingBuilder::default()
                .container_id(1u32)
                .host_id(100000u32)
                .size(65536u32)
                .build()
                .unwrap(),
        ];
        assert_eq!(id_map_text(&maps), "0 1000 1\n1 100000 65536\n");
        assert_eq!(map_to_host(&maps, 0), Some(1000));
        assert_eq!(map_to_host(&maps, 5), Some(100004));
        assert_eq!(map_to_host(&maps, 70000), None);
    }
}
