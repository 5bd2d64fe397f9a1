//! cgroup drivers for berth: v1, v2 and hybrid hosts.
//!
//! The cgroupfs behaviour follows runc's `libcontainer/cgroups/fs` (v1) and `fs2`
//! (v2) drivers. No systemd driver: cgroups are always managed through the
//! filesystem.
//!
//! ```no_run
//! # fn main() -> Result<(), berth_cgroups::Error> {
//! # let resources = oci_spec::runtime::LinuxResources::default();
//! use berth_cgroups::{Cgroup, Hierarchies};
//! let h = Hierarchies::detect()?;
//! let cg = Cgroup::resolve(&h, Some("/berth/ctr1"), "ctr1")?;
//! cg.create()?;
//! cg.apply(&resources)?;
//! cg.add_process(1234)?;
//! // ... later, from another invocation, with `cg` loaded from the state file:
//! cg.destroy()?;
//! # Ok(()) }
//! ```
//!
//! On hybrid hosts every controller with a v1 hierarchy is used through v1; the
//! controllers found only in the cgroup2 mount's `cgroup.controllers` (often
//! `hugetlb`) are used through the cgroup2 directory, which processes also join.
//!
//! Every path comes from the hierarchies found (at /sys/fs/cgroup, else in
//! mountinfo), so the tests run against fake trees in a tempdir (see
//! [`Hierarchies::from_strings`]).

#![warn(missing_docs)]

mod apply;
mod cgroup;
mod default_paths;
mod error;
mod fs;
mod hierarchy;
mod stats;
#[cfg(test)]
mod testutil;

pub use cgroup::{Cgroup, FreezerState, JoinFiles};
pub use error::Error;
pub use hierarchy::{visible_cgroup_lines, Hierarchies, Layout, Mount};
pub use stats::{
    BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry, MemoryStats, PidsStats,
    Stats, Throttling,
};
