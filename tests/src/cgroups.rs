//! A container's cgroup limits as the host sees them (v1 or v2), read
//! through `/proc/PID/cgroup` and the host's cgroup mounts, for tests that
//! check a limit was applied.

/// The cgroup file of `pid`: `v1` in the v1 hierarchy of `controller` when
/// the host has one, else `v2` in its cgroup v2 group.
pub fn cgroup_file(pid: &str, controller: &str, v1: &str, v2: &str) -> std::path::PathBuf {
    let cgroups = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    // (root in the hierarchy, mount point, fstype, super options)
    let mounts: Vec<(String, String, String, String)> = mountinfo
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(' ').collect();
            let sep = f.iter().position(|x| *x == "-")?;
            Some((
                f.get(3)?.to_string(),
                f.get(4)?.to_string(),
                f.get(sep + 1)?.to_string(),
                f.get(sep + 3).unwrap_or(&"").to_string(),
            ))
        })
        .collect();
    let join = |root: &str, mp: &str, path: &str, file: &str| {
        let rel = path
            .strip_prefix(root.trim_end_matches('/'))
            .unwrap_or(path);
        std::path::PathBuf::from(format!("{mp}/{}/{file}", rel.trim_start_matches('/')))
    };
    for line in cgroups.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (Some(ctrls), Some(path)) = (ctrls, path) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            if let Some((root, mp, _, _)) = mounts
                .iter()
                .find(|(_, _, t, o)| t == "cgroup" && o.split(',').any(|c| c == controller))
            {
                return join(root, mp, path, v1);
            }
        }
    }
    let path = cgroups
        .lines()
        .find_map(|l| l.strip_prefix("0::"))
        .unwrap_or_else(|| panic!("no {controller} cgroup for {pid}:\n{cgroups}"));
    let (root, mp, _, _) = mounts.iter().find(|(_, _, t, _)| t == "cgroup2").unwrap();
    join(root, mp, path, v2)
}

/// A cgroup value of `pid` (see [`cgroup_file`]).
pub fn cgroup_value(pid: &str, controller: &str, v1: &str, v2: &str) -> String {
    let f = cgroup_file(pid, controller, v1, v2);
    std::fs::read_to_string(&f)
        .unwrap_or_else(|e| panic!("{}: {e}", f.display()))
        .trim()
        .to_string()
}

/// The memory limit (`max` for none on v2).
pub fn memory_limit(pid: &str) -> String {
    cgroup_value(pid, "memory", "memory.limit_in_bytes", "memory.max")
}

/// The pids limit (`max` for none).
pub fn pids_limit(pid: &str) -> String {
    cgroup_value(pid, "pids", "pids.max", "pids.max")
}

/// The CFS quota (the first field of v2's cpu.max).
pub fn cpu_quota(pid: &str) -> String {
    let v = cgroup_value(pid, "cpu", "cpu.cfs_quota_us", "cpu.max");
    v.split(' ').next().unwrap().to_string()
}
