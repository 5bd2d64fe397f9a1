//! Task metrics in containerd's types: the container's cgroup statistics
//! (read with berth-cgroups) as `io.containerd.cgroups.v1.Metrics` on
//! cgroup v1 and hybrid hosts, `io.containerd.cgroups.v2.Metrics` on pure
//! cgroup v2 hosts.

use std::path::Path;

use berth_cgroups::{Cgroup, Hierarchies, Stats};
use berth_proto::containerd::cgroups::metrics as v1;
use berth_proto::containerd::cgroups_v2::metrics as v2;
use berth_proto::containerd::protobuf::well_known_types::any::Any;
use berth_proto::containerd::protobuf::Message;

/// Stats that could not be read.
#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    /// The bundle's config.json.
    #[error("read {path}: {message}")]
    Config {
        /// The file.
        path: String,
        /// What was wrong.
        message: String,
    },
    /// The cgroup.
    #[error("cgroup stats: {0}")]
    Cgroup(#[from] berth_cgroups::Error),
    /// Encoding the metrics.
    #[error("encode metrics: {0}")]
    Encode(#[from] berth_proto::containerd::protobuf::Error),
}

/// The container's memory cgroup directory, for OOM notifications.
pub fn memory_dir(bundle: &Path, id: &str) -> Result<std::path::PathBuf, StatsError> {
    let (cgroup, _) = cgroup_of(bundle, id)?;
    cgroup
        .path("memory")
        .map(Path::to_path_buf)
        .ok_or_else(|| StatsError::Config {
            path: bundle.join("config.json").display().to_string(),
            message: "the container has no memory cgroup".into(),
        })
}

/// The container's cgroup from the bundle's `linux.cgroupsPath`.
fn cgroup_of(bundle: &Path, id: &str) -> Result<(Cgroup, bool), StatsError> {
    let path = bundle.join("config.json");
    let err = |message: String| StatsError::Config {
        path: path.display().to_string(),
        message,
    };
    let text = std::fs::read(&path).map_err(|e| err(e.to_string()))?;
    let config: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| err(e.to_string()))?;
    let cgroups_path = config["linux"]["cgroupsPath"].as_str();
    let h = Hierarchies::detect()?;
    let v2_only = h.is_v2_only();
    Ok((Cgroup::resolve(&h, cgroups_path, id)?, v2_only))
}

/// containerd's type URLs for the metrics (its proto names).
const V1_METRICS: &str = "io.containerd.cgroups.v1.Metrics";
const V2_METRICS: &str = "io.containerd.cgroups.v2.Metrics";

fn any_of<M: Message>(m: &M, type_url: &str) -> Result<Any, StatsError> {
    let mut any = Any::new();
    any.type_url = type_url.to_string();
    any.value = m.write_to_bytes()?;
    Ok(any)
}

/// The metrics of container `id` whose bundle is `bundle`.
pub fn metrics(bundle: &Path, id: &str) -> Result<Any, StatsError> {
    let (cgroup, v2_only) = cgroup_of(bundle, id)?;
    let stats = cgroup.stats()?;
    if v2_only {
        any_of(&to_v2(&stats), V2_METRICS)
    } else {
        any_of(&to_v1(&stats), V1_METRICS)
    }
}

fn raw(s: &Stats, key: &str) -> u64 {
    s.memory.raw.get(key).copied().unwrap_or(0)
}

fn v1_entry(e: &berth_cgroups::MemoryEntry) -> v1::MemoryEntry {
    let mut m = v1::MemoryEntry::new();
    m.limit = e.limit;
    m.usage = e.usage;
    m.max = e.max;
    m.failcnt = e.failcnt;
    m
}

/// cgroup v1 metrics.
pub fn to_v1(s: &Stats) -> v1::Metrics {
    let mut m = v1::Metrics::new();
    let mut pids = v1::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = Some(pids).into();

    let mut usage = v1::CPUUsage::new();
    usage.total = s.cpu.usage.total;
    usage.kernel = s.cpu.usage.kernel;
    usage.user = s.cpu.usage.user;
    usage.per_cpu = s.cpu.usage.percpu.clone();
    let mut throttle = v1::Throttle::new();
    throttle.periods = s.cpu.throttling.periods;
    throttle.throttled_periods = s.cpu.throttling.throttled_periods;
    throttle.throttled_time = s.cpu.throttling.throttled_time;
    let mut cpu = v1::CPUStat::new();
    cpu.usage = Some(usage).into();
    cpu.throttling = Some(throttle).into();
    m.cpu = Some(cpu).into();

    let mut mem = v1::MemoryStat::new();
    mem.cache = raw(s, "cache");
    mem.rss = raw(s, "rss");
    mem.rss_huge = raw(s, "rss_huge");
    mem.mapped_file = raw(s, "mapped_file");
    mem.dirty = raw(s, "dirty");
    mem.writeback = raw(s, "writeback");
    mem.pg_pg_in = raw(s, "pgpgin");
    mem.pg_pg_out = raw(s, "pgpgout");
    mem.pg_fault = raw(s, "pgfault");
    mem.pg_maj_fault = raw(s, "pgmajfault");
    mem.inactive_anon = raw(s, "inactive_anon");
    mem.active_anon = raw(s, "active_anon");
    mem.inactive_file = raw(s, "inactive_file");
    mem.active_file = raw(s, "active_file");
    mem.unevictable = raw(s, "unevictable");
    mem.hierarchical_memory_limit = raw(s, "hierarchical_memory_limit");
    mem.hierarchical_swap_limit = raw(s, "hierarchical_memsw_limit");
    mem.total_cache = raw(s, "total_cache");
    mem.total_rss = raw(s, "total_rss");
    mem.total_rss_huge = raw(s, "total_rss_huge");
    mem.total_mapped_file = raw(s, "total_mapped_file");
    mem.total_dirty = raw(s, "total_dirty");
    mem.total_writeback = raw(s, "total_writeback");
    mem.total_pg_pg_in = raw(s, "total_pgpgin");
    mem.total_pg_pg_out = raw(s, "total_pgpgout");
    mem.total_pg_fault = raw(s, "total_pgfault");
    mem.total_pg_maj_fault = raw(s, "total_pgmajfault");
    mem.total_inactive_anon = raw(s, "total_inactive_anon");
    mem.total_active_anon = raw(s, "total_active_anon");
    mem.total_inactive_file = raw(s, "total_inactive_file");
    mem.total_active_file = raw(s, "total_active_file");
    mem.total_unevictable = raw(s, "total_unevictable");
    mem.usage = Some(v1_entry(&s.memory.usage)).into();
    mem.swap = Some(v1_entry(&s.memory.swap)).into();
    mem.kernel = Some(v1_entry(&s.memory.kernel)).into();
    mem.kernel_tcp = Some(v1_entry(&s.memory.kernel_tcp)).into();
    m.memory = Some(mem).into();
    m
}

/// cgroup v2 metrics.
pub fn to_v2(s: &Stats) -> v2::Metrics {
    let mut m = v2::Metrics::new();
    let mut pids = v2::PidsStat::new();
    pids.current = s.pids.current;
    pids.limit = s.pids.limit;
    m.pids = Some(pids).into();

    let mut cpu = v2::CPUStat::new();
    cpu.usage_usec = s.cpu.usage.total / 1000;
    cpu.user_usec = s.cpu.usage.user / 1000;
    cpu.system_usec = s.cpu.usage.kernel / 1000;
    cpu.nr_periods = s.cpu.throttling.periods;
    cpu.nr_throttled = s.cpu.throttling.throttled_periods;
    cpu.throttled_usec = s.cpu.throttling.throttled_time / 1000;
    m.cpu = Some(cpu).into();

    let mut mem = v2::MemoryStat::new();
    mem.anon = raw(s, "anon");
    mem.file = raw(s, "file");
    mem.kernel_stack = raw(s, "kernel_stack");
    mem.slab = raw(s, "slab");
    mem.sock = raw(s, "sock");
    mem.shmem = raw(s, "shmem");
    mem.file_mapped = raw(s, "file_mapped");
    mem.file_dirty = raw(s, "file_dirty");
    mem.file_writeback = raw(s, "file_writeback");
    mem.pgfault = raw(s, "pgfault");
    mem.pgmajfault = raw(s, "pgmajfault");
    mem.inactive_anon = raw(s, "inactive_anon");
    mem.active_anon = raw(s, "active_anon");
    mem.inactive_file = raw(s, "inactive_file");
    mem.active_file = raw(s, "active_file");
    mem.unevictable = raw(s, "unevictable");
    mem.usage = s.memory.usage.usage;
    mem.usage_limit = s.memory.usage.limit;
    mem.max_usage = s.memory.usage.max;
    mem.swap_usage = s.memory.swap.usage.saturating_sub(s.memory.usage.usage);
    m.memory = Some(mem).into();
    m
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn v1_and_v2_carry_the_numbers() {
        let mut s = Stats::default();
        s.pids.current = 3;
        s.cpu.usage.total = 5_000_000;
        s.memory.usage.usage = 4096;
        s.memory.usage.limit = 1 << 30;
        s.memory.raw.insert("total_rss".into(), 8192);
        let m1 = to_v1(&s);
        assert_eq!(m1.pids.current, 3);
        assert_eq!(m1.cpu.usage.total, 5_000_000);
        assert_eq!(m1.memory.usage.usage, 4096);
        assert_eq!(m1.memory.total_rss, 8192);
        let m2 = to_v2(&s);
        assert_eq!(m2.cpu.usage_usec, 5000);
        assert_eq!(m2.memory.usage_limit, 1 << 30);
        use berth_proto::containerd::protobuf::MessageFull;
        assert_eq!(v1::Metrics::descriptor().full_name(), V1_METRICS);
        assert_eq!(v2::Metrics::descriptor().full_name(), V2_METRICS);
    }
}
