//! Where the service listens and for how long: a unix socket (default
//! `<state>/docker.sock`, mode 0660, owner root and the `--group`) or a TCP
//! port on loopback, and the idle clock behind `--time`.

use std::net::SocketAddr;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// A `--listen` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Unix(PathBuf),
    Tcp(SocketAddr),
}

/// Why a listener could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ListenError {
    #[error("invalid --listen {0:?}: use unix:///PATH or tcp://127.0.0.1:PORT")]
    Syntax(String),
    #[error(
        "refusing to serve the API on {0}: only loopback addresses are served without TLS, and berth has no TLS listener yet"
    )]
    NotLoopback(SocketAddr),
    #[error("no such group {0:?} for the API socket")]
    NoGroup(String),
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> ListenError {
    move |source| ListenError::Io { what, source }
}

impl Address {
    /// Parses `--listen`; `None` is the socket under `state`.
    pub fn parse(listen: Option<&str>, state: &Path) -> Result<Address, ListenError> {
        let Some(l) = listen else {
            return Ok(Address::Unix(state.join("docker.sock")));
        };
        if let Some(p) = l.strip_prefix("unix://") {
            if !p.starts_with('/') {
                return Err(ListenError::Syntax(l.to_string()));
            }
            return Ok(Address::Unix(PathBuf::from(p)));
        }
        if let Some(a) = l.strip_prefix("tcp://") {
            let addr: SocketAddr = a.parse().map_err(|_| ListenError::Syntax(l.to_string()))?;
            if !addr.ip().is_loopback() {
                return Err(ListenError::NotLoopback(addr));
            }
            return Ok(Address::Tcp(addr));
        }
        Err(ListenError::Syntax(l.to_string()))
    }
}

/// The bound listener.
pub enum Listener {
    Unix(tokio::net::UnixListener, PathBuf),
    Tcp(tokio::net::TcpListener),
}

/// The group named by `--group`, checked before anything is started.
pub fn group_id(group: Option<&str>) -> Result<Option<nix::unistd::Gid>, ListenError> {
    match group {
        Some(g) => Ok(Some(
            nix::unistd::Group::from_name(g)
                .ok()
                .flatten()
                .ok_or_else(|| ListenError::NoGroup(g.to_string()))?
                .gid,
        )),
        None => Ok(None),
    }
}

/// Binds `addr`.  A unix socket replaces a stale one, is made 0660 and
/// given to group `gid` (root's group when none is named).
pub fn bind(addr: &Address, gid: Option<nix::unistd::Gid>) -> Result<Listener, ListenError> {
    match addr {
        Address::Unix(path) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(io(format!("create {}", dir.display())))?;
            }
            match std::fs::remove_file(path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(io(format!("remove stale {}", path.display()))(e)),
            }
            let l = tokio::net::UnixListener::bind(path)
                .map_err(io(format!("listen on {}", path.display())))?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
                .map_err(io(format!("chmod {}", path.display())))?;
            nix::unistd::chown(path, Some(nix::unistd::Uid::from_raw(0)), gid)
                .map_err(|e| io(format!("chown {}", path.display()))(e.into()))?;
            Ok(Listener::Unix(l, path.clone()))
        }
        Address::Tcp(a) => {
            let std = std::net::TcpListener::bind(a).map_err(io(format!("listen on {a}")))?;
            std.set_nonblocking(true)
                .map_err(io(format!("listen on {a}")))?;
            let l = tokio::net::TcpListener::from_std(std).map_err(io(format!("listen on {a}")))?;
            Ok(Listener::Tcp(l))
        }
    }
}

/// Open connections and the time the last one closed: the service exits
/// once none has been open for `--time` seconds.
#[derive(Debug)]
pub struct IdleClock {
    open: AtomicUsize,
    start: Instant,
    /// milliseconds after `start` when the count last reached zero
    idle_since_ms: AtomicU64,
}

impl Default for IdleClock {
    fn default() -> Self {
        IdleClock {
            open: AtomicUsize::new(0),
            start: Instant::now(),
            idle_since_ms: AtomicU64::new(0),
        }
    }
}

/// Held while a connection is open.
pub struct Busy(Arc<IdleClock>);

impl IdleClock {
    pub fn busy(self: &Arc<Self>) -> Busy {
        self.open.fetch_add(1, Ordering::SeqCst);
        Busy(self.clone())
    }

    /// How long nothing has been open, `None` while something is.
    pub fn idle_for(&self) -> Option<Duration> {
        if self.open.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let since = Duration::from_millis(self.idle_since_ms.load(Ordering::SeqCst));
        Some(self.start.elapsed().saturating_sub(since))
    }

    /// Resolves once idle for `limit`.
    pub async fn idle(&self, limit: Duration) {
        loop {
            match self.idle_for() {
                Some(d) if d >= limit => return,
                Some(d) => tokio::time::sleep(limit - d).await,
                None => tokio::time::sleep(Duration::from_millis(250)).await,
            }
        }
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        let now = self.0.start.elapsed().as_millis() as u64;
        self.0.idle_since_ms.store(now, Ordering::SeqCst);
        self.0.open.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses() {
        let s = Path::new("/run/berth");
        assert_eq!(
            Address::parse(None, s).unwrap(),
            Address::Unix("/run/berth/docker.sock".into())
        );
        assert_eq!(
            Address::parse(Some("unix:///tmp/d.sock"), s).unwrap(),
            Address::Unix("/tmp/d.sock".into())
        );
        assert_eq!(
            Address::parse(Some("tcp://127.0.0.1:2375"), s).unwrap(),
            Address::Tcp("127.0.0.1:2375".parse().unwrap())
        );
        assert!(matches!(
            Address::parse(Some("tcp://0.0.0.0:2375"), s),
            Err(ListenError::NotLoopback(_))
        ));
        assert!(Address::parse(Some("unix://rel"), s).is_err());
        assert!(Address::parse(Some("http://x"), s).is_err());
    }

    #[test]
    fn idle_clock_counts_open_connections() {
        let c = Arc::new(IdleClock::default());
        let b = c.busy();
        assert_eq!(c.idle_for(), None);
        drop(b);
        assert!(c.idle_for().unwrap() < Duration::from_secs(1));
    }
}
