//! `berth system info` and `berth system prune`, and `berth version`.

use std::io::{BufRead, Write};

use berth_proto::manager::PruneRequest;
use berth_proto::protobuf::well_known_types::empty::Empty;

use crate::client::Manager;
use crate::format::{bytes_size, human_size};

/// `berth system info`.
pub async fn info(m: &Manager) -> i32 {
    let i = match m.system.info(m.ctx(), &Empty::new()).await {
        Ok(i) => i,
        Err(e) => {
            eprintln!("{}", m.err(e));
            return 1;
        }
    };
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

/// `berth system prune`: asks first unless `-f`.
pub async fn prune(m: &Manager, all: bool, force: bool, volumes: bool) -> i32 {
    if !force {
        println!("WARNING! This will remove:");
        println!("  - all stopped containers");
        if volumes {
            println!("  - all volumes not used by at least one container");
        }
        if all {
            println!("  - all images without at least one container associated to them");
        } else {
            println!("  - all dangling images");
        }
        print!("\nAre you sure you want to continue? [y/N] ");
        let _ = std::io::stdout().flush();
        let mut answer = String::new();
        let _ = std::io::stdin().lock().read_line(&mut answer);
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            return 0;
        }
    }
    let mut r = PruneRequest::new();
    r.all_images = all;
    match m.system.prune(m.ctx(), &r).await {
        Ok(p) => {
            if !p.containers_deleted.is_empty() {
                println!("Deleted Containers:");
                for c in &p.containers_deleted {
                    println!("{c}");
                }
                println!();
            }
            // after the containers, whose removal frees their volumes
            let mut reclaimed = p.space_reclaimed;
            if volumes {
                match crate::commands::volume::prune_volumes(m).await {
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

/// `berth version`: the client's, and the manager's if one answers.
pub async fn version(m: &Manager) -> i32 {
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
