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

/// Where [`AuthRegistry`] listens, in its own network namespace.
pub const AUTH_REGISTRY_ADDR: &str = "127.0.0.1:5443";

/// A registry with htpasswd auth (alice:s3cret) and TLS from a CA made
/// for the test (openssl), in a network namespace of its own (so its fixed
/// port is free): berths reach it by running in that namespace. Killed on
/// drop.
pub struct AuthRegistry {
    child: std::process::Child,
    files: tempfile::TempDir,
    /// the registry's network namespace (`/proc/PID/ns/net`)
    pub netns: std::path::PathBuf,
}

impl Drop for AuthRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
}

/// A CA, a certificate for 127.0.0.1 it signed, an htpasswd for
/// alice:s3cret and the registry's config, all in `dir`.
fn make_auth_registry_files(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
           -subj /CN=berth-test-ca 2>/dev/null
         openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
         printf 'subjectAltName=IP:127.0.0.1\\n' > ext
         openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
           -days 2 -extfile ext 2>/dev/null
         python3 -c \"import crypt; print('alice:' + crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))\" > htpasswd
         mkdir -p data",
    );
    let d = dir.display();
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {d}/data\n\
             http:\n  addr: {AUTH_REGISTRY_ADDR}\n  tls:\n    certificate: {d}/srv.crt\n    key: {d}/srv.key\n\
             auth:\n  htpasswd:\n    realm: berth-test\n    path: {d}/htpasswd\n"
        ),
    )
    .unwrap();
}

impl AuthRegistry {
    /// Makes the files and starts the registry; returns once it answers
    /// `/v2/` with a 401.
    pub fn start() -> AuthRegistry {
        let files = tempfile::tempdir().unwrap();
        make_auth_registry_files(files.path());
        // what the registry says goes to a file the failure below shows
        let log = std::fs::File::create(files.path().join("registry.log")).unwrap();
        let child = Command::new("unshare")
            .args([
                "-n",
                "sh",
                "-c",
                "ip link set lo up && exec docker-registry serve \"$0\"",
            ])
            .arg(files.path().join("config.yml"))
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let netns = std::path::PathBuf::from(format!("/proc/{}/ns/net", child.id()));
        let mut reg = AuthRegistry {
            child,
            files,
            netns,
        };
        let mut answer = String::new();
        let mut exited = None;
        let up = crate::wait_until(Duration::from_secs(60), || {
            if let Ok(Some(status)) = reg.child.try_wait() {
                exited = Some(status);
                return true;
            }
            let out = Command::new("nsenter")
                .arg(format!("--net={}", reg.netns.display()))
                .args([
                    "curl",
                    "-sS",
                    "--max-time",
                    "5",
                    "-o",
                    "/dev/null",
                    "-w",
                    "%{http_code}",
                    "--cacert",
                ])
                .arg(reg.files.path().join("ca.crt"))
                .arg(format!("https://{AUTH_REGISTRY_ADDR}/v2/"))
                .output();
            answer = match &out {
                Ok(o) => format!(
                    "{} {}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr).trim()
                ),
                Err(e) => e.to_string(),
            };
            answer.starts_with("401")
        });
        let said =
            || std::fs::read_to_string(reg.files.path().join("registry.log")).unwrap_or_default();
        assert!(
            exited.is_none(),
            "the test registry exited ({}); it said:\n{}",
            exited.unwrap(),
            said()
        );
        assert!(
            up,
            "the test registry did not come up in 60 s; its last answer: {answer}; it said:\n{}",
            said()
        );
        reg
    }

    /// Installs the registry's CA in the `certs.d` of the berth state dir
    /// `state`, so that berth trusts it.
    pub fn trust_in(&self, state: &Path) {
        let certs = state.join("certs.d").join(AUTH_REGISTRY_ADDR);
        std::fs::create_dir_all(&certs).unwrap();
        std::fs::copy(self.files.path().join("ca.crt"), certs.join("ca.crt")).unwrap();
    }
}
