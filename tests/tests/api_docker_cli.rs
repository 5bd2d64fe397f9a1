//! `berth system service` end to end: docker's own clients (the `docker`
//! CLI — Debian's 20.10 client and a newer one where installed — and
//! docker-py) drive a private berth through its Engine API socket, and raw
//! HTTP checks the answers to bad input, a client that hangs up mid-attach
//! and a thousand concurrent requests.
//!
//! Each test makes its own network namespace and runs the manager and the
//! service inside it; the clients reach the service by its unix socket.

mod cli_support;

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_fixture::netns::NetNs;
use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{run_cmd, run_cmd_input, Berth, Out};

/// The docker clients on this machine: Debian's docker.io and a newer one.
fn docker_clients() -> Vec<PathBuf> {
    let found: Vec<PathBuf> = ["/usr/bin/docker", "/usr/local/bin/docker"]
        .iter()
        .map(PathBuf::from)
        .filter(|p| p.exists())
        .collect();
    assert!(
        !found.is_empty(),
        "no docker client: install Debian's docker.io (its `docker` CLI is what these tests drive)"
    );
    found
}

/// `berth system service` of a private berth, stopped on drop.
struct Service {
    child: Child,
    sock: PathBuf,
    config: tempfile::TempDir,
}

impl Service {
    fn start(b: &Berth) -> Service {
        let sock = b.state().join("docker.sock");
        let log = std::fs::File::create(b.scratch("api").join("api.log")).unwrap();
        let child = b
            .command(["system", "service", "--time", "0"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("spawn berth system service");
        let s = Service {
            child,
            sock,
            config: tempfile::tempdir().unwrap(),
        };
        assert!(
            wait_until(Duration::from_secs(20), || s
                .request("GET", "/_ping", None)
                .is_some_and(|r| r.status == 200)),
            "the service never answered /_ping on {}",
            s.sock.display()
        );
        s
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `docker ARGS` with `client` against this service.
    fn docker(&self, client: &Path, args: &[&str]) -> Out {
        self.docker_input(client, args, None)
    }

    fn docker_input(&self, client: &Path, args: &[&str], input: Option<&[u8]>) -> Out {
        run_cmd_input(
            Command::new(client)
                .env("DOCKER_HOST", format!("unix://{}", self.sock.display()))
                .env("DOCKER_CONFIG", self.config.path())
                .args(args),
            input,
            Duration::from_secs(60),
        )
    }

    /// One HTTP/1.1 request on a connection of its own; `None` when the
    /// socket does not answer.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> Option<Reply> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let body = body.unwrap_or("");
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        );
        s.write_all(req.as_bytes()).ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        Reply::parse(&raw)
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A parsed HTTP reply (bodies of these tests are small, not chunked
/// unless streamed; chunked ones are joined).
#[derive(Debug)]
struct Reply {
    status: u16,
    head: String,
    body: String,
}

impl Reply {
    fn parse(raw: &[u8]) -> Option<Reply> {
        let text = String::from_utf8_lossy(raw).into_owned();
        let (head, rest) = text.split_once("\r\n\r\n")?;
        let status = head.split_whitespace().nth(1)?.parse().ok()?;
        let body = if head
            .to_ascii_lowercase()
            .contains("transfer-encoding: chunked")
        {
            let mut out = String::new();
            let mut r = rest;
            while let Some((size, tail)) = r.split_once("\r\n") {
                let n = usize::from_str_radix(size.trim(), 16).ok()?;
                if n == 0 {
                    break;
                }
                out.push_str(tail.get(..n)?);
                r = tail.get(n + 2..)?;
            }
            out
        } else {
            rest.to_string()
        };
        Some(Reply {
            status,
            head: head.to_string(),
            body,
        })
    }

    fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {self:?}"))
    }

    /// docker's error shape: `{"message": "..."}`, one line.
    fn message(&self) -> String {
        let m = self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(!m.is_empty() && !m.contains('\n'), "{self:?}");
        m
    }
}

/// The namespace (dropped last), the berth in it, its service.
fn setup() -> (NetNs, Berth, Service) {
    let ns = NetNs::new();
    let b = Berth::in_netns(&ns.path());
    b.load_busybox();
    let s = Service::start(&b);
    (ns, b, s)
}

#[test]
fn docker_cli_runs_lists_logs_execs_and_removes() {
    require_root!();
    let (_ns, b, s) = setup();
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();

        let gone = unique_id("rm").to_lowercase();
        let out = d(&["run", "--rm", "--name", &gone, "busybox", "echo", "hi"]);
        assert_eq!((out.code(), out.out()), (0, "hi"), "{who}: {out}");
        // the client's wait for removal ends only once the container is gone
        let out = d(&["inspect", &gone]);
        assert_ne!(out.code(), 0, "{who}: {gone} outlived run --rm: {out}");
        let out = d(&["run", "--rm", "busybox", "sh", "-c", "echo err >&2; exit 3"]);
        assert_eq!(out.code(), 3, "{who}: {out}");
        assert_eq!(out.stderr.trim(), "err", "{who}: {out}");

        let name = unique_id("api").to_lowercase();
        let id = d(&[
            "run",
            "-d",
            "--name",
            &name,
            "busybox",
            "sh",
            "-c",
            "echo one; echo two >&2; sleep 1; echo three; exec sleep 600",
        ])
        .ok()
        .out()
        .to_string();
        assert_eq!(id.len(), 64, "{who}: {id}");
        let ps = d(&["ps"]).ok();
        assert!(
            ps.stdout
                .lines()
                .any(|l| l.contains(&name) && l.contains("Up")),
            "{who}: {ps}"
        );
        assert!(
            wait_until(Duration::from_secs(10), || d(&["logs", &name])
                .stdout
                .contains("three")),
            "{who}"
        );
        let logs = d(&["logs", &name]).ok();
        assert_eq!(logs.stdout, "one\nthree\n", "{who}: {logs}");
        assert_eq!(logs.stderr, "two\n", "{who}: {logs}");
        let tail = d(&["logs", "--tail", "1", &name]).ok();
        assert_eq!(tail.stdout, "three\n", "{who}: {tail}");

        let out = d(&["exec", &name, "sh", "-c", "echo in-exec; exit 4"]);
        assert_eq!((out.code(), out.out()), (4, "in-exec"), "{who}: {out}");
        let out = s.docker_input(&client, &["exec", "-i", &name, "cat"], Some(b"piped\n"));
        assert_eq!((out.code(), out.out()), (0, "piped"), "{who}: {out}");
        let out = d(&[
            "exec",
            "-e",
            "X=y",
            "-w",
            "/tmp",
            &name,
            "sh",
            "-c",
            "echo $X $(pwd)",
        ])
        .ok();
        assert_eq!(out.out(), "y /tmp", "{who}: {out}");

        let top = d(&["top", &name]).ok();
        assert!(top.stdout.contains("sleep 600"), "{who}: {top}");
        d(&["pause", &name]).ok();
        d(&["unpause", &name]).ok();

        // logs -f follows until the container ends
        let follower = {
            let (client, sock, cfg) = (
                client.clone(),
                s.sock.clone(),
                s.config.path().to_path_buf(),
            );
            let name = name.clone();
            std::thread::spawn(move || {
                run_cmd(
                    Command::new(client)
                        .env("DOCKER_HOST", format!("unix://{}", sock.display()))
                        .env("DOCKER_CONFIG", cfg)
                        .args(["logs", "-f", &name]),
                    Duration::from_secs(60),
                )
            })
        };
        std::thread::sleep(Duration::from_millis(500));
        d(&["stop", "-t", "1", &name]).ok();
        let followed = follower.join().unwrap();
        assert_eq!(followed.code(), 0, "{who}: {followed}");
        assert!(
            followed.stdout.contains("one\nthree\n"),
            "{who}: {followed}"
        );
        let ps = d(&["ps", "-a", "--filter", &format!("name={name}")]).ok();
        assert!(
            ps.stdout.contains("Exited (137)") || ps.stdout.contains("Exited (143)"),
            "{who}: {ps}"
        );

        d(&["start", &name]).ok();
        d(&["rm", "-f", &name]).ok();
        let ps = d(&["ps", "-aq"]).ok();
        assert!(ps.out().is_empty(), "{who}: {ps}");
        let images = d(&["images"]).ok();
        assert!(
            images
                .stdout
                .lines()
                .any(|l| l.starts_with("busybox") && l.contains("latest")),
            "{who}: {images}"
        );
        let v = d(&["version", "--format", "{{.Server.APIVersion}}"]).ok();
        assert_eq!(v.out(), "1.47", "{who}: {v}");
    }
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_exec_it_through_a_pty() {
    require_root!();
    let (_ns, _b, s) = setup();
    let client = docker_clients().pop().unwrap();
    let name = unique_id("pty").to_lowercase();
    s.docker(
        &client,
        &["run", "-d", "--name", &name, "busybox", "sleep", "600"],
    )
    .ok();
    // script gives docker a terminal; the command's own tty answers
    let line = format!(
        "{} exec -it {name} sh -c 'tty; echo done'",
        client.display()
    );
    let out = run_cmd(
        Command::new("script")
            .args(["-qec", &line, "/dev/null"])
            .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
            .env("DOCKER_CONFIG", s.config.path())
            .stdin(Stdio::null()),
        Duration::from_secs(60),
    );
    assert_eq!(out.code(), 0, "{out}");
    assert!(out.stdout.contains("/dev/pts/"), "{out}");
    assert!(out.stdout.contains("done"), "{out}");
    s.docker(&client, &["rm", "-f", &name]).ok();
}

#[test]
fn bad_requests_get_docker_statuses_and_messages() {
    require_root!();
    let (_ns, _b, s) = setup();
    let r = s.request("HEAD", "/_ping", None).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    for h in [
        "api-version: 1.47",
        "builder-version: 1",
        "ostype: linux",
        "docker-experimental: false",
    ] {
        assert!(r.head.to_ascii_lowercase().contains(h), "{h}: {r:?}");
    }
    let r = s.request("GET", "/v1.24/version", None).unwrap();
    assert_eq!(r.json()["ApiVersion"], "1.47", "{r:?}");
    assert_eq!(r.json()["MinAPIVersion"], "1.24", "{r:?}");
    let r = s.request("GET", "/v1.41/info", None).unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.json()["Images"], 1, "{r:?}");

    let r = s.request("GET", "/v1.99/info", None).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().contains("too new"), "{r:?}");
    let r = s.request("GET", "/v1.47/nothing/here", None).unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    r.message();

    // malformed and mistyped bodies: 400, nothing made
    for body in [
        "{\"Image\": \"busybox\"",
        "{\"Image\": 7}",
        "{\"Image\": \"busybox\", \"HostConfig\": {\"Memory\": \"lots\"}}",
        "{\"Image\": \"busybox\", \"Cmd\": \"not-a-list\"}",
        "{\"Cmd\": [\"true\"]}",
        "{\"Image\": \"busybox\", \"HostConfig\": {\"PortBindings\": {\"80x\": [{\"HostPort\": \"1\"}]}}}",
    ] {
        let r = s.request("POST", "/v1.47/containers/create", Some(body)).unwrap();
        assert_eq!(r.status, 400, "{body}: {r:?}");
        r.message();
    }
    let r = s
        .request(
            "POST",
            "/v1.47/containers/create?name=bad%20name",
            Some("{\"Image\":\"busybox\"}"),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let list = s
        .request("GET", "/v1.47/containers/json?all=1", None)
        .unwrap();
    assert_eq!(list.json(), serde_json::json!([]), "{list:?}");

    // missing objects: 404
    for (m, p) in [
        ("GET", "/v1.47/containers/nope/json"),
        ("POST", "/v1.47/containers/nope/start"),
        ("POST", "/v1.47/containers/nope/stop"),
        ("DELETE", "/v1.47/containers/nope"),
        ("GET", "/v1.47/containers/nope/logs?stdout=1"),
        ("POST", "/v1.47/containers/nope/wait"),
        ("GET", "/v1.47/images/nope/json"),
        ("GET", "/v1.47/exec/nope/json"),
    ] {
        let r = s.request(m, p, None).unwrap();
        assert_eq!(r.status, 404, "{m} {p}: {r:?}");
        r.message();
    }
    let r = s
        .request(
            "POST",
            "/v1.47/containers/create",
            Some("{\"Image\":\"no-such-image\"}"),
        )
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");

    // conflicts: 409 for a taken name, 304 for a start of a started one
    let name = unique_id("c").to_lowercase();
    let body = "{\"Image\":\"busybox\",\"Cmd\":[\"sleep\",\"600\"]}";
    let r = s
        .request(
            "POST",
            &format!("/v1.47/containers/create?name={name}"),
            Some(body),
        )
        .unwrap();
    assert_eq!(r.status, 201, "{r:?}");
    let id = r.json()["Id"].as_str().unwrap().to_string();
    let r = s
        .request(
            "POST",
            &format!("/v1.47/containers/create?name={name}"),
            Some(body),
        )
        .unwrap();
    assert_eq!(r.status, 409, "{r:?}");
    r.message();
    assert_eq!(
        s.request("POST", &format!("/containers/{id}/start"), None)
            .unwrap()
            .status,
        204
    );
    assert_eq!(
        s.request("POST", &format!("/containers/{id}/start"), None)
            .unwrap()
            .status,
        304
    );
    let r = s
        .request("GET", "/containers/json?filters=%7Bbad", None)
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request(
            "GET",
            &format!("/containers/json?filters=%7B%22name%22%3A%5B%22{name}%22%5D%7D"),
            None,
        )
        .unwrap();
    assert_eq!(r.json()[0]["Id"], id.as_str(), "{r:?}");
    let r = s
        .request("GET", &format!("/containers/{name}/logs"), None)
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request("POST", &format!("/containers/{id}/kill?signal=NOPE"), None)
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request(
            "POST",
            &format!("/containers/{id}/wait?condition=sometime"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    assert_eq!(
        s.request("POST", &format!("/containers/{id}/kill"), None)
            .unwrap()
            .status,
        204
    );
    let r = s
        .request("POST", &format!("/containers/{id}/wait"), None)
        .unwrap();
    assert_eq!(r.json()["StatusCode"], 137, "{r:?}");
    assert_eq!(
        s.request("POST", &format!("/containers/{id}/stop"), None)
            .unwrap()
            .status,
        304
    );
    assert_eq!(
        s.request("DELETE", &format!("/containers/{id}"), None)
            .unwrap()
            .status,
        204
    );
}

/// Open descriptors of process `pid`.
fn fds_of(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[test]
fn a_client_hanging_up_mid_attach_leaks_nothing() {
    require_root!();
    let (_ns, _b, s) = setup();
    let body = "{\"Image\":\"busybox\",\"Cmd\":[\"sh\",\"-c\",\"while true; do echo tick; sleep 0.05; done\"]}";
    let r = s.request("POST", "/containers/create", Some(body)).unwrap();
    let id = r.json()["Id"].as_str().unwrap().to_string();
    assert_eq!(
        s.request("POST", &format!("/containers/{id}/start"), None)
            .unwrap()
            .status,
        204
    );
    // the service settles (its manager connection, first requests) first
    s.request("GET", "/containers/json", None).unwrap();
    let before = fds_of(s.pid());
    for _ in 0..5 {
        let mut c = UnixStream::connect(&s.sock).unwrap();
        c.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        write!(
            c,
            "POST /v1.47/containers/{id}/attach?stream=1&stdout=1&stderr=1 HTTP/1.1\r\nHost: b\r\nConnection: Upgrade\r\nUpgrade: tcp\r\nContent-Length: 0\r\n\r\n"
        )
        .unwrap();
        let mut got = Vec::new();
        let mut buf = [0u8; 4096];
        while !String::from_utf8_lossy(&got).contains("tick") {
            let n = c.read(&mut buf).unwrap();
            assert!(
                n > 0,
                "attach ended early: {}",
                String::from_utf8_lossy(&got)
            );
            got.extend_from_slice(&buf[..n]);
        }
        let text = String::from_utf8_lossy(&got);
        assert!(text.starts_with("HTTP/1.1 101"), "{text}");
        // the frame header of stdout precedes the text
        let at = got.windows(4).position(|w| w == b"tick").unwrap();
        assert_eq!(got[at - 8], 1, "{text}");
        drop(c);
    }
    // each session notices at its next write and lets go of everything
    assert!(
        wait_until(Duration::from_secs(10), || fds_of(s.pid()) <= before),
        "descriptors of the service: {before} before, {} after",
        fds_of(s.pid())
    );
    let r = s
        .request("GET", &format!("/containers/{id}/json"), None)
        .unwrap();
    assert_eq!(r.json()["State"]["Status"], "running", "{r:?}");
    assert_eq!(
        s.request("DELETE", &format!("/containers/{id}?force=1"), None)
            .unwrap()
            .status,
        204
    );
}

#[test]
fn a_thousand_concurrent_lists_are_all_answered() {
    require_root!();
    let (_ns, _b, s) = setup();
    s.request(
        "POST",
        "/containers/create",
        Some("{\"Image\":\"busybox\"}"),
    )
    .unwrap();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .enable_all()
        .build()
        .unwrap();
    let sock = s.sock.clone();
    let answers = rt.block_on(async move {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut tasks = Vec::new();
        for _ in 0..1000 {
            let sock = sock.clone();
            tasks.push(tokio::spawn(async move {
                let mut c = tokio::net::UnixStream::connect(&sock).await.ok()?;
                c.write_all(b"GET /v1.47/containers/json?all=1 HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
                    .await
                    .ok()?;
                let mut raw = Vec::new();
                tokio::time::timeout(Duration::from_secs(60), c.read_to_end(&mut raw))
                    .await
                    .ok()?
                    .ok()?;
                Reply::parse(&raw)
            }));
        }
        let mut answers = Vec::new();
        for t in tasks {
            answers.push(t.await.ok().flatten());
        }
        answers
    });
    let ok = answers
        .iter()
        .filter(|a| {
            a.as_ref().is_some_and(|r| {
                r.status == 200 && r.json().as_array().is_some_and(|l| l.len() == 1)
            })
        })
        .count();
    assert_eq!(ok, 1000, "answered: {ok} of 1000");
}

#[test]
fn docker_py_lists_runs_and_removes_a_container() {
    require_root!();
    let (_ns, _b, s) = setup();
    let script = r#"
import sys, docker
c = docker.DockerClient(base_url="unix://" + sys.argv[1], version="auto")
out = c.containers.run("busybox", ["echo", "from-python"], remove=True)
assert out == b"from-python\n", out
k = c.containers.run("busybox", ["sleep", "600"], detach=True, name=sys.argv[2])
names = [x.name for x in c.containers.list()]
assert sys.argv[2] in names, names
k.reload()
assert k.status == "running", k.status
r = k.exec_run(["echo", "exec-py"])
assert r.output == b"exec-py\n", r
k.remove(force=True)
assert c.containers.list(all=True) == []
print("ok")
"#;
    let name = unique_id("py").to_lowercase();
    let out = run_cmd(
        Command::new("python3").args(["-c", script, s.sock.to_str().unwrap(), &name]),
        Duration::from_secs(120),
    );
    assert_eq!((out.code(), out.out()), (0, "ok"), "{out}");
}

#[test]
fn docker_cli_networks_by_name_volumes_and_published_ports() {
    require_root!();
    let (ns, _b, s) = setup();
    let client = docker_clients().remove(0);
    let d = |args: &[&str]| s.docker(&client, args);
    let net = unique_id("net").to_lowercase();
    let srv = unique_id("srv").to_lowercase();
    d(&["network", "create", &net]).ok();
    let ls = d(&["network", "ls"]).ok();
    assert!(ls.stdout.contains(&net), "{ls}");
    d(&[
        "run",
        "-d",
        "--name",
        &srv,
        "--network",
        &net,
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
    .ok();
    let fetch = format!(
        "for i in $(seq 1 50); do wget -qO- http://{srv}/hostname && exit 0; sleep 0.2; done; exit 1"
    );
    let out = d(&[
        "run",
        "--rm",
        "--network",
        &net,
        "busybox",
        "sh",
        "-c",
        &fetch,
    ]);
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(
        out.out().len(),
        12,
        "the server's hostname, its short id: {out}"
    );
    let inspect = d(&["network", "inspect", "-f", "{{.Name}}", &net]).ok();
    assert_eq!(inspect.out(), net, "{inspect}");

    let vol = unique_id("vol").to_lowercase();
    d(&["volume", "create", &vol]).ok();
    assert!(d(&["volume", "ls", "-q"])
        .ok()
        .stdout
        .lines()
        .any(|l| l == vol));
    let mount = format!("{vol}:/data");
    d(&[
        "run",
        "--rm",
        "-v",
        &mount,
        "busybox",
        "sh",
        "-c",
        "echo kept > /data/f",
    ])
    .ok();
    let out = d(&["run", "--rm", "-v", &mount, "busybox", "cat", "/data/f"]).ok();
    assert_eq!(out.out(), "kept", "{out}");
    let out = d(&["volume", "rm", &vol]);
    assert_eq!(out.code(), 0, "{out}");

    // -p: the port answers in the test's namespace, ps and port show it
    let web = unique_id("web").to_lowercase();
    d(&[
        "run",
        "-d",
        "--name",
        &web,
        "-p",
        "127.0.0.1:18081:80",
        "busybox",
        "httpd",
        "-f",
        "-p",
        "80",
        "-h",
        "/etc",
    ])
    .ok();
    let ps = d(&["ps", "--filter", &format!("name={web}")]).ok();
    assert!(ps.stdout.contains("127.0.0.1:18081->80/tcp"), "{ps}");
    let port = d(&["port", &web]).ok();
    assert!(port.stdout.contains("127.0.0.1:18081"), "{port}");
    let bb = berth_fixture::busybox_bin();
    let bb = bb.to_str().unwrap();
    let mut page = None;
    assert!(
        wait_until(Duration::from_secs(10), || {
            let out = ns.try_exec(&[
                bb,
                "timeout",
                "5",
                bb,
                "wget",
                "-qO-",
                "http://127.0.0.1:18081/hostname",
            ]);
            let ok = out.status.success();
            page = Some(out);
            ok
        }),
        "{}",
        page.unwrap()
    );
    assert_eq!(page.unwrap().stdout.trim().len(), 12);
    d(&["rm", "-f", &web]).ok();

    d(&["rm", "-f", &srv]).ok();
    d(&["network", "rm", &net]).ok();
    let out = d(&["network", "inspect", &net]);
    assert_ne!(out.code(), 0, "{out}");
    let out = d(&["network", "connect", "bridge", "no-such-container"]);
    assert_ne!(out.code(), 0, "{out}");
}

#[test]
fn docker_cli_pulls_and_pushes_through_a_loopback_registry() {
    require_root!();
    // the registry listens on the host's loopback: this berth (no bridge,
    // no published ports) shares the host's network to reach it
    let b = Berth::new();
    let archive = b.load_busybox();
    let reg = berth_fixture::registry::Registry::start(archive.parent().unwrap(), 0);
    let s = Service::start(&b);
    let client = docker_clients().remove(0);
    let d = |args: &[&str]| s.docker(&client, args);
    let repo = format!(
        "127.0.0.1:{}/berth-api/{}",
        reg.port,
        unique_id("bb").to_lowercase()
    );
    let tagged = format!("{repo}:v1");
    d(&["tag", "busybox", &tagged]).ok();
    let push = d(&["push", &tagged]).ok();
    assert!(!push.stdout.is_empty(), "{push}");
    let rmi = d(&["rmi", &tagged]).ok();
    assert!(rmi.stdout.contains("Untagged"), "{rmi}");
    assert!(!d(&["images"]).ok().stdout.contains(&repo));
    let pull = d(&["pull", &tagged]).ok();
    assert!(
        pull.stdout.contains("v1") || !pull.stdout.is_empty(),
        "{pull}"
    );
    let images = d(&["images"]).ok();
    assert!(
        images
            .stdout
            .lines()
            .any(|l| l.starts_with(&repo) && l.contains("v1")),
        "{images}"
    );
    let out = d(&[
        "run",
        "--rm",
        "--network",
        "none",
        &tagged,
        "echo",
        "pulled",
    ]);
    assert_eq!((out.code(), out.out()), (0, "pulled"), "{out}");
    // a tag the registry does not have: an error, nothing stored
    let out = d(&["pull", &format!("{repo}:nope")]);
    assert_ne!(out.code(), 0, "{out}");
    let hist = d(&["history", "-q", "busybox"]).ok();
    assert!(!hist.out().is_empty(), "{hist}");
}

#[test]
fn docker_cli_commits_diffs_stats_and_reports_events_and_disk_usage() {
    require_root!();
    let (_ns, _b, s) = setup();
    let client = docker_clients().remove(0);
    let d = |args: &[&str]| s.docker(&client, args);
    let events = {
        let (client, sock, cfg) = (
            client.clone(),
            s.sock.clone(),
            s.config.path().to_path_buf(),
        );
        std::thread::spawn(move || {
            run_cmd(
                Command::new("timeout")
                    .arg("8")
                    .arg(client)
                    .env("DOCKER_HOST", format!("unix://{}", sock.display()))
                    .env("DOCKER_CONFIG", cfg)
                    .args([
                        "events",
                        "--filter",
                        "type=container",
                        "--format",
                        "{{.Action}} {{.Actor.Attributes.name}}",
                    ]),
                Duration::from_secs(30),
            )
        })
    };
    std::thread::sleep(Duration::from_millis(500));
    let name = unique_id("cm").to_lowercase();
    d(&[
        "run",
        "-d",
        "--name",
        &name,
        "busybox",
        "sh",
        "-c",
        "echo made > /made; exec sleep 600",
    ])
    .ok();
    assert!(wait_until(Duration::from_secs(10), || d(&[
        "exec", &name, "cat", "/made"
    ])
    .out()
        == "made"));
    let image = format!("{name}:v1");
    let id = d(&["commit", "-c", "ENV FOO=bar", &name, &image]).ok();
    assert!(id.out().starts_with("sha256:"), "{id}");
    let out = d(&["run", "--rm", &image, "sh", "-c", "cat /made; echo $FOO"]).ok();
    assert_eq!(out.out(), "made\nbar", "{out}");
    let diff = d(&["diff", &name]).ok();
    assert!(diff.stdout.lines().any(|l| l == "A /made"), "{diff}");
    let stats = d(&["stats", "--no-stream", &name]).ok();
    assert!(stats.stdout.lines().any(|l| l.contains(&name)), "{stats}");
    let df = d(&["system", "df"]).ok();
    let images_row = df
        .stdout
        .lines()
        .find(|l| l.starts_with("Images"))
        .unwrap_or_default();
    assert!(images_row.split_whitespace().nth(1) == Some("2"), "{df}");
    d(&["rm", "-f", &name]).ok();
    // the events stream ends when `timeout` stops the client
    let ev = events.join().unwrap();
    for want in [
        format!("create {name}"),
        format!("start {name}"),
        format!("destroy {name}"),
    ] {
        assert!(ev.stdout.lines().any(|l| l == want), "{want}: {ev}");
    }
    let r = s.request("GET", "/events?filters=%7Bnope", None).unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request("POST", "/commit?container=no-such", None)
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
}

#[test]
fn service_socket_mode_idle_exit_and_refused_listeners() {
    require_root!();
    let ns = NetNs::new();
    let b = Berth::in_netns(&ns.path());
    // a TCP listener off loopback, a bad address, an unknown group: refused,
    // one line each, nothing listening
    for (args, want) in [
        (&["--listen", "tcp://0.0.0.0:2375"][..], "loopback"),
        (&["--listen", "http://x"][..], "invalid --listen"),
        (&["--group", "no-such-group-berth"][..], "no such group"),
    ] {
        let mut a = vec!["system", "service", "--time", "1"];
        a.extend_from_slice(args);
        let out = b.run(&a);
        assert_eq!(out.code(), 1, "{out}");
        assert_eq!(out.err_lines().len(), 1, "{out}");
        assert!(out.stderr.contains(want), "{want}: {out}");
    }
    assert!(b.manager_pids().is_empty(), "bad flags started a manager");
    // --time 1: serves, then exits once idle for a second
    let sock = b.state().join("idle.sock");
    let listen = format!("unix://{}", sock.display());
    let mut child = b
        .command([
            "system", "service", "--time", "1", "--group", "root", "--listen", &listen,
        ])
        .stdin(Stdio::null())
        .spawn()
        .unwrap();
    assert!(wait_until(Duration::from_secs(20), || sock.exists()));
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    let meta = std::fs::metadata(&sock).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o660);
    assert_eq!((meta.uid(), meta.gid()), (0, 0));
    let mut c = UnixStream::connect(&sock).unwrap();
    c.write_all(b"GET /_ping HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n")
        .unwrap();
    let mut r = String::new();
    c.read_to_string(&mut r).unwrap();
    assert!(r.starts_with("HTTP/1.1 200") && r.ends_with("OK"), "{r}");
    assert!(
        wait_until(Duration::from_secs(10), || child
            .try_wait()
            .unwrap()
            .is_some()),
        "the service did not exit when idle"
    );
    assert!(child.wait().unwrap().success());
    assert!(!sock.exists(), "the socket is removed on exit");
}

#[test]
fn docker_cli_builds_with_the_classic_builder_and_its_cache() {
    require_root!();
    let (_ns, b, s) = setup();
    // Debian's 20.10 client speaks the classic builder by default; newer
    // ones are told to with DOCKER_BUILDKIT=0
    let client = docker_clients().remove(0);
    let ctx = b.scratch("ctx");
    std::fs::write(
        ctx.join("Dockerfile"),
        "FROM busybox\nARG X=0\nCOPY f /f\nRUN echo built-$X >> /f\nCMD [\"cat\", \"/f\"]\n",
    )
    .unwrap();
    std::fs::write(ctx.join("f"), "copied\n").unwrap();
    let ctx_s = ctx.to_str().unwrap();
    let tag = format!("{}:v1", unique_id("built").to_lowercase());
    let build = |extra: &[&str]| {
        let mut a = vec!["build", "--build-arg", "X=7", "-t", &tag];
        a.extend_from_slice(extra);
        a.push(ctx_s);
        run_cmd_input(
            Command::new(&client)
                .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
                .env("DOCKER_CONFIG", s.config.path())
                .env("DOCKER_BUILDKIT", "0")
                .args(&a),
            None,
            Duration::from_secs(120),
        )
    };
    let first = build(&[]);
    assert_eq!(first.code(), 0, "{first}");
    for want in [
        "Step 1/5 : FROM busybox",
        "Step 4/5 : RUN echo built-$X >> /f",
        "Successfully tagged",
    ] {
        assert!(first.stdout.contains(want), "{want}: {first}");
    }
    let out = s.docker(&client, &["run", "--rm", &tag]).ok();
    assert_eq!(out.out(), "copied\nbuilt-7", "{out}");
    let again = build(&["-q"]);
    assert_eq!(again.code(), 0, "{again}");
    assert!(
        again.out().starts_with("sha256:"),
        "the aux image id: {again}"
    );
    let cached = build(&[]);
    assert!(
        cached.stdout.matches("Using cache").count() >= 3,
        "{cached}"
    );
    // a failing step: the client's error and exit code, no image
    std::fs::write(ctx.join("Dockerfile"), "FROM busybox\nRUN exit 5\n").unwrap();
    let failed = build(&[]);
    assert_ne!(failed.code(), 0, "{failed}");
    assert!(failed.stderr.contains("non-zero code: 5"), "{failed}");
    let r = s
        .request("POST", "/build?remote=http%3A%2F%2Fx", None)
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
}

#[test]
fn docker_compose_brings_a_two_service_project_up_and_down() {
    require_root!();
    let (_ns, b, s) = setup();
    let dir = b.scratch("project");
    std::fs::write(
        dir.join("docker-compose.yml"),
        "version: \"3\"\nservices:\n  web:\n    image: busybox\n    command: httpd -f -p 80 -h /etc\n  client:\n    image: busybox\n    command: sh -c 'for i in $$(seq 1 50); do wget -qO- http://web/hostname && exit 0; sleep 0.2; done; exit 1'\n    depends_on: [web]\n",
    )
    .unwrap();
    let project = unique_id("proj").to_lowercase().replace('-', "");
    let compose = |args: &[&str]| {
        run_cmd(
            Command::new("docker-compose")
                .current_dir(&dir)
                .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
                .env("DOCKER_CONFIG", s.config.path())
                .args(["-p", &project])
                .args(args),
            Duration::from_secs(120),
        )
    };
    let up = compose(&["up", "-d"]);
    assert_eq!(up.code(), 0, "{up}");
    // the client reaches the web service by its name, then exits 0
    let mut ps = None;
    assert!(
        wait_until(Duration::from_secs(30), || {
            let out = compose(&["ps"]);
            let done = out
                .stdout
                .lines()
                .any(|l| l.contains("client") && l.contains("Exit 0"));
            ps = Some(out);
            done
        }),
        "{}",
        ps.unwrap()
    );
    let ps = ps.unwrap();
    assert!(
        ps.stdout
            .lines()
            .any(|l| l.contains("web") && l.contains("Up")),
        "{ps}"
    );
    let logs = compose(&["logs", "client"]);
    assert!(
        logs.stdout
            .lines()
            .any(|l| l.trim_end().len() >= 12 && l.contains("client")),
        "{logs}"
    );
    let down = compose(&["down"]);
    assert_eq!(down.code(), 0, "{down}");
    let left = s.docker(&docker_clients()[0], &["ps", "-aq"]).ok();
    assert!(left.out().is_empty(), "{left}");
    let nets = s
        .docker(
            &docker_clients()[0],
            &[
                "network",
                "ls",
                "-q",
                "--filter",
                &format!("name={project}"),
            ],
        )
        .ok();
    assert!(nets.out().is_empty(), "{nets}");
}

#[test]
fn the_service_outlives_a_killed_manager() {
    require_root!();
    let (_ns, b, s) = setup();
    let client = docker_clients().remove(0);
    s.docker(&client, &["ps"]).ok();
    b.kill_manager();
    // a read after the manager's death goes to its successor, started as
    // the CLI starts one
    let ps = s.docker(&client, &["ps", "-a"]);
    assert_eq!(ps.code(), 0, "{ps}");
    let out = s.docker(&client, &["run", "--rm", "busybox", "echo", "after"]);
    assert_eq!((out.code(), out.out()), (0, "after"), "{out}");
}
