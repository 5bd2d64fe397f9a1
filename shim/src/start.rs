//! `start`: bind the task socket, hand it to a daemonized copy of the shim
//! and print its address, as containerd's shims do.

use std::fs;
use std::io;
use std::os::fd::AsRawFd;
use std::os::unix::fs::DirBuilderExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use berth_proto::containerd::protobuf::Message;
use berth_proto::containerd::types::introspection::{RuntimeInfo, RuntimeVersion};
use sha2::{Digest, Sha256};

use crate::args::Args;

/// Where containerd's shims put their sockets, and where these go when the
/// directory beside the address would make a path too long for a socket.
pub const SOCKET_DIR: &str = "/run/containerd/s";
/// The longest path a unix socket address holds (sun_path, with its NUL).
const SUN_PATH_MAX: usize = 107;
/// The CRI annotation naming a container's pod sandbox: containers of one
/// pod share the sandbox's shim.
const SANDBOX_ANNOTATION: &str = "io.kubernetes.cri.sandbox-id";

/// Starting the daemon failed.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The socket.
    #[error("socket {path}: {source}")]
    Socket {
        /// The socket path.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Spawning the daemon.
    #[error("spawn the shim daemon: {0}")]
    Spawn(io::Error),
    /// Writing the address file.
    #[error("write {path}: {source}")]
    Address {
        /// The file.
        path: PathBuf,
        /// Why.
        source: io::Error,
    },
    /// Encoding the runtime info.
    #[error("encode runtime info: {0}")]
    Encode(#[from] berth_proto::containerd::protobuf::Error),
}

/// `unix://<dir>/s/<sha256(address/namespace/id)>`, containerd's scheme,
/// so the socket is unique per containerd, namespace and group. `<dir>` is
/// the directory of the address that started the shim: for containerd's
/// `/run/containerd/containerd.sock` that is containerd's own
/// `/run/containerd/s`, and a berth manager's shims stay under its state
/// dir, removed with it, never among another engine's.
pub fn socket_address(containerd_address: &str, namespace: &str, group: &str) -> String {
    let joined = Path::new(containerd_address).join(namespace).join(group);
    let digest = Sha256::digest(joined.as_os_str().as_encoded_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    let dir = socket_dir(containerd_address);
    format!("unix://{}/{hex}", dir.display())
}

/// The directory a shim started through `containerd_address` puts its
/// socket in (see [`socket_address`]).
pub fn socket_dir(containerd_address: &str) -> PathBuf {
    let address = containerd_address.trim_start_matches("unix://");
    // only beside an address whose directory exists: a made-up address
    // must not make directories on the host
    let beside = Path::new(address)
        .parent()
        .filter(|p| p.is_absolute() && p.is_dir())
        .map(|p| p.join("s"));
    match beside {
        // "/" and 64 hex digits follow the directory
        Some(dir) if dir.as_os_str().len() + 65 <= SUN_PATH_MAX => dir,
        _ => PathBuf::from(SOCKET_DIR),
    }
}

/// The shim a container belongs to: its pod sandbox's, else its own.
fn group_of(bundle: &Path, id: &str) -> String {
    fs::read(bundle.join("config.json"))
        .ok()
        .and_then(|t| serde_json::from_slice::<serde_json::Value>(&t).ok())
        .and_then(|c| {
            c["annotations"][SANDBOX_ANNOTATION]
                .as_str()
                .map(String::from)
        })
        .filter(|g| !g.is_empty())
        .unwrap_or_else(|| id.to_string())
}

fn write_address(bundle: &Path, address: &str) -> Result<(), StartError> {
    let path = bundle.join("address");
    let tmp = bundle.join(".address.tmp");
    fs::write(&tmp, address)
        .and_then(|_| fs::rename(&tmp, &path))
        .map_err(|source| StartError::Address { path, source })
}

/// Binds the socket, spawns the serving daemon with it as fd 3 and returns
/// the address for containerd. If a live shim of the same group already
/// serves the socket, returns its address.
pub fn start(args: &Args) -> Result<String, StartError> {
    let bundle = std::env::current_dir().map_err(StartError::Spawn)?;
    let group = group_of(&bundle, &args.id);
    let address = socket_address(&args.address, &args.namespace, &group);
    let path = PathBuf::from(address.trim_start_matches("unix://"));
    let sock_err = |source| StartError::Socket {
        path: path.clone(),
        source,
    };
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o711)
        .create(socket_dir(&args.address))
        .map_err(sock_err)?;
    let listener = match bind_private(&path) {
        Ok(l) => l,
        Err(e) if e.kind() == io::ErrorKind::AddrInUse => {
            if UnixStream::connect(&path).is_ok() {
                write_address(&bundle, &address)?;
                return Ok(address);
            }
            fs::remove_file(&path).map_err(sock_err)?;
            bind_private(&path).map_err(sock_err)?
        }
        Err(e) => return Err(sock_err(e)),
    };

    let exe = std::env::current_exe().map_err(StartError::Spawn)?;
    let mut cmd = Command::new(exe);
    cmd.args(["-namespace", &args.namespace, "-id", &args.id])
        .args(["-address", &args.address])
        .args(["-publish-binary", &args.publish_binary])
        .current_dir(&bundle)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    if args.debug {
        cmd.arg("-debug");
    }
    let fd = listener.as_raw_fd();
    // SAFETY: between fork and exec the closure only calls setsid, dup2 and
    // fcntl, which are async-signal-safe.
    unsafe {
        cmd.pre_exec(move || {
            // Its own session: containerd's death or a signal to its
            // process group does not reach the shim.
            if libc::setsid() < 0 {
                return Err(io::Error::last_os_error());
            }
            if fd == 3 {
                let flags = libc::fcntl(fd, libc::F_GETFD);
                if flags < 0 || libc::fcntl(fd, libc::F_SETFD, flags & !libc::FD_CLOEXEC) < 0 {
                    return Err(io::Error::last_os_error());
                }
            } else if libc::dup2(fd, 3) < 0 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    if let Err(e) = cmd.spawn() {
        let _ = fs::remove_file(&path);
        return Err(StartError::Spawn(e));
    }
    write_address(&bundle, &address)?;
    Ok(address)
}

/// `-info`: the runtime info containerd 2.x asks shims for, encoded.
pub fn runtime_info() -> Result<Vec<u8>, StartError> {
    let mut v = RuntimeVersion::new();
    v.version = env!("CARGO_PKG_VERSION").to_string();
    let mut info = RuntimeInfo::new();
    info.name = "io.containerd.berth.v2".to_string();
    info.version = Some(v).into();
    Ok(info.write_to_bytes()?)
}

/// Binds the task socket owner-only (0600, as containerd's shims do): the
/// task API can run anything as root.  The umask makes the socket born
/// private, with no window where others may connect; `start` is still
/// single-threaded here, so the process-wide umask touches nothing else.
fn bind_private(path: &std::path::Path) -> io::Result<UnixListener> {
    // SAFETY: umask only swaps the process's file mode mask.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above, restoring the previous mask.
    unsafe { libc::umask(old) };
    bound
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_addresses_are_containerds() {
        // sha256("/run/containerd/containerd.sock/default/c1")
        let a = socket_address("/run/containerd/containerd.sock", "default", "c1");
        assert!(a.starts_with("unix:///run/containerd/s/"), "{a}");
        assert_eq!(a.len(), "unix:///run/containerd/s/".len() + 64);
        assert_ne!(
            a,
            socket_address("/run/containerd/containerd.sock", "k8s.io", "c1")
        );
    }

    #[test]
    fn sockets_live_beside_the_address_that_started_the_shim() {
        let dir = tempfile::tempdir().unwrap();
        let address = dir.path().join("manager.sock");
        let a = socket_address(address.to_str().unwrap(), "berth", "c1");
        assert!(
            a.starts_with(&format!("unix://{}/s/", dir.path().display())),
            "{a}"
        );
        assert_eq!(
            socket_dir("unix:///nonexistent/x/manager.sock"),
            Path::new(SOCKET_DIR)
        );
        // too long for a socket path, or no directory: containerd's own
        let deep = format!("/{}/manager.sock", "d".repeat(60));
        assert_eq!(socket_dir(&deep), Path::new(SOCKET_DIR));
        assert_eq!(socket_dir("manager.sock"), Path::new(SOCKET_DIR));
    }

    #[test]
    fn pod_containers_share_the_sandbox_group() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(group_of(dir.path(), "c1"), "c1");
        fs::write(
            dir.path().join("config.json"),
            r#"{"annotations":{"io.kubernetes.cri.sandbox-id":"pod9"}}"#,
        )
        .unwrap();
        assert_eq!(group_of(dir.path(), "c1"), "pod9");
    }
}
