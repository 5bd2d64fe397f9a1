//! A network namespace of a test's own: a holder process from `unshare
//! -n` with `lo` up, killed on drop.  Every test that makes bridges, NAT
//! rules or published ports runs its berth (so its manager) inside one, and
//! reaches containers only from inside it.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::cli::{run_cmd, Out};
use crate::{busybox_bin, wait_until};

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
        ns.exec(&["ip", "link", "set", "lo", "up"]);
        ns
    }

    pub fn path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/{}/ns/net", self.holder.id()))
    }

    /// Runs a command inside the namespace; panics unless it succeeds.
    pub fn exec(&self, args: &[&str]) -> String {
        let out = self.try_exec(args);
        assert!(out.status.success(), "{out}");
        out.stdout
    }

    pub fn try_exec(&self, args: &[&str]) -> Out {
        run_cmd(
            Command::new("nsenter")
                .arg(format!("--net={}", self.path().display()))
                .arg("--")
                .args(args),
            Duration::from_secs(30),
        )
    }

    /// An HTTP GET from the namespace (the test's side of published ports).
    pub fn wget(&self, url: &str) -> Out {
        let bb = busybox_bin();
        // busybox's own `wget -T` crashes in this build: `timeout` bounds it
        let bb = bb.to_str().unwrap();
        self.try_exec(&[bb, "timeout", "5", bb, "wget", "-qO-", url])
    }

    /// The page at `url`, once the server answers (a container just started
    /// may not listen yet); panics after 10 s.
    pub fn page(&self, url: &str) -> String {
        let mut last = None;
        let ok = wait_until(Duration::from_secs(10), || {
            let out = self.wget(url);
            let ok = out.status.success();
            last = Some(out);
            ok
        });
        let out = last.unwrap();
        if !ok {
            let diag = self.try_exec(&["sh", "-c", "ip -o addr; ip route; nft list ruleset"]);
            panic!("{url}: {out}\n--- namespace:\n{}", diag.stdout);
        }
        out.stdout.trim().to_string()
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
