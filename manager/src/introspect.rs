//! `top` and `stats`: the task's processes from the shim with ps-like
//! fields from /proc, and the shim's cgroup metrics as docker's numbers.

use berth_proto::containerd::{cgroups, cgroups_v2};
use berth_proto::manager::{StatsResponse, TopResponse, TopRow};
use protobuf::Message;

use crate::error::{ManagerError, Result};
use crate::manager::Manager;
use crate::record::{now_nanos, timestamp};

const TITLES: &[&str] = &["UID", "PID", "PPID", "C", "STIME", "TTY", "TIME", "CMD"];

/// Clock ticks per second for /proc times (100 if sysconf can't say).
fn ticks() -> u64 {
    use nix::unistd::{sysconf, SysconfVar};
    match sysconf(SysconfVar::CLK_TCK) {
        Ok(Some(t)) if t > 0 => t as u64,
        _ => 100,
    }
}

/// Fields of /proc/<pid>/stat after the command name.
fn stat_fields(stat: &str) -> Option<Vec<&str>> {
    let close = stat.rfind(')')?;
    Some(stat[close + 1..].split_whitespace().collect())
}

fn hms(secs: u64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    )
}

/// One `ps -ef`-like row for a pid, or `None` once it is gone.
pub fn ps_row(pid: u32) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let f = stat_fields(&stat)?;
    // after ')': state(0) ppid(1) … utime(11) stime(12) … starttime(19)
    let ppid = f.get(1)?.to_string();
    let tty_nr: u64 = f.get(4)?.parse().ok()?;
    let cpu_ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    let start_ticks: u64 = f.get(19)?.parse().ok()?;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .unwrap_or("?")
        .to_string();
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    let cmd = String::from_utf8_lossy(&cmdline)
        .split('\0')
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
    let cmd = if cmd.is_empty() {
        let name = &stat[stat.find('(')? + 1..stat.rfind(')')?];
        format!("[{name}]")
    } else {
        cmd
    };
    let uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .ok()
        .and_then(|u| u.split_whitespace().next().map(str::to_string))
        .and_then(|u| u.parse().ok())
        .unwrap_or(0.0);
    let age = (uptime - start_ticks as f64 / ticks() as f64).max(0.0) as u64;
    let started_unix = now_nanos() / 1_000_000_000 - age;
    let stime = format!(
        "{:02}:{:02}",
        (started_unix / 3600) % 24,
        (started_unix / 60) % 60
    );
    let c = (cpu_ticks / ticks())
        .checked_mul(100)
        .map(|p| p / age.max(1))
        .unwrap_or(0);
    Some(vec![
        uid,
        pid.to_string(),
        ppid,
        c.to_string(),
        stime,
        if tty_nr == 0 {
            "?".into()
        } else {
            format!("pts/{}", tty_nr & 0xff)
        },
        hms(cpu_ticks / ticks()),
        cmd,
    ])
}

/// The host's memory in bytes (`MemTotal` of /proc/meminfo), 0 if unreadable.
pub fn meminfo_total() -> u64 {
    std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .find_map(|l| l.strip_prefix("MemTotal:"))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        })
        .map(|kb| kb * 1024)
        .unwrap_or(0)
}

/// Host cpu time (all cpus) in nanoseconds, from /proc/stat.
fn system_cpu_ns() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let total: u64 = stat
        .lines()
        .next()
        .map(|l| {
            l.split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse::<u64>().ok())
                .sum()
        })
        .unwrap_or(0);
    total * (1_000_000_000 / ticks())
}

/// Bytes received and sent on a process's non-loopback interfaces.
fn net_bytes(pid: u32) -> (u64, u64) {
    let dev = std::fs::read_to_string(format!("/proc/{pid}/net/dev")).unwrap_or_default();
    dev.lines()
        .skip(2)
        .filter_map(|l| l.split_once(':'))
        .filter(|(name, _)| name.trim() != "lo")
        .fold((0, 0), |(rx, tx), (_, v)| {
            let f: Vec<u64> = v
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            (
                rx + f.first().copied().unwrap_or(0),
                tx + f.get(8).copied().unwrap_or(0),
            )
        })
}

fn ncpu() -> u32 {
    std::thread::available_parallelism()
        .map(|n| n.get() as u32)
        .unwrap_or(1)
}

/// Fills docker's numbers from the shim's metrics message.
pub fn stats_from_metrics(type_url: &str, value: &[u8], out: &mut StatsResponse) -> Result<()> {
    let bad = |e: protobuf::Error| ManagerError::Internal(format!("shim metrics: {e}"));
    if type_url.ends_with("io.containerd.cgroups.v1.Metrics") {
        let m = cgroups::metrics::Metrics::parse_from_bytes(value).map_err(bad)?;
        out.cpu_usage_ns = m.cpu.usage.total;
        out.memory_usage = m.memory.usage.usage;
        out.memory_limit = m.memory.usage.limit;
        out.pids = m.pids.current;
        out.pids_limit = m.pids.limit;
        for e in &m.blkio.io_service_bytes_recursive {
            match e.op.to_ascii_lowercase().as_str() {
                "read" => out.blkio_read += e.value,
                "write" => out.blkio_write += e.value,
                _ => {}
            }
        }
    } else if type_url.ends_with("io.containerd.cgroups.v2.Metrics") {
        let m = cgroups_v2::metrics::Metrics::parse_from_bytes(value).map_err(bad)?;
        out.cpu_usage_ns = m.cpu.usage_usec * 1000;
        out.memory_usage = m.memory.usage;
        out.memory_limit = m.memory.usage_limit;
        out.pids = m.pids.current;
        out.pids_limit = m.pids.limit;
        for e in &m.io.usage {
            out.blkio_read += e.rbytes;
            out.blkio_write += e.wbytes;
        }
    } else {
        return Err(ManagerError::Internal(format!(
            "shim metrics of unknown type {type_url}"
        )));
    }
    Ok(())
}

impl Manager {
    pub async fn top_task(&self, key: &str) -> Result<TopResponse> {
        let rec = self.resolve(key)?;
        let client = self.running_client(&rec)?;
        let pids = client.pids(&rec.id).await?;
        let rows = pids
            .processes
            .iter()
            .filter_map(|p| ps_row(p.pid))
            .map(|fields| TopRow {
                fields,
                ..Default::default()
            })
            .collect();
        Ok(TopResponse {
            titles: TITLES.iter().map(|t| t.to_string()).collect(),
            rows,
            ..Default::default()
        })
    }

    pub async fn task_stats(&self, key: &str) -> Result<StatsResponse> {
        let rec = self.resolve(key)?;
        let client = self.running_client(&rec)?;
        let s = client.stats(&rec.id).await?;
        let mut out = StatsResponse::new();
        if let Some(any) = s.stats.as_ref() {
            stats_from_metrics(&any.type_url, &any.value, &mut out)?;
        }
        let mem_total = meminfo_total();
        if out.memory_limit == 0 || out.memory_limit > mem_total {
            out.memory_limit = mem_total;
        }
        out.system_cpu_usage_ns = system_cpu_ns();
        out.online_cpus = ncpu();
        (out.net_rx, out.net_tx) = net_bytes(rec.pid);
        out.read = timestamp(now_nanos());
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn own_process_has_a_ps_row() {
        let row = ps_row(std::process::id()).unwrap();
        assert_eq!(row.len(), TITLES.len());
        assert_eq!(row[1], std::process::id().to_string());
        assert!(!row[7].is_empty());
    }

    #[test]
    fn v1_metrics_become_docker_numbers() {
        let mut m = cgroups::metrics::Metrics::new();
        m.cpu
            .mut_or_insert_default()
            .usage
            .mut_or_insert_default()
            .total = 42;
        m.memory
            .mut_or_insert_default()
            .usage
            .mut_or_insert_default()
            .usage = 7;
        m.pids.mut_or_insert_default().current = 3;
        let mut e = cgroups::metrics::BlkIOEntry::new();
        e.op = "Read".into();
        e.value = 5;
        m.blkio
            .mut_or_insert_default()
            .io_service_bytes_recursive
            .push(e);
        let mut out = StatsResponse::new();
        stats_from_metrics(
            "io.containerd.cgroups.v1.Metrics",
            &m.write_to_bytes().unwrap(),
            &mut out,
        )
        .unwrap();
        assert_eq!(
            (out.cpu_usage_ns, out.memory_usage, out.pids, out.blkio_read),
            (42, 7, 3, 5)
        );
        assert!(stats_from_metrics("x", &[], &mut out).is_err());
    }
}
