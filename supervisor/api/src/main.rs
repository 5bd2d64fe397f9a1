//! `berth-api`: what `berth system service` becomes.  Parses its flags,
//! binds the listener and serves until idle or signalled.

use std::path::PathBuf;
use std::sync::Arc;

use clap::Parser;

#[derive(Parser)]
#[command(name = "berth-api", about = "berth's Docker Engine API service")]
struct Args {
    #[arg(long)]
    state: Option<PathBuf>,
    #[arg(long)]
    root: Option<PathBuf>,
    #[command(flatten)]
    service: berth_supervisor::cli::ServiceArgs,
}

fn main() {
    let a = Args::parse();
    let dirs = berth_supervisor::paths::Dirs::resolve(a.state, a.root, |k| std::env::var_os(k));
    let rt = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: start async runtime: {e}");
            std::process::exit(1);
        }
    };
    let code = rt.block_on(async move {
        let addr = match berth_api::listen::Address::parse(a.service.listen.as_deref(), &dirs.state)
        {
            Ok(a) => a,
            Err(e) => {
                eprintln!("berth: {e}");
                return 1;
            }
        };
        let gid = match berth_api::listen::group_id(a.service.group.as_deref()) {
            Ok(g) => g,
            Err(e) => {
                eprintln!("berth: {e}");
                return 1;
            }
        };
        let engine = match berth_api::Engine::connect(dirs).await {
            Ok(e) => Arc::new(e),
            Err(e) => {
                eprintln!("berth: {e}");
                return 1;
            }
        };
        let listener = match berth_api::listen::bind(&addr, gid) {
            Ok(l) => l,
            Err(e) => {
                eprintln!("berth: {e}");
                return 1;
            }
        };
        let idle = (a.service.time > 0).then(|| std::time::Duration::from_secs(a.service.time));
        berth_api::router::serve(engine, listener, idle).await;
        0
    });
    std::process::exit(code);
}
