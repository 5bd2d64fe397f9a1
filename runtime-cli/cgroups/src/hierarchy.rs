//! Discovery of the host's cgroup hierarchies from mountinfo (or their default
//! mount points) and /proc/self/cgroup.

use std::path::{Path, PathBuf};

use crate::{fs, Error};

/// How cgroups are laid out on the host.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Layout {
    /// Only cgroup v1 hierarchies are mounted.
    V1,
    /// cgroup v1 hierarchies plus a cgroup2 mount (often `/sys/fs/cgroup/unified`)
    /// that gets the controllers not bound to any v1 hierarchy.
    Hybrid,
    /// A single cgroup2 hierarchy (usually at `/sys/fs/cgroup`).
    V2,
}

/// One mounted cgroup hierarchy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Mount {
    /// Controllers it carries. For v1 these come from the mount's super options and
    /// include named hierarchies such as `name=systemd`; for cgroup2 they are the
    /// mount root's `cgroup.controllers`.
    pub controllers: Vec<String>,
    /// Where the hierarchy is mounted.
    pub mountpoint: PathBuf,
    /// The cgroup shown at the mountpoint (mountinfo field 4), `/` unless only a
    /// sub-tree of the hierarchy is mounted (e.g. bind mounts inside a container).
    pub root: String,
    /// This process's cgroup in the hierarchy, as /proc/self/cgroup lists it.
    pub own_cgroup: Option<String>,
}

impl Mount {
    /// The directory of this process's own cgroup, translating /proc/self/cgroup's
    /// hierarchy-absolute path through the mount's root.
    pub(crate) fn own_dir(&self) -> Result<PathBuf, Error> {
        let name = self.controllers.join(",");
        let own = self.own_cgroup.as_deref().ok_or_else(|| {
            Error::Detect(format!(
                "hierarchy {name:?} mounted at {} is not listed in /proc/self/cgroup",
                self.mountpoint.display()
            ))
        })?;
        let rel = strip_cgroup_prefix(own, &self.root).ok_or_else(|| {
            Error::Detect(format!(
                "own cgroup {own} in hierarchy {name:?} is outside the part mounted at {} (root {})",
                self.mountpoint.display(),
                self.root
            ))
        })?;
        Ok(join_cgroup(&self.mountpoint, rel))
    }
}

/// The cgroup hierarchies mounted on the host, as seen by this process.
#[derive(Clone, Debug)]
pub struct Hierarchies {
    v1: Vec<Mount>,
    unified: Option<Mount>,
}

impl Hierarchies {
    /// Reads /proc/self/cgroup and finds each hierarchy at its usual mount
    /// point under /sys/fs/cgroup; where one is not there, reads
    /// /proc/self/mountinfo (see [`crate::default_paths`]). Plus the cgroup2
    /// mount's `cgroup.controllers`.
    pub fn detect() -> Result<Self, Error> {
        let proc_cgroup = read_proc("/proc/self/cgroup")?;
        match crate::default_paths::find(&proc_cgroup)? {
            Some((v1, unified)) => Self::with_unified_controllers(v1, unified),
            None => Self::from_strings(&read_proc("/proc/self/mountinfo")?, &proc_cgroup),
        }
    }

    /// Builds the hierarchies from mountinfo text and `/proc/<pid>/cgroup` text.
    ///
    /// Besides parsing, this reads `cgroup.controllers` at the cgroup2 mountpoint
    /// named in `mountinfo` (a missing file means no controllers), so unit tests can
    /// point everything at a fake tree.
    pub fn from_strings(mountinfo: &str, proc_cgroup: &str) -> Result<Self, Error> {
        let own = parse_proc_cgroup(proc_cgroup)?;
        let mut v1: Vec<Mount> = Vec::new();
        let mut unified: Option<Mount> = None;
        for line in visible_cgroup_lines(mountinfo) {
            let Some(m) = parse_mountinfo_line(line)? else {
                continue;
            };
            match m {
                RawMount::V1 {
                    controllers,
                    mountpoint,
                    root,
                } => {
                    // The same hierarchy can be mounted several times (bind mounts);
                    // like runc, the first mount wins.
                    let seen = v1
                        .iter()
                        .any(|h| h.controllers.iter().any(|c| controllers.contains(c)));
                    if seen || controllers.is_empty() {
                        continue;
                    }
                    let own_cgroup = own
                        .iter()
                        .find(|(ctrls, _)| ctrls.iter().any(|c| controllers.contains(c)))
                        .map(|(_, p)| p.clone());
                    v1.push(Mount {
                        controllers,
                        mountpoint,
                        root,
                        own_cgroup,
                    });
                }
                RawMount::V2 { mountpoint, root } if unified.is_none() => {
                    let own_cgroup = own
                        .iter()
                        .find(|(ctrls, _)| ctrls.is_empty())
                        .map(|(_, p)| p.clone());
                    unified = Some(Mount {
                        controllers: Vec::new(),
                        mountpoint,
                        root,
                        own_cgroup,
                    });
                }
                RawMount::V2 { .. } => {}
            }
        }
        Self::with_unified_controllers(v1, unified)
    }

    /// The hierarchies once found, the cgroup2 mount's controllers read from
    /// its `cgroup.controllers`.
    fn with_unified_controllers(v1: Vec<Mount>, mut unified: Option<Mount>) -> Result<Self, Error> {
        if let Some(u) = unified.as_mut() {
            let text = fs::read_opt(&u.mountpoint, "cgroup.controllers")?.unwrap_or_default();
            // A controller bound to a v1 hierarchy never shows up in cgroup2, but
            // filter anyway so each controller has exactly one home.
            u.controllers = text
                .split_whitespace()
                .filter(|c| !v1.iter().any(|h| h.controllers.iter().any(|x| x == c)))
                .map(str::to_string)
                .collect();
        }
        if v1.is_empty() && unified.is_none() {
            return Err(Error::Detect("no cgroup filesystem is mounted".into()));
        }
        Ok(Hierarchies { v1, unified })
    }

    /// Whether the host uses only the unified (cgroup v2) hierarchy.
    pub fn is_v2_only(&self) -> bool {
        self.layout() == Layout::V2
    }

    /// The host's cgroup layout.
    pub fn layout(&self) -> Layout {
        match (self.v1.is_empty(), self.unified.is_some()) {
            (true, _) => Layout::V2,
            (false, true) => Layout::Hybrid,
            (false, false) => Layout::V1,
        }
    }

    /// The cgroup v1 hierarchies, one per mounted hierarchy, in mountinfo order.
    pub fn v1_mounts(&self) -> &[Mount] {
        &self.v1
    }

    /// The cgroup2 mount, if any.
    pub fn unified(&self) -> Option<&Mount> {
        self.unified.as_ref()
    }
}

/// A cgroup mount as found in mountinfo, before own cgroups are attached.
enum RawMount {
    V1 {
        controllers: Vec<String>,
        mountpoint: PathBuf,
        root: String,
    },
    V2 {
        mountpoint: PathBuf,
        root: String,
    },
}

/// Parses one mountinfo line, returning `None` for non-cgroup mounts.
///
/// Format (proc(5)): `id parent maj:min root mountpoint opts [optional...] - fstype source superopts`.
fn parse_mountinfo_line(line: &str) -> Result<Option<RawMount>, Error> {
    let m = berth_mountinfo::parse_line(line)
        .ok_or_else(|| Error::Detect(format!("invalid mountinfo line {line:?}")))?;
    let root = m.root.into_owned();
    let mountpoint = PathBuf::from(m.mount_point.as_ref());
    match m.fstype {
        "cgroup2" => Ok(Some(RawMount::V2 { mountpoint, root })),
        "cgroup" => {
            let controllers = m
                .super_options
                .split(',')
                .filter(|o| is_v1_controller_option(o))
                .map(str::to_string)
                .collect();
            Ok(Some(RawMount::V1 {
                controllers,
                mountpoint,
                root,
            }))
        }
        _ => Ok(None),
    }
}

/// Whether a cgroup v1 super option names a controller (`cpu`, `name=systemd`)
/// rather than being a mount flag.
fn is_v1_controller_option(o: &str) -> bool {
    const FLAGS: &[&str] = &[
        "rw",
        "ro",
        "none",
        "all",
        "noprefix",
        "clone_children",
        "cpuset_v2_mode",
        "xattr",
        "favordynmods",
        "nofavordynmods",
    ];
    !o.is_empty() && !FLAGS.contains(&o) && (o.starts_with("name=") || !o.contains('='))
}

fn read_proc(path: &str) -> Result<String, Error> {
    std::fs::read_to_string(path).map_err(|source| Error::Read {
        path: path.into(),
        source,
    })
}

/// Parses `/proc/<pid>/cgroup`: `id:controllers:path` lines. Returns the controller
/// list (empty for the unified hierarchy) and path of each line.
pub(crate) fn parse_proc_cgroup(s: &str) -> Result<Vec<(Vec<String>, String)>, Error> {
    s.lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let mut it = l.splitn(3, ':');
            let (_id, ctrls, path) = match (it.next(), it.next(), it.next()) {
                (Some(a), Some(b), Some(c)) => (a, b, c),
                _ => {
                    return Err(Error::Detect(format!(
                        "invalid /proc/self/cgroup line {l:?}"
                    )))
                }
            };
            let ctrls = ctrls
                .split(',')
                .filter(|c| !c.is_empty())
                .map(str::to_string)
                .collect();
            Ok((ctrls, path.to_string()))
        })
        .collect()
}

/// `path` relative to `prefix` when `path` is `prefix` or below it, compared by
/// whole components.
fn strip_cgroup_prefix<'a>(path: &'a str, prefix: &str) -> Option<&'a str> {
    let prefix = prefix.trim_end_matches('/');
    let rest = path.strip_prefix(prefix)?;
    if rest.is_empty() || rest.starts_with('/') {
        Some(rest.trim_start_matches('/'))
    } else {
        None
    }
}

/// Joins a cgroup path (absolute or relative, already cleaned) under `dir`.
pub(crate) fn join_cgroup(dir: &Path, path: &str) -> PathBuf {
    let mut out = dir.to_path_buf();
    for c in path.split('/').filter(|c| !c.is_empty()) {
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{hybrid_mountinfo, HYBRID_PROC_CGROUP};

    #[test]
    fn parses_this_hosts_hybrid_layout() {
        let h = Hierarchies::from_strings(
            &hybrid_mountinfo(Path::new("/sys/fs/cgroup")),
            HYBRID_PROC_CGROUP,
        )
        .unwrap();
        assert_eq!(h.layout(), Layout::Hybrid);
        assert!(!h.is_v2_only());
        let names: Vec<_> = h
            .v1_mounts()
            .iter()
            .map(|m| m.controllers.join(","))
            .collect();
        assert_eq!(
            names,
            [
                "cpu",
                "cpuacct",
                "cpuset",
                "memory",
                "devices",
                "freezer",
                "blkio",
                "pids",
                "name=systemd"
            ]
        );
        let mem = &h.v1_mounts()[3];
        assert_eq!(mem.mountpoint, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mem.own_cgroup.as_deref(), Some("/process_api/e93"));
        assert_eq!(
            mem.own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/process_api/e93")
        );
        let u = h.unified().unwrap();
        assert_eq!(u.mountpoint, Path::new("/sys/fs/cgroup/unified"));
        assert_eq!(u.own_cgroup.as_deref(), Some("/"));
    }

    #[test]
    fn combined_controllers_and_flags() {
        let mi = "\
25 24 0:22 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,xattr,cpu,cpuacct
26 24 0:23 / /sys/fs/cgroup/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio
27 24 0:24 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,release_agent=/lib/systemd/systemd-cgroups-agent,name=systemd
28 24 0:22 / /run/other/cpu rw - cgroup cgroup rw,cpu,cpuacct
";
        let pc = "3:cpu,cpuacct:/a\n2:net_cls,net_prio:/\n1:name=systemd:/user.slice\n";
        let h = Hierarchies::from_strings(mi, pc).unwrap();
        assert_eq!(h.layout(), Layout::V1);
        let m = h.v1_mounts();
        // The second mount of cpu,cpuacct is ignored.
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].controllers, ["cpu", "cpuacct"]);
        assert_eq!(m[0].own_cgroup.as_deref(), Some("/a"));
        assert_eq!(m[1].controllers, ["net_cls", "net_prio"]);
        assert_eq!(m[2].controllers, ["name=systemd"]);
        assert_eq!(m[2].own_cgroup.as_deref(), Some("/user.slice"));
    }

    #[test]
    fn v2_reads_controllers_from_the_mount() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(
            t.path().join("cgroup.controllers"),
            "cpuset cpu io memory hugetlb pids rdma misc\n",
        )
        .unwrap();
        let mi = format!(
            "30 23 0:26 / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate,memory_recursiveprot\n",
            t.path().display()
        );
        let h = Hierarchies::from_strings(&mi, "0::/user.slice/session-1.scope\n").unwrap();
        assert!(h.is_v2_only());
        assert_eq!(h.layout(), Layout::V2);
        let u = h.unified().unwrap();
        assert_eq!(
            u.controllers,
            ["cpuset", "cpu", "io", "memory", "hugetlb", "pids", "rdma", "misc"]
        );
        assert_eq!(
            u.own_dir().unwrap(),
            t.path().join("user.slice/session-1.scope")
        );
    }

    #[test]
    fn nested_mount_root_is_translated() {
        // Inside a container without a cgroup namespace: the host's /docker/abc is
        // mounted at /sys/fs/cgroup/memory, and /proc/self/cgroup shows host paths.
        let mi = "50 40 0:32 /docker/abc /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n\
                  51 40 0:38 /docker/abc /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
        let pc = "4:memory:/docker/abc/init\n0::/docker/abc\n";
        let h = Hierarchies::from_strings(mi, pc).unwrap();
        assert_eq!(
            h.v1_mounts()[0].own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/memory/init")
        );
        assert_eq!(
            h.unified().unwrap().own_dir().unwrap(),
            Path::new("/sys/fs/cgroup/unified")
        );
        // A cgroup outside the mounted sub-tree cannot be reached.
        let h = Hierarchies::from_strings(mi, "4:memory:/docker/abcd\n0::/\n").unwrap();
        let e = h.v1_mounts()[0].own_dir().unwrap_err().to_string();
        assert!(e.contains("outside the part mounted"), "{e}");
    }

    #[test]
    fn escaped_mountpoint() {
        let mi = "32 31 0:29 / /mnt/my\\040cgroups/cpu rw - cgroup cgroup rw,cpu\n";
        let h = Hierarchies::from_strings(mi, "1:cpu:/\n").unwrap();
        assert_eq!(
            h.v1_mounts()[0].mountpoint,
            Path::new("/mnt/my cgroups/cpu")
        );
    }

    #[test]
    fn errors() {
        assert!(Hierarchies::from_strings("", "").is_err());
        // only cgroup lines are parsed; a cut-off one is an error
        let e = Hierarchies::from_strings("garbage line\n32 31 0:29 / - cgroup\n", "1:cpu:/\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid mountinfo line"), "{e}");
        let e = Hierarchies::from_strings(&hybrid_mountinfo(Path::new("/x")), "nonsense\n")
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid /proc/self/cgroup line"), "{e}");
    }

    #[test]
    fn prefix_by_components() {
        assert_eq!(strip_cgroup_prefix("/a/b", "/"), Some("a/b"));
        assert_eq!(strip_cgroup_prefix("/a/b", "/a"), Some("b"));
        assert_eq!(strip_cgroup_prefix("/a", "/a"), Some(""));
        assert_eq!(strip_cgroup_prefix("/ab", "/a"), None);
    }

    #[test]
    fn detect_on_this_host() {
        // Every Linux test host has some cgroup mount.
        let h = Hierarchies::detect().unwrap();
        assert!(!h.v1_mounts().is_empty() || h.unified().is_some());
    }

    #[test]
    fn default_paths_agree_with_mountinfo_on_this_host() {
        let proc_cgroup = read_proc("/proc/self/cgroup").unwrap();
        let from_mountinfo =
            Hierarchies::from_strings(&read_proc("/proc/self/mountinfo").unwrap(), &proc_cgroup)
                .unwrap();
        let Some((v1, unified)) = crate::default_paths::find(&proc_cgroup).unwrap() else {
            eprintln!("this host's hierarchies are not all at /sys/fs/cgroup: mountinfo is read");
            return;
        };
        let fast = Hierarchies::with_unified_controllers(v1, unified).unwrap();
        let by_mountpoint = |h: &Hierarchies| {
            let mut v = h.v1_mounts().to_vec();
            v.sort_by(|a, b| a.mountpoint.cmp(&b.mountpoint));
            v
        };
        assert_eq!(by_mountpoint(&fast), by_mountpoint(&from_mountinfo));
        assert_eq!(fast.unified(), from_mountinfo.unified());
        assert_eq!(fast.layout(), from_mountinfo.layout());
    }
}

/// The cgroup and cgroup2 mounts of `mountinfo` that are reachable by path
/// (`berth_mountinfo::visible_lines`). Hosts running many containers have
/// thousands of mounts: only the few cgroup lines are checked against the
/// others.
pub fn visible_cgroup_lines(mountinfo: &str) -> Vec<&str> {
    berth_mountinfo::visible_lines_where(mountinfo, |line| {
        matches!(berth_mountinfo::fstype(line), Some("cgroup" | "cgroup2"))
    })
}

#[cfg(test)]
mod visibility_tests {
    use super::*;

    #[test]
    fn cgroup_lines_only() {
        let info = "\
23 1 0:21 / / rw - ext4 /dev/vda rw
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw shared:5 - cgroup2 cgroup2 rw
50 32 0:29 / /sys/fs/cgroup/cpu/x\\040y rw - cgroup cgroup rw,cpu
";
        let v = visible_cgroup_lines(info);
        assert_eq!(v.len(), 3, "{v:?}");
        assert!(v
            .iter()
            .all(|l| !l.contains("tmpfs") && !l.contains("ext4")));
    }

    #[test]
    fn covered_mounts_are_dropped() {
        let info = "\
31 23 0:28 / /sys/fs/cgroup rw - tmpfs tmpfs rw
32 31 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw
90 23 0:50 / /sys/fs/cgroup rw - tmpfs cgroup-root rw
91 90 0:29 / /sys/fs/cgroup/cpu rw - cgroup cgroup rw,cpu
";
        let v = visible_cgroup_lines(info);
        assert_eq!(v.len(), 1, "{v:?}");
        assert!(v[0].starts_with("91 "));
        let h = Hierarchies::from_strings(info, "1:cpu:/\n0::/\n").unwrap();
        assert!(h.unified().is_none());
        assert_eq!(h.v1_mounts().len(), 1);
    }
}
