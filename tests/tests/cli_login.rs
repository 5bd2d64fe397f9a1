//! `berth login`/`logout` against a private registry with htpasswd auth
//! and TLS from a CA made for the test (openssl), run in a network
//! namespace the test makes (with the manager started inside it): a wrong
//! password is one line, exit 1, and writes nothing; a login writes
//! docker's `config.json` (0600, base64 `user:password`) that push and
//! pull then use; logout removes the entry and pulls go anonymous again.

mod cli_support;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use berth_fixture::{require_root, unique_id, wait_until};
use cli_support::{run_cmd, run_cmd_input, Berth, Out};

const ADDR: &str = "127.0.0.1:5443";

/// The registry, in its own network namespace; killed on drop.
struct Registry(Child);

impl Drop for Registry {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn sh(dir: &Path, script: &str) {
    let out = Command::new("sh")
        .arg("-ec")
        .arg(script)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{script}: {out:?}");
}

/// A CA, a certificate for 127.0.0.1 it signed, an htpasswd for
/// alice:s3cret and the registry's config, all in `dir`.
fn make_registry_files(dir: &Path) {
    sh(
        dir,
        "openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -out ca.crt -days 2 \
           -subj /CN=berth-test-ca 2>/dev/null
         openssl req -newkey rsa:2048 -nodes -keyout srv.key -out srv.csr -subj /CN=127.0.0.1 2>/dev/null
         printf 'subjectAltName=IP:127.0.0.1\\n' > ext
         openssl x509 -req -in srv.csr -CA ca.crt -CAkey ca.key -CAcreateserial -out srv.crt \
           -days 2 -extfile ext 2>/dev/null
         python3 -c \"import crypt; print('alice:' + crypt.crypt('s3cret', crypt.mksalt(crypt.METHOD_BLOWFISH)))\" > htpasswd
         mkdir -p data",
    );
    let d = dir.display();
    std::fs::write(
        dir.join("config.yml"),
        format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {d}/data\n\
             http:\n  addr: {ADDR}\n  tls:\n    certificate: {d}/srv.crt\n    key: {d}/srv.key\n\
             auth:\n  htpasswd:\n    realm: berth-test\n    path: {d}/htpasswd\n"
        ),
    )
    .unwrap();
}

fn start_registry(dir: &Path) -> (Registry, PathBuf) {
    let child = Command::new("unshare")
        .args([
            "-n",
            "sh",
            "-c",
            "ip link set lo up && exec docker-registry serve \"$0\"",
        ])
        .arg(dir.join("config.yml"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let netns = PathBuf::from(format!("/proc/{}/ns/net", child.id()));
    let reg = Registry(child);
    let up = wait_until(Duration::from_secs(20), || {
        Command::new("nsenter")
            .arg(format!("--net={}", netns.display()))
            .args([
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--cacert",
            ])
            .arg(dir.join("ca.crt"))
            .arg(format!("https://{ADDR}/v2/"))
            .output()
            .map(|o| o.stdout == b"401")
            .unwrap_or(false)
    });
    assert!(up, "the test registry did not come up");
    (reg, netns)
}

#[test]
fn login_push_pull_logout_against_a_tls_htpasswd_registry() {
    require_root!();
    let files = tempfile::tempdir().unwrap();
    make_registry_files(files.path());
    let (_registry, netns) = start_registry(files.path());
    let b = Berth::in_netns(&netns);
    let certs = b.state().join("certs.d").join(ADDR);
    std::fs::create_dir_all(&certs).unwrap();
    std::fs::copy(files.path().join("ca.crt"), certs.join("ca.crt")).unwrap();
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
