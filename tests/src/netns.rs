//! A network namespace of a test's own, held by a sleeping `unshare -n`
//! process (`lo` up) and killed on drop: where tests that make bridges,
//! NAT rules or listeners run their manager, never touching the host's
//! network.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{run_cmd, Out};
use crate::wait_until;

/// A network namespace held by a sleeping process; killed on drop.
pub struct NetNs {
    holder: Child,
}

impl NetNs {
    pub fn new() -> NetNs {
        let holder = Command::new("unshare")
            .args(["-n", "sleep", "infinity"])
            .stdin(Stdio::null())
            .spawn()
            .expect("spawn unshare -n");
        let ns = NetNs { holder };
        let own = std::fs::read_link("/proc/self/ns/net").unwrap();
        assert!(
            wait_until(Duration::from_secs(5), || {
                std::fs::read_link(ns.path()).is_ok_and(|l| l != own)
            }),
            "holder never entered a network namespace of its own"
        );
        let out = ns.try_exec(&["ip", "link", "set", "lo", "up"]);
        assert!(out.status.success(), "{out}");
        ns
    }

    /// `/proc/<holder>/ns/net`.
    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    /// Runs a command inside the namespace.
    pub fn try_exec(&self, args: &[&str]) -> Out {
        run_cmd(
            Command::new("nsenter")
                .arg(format!("--net={}", self.path().display()))
                .arg("--")
                .args(args),
            Duration::from_secs(30),
        )
    }
}

impl Default for NetNs {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}
