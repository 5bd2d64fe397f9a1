//! The `cgroup` mount: in a new cgroup namespace a fresh mount of each host
//! hierarchy, else a bind of the container's own cgroup directories, laid
//! out as the host lays them out.

#[allow(unused_imports)]
use super::*;
use berth_cgroups::Hierarchies;

/// The cgroup filesystem inside the container: cgroup2 on a v2 host, a
/// tmpfs of per-hierarchy mounts on a v1 or hybrid one.
pub(super) fn mount_cgroup(
    ctx: &Context,
    root: &Root,
    dest: &Path,
    opts: &MountOptions,
) -> Result<(), Error> {
    let ro = opts.flags.contains(MsFlags::MS_RDONLY);
    let base = opts.flags & (MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC);
    let hosts = host_cgroup_mounts(ctx.host_cgroups);
    let own = fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let only_v2 =
        hosts.len() == 1 && hosts[0].fstype == "cgroup2" && hosts[0].mountpoint == "/sys/fs/cgroup";
    if only_v2 {
        let mounted = mount_hierarchy(ctx, root, &hosts[0], dest, base, &own)?;
        if ro {
            bind_remount(&mounted.path, base | MsFlags::MS_RDONLY)?;
        }
        return Ok(());
    }
    let target = Target::dir(root, dest)?;
    mount(
        Some("cgroup"),
        &target.path,
        Some("tmpfs"),
        base,
        Some("mode=755"),
    )
    .map_err(sys("mount tmpfs for cgroups on", dest))?;
    let tmpfs = target.mounted(root)?;
    for h in &hosts {
        let Some(name) = Path::new(&h.mountpoint).file_name() else {
            continue;
        };
        if !h.mountpoint.starts_with("/sys/fs/cgroup/") {
            continue;
        }
        let sub = dest.join(name);
        let mounted = mount_hierarchy(ctx, root, h, &sub, base, &own)?;
        if ro {
            bind_remount(&mounted.path, base | MsFlags::MS_RDONLY)?;
        }
        // "cpu,cpuacct" is also reachable as "cpu" and "cpuacct"
        let name = name.to_string_lossy();
        if name.contains(',') {
            for alias in name.split(',') {
                symlink_at(&tmpfs.fd, &name, alias, &dest.join(alias))?;
            }
        }
    }
    if ro {
        mount(
            None::<&str>,
            &tmpfs.path,
            None::<&str>,
            MsFlags::MS_REMOUNT | MsFlags::MS_RDONLY | base,
            Some("mode=755"),
        )
        .map_err(sys("remount read-only", dest))?;
    }
    Ok(())
}

/// symlinkat(`target`, `dir`, `name`) unless `name` exists.
pub(super) fn symlink_at(
    dir: &OwnedFd,
    target: &str,
    name: &str,
    shown: &Path,
) -> Result<(), Error> {
    match nix::unistd::symlinkat(target, Some(dir.as_raw_fd()), name) {
        Ok(()) | Err(nix::Error::EEXIST) => Ok(()),
        Err(e) => Err(sys("symlink", shown)(e)),
    }
}

#[derive(Debug)]
pub(super) struct HostCgroupMount {
    mountpoint: String,
    root: String,
    fstype: String,
    options: String,
}

/// The host's cgroup mounts, as the runtime found them, else as init finds
/// them in the mount namespace it joined (none when it has no cgroup
/// file system).
pub(super) fn host_cgroup_mounts(found: Option<&Hierarchies>) -> Vec<HostCgroupMount> {
    let detected;
    let h = match found {
        Some(h) => h,
        None => match Hierarchies::detect() {
            Ok(h) => {
                detected = h;
                &detected
            }
            Err(_) => return Vec::new(),
        },
    };
    let mount = |m: &berth_cgroups::Mount, fstype: &str, options: String| HostCgroupMount {
        mountpoint: m.mountpoint.to_string_lossy().into_owned(),
        root: m.root.clone(),
        fstype: fstype.to_string(),
        options,
    };
    // a v1 hierarchy is mounted again by its controllers (`cpu,cpuacct`,
    // `name=systemd`); cgroup2 takes no options
    let mut out: Vec<HostCgroupMount> = h
        .v1_mounts()
        .iter()
        .map(|m| mount(m, "cgroup", m.controllers.join(",")))
        .collect();
    out.extend(h.unified().map(|m| mount(m, "cgroup2", String::new())));
    out
}

/// Mounts one hierarchy at `dest`: a fresh mount in a new cgroup namespace
/// (it shows the container's cgroup as its root), else a bind of the
/// container's own cgroup directory.
pub(super) fn mount_hierarchy(
    ctx: &Context,
    root: &Root,
    h: &HostCgroupMount,
    dest: &Path,
    flags: MsFlags,
    own_cgroup: &str,
) -> Result<Target, Error> {
    let target = Target::dir(root, dest)?;
    if ctx.new_cgroup_ns {
        let data = if h.fstype == "cgroup" {
            let has_controller = h.options.split(',').any(|o| !o.starts_with("name="));
            if has_controller {
                h.options.clone()
            } else {
                format!("none,{}", h.options)
            }
        } else {
            String::new()
        };
        let res = mount(
            Some("cgroup"),
            &target.path,
            Some(h.fstype.as_str()),
            flags,
            (!data.is_empty()).then_some(data.as_str()),
        );
        if res.is_ok() {
            return target.mounted(root);
        }
    }
    // the container's cgroup in this hierarchy, relative to the mount's root
    let key = if h.fstype == "cgroup2" {
        String::new()
    } else {
        h.options.clone()
    };
    let path = own_cgroup
        .lines()
        .filter_map(|l| {
            let mut p = l.splitn(3, ':');
            let (_, ctrl, path) = (p.next()?, p.next()?, p.next()?);
            let wanted: Vec<&str> = key.split(',').filter(|s| !s.is_empty()).collect();
            let have: Vec<&str> = ctrl.split(',').collect();
            let matches = if wanted.is_empty() {
                ctrl.is_empty()
            } else {
                wanted.iter().all(|w| have.contains(w))
            };
            matches.then(|| path.to_string())
        })
        .next()
        .unwrap_or_else(|| "/".into());
    let rel = Path::new(&path)
        .strip_prefix(&h.root)
        .unwrap_or(Path::new(""))
        .to_path_buf();
    let src = Path::new(&h.mountpoint).join(rel);
    mount(
        Some(&src),
        &target.path,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("bind mount cgroup", dest))?;
    target.mounted(root)
}
