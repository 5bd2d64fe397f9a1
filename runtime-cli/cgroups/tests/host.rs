//! Drives a real cgroup on the test host: create, limit, join, freeze, destroy.
//! Needs root; skipped (with a message) otherwise.

use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{SystemTime, UNIX_EPOCH};

use berth_cgroups::{Cgroup, FreezerState, Hierarchies, Layout};

/// Undoes everything the test did, even when an assertion fails half-way.
struct Cleanup {
    cg: Cgroup,
    child: Option<Child>,
    /// The cgroup2 root's subtree_control before the test, to take back the
    /// controllers `create` enabled there.
    subtree_control: Option<(PathBuf, String)>,
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        // A frozen task would not act on SIGKILL until thawed.
        let _ = self.cg.thaw();
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
        if let Err(e) = self.cg.destroy() {
            eprintln!("cleanup: {e}");
        }
        if let Some((dir, before)) = &self.subtree_control {
            let now =
                std::fs::read_to_string(dir.join("cgroup.subtree_control")).unwrap_or_default();
            for added in now
                .split_whitespace()
                .filter(|c| !before.split_whitespace().any(|b| b == *c))
            {
                // EBUSY while the removed cgroup is still dying in the kernel.
                for _ in 0..50 {
                    if std::fs::write(dir.join("cgroup.subtree_control"), format!("-{added}"))
                        .is_ok()
                    {
                        break;
                    }
                    std::thread::sleep(std::time::Duration::from_millis(20));
                }
            }
        }
    }
}

fn read(dir: &Path, file: &str) -> String {
    std::fs::read_to_string(dir.join(file))
        .unwrap_or_else(|e| panic!("{}/{file}: {e}", dir.display()))
        .trim()
        .to_string()
}

#[test]
fn real_cgroup_lifecycle() {
    // SAFETY: geteuid has no preconditions and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipping real_cgroup_lifecycle: creating cgroups needs root");
        return;
    }
    let h = Hierarchies::detect().unwrap();
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .subsec_nanos();
    let name = format!("berth-test-{}-{nanos}", std::process::id());
    // On v1/hybrid, nest below our own cgroups so the test stays inside whatever
    // cgroup the test runner was given. On v2 our own cgroup holds processes, so
    // the kernel would refuse to enable controllers for a child: use the root.
    let path = match h.layout() {
        Layout::V2 => format!("/{name}"),
        Layout::V1 | Layout::Hybrid => name.clone(),
    };
    let cg = Cgroup::resolve(&h, Some(&path), &name).unwrap();
    let mut guard = Cleanup {
        cg: cg.clone(),
        child: None,
        subtree_control: h.unified().map(|u| {
            let before = std::fs::read_to_string(u.mountpoint.join("cgroup.subtree_control"))
                .unwrap_or_default();
            (u.mountpoint.clone(), before)
        }),
    };

    cg.create().unwrap();
    assert!(cg.exists());

    let mut json = serde_json::json!({
        "memory": {"limit": 64 << 20},
        "pids": {"limit": 32},
    });
    // Exercise hugetlb (through cgroup2 on hybrid hosts) when the host has 2MB pages.
    let hugetlb = cg.path("hugetlb").map(Path::to_path_buf);
    let hugetlb_file = hugetlb.as_ref().and_then(|d| {
        ["hugetlb.2MB.max", "hugetlb.2MB.limit_in_bytes"]
            .into_iter()
            .find(|f| d.join(f).exists())
    });
    if hugetlb_file.is_some() {
        json["hugepageLimits"] = serde_json::json!([{"pageSize": "2MB", "limit": 4 << 20}]);
    } else {
        eprintln!("no 2MB hugetlb limit file for this cgroup: not testing hugetlb");
    }
    let resources = serde_json::from_value(json).unwrap();
    cg.apply(&resources).unwrap();

    let mem = cg.path("memory").unwrap();
    let limit_file = if mem.join("memory.max").exists() {
        "memory.max"
    } else {
        "memory.limit_in_bytes"
    };
    assert_eq!(read(mem, limit_file), (64u64 << 20).to_string());
    assert_eq!(read(cg.path("pids").unwrap(), "pids.max"), "32");
    if let (Some(dir), Some(file)) = (&hugetlb, hugetlb_file) {
        assert_eq!(read(dir, file), (4u64 << 20).to_string());
    }

    let child = Command::new("sleep").arg("30").spawn().unwrap();
    let pid = child.id() as i32;
    guard.child = Some(child);
    cg.add_process(pid).unwrap();
    assert_eq!(cg.pids().unwrap(), vec![pid]);

    cg.freeze().unwrap();
    assert!(cg.is_frozen().unwrap());
    cg.thaw().unwrap();
    assert_eq!(cg.freezer_state().unwrap(), FreezerState::Thawed);

    let stats = cg.stats().unwrap();
    assert_eq!(stats.pids.current, 1);
    assert_eq!(stats.pids.limit, 32);
    assert_eq!(stats.memory.usage.limit, 64 << 20);

    // A populated cgroup cannot be removed, and destroy does not kill.
    assert!(cg.destroy().is_err());
    assert!(cg.exists());

    let mut child = guard.child.take().unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    cg.destroy().unwrap();
    assert!(!cg.exists());
    assert_eq!(cg.pids().unwrap(), Vec::<i32>::new());
}
