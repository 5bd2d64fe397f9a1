//! `berth` networking end to end: the default bridge, user networks with
//! names and aliases, isolation, published ports, addresses kept across
//! stop/start and a manager's kill -9, teardown, and bad input.
//!
//! Every test makes its own network namespace (a holder process from
//! `unshare -n`, `lo` up) and runs every berth command, so the manager and
//! its containers, inside it: nothing here touches the host's network.

mod cli_support;

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_fixture::netns::NetNs;
use berth_fixture::{busybox_bin, require_root, wait_until};
use cli_support::{run_cmd, Berth, Out};

/// A helper process of the test, killed however the test ends.
struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// The namespace first (dropped last), then the berth inside it.
fn setup() -> (NetNs, Berth) {
    let ns = NetNs::new();
    let b = Berth::in_netns(&ns.path());
    b.load_busybox();
    (ns, b)
}

/// A shell line that fetches `url` from inside a container, retrying while
/// the server starts.
fn fetch(url: &str) -> String {
    format!("for i in $(seq 1 50); do timeout 2 wget -qO- {url} && exit 0; sleep 0.2; done; exit 1")
}

/// A one-line error on stderr and `code`.
fn one_line_error(out: &Out, code: i32) {
    assert_eq!(out.code(), code, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
}

fn httpd(b: &Berth, args: &[&str]) -> String {
    let mut a = vec!["run", "-d"];
    a.extend_from_slice(args);
    a.extend_from_slice(&["busybox", "httpd", "-f", "-p", "80", "-h", "/etc"]);
    b.run(&a).ok().out().to_string()
}

fn ip_of(b: &Berth, name: &str, network: &str) -> String {
    let f = format!("{{{{.NetworkSettings.Networks.{network}.IPAddress}}}}");
    b.run(&["inspect", "-f", &f, name]).ok().out().to_string()
}

#[test]
fn default_bridge_gives_address_route_and_files() {
    require_root!();
    let (_ns, b) = setup();
    let ls = b.run(&["network", "ls", "--format", "json"]).ok();
    for n in ["\"bridge\"", "\"host\"", "\"none\""] {
        assert!(ls.stdout.contains(n), "{ls}");
    }
    let out = b
        .run(&[
            "run",
            "--rm",
            "--add-host",
            "db:10.9.9.9",
            "busybox",
            "sh",
            "-c",
            "ip -4 addr show eth0; ip route; cat /etc/hosts /etc/hostname",
        ])
        .ok();
    assert!(out.stdout.contains("inet 172.17.0.2/16"), "{out}");
    assert!(
        out.stdout.contains("default via 172.17.0.1 dev eth0"),
        "{out}"
    );
    assert!(out.stdout.contains("10.9.9.9\tdb"), "{out}");
    assert!(out.stdout.contains("127.0.0.1\tlocalhost"), "{out}");
    // its own address under its hostname (the short id)
    let host_line = out
        .stdout
        .lines()
        .find(|l| l.starts_with("172.17.0.2\t"))
        .unwrap_or_else(|| panic!("no own entry: {out}"));
    let hostname = host_line.split('\t').nth(1).unwrap();
    assert_eq!(hostname.len(), 12, "{out}");
    assert!(out.stdout.trim_end().ends_with(hostname), "{out}");
    // --network none: loopback only
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "none",
            "busybox",
            "ip",
            "-o",
            "link",
        ])
        .ok();
    assert_eq!(out.stdout.lines().count(), 1, "{out}");
}

#[test]
fn user_network_names_aliases_and_isolation() {
    require_root!();
    let (_ns, b) = setup();
    b.run(&["network", "create", "front"]).ok();
    b.run(&["network", "create", "--subnet", "10.77.0.0/24", "back"])
        .ok();
    let web = httpd(
        &b,
        &[
            "--name",
            "web",
            "--network",
            "front",
            "--network-alias",
            "www",
        ],
    );
    let short = &web[..12];
    for host in ["web", "www"] {
        let out = b
            .run(&[
                "run",
                "--rm",
                "--network",
                "front",
                "busybox",
                "sh",
                "-c",
                &fetch(&format!("http://{host}/hostname")),
            ])
            .ok();
        assert_eq!(out.out(), short, "{out}");
    }
    // a container on another network finds neither the name nor the address
    let web_ip = ip_of(&b, "web", "front");
    assert!(web_ip.starts_with("172."), "{web_ip}");
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "nslookup",
        "web",
    ]);
    assert_ne!(out.code(), 0, "{out}");
    let out = b.run(&[
        "run",
        "--rm",
        "--network",
        "back",
        "busybox",
        "nc",
        "-w",
        "2",
        &web_ip,
        "80",
    ]);
    assert_ne!(out.code(), 0, "{out}");
    assert!(out.stderr.contains("timed out"), "{out}");
    // while one on the same network reaches it by address too
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "front",
            "busybox",
            "nc",
            "-w",
            "2",
            &web_ip,
            "80",
        ])
        .ok();
    assert!(out.err_lines().is_empty(), "{out}");
    // the back network got the asked subnet
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "back",
            "busybox",
            "ip",
            "-4",
            "addr",
            "show",
            "eth0",
        ])
        .ok();
    // (the lowest free address: 10.77.0.2 unless the kernel still holds
    // the veth of an earlier container there)
    assert!(
        out.stdout.contains("inet 10.77.0.") && out.stdout.contains("/24 "),
        "{out}"
    );
    let inspect = b.run(&["network", "inspect", "front"]).ok();
    assert!(inspect.stdout.contains(&web), "{inspect}");
}

#[test]
fn published_ports_reach_httpd() {
    require_root!();
    let (ns, b) = setup();
    let id = httpd(
        &b,
        &[
            "--name",
            "pub",
            "-p",
            "127.0.0.1:18080:80",
            "-p",
            "18081:80",
        ],
    );
    let short = &id[..12];
    for url in [
        "http://127.0.0.1:18080/hostname",
        "http://127.0.0.1:18081/hostname",
    ] {
        assert_eq!(ns.page(url), short, "{url}");
    }
    // -p PORT:80 answers on the host's other addresses too, 127.0.0.1:… only there
    ns.exec(&["ip", "addr", "add", "10.200.0.1/24", "dev", "lo"]);
    assert_eq!(ns.page("http://10.200.0.1:18081/hostname"), short);
    assert_ne!(ns.wget("http://10.200.0.1:18080/hostname").code(), 0);
    let ps = b.run(&["ps"]).ok();
    assert!(ps.stdout.contains("127.0.0.1:18080->80/tcp"), "{ps}");
    assert!(ps.stdout.contains("0.0.0.0:18081->80/tcp"), "{ps}");
    let port = b.run(&["port", "pub"]).ok();
    assert!(port.stdout.contains("80/tcp -> 127.0.0.1:18080"), "{port}");
    // -p 80 picks a free host port
    b.run(&[
        "run", "-d", "--name", "eph", "-p", "80", "busybox", "httpd", "-f", "-p", "80", "-h",
        "/etc",
    ])
    .ok();
    let p = b.run(&["port", "eph", "80"]).ok();
    let host_port = p.out().rsplit(':').next().unwrap().to_string();
    assert!(host_port.parse::<u16>().unwrap() >= 32768, "{p}");
    ns.page(&format!("http://127.0.0.1:{host_port}/hostname"));
}

#[test]
fn stop_start_keeps_the_address() {
    require_root!();
    let (_ns, b) = setup();
    b.run(&["network", "create", "n1"]).ok();
    httpd(&b, &["--name", "keep-a", "--network", "n1"]);
    httpd(&b, &["--name", "keep-b", "--network", "n1"]);
    let before = ip_of(&b, "keep-a", "n1");
    b.run(&["stop", "-t", "1", "keep-a"]).ok();
    b.run(&["start", "keep-a"]).ok();
    assert_eq!(ip_of(&b, "keep-a", "n1"), before);
    let out = b
        .run(&["exec", "keep-a", "ip", "-4", "addr", "show", "eth0"])
        .ok();
    assert!(out.stdout.contains(&format!("inet {before}/")), "{out}");
    b.run(&["restart", "-t", "1", "keep-a"]).ok();
    let out = b
        .run(&["exec", "keep-a", "ip", "-4", "addr", "show", "eth0"])
        .ok();
    assert!(out.stdout.contains(&format!("inet {before}/")), "{out}");
}

#[test]
fn manager_kill9_keeps_traffic_names_addresses_and_ports() {
    require_root!();
    let (ns, b) = setup();
    b.run(&["network", "create", "n1"]).ok();
    let web = httpd(&b, &["--name", "web", "-p", "18080:80", "--network", "n1"]);
    let client = b
        .run(&[
            "run",
            "-d",
            "--name",
            "client",
            "--network",
            "n1",
            "busybox",
            "sleep",
            "1000",
        ])
        .ok()
        .out()
        .to_string();
    let web_ip = ip_of(&b, "web", "n1");
    let client_ip = ip_of(&b, "client", "n1");
    assert_eq!(ns.page("http://127.0.0.1:18080/hostname"), &web[..12]);
    b.kill_manager();

    // no manager: the page is served, the name resolves in the client's namespace
    assert_eq!(ns.wget("http://127.0.0.1:18080/hostname").out(), &web[..12]);
    let client_ns = b.state().join("netns").join(&client);
    let bb = busybox_bin();
    let out = run_cmd(
        Command::new("nsenter")
            .arg(format!("--net={}", client_ns.display()))
            .arg("--")
            .args([bb.to_str().unwrap(), "nslookup", "web", "172.18.0.1"]),
        Duration::from_secs(20),
    );
    assert!(out.stdout.contains(&web_ip), "{out}");
    assert!(b.manager_pids().is_empty());

    // the next manager keeps the port and gives a new container a new address
    let port = b.run(&["port", "web"]).ok();
    assert!(port.stdout.contains("0.0.0.0:18080"), "{port}");
    let third = b
        .run(&["run", "-d", "--network", "n1", "busybox", "sleep", "1000"])
        .ok();
    let third_ip = ip_of(&b, third.out(), "n1");
    assert!(third_ip != web_ip && third_ip != client_ip, "{third_ip}");
    let out = b.run(&["run", "--rm", "-p", "18080:80", "busybox", "true"]);
    one_line_error(&out, 125);
    assert!(out.stderr.contains("web"), "{out}");
    assert_eq!(ns.wget("http://127.0.0.1:18080/hostname").out(), &web[..12]);
}

/// Links, nft tables and addresses of the namespace.
fn kernel_state(ns: &NetNs) -> (String, String, String) {
    (
        ns.exec(&["ip", "-o", "link"]),
        ns.exec(&["nft", "list", "ruleset"]),
        ns.exec(&["ip", "-o", "-4", "addr"]),
    )
}

fn files_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .map(|d| {
            d.flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn rm_and_network_rm_leave_nothing_behind() {
    require_root!();
    let (ns, b) = setup();
    b.run(&["network", "create", "--subnet", "10.55.0.0/24", "gone"])
        .ok();
    let a = httpd(&b, &["--network", "gone", "-p", "18085:80"]);
    let c = httpd(&b, &["-p", "18086:80"]);
    let (links, rules, addrs) = kernel_state(&ns);
    assert_eq!(links.matches("vb").count(), 2, "{links}");
    assert!(
        rules.contains("18085") && rules.contains("18086"),
        "{rules}"
    );
    assert!(addrs.contains("10.55.0.1/24"), "{addrs}");
    let out = b.run(&["network", "rm", "gone"]);
    one_line_error(&out, 1);
    assert!(
        out.stderr
            .contains(&b.run(&["inspect", "-f", "{{.Name}}", &a]).ok().out()[1..]),
        "{out}"
    );

    b.run(&["rm", "-f", &a, &c]).ok();
    b.run(&["network", "rm", "gone"]).ok();
    // the kernel drops a removed container's veth with its namespace,
    // just after rm returns
    assert!(
        wait_until(Duration::from_secs(3), || !kernel_state(&ns)
            .0
            .contains("vb")),
        "veth left: {}",
        kernel_state(&ns).0
    );
    let (links, rules, addrs) = kernel_state(&ns);
    assert!(!links.contains("vb"), "veth left: {links}");
    assert!(!links.contains("br-"), "bridge left: {links}");
    assert!(
        !rules.contains("18085") && !rules.contains("18086"),
        "rule left: {rules}"
    );
    assert!(!rules.contains("10.55.0.0"), "network table left: {rules}");
    assert!(!addrs.contains("10.55.0.1"), "address left: {addrs}");
    assert!(
        files_in(&b.state().join("netns")).is_empty(),
        "namespace left"
    );
    let resolvers =
        berth_fixture::processes_with_arg(&b.state().join("aardvark-dns").display().to_string());
    assert!(resolvers.is_empty(), "resolver left: {resolvers:?}");
    b.assert_all_gone(&[a, c]);
}

/// A container on the default bridge whose namespace a process outside
/// berth holds, then removed: returns the test's namespace, berth, the
/// container's id and address, and the holder (killed on drop).
fn removed_while_held() -> (NetNs, Berth, String, String, KillOnDrop) {
    let (ns, b) = setup();
    let id = b
        .run(&["run", "-d", "busybox", "sleep", "1000"])
        .ok()
        .out()
        .to_string();
    let ip = ip_of(&b, &id, "bridge");
    let pinned = b.state().join("netns").join(&id);
    let holder = KillOnDrop(
        Command::new("nsenter")
            .arg(format!("--net={}", pinned.display()))
            .args(["sleep", "1000"])
            .stdin(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let want = {
        use std::os::unix::fs::MetadataExt;
        format!("net:[{}]", std::fs::metadata(&pinned).unwrap().ino())
    };
    let held = wait_until(Duration::from_secs(5), || {
        std::fs::read_link(format!("/proc/{}/ns/net", holder.0.id()))
            .is_ok_and(|l| l.to_string_lossy() == want)
    });
    assert!(held, "the outside holder never joined the namespace");
    b.run(&["rm", "-f", &id]).ok();
    (ns, b, id, ip, holder)
}

fn has_veth_of(ns: &NetNs, id: &str) -> bool {
    kernel_state(ns).0.contains(&format!("vb{}", &id[..7]))
}

/// A removed container's veth goes with its namespace; when something
/// outside berth still holds that namespace, berth deletes the veth itself
/// within seconds, and until then no other container gets its address.
#[test]
fn rm_with_namespace_held_outside_still_drops_the_veth() {
    require_root!();
    let (ns, b, id, old_ip, _holder) = removed_while_held();
    let next = b
        .run(&["run", "-d", "busybox", "sleep", "1000"])
        .ok()
        .out()
        .to_string();
    let still_there = has_veth_of(&ns, &id);
    let next_ip = ip_of(&b, &next, "bridge");
    if still_there {
        assert_ne!(next_ip, old_ip, "address handed out while its veth lives");
    }
    assert!(
        wait_until(Duration::from_secs(6), || !has_veth_of(&ns, &id)),
        "veth of the removed container left: {}",
        kernel_state(&ns).0
    );
    b.run(&["rm", "-f", &next]).ok();
}

/// The same, with the manager killed right after rm: the next manager
/// deletes the veth as it starts.
#[test]
fn rm_then_manager_kill9_drops_a_held_veth_at_restart() {
    require_root!();
    let (ns, b, id, _, _holder) = removed_while_held();
    b.kill_manager();
    assert!(has_veth_of(&ns, &id), "{}", kernel_state(&ns).0);
    b.run(&["ps", "-a"]).ok();
    assert!(!has_veth_of(&ns, &id), "{}", kernel_state(&ns).0);
}

/// Removed containers' addresses come back: more `run --rm` in a row on a
/// small subnet than it has addresses.
#[test]
fn addresses_of_removed_containers_are_reused() {
    require_root!();
    let (_ns, b) = setup();
    // 10.77.0.2 to .6: five addresses
    b.run(&["network", "create", "--subnet", "10.77.0.0/29", "small"])
        .ok();
    for _ in 0..8 {
        b.run(&["run", "--rm", "--network", "small", "busybox", "true"])
            .ok();
    }
    b.run(&["network", "rm", "small"]).ok();
}

#[test]
fn bad_network_input_is_refused_whole() {
    require_root!();
    let (ns, b) = setup();
    b.run(&["network", "create", "--subnet", "10.66.0.0/16", "n1"])
        .ok();
    let nets_before = b.run(&["network", "ls", "-q"]).ok().stdout;
    for (args, code) in [
        (
            &["network", "create", "--subnet", "10.66.5.0/24", "n2"][..],
            1,
        ),
        (&["network", "create", "--subnet", "10.66.0.0", "n2"], 1),
        (&["network", "create", "--subnet", "10.66.0.0/99", "n2"], 1),
        (&["network", "create", "n1"], 1),
        (&["network", "rm", "bridge"], 1),
        (&["network", "rm", "host"], 1),
        (&["network", "rm", "none"], 1),
        (&["network", "rm", "nosuch"], 1),
    ] {
        let out = b.run(args);
        one_line_error(&out, code);
    }
    assert_eq!(b.run(&["network", "ls", "-q"]).ok().stdout, nets_before);

    httpd(
        &b,
        &[
            "--name",
            "holder",
            "--network",
            "n1",
            "--ip",
            "10.66.0.9",
            "-p",
            "18090:80",
        ],
    );
    b.run(&["create", "--name", "stopped", "busybox", "true"])
        .ok();
    // something outside berth holds 18091 in the namespace
    let bb = busybox_bin();
    let listener = Command::new("nsenter")
        .arg(format!("--net={}", ns.path().display()))
        .arg("--")
        .args([bb.to_str().unwrap(), "nc", "-l", "-p", "18091"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let _listener = KillOnDrop(listener);
    assert!(wait_until(Duration::from_secs(5), || {
        ns.exec(&["cat", "/proc/net/tcp", "/proc/net/tcp6"])
            .contains(&format!(":{:04X} ", 18091))
    }));
    let ids_before = b.container_ids();
    let mut ns_before = files_in(&b.state().join("netns"));
    ns_before.sort();
    let rules_before = ns.exec(&["nft", "list", "ruleset"]);
    for (args, needle) in [
        (
            &[
                "run",
                "--rm",
                "--network",
                "n1",
                "--ip",
                "10.99.0.5",
                "busybox",
                "true",
            ][..],
            "10.99.0.5",
        ),
        (
            &[
                "run",
                "--rm",
                "--network",
                "n1",
                "--ip",
                "10.66.0.9",
                "busybox",
                "true",
            ],
            "10.66.0.9",
        ),
        (
            &[
                "run",
                "--rm",
                "--network",
                "n1",
                "--ip",
                "10.66.0.300",
                "busybox",
                "true",
            ],
            "10.66.0.300",
        ),
        (
            &["run", "--rm", "-p", "18090:80", "busybox", "true"],
            "holder",
        ),
        (
            &["run", "--rm", "-p", "18091:80", "busybox", "true"],
            "outside berth",
        ),
        (&["run", "--rm", "-p", "80x", "busybox", "true"], "80x"),
        (
            &["run", "--rm", "-p", "1.2.3:80:80", "busybox", "true"],
            "1.2.3",
        ),
        (
            &["create", "--network", "nosuch", "busybox", "true"],
            "nosuch",
        ),
        (
            &[
                "create",
                "--network",
                "container:stopped",
                "busybox",
                "true",
            ],
            "stopped",
        ),
        (
            &["create", "--ip", "172.17.0.50", "busybox", "true"],
            "user defined",
        ),
    ] {
        let out = b.run(args);
        one_line_error(&out, 125);
        assert!(out.stderr.contains(needle), "{needle}: {out}");
    }
    assert_eq!(
        b.container_ids(),
        ids_before,
        "a refused create left a container"
    );
    // nothing half-made: no namespace, no port rule
    let mut ns_after = files_in(&b.state().join("netns"));
    ns_after.sort();
    assert_eq!(ns_after, ns_before);
    assert_eq!(ns.exec(&["nft", "list", "ruleset"]), rules_before);

    let out = b.run(&["network", "connect", "n1", "holder"]);
    one_line_error(&out, 1);
    assert!(out.stderr.contains("already exists"), "{out}");
}

#[test]
fn connect_disconnect_container_mode_and_prune() {
    require_root!();
    let (_ns, b) = setup();
    b.run(&["network", "create", "--subnet", "10.44.0.0/24", "extra"])
        .ok();
    b.run(&["network", "create", "unused"]).ok();
    httpd(&b, &["--name", "multi"]);
    b.run(&["network", "connect", "--alias", "m2", "extra", "multi"])
        .ok();
    let out = b.run(&["exec", "multi", "ip", "-4", "-o", "addr"]).ok();
    assert!(
        out.stdout.contains("eth1") && out.stdout.contains("10.44.0.2/24"),
        "{out}"
    );
    // reachable by its alias on the network it joined
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "extra",
            "busybox",
            "sh",
            "-c",
            &fetch("http://m2/hostname"),
        ])
        .ok();
    assert!(!out.out().is_empty(), "{out}");
    // container:X shares X's namespace (and so its addresses)
    let out = b
        .run(&[
            "run",
            "--rm",
            "--network",
            "container:multi",
            "busybox",
            "ip",
            "-4",
            "-o",
            "addr",
        ])
        .ok();
    assert!(out.stdout.contains("10.44.0.2/24"), "{out}");
    b.run(&["network", "disconnect", "extra", "multi"]).ok();
    let out = b.run(&["exec", "multi", "ip", "-o", "link"]).ok();
    assert!(!out.stdout.contains("eth1"), "{out}");
    let out = b.run(&["network", "disconnect", "extra", "multi"]);
    one_line_error(&out, 1);
    let out = b.run(&["network", "prune", "-f"]).ok();
    assert!(
        out.stdout.contains("extra") && out.stdout.contains("unused"),
        "{out}"
    );
    let ls = b.run(&["network", "ls", "--format", "json"]).ok();
    assert_eq!(ls.stdout.lines().count(), 3, "{ls}");
}
