//! Fake cgroup trees for unit tests: plain directories and files in a tempdir,
//! described to [`Hierarchies::from_strings`] through a matching mountinfo.

use std::fs;
use std::path::{Path, PathBuf};

use crate::Hierarchies;

/// /proc/self/cgroup of a process on this project's hybrid CI host.
pub(crate) const HYBRID_PROC_CGROUP: &str = "\
9:name=systemd:/
8:pids:/
7:blkio:/
6:freezer:/
5:devices:/
4:memory:/process_api/e93
3:cpuset:/
2:cpuacct:/
1:cpu:/
0::/
";

/// The v1 hierarchies of the hybrid host (separate cpu and cpuacct), by directory
/// name and super options.
const HYBRID_V1: &[(&str, &str)] = &[
    ("cpu", "rw,cpu"),
    ("cpuacct", "rw,cpuacct"),
    ("cpuset", "rw,cpuset"),
    ("memory", "rw,memory"),
    ("devices", "rw,devices"),
    ("freezer", "rw,freezer"),
    ("blkio", "rw,blkio"),
    ("pids", "rw,pids"),
    ("systemd", "rw,name=systemd"),
];

/// mountinfo of the hybrid host with its cgroup tmpfs at `root`.
pub(crate) fn hybrid_mountinfo(root: &Path) -> String {
    let r = root.display();
    let mut s = format!(
        "23 1 0:21 / /sys rw,nosuid,nodev,noexec,relatime shared:7 - sysfs sysfs rw\n\
         31 23 0:28 / {r} rw,relatime - tmpfs tmpfs rw,mode=755\n"
    );
    for (i, (dir, opts)) in HYBRID_V1.iter().enumerate() {
        s += &format!(
            "{} 31 0:{} / {r}/{dir} rw,relatime - cgroup cgroup {opts}\n",
            32 + i,
            29 + i
        );
    }
    s += &format!("41 31 0:38 / {r}/unified rw,relatime - cgroup2 cgroup2 rw\n");
    s
}

/// mountinfo of a pure cgroup v2 host with cgroup2 at `root`.
pub(crate) fn v2_mountinfo(root: &Path) -> String {
    format!(
        "30 23 0:26 / {} rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 rw,nsdelegate\n",
        root.display()
    )
}

pub(crate) fn read(p: &Path) -> String {
    fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

/// Creates `dir` and empty (or given) files in it.
pub(crate) fn touch(dir: &Path, files: &[(&str, &str)]) {
    fs::create_dir_all(dir).unwrap();
    for (f, content) in files {
        fs::write(dir.join(f), content).unwrap();
    }
}

/// A fake hybrid host like this project's CI machine: hugetlb only in cgroup2.
pub(crate) struct FakeHybrid {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) h: Hierarchies,
}

impl FakeHybrid {
    pub(crate) fn new() -> Self {
        Self::with_unified_controllers("hugetlb")
    }

    pub(crate) fn with_unified_controllers(controllers: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        for (dir, _) in HYBRID_V1 {
            touch(&root.join(dir), &[("cgroup.procs", "")]);
        }
        touch(
            &root.join("unified"),
            &[
                ("cgroup.controllers", controllers),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
            ],
        );
        let h = Hierarchies::from_strings(&hybrid_mountinfo(&root), HYBRID_PROC_CGROUP).unwrap();
        FakeHybrid { _tmp: tmp, root, h }
    }
}

/// A fake pure cgroup v2 host.
pub(crate) struct FakeV2 {
    _tmp: tempfile::TempDir,
    pub(crate) root: PathBuf,
    pub(crate) h: Hierarchies,
}

impl FakeV2 {
    pub(crate) fn new(controllers: &str) -> Self {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        touch(
            &root,
            &[
                ("cgroup.controllers", controllers),
                ("cgroup.subtree_control", ""),
                ("cgroup.procs", ""),
            ],
        );
        let h = Hierarchies::from_strings(&v2_mountinfo(&root), "0::/\n").unwrap();
        FakeV2 { _tmp: tmp, root, h }
    }
}
