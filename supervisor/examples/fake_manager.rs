//! A stand-in for berth-manager in the front end's autostart tests: it
//! records its arguments in `<state>/fake-manager.args`, answers
//! `System.Ping` on `<state>/manager.sock` and serves until killed.

use std::path::PathBuf;
use std::sync::Arc;

use berth_proto::manager::PingResponse;
use berth_proto::manager_ttrpc::{create_system, System};
use berth_proto::protobuf::well_known_types::empty::Empty;
use berth_proto::ttrpc::r#async::{Server, TtrpcContext};

struct Fake;

#[async_trait::async_trait]
impl System for Fake {
    async fn ping(&self, _: &TtrpcContext, _: Empty) -> berth_proto::ttrpc::Result<PingResponse> {
        let mut r = PingResponse::new();
        r.version = "fake".into();
        r.pid = std::process::id();
        Ok(r)
    }
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let state = args
        .iter()
        .position(|a| a == "--state")
        .and_then(|i| args.get(i + 1))
        .map(PathBuf::from)
        .expect("--state");
    std::fs::write(state.join("fake-manager.args"), args.join(" ")).expect("write args");
    let sock = state.join("manager.sock");
    let _ = std::fs::remove_file(&sock);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let mut server = Server::new()
            .bind(&format!("unix://{}", sock.display()))
            .expect("bind")
            .register_service(create_system(Arc::new(Fake)));
        server.start().await.expect("start");
        std::future::pending::<()>().await;
    });
}
