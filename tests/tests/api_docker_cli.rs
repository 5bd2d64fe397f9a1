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
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_fixture::cgroups::{cpu_quota, memory_limit, pids_limit};
use berth_fixture::index_stub;
use berth_fixture::netns::NetNs;
use berth_fixture::registry::{AuthRegistry, AUTH_REGISTRY_ADDR};
use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{docker_clients, run_cmd, run_cmd_input, ApiService, Berth};

/// The private berth's API service, with the raw requests these tests make.
struct Service(ApiService);

impl std::ops::Deref for Service {
    type Target = ApiService;
    fn deref(&self) -> &ApiService {
        &self.0
    }
}

impl Service {
    fn start(b: &Berth) -> Service {
        Service(ApiService::start(b))
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

/// A client that hangs up while its build's RUN step runs: the service
/// stops the build, whose RUN container, mounts and process go; no image is
/// tagged, the service lets go of the connection's descriptors, and the
/// next build over the API works.
#[test]
fn a_client_hanging_up_mid_build_leaves_nothing() {
    require_root!();
    let (_ns, b, s) = setup();
    let tag = unique_id("hangup").to_lowercase();
    s.request("GET", "/containers/json", None).unwrap();
    let before = fds_of(s.pid());
    // the tag in the RUN line names the step's process and the build's
    let dockerfile = format!("FROM busybox\nRUN echo started; sleep 60; echo {tag}\n");
    let ctx = cli_support::Tar::default()
        .file("Dockerfile", dockerfile.as_bytes())
        .finish();
    let mut c = UnixStream::connect(&s.sock).unwrap();
    c.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
    write!(
        c,
        "POST /v1.41/build?t={tag} HTTP/1.1\r\nHost: b\r\nContent-Type: application/x-tar\r\nContent-Length: {}\r\n\r\n",
        ctx.len()
    )
    .unwrap();
    c.write_all(&ctx).unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    // the step's own output, not the `Step 2/2 : RUN echo started…` line
    while !String::from_utf8_lossy(&got).contains("\"stream\":\"started") {
        let n = c.read(&mut buf).unwrap();
        assert!(
            n > 0,
            "the build stream ended early: {}",
            String::from_utf8_lossy(&got)
        );
        got.extend_from_slice(&buf[..n]);
    }
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    assert_eq!(b.container_ids().len(), 1, "the RUN container is there");
    drop(c);
    assert!(
        wait_until(Duration::from_secs(30), || b.container_ids().is_empty()),
        "the RUN container outlived the hang-up: {:?}",
        b.container_ids()
    );
    assert!(
        wait_until(Duration::from_secs(10), || {
            berth_fixture::processes_with_arg(&tag).is_empty()
        }),
        "the build or its RUN step outlived the hang-up: {:?}",
        berth_fixture::processes_with_arg(&tag)
    );
    assert!(
        wait_until(Duration::from_secs(10), || fds_of(s.pid()) <= before),
        "descriptors of the service: {before} before, {} after",
        fds_of(s.pid())
    );
    let r = s
        .request("GET", &format!("/images/{tag}/json"), None)
        .unwrap();
    assert_eq!(r.status, 404, "an interrupted build tagged an image: {r:?}");
    b.assert_all_gone(&[]);

    let ctx = cli_support::Tar::default()
        .file("Dockerfile", b"FROM busybox\nRUN echo again\n")
        .finish();
    let r = s
        .request_raw("POST", &format!("/build?t={tag}"), &ctx)
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.body.contains("\"aux\""), "{r:?}");
    let r = s
        .request("GET", &format!("/images/{tag}/json"), None)
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
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

// ---- image archives, copies, export, update and registry logins ----

impl Service {
    /// One request with a raw body (a tar); the reply's status and head.
    fn request_raw(&self, method: &str, path: &str, body: &[u8]) -> Option<Reply> {
        self.request_headers(method, path, "Content-Type: application/x-tar\r\n", body)
    }

    /// One request with extra header lines (each ending in CRLF).
    fn request_headers(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &[u8],
    ) -> Option<Reply> {
        let mut s = UnixStream::connect(&self.sock).ok()?;
        s.set_read_timeout(Some(Duration::from_secs(30))).ok()?;
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: berth\r\nConnection: close\r\n{headers}Content-Length: {}\r\n\r\n",
            body.len()
        );
        s.write_all(head.as_bytes()).ok()?;
        s.write_all(body).ok()?;
        let mut raw = Vec::new();
        s.read_to_end(&mut raw).ok()?;
        Reply::parse(&raw)
    }
}

/// The names in the tar at `path` (`tar -t`).
fn tar_names(path: &Path) -> Vec<String> {
    let out = run_cmd(
        Command::new("tar").arg("-tf").arg(path),
        Duration::from_secs(30),
    )
    .ok();
    out.stdout
        .lines()
        .map(|l| l.trim_end_matches('/').to_string())
        .collect()
}

#[test]
fn docker_cli_saves_loads_imports_and_exports() {
    require_root!();
    let (_ns, b, s) = setup();
    let dir = tempfile::tempdir().unwrap();
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        let tag = format!("saved-{}:v1", unique_id("img").to_lowercase());
        d(&["tag", "busybox", &tag]).ok();

        // save → rmi → load: the same image back under its name
        let archive = dir.path().join("saved.tar");
        d(&["save", "-o", archive.to_str().unwrap(), &tag]).ok();
        let names = tar_names(&archive);
        assert!(
            names.iter().any(|n| n == "manifest.json"),
            "{who}: {names:?}"
        );
        d(&["rmi", &tag]).ok();
        let load = d(&["load", "-i", archive.to_str().unwrap()]).ok();
        assert!(
            load.stdout.contains(&format!("Loaded image: {tag}")),
            "{who}: {load}"
        );
        let out = d(&["run", "--rm", "--network", "none", &tag, "echo", "loaded"]);
        assert_eq!((out.code(), out.out()), (0, "loaded"), "{who}: {out}");
        // save to stdout piped into load -q
        // docker save | docker load -q, through a pipe
        d(&["tag", &tag, "piped:v1"]).ok();
        let pipe = format!("{c} save piped:v1 | {c} load -q", c = client.display());
        let out = run_cmd(
            Command::new("sh")
                .args(["-ec", &pipe])
                .env("DOCKER_HOST", format!("unix://{}", s.sock.display()))
                .env("DOCKER_CONFIG", s.config.path()),
            Duration::from_secs(60),
        );
        assert_eq!(out.code(), 0, "{who}: {out}");
        assert_eq!(out.out(), "Loaded image: piped:v1", "{who}: {out}");
        d(&["rmi", "piped:v1"]).ok();
        let bytes = std::fs::read(&archive).unwrap();
        d(&["rmi", &tag]).ok();
        let out = s.docker_input(&client, &["load", "-q"], Some(&bytes));
        assert_eq!(out.code(), 0, "{who}: {out}");
        assert!(
            out.stdout.contains(&format!("Loaded image: {tag}")),
            "{who}: {out}"
        );

        // a malformed archive: an error, nothing loaded or removed
        let before = d(&["images", "-q"]).ok().stdout;
        let out = s.docker_input(&client, &["load"], Some(b"this is not a tar archive"));
        assert_ne!(out.code(), 0, "{who}: {out}");
        assert_eq!(d(&["images", "-q"]).ok().stdout, before, "{who}");

        // export → import → run: the container's files in a new image
        let name = unique_id("exp").to_lowercase();
        d(&[
            "run",
            "--name",
            &name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            "echo exported > /marker",
        ])
        .ok();
        let exported = dir.path().join("exported.tar");
        d(&["export", "-o", exported.to_str().unwrap(), &name]).ok();
        let names = tar_names(&exported);
        assert!(names.iter().any(|n| n == "marker"), "{who}: {names:?}");
        assert!(names.iter().any(|n| n == "bin/busybox"), "{who}");
        let imported = format!("imported-{}", unique_id("img").to_lowercase());
        let bytes = std::fs::read(&exported).unwrap();
        let out = s.docker_input(&client, &["import", "-", &imported], Some(&bytes));
        assert_eq!(out.code(), 0, "{who}: {out}");
        assert!(out.out().starts_with("sha256:"), "{who}: {out}");
        let out = d(&[
            "run",
            "--rm",
            "--network",
            "none",
            &imported,
            "cat",
            "/marker",
        ]);
        assert_eq!((out.code(), out.out()), (0, "exported"), "{who}: {out}");
        d(&["rm", &name]).ok();
        d(&["rmi", &imported, &tag]).ok();
    }
    // missing objects and bad bodies: docker's statuses
    assert_eq!(
        s.request("GET", "/images/nope:1/get", None).unwrap().status,
        404
    );
    assert_eq!(
        s.request("GET", "/images/get?names=nope:1", None)
            .unwrap()
            .status,
        404
    );
    assert_eq!(
        s.request("GET", "/containers/nope/export", None)
            .unwrap()
            .status,
        404
    );
    let r = s.request_raw("POST", "/images/load", b"garbage").unwrap();
    assert!(r.status == 400 || r.status == 500, "{r:?}");
    r.message();
    let r = s
        .request_raw("POST", "/images/create?fromSrc=-&repo=bad", b"garbage")
        .unwrap();
    assert!(r.status == 400 || r.status == 500, "{r:?}");
    assert!(!s
        .request("GET", "/images/json", None)
        .unwrap()
        .body
        .contains("bad:latest"));
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_copies_both_ways_and_never_through_a_symlink_out() {
    require_root!();
    let (_ns, b, s) = setup();
    let dir = tempfile::tempdir().unwrap();
    // a host directory a symlink in the container names: never written or read
    let host_dir = tempfile::tempdir().unwrap();
    std::fs::write(host_dir.path().join("secret"), "host secret").unwrap();
    let host_path = host_dir.path().to_str().unwrap().to_string();
    let src = dir.path().join("note.txt");
    std::fs::write(&src, "from the host\n").unwrap();
    let src_dir = dir.path().join("tree");
    std::fs::create_dir_all(src_dir.join("sub")).unwrap();
    std::fs::write(src_dir.join("sub/leaf"), "leaf\n").unwrap();
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        let name = unique_id("cp").to_lowercase();
        let script = format!("mkdir -p {host_path} && ln -s {host_path} /escape && exec sleep 600");
        d(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "busybox",
            "sh",
            "-c",
            &script,
        ])
        .ok();
        assert!(wait_until(Duration::from_secs(10), || d(&[
            "exec", &name, "test", "-L", "/escape"
        ])
        .code()
            == 0));

        // into the container: a file, a directory, onto a new name
        d(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/")]).ok();
        d(&[
            "cp",
            src_dir.to_str().unwrap(),
            &format!("{name}:/tmp/tree"),
        ])
        .ok();
        d(&["cp", src.to_str().unwrap(), &format!("{name}:/tmp/renamed")]).ok();
        let out = d(&[
            "exec",
            &name,
            "cat",
            "/tmp/note.txt",
            "/tmp/tree/sub/leaf",
            "/tmp/renamed",
        ])
        .ok();
        assert_eq!(
            out.stdout, "from the host\nleaf\nfrom the host\n",
            "{who}: {out}"
        );
        let owner = d(&["exec", &name, "stat", "-c", "%u", "/tmp/note.txt"]).ok();
        assert_eq!(owner.out(), "0", "{who}: {owner}");

        // out of it: a file and a directory
        let back = dir.path().join(format!("back-{name}"));
        d(&[
            "cp",
            &format!("{name}:/tmp/note.txt"),
            back.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(std::fs::read_to_string(&back).unwrap(), "from the host\n");
        let back_dir = dir.path().join(format!("backdir-{name}"));
        d(&[
            "cp",
            &format!("{name}:/tmp/tree"),
            back_dir.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(
            std::fs::read_to_string(back_dir.join("sub/leaf")).unwrap(),
            "leaf\n"
        );

        // -a keeps the archive's owner (copyUIDGID); -L copies what a
        // symlink names
        let owned = dir.path().join(format!("owned-{name}"));
        std::fs::write(&owned, "owned\n").unwrap();
        std::os::unix::fs::chown(&owned, Some(1234), Some(4321)).unwrap();
        let to = format!("{name}:/tmp/owned");
        d(&["cp", "-a", owned.to_str().unwrap(), &to]).ok();
        let owner = d(&["exec", &name, "stat", "-c", "%u:%g", "/tmp/owned"]).ok();
        assert_eq!(owner.out(), "1234:4321", "{who}: {owner}");
        d(&["exec", &name, "ln", "-s", "/tmp/note.txt", "/tmp/link"]).ok();
        let followed = dir.path().join(format!("followed-{name}"));
        let link = format!("{name}:/tmp/link");
        d(&["cp", "-L", &link, followed.to_str().unwrap()]).ok();
        assert_eq!(
            std::fs::read_to_string(&followed).unwrap(),
            "from the host\n"
        );
        let kept = dir.path().join(format!("kept-{name}"));
        d(&["cp", &link, kept.to_str().unwrap()]).ok();
        assert!(kept.symlink_metadata().unwrap().file_type().is_symlink());

        // through the symlink: the container's own directory of that name,
        // never the host's
        d(&["cp", src.to_str().unwrap(), &format!("{name}:/escape/")]).ok();
        assert!(
            !host_dir.path().join("note.txt").exists(),
            "{who}: written outside the container"
        );
        let out = d(&["exec", &name, "cat", &format!("{host_path}/note.txt")]).ok();
        assert_eq!(out.out(), "from the host", "{who}: {out}");
        let out = d(&[
            "cp",
            &format!("{name}:/escape/secret"),
            dir.path().join("stolen").to_str().unwrap(),
        ]);
        assert_ne!(out.code(), 0, "{who}: read outside the container: {out}");
        assert!(!dir.path().join("stolen").exists());
        std::fs::remove_file(host_dir.path().join("note.txt")).ok();

        // missing path and missing container: docker's errors
        let out = d(&["cp", &format!("{name}:/nope"), dir.path().to_str().unwrap()]);
        assert_ne!(out.code(), 0, "{who}: {out}");
        assert!(
            out.stderr.contains("No such container:path")
                || out.stderr.contains("Could not find the file /nope"),
            "{who}: {out}"
        );
        let out = d(&["cp", src.to_str().unwrap(), "nosuchcontainer:/tmp/"]);
        assert_ne!(out.code(), 0, "{who}: {out}");

        // a stopped container's files both ways
        d(&["stop", "-t", "0", &name]).ok();
        d(&[
            "cp",
            src.to_str().unwrap(),
            &format!("{name}:/tmp/while-stopped"),
        ])
        .ok();
        let stopped = dir.path().join(format!("stopped-{name}"));
        d(&[
            "cp",
            &format!("{name}:/tmp/while-stopped"),
            stopped.to_str().unwrap(),
        ])
        .ok();
        assert_eq!(
            std::fs::read_to_string(&stopped).unwrap(),
            "from the host\n"
        );
        d(&["start", &name]).ok();
        let out = d(&["exec", &name, "cat", "/tmp/while-stopped"]).ok();
        assert_eq!(out.out(), "from the host", "{who}: {out}");
        d(&["rm", "-f", &name]).ok();
    }
    assert!(!host_dir.path().join("note.txt").exists());

    // raw: the stat header, 404s, a malformed tar
    let name = unique_id("cpraw").to_lowercase();
    b.run(&[
        "run",
        "-d",
        "--name",
        &name,
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    let r = s
        .request(
            "HEAD",
            &format!("/containers/{name}/archive?path=/etc/hostname"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 200, "{r:?}");
    assert!(
        r.head
            .to_ascii_lowercase()
            .contains("x-docker-container-path-stat:"),
        "{r:?}"
    );
    let r = s
        .request(
            "HEAD",
            &format!("/containers/{name}/archive?path=/nope"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .request(
            "GET",
            &format!("/containers/{name}/archive?path=/nope"),
            None,
        )
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    assert!(
        r.message().contains("Could not find the file /nope"),
        "{r:?}"
    );
    let r = s
        .request("GET", "/containers/nope/archive?path=/etc", None)
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .request_raw(
            "PUT",
            &format!("/containers/{name}/archive?path=/nope"),
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .request_raw(
            "PUT",
            &format!("/containers/{name}/archive?path=/etc/hostname"),
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request_raw(
            "PUT",
            &format!("/containers/{name}/archive?path=/tmp"),
            &[7u8; 700],
        )
        .unwrap();
    assert_eq!(r.status, 500, "{r:?}");
    r.message();
    // a directory never replaces a file with noOverwriteDirNonDir
    let tar = cli_support::Tar::default().dir("hostname").finish();
    let r = s
        .request_raw(
            "PUT",
            &format!("/containers/{name}/archive?path=/etc&noOverwriteDirNonDir=1"),
            &tar,
        )
        .unwrap();
    assert_ne!(r.status, 200, "{r:?}");
    let out = b.run(&["exec", &name, "test", "-f", "/etc/hostname"]);
    assert_eq!(out.code(), 0, "{out}");
    b.run(&["rm", "-f", &name]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_updates_limits_and_restart_policy() {
    require_root!();
    let (_ns, b, s) = setup();
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        let name = unique_id("upd").to_lowercase();
        d(&[
            "run",
            "-d",
            "--name",
            &name,
            "--network",
            "none",
            "busybox",
            "sleep",
            "600",
        ])
        .ok();
        let out = d(&[
            "update",
            "--memory",
            "64m",
            "--memory-swap",
            "128m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "50",
            "--restart",
            "on-failure:2",
            &name,
        ])
        .ok();
        assert_eq!(out.out(), name, "{who}: {out}");
        let pid = d(&["inspect", "-f", "{{.State.Pid}}", &name])
            .ok()
            .out()
            .to_string();
        let limits = (memory_limit(&pid), cpu_quota(&pid), pids_limit(&pid));
        let want = (
            (64u64 << 20).to_string(),
            "50000".to_string(),
            "50".to_string(),
        );
        assert_eq!(limits, want, "{who}");
        let f = d(&["inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.RestartPolicy.Name}} {{.HostConfig.RestartPolicy.MaximumRetryCount}}", &name]).ok();
        assert_eq!(f.out(), "67108864 on-failure 2", "{who}: {f}");
        // bad values change nothing
        let out = d(&["update", "--restart", "sometimes", &name]);
        assert_ne!(out.code(), 0, "{who}: {out}");
        let out = d(&["update", "--cpuset-cpus", "0", &name]);
        assert_ne!(out.code(), 0, "{who}: {out}");
        assert!(out.stderr.contains("CpusetCpus"), "{who}: {out}");
        let out = d(&["update", "--memory", "64m", "nosuchcontainer"]);
        assert!(out.stderr.contains("No such container"), "{who}: {out}");
        let f = d(&["inspect", "-f", "{{.HostConfig.RestartPolicy.Name}}", &name]).ok();
        assert_eq!(f.out(), "on-failure", "{who}: {f}");
        d(&["rm", "-f", &name]).ok();
    }
    let r = s
        .request(
            "POST",
            "/containers/nope/update",
            Some(r#"{"Memory":67108864}"#),
        )
        .unwrap();
    assert_eq!(r.status, 404, "{r:?}");
    let r = s
        .request(
            "POST",
            "/containers/nope/update",
            Some(r#"{"Memory":"lots"}"#),
        )
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_logs_in_then_pushes_and_pulls_with_registry_auth() {
    require_root!();
    let registry = AuthRegistry::start();
    let b = Berth::in_netns(&registry.netns);
    registry.trust_in(&b.state());
    b.load_busybox();
    let s = Service::start(&b);
    let addr = AUTH_REGISTRY_ADDR;
    let config_json = s.config.path().join("config.json");
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        let image = format!("{addr}/api/{}:1", unique_id("bb").to_lowercase());
        d(&["tag", "busybox", &image]).ok();
        // anonymous: refused
        let out = d(&["push", &image]);
        assert_ne!(out.code(), 0, "{who}: {out}");
        // a wrong password: refused by the registry, nothing stored
        let login = ["login", "-u", "alice", "--password-stdin", addr];
        let out = s.docker_input(&client, &login, Some(b"wrong\n"));
        assert_ne!(out.code(), 0, "{who}: {out}");
        assert!(
            !std::fs::read_to_string(&config_json)
                .unwrap_or_default()
                .contains(addr),
            "{who}"
        );
        let out = s.docker_input(&client, &login, Some(b"s3cret\n"));
        assert_eq!(out.code(), 0, "{who}: {out}");
        assert!(out.stdout.contains("Login Succeeded"), "{who}: {out}");
        // the client's credentials ride X-Registry-Auth
        d(&["push", &image]).ok();
        d(&["rmi", &image]).ok();
        d(&["pull", &image]).ok();
        let out = d(&["run", "--rm", "--network", "none", &image, "echo", "pulled"]);
        assert_eq!((out.code(), out.out()), (0, "pulled"), "{who}: {out}");
        d(&["logout", addr]).ok();
        d(&["rmi", &image]).ok();
        let out = d(&["pull", &image]);
        assert_ne!(out.code(), 0, "{who}: anonymous pull worked: {out}");
    }
    // raw: bad credentials are a 401, a malformed header a 400
    let body = format!(r#"{{"username":"alice","password":"nope","serveraddress":"{addr}"}}"#);
    let r = s.request("POST", "/auth", Some(&body)).unwrap();
    assert_eq!(r.status, 401, "{r:?}");
    r.message();
    let r = s
        .request("POST", "/auth", Some("{\"username\": 3}"))
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    let r = s
        .request_headers(
            "POST",
            &format!("/images/create?fromImage={addr}/api/x&tag=1"),
            "X-Registry-Auth: %%%\r\n",
            b"",
        )
        .unwrap();
    assert_eq!(r.status, 400, "{r:?}");
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_list_filters_select_as_the_cli_does() {
    require_root!();
    let (_ns, b, s) = setup();
    let id = unique_id("flt").to_lowercase();
    let (net, vol) = (format!("{id}-net"), format!("{id}-vol"));
    let (first, second) = (format!("{id}-a"), format!("{id}-b"));
    b.run(&["network", "create", &net]).ok();
    b.run(&["volume", "create", &vol]).ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        &first,
        "--network",
        &net,
        "-v",
        &format!("{vol}:/data"),
        "--label",
        "role=db",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    b.run(&[
        "run",
        "-d",
        "--name",
        &second,
        "--network",
        "none",
        "busybox",
        "sleep",
        "600",
    ])
    .ok();
    b.run(&["tag", "busybox", &format!("{id}-img:v1")]).ok();
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        let names = |filters: &[&str]| -> Vec<String> {
            let mut args = vec!["ps", "-a", "--format", "{{.Names}}"];
            for f in filters {
                args.extend(["--filter", f]);
            }
            let mut v: Vec<String> = d(&args).ok().stdout.lines().map(String::from).collect();
            v.sort();
            v
        };
        assert_eq!(
            names(&[&format!("network={net}")]),
            [first.as_str()],
            "{who}"
        );
        assert_eq!(
            names(&[&format!("volume={vol}")]),
            [first.as_str()],
            "{who}"
        );
        assert_eq!(names(&["label=role=db"]), [first.as_str()], "{who}");
        assert_eq!(
            names(&[&format!("since={first}")]),
            [second.as_str()],
            "{who}"
        );
        assert_eq!(
            names(&[&format!("before={second}")]),
            [first.as_str()],
            "{who}"
        );
        assert_eq!(
            names(&[&format!("name={first}"), &format!("name={second}")]),
            [first.as_str(), second.as_str()],
            "{who}"
        );
        assert_eq!(names(&["health=healthy"]), Vec::<String>::new(), "{who}");
        let out = d(&["ps", "--filter", "status=bogus"]);
        assert_ne!(out.code(), 0, "{who}: {out}");
        assert!(
            out.stderr.contains("Invalid filter 'status=bogus'"),
            "{who}: {out}"
        );
        let out = d(&["ps", "--filter", &format!("before={id}-none")]);
        assert_ne!(out.code(), 0, "{who}: {out}");

        let images = d(&[
            "images",
            "--format",
            "{{.Repository}}:{{.Tag}}",
            "--filter",
            &format!("reference={id}-*"),
        ])
        .ok();
        assert_eq!(images.out(), format!("{id}-img:v1"), "{who}: {images}");
        let out = d(&["images", "--filter", "colour=red"]);
        assert_ne!(out.code(), 0, "{who}: {out}");

        let nets = d(&[
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "-f",
            &format!("name={net}"),
            "-f",
            "name=host",
        ])
        .ok();
        let mut nets: Vec<&str> = nets.stdout.lines().collect();
        nets.sort();
        let mut want = vec!["host", net.as_str()];
        want.sort();
        assert_eq!(nets, want, "{who}");
        let nets = d(&[
            "network",
            "ls",
            "--format",
            "{{.Name}}",
            "-f",
            "dangling=true",
            "-f",
            &format!("name={id}"),
        ])
        .ok();
        assert!(nets.out().is_empty(), "{who}: {nets}");
        let vols = d(&[
            "volume",
            "ls",
            "-q",
            "-f",
            &format!("name={vol}"),
            "-f",
            "name=nothing-like-it",
        ])
        .ok();
        assert_eq!(vols.out(), vol, "{who}: {vols}");
    }
    b.run(&["rm", "-f", &first, &second]).ok();
    b.run(&["network", "rm", &net]).ok();
    b.run(&["volume", "rm", &vol]).ok();
    b.run(&["rmi", &format!("{id}-img:v1")]).ok();
    b.assert_all_gone(&[]);
}

#[test]
fn docker_cli_sizes_and_search_through_the_api() {
    require_root!();
    let (ns, b, s) = setup();
    let (index, seen) = index_stub::serve(index_stub::RESULTS, Some(&ns.path()));
    let name = unique_id("apisize").to_lowercase();
    b.busybox_sh(&name, "echo hello > /x; exec sleep 600");
    assert!(wait_until(Duration::from_secs(10), || b
        .run(&["exec", &name, "test", "-f", "/x"])
        .code()
        == 0));
    for client in docker_clients() {
        let d = |args: &[&str]| s.docker(&client, args);
        let who = client.display().to_string();
        // /containers/json?size=1: SizeRw and SizeRootFs
        let filter = format!("name={name}");
        let ps = d(&["ps", "-s", "--filter", &filter, "--format", "{{.Size}}"]).ok();
        assert!(ps.out().starts_with("6B (virtual "), "{who}: {ps}");
        // /images/search through the CLI's index client
        let term = format!("{index}/busy");
        let found = d(&["search", "--format", "{{.Name}}|{{.StarCount}}", &term]).ok();
        assert_eq!(
            found.stdout, "busybox|3000\nsomeone/busy|5\nother/busy2|0\n",
            "{who}: {found}"
        );
        let official = d(&[
            "search",
            "-f",
            "is-official=true",
            "--format",
            "{{.Name}}",
            &term,
        ])
        .ok();
        assert_eq!(official.out(), "busybox", "{who}: {official}");
    }
    assert!(seen.lock().unwrap()[0].starts_with("GET /v1/search?q=busy&n=25 "));
    let r = s
        .request("GET", "/containers/json?size=1", None)
        .expect("an answer");
    let sizes = r.json();
    assert_eq!(sizes[0]["SizeRw"], 6, "{r:?}");
    assert!(sizes[0]["SizeRootFs"].as_i64().unwrap() > 6, "{r:?}");
    let r = s
        .request("GET", "/images/search?term=busy&limit=0", None)
        .expect("an answer");
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.message().contains("Limit 0 is outside"), "{r:?}");
    let r = s
        .request("GET", "/images/search?term=127.0.0.1:1/busy", None)
        .expect("an answer");
    assert_eq!(r.status, 500, "{r:?}");
    assert!(r.message().contains("no index reachable"), "{r:?}");
}
