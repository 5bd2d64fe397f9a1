//! The front end starts a manager when none answers, passes it the root and
//! state dirs, reuses a live one, and says where the log is when the manager
//! it started dies.

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use berth_supervisor::client::Manager;
use berth_supervisor::paths::Dirs;

fn fake_manager() -> PathBuf {
    // target/<profile>/deps/autostart-* → target/<profile>/examples/fake_manager
    let exe = std::env::current_exe().unwrap();
    let p = exe
        .parent()
        .unwrap()
        .parent()
        .unwrap()
        .join("examples")
        .join("fake_manager");
    assert!(
        p.exists(),
        "{} missing: cargo test builds examples",
        p.display()
    );
    p
}

/// Kills the manager a test started, whatever happens.
struct KillOnDrop(Option<u32>);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        if let Some(pid) = self.0 {
            // SAFETY: kill has no memory effects; the pid came from the fake's ping.
            unsafe { libc::kill(pid as i32, libc::SIGKILL) };
        }
    }
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

async fn ping_pid(m: &Manager) -> u32 {
    let e = berth_proto::protobuf::well_known_types::empty::Empty::new();
    m.system.ping(m.ctx(), &e).await.unwrap().pid
}

// BERTH_MANAGER is process-wide, so both cases run in one test, in order.
#[test]
fn autostart_reuse_and_failure() {
    let dir = tempfile::tempdir().unwrap();
    let dirs = Dirs {
        state: dir.path().join("state"),
        root: dir.path().join("root"),
    };
    std::env::set_var("BERTH_MANAGER", fake_manager());
    let rt = rt();
    let mut guard = KillOnDrop(None);
    rt.block_on(async {
        let m = Manager::connect_or_start(&dirs)
            .await
            .expect("start fake manager");
        let pid = ping_pid(&m).await;
        guard.0 = Some(pid);
        let args = std::fs::read_to_string(dirs.state.join("fake-manager.args")).unwrap();
        assert_eq!(
            args,
            format!(
                "--root {} --state {}",
                dirs.root.display(),
                dirs.state.display()
            )
        );
        assert!(dirs.manager_log().exists());
        // a second command finds the running manager
        let again = Manager::connect_or_start(&dirs).await.unwrap();
        assert_eq!(ping_pid(&again).await, pid);
    });
    drop(guard);

    // a manager that dies at once: the error names the log
    let bad = dir.path().join("dies");
    std::fs::write(&bad, "#!/bin/sh\necho 'cannot open store' >&2\nexit 3\n").unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o755)).unwrap();
    // stale socket from the killed fake: no listener behind it
    assert!(dirs.socket().exists());
    std::env::set_var("BERTH_MANAGER", &bad);
    let err = rt
        .block_on(Manager::connect_or_start(&dirs))
        .err()
        .expect("must fail");
    let msg = err.to_string();
    assert!(
        msg.contains(&dirs.manager_log().display().to_string()),
        "{msg}"
    );
    assert!(msg.contains("exited"), "{msg}");
    let log = std::fs::read_to_string(dirs.manager_log()).unwrap();
    assert!(log.contains("cannot open store"), "{log}");
}
