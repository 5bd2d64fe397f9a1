//! berth's Docker Engine API (`berth system service`): HTTP/1.1 on a unix
//! socket (or loopback TCP) whose endpoints call the same supervisor
//! library functions as the `berth` CLI, so docker's own clients (the
//! `docker` CLI, docker-py, compose) drive berth and a behaviour is written
//! once.
//!
//! - [`listen`]: where it serves, the socket's owner and mode, idle exit
//! - [`router`]: version prefixes, docker's headers, endpoint dispatch
//! - [`system`], [`containers`], [`create`], [`attach`], [`exec`], [`images`],
//!   [`networks`] (and volumes), [`build`], [`archive`] (cp, export),
//!   [`image_io`] (load, save, import), [`update`], [`auth`]: the endpoints
//! - [`blocking`]: tar streams and mounts on threads of their own
//! - [`http`], [`error`]: bodies, queries, docker's error JSON
//! - [`filters`]: list filters through the CLI's filters module

pub mod archive;
pub mod attach;
pub mod auth;
pub mod blocking;
pub mod build;
pub mod containers;
pub mod create;
pub mod error;
pub mod exec;
pub mod filters;
pub mod http;
pub mod image_io;
pub mod images;
pub mod listen;
pub mod networks;
pub mod prune;
pub mod router;
pub mod search;
pub mod system;
pub mod update;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use berth_supervisor::client::Manager;
use berth_supervisor::error::CliError;
use berth_supervisor::paths::Dirs;
use tokio::sync::RwLock;

/// What every request shares: the manager connection (renewed when the
/// manager goes away) and the exit codes of containers this service saw
/// end, for a wait that arrives after an auto-removed container is gone.
pub struct Engine {
    pub dirs: Dirs,
    manager: RwLock<Manager>,
    exits: Mutex<HashMap<String, i64>>,
    /// open connections (attach sessions included), for `--time`
    pub clock: Arc<listen::IdleClock>,
    /// exec instances made by `POST /containers/{id}/exec`
    pub execs: Mutex<HashMap<String, exec::ExecInstance>>,
    /// `BERTH_API_TRACE=1`: each request's method and URI on stderr
    pub trace: bool,
}

impl Engine {
    /// Connects to the manager for `dirs`, starting one as the CLI does.
    pub async fn connect(dirs: Dirs) -> Result<Engine, CliError> {
        let m = Manager::connect_or_start(&dirs).await?;
        Ok(Engine {
            dirs,
            manager: RwLock::new(m),
            exits: Mutex::new(HashMap::new()),
            clock: Arc::new(listen::IdleClock::default()),
            execs: Mutex::new(HashMap::new()),
            trace: std::env::var_os("BERTH_API_TRACE").is_some_and(|v| v == "1"),
        })
    }

    /// The current manager connection.
    pub async fn manager(&self) -> Manager {
        self.manager.read().await.clone()
    }

    /// A new connection after the manager went away (starting one if none
    /// answers); kept for the requests that follow.
    pub async fn reconnect(&self) {
        if let Ok(m) = Manager::connect_or_start(&self.dirs).await {
            *self.manager.write().await = m;
        }
    }

    /// Notes how container `id` ended.
    pub fn record_exit(&self, id: &str, code: i64) {
        let mut exits = self.exits.lock().unwrap_or_else(|p| p.into_inner());
        // a bounded memory: the codes matter for seconds after an exit
        if exits.len() > 4096 {
            exits.clear();
        }
        exits.insert(id.to_string(), code);
    }

    /// How container `id` ended, if this service saw it.
    pub fn exit_of(&self, id: &str) -> Option<i64> {
        let exits = self.exits.lock().unwrap_or_else(|p| p.into_inner());
        exits.get(id).copied()
    }
}
