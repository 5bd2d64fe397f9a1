//! fstab-style mount options (`ro`, `nosuid`, `rbind`, `rprivate`, `rro`,
//! `mode=755`) read the one way mount(8), runc and containerd read them:
//! flags to set or clear, propagation changes applied after the mount,
//! recursive `mount_setattr` attributes, and the rest as filesystem data.
//! The runtime reads a spec's mounts with it, the shim a task's rootfs.

use nix::mount::MsFlags;

/// An empty entry in an option list (`ro,,nosuid`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("empty mount option: remove the empty entry from the option list")]
pub struct EmptyOption;

/// Parsed fstab-style mount options.
#[derive(Debug, Clone, PartialEq)]
pub struct MountOptions {
    pub flags: MsFlags,
    /// propagation changes applied after the mount, in order
    pub propagation: Vec<MsFlags>,
    /// filesystem-specific options passed as mount data
    pub data: Vec<String>,
    /// recursive attributes (rro, rnosuid, ...) set with mount_setattr
    pub recursive_set: u64,
    pub recursive_clear: u64,
    pub tmpcopyup: bool,
}

// mount_setattr(2)'s attribute bits (linux/mount.h), for the recursive
// `r…` options.
pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;
pub const MOUNT_ATTR_NOATIME: u64 = 0x10;
pub const MOUNT_ATTR_STRICTATIME: u64 = 0x20;
pub const MOUNT_ATTR_NODIRATIME: u64 = 0x80;

impl Default for MountOptions {
    fn default() -> Self {
        MountOptions {
            flags: MsFlags::empty(),
            propagation: Vec::new(),
            data: Vec::new(),
            recursive_set: 0,
            recursive_clear: 0,
            tmpcopyup: false,
        }
    }
}

impl MountOptions {
    /// Reads `options` in order, a later option overriding an earlier one
    /// (`ro,rw` is read-write); options that are not flags are the
    /// filesystem's data (`mode=755`, `lowerdir=…`).
    pub fn parse(options: &[String]) -> Result<Self, EmptyOption> {
        let mut o = MountOptions::default();
        for opt in options {
            let set = |o: &mut MountOptions, f: MsFlags| o.flags.insert(f);
            let clear = |o: &mut MountOptions, f: MsFlags| o.flags.remove(f);
            match opt.as_str() {
                "defaults" => {}
                "ro" => set(&mut o, MsFlags::MS_RDONLY),
                "rw" => clear(&mut o, MsFlags::MS_RDONLY),
                "suid" => clear(&mut o, MsFlags::MS_NOSUID),
                "nosuid" => set(&mut o, MsFlags::MS_NOSUID),
                "dev" => clear(&mut o, MsFlags::MS_NODEV),
                "nodev" => set(&mut o, MsFlags::MS_NODEV),
                "exec" => clear(&mut o, MsFlags::MS_NOEXEC),
                "noexec" => set(&mut o, MsFlags::MS_NOEXEC),
                "sync" => set(&mut o, MsFlags::MS_SYNCHRONOUS),
                "async" => clear(&mut o, MsFlags::MS_SYNCHRONOUS),
                "dirsync" => set(&mut o, MsFlags::MS_DIRSYNC),
                "remount" => set(&mut o, MsFlags::MS_REMOUNT),
                "mand" => set(&mut o, MsFlags::MS_MANDLOCK),
                "nomand" => clear(&mut o, MsFlags::MS_MANDLOCK),
                "atime" => clear(&mut o, MsFlags::MS_NOATIME),
                "noatime" => set(&mut o, MsFlags::MS_NOATIME),
                "diratime" => clear(&mut o, MsFlags::MS_NODIRATIME),
                "nodiratime" => set(&mut o, MsFlags::MS_NODIRATIME),
                "relatime" => set(&mut o, MsFlags::MS_RELATIME),
                "norelatime" => clear(&mut o, MsFlags::MS_RELATIME),
                "strictatime" => set(&mut o, MsFlags::MS_STRICTATIME),
                "nostrictatime" => clear(&mut o, MsFlags::MS_STRICTATIME),
                "lazytime" => set(&mut o, MsFlags::MS_LAZYTIME),
                "nolazytime" => clear(&mut o, MsFlags::MS_LAZYTIME),
                "silent" => set(&mut o, MsFlags::MS_SILENT),
                "loud" => clear(&mut o, MsFlags::MS_SILENT),
                "bind" => set(&mut o, MsFlags::MS_BIND),
                "rbind" => set(&mut o, MsFlags::MS_BIND | MsFlags::MS_REC),
                "private" => o.propagation.push(MsFlags::MS_PRIVATE),
                "rprivate" => o.propagation.push(MsFlags::MS_PRIVATE | MsFlags::MS_REC),
                "shared" => o.propagation.push(MsFlags::MS_SHARED),
                "rshared" => o.propagation.push(MsFlags::MS_SHARED | MsFlags::MS_REC),
                "slave" => o.propagation.push(MsFlags::MS_SLAVE),
                "rslave" => o.propagation.push(MsFlags::MS_SLAVE | MsFlags::MS_REC),
                "unbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE),
                "runbindable" => o.propagation.push(MsFlags::MS_UNBINDABLE | MsFlags::MS_REC),
                "tmpcopyup" => o.tmpcopyup = true,
                "rro" => o.recursive_set |= MOUNT_ATTR_RDONLY,
                "rrw" => o.recursive_clear |= MOUNT_ATTR_RDONLY,
                "rnosuid" => o.recursive_set |= MOUNT_ATTR_NOSUID,
                "rsuid" => o.recursive_clear |= MOUNT_ATTR_NOSUID,
                "rnodev" => o.recursive_set |= MOUNT_ATTR_NODEV,
                "rdev" => o.recursive_clear |= MOUNT_ATTR_NODEV,
                "rnoexec" => o.recursive_set |= MOUNT_ATTR_NOEXEC,
                "rexec" => o.recursive_clear |= MOUNT_ATTR_NOEXEC,
                "rnoatime" => o.recursive_set |= MOUNT_ATTR_NOATIME,
                "rstrictatime" => o.recursive_set |= MOUNT_ATTR_STRICTATIME,
                "rnodiratime" => o.recursive_set |= MOUNT_ATTR_NODIRATIME,
                "" => return Err(EmptyOption),
                other => o.data.push(other.to_string()),
            }
        }
        Ok(o)
    }

    /// Whether this is a bind mount (`bind`, `rbind`).
    pub fn is_bind(&self) -> bool {
        self.flags.contains(MsFlags::MS_BIND)
    }

    /// Flags that need a remount after a bind mount (a bind ignores them).
    pub fn bind_remount_flags(&self) -> MsFlags {
        self.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT)
    }

    /// The data argument of mount(2): the non-flag options, comma-joined.
    pub fn data_string(&self) -> String {
        self.data.join(",")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        MountOptions::parse(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap()
    }

    #[test]
    fn mount_options_split_into_flags_propagation_and_data() {
        let o = opts(&[
            "nosuid",
            "noexec",
            "nodev",
            "mode=755",
            "size=65536k",
            "rprivate",
        ]);
        assert_eq!(
            o.flags,
            MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC | MsFlags::MS_NODEV
        );
        assert_eq!(o.data_string(), "mode=755,size=65536k");
        assert_eq!(o.propagation, vec![MsFlags::MS_PRIVATE | MsFlags::MS_REC]);
        let o = opts(&["rbind", "ro"]);
        assert!(o.is_bind());
        assert_eq!(o.bind_remount_flags(), MsFlags::MS_RDONLY);
        let o = opts(&["ro", "rw"]);
        assert!(o.flags.is_empty());
        assert_eq!(MountOptions::parse(&["".into()]), Err(EmptyOption));
    }
}
