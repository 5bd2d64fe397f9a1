//! Resource usage statistics, shaped like the `data` of runc's
//! `events --stats` JSON (runc's `types.Stats`) so existing tooling can read it.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::cgroup::Target;
use crate::{fs, Cgroup, Error};

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// A container's resource usage. Field names and omissions follow runc's JSON.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory usage and limits.
    pub memory: MemoryStats,
    /// Number of tasks.
    pub pids: PidsStats,
    /// Block I/O.
    pub blkio: BlkioStats,
    /// Hugepage usage by page size (`2MB`, `1GB`, ...).
    pub hugetlb: BTreeMap<String, HugetlbStats>,
}

/// CPU statistics.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct CpuStats {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS bandwidth throttling.
    pub throttling: Throttling,
}

/// CPU time, in nanoseconds.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct CpuUsage {
    /// Total CPU time.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Total per CPU (cgroup v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Kernel-mode time per CPU (cgroup v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// User-mode time per CPU (cgroup v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// Time in kernel mode.
    pub kernel: u64,
    /// Time in user mode.
    pub user: u64,
}

/// CFS bandwidth throttling counters.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the cgroup was throttled.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total time throttled, in nanoseconds.
    #[serde(skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// Memory statistics.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct MemoryStats {
    /// Page cache (`cache` on v1, `file` on v2).
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Memory plus swap (v2 figures are converted to v1's memory+swap meaning).
    pub swap: MemoryEntry,
    /// Kernel memory (cgroup v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (cgroup v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// Every counter of memory.stat.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// One memory counter set. `u64::MAX` means unlimited.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct MemoryEntry {
    /// Limit in bytes.
    pub limit: u64,
    /// Current usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage in bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times the limit was hit.
    pub failcnt: u64,
}

/// Task counts.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct PidsStats {
    /// Tasks in the cgroup.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// Task limit, 0 when unlimited.
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// Block I/O statistics. On cgroup v2 only bytes and operations are available.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default, rename_all = "camelCase")]
pub struct BlkioStats {
    /// Bytes transferred per device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// I/O operations per device and operation.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// One line of a blkio statistics file.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct BlkioEntry {
    /// Device major number.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor number.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// `Read`, `Write`, `Sync`, `Async`, `Discard` or `Total`.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The counter.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Hugepage usage for one page size.
#[derive(Serialize, Deserialize, Clone, Debug, Default, PartialEq, Eq)]
#[serde(default)]
pub struct HugetlbStats {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak bytes in use (cgroup v1 only).
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Times allocation failed because of the limit.
    pub failcnt: u64,
}

impl Cgroup {
    /// Reads the cgroup's statistics. Files that do not exist (controller absent,
    /// older kernel, cgroup already removed) leave their fields at zero.
    pub fn stats(&self) -> Result<Stats, Error> {
        let mut s = Stats::default();
        self.cpu_stats(&mut s.cpu)?;
        match self.target("memory", "memory") {
            Some(Target::V1(dir)) => memory_v1(dir, &mut s.memory)?,
            Some(Target::V2(dir)) => memory_v2(dir, &mut s.memory)?,
            None => {}
        }
        if let Some(Target::V1(dir) | Target::V2(dir)) = self.target("pids", "pids") {
            s.pids.current = fs::read_u64(dir, "pids.current")?;
            // runc reports "max" as 0.
            s.pids.limit = match fs::read_u64(dir, "pids.max")? {
                u64::MAX => 0,
                v => v,
            };
        }
        match self.target("blkio", "io") {
            Some(Target::V1(dir)) => blkio_v1(dir, &mut s.blkio)?,
            Some(Target::V2(dir)) => io_v2(
                &fs::read_opt(dir, "io.stat")?.unwrap_or_default(),
                &mut s.blkio,
            ),
            None => {}
        }
        match self.target("hugetlb", "hugetlb") {
            Some(Target::V1(dir)) => hugetlb(dir, false, &mut s.hugetlb)?,
            Some(Target::V2(dir)) => hugetlb(dir, true, &mut s.hugetlb)?,
            None => {}
        }
        Ok(s)
    }

    fn cpu_stats(&self, cpu: &mut CpuStats) -> Result<(), Error> {
        let (v1_cpu, v1_acct) = (self.v1_dir("cpu"), self.v1_dir("cpuacct"));
        if let Some(dir) = v1_cpu {
            let text = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
            for (k, v) in fs::parse_flat_keyed(&text) {
                match k {
                    "nr_periods" => cpu.throttling.periods = v,
                    "nr_throttled" => cpu.throttling.throttled_periods = v,
                    "throttled_time" => cpu.throttling.throttled_time = v,
                    _ => {}
                }
            }
        }
        if let Some(dir) = v1_acct {
            cpu.usage.total = fs::read_u64(dir, "cpuacct.usage")?;
            let list = |f| -> Result<Vec<u64>, Error> {
                Ok(fs::read_opt(dir, f)?
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|v| v.parse().ok())
                    .collect())
            };
            cpu.usage.percpu = list("cpuacct.usage_percpu")?;
            cpu.usage.percpu_kernel = list("cpuacct.usage_percpu_sys")?;
            cpu.usage.percpu_user = list("cpuacct.usage_percpu_user")?;
            // cpuacct.stat counts USER_HZ ticks.
            let ticks = clock_ticks();
            let text = fs::read_opt(dir, "cpuacct.stat")?.unwrap_or_default();
            for (k, v) in fs::parse_flat_keyed(&text) {
                let ns = v.saturating_mul(1_000_000_000) / ticks;
                match k {
                    "user" => cpu.usage.user = ns,
                    "system" => cpu.usage.kernel = ns,
                    _ => {}
                }
            }
        }
        if v1_cpu.is_none() && v1_acct.is_none() {
            // cgroup2 keeps usage in cpu.stat even without the cpu controller.
            if let Some(dir) = self.unified_path() {
                let text = fs::read_opt(dir, "cpu.stat")?.unwrap_or_default();
                cpu_v2(&text, cpu);
            }
        }
        Ok(())
    }
}

fn clock_ticks() -> u64 {
    // SAFETY: sysconf takes no pointers and only reads a system constant.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

fn cpu_v2(text: &str, cpu: &mut CpuStats) {
    for (k, v) in fs::parse_flat_keyed(text) {
        let ns = v.saturating_mul(1000);
        match k {
            "usage_usec" => cpu.usage.total = ns,
            "user_usec" => cpu.usage.user = ns,
            "system_usec" => cpu.usage.kernel = ns,
            "nr_periods" => cpu.throttling.periods = v,
            "nr_throttled" => cpu.throttling.throttled_periods = v,
            "throttled_usec" => cpu.throttling.throttled_time = ns,
            _ => {}
        }
    }
}

fn raw_memory_stat(dir: &Path) -> Result<BTreeMap<String, u64>, Error> {
    let text = fs::read_opt(dir, "memory.stat")?.unwrap_or_default();
    Ok(fs::parse_flat_keyed(&text)
        .map(|(k, v)| (k.to_string(), v))
        .collect())
}

fn memory_v1(dir: &Path, m: &mut MemoryStats) -> Result<(), Error> {
    m.raw = raw_memory_stat(dir)?;
    m.cache = m.raw.get("cache").copied().unwrap_or(0);
    let entry = |prefix: &str| -> Result<MemoryEntry, Error> {
        Ok(MemoryEntry {
            limit: fs::read_u64(dir, &format!("{prefix}.limit_in_bytes"))?,
            usage: fs::read_u64(dir, &format!("{prefix}.usage_in_bytes"))?,
            max: fs::read_u64(dir, &format!("{prefix}.max_usage_in_bytes"))?,
            failcnt: fs::read_u64(dir, &format!("{prefix}.failcnt"))?,
        })
    };
    m.usage = entry("memory")?;
    m.swap = entry("memory.memsw")?;
    m.kernel = entry("memory.kmem")?;
    m.kernel_tcp = entry("memory.kmem.tcp")?;
    Ok(())
}

fn memory_v2(dir: &Path, m: &mut MemoryStats) -> Result<(), Error> {
    m.raw = raw_memory_stat(dir)?;
    m.cache = m.raw.get("file").copied().unwrap_or(0);
    m.usage = MemoryEntry {
        limit: fs::read_u64(dir, "memory.max")?,
        usage: fs::read_u64(dir, "memory.current")?,
        max: fs::read_u64(dir, "memory.peak")?,
        failcnt: fs::read_keyed(dir, "memory.events", "max")?,
    };
    // v1 reported memory+swap; v2 counts swap alone. Convert like runc so
    // consumers see the same meaning on both.
    if let Some(cur) = fs::read_opt(dir, "memory.swap.current")? {
        let swap = fs::parse_u64(&cur).unwrap_or(0);
        let limit = fs::read_u64(dir, "memory.swap.max")?;
        m.swap = MemoryEntry {
            usage: swap.saturating_add(m.usage.usage),
            limit: if limit == u64::MAX {
                limit
            } else {
                limit.saturating_add(m.usage.limit)
            },
            max: 0,
            failcnt: fs::read_keyed(dir, "memory.swap.events", "max")?,
        };
    }
    Ok(())
}

/// Parses a v1 blkio file: `8:0 Read 123` lines (or `8:0 123` without an
/// operation); the trailing `Total N` line is skipped, as are malformed lines.
fn parse_blkio(text: &str) -> Vec<BlkioEntry> {
    text.lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split([' ', ':']).filter(|s| !s.is_empty()).collect();
            let (op, value) = match f.len() {
                4 => (f[2], f[3]),
                3 => ("", f[2]),
                _ => return None,
            };
            Some(BlkioEntry {
                major: f[0].parse().ok()?,
                minor: f[1].parse().ok()?,
                op: op.to_string(),
                value: value.parse().ok()?,
            })
        })
        .collect()
}

fn blkio_v1(dir: &Path, b: &mut BlkioStats) -> Result<(), Error> {
    // Like runc, take the first family of files that has data: BFQ, CFQ (kernels
    // before 5.0), then the throttling layer, which sees every I/O.
    const FAMILIES: &[(&str, &str)] = &[
        (
            "blkio.bfq.io_service_bytes_recursive",
            "blkio.bfq.io_serviced_recursive",
        ),
        (
            "blkio.io_service_bytes_recursive",
            "blkio.io_serviced_recursive",
        ),
        (
            "blkio.throttle.io_service_bytes_recursive",
            "blkio.throttle.io_serviced_recursive",
        ),
        (
            "blkio.throttle.io_service_bytes",
            "blkio.throttle.io_serviced",
        ),
    ];
    for (bytes, ops) in FAMILIES {
        let entries = parse_blkio(&fs::read_opt(dir, bytes)?.unwrap_or_default());
        if !entries.is_empty() {
            b.io_service_bytes_recursive = entries;
            b.io_serviced_recursive = parse_blkio(&fs::read_opt(dir, ops)?.unwrap_or_default());
            break;
        }
    }
    Ok(())
}

/// Maps v2 io.stat (`8:0 rbytes=1 wbytes=2 rios=3 wios=4 ...`) onto v1's tables.
fn io_v2(text: &str, b: &mut BlkioStats) {
    for line in text.lines() {
        let mut fields = line.split_whitespace();
        let Some((major, minor)) = fields.next().and_then(|d| d.split_once(':')) else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (major.parse(), minor.parse()) else {
            continue;
        };
        for kv in fields {
            let Some((k, v)) = kv.split_once('=') else {
                continue;
            };
            let (table, op) = match k {
                "rbytes" => (&mut b.io_service_bytes_recursive, "Read"),
                "wbytes" => (&mut b.io_service_bytes_recursive, "Write"),
                "rios" => (&mut b.io_serviced_recursive, "Read"),
                "wios" => (&mut b.io_serviced_recursive, "Write"),
                _ => continue,
            };
            if let Ok(value) = v.parse() {
                table.push(BlkioEntry {
                    major,
                    minor,
                    op: op.to_string(),
                    value,
                });
            }
        }
    }
}

/// Finds the page sizes from the limit files present (`hugetlb.2MB.max` or
/// `hugetlb.2MB.limit_in_bytes`) and reads each size's counters.
fn hugetlb(dir: &Path, v2: bool, out: &mut BTreeMap<String, HugetlbStats>) -> Result<(), Error> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Ok(());
    };
    let suffix = if v2 { ".max" } else { ".limit_in_bytes" };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(size) = name
            .to_str()
            .and_then(|n| n.strip_prefix("hugetlb."))
            .and_then(|n| n.strip_suffix(suffix))
            // Skips `hugetlb.2MB.rsvd.max` and friends.
            .filter(|s| !s.contains('.'))
        else {
            continue;
        };
        let st = if v2 {
            HugetlbStats {
                usage: fs::read_u64(dir, &format!("hugetlb.{size}.current"))?,
                max: 0,
                failcnt: fs::read_keyed(dir, &format!("hugetlb.{size}.events"), "max")?,
            }
        } else {
            HugetlbStats {
                usage: fs::read_u64(dir, &format!("hugetlb.{size}.usage_in_bytes"))?,
                max: fs::read_u64(dir, &format!("hugetlb.{size}.max_usage_in_bytes"))?,
                failcnt: fs::read_u64(dir, &format!("hugetlb.{size}.failcnt"))?,
            }
        };
        out.insert(size.to_string(), st);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::*;

    const MEMORY_STAT_V1: &str = "cache 4096\nrss 8192\nrss_huge 0\nshmem 0\nmapped_file 0\n\
        total_cache 4096\ntotal_rss 8192\nhierarchical_memory_limit 9223372036854771712\n";

    const MEMORY_STAT_V2: &str = "anon 1000\nfile 2000\nkernel 300\nsock 0\nshmem 0\n\
        file_mapped 0\nworkingset_refault_anon 0\npgfault 42\n";

    #[test]
    fn stats_v1_hybrid() {
        let fake = FakeHybrid::new();
        let cg = crate::Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        touch(
            cg.path("memory").unwrap(),
            &[
                ("memory.stat", MEMORY_STAT_V1),
                ("memory.usage_in_bytes", "12288\n"),
                ("memory.max_usage_in_bytes", "20000\n"),
                ("memory.failcnt", "1\n"),
                ("memory.limit_in_bytes", "1048576\n"),
                ("memory.memsw.usage_in_bytes", "13000\n"),
                ("memory.memsw.limit_in_bytes", "2097152\n"),
                ("memory.kmem.usage_in_bytes", "500\n"),
            ],
        );
        touch(
            cg.path("cpu").unwrap(),
            &[(
                "cpu.stat",
                "nr_periods 10\nnr_throttled 2\nthrottled_time 3000\n",
            )],
        );
        touch(
            cg.path("cpuacct").unwrap(),
            &[
                ("cpuacct.usage", "5000000000\n"),
                ("cpuacct.usage_percpu", "3000000000 2000000000 \n"),
                (
                    "cpuacct.stat",
                    format!("user {}\nsystem {}\n", clock_ticks(), 2 * clock_ticks()).as_str(),
                ),
            ],
        );
        touch(
            cg.path("pids").unwrap(),
            &[("pids.current", "3\n"), ("pids.max", "max\n")],
        );
        touch(
            cg.path("blkio").unwrap(),
            &[
                // Empty BFQ files (no BFQ device): fall through to throttle.
                ("blkio.bfq.io_service_bytes_recursive", "Total 0\n"),
                (
                    "blkio.throttle.io_service_bytes_recursive",
                    "8:0 Read 4096\n8:0 Write 8192\n8:0 Sync 0\n8:0 Async 12288\n8:0 Discard 0\n8:0 Total 12288\nTotal 12288\n",
                ),
                ("blkio.throttle.io_serviced_recursive", "8:0 Read 1\n8:0 Write 2\nTotal 3\n"),
            ],
        );
        touch(
            cg.path("hugetlb").unwrap(),
            &[
                ("hugetlb.2MB.max", "max\n"),
                ("hugetlb.2MB.rsvd.max", "max\n"),
                ("hugetlb.2MB.current", "2097152\n"),
                ("hugetlb.2MB.events", "max 1\n"),
            ],
        );

        let s = cg.stats().unwrap();
        assert_eq!(s.cpu.usage.total, 5_000_000_000);
        assert_eq!(s.cpu.usage.percpu, [3_000_000_000, 2_000_000_000]);
        assert_eq!(s.cpu.usage.user, 1_000_000_000);
        assert_eq!(s.cpu.usage.kernel, 2_000_000_000);
        assert_eq!(
            s.cpu.throttling,
            Throttling {
                periods: 10,
                throttled_periods: 2,
                throttled_time: 3000
            }
        );
        assert_eq!(s.memory.cache, 4096);
        assert_eq!(s.memory.raw["rss"], 8192);
        assert_eq!(
            s.memory.usage,
            MemoryEntry {
                limit: 1_048_576,
                usage: 12288,
                max: 20000,
                failcnt: 1
            }
        );
        assert_eq!(s.memory.swap.usage, 13000);
        assert_eq!(s.memory.swap.limit, 2_097_152);
        assert_eq!(s.memory.kernel.usage, 500);
        assert_eq!(
            s.pids,
            PidsStats {
                current: 3,
                limit: 0
            }
        );
        assert_eq!(s.blkio.io_service_bytes_recursive.len(), 6);
        assert_eq!(
            s.blkio.io_service_bytes_recursive[1],
            BlkioEntry {
                major: 8,
                minor: 0,
                op: "Write".into(),
                value: 8192
            }
        );
        assert_eq!(s.blkio.io_serviced_recursive.len(), 2);
        assert_eq!(
            s.hugetlb["2MB"],
            HugetlbStats {
                usage: 2_097_152,
                max: 0,
                failcnt: 1
            }
        );
        assert_eq!(s.hugetlb.len(), 1);

        // runc's JSON field names.
        let j = serde_json::to_value(&s).unwrap();
        assert_eq!(j["cpu"]["throttling"]["throttledPeriods"], 2);
        assert_eq!(j["memory"]["usage"]["limit"], 1_048_576);
        assert!(j["memory"]["kernelTCP"].is_object());
        assert_eq!(j["blkio"]["ioServiceBytesRecursive"][0]["op"], "Read");
        assert_eq!(j["hugetlb"]["2MB"]["failcnt"], 1);
        assert!(j["pids"].get("limit").is_none());
        let back: Stats = serde_json::from_value(j).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn stats_v2() {
        let fake = FakeV2::new("cpu io memory pids hugetlb");
        let cg = crate::Cgroup::resolve(&fake.h, None, "ctr").unwrap();
        cg.create().unwrap();
        touch(
            cg.unified_path().unwrap(),
            &[
                ("memory.stat", MEMORY_STAT_V2),
                ("memory.current", "3300\n"),
                ("memory.max", "max\n"),
                ("memory.peak", "5000\n"),
                ("memory.events", "low 0\nhigh 0\nmax 7\noom 1\noom_kill 1\n"),
                ("memory.swap.current", "100\n"),
                ("memory.swap.max", "max\n"),
                (
                    "cpu.stat",
                    "usage_usec 2000\nuser_usec 1500\nsystem_usec 500\nnr_periods 4\nnr_throttled 1\nthrottled_usec 70\nnr_bursts 0\nburst_usec 0\n",
                ),
                ("pids.current", "5\n"),
                ("pids.max", "100\n"),
                (
                    "io.stat",
                    "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2 dbytes=0 dios=0\n253:1 rbytes=1 wbytes=0 rios=1 wios=0 dbytes=0 dios=0\n",
                ),
                ("hugetlb.1GB.max", "max\n"),
                ("hugetlb.1GB.current", "0\n"),
            ],
        );
        let s = cg.stats().unwrap();
        assert_eq!(s.cpu.usage.total, 2_000_000);
        assert_eq!(s.cpu.usage.user, 1_500_000);
        assert_eq!(s.cpu.usage.kernel, 500_000);
        assert_eq!(s.cpu.throttling.throttled_time, 70_000);
        assert_eq!(s.memory.cache, 2000);
        assert_eq!(s.memory.raw["pgfault"], 42);
        assert_eq!(
            s.memory.usage,
            MemoryEntry {
                limit: u64::MAX,
                usage: 3300,
                max: 5000,
                failcnt: 7
            }
        );
        assert_eq!(s.memory.swap.usage, 3400);
        assert_eq!(s.memory.swap.limit, u64::MAX);
        assert_eq!(
            s.pids,
            PidsStats {
                current: 5,
                limit: 100
            }
        );
        let bytes: Vec<_> = s
            .blkio
            .io_service_bytes_recursive
            .iter()
            .map(|e| (e.major, e.minor, e.op.as_str(), e.value))
            .collect();
        assert_eq!(
            bytes,
            [
                (8, 0, "Read", 4096),
                (8, 0, "Write", 8192),
                (253, 1, "Read", 1),
                (253, 1, "Write", 0)
            ]
        );
        assert_eq!(s.blkio.io_serviced_recursive.len(), 4);
        assert_eq!(s.hugetlb["1GB"], HugetlbStats::default());
    }

    #[test]
    fn stats_of_missing_cgroup_are_zero() {
        let fake = FakeHybrid::new();
        let cg = crate::Cgroup::resolve(&fake.h, None, "never-created").unwrap();
        assert_eq!(cg.stats().unwrap(), Stats::default());
        let fake = FakeV2::new("cpu memory");
        let cg = crate::Cgroup::resolve(&fake.h, None, "never-created").unwrap();
        assert_eq!(cg.stats().unwrap(), Stats::default());
    }

    #[test]
    fn blkio_line_parsing() {
        let e = parse_blkio("8:16 Read 10\n8:16 5\nTotal 15\ngarbage\n");
        assert_eq!(e.len(), 2);
        assert_eq!(e[1].op, "");
        assert_eq!(e[1].value, 5);
    }
}
