//! Bringing the manager up: directories, the single-instance lock, the
//! stores, crash recovery, then the ttrpc services on `<state>/manager.sock`.

use std::fs::File;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;

use berth_image_store::ImageStore;
use berth_proto::containerd::shim_async::create_events as create_forward;
use berth_proto::layers_ttrpc::create_layers;
use berth_proto::manager_ttrpc::{create_events, create_images, create_system, create_tasks};
use nix::sys::stat::{umask, Mode};
use tokio::signal::unix::{signal, SignalKind};

use crate::bundle;
use crate::config::Config;
use crate::manager::Manager;
use crate::service::{
    events::EventsService, forward::ForwardService, images::ImagesService, layers::LayersService,
    networks::NetworksService, system::SystemService, tasks::TasksService,
};
use crate::store::{Store, StoreError};

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error(transparent)]
    Dir(#[from] bundle::BundleError),
    #[error("open lock file {path}: {source}")]
    LockFile {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("another berth-manager is running on state dir {0}")]
    Locked(PathBuf),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("image store: {0}")]
    Images(Box<berth_image_store::Error>),
    #[error("listen on {path}: {source}")]
    Listen { path: PathBuf, source: ttrpc::Error },
    #[error("remove stale socket {path}: {source}")]
    StaleSocket {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("signal handler: {0}")]
    Signal(std::io::Error),
}

/// Holds the state dir's lock for as long as it lives.
pub struct InstanceLock {
    _file: File,
}

/// Only one manager per state dir: a second one would fight over shims.
pub fn lock_instance(cfg: &Config) -> Result<InstanceLock, ServeError> {
    let path = cfg.state.join("manager.lock");
    let f = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|source| ServeError::LockFile {
            path: path.clone(),
            source,
        })?;
    nix::fcntl::flock(f.as_raw_fd(), nix::fcntl::FlockArg::LockExclusiveNonblock)
        .map_err(|_| ServeError::Locked(cfg.state.clone()))?;
    Ok(InstanceLock { _file: f })
}

/// Runs the manager until SIGTERM or SIGINT. Containers keep running under
/// their shims when it stops, however it stops.
pub async fn serve(cfg: Config) -> Result<(), ServeError> {
    bundle::make_dir(&cfg.root, 0o711)?;
    bundle::make_dir(&cfg.state, 0o711)?;
    bundle::make_dir(&cfg.state.join("containers"), 0o711)?;
    let _lock = lock_instance(&cfg)?;
    let store = Store::open(&cfg.db_path())?;
    let images =
        ImageStore::open(&cfg.images_root()).map_err(|e| ServeError::Images(Box::new(e)))?;
    let socket = cfg.socket();
    let mgr = Arc::new(Manager::new(cfg, store, images));
    crate::event_history::start(&mgr);
    mgr.recover_volumes();
    // networks first: their tables and built-ins, endpoints of removed
    // containers torn down (store reads and netlink, no shims)
    mgr.recover_networks().await;
    // serving starts at once; requests for a container wait for its recovery
    let recovering = mgr.begin_recovery();

    match std::fs::remove_file(&socket) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(source) => {
            return Err(ServeError::StaleSocket {
                path: socket,
                source,
            })
        }
    }
    let mut services = create_images(Arc::new(ImagesService(mgr.clone())));
    services.extend(crate::service::containers::create(mgr.clone()));
    services.extend(create_tasks(Arc::new(TasksService(mgr.clone()))));
    services.extend(create_events(Arc::new(EventsService(mgr.clone()))));
    services.extend(create_system(Arc::new(SystemService(mgr.clone()))));
    services.extend(create_forward(Arc::new(ForwardService(mgr.clone()))));
    services.extend(create_layers(Arc::new(LayersService(mgr.clone()))));
    services.extend(berth_proto::networks_ttrpc::create_networks(Arc::new(
        NetworksService(mgr.clone()),
    )));
    services.extend(berth_proto::volumes_ttrpc::create_volumes(Arc::new(
        crate::service::volumes::VolumesService(mgr.clone()),
    )));
    services.extend(berth_proto::health_ttrpc::create_health(Arc::new(
        crate::service::health::HealthService(mgr.clone()),
    )));
    services.extend(berth_proto::event_history_ttrpc::create_event_history(
        Arc::new(crate::service::event_history::EventHistoryService(
            mgr.clone(),
        )),
    ));
    services.extend(berth_proto::auth_ttrpc::create_auth(Arc::new(
        crate::service::auth::AuthService(mgr.clone()),
    )));

    // the socket is created 0600: only root may drive the manager
    let old = umask(Mode::from_bits_truncate(0o177));
    let bound = ttrpc::r#async::Server::new().bind(&format!("unix://{}", socket.display()));
    umask(old);
    let listen_err = |source| ServeError::Listen {
        path: socket.clone(),
        source,
    };
    let mut server = bound.map_err(listen_err)?.register_service(services);
    server.start().await.map_err(listen_err)?;
    // beside recovery, after serving starts: removing snapshots (and the
    // layers only they held) must not delay a fresh manager's first answer
    tokio::spawn(mgr.clone().sweep_snapshots());
    let recovery = mgr.clone();
    tokio::spawn(async move {
        recovery.recover(recovering).await;
        // checks exec into containers: only once they are reconnected
        recovery.start_health_checks();
        crate::heap_trim::start(&recovery);
    });

    let mut term = signal(SignalKind::terminate()).map_err(ServeError::Signal)?;
    let mut int = signal(SignalKind::interrupt()).map_err(ServeError::Signal)?;
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    let _ = server.shutdown().await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}
