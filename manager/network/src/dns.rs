//! Name resolution on user networks with Debian's `aardvark-dns`: a
//! standalone resolver configured by one file per network (its gateway, then
//! one line per container: id, address, names), listening on each network's
//! gateway.  It daemonizes and keeps answering while no manager runs; a new
//! manager finds it again through its pid file and reloads it with SIGHUP.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::process::Command;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::{NetworkConfig, NetworkError, Result};

/// Where Debian installs it (podman's helper directory).
pub const AARDVARK: &str = "/usr/lib/podman/aardvark-dns";

/// One name a resolver answers: a container's address and its names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub container_id: String,
    pub ip: Ipv4Addr,
    pub names: Vec<String>,
}

/// The resolver of one manager: its config directory.
#[derive(Debug, Clone)]
pub struct Resolver {
    pub dir: PathBuf,
}

fn io_err<'a>(
    what: &'static str,
    path: &'a Path,
) -> impl FnOnce(std::io::Error) -> NetworkError + 'a {
    move |source| NetworkError::Io {
        what,
        path: path.to_path_buf(),
        source,
    }
}

/// The network's config file body.
pub fn config_text(net: &NetworkConfig, records: &[Record]) -> String {
    let mut s = format!("{}\n", net.gateway);
    for r in records {
        s += &format!("{} {}  {}\n", r.container_id, r.ip, r.names.join(","));
    }
    s
}

impl Resolver {
    pub fn new(dir: impl Into<PathBuf>) -> Resolver {
        Resolver { dir: dir.into() }
    }

    fn pid_file(&self) -> PathBuf {
        self.dir.join("aardvark.pid")
    }

    /// The running resolver of this directory, if any.
    pub fn running_pid(&self) -> Option<Pid> {
        let pid: i32 = std::fs::read_to_string(self.pid_file())
            .ok()?
            .trim()
            .parse()
            .ok()?;
        let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
        let cmdline = String::from_utf8_lossy(&cmdline);
        let ours =
            cmdline.contains("aardvark-dns") && cmdline.contains(&*self.dir.to_string_lossy());
        ours.then(|| Pid::from_raw(pid))
    }

    /// Writes the network's names (new file, then rename) and makes the
    /// resolver read them: started when none runs, else reloaded.
    pub fn update(&self, net: &NetworkConfig, records: &[Record]) -> Result<()> {
        std::fs::create_dir_all(&self.dir).map_err(io_err("create directory", &self.dir))?;
        let path = self.dir.join(&net.name);
        let tmp = self.dir.join(format!(".{}.tmp", net.name));
        std::fs::write(&tmp, config_text(net, records)).map_err(io_err("write", &tmp))?;
        std::fs::rename(&tmp, &path).map_err(io_err("rename", &path))?;
        self.reload_or_start()
    }

    /// Drops a network's file; the resolver stops with the last one.
    pub fn remove(&self, network_name: &str) -> Result<()> {
        let path = self.dir.join(network_name);
        match std::fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io_err("remove", &path)(e)),
        }
        let any_left = std::fs::read_dir(&self.dir)
            .map(|d| {
                d.flatten().any(|e| {
                    let n = e.file_name();
                    let n = n.to_string_lossy();
                    !n.starts_with('.') && n != "aardvark.pid"
                })
            })
            .unwrap_or(false);
        match (self.running_pid(), any_left) {
            (Some(pid), true) => {
                let _ = kill(pid, Signal::SIGHUP);
            }
            (Some(pid), false) => {
                let _ = kill(pid, Signal::SIGTERM);
                reap(pid);
            }
            _ => {}
        }
        Ok(())
    }

    /// Stops the resolver whatever networks it serves (tests, teardown).
    pub fn stop(&self) {
        if let Some(pid) = self.running_pid() {
            let _ = kill(pid, Signal::SIGTERM);
            reap(pid);
        }
    }

    fn reload_or_start(&self) -> Result<()> {
        if let Some(pid) = self.running_pid() {
            return kill(pid, Signal::SIGHUP)
                .map_err(|e| NetworkError::Dns(format!("reload aardvark-dns {pid}: {e}")));
        }
        // it forks into the background once it listens, then this returns
        let out = Command::new(AARDVARK)
            .arg("--config")
            .arg(&self.dir)
            .args(["-p", "53", "run"])
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(|e| {
                NetworkError::Dns(format!(
                    "run {AARDVARK}: {e} (is Debian's aardvark-dns installed?)"
                ))
            })?;
        if !out.status.success() {
            return Err(NetworkError::Dns(format!(
                "aardvark-dns: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )));
        }
        Ok(())
    }
}

/// Collects a stopped resolver's exit status when it is our child (a
/// manager that is a subreaper inherits the daemonized resolver); waits at
/// most half a second.
fn reap(pid: Pid) {
    use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
    for _ in 0..50 {
        match waitpid(pid, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::StillAlive) => std::thread::sleep(std::time::Duration::from_millis(10)),
            _ => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_lists_gateway_then_containers() {
        let net = NetworkConfig {
            name: "n".into(),
            id: "0".repeat(64),
            bridge: "br-x".into(),
            subnet: "10.5.0.0/16".parse().unwrap(),
            gateway: "10.5.0.1".parse().unwrap(),
            internal: false,
            dns: true,
        };
        let r = Record {
            container_id: "abc".into(),
            ip: "10.5.0.2".parse().unwrap(),
            names: vec!["web".into(), "www".into()],
        };
        assert_eq!(config_text(&net, &[r]), "10.5.0.1\nabc 10.5.0.2  web,www\n");
    }
}
