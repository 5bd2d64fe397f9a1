//! The connection to berth-manager: connect to `<state>/manager.sock`, and if
//! nothing answers, start a manager (detached, its log under the state dir)
//! and wait for it to answer `System.Ping`.

use std::fs::OpenOptions;
use std::os::unix::io::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use berth_proto::layers_ttrpc::LayersClient;
use berth_proto::manager_ttrpc::{
    ContainersClient, EventsClient, ImagesClient, SystemClient, TasksClient,
};
use berth_proto::protobuf::well_known_types::empty::Empty;
use berth_proto::ttrpc::context::{self, Context};
use berth_proto::ttrpc::r#async::Client;

use crate::error::CliError;
use crate::paths::{manager_binary, Dirs};

/// How long a freshly started manager gets to answer its first ping.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long one ping of an existing socket may take before the manager
/// behind it counts as hung.
const PING_TIMEOUT: Duration = Duration::from_secs(5);

/// One connection to the manager, with a client per service.
#[derive(Clone)]
pub struct Manager {
    pub images: ImagesClient,
    pub containers: ContainersClient,
    pub tasks: TasksClient,
    pub events: EventsClient,
    pub system: SystemClient,
    /// images made from containers and tars, diff, history, the build cache
    pub layers: LayersClient,
    pub networks: berth_proto::networks_ttrpc::NetworksClient,
    pub volumes: berth_proto::volumes_ttrpc::VolumesClient,
    pub health: berth_proto::health_ttrpc::HealthClient,
    /// recorded events replayed, then live ones
    pub event_history: berth_proto::event_history_ttrpc::EventHistoryClient,
    /// registry logins
    pub auth: berth_proto::auth_ttrpc::AuthClient,
    socket: String,
    /// Where a lost manager's successor is found (or started) again.
    dirs: Option<Dirs>,
}

impl Manager {
    fn from_client(c: Client, socket: &Path) -> Manager {
        Manager {
            images: ImagesClient::new(c.clone()),
            containers: ContainersClient::new(c.clone()),
            tasks: TasksClient::new(c.clone()),
            events: EventsClient::new(c.clone()),
            system: SystemClient::new(c.clone()),
            layers: LayersClient::new(c.clone()),
            networks: berth_proto::networks_ttrpc::NetworksClient::new(c.clone()),
            volumes: berth_proto::volumes_ttrpc::VolumesClient::new(c.clone()),
            health: berth_proto::health_ttrpc::HealthClient::new(c.clone()),
            event_history: berth_proto::event_history_ttrpc::EventHistoryClient::new(c.clone()),
            auth: berth_proto::auth_ttrpc::AuthClient::new(c),
            socket: socket.display().to_string(),
            dirs: None,
        }
    }

    /// A context with no deadline: lifecycle calls such as `WaitTask` block.
    pub fn ctx(&self) -> Context {
        context::Context::default()
    }

    /// Maps a ttrpc error from this connection.
    pub fn err(&self, e: berth_proto::ttrpc::Error) -> CliError {
        CliError::from_rpc(e, &self.socket)
    }

    /// Connects to the manager for `dirs`, starting one if none answers.
    pub async fn connect_or_start(dirs: &Dirs) -> Result<Manager, CliError> {
        let mut m = connect_or_start(dirs).await?;
        m.dirs = Some(dirs.clone());
        Ok(m)
    }

    /// Runs `op`, a request that may safely be made twice; when the manager
    /// went away without answering, the request goes again to the next
    /// manager (started if none runs), a few times. `op`'s flag says it is
    /// a repeat, whose first attempt may have been done already.
    pub async fn again<T, F, Fut>(&self, op: F) -> Result<T, CliError>
    where
        F: Fn(Manager, bool) -> Fut,
        Fut: std::future::Future<Output = Result<T, CliError>>,
    {
        let mut m = self.clone();
        let mut attempt = 0;
        loop {
            let e = match op(m.clone(), attempt > 0).await {
                Err(e) if e.is_lost_manager() => e,
                other => return other,
            };
            let Some(dirs) = &self.dirs else {
                return Err(e);
            };
            if attempt == RETRIES {
                return Err(e);
            }
            attempt += 1;
            tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            if let Ok(next) = Manager::connect_or_start(dirs).await {
                m = next;
            }
        }
    }
}

/// How often a repeatable request goes to a next manager.
const RETRIES: u64 = 5;

/// Connects to the manager for `dirs`, starting one if none answers.
async fn connect_or_start(dirs: &Dirs) -> Result<Manager, CliError> {
    let socket = dirs.socket();
    if let Some(m) = try_connect(&socket).await {
        return Ok(m);
    }
    std::fs::create_dir_all(&dirs.state)
        .map_err(|e| CliError::io(format!("create state dir {}", dirs.state.display()), e))?;
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dirs.start_lock())
        .map_err(|e| CliError::io(format!("open {}", dirs.start_lock().display()), e))?;
    let _held = Flock::exclusive(&lock)
        .map_err(|e| CliError::io(format!("lock {}", dirs.start_lock().display()), e))?;
    // Another front end may have started one while this one waited for the lock.
    if let Some(m) = try_connect(&socket).await {
        return Ok(m);
    }
    let bin = manager_binary(
        std::env::current_exe().ok().as_deref(),
        std::env::var_os("PATH"),
        std::env::var_os("BERTH_MANAGER"),
    )
    .ok_or_else(|| {
        CliError::Invalid(
            "cannot find berth-manager: not beside berth, not on PATH, BERTH_MANAGER unset".into(),
        )
    })?;
    let mut child = spawn_manager(&bin, dirs)?;
    let deadline = Instant::now() + START_TIMEOUT;
    let log = dirs.manager_log().display().to_string();
    let start_err = |reason: String| CliError::ManagerStart {
        socket: socket.display().to_string(),
        log: log.clone(),
        reason,
    };
    loop {
        if let Some(m) = try_connect(&socket).await {
            // Reaped by init once berth exits; the manager outlives us.
            drop(child);
            return Ok(m);
        }
        if let Ok(Some(status)) = child.try_wait() {
            return Err(start_err(format!("it exited with {status}")));
        }
        if Instant::now() >= deadline {
            return Err(start_err(format!(
                "no answer after {}s",
                START_TIMEOUT.as_secs()
            )));
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Connects and pings; `None` when nothing (or nothing alive) answers.
async fn try_connect(socket: &Path) -> Option<Manager> {
    if !socket.exists() {
        return None;
    }
    let addr = format!("unix://{}", socket.display());
    let client = Client::connect(&addr).await.ok()?;
    let m = Manager::from_client(client, socket);
    let empty = Empty::new();
    let ping = m.system.ping(context::with_timeout(0), &empty);
    match tokio::time::timeout(PING_TIMEOUT, ping).await {
        Ok(Ok(_)) => Some(m),
        _ => None,
    }
}

/// Starts `bin --root R --state S` in its own session, stdio to the log, so
/// it survives this command and the terminal it ran in.
fn spawn_manager(bin: &Path, dirs: &Dirs) -> Result<std::process::Child, CliError> {
    let log_path = dirs.manager_log();
    let log = OpenOptions::new()
        .create(true)
        .append(true)
        .open(&log_path)
        .map_err(|e| CliError::io(format!("open {}", log_path.display()), e))?;
    let log2 = log
        .try_clone()
        .map_err(|e| CliError::io(format!("dup {}", log_path.display()), e))?;
    let mut cmd = Command::new(bin);
    cmd.arg("--root")
        .arg(&dirs.root)
        .arg("--state")
        .arg(&dirs.state)
        .stdin(Stdio::null())
        .stdout(log)
        .stderr(log2);
    // SAFETY: the closure runs in the forked child before exec and only
    // calls setsid, which is async-signal-safe.
    unsafe {
        cmd.pre_exec(|| {
            if libc::setsid() < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
        .map_err(|e| CliError::io(format!("start {}", bin.display()), e))
}

/// An exclusive `flock` released on drop.
struct Flock<'a>(&'a std::fs::File);

impl<'a> Flock<'a> {
    fn exclusive(f: &'a std::fs::File) -> std::io::Result<Flock<'a>> {
        // SAFETY: the fd is owned by `f`, which outlives the guard.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) } < 0 {
            return Err(std::io::Error::last_os_error());
        }
        Ok(Flock(f))
    }
}

impl Drop for Flock<'_> {
    fn drop(&mut self) {
        // SAFETY: as in `exclusive`; unlocking cannot harm other fds.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}
