//! A private OCI registry on loopback for a test
//! (../shared/conformance/registry-env.sh: Debian's docker-registry), on a
//! port of its own and stopped and purged on drop.

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use crate::cli::{conformance_script, run_cmd};

/// A running registry.
pub struct Registry {
    base: tempfile::TempDir,
    pub port: u16,
}

impl Registry {
    fn script(&self, cmd: &str, images: &Path) -> Command {
        let mut c = Command::new("bash");
        c.arg(conformance_script("registry-env.sh"))
            .arg(cmd)
            .env("RC_REGISTRY_BASE", self.base.path())
            .env("RC_REGISTRY_PORT", self.port.to_string())
            .env("RC_IMAGES", images);
        c
    }

    /// Starts one, seeded from the busybox images in `images`; `slot`
    /// picks a port range no other user of this helper shares.
    pub fn start(images: &Path, slot: u16) -> Registry {
        static STARTED: std::sync::atomic::AtomicU16 = std::sync::atomic::AtomicU16::new(0);
        let nth = STARTED.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let port = 40000 + slot * 2000 + (std::process::id() % 1000) as u16 * 2 + nth % 2;
        let r = Registry {
            base: tempfile::Builder::new()
                .prefix("berth-registry-")
                .tempdir_in("/var/tmp")
                .unwrap(),
            port,
        };
        let out = run_cmd(&mut r.script("start", images), Duration::from_secs(600));
        assert!(out.status.success(), "{out}");
        r
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = run_cmd(
            &mut self.script("stop", Path::new("/nonexistent")),
            Duration::from_secs(60),
        );
    }
}
