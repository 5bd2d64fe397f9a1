//! Compiled programs kept on disk: a profile is compiled once per host,
//! libseccomp and architecture, not once per container and exec.
//!
//! An entry's file is named by a hash of its key and holds the whole key:
//! the format's version, the libseccomp version and API level, the
//! architecture and the profile as JSON. A file whose key differs (a
//! collision, a libseccomp upgrade) or that is torn or unreadable is a
//! miss, replaced by the next compile. An entry is written whole under a
//! temporary name and renamed, so no reader sees part of one. The cache is
//! used only in a directory that the runtime's user owns and nobody else
//! may write: what is in it is trusted as the runtime's own state is, and
//! the kernel checks every program it loads. Failing to write an entry
//! costs the next start a compile, never a container.

use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxSeccomp, LinuxSeccompAction};

use crate::{Error, Filter, Program};

/// The first bytes of an entry; a new layout gets a new number.
const MAGIC: &[u8] = b"berth-seccomp-bpf 1\n";
/// Entries kept; past this the least recently written go.
const MAX_ENTRIES: usize = 64;

/// Compiled programs under one directory.
#[derive(Debug, Clone)]
pub struct Cache {
    dir: PathBuf,
}

impl Cache {
    /// The cache in `dir` (made on first use, mode 0700).
    pub fn new(dir: impl Into<PathBuf>) -> Cache {
        Cache { dir: dir.into() }
    }

    /// The program for `profile`: from the cache, or validated, compiled
    /// and kept. `None` for a NOTIFY profile, validated only: its filter is
    /// built and loaded ([`Filter::load`]) in the process it confines, which
    /// gets the listener fd from that load.
    pub fn program(&self, profile: &LinuxSeccomp) -> Result<Option<Program>, Error> {
        let notify = profile
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == LinuxSeccompAction::ScmpActNotify);
        if notify {
            Filter::build(profile)?;
            return Ok(None);
        }
        let key = key(profile);
        let path = self.dir.join(format!("{:016x}", hash(&key)));
        let usable = self.usable();
        if usable {
            if let Some(p) = fs::read(&path).ok().and_then(|b| decode(&b, &key)) {
                return Ok(Some(p));
            }
        }
        let program = Filter::build(profile)?.compile()?;
        if let Some(p) = &program {
            if usable || self.make_dir() {
                let _ = self.store(&path, &encode(&key, p));
            }
        }
        Ok(program)
    }

    /// True when the directory exists, is this user's and only its writer.
    fn usable(&self) -> bool {
        fs::symlink_metadata(&self.dir).is_ok_and(|m| {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            m.is_dir() && m.uid() == me && m.mode() & 0o022 == 0
        })
    }

    /// Makes the directory (its parents as `create_dir_all` does, itself
    /// 0700) and says whether it is usable.
    fn make_dir(&self) -> bool {
        if let Some(parent) = self.dir.parent() {
            let _ = fs::create_dir_all(parent);
        }
        let _ = fs::DirBuilder::new().mode(0o700).create(&self.dir);
        self.usable()
    }

    /// Writes `bytes` under a temporary name, syncs and renames it to `path`,
    /// then trims the cache to [`MAX_ENTRIES`].
    fn store(&self, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
        let tmp = self
            .dir
            .join(format!(".tmp-{}-{:x}", std::process::id(), hash(bytes)));
        let written = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .and_then(|mut f| {
                f.write_all(bytes)?;
                f.sync_all()
            })
            .and_then(|()| fs::rename(&tmp, path));
        if written.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        written?;
        self.trim();
        Ok(())
    }

    /// Removes the least recently written entries past [`MAX_ENTRIES`].
    fn trim(&self) {
        let Ok(rd) = fs::read_dir(&self.dir) else {
            return;
        };
        let mut entries: Vec<((i64, i64), PathBuf)> = rd
            .flatten()
            .filter(|e| !e.file_name().as_encoded_bytes().starts_with(b"."))
            .filter_map(|e| {
                let m = e.metadata().ok()?;
                Some(((m.mtime(), m.mtime_nsec()), e.path()))
            })
            .collect();
        if entries.len() <= MAX_ENTRIES {
            return;
        }
        entries.sort();
        for (_, p) in &entries[..entries.len() - MAX_ENTRIES] {
            let _ = fs::remove_file(p);
        }
    }
}

/// What a program depends on: this format, libseccomp, the kernel's API
/// level as libseccomp sees it, the architecture and the profile.
fn key(profile: &LinuxSeccomp) -> Vec<u8> {
    let mut k = format!(
        "libseccomp {} api {} arch {}\n",
        crate::libseccomp_version(),
        libseccomp::get_api(),
        std::env::consts::ARCH
    )
    .into_bytes();
    // a profile always serialises: it is plain strings, numbers and lists
    k.extend(serde_json::to_vec(profile).unwrap_or_default());
    k
}

fn hash(bytes: &[u8]) -> u64 {
    let mut h = std::hash::DefaultHasher::new();
    bytes.hash(&mut h);
    h.finish()
}

/// MAGIC, the key's length and bytes, the flags, the program's length and
/// bytes; numbers little-endian u32.
fn encode(key: &[u8], p: &Program) -> Vec<u8> {
    let insns = p.bytes();
    let mut out = Vec::with_capacity(MAGIC.len() + 12 + key.len() + insns.len());
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&(key.len() as u32).to_le_bytes());
    out.extend_from_slice(key);
    out.extend_from_slice(&p.flags().to_le_bytes());
    out.extend_from_slice(&(insns.len() as u32).to_le_bytes());
    out.extend_from_slice(&insns);
    out
}

/// The program of an entry whose key is `key`; `None` for any other file.
fn decode(bytes: &[u8], key: &[u8]) -> Option<Program> {
    fn take<'a>(b: &mut &'a [u8], n: usize) -> Option<&'a [u8]> {
        let (head, rest) = (b.len() >= n).then(|| b.split_at(n))?;
        *b = rest;
        Some(head)
    }
    fn number(b: &mut &[u8]) -> Option<u32> {
        take(b, 4).map(|n| u32::from_le_bytes([n[0], n[1], n[2], n[3]]))
    }
    let mut b = bytes;
    (take(&mut b, MAGIC.len())? == MAGIC).then_some(())?;
    let len = number(&mut b)? as usize;
    (take(&mut b, len)? == key).then_some(())?;
    let flags = number(&mut b)?;
    let len = number(&mut b)? as usize;
    let insns = take(&mut b, len)?;
    b.is_empty().then_some(())?;
    Program::from_parts(insns, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(v: serde_json::Value) -> LinuxSeccomp {
        crate::profile_from_json(&v).expect("test profile decodes")
    }

    fn blocks_mkdir() -> LinuxSeccomp {
        profile(serde_json::json!({
            "defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO"}]
        }))
    }

    fn entries(dir: &Path) -> Vec<PathBuf> {
        fs::read_dir(dir)
            .map(|rd| rd.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    #[test]
    fn a_compile_is_kept_and_read_back_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path().join("runtime/c"));
        let first = cache.program(&blocks_mkdir()).unwrap().expect("compiled");
        let files = entries(&dir.path().join("runtime/c"));
        assert_eq!(files.len(), 1, "one entry, no temporary left: {files:?}");
        let bytes = fs::read(&files[0]).unwrap();
        assert_eq!(decode(&bytes, &key(&blocks_mkdir())), Some(first.clone()));
        // a hit gives the same program libseccomp makes afresh
        let again = cache.program(&blocks_mkdir()).unwrap().expect("cached");
        let fresh = Filter::build(&blocks_mkdir()).unwrap().compile().unwrap();
        assert_eq!(Some(again), fresh);
    }

    #[test]
    fn a_torn_or_foreign_entry_is_a_miss_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let good = cache.program(&blocks_mkdir()).unwrap().unwrap();
        let path = entries(dir.path()).remove(0);
        let bytes = fs::read(&path).unwrap();
        for bad in [
            bytes[..bytes.len() - 3].to_vec(),
            [bytes.as_slice(), b"x"].concat(),
            b"berth-seccomp-bpf 9\n".to_vec(),
            Vec::new(),
        ] {
            fs::write(&path, &bad).unwrap();
            assert_eq!(decode(&bad, &key(&blocks_mkdir())), None);
            assert_eq!(cache.program(&blocks_mkdir()).unwrap(), Some(good.clone()));
            assert_eq!(fs::read(&path).unwrap(), bytes, "rewritten whole");
        }
        // another profile's entry under this name is not this profile's
        let other = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_KILL"}]}));
        assert_eq!(decode(&bytes, &key(&other)), None);
    }

    #[test]
    fn a_directory_others_may_write_is_not_used() {
        let dir = tempfile::tempdir().unwrap();
        use std::os::unix::fs::PermissionsExt;
        fs::set_permissions(dir.path(), fs::Permissions::from_mode(0o777)).unwrap();
        let cache = Cache::new(dir.path());
        assert!(cache.program(&blocks_mkdir()).unwrap().is_some());
        assert!(entries(dir.path()).is_empty(), "nothing written");
    }

    #[test]
    fn a_bad_profile_fails_as_without_the_cache_and_notify_is_not_compiled() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        let bad = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": [""], "action": "SCMP_ACT_ERRNO"}]}));
        assert!(matches!(
            cache.program(&bad),
            Err(Error::EmptySyscallName { .. })
        ));
        let notify = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
            "listenerPath": "/run/agent.sock",
            "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}));
        assert_eq!(cache.program(&notify).unwrap(), None);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn the_oldest_entries_go_past_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        let cache = Cache::new(dir.path());
        for errno in 1..=(MAX_ENTRIES as u32 + 3) {
            let p = profile(serde_json::json!({"defaultAction": "SCMP_ACT_ALLOW",
                "syscalls": [{"names": ["mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno}]}));
            cache.program(&p).unwrap();
        }
        assert_eq!(entries(dir.path()).len(), MAX_ENTRIES);
    }
}
