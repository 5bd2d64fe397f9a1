//! `berth login`/`logout` against a private registry with htpasswd auth
//! and TLS from a CA made for the test (openssl), run in a network
//! namespace the test makes (with the manager started inside it): a wrong
//! password is one line, exit 1, and writes nothing; a login writes
//! docker's `config.json` (0600, base64 `user:password`) that push and
//! pull then use; logout removes the entry and pulls go anonymous again.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use berth_fixture::registry::{AuthRegistry, AUTH_REGISTRY_ADDR as ADDR};
use berth_fixture::{require_root, unique_id};
use cli_support::{run_cmd, run_cmd_input, Berth, Out};

#[test]
fn login_push_pull_logout_against_a_tls_htpasswd_registry() {
    require_root!();
    let registry = AuthRegistry::start();
    let b = Berth::in_netns(&registry.netns);
    registry.trust_in(&b.state());
    let docker_config = b.scratch("docker-config");
    let config_json = docker_config.join("config.json");
    let run = |args: &[&str]| -> Out {
        let mut c = b.command(args);
        c.env("DOCKER_CONFIG", &docker_config);
        run_cmd(&mut c, Duration::from_secs(120))
    };
    let run_input = |args: &[&str], input: &[u8]| -> Out {
        let mut c = b.command(args);
        c.env("DOCKER_CONFIG", &docker_config);
        run_cmd_input(&mut c, Some(input), Duration::from_secs(120))
    };

    b.load_busybox();
    let image = format!("{ADDR}/test/{}:1", unique_id("bb"));
    b.run(&["tag", "busybox", &image]).ok();

    // anonymous: refused
    let out = run(&["push", &image]);
    assert_eq!(out.code(), 1, "{out}");

    // a wrong password: one line, exit 1, nothing written
    let out = run_input(
        &["login", "-u", "alice", "--password-stdin", ADDR],
        b"wrong\n",
    );
    assert_eq!(out.code(), 1, "{out}");
    assert_eq!(out.err_lines().len(), 1, "{out}");
    assert!(!config_json.exists());

    let out = run_input(
        &["login", "-u", "alice", "--password-stdin", ADDR],
        b"s3cret\n",
    );
    assert_eq!(out.code(), 0, "{out}");
    assert_eq!(out.out(), "Login Succeeded", "{out}");
    let mode = std::fs::metadata(&config_json)
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_json).unwrap()).unwrap();
    // base64("alice:s3cret")
    assert_eq!(cfg["auths"][ADDR]["auth"], "YWxpY2U6czNjcmV0", "{cfg}");

    let out = run(&["push", &image]);
    assert_eq!(out.code(), 0, "{out}");
    b.run(&["rmi", &image]).ok();
    let out = run(&["pull", &image]);
    assert_eq!(out.code(), 0, "{out}");

    let out = run(&["logout", ADDR]);
    assert_eq!(
        out.out(),
        format!("Removing login credentials for {ADDR}"),
        "{out}"
    );
    let cfg: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&config_json).unwrap()).unwrap();
    assert!(cfg["auths"].get(ADDR).is_none(), "{cfg}");
    b.run(&["rmi", &image]).ok();
    let out = run(&["pull", &image]);
    assert_eq!(out.code(), 1, "{out}");
    let out = run(&["logout", ADDR]);
    assert_eq!(out.out(), format!("Not logged in to {ADDR}"), "{out}");

    // bad flags: nothing asked, nothing written
    for (args, input) in [
        (vec!["login", "--password-stdin", ADDR], &b"x\n"[..]),
        (
            vec!["login", "-u", "a", "-p", "b", "--password-stdin", ADDR],
            &b"x\n"[..],
        ),
    ] {
        let out = run_input(&args, input);
        assert_eq!(out.code(), 1, "{args:?}: {out}");
        assert_eq!(out.err_lines().len(), 1, "{args:?}: {out}");
    }
    b.assert_all_gone(&[]);
}
