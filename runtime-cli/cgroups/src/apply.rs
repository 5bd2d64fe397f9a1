//! Writing OCI `linux.resources` to cgroup v1 and v2 files, following runc's
//! cgroupfs drivers (libcontainer/cgroups/fs and fs2).

use std::collections::HashMap;
use std::io;
use std::path::Path;

use oci_spec::runtime::{
    LinuxBlockIo, LinuxCpu, LinuxDeviceCgroup, LinuxDeviceType, LinuxHugepageLimit, LinuxMemory,
    LinuxNetwork, LinuxPids, LinuxRdma, LinuxResources, LinuxThrottleDevice,
};

use crate::cgroup::Target;
use crate::{fs, Cgroup, Error};

impl Cgroup {
    /// Applies `r` to the (already created) cgroup. Also used by `update`, so it
    /// only touches what `r` sets.
    ///
    /// Call it before [`Cgroup::add_process`]: realtime CPU budgets must be in
    /// place before a SCHED_RR/SCHED_FIFO task can join.
    ///
    /// Unset values are skipped; a set value whose controller the host lacks is an
    /// [`Error::ControllerUnavailable`]. Values with no equivalent in the host's
    /// cgroup version are ignored as runc does: on v2, `memory.kernel`,
    /// `memory.kernelTCP`, `memory.swappiness`, `memory.disableOOMKiller` and
    /// `blockIO.leafWeight`. Device rules are not enforced on cgroup v2, which
    /// needs an eBPF program: there the container's /dev (only the configured
    /// device nodes) is what restricts device access.
    pub fn apply(&self, r: &LinuxResources) -> Result<(), Error> {
        // Same order as runc: cpuset before anything that needs CPUs/memory nodes,
        // unified last so raw values override the mapped ones.
        if let Some(c) = r.cpu() {
            self.apply_cpuset(c)?;
        }
        if let Some(d) = r.devices() {
            self.apply_devices(d)?;
        }
        if let Some(m) = r.memory() {
            self.apply_memory(m)?;
        }
        if let Some(c) = r.cpu() {
            self.apply_cpu(c)?;
        }
        if let Some(p) = r.pids() {
            self.apply_pids(p)?;
        }
        if let Some(b) = r.block_io() {
            self.apply_blkio(b)?;
        }
        if let Some(h) = r.hugepage_limits() {
            self.apply_hugetlb(h)?;
        }
        if let Some(n) = r.network() {
            self.apply_network(n)?;
        }
        if let Some(rd) = r.rdma() {
            self.apply_rdma(rd)?;
        }
        if let Some(u) = r.unified() {
            self.apply_unified(u)?;
        }
        Ok(())
    }

    fn apply_memory(&self, m: &LinuxMemory) -> Result<(), Error> {
        let limit = m.limit().unwrap_or(0);
        let swap = m.swap().unwrap_or(0);
        let reservation = m.reservation().unwrap_or(0);
        // Deprecated by the spec (kernel ≥ 5.4 ignores it) but still honoured on v1.
        #[allow(deprecated)]
        let kernel = m.kernel().unwrap_or(0);
        let kernel_tcp = m.kernel_tcp().unwrap_or(0);
        let disable_oom = m.disable_oom_killer() == Some(true);
        // As in runc, 0 means "not set".
        let is_set = limit != 0
            || swap != 0
            || reservation != 0
            || kernel != 0
            || kernel_tcp != 0
            || m.swappiness().is_some()
            || disable_oom;
        if !is_set {
            return Ok(());
        }
        if let Some(s) = m.swappiness().filter(|s| *s > 100) {
            return Err(Error::InvalidResources(format!(
                "memory swappiness {s} is not in the range 0-100"
            )));
        }
        match self.require("memory", "memory")? {
            Target::V1(dir) => {
                memory_v1(dir, limit, swap)?;
                if reservation != 0 {
                    fs::write(dir, "memory.soft_limit_in_bytes", &reservation.to_string())?;
                }
                // Kernel memory accounting is deprecated: the files are gone on
                // new kernels and some refuse writes, so these are best effort.
                if kernel != 0 {
                    write_deprecated(dir, "memory.kmem.limit_in_bytes", kernel)?;
                }
                if kernel_tcp != 0 {
                    write_deprecated(dir, "memory.kmem.tcp.limit_in_bytes", kernel_tcp)?;
                }
                if let Some(s) = m.swappiness() {
                    fs::write(dir, "memory.swappiness", &s.to_string())?;
                }
                if disable_oom {
                    fs::write(dir, "memory.oom_control", "1")?;
                }
                Ok(())
            }
            Target::V2(dir) => memory_v2(dir, limit, swap, reservation),
        }
    }

    fn apply_cpu(&self, c: &LinuxCpu) -> Result<(), Error> {
        let shares = c.shares().filter(|v| *v != 0);
        let quota = c.quota().filter(|v| *v != 0);
        let period = c.period().filter(|v| *v != 0);
        let rt_runtime = c.realtime_runtime().filter(|v| *v != 0);
        let rt_period = c.realtime_period().filter(|v| *v != 0);
        let is_set = shares.is_some()
            || quota.is_some()
            || period.is_some()
            || rt_runtime.is_some()
            || rt_period.is_some()
            || c.burst().is_some()
            || c.idle().is_some();
        if !is_set {
            return Ok(());
        }
        match self.require("cpu", "cpu")? {
            Target::V1(dir) => {
                if let Some(s) = shares {
                    fs::write(dir, "cpu.shares", &s.to_string())?;
                    // The kernel clamps out-of-range shares silently; report it.
                    let got = fs::read_u64(dir, "cpu.shares")?;
                    if s > got {
                        return Err(Error::InvalidResources(format!(
                            "cpu shares {s} is above the maximum allowed {got}"
                        )));
                    } else if s < got {
                        return Err(Error::InvalidResources(format!(
                            "cpu shares {s} is below the minimum allowed {got}"
                        )));
                    }
                }
                cfs_v1(dir, quota, period)?;
                if let Some(b) = c.burst() {
                    fs::write(dir, "cpu.cfs_burst_us", &b.to_string())?;
                }
                if let Some(i) = c.idle() {
                    fs::write(dir, "cpu.idle", &i.to_string())?;
                }
                // Period first: the runtime must fit in it.
                if let Some(p) = rt_period {
                    fs::write(dir, "cpu.rt_period_us", &p.to_string())?;
                }
                if let Some(r) = rt_runtime {
                    fs::write(dir, "cpu.rt_runtime_us", &r.to_string())?;
                }
                Ok(())
            }
            Target::V2(dir) => {
                if rt_runtime.is_some() || rt_period.is_some() {
                    return Err(Error::InvalidResources(
                        "realtime cpu scheduling (cpu.realtimeRuntime/realtimePeriod) is not supported on cgroup v2".into(),
                    ));
                }
                if let Some(i) = c.idle() {
                    write_v2(dir, "cpu", "cpu.idle", &i.to_string())?;
                }
                if let Some(s) = shares {
                    write_v2(dir, "cpu", "cpu.weight", &shares_to_weight(s).to_string())?;
                }
                if quota.is_some() || period.is_some() {
                    // Keep whichever half of cpu.max the update leaves out.
                    let cur = fs::read_opt(dir, "cpu.max")?.unwrap_or_default();
                    let mut cur = cur.split_whitespace();
                    let (cur_quota, cur_period) = (cur.next(), cur.next());
                    let q = match quota {
                        Some(q) if q > 0 => q.to_string(),
                        Some(_) => "max".to_string(),
                        None => cur_quota.unwrap_or("max").to_string(),
                    };
                    let p = match period {
                        Some(p) => p.to_string(),
                        None => cur_period.unwrap_or("100000").to_string(),
                    };
                    write_v2(dir, "cpu", "cpu.max", &format!("{q} {p}"))?;
                }
                if let Some(b) = c.burst() {
                    write_v2(dir, "cpu", "cpu.max.burst", &b.to_string())?;
                }
                Ok(())
            }
        }
    }

    fn apply_cpuset(&self, c: &LinuxCpu) -> Result<(), Error> {
        let cpus = c.cpus().as_deref().filter(|s| !s.is_empty());
        let mems = c.mems().as_deref().filter(|s| !s.is_empty());
        if cpus.is_none() && mems.is_none() {
            return Ok(());
        }
        let (dir, v2) = match self.require("cpuset", "cpuset")? {
            Target::V1(d) => (d, false),
            Target::V2(d) => (d, true),
        };
        for (file, value) in [("cpuset.cpus", cpus), ("cpuset.mems", mems)] {
            if let Some(v) = value {
                if v2 {
                    write_v2(dir, "cpuset", file, v)?;
                } else {
                    fs::write(dir, file, v)?;
                }
            }
        }
        Ok(())
    }

    fn apply_pids(&self, p: &LinuxPids) -> Result<(), Error> {
        // 0 and negative limits mean "no limit".
        let limit = match p.limit() {
            l if l > 0 => l.to_string(),
            _ => "max".to_string(),
        };
        match self.require("pids", "pids")? {
            Target::V1(dir) => fs::write(dir, "pids.max", &limit),
            Target::V2(dir) => write_v2(dir, "pids", "pids.max", &limit),
        }
    }

    fn apply_blkio(&self, b: &LinuxBlockIo) -> Result<(), Error> {
        let weight_devices = opt_vec(b.weight_device());
        let throttles: [(&str, &str, &[LinuxThrottleDevice]); 4] = [
            (
                "blkio.throttle.read_bps_device",
                "rbps",
                opt_vec(b.throttle_read_bps_device()),
            ),
            (
                "blkio.throttle.write_bps_device",
                "wbps",
                opt_vec(b.throttle_write_bps_device()),
            ),
            (
                "blkio.throttle.read_iops_device",
                "riops",
                opt_vec(b.throttle_read_iops_device()),
            ),
            (
                "blkio.throttle.write_iops_device",
                "wiops",
                opt_vec(b.throttle_write_iops_device()),
            ),
        ];
        let is_set = b.weight().is_some()
            || b.leaf_weight().is_some()
            || !weight_devices.is_empty()
            || throttles.iter().any(|(_, _, v)| !v.is_empty());
        if !is_set {
            return Ok(());
        }
        match self.require("blkio", "io")? {
            Target::V1(dir) => {
                // Without CFQ (gone since Linux 5.0) only BFQ's files exist.
                let bfq =
                    !dir.join("blkio.weight").exists() && dir.join("blkio.bfq.weight").exists();
                let (weight_file, weight_device_file) = if bfq {
                    ("blkio.bfq.weight", "blkio.bfq.weight_device")
                } else {
                    ("blkio.weight", "blkio.weight_device")
                };
                if let Some(w) = b.weight() {
                    fs::write(dir, weight_file, &w.to_string())?;
                }
                if let Some(w) = b.leaf_weight() {
                    fs::write(dir, "blkio.leaf_weight", &w.to_string())?;
                }
                for wd in weight_devices {
                    let dev = format!("{}:{}", wd.major(), wd.minor());
                    if let Some(w) = wd.weight() {
                        fs::write(dir, weight_device_file, &format!("{dev} {w}"))?;
                    }
                    if let Some(w) = wd.leaf_weight() {
                        fs::write(dir, "blkio.leaf_weight_device", &format!("{dev} {w}"))?;
                    }
                }
                for (file, _, devs) in throttles {
                    for d in devs {
                        fs::write(
                            dir,
                            file,
                            &format!("{}:{} {}", d.major(), d.minor(), d.rate()),
                        )?;
                    }
                }
                Ok(())
            }
            Target::V2(dir) => {
                // BFQ takes blkio-style weights as they are; io.weight (the
                // default scheduler's knob) needs runc's conversion to 1-10000.
                let bfq = dir.join("io.bfq.weight").exists();
                let weight = |w: u16| {
                    if bfq {
                        w.to_string()
                    } else {
                        blkio_weight_to_io_weight(w).to_string()
                    }
                };
                let weight_file = if bfq { "io.bfq.weight" } else { "io.weight" };
                if let Some(w) = b.weight() {
                    write_v2(dir, "io", weight_file, &weight(w))?;
                }
                for wd in weight_devices {
                    if let Some(w) = wd.weight() {
                        let v = format!("{}:{} {}", wd.major(), wd.minor(), weight(w));
                        write_v2(dir, "io", weight_file, &v)?;
                    }
                }
                for (_, key, devs) in throttles {
                    for d in devs {
                        let v = format!("{}:{} {key}={}", d.major(), d.minor(), d.rate());
                        write_v2(dir, "io", "io.max", &v)?;
                    }
                }
                Ok(())
            }
        }
    }

    fn apply_hugetlb(&self, limits: &[LinuxHugepageLimit]) -> Result<(), Error> {
        if limits.is_empty() {
            return Ok(());
        }
        let target = self.require("hugetlb", "hugetlb")?;
        for l in limits {
            let size = l.page_size();
            if size.is_empty() || !size.chars().all(|c| c.is_ascii_alphanumeric()) {
                return Err(Error::InvalidResources(format!(
                    "invalid hugepage size {size:?}"
                )));
            }
            match target {
                Target::V1(dir) => {
                    let v = l.limit().max(-1).to_string();
                    fs::write(dir, &format!("hugetlb.{size}.limit_in_bytes"), &v)?;
                    // Reservation limits (Linux 5.7+) make the limit hold at mmap
                    // time instead of failing with SIGBUS at fault time.
                    fs::write_if_exists(dir, &format!("hugetlb.{size}.rsvd.limit_in_bytes"), &v)?;
                }
                Target::V2(dir) => {
                    self.enable_unified("hugetlb");
                    let v = if l.limit() < 0 {
                        "max".to_string()
                    } else {
                        l.limit().to_string()
                    };
                    write_v2(dir, "hugetlb", &format!("hugetlb.{size}.max"), &v)?;
                    fs::write_if_exists(dir, &format!("hugetlb.{size}.rsvd.max"), &v)?;
                }
            }
        }
        Ok(())
    }

    fn apply_devices(&self, rules: &[LinuxDeviceCgroup]) -> Result<(), Error> {
        if rules.is_empty() {
            return Ok(());
        }
        let Some(dir) = self.v1_dir("devices") else {
            // cgroup2 (including hybrid hosts without a v1 devices hierarchy)
            // filters devices with eBPF, which berth does not load: the
            // container's /dev holds only the configured nodes instead.
            return if self.unified_path().is_some() {
                Ok(())
            } else {
                Err(Error::ControllerUnavailable("devices".into()))
            };
        };
        let (mut allow, mut deny) = (None, None);
        for rule in rules {
            let Some(line) = device_rule(rule) else {
                continue;
            };
            let (slot, file) = if rule.allow() {
                (&mut allow, "devices.allow")
            } else {
                (&mut deny, "devices.deny")
            };
            let f = match slot {
                Some(f) => f,
                None => slot.insert(fs::OpenFile::open(dir, file)?),
            };
            f.write(&line)?;
        }
        Ok(())
    }

    fn apply_network(&self, n: &LinuxNetwork) -> Result<(), Error> {
        if let Some(id) = n.class_id() {
            let dir = self
                .v1_dir("net_cls")
                .ok_or_else(|| Error::ControllerUnavailable("net_cls".into()))?;
            fs::write(dir, "net_cls.classid", &id.to_string())?;
        }
        let prios = opt_vec(n.priorities());
        if !prios.is_empty() {
            let dir = self
                .v1_dir("net_prio")
                .ok_or_else(|| Error::ControllerUnavailable("net_prio".into()))?;
            for p in prios {
                fs::write(
                    dir,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        Ok(())
    }

    fn apply_rdma(&self, rdma: &HashMap<String, LinuxRdma>) -> Result<(), Error> {
        if rdma.is_empty() {
            return Ok(());
        }
        let target = self.require("rdma", "rdma")?;
        let mut devices: Vec<_> = rdma.iter().collect();
        devices.sort_by_key(|(d, _)| *d);
        for (dev, l) in devices {
            let num = |v: Option<u32>| v.map_or("max".to_string(), |v| v.to_string());
            let v = format!(
                "{dev} hca_handle={} hca_object={}",
                num(l.hca_handles()),
                num(l.hca_objects())
            );
            match target {
                Target::V1(dir) => fs::write(dir, "rdma.max", &v)?,
                Target::V2(dir) => write_v2(dir, "rdma", "rdma.max", &v)?,
            }
        }
        Ok(())
    }

    /// Raw cgroup2 `key: value` pairs. On a hybrid host only keys of controllers
    /// that live in the unified hierarchy (e.g. `hugetlb.2MB.max`) are accepted.
    fn apply_unified(&self, u: &HashMap<String, String>) -> Result<(), Error> {
        if u.is_empty() {
            return Ok(());
        }
        let Some(dir) = self.unified_path() else {
            return Err(Error::InvalidResources(
                "unified resources need cgroup v2, but this host only has cgroup v1".into(),
            ));
        };
        let mut keys: Vec<_> = u.iter().collect();
        keys.sort();
        for (key, value) in keys {
            if key.is_empty() || key.contains('/') || key.starts_with('.') {
                return Err(Error::InvalidResources(format!(
                    "invalid unified resource key {key:?}"
                )));
            }
            let controller = key.split('.').next().unwrap_or_default();
            let managed = self.unified_controllers().iter().any(|c| c == controller);
            if !self.is_v2_only() && !managed {
                return Err(Error::InvalidResources(format!(
                    "unified resource {key:?}: controller {controller} is not in the cgroup v2 hierarchy on this host"
                )));
            }
            if !self.is_v2_only() {
                self.enable_unified(controller);
            }
            write_v2(dir, controller, key, value)?;
        }
        Ok(())
    }
}

fn opt_vec<T>(v: &Option<Vec<T>>) -> &[T] {
    v.as_deref().unwrap_or_default()
}

/// Sets memory and memory+swap limits on v1, in the order the kernel accepts:
/// memsw must stay >= limit at every step.
fn memory_v1(dir: &Path, limit: i64, mut swap: i64) -> Result<(), Error> {
    const MEMSW: &str = "memory.memsw.limit_in_bytes";
    const LIMIT: &str = "memory.limit_in_bytes";
    let has_memsw = dir.join(MEMSW).exists();
    // Unlimited memory with swap unset means unlimited memory+swap too.
    if limit == -1 && swap == 0 && has_memsw {
        swap = -1;
    }
    // Without swap accounting (swapaccount=0) memory+swap is unlimited anyway.
    if swap == -1 && !has_memsw {
        swap = 0;
    }
    if swap > 0 && limit > 0 && swap < limit {
        return Err(Error::InvalidResources(format!(
            "memory+swap limit {swap} should be >= memory limit {limit}"
        )));
    }
    if limit != 0 && swap != 0 {
        // Raising the limits: memsw first; lowering: limit first.
        let current = fs::read_u64(dir, LIMIT)?;
        if swap == -1 || current < swap as u64 {
            fs::write(dir, MEMSW, &swap.to_string())?;
            return fs::write(dir, LIMIT, &limit.to_string());
        }
    }
    if limit != 0 {
        fs::write(dir, LIMIT, &limit.to_string())?;
    }
    if swap != 0 {
        fs::write(dir, MEMSW, &swap.to_string())?;
    }
    Ok(())
}

fn memory_v2(dir: &Path, limit: i64, swap: i64, reservation: i64) -> Result<(), Error> {
    let swap_v2 = swap_to_v2(swap, limit)?;
    let swap_str = match swap_v2 {
        -1 => Some("max".to_string()),
        // memory == memory+swap: no swap at all.
        0 if swap > 0 => Some("0".to_string()),
        0 => None,
        v => Some(v.to_string()),
    };
    if let Some(s) = swap_str {
        match write_v2(dir, "memory", "memory.swap.max", &s) {
            // Without swap accounting (no CONFIG_MEMCG_SWAP or swapaccount=0)
            // "unlimited" and "none" already hold.
            Err(Error::Write { source, .. })
                if source.kind() == io::ErrorKind::NotFound && (s == "max" || s == "0") => {}
            r => r?,
        }
    }
    if limit != 0 {
        write_v2(dir, "memory", "memory.max", &num_to_v2(limit))?;
    }
    if reservation != 0 {
        write_v2(dir, "memory", "memory.low", &num_to_v2(reservation))?;
    }
    Ok(())
}

/// -1 is v1's "unlimited", which v2 spells `max`.
fn num_to_v2(v: i64) -> String {
    if v == -1 {
        "max".into()
    } else {
        v.to_string()
    }
}

/// OCI's `swap` is memory+swap (v1 memsw); memory.swap.max is swap alone.
/// Mirrors runc's ConvertMemorySwapToCgroupV2Value: -1 = max, 0 = unset.
pub(crate) fn swap_to_v2(swap: i64, limit: i64) -> Result<i64, Error> {
    match (swap, limit) {
        // Unlimited memory with swap unset: unlimited swap too.
        (0, -1) => Ok(-1),
        (-1, _) | (0, _) => Ok(swap),
        // Unlimited memory: nothing to subtract.
        (_, -1) => Ok(swap),
        (_, 0) => Err(Error::InvalidResources(
            "cannot set a memory+swap limit without a memory limit".into(),
        )),
        (_, l) if l < 0 => Err(Error::InvalidResources(format!("invalid memory limit {l}"))),
        (s, l) if s < l => Err(Error::InvalidResources(format!(
            "memory+swap limit {s} should be >= memory limit {l}"
        ))),
        (s, l) => Ok(s - l),
    }
}

/// runc's linear map of v1 cpu.shares [2, 262144] onto v2 cpu.weight [1, 10000].
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    let shares = shares.clamp(2, 262_144);
    1 + ((shares - 2) * 9999) / 262_142
}

/// runc's linear map of blkio weight [10, 1000] onto io.weight [1, 10000].
pub(crate) fn blkio_weight_to_io_weight(w: u16) -> u64 {
    let w = u64::from(w.clamp(10, 1000));
    1 + (w - 10) * 9999 / 990
}

/// Writes CFS quota and period on v1, retrying the period after the quota when
/// the kernel rejects it first (a shorter period can make the old quota exceed
/// the parent's limit).
fn cfs_v1(dir: &Path, quota: Option<i64>, period: Option<u64>) -> Result<(), Error> {
    let mut period_later = None;
    if let Some(p) = period {
        match fs::write(dir, "cpu.cfs_period_us", &p.to_string()) {
            Err(Error::Write { source, .. })
                if source.raw_os_error() == Some(libc::EINVAL) && quota.is_some() =>
            {
                period_later = Some(p)
            }
            r => r?,
        }
    }
    if let Some(q) = quota {
        fs::write(dir, "cpu.cfs_quota_us", &q.to_string())?;
        if let Some(p) = period_later {
            fs::write(dir, "cpu.cfs_period_us", &p.to_string())?;
        }
    }
    Ok(())
}

/// Writes a deprecated v1 knob, ignoring kernels that dropped or disabled it.
fn write_deprecated(dir: &Path, file: &str, value: i64) -> Result<(), Error> {
    match fs::write_if_exists(dir, file, &value.to_string()) {
        Err(Error::Write { source, .. }) if source.raw_os_error() == Some(libc::EOPNOTSUPP) => {
            Ok(())
        }
        r => r.map(|_| ()),
    }
}

/// Writes a cgroup2 file of `controller`; if the file is missing because the
/// controller is not enabled for this cgroup, the error says so.
fn write_v2(dir: &Path, controller: &str, file: &str, value: &str) -> Result<(), Error> {
    fs::write(dir, file, value).map_err(|e| match &e {
        Error::Write { source, .. } if source.kind() == io::ErrorKind::NotFound => {
            match fs::read_opt(dir, "cgroup.controllers") {
                Ok(Some(enabled)) if !enabled.split_whitespace().any(|c| c == controller) => {
                    Error::ControllerNotEnabled {
                        controller: controller.to_string(),
                        path: dir.to_path_buf(),
                    }
                }
                _ => e,
            }
        }
        _ => e,
    })
}

/// A devices.allow/deny line such as `c 1:3 rwm`, or `None` for rules the
/// devices cgroup cannot express.
fn device_rule(rule: &LinuxDeviceCgroup) -> Option<String> {
    let typ = match rule.typ().unwrap_or(LinuxDeviceType::A) {
        LinuxDeviceType::A => 'a',
        LinuxDeviceType::B => 'b',
        // Unbuffered character devices are character devices to the kernel.
        LinuxDeviceType::C | LinuxDeviceType::U => 'c',
        // FIFOs are not devices; the devices cgroup never checks them.
        LinuxDeviceType::P => return None,
    };
    let num = |n: Option<i64>| match n {
        Some(n) if n >= 0 => n.to_string(),
        _ => "*".to_string(),
    };
    let access = rule
        .access()
        .as_deref()
        .filter(|a| !a.is_empty())
        .unwrap_or("rwm");
    Some(format!(
        "{typ} {}:{} {access}",
        num(rule.major()),
        num(rule.minor())
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;
    use std::path::PathBuf;

    fn resources(json: &str) -> LinuxResources {
        serde_json::from_str(json).unwrap()
    }

    /// Applies `json` and returns the writes as (file name, value).
    fn apply(cg: &Cgroup, json: &str) -> Result<Vec<(String, String)>, Error> {
        fs::log::take();
        let r = cg.apply(&resources(json));
        let writes = fs::log::take()
            .into_iter()
            .map(|(p, v)| (p.file_name().unwrap().to_string_lossy().into_owned(), v))
            .collect();
        r.map(|()| writes)
    }

    fn w(f: &str, v: &str) -> (String, String) {
        (f.to_string(), v.to_string())
    }

    /// The hybrid fake, with the container's leaf dirs holding `files`.
    fn hybrid(files: &[(&str, &str, &str)]) -> (FakeHybrid, Cgroup) {
        let fake = FakeHybrid::new();
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        for (ctrl, f, v) in files {
            touch(cg.path(ctrl).unwrap(), &[(f, v)]);
        }
        (fake, cg)
    }

    /// A pure v2 fake whose leaf has `cgroup.controllers` = `controllers` and
    /// `files`.
    fn v2(controllers: &str, files: &[(&str, &str)]) -> (FakeV2, Cgroup, PathBuf) {
        let fake = FakeV2::new(controllers);
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        let dir = cg.unified_path().unwrap().to_path_buf();
        touch(&dir, &[("cgroup.controllers", controllers)]);
        touch(&dir, files);
        (fake, cg, dir)
    }

    #[test]
    fn conversions() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262_144), 10_000);
        assert_eq!(shares_to_weight(1), 1);
        assert_eq!(shares_to_weight(1 << 30), 10_000);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);

        assert_eq!(swap_to_v2(0, -1).unwrap(), -1);
        assert_eq!(swap_to_v2(0, 100).unwrap(), 0);
        assert_eq!(swap_to_v2(-1, 100).unwrap(), -1);
        assert_eq!(swap_to_v2(300, 100).unwrap(), 200);
        assert_eq!(swap_to_v2(100, 100).unwrap(), 0);
        assert_eq!(swap_to_v2(300, -1).unwrap(), 300);
        assert!(swap_to_v2(300, 0).is_err());
        assert!(swap_to_v2(50, 100).is_err());
    }

    #[test]
    fn memory_v1_raise_and_lower() {
        let (_f, cg) = hybrid(&[
            ("memory", "memory.limit_in_bytes", "9223372036854771712"),
            (
                "memory",
                "memory.memsw.limit_in_bytes",
                "9223372036854771712",
            ),
            ("memory", "memory.soft_limit_in_bytes", ""),
            ("memory", "memory.kmem.limit_in_bytes", ""),
            ("memory", "memory.swappiness", ""),
            ("memory", "memory.oom_control", ""),
        ]);
        // Lowering from unlimited: limit first, then memsw.
        let writes = apply(
            &cg,
            r#"{"memory":{"limit":1048576,"swap":2097152,"reservation":524288,
                "kernel":4194304,"kernelTCP":8192,"swappiness":10,"disableOOMKiller":true}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("memory.limit_in_bytes", "1048576"),
                w("memory.memsw.limit_in_bytes", "2097152"),
                w("memory.soft_limit_in_bytes", "524288"),
                w("memory.kmem.limit_in_bytes", "4194304"),
                // kmem.tcp is absent in this fake tree: skipped, not an error.
                w("memory.kmem.tcp.limit_in_bytes", "8192"),
                w("memory.swappiness", "10"),
                w("memory.oom_control", "1"),
            ]
        );
        // Raising above the current limit: memsw first.
        let writes = apply(&cg, r#"{"memory":{"limit":4194304,"swap":8388608}}"#).unwrap();
        assert_eq!(
            writes,
            [
                w("memory.memsw.limit_in_bytes", "8388608"),
                w("memory.limit_in_bytes", "4194304"),
            ]
        );
        // Unlimited memory implies unlimited memsw.
        let writes = apply(&cg, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(
            writes,
            [
                w("memory.memsw.limit_in_bytes", "-1"),
                w("memory.limit_in_bytes", "-1"),
            ]
        );
        // Unset values write nothing.
        assert!(apply(&cg, r#"{"memory":{}}"#).unwrap().is_empty());
        assert!(apply(&cg, r#"{"memory":{"disableOOMKiller":false}}"#)
            .unwrap()
            .is_empty());
        // Validation.
        let e = apply(&cg, r#"{"memory":{"limit":200,"swap":100}}"#).unwrap_err();
        assert!(e.to_string().contains("should be >= memory limit"), "{e}");
        let e = apply(&cg, r#"{"memory":{"swappiness":101}}"#).unwrap_err();
        assert!(e.to_string().contains("swappiness 101"), "{e}");
    }

    #[test]
    fn memory_v1_without_swap_accounting() {
        let (_f, cg) = hybrid(&[("memory", "memory.limit_in_bytes", "9223372036854771712")]);
        assert_eq!(
            apply(&cg, r#"{"memory":{"limit":-1,"swap":-1}}"#).unwrap(),
            [w("memory.limit_in_bytes", "-1")]
        );
        touch(
            cg.path("memory").unwrap(),
            &[("memory.limit_in_bytes", "9223372036854771712")],
        );
        let e = apply(&cg, r#"{"memory":{"limit":1000,"swap":3000}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("memory.memsw.limit_in_bytes: No such file"),
            "{e}"
        );
    }

    #[test]
    fn memory_v2() {
        let (_f, cg, _dir) = v2(
            "cpu memory pids",
            &[
                ("memory.max", "max"),
                ("memory.swap.max", "max"),
                ("memory.low", "0"),
            ],
        );
        let writes = apply(
            &cg,
            r#"{"memory":{"limit":1048576,"swap":3145728,"reservation":524288,
                "kernel":1,"swappiness":5,"disableOOMKiller":true}}"#,
        )
        .unwrap();
        // swap.max is swap alone; kernel/swappiness/OOM killer have no v2 knob.
        assert_eq!(
            writes,
            [
                w("memory.swap.max", "2097152"),
                w("memory.max", "1048576"),
                w("memory.low", "524288"),
            ]
        );
        let writes = apply(&cg, r#"{"memory":{"limit":-1}}"#).unwrap();
        assert_eq!(
            writes,
            [w("memory.swap.max", "max"), w("memory.max", "max")]
        );
        let writes = apply(&cg, r#"{"memory":{"limit":1000,"swap":1000}}"#).unwrap();
        assert_eq!(writes, [w("memory.swap.max", "0"), w("memory.max", "1000")]);
        assert!(apply(&cg, r#"{"memory":{"swap":1000}}"#).is_err());
    }

    #[test]
    fn memory_v2_without_swap_accounting() {
        let (_f, cg, _dir) = v2("memory", &[("memory.max", "max")]);
        apply(&cg, r#"{"memory":{"limit":-1}}"#).unwrap();
        apply(&cg, r#"{"memory":{"limit":1000,"swap":1000}}"#).unwrap();
        // A real swap limit cannot be honoured: error.
        let e = apply(&cg, r#"{"memory":{"limit":1000,"swap":3000}}"#).unwrap_err();
        assert!(e.to_string().contains("memory.swap.max"), "{e}");
    }

    #[test]
    fn cpu_v1() {
        let (_f, cg) = hybrid(&[
            ("cpu", "cpu.shares", "1024"),
            ("cpu", "cpu.cfs_period_us", "100000"),
            ("cpu", "cpu.cfs_quota_us", "-1"),
            ("cpu", "cpu.cfs_burst_us", "0"),
            ("cpu", "cpu.idle", "0"),
            ("cpu", "cpu.rt_period_us", ""),
            ("cpu", "cpu.rt_runtime_us", ""),
        ]);
        let writes = apply(
            &cg,
            r#"{"cpu":{"shares":512,"quota":50000,"period":200000,"burst":1000,"idle":1,
                "realtimePeriod":1000000,"realtimeRuntime":950000}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("cpu.shares", "512"),
                w("cpu.cfs_period_us", "200000"),
                w("cpu.cfs_quota_us", "50000"),
                w("cpu.cfs_burst_us", "1000"),
                w("cpu.idle", "1"),
                w("cpu.rt_period_us", "1000000"),
                w("cpu.rt_runtime_us", "950000"),
            ]
        );
        let writes = apply(&cg, r#"{"cpu":{"quota":-1}}"#).unwrap();
        assert_eq!(writes, [w("cpu.cfs_quota_us", "-1")]);
        assert!(apply(&cg, r#"{"cpu":{"shares":0,"quota":0}}"#)
            .unwrap()
            .is_empty());
    }

    #[test]
    fn cpu_v2() {
        let (_f, cg, dir) = v2(
            "cpuset cpu memory",
            &[
                ("cpu.weight", "100"),
                ("cpu.max", "max 100000\n"),
                ("cpu.max.burst", "0"),
                ("cpu.idle", "0"),
                ("cpuset.cpus", ""),
                ("cpuset.mems", ""),
            ],
        );
        let writes = apply(
            &cg,
            r#"{"cpu":{"shares":1024,"quota":50000,"period":200000,"burst":1000,"idle":0,
                "cpus":"0-1","mems":"0"}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("cpuset.cpus", "0-1"),
                w("cpuset.mems", "0"),
                w("cpu.idle", "0"),
                w("cpu.weight", "39"),
                w("cpu.max", "50000 200000"),
                w("cpu.max.burst", "1000"),
            ]
        );
        // Updating one half of cpu.max keeps the other.
        assert_eq!(
            apply(&cg, r#"{"cpu":{"period":50000}}"#).unwrap(),
            [w("cpu.max", "50000 50000")]
        );
        assert_eq!(
            apply(&cg, r#"{"cpu":{"quota":-1}}"#).unwrap(),
            [w("cpu.max", "max 50000")]
        );
        assert_eq!(read(&dir.join("cpu.max")), "max 50000");
        let e = apply(&cg, r#"{"cpu":{"realtimeRuntime":1000}}"#).unwrap_err();
        assert!(e.to_string().contains("not supported on cgroup v2"), "{e}");
    }

    #[test]
    fn pids_v1_v2() {
        let (_f, cg) = hybrid(&[("pids", "pids.max", "max")]);
        assert_eq!(
            apply(&cg, r#"{"pids":{"limit":100}}"#).unwrap(),
            [w("pids.max", "100")]
        );
        assert_eq!(
            apply(&cg, r#"{"pids":{"limit":-1}}"#).unwrap(),
            [w("pids.max", "max")]
        );
        assert_eq!(
            apply(&cg, r#"{"pids":{"limit":0}}"#).unwrap(),
            [w("pids.max", "max")]
        );
        let (_f, cg, dir) = v2("pids", &[("pids.max", "max")]);
        assert_eq!(
            apply(&cg, r#"{"pids":{"limit":42}}"#).unwrap(),
            [w("pids.max", "42")]
        );
        assert_eq!(read(&dir.join("pids.max")), "42");
    }

    const BLKIO: &str = r#"{"blockIO":{"weight":500,"leafWeight":300,
        "weightDevice":[{"major":8,"minor":0,"weight":600,"leafWeight":200}],
        "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}],
        "throttleWriteBpsDevice":[{"major":8,"minor":16,"rate":2097152}],
        "throttleReadIOPSDevice":[{"major":8,"minor":0,"rate":100}],
        "throttleWriteIOPSDevice":[{"major":8,"minor":0,"rate":200}]}}"#;

    #[test]
    fn blkio_v1_cfq_and_bfq() {
        let throttle = [
            ("blkio", "blkio.throttle.read_bps_device", ""),
            ("blkio", "blkio.throttle.write_bps_device", ""),
            ("blkio", "blkio.throttle.read_iops_device", ""),
            ("blkio", "blkio.throttle.write_iops_device", ""),
        ];
        let mut files = vec![
            ("blkio", "blkio.weight", ""),
            ("blkio", "blkio.weight_device", ""),
            ("blkio", "blkio.leaf_weight", ""),
            ("blkio", "blkio.leaf_weight_device", ""),
        ];
        files.extend(throttle);
        let (_f, cg) = hybrid(&files);
        let tail = [
            w("blkio.throttle.read_bps_device", "8:0 1048576"),
            w("blkio.throttle.write_bps_device", "8:16 2097152"),
            w("blkio.throttle.read_iops_device", "8:0 100"),
            w("blkio.throttle.write_iops_device", "8:0 200"),
        ];
        let mut want = vec![
            w("blkio.weight", "500"),
            w("blkio.leaf_weight", "300"),
            w("blkio.weight_device", "8:0 600"),
            w("blkio.leaf_weight_device", "8:0 200"),
        ];
        want.extend(tail.clone());
        assert_eq!(apply(&cg, BLKIO).unwrap(), want);

        // A BFQ-only kernel like this host's.
        let mut files = vec![
            ("blkio", "blkio.bfq.weight", ""),
            ("blkio", "blkio.bfq.weight_device", ""),
        ];
        files.extend(throttle);
        let (_f, cg) = hybrid(&files);
        let writes = apply(
            &cg,
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":600}],
                "throttleReadBpsDevice":[{"major":8,"minor":0,"rate":1048576}]}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("blkio.bfq.weight", "500"),
                w("blkio.bfq.weight_device", "8:0 600"),
                w("blkio.throttle.read_bps_device", "8:0 1048576"),
            ]
        );
        // CFQ's leaf weight does not exist with BFQ: a clear error.
        let e = apply(&cg, r#"{"blockIO":{"leafWeight":10}}"#).unwrap_err();
        assert!(
            e.to_string().contains("blkio.leaf_weight: No such file"),
            "{e}"
        );
        assert!(apply(&cg, r#"{"blockIO":{}}"#).unwrap().is_empty());
    }

    #[test]
    fn io_v2() {
        let (_f, cg, _dir) = v2("io", &[("io.weight", "default 100"), ("io.max", "")]);
        let writes = apply(&cg, BLKIO).unwrap();
        assert_eq!(
            writes,
            [
                w("io.weight", "4950"),
                w("io.weight", "8:0 5960"),
                w("io.max", "8:0 rbps=1048576"),
                w("io.max", "8:16 wbps=2097152"),
                w("io.max", "8:0 riops=100"),
                w("io.max", "8:0 wiops=200"),
            ]
        );
        let (_f, cg, _dir) = v2("io", &[("io.bfq.weight", "default 100"), ("io.weight", "")]);
        let writes = apply(
            &cg,
            r#"{"blockIO":{"weight":500,"weightDevice":[{"major":8,"minor":0,"weight":600}]}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [w("io.bfq.weight", "500"), w("io.bfq.weight", "8:0 600")]
        );
    }

    #[test]
    fn hugetlb_v2_on_hybrid() {
        let (_f, cg) = hybrid(&[
            ("hugetlb", "hugetlb.2MB.max", "max"),
            ("hugetlb", "hugetlb.2MB.rsvd.max", "max"),
            ("hugetlb", "hugetlb.1GB.max", "max"),
        ]);
        // hugetlb has no v1 hierarchy here: it goes through the unified dir.
        assert_eq!(cg.path("hugetlb"), cg.unified_path());
        fs::log::take();
        cg.apply(&resources(
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":4194304},{"pageSize":"1GB","limit":-1}]}"#,
        ))
        .unwrap();
        let writes = fs::log::take();
        let u = cg.unified_path().unwrap();
        let mountpoint = u.parent().unwrap();
        // the limit enables hugetlb on the way down (the fake file never
        // records it, so it is written again for the second size)
        let enable = (
            mountpoint.join("cgroup.subtree_control"),
            "+hugetlb".to_string(),
        );
        assert_eq!(
            writes.iter().filter(|w| **w == enable).count(),
            2,
            "{writes:?}"
        );
        let writes: Vec<_> = writes.into_iter().filter(|w| *w != enable).collect();
        assert_eq!(
            writes,
            [
                (u.join("hugetlb.2MB.max"), "4194304".to_string()),
                (u.join("hugetlb.2MB.rsvd.max"), "4194304".to_string()),
                (u.join("hugetlb.1GB.max"), "max".to_string()),
                // No rsvd file for 1GB in this tree: tried, skipped.
                (u.join("hugetlb.1GB.rsvd.max"), "max".to_string()),
            ]
        );
        let e = apply(&cg, r#"{"hugepageLimits":[{"pageSize":"../x","limit":1}]}"#).unwrap_err();
        assert!(e.to_string().contains("invalid hugepage size"), "{e}");
    }

    #[test]
    fn hugetlb_v1() {
        let fake = FakeHybrid::new();
        let mi = hybrid_mountinfo(&fake.root)
            + &format!(
                "42 31 0:39 / {}/hugetlb rw - cgroup cgroup rw,hugetlb\n",
                fake.root.display()
            );
        touch(&fake.root.join("hugetlb"), &[]);
        let h = crate::Hierarchies::from_strings(&mi, HYBRID_PROC_CGROUP).unwrap();
        let cg = Cgroup::resolve(&h, None, "ctr").unwrap();
        cg.create().unwrap();
        touch(
            cg.path("hugetlb").unwrap(),
            &[
                ("hugetlb.2MB.limit_in_bytes", ""),
                ("hugetlb.2MB.rsvd.limit_in_bytes", ""),
            ],
        );
        let writes = apply(
            &cg,
            r#"{"hugepageLimits":[{"pageSize":"2MB","limit":2097152}]}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("hugetlb.2MB.limit_in_bytes", "2097152"),
                w("hugetlb.2MB.rsvd.limit_in_bytes", "2097152"),
            ]
        );
        // An unsupported page size names the file.
        let e = apply(&cg, r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#).unwrap_err();
        assert!(e.to_string().contains("hugetlb.3MB.limit_in_bytes"), "{e}");
    }

    #[test]
    fn missing_controllers() {
        // Hybrid without hugetlb anywhere.
        let fake = FakeHybrid::with_unified_controllers("");
        let cg = Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        let e = apply(&cg, r#"{"hugepageLimits":[{"pageSize":"2MB","limit":1}]}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup controller hugetlb is not available on this host"
        );
        // Unset or empty is fine.
        apply(
            &cg,
            r#"{"hugepageLimits":[],"network":{},"rdma":{},"unified":{}}"#,
        )
        .unwrap();
        let e = apply(&cg, r#"{"network":{"classID":1048577}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup controller net_cls is not available on this host"
        );
        let e = apply(
            &cg,
            r#"{"network":{"priorities":[{"name":"eth0","priority":5}]}}"#,
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup controller net_prio is not available on this host"
        );
        let e = apply(&cg, r#"{"rdma":{"mlx5_0":{"hcaHandles":3}}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup controller rdma is not available on this host"
        );

        // v2 host without io.
        let (_f, cg, _dir) = v2("memory", &[]);
        let e = apply(&cg, r#"{"blockIO":{"weight":100}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup controller io is not available on this host"
        );
    }

    #[test]
    fn v2_controller_not_enabled_for_leaf() {
        // The host has cpu, but the leaf's parent did not delegate it.
        let (_f, cg, dir) = v2("cpu memory", &[]);
        touch(&dir, &[("cgroup.controllers", "memory")]);
        let e = apply(&cg, r#"{"cpu":{"shares":100}}"#).unwrap_err();
        assert_eq!(
            e.to_string(),
            format!("cgroup controller cpu is not enabled in {}", dir.display())
        );
    }

    #[test]
    fn devices_v1_and_v2() {
        let (_f, cg) = hybrid(&[
            ("devices", "devices.allow", ""),
            ("devices", "devices.deny", ""),
        ]);
        let json = r#"{"devices":[
            {"allow":false,"access":"rwm"},
            {"allow":true,"type":"c","major":1,"minor":3,"access":"rwm"},
            {"allow":true,"type":"c","major":136,"access":"rw"},
            {"allow":true,"type":"b","major":8,"minor":0},
            {"allow":false,"type":"c","major":5,"minor":1,"access":"w"},
            {"allow":true,"type":"p","major":0,"minor":0,"access":"r"}]}"#;
        assert_eq!(
            apply(&cg, json).unwrap(),
            [
                w("devices.deny", "a *:* rwm"),
                w("devices.allow", "c 1:3 rwm"),
                w("devices.allow", "c 136:* rw"),
                w("devices.allow", "b 8:0 rwm"),
                w("devices.deny", "c 5:1 w"),
            ]
        );
        // v2: no eBPF, nothing written, no error.
        let (_f, cg, _dir) = v2("memory", &[]);
        assert!(apply(&cg, json).unwrap().is_empty());
    }

    #[test]
    fn network_and_rdma_v1() {
        let fake = FakeHybrid::new();
        let mi = hybrid_mountinfo(&fake.root)
            + &format!(
                "42 31 0:39 / {r}/net_cls,net_prio rw - cgroup cgroup rw,net_cls,net_prio\n\
                 43 31 0:40 / {r}/rdma rw - cgroup cgroup rw,rdma\n",
                r = fake.root.display()
            );
        let h = crate::Hierarchies::from_strings(&mi, HYBRID_PROC_CGROUP).unwrap();
        let cg = Cgroup::resolve(&h, None, "ctr").unwrap();
        cg.create().unwrap();
        assert_eq!(cg.path("net_cls"), cg.path("net_prio"));
        touch(
            cg.path("net_cls").unwrap(),
            &[("net_cls.classid", ""), ("net_prio.ifpriomap", "")],
        );
        touch(cg.path("rdma").unwrap(), &[("rdma.max", "")]);
        let writes = apply(
            &cg,
            r#"{"network":{"classID":1048577,"priorities":[{"name":"eth0","priority":5},{"name":"lo","priority":1}]},
                "rdma":{"mlx5_1":{"hcaHandles":3},"mlx5_0":{"hcaHandles":2,"hcaObjects":100}}}"#,
        )
        .unwrap();
        assert_eq!(
            writes,
            [
                w("net_cls.classid", "1048577"),
                w("net_prio.ifpriomap", "eth0 5"),
                w("net_prio.ifpriomap", "lo 1"),
                w("rdma.max", "mlx5_0 hca_handle=2 hca_object=100"),
                w("rdma.max", "mlx5_1 hca_handle=3 hca_object=max"),
            ]
        );
    }

    #[test]
    fn unified_map() {
        let (_f, cg, dir) = v2(
            "cpu memory pids",
            &[
                ("memory.high", "max"),
                ("pids.max", "max"),
                ("memory.max", "max"),
            ],
        );
        let writes = apply(
            &cg,
            r#"{"pids":{"limit":10},"unified":{"pids.max":"20","memory.high":"1000000"}}"#,
        )
        .unwrap();
        // Unified comes last, overriding the mapped value.
        assert_eq!(
            writes,
            [
                w("pids.max", "10"),
                w("memory.high", "1000000"),
                w("pids.max", "20")
            ]
        );
        assert_eq!(read(&dir.join("pids.max")), "20");
        assert!(apply(&cg, r#"{"unified":{"../escape":"1"}}"#).is_err());
        let e = apply(&cg, r#"{"unified":{"io.max":"8:0 rbps=1"}}"#).unwrap_err();
        assert!(
            e.to_string().contains("controller io is not enabled"),
            "{e}"
        );

        // Hybrid: only controllers living in cgroup2 may be used.
        let (_f, cg) = hybrid(&[("hugetlb", "hugetlb.2MB.max", "max")]);
        let writes = apply(&cg, r#"{"unified":{"hugetlb.2MB.max":"1024"}}"#).unwrap();
        assert_eq!(writes.last().unwrap(), &w("hugetlb.2MB.max", "1024"));
        assert!(writes[..writes.len() - 1]
            .iter()
            .all(|(f, v)| f.ends_with("cgroup.subtree_control") && v == "+hugetlb"));
        let e = apply(&cg, r#"{"unified":{"memory.high":"1"}}"#).unwrap_err();
        assert!(
            e.to_string()
                .contains("controller memory is not in the cgroup v2 hierarchy"),
            "{e}"
        );

        // Pure v1: any unified key is an error.
        let t = tempfile::tempdir().unwrap();
        touch(&t.path().join("memory"), &[]);
        let mi = format!(
            "35 31 0:32 / {}/memory rw - cgroup cgroup rw,memory\n",
            t.path().display()
        );
        let h = crate::Hierarchies::from_strings(&mi, "4:memory:/\n").unwrap();
        let cg = Cgroup::resolve(&h, None, "ctr").unwrap();
        let e = apply(&cg, r#"{"unified":{"memory.high":"1"}}"#).unwrap_err();
        assert!(e.to_string().contains("only has cgroup v1"), "{e}");
    }
}
