//! The bridge backend against the real kernel, inside a network namespace
//! this test's thread makes for itself (root only): a network, an endpoint
//! with a published port, then teardown leaves no link, table or namespace.

use std::net::Ipv4Addr;
use std::process::Command;

use berth_network::bridge::BridgeBackend;
use berth_network::netlink::Netlink;
use berth_network::{netns, Backend, Endpoint, NetworkConfig, PortBinding, Proto};

fn ruleset() -> String {
    let out = Command::new("nft")
        .args(["list", "ruleset"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn network_endpoint_and_teardown() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: needs root");
        return;
    }
    // only this thread (and what it spawns) leaves the host's network
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let net = NetworkConfig {
        name: "t".into(),
        id: "ab".repeat(32),
        bridge: "br-test".into(),
        subnet: "10.123.0.0/16".parse().unwrap(),
        gateway: "10.123.0.1".parse().unwrap(),
        internal: false,
        dns: true,
    };
    let b = BridgeBackend;
    b.create_network(&net).unwrap();
    b.create_network(&net).unwrap();
    let ns = dir.path().join("ns1");
    let t = std::time::Instant::now();
    netns::create(&ns).unwrap();
    eprintln!("namespace creation {:?}", t.elapsed());
    assert!(netns::is_pinned(&ns));
    let ip: Ipv4Addr = "10.123.0.2".parse().unwrap();
    let ep = Endpoint {
        container_id: "cd".repeat(32),
        netns: ns.clone(),
        ifname: "eth0".into(),
        ip,
        mac: Endpoint::mac_for(ip),
        default_route: true,
        ports: vec![PortBinding {
            host_ip: Ipv4Addr::UNSPECIFIED,
            host_port: 8080,
            container_port: 80,
            proto: Proto::Tcp,
        }],
    };
    let t = std::time::Instant::now();
    b.attach(&net, &ep).unwrap();
    let attach = t.elapsed();
    // a repeat (recovery after a crash) succeeds too
    b.attach(&net, &ep).unwrap();
    let mut nl = Netlink::open().unwrap();
    assert!(nl.link_index(&ep.host_veth(&net.id)).unwrap().is_some());
    let inside = netns::run_in(&ns, || {
        let out = Command::new("ip")
            .args(["-4", "addr", "show", "eth0"])
            .output()
            .unwrap();
        let route = Command::new("ip").args(["route"]).output().unwrap();
        Ok(format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&route.stdout)
        ))
    })
    .unwrap();
    assert!(inside.contains("inet 10.123.0.2/16"), "{inside}");
    assert!(inside.contains("default via 10.123.0.1"), "{inside}");
    assert!(ruleset().contains("tcp . 8080 : 10.123.0.2 . 80"));

    let t = std::time::Instant::now();
    b.detach(&net, &ep).unwrap();
    let detach = t.elapsed();
    let t = std::time::Instant::now();
    netns::remove(&ns).unwrap();
    eprintln!(
        "attach {attach:?}, detach {detach:?}, namespace removal {:?}",
        t.elapsed()
    );
    b.detach(&net, &ep).unwrap();
    assert!(nl.link_index(&ep.host_veth(&net.id)).unwrap().is_none());
    assert!(!ruleset().contains("8080"));
    assert!(!ns.exists());

    // release: the ports go now, the veth with the namespace
    let ns2 = dir.path().join("ns2");
    netns::create(&ns2).unwrap();
    let ep2 = Endpoint {
        container_id: "ef".repeat(32),
        netns: ns2.clone(),
        ..ep.clone()
    };
    b.attach(&net, &ep2).unwrap();
    assert!(ruleset().contains("tcp . 8080 : 10.123.0.2 . 80"));
    b.release(&net, &ep2).unwrap();
    b.release(&net, &ep2).unwrap();
    assert!(!ruleset().contains("8080"));
    netns::remove(&ns2).unwrap();
    let host2 = ep2.host_veth(&net.id);
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    while nl.link_index(&host2).unwrap().is_some() {
        assert!(
            std::time::Instant::now() < deadline,
            "the kernel kept {host2} after its namespace went"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    b.remove_network(&net).unwrap();
    b.remove_network(&net).unwrap();
    assert!(nl.link_index("br-test").unwrap().is_none());
    assert!(!ruleset().contains("berth-br-test"), "{}", ruleset());
}
