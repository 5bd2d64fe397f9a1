//! Every service key's variants normalise to one form; bad values are
//! errors naming the path and line.

use std::collections::BTreeMap;
use std::path::PathBuf;

use berth_compose::*;

const DIR: &str = "/srv/proj";

fn opts() -> LoadOptions {
    LoadOptions {
        working_dir: PathBuf::from(DIR),
        environment: Some(BTreeMap::from([
            ("HOME".to_string(), "/home/u".to_string()),
            ("FROM_ENV".to_string(), "env-value".to_string()),
        ])),
        ..Default::default()
    }
}

fn project(text: &str) -> Project {
    match load_from_str(text, &opts()) {
        Ok((p, _)) => p,
        Err(e) => panic!("{e}\n{text}"),
    }
}

/// The service `s` defined by `body` (the lines under `s:`, unindented).
fn svc(body: &str) -> Service {
    let mut text = String::from("services:\n  s:\n");
    for line in body.lines() {
        text.push_str("    ");
        text.push_str(line);
        text.push('\n');
    }
    if !body.contains("image:") && !body.contains("build:") {
        text.push_str("    image: img\n");
    }
    text.push_str("volumes: {data: {}}\nnetworks: {front: {}, back: {}}\n");
    project(&text).services.remove("s").unwrap()
}

fn err(text: &str) -> ComposeError {
    match load_from_str(text, &opts()) {
        Ok(_) => panic!("loaded:\n{text}"),
        Err(e) => e,
    }
}

fn invalid(text: &str) -> (String, Option<usize>, String) {
    match err(text) {
        ComposeError::Invalid { at, message } => (at.path, at.line, message),
        other => panic!("{other:?}"),
    }
}

#[test]
fn image_and_build() {
    assert_eq!(svc("image: nginx:1").image.as_deref(), Some("nginx:1"));
    let b = svc("build: ./app").build.unwrap();
    assert_eq!(b.context, PathBuf::from("/srv/proj/app"));
    assert_eq!(b.dockerfile, "Dockerfile");
    let b = svc("build:\n  context: ../other\n  dockerfile: Containerfile\n  args: {A: 1, FROM_ENV: null}\n  target: prod").build.unwrap();
    assert_eq!(b.context, PathBuf::from("/srv/other"));
    assert_eq!(b.dockerfile, "Containerfile");
    assert_eq!(b.args["A"].as_deref(), Some("1"));
    assert_eq!(b.args["FROM_ENV"].as_deref(), Some("env-value"));
    assert_eq!(b.target.as_deref(), Some("prod"));
    let b = svc("build:\n  args: [X=1, FROM_ENV, NOPE]").build.unwrap();
    assert_eq!(b.context, PathBuf::from(DIR));
    assert_eq!(b.args["X"].as_deref(), Some("1"));
    assert_eq!(b.args["FROM_ENV"].as_deref(), Some("env-value"));
    assert_eq!(b.args["NOPE"], None);
    let (path, _, msg) = invalid("services:\n  s:\n    restart: always\n");
    assert_eq!(path, "services.s");
    assert!(msg.contains("neither an image nor a build"), "{msg}");
}

#[test]
fn command_and_entrypoint() {
    let s = svc("command: echo 'hello world' \"a b\"\nentrypoint: [/bin/sh, -c]");
    assert_eq!(s.command.unwrap(), ["echo", "hello world", "a b"]);
    assert_eq!(s.entrypoint.unwrap(), ["/bin/sh", "-c"]);
    assert_eq!(svc("command: []").command.unwrap(), Vec::<String>::new());
    assert_eq!(
        svc("command: [sleep, 10]").command.unwrap(),
        ["sleep", "10"]
    );
    assert_eq!(svc("image: x").command, None);
    let (path, line, msg) = invalid("services:\n  s:\n    image: x\n    command: \"echo 'open\"\n");
    assert_eq!((path.as_str(), line), ("services.s.command", Some(4)));
    assert!(msg.contains("unbalanced quotes"), "{msg}");
    let (path, _, msg) = invalid("services:\n  s:\n    image: x\n    command: {a: b}\n");
    assert_eq!(path, "services.s.command");
    assert!(msg.contains("a string or a list of strings"), "{msg}");
}

#[test]
fn environment_list_and_map() {
    let s = svc("environment: [A=1, B=x=y, FROM_ENV, UNSET, EMPTY=]");
    assert_eq!(s.environment["A"].as_deref(), Some("1"));
    assert_eq!(s.environment["B"].as_deref(), Some("x=y"));
    assert_eq!(s.environment["FROM_ENV"].as_deref(), Some("env-value"));
    assert_eq!(s.environment["UNSET"], None);
    assert_eq!(s.environment["EMPTY"].as_deref(), Some(""));
    let s = svc("environment:\n  PORT: 8080\n  DEBUG: true\n  RATIO: 0.5\n  NOVALUE:\n");
    assert_eq!(s.environment["PORT"].as_deref(), Some("8080"));
    assert_eq!(s.environment["DEBUG"].as_deref(), Some("true"));
    assert_eq!(s.environment["RATIO"].as_deref(), Some("0.5"));
    assert_eq!(s.environment["NOVALUE"], None);
    assert_eq!(s.env_list(), ["DEBUG=true", "PORT=8080", "RATIO=0.5"]);
}

#[test]
fn ports_short_and_long() {
    let s = svc("ports:\n  - 80\n  - \"8080:80\"\n  - 127.0.0.1:5353:53/udp\n  - \"9000-9001:90-91\"\n  - target: 443\n    published: 8443\n    host_ip: 0.0.0.0\n    mode: host\n  - target: \"22\"");
    let p = &s.ports;
    assert_eq!(p.len(), 7);
    assert_eq!((p[0].target, p[0].published.as_deref()), (80, None));
    assert_eq!((p[1].target, p[1].published.as_deref()), (80, Some("8080")));
    assert_eq!(p[2].protocol, "udp");
    assert_eq!(p[2].host_ip.as_deref(), Some("127.0.0.1"));
    assert_eq!((p[4].target, p[4].published.as_deref()), (91, Some("9001")));
    assert_eq!(p[5].mode, "host");
    assert_eq!(p[5].published_range(), Some((8443, 8443)));
    assert_eq!(p[6].target, 22);
    let (path, line, _) = invalid("services:\n  s:\n    image: x\n    ports:\n      - 80\n      - target: 80\n        publishd: 1\n");
    assert_eq!(path, "services.s.ports[1].publishd");
    assert_eq!(line, Some(7));
    let (path, _, msg) = invalid("services:\n  s:\n    image: x\n    ports: [\"80/icmp\"]\n");
    assert_eq!(path, "services.s.ports[0]");
    assert!(msg.contains("invalid protocol"), "{msg}");
}

#[test]
fn expose() {
    assert_eq!(
        svc("expose: [80, \"53/udp\", 8000-8010]").expose,
        ["80", "53/udp", "8000-8010"]
    );
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    expose: [http]\n").0,
        "services.s.expose[0]"
    );
}

#[test]
fn volumes_short_and_long() {
    let s = svc("volumes:\n  - data:/data\n  - data:/ro:ro\n  - ./src:/src\n  - ../up:/up:ro,z\n  - ~/cfg:/cfg\n  - /abs:/abs:rshared\n  - /anon\n  - type: bind\n    source: ./b\n    target: /b\n    read_only: true\n    bind: {create_host_path: true}\n  - type: volume\n    source: data\n    target: /v\n    volume: {nocopy: true, subpath: sub}\n  - type: tmpfs\n    target: /t\n    tmpfs: {size: 1m}\n  - {target: /anon2}");
    let v = &s.volumes;
    assert_eq!(v.len(), 11);
    assert_eq!(
        (v[0].kind, v[0].source.as_deref(), v[0].read_only),
        (MountKind::Volume, Some("data"), false)
    );
    assert!(v[1].read_only);
    assert_eq!(
        (v[2].kind, v[2].source.as_deref()),
        (MountKind::Bind, Some("/srv/proj/src"))
    );
    assert!(v[2].bind.as_ref().unwrap().create_host_path);
    assert_eq!(v[3].source.as_deref(), Some("/srv/up"));
    assert!(v[3].read_only);
    assert_eq!(v[3].bind.as_ref().unwrap().selinux.as_deref(), Some("z"));
    assert_eq!(v[4].source.as_deref(), Some("/home/u/cfg"));
    assert_eq!(
        v[5].bind.as_ref().unwrap().propagation.as_deref(),
        Some("rshared")
    );
    assert_eq!(
        (v[6].kind, v[6].source.as_deref(), v[6].target.as_str()),
        (MountKind::Volume, None, "/anon")
    );
    assert_eq!(v[7].source.as_deref(), Some("/srv/proj/b"));
    assert!(v[7].read_only);
    let vo = v[8].volume.as_ref().unwrap();
    assert!(vo.nocopy);
    assert_eq!(vo.subpath.as_deref(), Some("sub"));
    assert_eq!(v[9].kind, MountKind::Tmpfs);
    assert_eq!(v[9].tmpfs.as_ref().unwrap().size, Some(1 << 20));
    assert_eq!(
        (v[10].kind, v[10].source.as_deref()),
        (MountKind::Volume, None)
    );

    let (path, line, msg) =
        invalid("services:\n  s:\n    image: x\n    volumes:\n      - ghost:/g\n");
    assert_eq!((path.as_str(), line), ("services.s.volumes[0]", Some(5)));
    assert!(msg.contains("undefined volume \"ghost\""), "{msg}");
    for bad in ["rel", "a:b", "/a:/b:rx", "/a:/b:ro:extra"] {
        let text = format!("services:\n  s:\n    image: x\n    volumes: [\"{bad}\"]\n");
        assert_eq!(invalid(&text).0, "services.s.volumes[0]", "{bad}");
    }
    let (path, _, msg) = invalid(
        "services:\n  s:\n    image: x\n    volumes:\n      - type: npipe\n        target: /x\n",
    );
    assert_eq!(path, "services.s.volumes[0]");
    assert!(msg.contains("unsupported mount type"), "{msg}");
}

#[test]
fn tmpfs_string_or_list() {
    assert_eq!(svc("tmpfs: /run").tmpfs, ["/run"]);
    assert_eq!(
        svc("tmpfs: [/run, \"/tmp:size=64m\"]").tmpfs,
        ["/run", "/tmp:size=64m"]
    );
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    tmpfs: run\n").0,
        "services.s.tmpfs[0]"
    );
}

#[test]
fn networks_list_map_and_mode() {
    let s = svc("networks: [front, back]");
    assert_eq!(s.networks.keys().collect::<Vec<_>>(), ["back", "front"]);
    let s = svc("networks:\n  front:\n    aliases: [www]\n    ipv4_address: 10.1.0.5\n  back:");
    assert_eq!(s.networks["front"].aliases, ["www"]);
    assert_eq!(
        s.networks["front"].ipv4_address.as_deref(),
        Some("10.1.0.5")
    );
    assert_eq!(s.networks["back"], ServiceNetwork::default());
    let s = svc("network_mode: host");
    assert_eq!(s.network_mode.as_deref(), Some("host"));
    assert!(s.networks.is_empty());
    assert!(svc("image: x").networks.contains_key("default"));
    let (path, _, msg) = invalid("services:\n  s:\n    image: x\n    networks: [nope]\n");
    assert_eq!(path, "services.s.networks.nope");
    assert!(msg.contains("undefined network"), "{msg}");
    let (_, _, msg) =
        invalid("services:\n  s:\n    image: x\n    network_mode: host\n    networks: [a]\n");
    assert!(msg.contains("cannot be used together"), "{msg}");
}

#[test]
fn depends_on_list_and_map() {
    let p = project("services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x}\n  c:\n    image: x\n    depends_on:\n      a: {condition: service_healthy, restart: true}\n      b:\n        condition: service_completed_successfully\n        required: false\n");
    let a = &p.services["a"].depends_on["b"];
    assert_eq!(
        (a.condition, a.restart, a.required),
        (Condition::ServiceStarted, false, true)
    );
    let c = &p.services["c"].depends_on;
    assert_eq!(
        (c["a"].condition, c["a"].restart),
        (Condition::ServiceHealthy, true)
    );
    assert_eq!(
        (c["b"].condition, c["b"].required),
        (Condition::ServiceCompletedSuccessfully, false)
    );
    let (path, line, _) = invalid("services:\n  a:\n    image: x\n    depends_on:\n      b: {condition: started}\n  b: {image: x}\n");
    assert_eq!(
        (path.as_str(), line),
        ("services.a.depends_on.b.condition", Some(5))
    );
    assert!(matches!(
        err("services:\n  a: {image: x, depends_on: [ghost]}\n"),
        ComposeError::UnknownDependency { .. }
    ));
}

#[test]
fn healthcheck_forms() {
    let h = svc("healthcheck:\n  test: [CMD, pg_isready]\n  interval: 10s\n  timeout: 1m30s\n  retries: 5\n  start_period: 500ms\n  start_interval: 1s").healthcheck.unwrap();
    assert_eq!(h.test, ["CMD", "pg_isready"]);
    assert_eq!(h.interval, Some(10_000_000_000));
    assert_eq!(h.timeout, Some(90_000_000_000));
    assert_eq!(h.retries, Some(5));
    assert_eq!(h.start_period, Some(500_000_000));
    assert_eq!(h.start_interval, Some(1_000_000_000));
    let h = svc("healthcheck: {test: \"curl -f x || exit 1\"}")
        .healthcheck
        .unwrap();
    assert_eq!(h.test, ["CMD-SHELL", "curl -f x || exit 1"]);
    let h = svc("healthcheck: {test: [CMD-SHELL, \"true\"]}")
        .healthcheck
        .unwrap();
    assert!(!h.disabled());
    assert!(svc("healthcheck: {test: [NONE]}")
        .healthcheck
        .unwrap()
        .disabled());
    assert!(svc("healthcheck: {test: NONE}")
        .healthcheck
        .unwrap()
        .disabled());
    assert!(svc("healthcheck: {disable: true}")
        .healthcheck
        .unwrap()
        .disabled());
    let h = svc("healthcheck: {interval: 2s}").healthcheck.unwrap();
    assert!(h.test.is_empty());
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    healthcheck:\n      test: [curl]\n").0,
        "services.s.healthcheck.test"
    );
    let (path, line, msg) =
        invalid("services:\n  s:\n    image: x\n    healthcheck:\n      interval: 10\n");
    assert_eq!(
        (path.as_str(), line),
        ("services.s.healthcheck.interval", Some(5))
    );
    assert!(msg.contains("invalid duration"), "{msg}");
}

#[test]
fn scalar_keys() {
    let s = svc("restart: on-failure:3\nworking_dir: /app\nuser: \"1000:1000\"\nhostname: h\nstop_signal: SIGINT\nstop_grace_period: 1m\ninit: true\nread_only: true\ncontainer_name: c1\ntty: true\nstdin_open: true\npull_policy: never");
    assert_eq!(s.restart.as_deref(), Some("on-failure:3"));
    assert_eq!(s.working_dir.as_deref(), Some("/app"));
    assert_eq!(s.user.as_deref(), Some("1000:1000"));
    assert_eq!(s.hostname.as_deref(), Some("h"));
    assert_eq!(s.stop_signal.as_deref(), Some("SIGINT"));
    assert_eq!(s.stop_grace_period, Some(60_000_000_000));
    assert_eq!(s.init, Some(true));
    assert!(s.read_only && s.tty && s.stdin_open);
    assert_eq!(s.container_name.as_deref(), Some("c1"));
    assert_eq!(s.pull_policy.as_deref(), Some("never"));
    assert_eq!(svc("user: 1000").user.as_deref(), Some("1000"));
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    restart: sometimes\n").0,
        "services.s.restart"
    );
    let (path, line, msg) = invalid("services:\n  s:\n    image: x\n    read_only: maybe\n");
    assert_eq!((path.as_str(), line), ("services.s.read_only", Some(4)));
    assert!(msg.contains("a boolean"), "{msg}");
}

#[test]
fn labels_caps_dns_profiles() {
    let s = svc("labels: [a=1, b]\ncap_add: [NET_ADMIN]\ncap_drop: [ALL]\ndns: 1.1.1.1");
    assert_eq!(
        s.labels,
        BTreeMap::from([
            ("a".to_string(), "1".to_string()),
            ("b".to_string(), String::new())
        ])
    );
    assert_eq!(s.cap_add, ["NET_ADMIN"]);
    assert_eq!(s.cap_drop, ["ALL"]);
    assert_eq!(s.dns, ["1.1.1.1"]);
    let s = svc("labels: {com.example.x: y}\ndns: [8.8.8.8, 9.9.9.9]");
    assert_eq!(s.labels["com.example.x"], "y");
    assert_eq!(s.dns, ["8.8.8.8", "9.9.9.9"]);
}

#[test]
fn extra_hosts_list_and_map() {
    let s = svc("extra_hosts: [\"a:10.0.0.1\", \"b=::1\", \"c:::2\"]");
    let h: Vec<String> = s.extra_hosts.iter().map(ExtraHost::to_add_host).collect();
    assert_eq!(h, ["a:10.0.0.1", "b:::1", "c:::2"]);
    let s = svc("extra_hosts:\n  db: 10.0.0.2\n  v6: \"[::1]\"");
    assert_eq!(
        s.extra_hosts[0],
        ExtraHost {
            host: "db".into(),
            ip: "10.0.0.2".into()
        }
    );
    assert_eq!(s.extra_hosts[1].ip, "::1");
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    extra_hosts: [nohost]\n").0,
        "services.s.extra_hosts"
    );
}

#[test]
fn deploy_scale_and_limits() {
    let s = svc(
        "deploy:\n  replicas: 3\n  resources:\n    limits: {memory: 1g, cpus: \"1.5\", pids: 64}",
    );
    assert_eq!(s.replicas, 3);
    let l = s.deploy.unwrap().resources.unwrap().limits.unwrap();
    assert_eq!(
        (l.memory, l.cpus, l.pids),
        (Some(1 << 30), Some(1.5), Some(64))
    );
    assert_eq!(svc("scale: 2").replicas, 2);
    assert_eq!(
        svc("deploy: {resources: {limits: {cpus: 0.25}}}")
            .deploy
            .unwrap()
            .resources
            .unwrap()
            .limits
            .unwrap()
            .cpus,
        Some(0.25)
    );
    assert_eq!(
        invalid("services:\n  s:\n    image: x\n    scale: 2\n    deploy: {replicas: 3}\n").0,
        "services.s.scale"
    );
    let (path, _, msg) = invalid(
        "services:\n  s:\n    image: x\n    deploy: {resources: {limits: {memory: lots}}}\n",
    );
    assert_eq!(path, "services.s.deploy.resources.limits.memory");
    assert!(msg.contains("invalid size"), "{msg}");
    let (path, _, msg) = invalid(
        "services:\n  s:\n    image: x\n    deploy: {resources: {reservations: {memory: 1g}}}\n",
    );
    assert_eq!(path, "services.s.deploy.resources.reservations");
    assert_eq!(msg, "reservations is not supported by berth");
    assert!(
        invalid("services:\n  s:\n    image: x\n    container_name: c\n    scale: 2\n")
            .2
            .contains("container_name")
    );
}

#[test]
fn interpolated_numbers_and_booleans_are_cast() {
    let mut o = opts();
    let env = o.environment.as_mut().unwrap();
    env.insert("N".into(), "4".into());
    env.insert("RO".into(), "true".into());
    let (p, _) = load_from_str("services:\n  s:\n    image: x\n    scale: ${N}\n    read_only: ${RO}\n    healthcheck: {retries: \"${N}\"}\n", &o).unwrap();
    let s = &p.services["s"];
    assert_eq!(s.replicas, 4);
    assert!(s.read_only);
    assert_eq!(s.healthcheck.as_ref().unwrap().retries, Some(4));
}

#[test]
fn extensions_version_anchors_and_merge_keys() {
    let (_, warnings) =
        load_from_str("version: '3'\nservices: {a: {image: x}}\n", &opts()).unwrap();
    assert!(
        warnings[0].contains("`version` is obsolete"),
        "{warnings:?}"
    );
    let p = project("version: '3.8'\nx-base: &base\n  image: shared\n  environment: {A: '1'}\nservices:\n  a:\n    <<: *base\n    x-private: [whatever]\n  b:\n    <<: *base\n    image: own\n    environment: {x-kept: yes}\nnetworks:\n  n:\n    x-meta: 1\nvolumes:\n  v:\n    x-meta: 1\n");
    assert_eq!(p.services["a"].image.as_deref(), Some("shared"));
    assert_eq!(p.services["a"].environment["A"].as_deref(), Some("1"));
    assert_eq!(p.services["b"].image.as_deref(), Some("own"));
    // free-form maps keep their x- keys
    assert_eq!(
        p.services["b"].environment["x-kept"].as_deref(),
        Some("yes")
    );
}

#[test]
fn top_level_networks_and_volumes() {
    let p = project("services:\n  s:\n    image: x\n    networks: [n1, n2, ext]\n    volumes: [v1:/a, v2:/b, ev:/c]\nnetworks:\n  n1:\n    driver: bridge\n    driver_opts: {com.docker.network.bridge.name: br9}\n    ipam:\n      driver: default\n      config:\n        - subnet: 10.9.0.0/16\n          gateway: 10.9.0.1\n          ip_range: 10.9.1.0/24\n    internal: true\n    labels: [a=b]\n  n2:\n    name: custom-net\n  ext:\n    external: true\n  unused: {}\nvolumes:\n  v1:\n    driver: local\n    driver_opts: {type: tmpfs, device: tmpfs, o: size=1m}\n    labels: {k: v}\n  v2: {name: shared-vol}\n  ev: {external: true, name: real-ev}\n  unused:\n");
    let n1 = &p.networks["n1"];
    assert_eq!(n1.name, "proj_n1");
    assert_eq!(n1.driver.as_deref(), Some("bridge"));
    assert_eq!(n1.driver_opts["com.docker.network.bridge.name"], "br9");
    let pool = &n1.ipam.as_ref().unwrap().config[0];
    assert_eq!(pool.subnet.as_deref(), Some("10.9.0.0/16"));
    assert_eq!(pool.gateway.as_deref(), Some("10.9.0.1"));
    assert_eq!(pool.ip_range.as_deref(), Some("10.9.1.0/24"));
    assert!(n1.internal);
    assert_eq!(n1.labels["a"], "b");
    assert_eq!(p.networks["n2"].name, "custom-net");
    assert_eq!(
        (p.networks["ext"].name.as_str(), p.networks["ext"].external),
        ("ext", true)
    );
    assert!(!p.networks.contains_key("unused"));
    assert!(!p.networks.contains_key("default"));
    assert_eq!(p.volumes["v1"].name, "proj_v1");
    assert_eq!(p.volumes["v1"].driver_opts["o"], "size=1m");
    assert_eq!(p.volumes["v1"].labels["k"], "v");
    assert_eq!(p.volumes["v2"].name, "shared-vol");
    assert_eq!(
        (p.volumes["ev"].name.as_str(), p.volumes["ev"].external),
        ("real-ev", true)
    );
    assert_eq!(volume_names(&p), ["ev", "v1", "v2"]);
    assert_eq!(network_names(&p), ["ext", "n1", "n2"]);
}

#[test]
fn service_names_must_fit_container_names() {
    let (path, line, msg) = invalid("services:\n  ok: {image: x}\n  \"bad name\": {image: x}\n");
    assert_eq!((path.as_str(), line), ("services.bad name", Some(3)));
    assert!(msg.contains("invalid service name"), "{msg}");
    assert_eq!(invalid("services:\n  -x: {image: x}\n").0, "services.-x");
    project("services:\n  web.v2_a-b: {image: x}\n");
}

#[test]
fn unknown_and_unsupported_keys() {
    let (path, line, msg) = invalid("services:\n  s:\n    image: x\n    secrets: [a]\n");
    assert_eq!(
        (path.as_str(), line, msg.as_str()),
        (
            "services.s.secrets",
            Some(4),
            "secrets is not supported by berth"
        )
    );
    let (path, line, msg) = invalid("name: p\nfoo: 1\nservices: {}\n");
    assert_eq!(
        (path.as_str(), line, msg.as_str()),
        ("foo", Some(2), "unknown key \"foo\"")
    );
    let (path, _, _) =
        invalid("services:\n  s:\n    image: x\nnetworks:\n  n:\n    drivr: bridge\n");
    assert_eq!(path, "networks.n.drivr");
    let (path, _, _) =
        invalid("services:\n  s:\n    image: x\n    build: {context: ., dockerfiel: D}\n");
    assert_eq!(path, "services.s.build.dockerfiel");
}

#[test]
fn render_yaml_and_json() {
    let p = project("name: demo\nservices:\n  web:\n    image: nginx\n    ports: [\"8080:80\"]\n    environment: [A=1]\n    extra_hosts: [\"h:1.2.3.4\"]\n    healthcheck: {test: [CMD, true], interval: 90s}\n    volumes: [data:/d]\n  db:\n    image: pg\n    profiles: [x]\nvolumes: {data: {}}\n");
    let yaml = render_config(&p, ConfigFormat::Yaml).unwrap();
    let back: serde_json::Value = serde_norway::from_str(&yaml).unwrap();
    assert_eq!(back["name"], "demo");
    assert!(
        back["services"].get("db").is_none(),
        "inactive services are left out"
    );
    let web = &back["services"]["web"];
    assert_eq!(web["image"], "nginx");
    assert_eq!(web["ports"][0]["published"], "8080");
    assert_eq!(web["ports"][0]["target"], 80);
    assert_eq!(web["environment"]["A"], "1");
    assert_eq!(web["extra_hosts"][0], "h=1.2.3.4");
    assert_eq!(web["healthcheck"]["interval"], "1m30s");
    assert_eq!(web["volumes"][0]["type"], "volume");
    assert_eq!(back["networks"]["default"]["name"], "demo_default");
    assert_eq!(back["volumes"]["data"]["name"], "demo_data");
    let json = render_config(&p, ConfigFormat::Json).unwrap();
    let j: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(j, back);
    assert_eq!(service_names(&p), ["web"]);
}

#[test]
fn the_rendered_config_loads_back_to_the_same_project() {
    let text = "name: rt\nservices:\n  web:\n    build: {context: ./w, args: [A=1]}\n    command: run it\n    environment: {PRICE: \"$$5\"}\n    ports: [\"127.0.0.1:8080:80/udp\"]\n    depends_on: {db: {condition: service_healthy}}\n    deploy: {replicas: 2, resources: {limits: {memory: 1g}}}\n    stop_grace_period: 3s\n    tmpfs: /run\n  db:\n    image: pg\n    healthcheck: {test: pg_isready, retries: 3}\n    volumes: [\"./x:/x:ro\", \"data:/d\"]\nvolumes: {data: {}}\n";
    let p = project(text);
    let yaml = render_config(&p, ConfigFormat::Yaml).unwrap();
    assert!(yaml.contains("$$5"), "{yaml}");
    let again = project(&yaml);
    assert_eq!(
        again.services["web"].environment["PRICE"].as_deref(),
        Some("$5")
    );
    assert_eq!(again.services, p.services);
    assert_eq!(again.volumes, p.volumes);
    assert_eq!(again.networks, p.networks);
    for (name, s) in &p.services {
        assert_eq!(config_hash(s), config_hash(&again.services[name]));
    }
}

#[test]
fn truncated_and_mutated_files_never_panic() {
    let text = "name: demo\nx-a: &a {image: x}\nservices:\n  web:\n    <<: *a\n    build: {context: ., args: [A=${A:-1}]}\n    ports: [\"8080-8081:80-81/udp\", {target: 1}]\n    volumes: [\"./a:/a:ro\", {type: tmpfs, target: /t}]\n    environment: {B: $$x, C: \"${C:?no}\"}\n    healthcheck: {test: [CMD, x], interval: 1s}\n    depends_on: {db: {condition: service_healthy}}\n  db: {image: y, profiles: [p]}\nvolumes: {v: {}}\nnetworks: {n: {ipam: {config: [{subnet: 10.0.0.0/8}]}}}\n";
    for end in 0..text.len() {
        if text.is_char_boundary(end) {
            let _ = load_from_str(&text[..end], &opts());
        }
    }
    for (i, _) in text.char_indices() {
        for c in ["", "$", "{", "[", ":", "-", "\n  ", "'", "!", "*", "&"] {
            let mutated = format!("{}{}{}", &text[..i], c, &text[i + 1..]);
            let _ = load_from_str(&mutated, &opts());
        }
    }
}

#[test]
fn hostile_yaml_is_an_error_not_a_crash() {
    let deep = format!("services: {}{}", "[".repeat(100_000), "]".repeat(100_000));
    assert!(load_from_str(&deep, &opts()).is_err());
    let deep_map = format!("x-a: {}1{}", "{a: ".repeat(50_000), "}".repeat(50_000));
    assert!(load_from_str(&deep_map, &opts()).is_err());
    let mut laughs = String::from("x-0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n");
    for i in 1..10 {
        let prev = i - 1;
        laughs.push_str(&format!(
            "x-{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    laughs.push_str("services: {}\n");
    assert!(load_from_str(&laughs, &opts()).is_err());
    let interp = format!(
        "services:\n  s:\n    image: \"{}x{}\"\n",
        "${A:-".repeat(10_000),
        "}".repeat(10_000)
    );
    let _ = load_from_str(&interp, &opts());
}
