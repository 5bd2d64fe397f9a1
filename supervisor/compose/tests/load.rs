//! Loading whole projects from files on disk: discovery, `-f` merging,
//! `.env`, interpolation, profiles, normalisation and errors with lines.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use berth_compose::*;

fn opts(dir: &Path) -> LoadOptions {
    LoadOptions {
        working_dir: dir.to_path_buf(),
        environment: Some(BTreeMap::from([(
            "HOME".to_string(),
            "/home/u".to_string(),
        )])),
        ..Default::default()
    }
}

fn write(dir: &Path, name: &str, text: &str) {
    fs::write(dir.join(name), text).unwrap();
}

fn project_dir(name: &str) -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join(name);
    fs::create_dir(&dir).unwrap();
    (tmp, dir)
}

const THREE: &str = "\
services:
  web:
    build: ./web
    ports: [\"8080:80\"]
    healthcheck:
      test: curl -f http://localhost/
      interval: 5s
  db:
    image: postgres:16
    volumes: [data:/var/lib/postgresql/data]
    environment:
      POSTGRES_PASSWORD: secret
  client:
    image: alpine
    command: wget -qO- http://web/
    depends_on:
      web:
        condition: service_healthy
volumes:
  data:
";

#[test]
fn common_project() {
    let (_t, dir) = project_dir("My_App");
    write(&dir, "compose.yaml", THREE);
    let (p, warnings) = load(&opts(&dir)).unwrap();
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(p.name, "my_app");
    assert_eq!(p.working_dir, dir);
    assert_eq!(p.files, [dir.join("compose.yaml")]);
    assert_eq!(
        p.services.keys().collect::<Vec<_>>(),
        ["client", "db", "web"]
    );
    let web = &p.services["web"];
    assert_eq!(web.build.as_ref().unwrap().context, dir.join("web"));
    assert_eq!(web.build.as_ref().unwrap().dockerfile, "Dockerfile");
    assert_eq!(web.ports[0].target, 80);
    assert_eq!(web.ports[0].published.as_deref(), Some("8080"));
    let hc = web.healthcheck.as_ref().unwrap();
    assert_eq!(hc.test, ["CMD-SHELL", "curl -f http://localhost/"]);
    assert_eq!(hc.interval, Some(5_000_000_000));
    assert_eq!(web.replicas, 1);
    assert!(web.networks.contains_key("default"));
    let client = &p.services["client"];
    assert_eq!(
        client.command.as_deref().unwrap(),
        ["wget", "-qO-", "http://web/"]
    );
    assert_eq!(
        client.depends_on["web"].condition,
        Condition::ServiceHealthy
    );
    assert_eq!(p.networks["default"].name, "my_app_default");
    assert_eq!(p.volumes["data"].name, "my_app_data");
    assert_eq!(start_order(&p).unwrap(), ["web", "client", "db"]);
    assert_eq!(p.services["db"].env_list(), ["POSTGRES_PASSWORD=secret"]);
}

#[test]
fn discovery_walks_up_and_takes_the_override() {
    let (_t, dir) = project_dir("proj");
    write(&dir, "docker-compose.yml", "services: {a: {image: x}}\n");
    write(
        &dir,
        "docker-compose.override.yml",
        "services: {a: {image: y}}\n",
    );
    let sub = dir.join("sub/deeper");
    fs::create_dir_all(&sub).unwrap();
    let (p, _) = load(&opts(&sub)).unwrap();
    assert_eq!(p.name, "proj");
    assert_eq!(p.working_dir, dir);
    assert_eq!(p.services["a"].image.as_deref(), Some("y"));
    assert_eq!(p.files.len(), 2);
}

#[test]
fn discovery_prefers_compose_yaml_and_warns() {
    let (_t, dir) = project_dir("proj");
    write(&dir, "compose.yaml", "services: {a: {image: one}}\n");
    write(&dir, "docker-compose.yml", "services: {a: {image: two}}\n");
    let (p, w) = load(&opts(&dir)).unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("one"));
    assert!(w[0].contains("multiple compose files"), "{w:?}");
}

#[test]
fn nothing_found() {
    let (_t, dir) = project_dir("empty");
    assert!(matches!(
        load(&opts(&dir)),
        Err(ComposeError::NotFound { .. })
    ));
}

#[test]
fn files_merge_in_order_and_the_first_sets_the_project_dir() {
    let (_t, dir) = project_dir("base");
    let other = dir.parent().unwrap().join("other");
    fs::create_dir(&other).unwrap();
    write(
        &dir,
        "a.yaml",
        "services:\n  web:\n    image: nginx\n    command: [a, b]\n    environment: [A=1, B=2]\n    ports: ['80:80']\n    volumes: ['./html:/usr/share/nginx/html']\n",
    );
    write(
        &other,
        "b.yaml",
        "services:\n  web:\n    command: serve --now\n    environment: {B: 3}\n    ports: ['443:443']\n    volumes: ['./site:/usr/share/nginx/html:ro']\n",
    );
    let mut o = opts(dir.parent().unwrap());
    o.files = vec!["base/a.yaml".into(), other.join("b.yaml")];
    let (p, _) = load(&o).unwrap();
    let web = &p.services["web"];
    assert_eq!(p.working_dir, dir);
    assert_eq!(p.name, "base");
    assert_eq!(web.command.as_deref().unwrap(), ["serve", "--now"]);
    assert_eq!(web.environment["A"].as_deref(), Some("1"));
    assert_eq!(web.environment["B"].as_deref(), Some("3"));
    assert_eq!(web.ports.len(), 2);
    assert_eq!(web.volumes.len(), 1);
    // relative to the project directory, not to the file that said it
    assert_eq!(
        web.volumes[0].source.as_deref(),
        Some(dir.join("site").to_str().unwrap())
    );
    assert!(web.volumes[0].read_only);
}

#[test]
fn stdin_file() {
    let (_t, dir) = project_dir("fromstdin");
    let mut o = opts(&dir);
    o.files = vec!["-".into()];
    o.stdin = Some("services: {a: {image: x}}\n".into());
    let (p, _) = load(&o).unwrap();
    assert_eq!(p.name, "fromstdin");
    assert_eq!(p.files, [std::path::PathBuf::from("-")]);
}

#[test]
fn project_name_sources_in_order() {
    let (_t, dir) = project_dir("dirname");
    write(
        &dir,
        "compose.yaml",
        "name: fromfile\nservices: {a: {image: x}}\n",
    );
    let (p, _) = load(&opts(&dir)).unwrap();
    assert_eq!(p.name, "fromfile");
    write(&dir, ".env", "COMPOSE_PROJECT_NAME=fromdotenv\n");
    let (p, _) = load(&opts(&dir)).unwrap();
    assert_eq!(p.name, "fromdotenv");
    let mut o = opts(&dir);
    o.environment
        .as_mut()
        .unwrap()
        .insert("COMPOSE_PROJECT_NAME".into(), "fromenv".into());
    assert_eq!(load(&o).unwrap().0.name, "fromenv");
    o.project_name = Some("fromflag".into());
    assert_eq!(load(&o).unwrap().0.name, "fromflag");
    o.project_name = Some("Bad Name".into());
    assert!(matches!(load(&o), Err(ComposeError::ProjectName(_))));
}

#[test]
fn dotenv_and_env_files_and_process_environment() {
    let (_t, dir) = project_dir("envs");
    write(
        &dir,
        "compose.yaml",
        "services:\n  a:\n    image: \"img:${TAG}\"\n    environment:\n      - FROM_ENV\n      - MISSING\n    labels: {who: $WHO, cost: $$5}\n",
    );
    write(&dir, ".env", "TAG=dotenv\nWHO=dot\n");
    let mut o = opts(&dir);
    o.environment.as_mut().unwrap().extend([
        ("WHO".to_string(), "proc".to_string()),
        ("FROM_ENV".to_string(), "yes".to_string()),
    ]);
    let (p, w) = load(&o).unwrap();
    let a = &p.services["a"];
    assert_eq!(a.image.as_deref(), Some("img:dotenv"));
    assert_eq!(a.labels["who"], "proc", "the process environment wins");
    assert_eq!(a.labels["cost"], "$5");
    assert_eq!(a.environment["FROM_ENV"].as_deref(), Some("yes"));
    assert_eq!(a.environment["MISSING"], None);
    assert_eq!(a.env_list(), ["FROM_ENV=yes"]);
    assert!(w.is_empty(), "{w:?}");

    // --env-file replaces .env
    write(&dir, "prod.env", "TAG=prod\n");
    o.env_files = vec!["prod.env".into()];
    let (p, w) = load(&o).unwrap();
    assert_eq!(p.services["a"].image.as_deref(), Some("img:prod"));
    assert_eq!(p.services["a"].labels["who"], "proc");
    assert!(w.is_empty(), "{w:?}");
    o.environment.as_mut().unwrap().remove("WHO");
    let (p, w) = load(&o).unwrap();
    assert_eq!(p.services["a"].labels["who"], "");
    assert_eq!(
        w,
        ["the \"WHO\" variable is not set, defaulting to a blank string"]
    );
    o.env_files = vec!["missing.env".into()];
    assert!(matches!(load(&o), Err(ComposeError::Read { .. })));
}

#[test]
fn required_variable_error_names_file_path_line_and_message() {
    let (_t, dir) = project_dir("req");
    write(
        &dir,
        "compose.yaml",
        "services:\n  a:\n    image: x\n    environment:\n      PASS: ${DB_PASS:?set DB_PASS in .env}\n",
    );
    let err = load(&opts(&dir)).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:5: services.a.environment.PASS: required variable DB_PASS is missing a value: set DB_PASS in .env",
            dir.join("compose.yaml").display()
        )
    );
}

#[test]
fn env_file_key() {
    let (_t, dir) = project_dir("envfile");
    write(&dir, "app.env", "A=from_file\nB=from_file\n");
    write(
        &dir,
        "compose.yaml",
        "services:\n  a:\n    image: x\n    env_file: app.env\n    environment: {B: override}\n  b:\n    image: x\n    env_file:\n      - path: ./none.env\n        required: false\n",
    );
    let (p, w) = load(&opts(&dir)).unwrap();
    assert_eq!(
        p.services["a"].environment["A"].as_deref(),
        Some("from_file")
    );
    assert_eq!(
        p.services["a"].environment["B"].as_deref(),
        Some("override")
    );
    assert!(p.services["b"].environment.is_empty());
    assert_eq!(w.len(), 1);
    write(
        &dir,
        "compose.yaml",
        "services:\n  a:\n    image: x\n    env_file: nope.env\n",
    );
    let err = load(&opts(&dir)).unwrap_err().to_string();
    assert!(
        err.contains(":4: services.a.env_file[0]: cannot read"),
        "{err}"
    );
}

#[test]
fn profiles_from_flags_env_and_named_services() {
    let (_t, dir) = project_dir("prof");
    write(
        &dir,
        "compose.yaml",
        "services:\n  web: {image: x, depends_on: [db]}\n  db: {image: x, profiles: [backend]}\n  dbg: {image: x, profiles: [debug]}\n",
    );
    let (p, _) = load(&opts(&dir)).unwrap();
    assert_eq!(p.services.keys().collect::<Vec<_>>(), ["db", "web"]);
    assert_eq!(p.disabled_services.keys().collect::<Vec<_>>(), ["dbg"]);
    assert!(p.service("dbg").is_some());
    let mut o = opts(&dir);
    o.profiles = vec!["debug".into()];
    assert_eq!(load(&o).unwrap().0.services.len(), 3);
    let mut o = opts(&dir);
    o.environment
        .as_mut()
        .unwrap()
        .insert("COMPOSE_PROFILES".into(), "debug,other".into());
    assert_eq!(load(&o).unwrap().0.services.len(), 3);
    let mut o = opts(&dir);
    o.services = vec!["dbg".into()];
    assert!(load(&o).unwrap().0.services.contains_key("dbg"));
}

#[test]
fn unknown_key_names_file_path_and_line() {
    let (_t, dir) = project_dir("bad");
    write(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: x\n    portz: ['80']\n",
    );
    let err = load(&opts(&dir)).unwrap_err();
    let ComposeError::Invalid { at, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(at.path, "services.web.portz");
    assert_eq!(at.line, Some(4));
    assert_eq!(message, "unknown key \"portz\"");
    assert!(err
        .to_string()
        .ends_with("compose.yaml:4: services.web.portz: unknown key \"portz\""));
}

#[test]
fn wrong_type_names_file_path_and_line() {
    let (_t, dir) = project_dir("bad");
    write(
        &dir,
        "compose.yaml",
        "services:\n  web:\n    image: x\n    ports:\n      - 80\n      - [1, 2]\n",
    );
    let err = load(&opts(&dir)).unwrap_err();
    let ComposeError::Invalid { at, message } = &err else {
        panic!("{err:?}")
    };
    assert_eq!(at.path, "services.web.ports[1]");
    assert_eq!(at.line, Some(6));
    assert!(message.contains("a string or a mapping"), "{message}");
}

#[test]
fn bad_value_in_the_second_file_names_that_file() {
    let (_t, dir) = project_dir("two");
    write(&dir, "a.yaml", "services:\n  web:\n    image: x\n");
    write(
        &dir,
        "b.yaml",
        "\n\nservices:\n  web:\n    ports: ['99999:80']\n",
    );
    let mut o = opts(&dir);
    o.files = vec!["a.yaml".into(), "b.yaml".into()];
    let err = load(&o).unwrap_err();
    let ComposeError::Invalid { at, .. } = &err else {
        panic!("{err:?}")
    };
    assert!(at.file.ends_with("b.yaml"), "{at:?}");
    assert_eq!(at.line, Some(5));
    assert_eq!(at.path, "services.web.ports[0]");
}

#[test]
fn cycles_fail_the_load() {
    let (_t, dir) = project_dir("cyc");
    write(
        &dir,
        "compose.yaml",
        "services:\n  a: {image: x, depends_on: [b]}\n  b: {image: x, depends_on: [a]}\n",
    );
    assert_eq!(
        load(&opts(&dir)).unwrap_err().to_string(),
        "dependency cycle between services: a -> b -> a"
    );
}

#[test]
fn load_from_str_uses_the_working_dir() {
    let (_t, dir) = project_dir("fuzzed");
    let (p, _) = load_from_str("services: {a: {image: x}}", &opts(&dir)).unwrap();
    assert_eq!(p.name, "fuzzed");
    for bad in [
        "",
        "[]",
        "a: [",
        "services: 3",
        "services: {a: {}}",
        "x: !!binary AAA",
        "*a",
    ] {
        assert!(load_from_str(bad, &opts(&dir)).is_err(), "{bad:?}");
    }
}

#[test]
fn project_directory_sets_env_paths_and_name() {
    let (_t, dir) = project_dir("files");
    let pd = dir.parent().unwrap().join("Elsewhere");
    fs::create_dir(&pd).unwrap();
    write(
        &dir,
        "compose.yaml",
        "services:\n  a:\n    image: \"x:${TAG}\"\n    volumes: [./data:/data]\n",
    );
    write(&pd, ".env", "TAG=from-project-dir\n");
    let mut o = opts(&dir);
    o.project_directory = Some("../Elsewhere".into());
    let (p, _) = load(&o).unwrap();
    assert_eq!(p.working_dir, pd);
    assert_eq!(p.name, "elsewhere");
    assert_eq!(p.services["a"].image.as_deref(), Some("x:from-project-dir"));
    assert_eq!(
        p.services["a"].volumes[0].source.as_deref(),
        Some(pd.join("data").to_str().unwrap())
    );
}

#[test]
fn compose_file_variable_lists_the_files() {
    let (_t, dir) = project_dir("cf");
    write(
        &dir,
        "one.yml",
        "services: {a: {image: one, ports: ['80']}}\n",
    );
    write(
        &dir,
        "two.yml",
        "services: {a: {image: two, ports: !reset []}}\n",
    );
    let mut o = opts(&dir);
    o.environment
        .as_mut()
        .unwrap()
        .insert("COMPOSE_FILE".into(), "one.yml:two.yml".into());
    let (p, _) = load(&o).unwrap();
    assert_eq!(p.files, [dir.join("one.yml"), dir.join("two.yml")]);
    assert_eq!(p.services["a"].image.as_deref(), Some("two"));
    assert!(p.services["a"].ports.is_empty(), "!reset cleared the ports");
}

#[test]
fn interpolation_error_in_an_override_names_that_file() {
    let (_t, dir) = project_dir("ovr");
    write(&dir, "compose.yaml", "services: {a: {image: x}}\n");
    write(
        &dir,
        "compose.override.yaml",
        "services:\n  a:\n    command: \"echo $1\"\n",
    );
    let err = load(&opts(&dir)).unwrap_err();
    let ComposeError::Invalid { at, message } = &err else {
        panic!("{err:?}")
    };
    assert!(at.file.ends_with("compose.override.yaml"), "{at:?}");
    assert_eq!((at.path.as_str(), at.line), ("services.a.command", Some(3)));
    assert!(message.contains("$$"), "{message}");
}
