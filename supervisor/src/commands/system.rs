//! `berth system info`, the prunes (`system`, `container`, `image`,
//! `builder`), and `berth version`.

use std::io::{BufRead, Write};

use berth_proto::manager::{InfoResponse, PruneRequest};
use berth_proto::protobuf::well_known_types::empty::Empty;

use serde_json::{json, Value};

use crate::cli::FormatArgs;
use crate::client::Manager;
use crate::format::{bytes_size, human_size};
use crate::prune_filters::PruneKind;

/// `info --format`'s object: docker's field names, then berth's own.
fn info_json(i: &InfoResponse) -> Value {
    json!({
        "ClientInfo": {"Version": env!("CARGO_PKG_VERSION"), "Context": "default"},
        "Containers": i.containers,
        "ContainersRunning": i.containers_running,
        "ContainersPaused": i.containers_paused,
        "ContainersStopped": i.containers_stopped,
        "Images": i.images,
        "Driver": i.storage_driver,
        "DockerRootDir": i.root,
        "KernelVersion": i.kernel_version,
        "OSType": "linux",
        "Architecture": std::env::consts::ARCH,
        "NCPU": i.ncpu,
        "MemTotal": i.mem_total,
        "ServerVersion": i.version,
        "CgroupVersion": i.cgroup_version,
        "CgroupDriver": "cgroupfs",
        "DefaultRuntime": "berth-runtime",
        "Runtime": i.runtime,
        "Shim": i.shim,
        "StateDir": i.state,
        "ManagerPID": i.manager_pid,
    })
}

/// Refuses a `--format` that does not parse before the manager is asked.
fn check_format(f: &FormatArgs, name: &str) -> Result<(), i32> {
    let checked = match f.format.as_deref().map(str::trim) {
        None | Some("json") => Ok(()),
        Some(t) => crate::render::single(&Value::Null, t, name, "")
            .map(|_| ())
            .or_else(|e| match e {
                // only a template that does not parse is refused up front
                crate::render::RenderError::Exec(_) => Ok(()),
                e => Err(e),
            }),
    };
    checked.map_err(|e| {
        eprintln!("{e}");
        e.exit_code()
    })
}

/// `berth system info`.
pub async fn info(m: &Manager, f: &FormatArgs) -> i32 {
    if let Err(code) = check_format(f, "") {
        return code;
    }
    let i = match m.system.info(m.ctx(), &Empty::new()).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}", m.err(e));
            return 1;
        }
    };
    if let Some(format) = &f.format {
        return crate::render::print_single(&info_json(&i), format, "", "system.dockerInfo");
    }
    println!("Client:");
    println!(" Version:    {}", env!("CARGO_PKG_VERSION"));
    println!();
    println!("Server:");
    println!(" Containers: {}", i.containers);
    println!("  Running: {}", i.containers_running);
    println!("  Paused: {}", i.containers_paused);
    println!("  Stopped: {}", i.containers_stopped);
    println!(" Images: {}", i.images);
    println!(" Server Version: {}", i.version);
    println!(" Storage Driver: {}", i.storage_driver);
    println!(" Cgroup Version: {}", i.cgroup_version);
    println!(" Runtime: {}", i.runtime);
    println!(" Shim: {}", i.shim);
    println!(" Kernel Version: {}", i.kernel_version);
    println!(" CPUs: {}", i.ncpu);
    println!(" Total Memory: {}", bytes_size(i.mem_total));
    println!(" Root Dir: {}", i.root);
    println!(" State Dir: {}", i.state);
    println!(" Manager PID: {}", i.manager_pid);
    0
}

/// What one prune removes: `system prune` all of it, `container prune`
/// the containers, `image prune` and `builder prune` the images.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PruneScope {
    pub containers: bool,
    pub images: bool,
    /// every image no container uses, not only the untagged ones
    pub all_images: bool,
    pub volumes: bool,
    /// user networks no container is on (`system prune`)
    pub networks: bool,
}

impl PruneScope {
    /// docker's confirmation question for this scope.
    fn warning(&self) -> String {
        let images = if self.all_images {
            "all images without at least one container associated to them"
        } else {
            "all dangling images"
        };
        match (self.containers, self.images) {
            (true, false) => "WARNING! This will remove all stopped containers.".to_string(),
            (false, true) => format!("WARNING! This will remove {images}."),
            _ => {
                let mut w =
                    String::from("WARNING! This will remove:\n  - all stopped containers\n");
                if self.networks {
                    w.push_str("  - all networks not used by at least one container\n");
                }
                if self.volumes {
                    w.push_str("  - all volumes not used by at least one container\n");
                }
                w.push_str(&format!("  - {images}\n"));
                w
            }
        }
    }
}

/// `berth system prune`: asks first unless `-f`.
pub async fn prune(m: &Manager, all: bool, force: bool, volumes: bool, filter: &[String]) -> i32 {
    let scope = PruneScope {
        containers: true,
        images: true,
        all_images: all,
        volumes,
        networks: true,
    };
    prune_scope(m, scope, force, PruneKind::System, filter).await
}

/// Prunes what `scope` names that the `--filter` flags of a prune of
/// `kind` admit, asking first unless `force`.
pub async fn prune_scope(
    m: &Manager,
    mut scope: PruneScope,
    force: bool,
    kind: PruneKind,
    flags: &[String],
) -> i32 {
    let filter = match crate::prune_filters::from_flags(flags, kind) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if kind == PruneKind::Images {
        if let Ok(f) = crate::filters::Filters::from_flags(flags) {
            scope.all_images = crate::prune_filters::all_images(&f, scope.all_images);
        }
    }
    if !force {
        println!("{}", scope.warning());
        print!("Are you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return 0;
        }
    }
    let mut r = PruneRequest::new();
    r.all_images = scope.all_images;
    r.keep_containers = !scope.containers;
    r.keep_images = !scope.images;
    // volumes take no `until`
    let mut volume_filter = filter.clone();
    volume_filter.until = Default::default();
    let network_filter = filter.clone();
    r.filter = Some(filter).into();
    match m.system.prune(m.ctx(), &r).await {
        Ok(p) => {
            if !p.containers_deleted.is_empty() {
                println!("Deleted Containers:");
                for c in &p.containers_deleted {
                    println!("{c}");
                }
                println!();
            }
            // after the containers, whose removal frees their networks
            // and volumes
            if scope.networks {
                match crate::commands::network::prune_networks(m, network_filter).await {
                    Ok(deleted) if !deleted.is_empty() => {
                        println!("Deleted Networks:");
                        for n in &deleted {
                            println!("{n}");
                        }
                        println!();
                    }
                    Ok(_) => {}
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                }
            }
            let mut reclaimed = p.space_reclaimed;
            if scope.volumes {
                match crate::commands::volume::prune_volumes(m, volume_filter).await {
                    Ok(n) => reclaimed += n,
                    Err(e) => {
                        eprintln!("{e}");
                        return 1;
                    }
                }
            }
            if !p.images_deleted.is_empty() {
                println!("Deleted Images:");
                for i in &p.images_deleted {
                    println!("deleted: {i}");
                }
                println!();
            }
            println!("Total reclaimed space: {}", human_size(reclaimed));
            0
        }
        Err(e) => {
            eprintln!("{}", m.err(e));
            1
        }
    }
}

/// `version --format`'s object, shaped as docker's.
fn version_json(server: &str, pid: u32) -> Value {
    let client = json!({
        "Version": env!("CARGO_PKG_VERSION"),
        "Os": "linux",
        "Arch": std::env::consts::ARCH,
        "Context": "default",
    });
    json!({
        "Client": client,
        "Server": {
            "Platform": {"Name": "berth"},
            "Components": [{"Name": "berth-manager", "Version": server, "Details": {"PID": pid.to_string()}}],
            "Version": server,
            "Os": "linux",
            "Arch": std::env::consts::ARCH,
        },
    })
}

/// `berth version`: the client's, and the manager's if one answers.
pub async fn version(m: &Manager, f: &FormatArgs) -> i32 {
    if let Err(code) = check_format(f, "version") {
        return code;
    }
    if let Some(format) = &f.format {
        return match m.system.ping(m.ctx(), &Empty::new()).await {
            Ok(p) => crate::render::print_single(
                &version_json(&p.version, p.pid),
                format,
                "version",
                "system.versionInfo",
            ),
            Err(e) => {
                eprintln!("{}", m.err(e));
                1
            }
        };
    }
    println!("Client:\n Version: {}", env!("CARGO_PKG_VERSION"));
    match m.system.ping(m.ctx(), &Empty::new()).await {
        Ok(p) => {
            println!(
                "\nServer: berth-manager\n Version: {}\n PID: {}",
                p.version, p.pid
            );
            0
        }
        Err(e) => {
            eprintln!("{}", m.err(e));
            1
        }
    }
}
