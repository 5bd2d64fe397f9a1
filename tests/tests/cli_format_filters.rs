//! docker's output controls: Go templates in every `--format` (`table`
//! headers, `{{json .}}`, `range`, `index`, pipelines), `ps -f` and
//! `images -f` filters with docker's OR-within-a-key / AND-across-keys
//! rules, `ps --last/-l`, `events --since/--until`, and `berth completion`
//! and the man pages. Each bad input is one line, docker's exit code, and
//! changes nothing.

mod cli_support;

use berth_fixture::{require_root, unique_id};
use cli_support::{berth_bin, Berth, Out};

fn one_line_error(out: &Out, code: i32) {
    assert_eq!(out.code(), code, "{out}");
    assert_eq!(out.err_lines().len(), 1, "not one line: {out}");
    assert!(out.stdout.is_empty(), "printed something: {out}");
}

fn lines(out: &Out) -> Vec<String> {
    out.stdout.lines().map(str::to_string).collect()
}

/// Three containers made in order: `running` (label app=web, running),
/// `created` (label app=db, never started), `exited` (ran `true`).
struct Three {
    running: String,
    created: String,
    exited: String,
    running_id: String,
}

fn three(b: &Berth) -> Three {
    b.load_busybox();
    let running = unique_id("fmt-run");
    let created = unique_id("fmt-new");
    let exited = unique_id("fmt-done");
    let running_id = b
        .run(&[
            "run", "-d", "--name", &running, "--label", "app=web", "-e", "A=1", "busybox", "sleep",
            "1000",
        ])
        .ok()
        .out()
        .to_string();
    b.run(&[
        "create", "--name", &created, "--label", "app=db", "busybox", "true",
    ])
    .ok();
    b.run(&["run", "--name", &exited, "busybox", "true"]).ok();
    Three {
        running,
        created,
        exited,
        running_id,
    }
}

#[test]
fn go_templates_on_every_format() {
    require_root!();
    let b = Berth::new();
    let t = three(&b);

    // ps: docker's field names, table headers, json, functions, pipelines
    let out = b.run(&["ps", "--format", "{{.Names}}"]).ok();
    assert_eq!(lines(&out), vec![t.running.clone()]);
    let out = b
        .run(&["ps", "-a", "--format", "table {{.ID}}\\t{{.Names}}"])
        .ok();
    let l = lines(&out);
    assert_eq!(l[0], "CONTAINER ID   NAMES", "{out}");
    assert_eq!(l.len(), 4, "{out}");
    assert!(
        l[1..]
            .iter()
            .all(|r| r.len() > 15 && r.as_bytes()[12] == b' '),
        "{out}"
    );
    let out = b.run(&["ps", "-a", "--format", "{{json .}}"]).ok();
    for line in lines(&out) {
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        for k in [
            "ID",
            "Image",
            "Command",
            "CreatedAt",
            "RunningFor",
            "Ports",
            "State",
            "Status",
            "Size",
            "Names",
            "Labels",
            "Mounts",
            "Networks",
        ] {
            assert!(v.get(k).is_some(), "no {k} in {line}");
        }
    }
    let out = b
        .run(&[
            "ps",
            "--format",
            "{{.Names | printf \"%s!\"}} {{upper .State}} {{.Label \"app\"}} {{lower .Image}}",
        ])
        .ok();
    assert_eq!(out.out(), format!("{}! RUNNING web busybox", t.running));

    // inspect: nested fields, range, index, len, json, if/else
    let out = b
        .run(&[
            "inspect",
            "-f",
            "{{if .State.Running}}up{{else}}down{{end}} {{index .Config.Labels \"app\"}} {{len .Args}} {{json .Args}} {{range .Config.Env}}[{{.}}]{{end}}",
            &t.running,
        ])
        .ok();
    let o = out.out();
    assert!(o.starts_with("up web 1 [\"1000\"] "), "{out}");
    assert!(o.contains("[A=1]"), "{out}");
    let out = b.run(&["inspect", "-f", "{{.State.Pid}}", &t.running]).ok();
    assert!(out.out().parse::<u32>().unwrap() > 0, "{out}");
    let out = b
        .run(&[
            "inspect",
            "--format",
            "{{.Name}} {{.State.Status}}",
            &t.created,
            &t.exited,
        ])
        .ok();
    assert_eq!(
        lines(&out),
        [
            format!("/{} created", t.created),
            format!("/{} exited", t.exited)
        ]
    );
    let out = b.run(&["inspect", "--format", "json", &t.created]).ok();
    let v: serde_json::Value = serde_json::from_str(out.out()).unwrap();
    assert_eq!(v[0]["Name"], format!("/{}", t.created));

    // images, image inspect, history, volumes, networks
    let out = b
        .run(&["images", "--format", "{{.Repository}}:{{.Tag}}"])
        .ok();
    assert!(lines(&out).contains(&"busybox:latest".to_string()), "{out}");
    let out = b
        .run(&["images", "--format", "table {{.Repository}}\\t{{.Tag}}"])
        .ok();
    assert!(out.stdout.starts_with("REPOSITORY   TAG\n"), "{out}");
    let out = b
        .run(&[
            "image",
            "inspect",
            "-f",
            "{{.Os}}/{{.Architecture}}",
            "busybox",
        ])
        .ok();
    assert!(out.out().starts_with("linux/"), "{out}");
    let out = b
        .run(&["history", "--format", "{{.ID}}|{{.Size}}", "busybox"])
        .ok();
    assert!(out.out().contains('|'), "{out}");
    let vol = unique_id("fmtvol");
    b.run(&["volume", "create", "--label", "k=v", &vol]).ok();
    let out = b
        .run(&[
            "volume",
            "ls",
            "--format",
            "{{.Name}} {{.Driver}} {{.Labels}}",
        ])
        .ok();
    assert!(lines(&out).contains(&format!("{vol} local k=v")), "{out}");
    let out = b
        .run(&[
            "volume",
            "inspect",
            "-f",
            "{{.Name}}:{{index .Labels \"k\"}}",
            &vol,
        ])
        .ok();
    assert_eq!(out.out(), format!("{vol}:v"));
    let out = b
        .run(&["network", "ls", "--format", "table {{.Name}}"])
        .ok();
    assert!(out.stdout.starts_with("NAME\n"), "{out}");

    // the one-object commands and the other tables
    let out = b
        .run(&[
            "info",
            "--format",
            "{{.Containers}} {{.ContainersRunning}} {{.Driver}}",
        ])
        .ok();
    assert_eq!(out.out(), "3 1 overlayfs", "{out}");
    let out = b.run(&["system", "info", "-f", "{{json .Images}}"]).ok();
    assert_eq!(out.out(), "1", "{out}");
    let out = b
        .run(&[
            "version",
            "--format",
            "{{.Client.Version}}|{{.Server.Version}}",
        ])
        .ok();
    assert!(
        out.out().contains('|') && !out.out().contains("<no value>"),
        "{out}"
    );
    let out = b
        .run(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}}:{{.PIDs}}",
            &t.running,
        ])
        .ok();
    assert_eq!(out.out(), format!("{}:1", t.running), "{out}");
    let out = b
        .run(&["system", "df", "--format", "{{.Type}}={{.TotalCount}}"])
        .ok();
    assert!(lines(&out).contains(&"Containers=3".to_string()), "{out}");
    one_line_error(&b.run(&["info", "--format", "{{.X"]), 64);
    one_line_error(&b.run(&["version", "--format", "{{.Nope}}"]), 1);
    let out = b.run(&["system", "df", "--format", "{{.X"]);
    one_line_error(&out, 1);
    assert!(out.stderr.starts_with("template parsing error: "), "{out}");
    one_line_error(&b.run(&["stats", "--no-stream", "--format", "{{.X"]), 1);

    // malformed templates: docker's words and codes, nothing printed
    let before = b.run(&["ps", "-a", "-q"]).ok().stdout;
    let out = b.run(&["ps", "--format", "{{.ID"]);
    one_line_error(&out, 1);
    assert_eq!(
        out.err_lines()[0],
        "failed to parse template: template: :1: unclosed action"
    );
    let out = b.run(&["ps", "-a", "--format", "{{.Nope}}"]);
    one_line_error(&out, 1);
    assert!(out.stderr.starts_with("failed to execute template: template: :1:2: executing \"\" at <.Nope>: can't evaluate field Nope"), "{out}");
    let out = b.run(&["images", "--format", "{{foo .ID}}"]);
    one_line_error(&out, 1);
    assert!(out.stderr.contains("function \"foo\" not defined"), "{out}");
    let out = b.run(&["inspect", "-f", "{{.Id", &t.running]);
    one_line_error(&out, 64);
    assert_eq!(
        out.err_lines()[0],
        "template parsing error: template: :1: unclosed action"
    );
    let out = b.run(&["inspect", "-f", "{{.Nope}}", &t.running]);
    assert_eq!(out.code(), 1, "{out}");
    assert!(
        out.stderr.contains("map has no entry for key \"Nope\""),
        "{out}"
    );
    let out = b.run(&["volume", "inspect", "-f", "{{if}}", &vol]);
    one_line_error(&out, 64);
    let out = b.run(&["events", "--format", "{{.ID"]);
    one_line_error(&out, 64);
    assert!(out.stderr.starts_with("Error parsing format: "), "{out}");
    assert_eq!(b.run(&["ps", "-a", "-q"]).ok().stdout, before);

    b.run(&["rm", "-f", &t.running, &t.created, &t.exited]).ok();
    b.run(&["volume", "rm", &vol]).ok();
    let _ = t.running_id;
}

#[test]
fn ps_images_and_events_filters() {
    require_root!();
    let b = Berth::new();
    let t = three(&b);
    let names = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["ps", "--format", "{{.Names}}"];
        a.extend_from_slice(args);
        let mut l = lines(&b.run(&a).ok());
        l.sort();
        l
    };
    let sorted = |v: &[&String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
        v.sort();
        v
    };
    assert_eq!(names(&["-f", "status=exited"]), vec![t.exited.clone()]);
    assert_eq!(
        names(&["-f", "status=running", "-f", "status=created"]),
        sorted(&[&t.running, &t.created])
    );
    assert_eq!(
        names(&["-a", "-f", "label=app=web"]),
        vec![t.running.clone()]
    );
    assert_eq!(
        names(&["-a", "-f", "label=app"]),
        sorted(&[&t.running, &t.created])
    );
    assert!(names(&["-a", "-f", "status=running", "-f", "label=app=db"]).is_empty());
    assert_eq!(
        names(&["-a", "-f", &format!("name={}", t.created)]),
        vec![t.created.clone()]
    );
    assert_eq!(names(&["-a", "-f", "exited=0"]), vec![t.exited.clone()]);
    assert_eq!(names(&["-a", "-f", "ancestor=busybox"]).len(), 3);
    assert!(names(&["-a", "-f", "ancestor=busybox:1.0"]).is_empty());
    assert_eq!(
        names(&["-a", "-f", &format!("before={}", t.exited)]),
        sorted(&[&t.running, &t.created])
    );
    assert_eq!(
        names(&["-a", "-f", &format!("since={}", t.running)]),
        sorted(&[&t.created, &t.exited])
    );
    assert_eq!(
        names(&["-a", "-f", &format!("id={}", &t.running_id[..10])]),
        vec![t.running.clone()]
    );
    assert_eq!(names(&["-f", "health=none"]), vec![t.running.clone()]);
    // --last and --latest count every state, newest first
    let out = b.run(&["ps", "-n", "2", "--format", "{{.Names}}"]).ok();
    assert_eq!(lines(&out), vec![t.exited.clone(), t.created.clone()]);
    let out = b.run(&["ps", "-l", "--format", "{{.Names}}"]).ok();
    assert_eq!(lines(&out), vec![t.exited.clone()]);

    // bad filters: docker's words and codes, nothing changed
    let before = b.run(&["ps", "-a", "-q"]).ok().stdout;
    let out = b.run(&["ps", "-f", "foo=bar"]);
    one_line_error(&out, 1);
    assert_eq!(
        out.err_lines()[0],
        "Error response from daemon: Invalid filter 'foo'"
    );
    let out = b.run(&["ps", "-f", "status=bogus"]);
    one_line_error(&out, 1);
    assert_eq!(
        out.err_lines()[0],
        "Error response from daemon: Invalid filter 'status=bogus'"
    );
    one_line_error(&b.run(&["ps", "-f", "name"]), 125);
    one_line_error(&b.run(&["ps", "-f", "before=no-such-container"]), 1);
    one_line_error(&b.run(&["ps", "-f", "exited=abc"]), 1);
    one_line_error(&b.run(&["ps", "-f", "expose=bad"]), 1);
    assert!(names(&["-a", "-f", "is-task=true"]).is_empty());
    assert_eq!(names(&["-a", "-f", "is-task=false"]).len(), 3);
    assert_eq!(b.run(&["ps", "-a", "-q"]).ok().stdout, before);

    // images
    let refs = |args: &[&str]| -> Vec<String> {
        let mut a = vec!["images", "--format", "{{.Repository}}:{{.Tag}}"];
        a.extend_from_slice(args);
        lines(&b.run(&a).ok())
    };
    assert_eq!(refs(&["-f", "reference=busy*"]), ["busybox:latest"]);
    assert_eq!(refs(&["-f", "reference=busybox:lat*"]), ["busybox:latest"]);
    assert!(refs(&["-f", "reference=nomatch*"]).is_empty());
    assert!(refs(&["-f", "dangling=true"]).is_empty());
    assert_eq!(refs(&["-f", "dangling=false"]), ["busybox:latest"]);
    assert!(refs(&["-f", "label=no-such-label"]).is_empty());
    assert!(refs(&["-f", "before=busybox"]).is_empty());
    let out = b.run(&["images", "-f", "dangling=maybe"]);
    one_line_error(&out, 1);
    assert_eq!(
        out.err_lines()[0],
        "Error response from daemon: Invalid filter 'dangling=[maybe]'"
    );
    one_line_error(&b.run(&["images", "-f", "foo=bar"]), 1);
    one_line_error(&b.run(&["images", "-f", "before=no-such-image"]), 1);

    // events --until ends the stream by itself; templates see docker's
    // message fields
    let watched = unique_id("fmt-ev");
    // a duration counts back from now, so a future end is a timestamp
    let until = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
        + 6;
    let events = b
        .command([
            "events",
            "--until",
            &until.to_string(),
            "--filter",
            &format!("container={watched}"),
            "--format",
            "{{.Type}} {{.Action}} {{.Actor.Attributes.name}}",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("berth events");
    // the subscription is live once the manager answers; give it a moment
    std::thread::sleep(std::time::Duration::from_millis(1500));
    b.run(&["create", "--name", &watched, "busybox", "true"])
        .ok();
    let started = std::time::Instant::now();
    let out = events.wait_with_output().expect("events output");
    assert!(out.status.success(), "{out:?}");
    assert!(started.elapsed() < std::time::Duration::from_secs(15));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.lines()
            .any(|l| l == format!("container create {watched}")),
        "{text}"
    );
    b.run(&["rm", &watched]).ok();

    // events: a window that has closed replays the recorded events in it
    // and ends; bad times refused
    let out = b
        .run(&[
            "events",
            "--since",
            "10m",
            "--until",
            "0s",
            "--filter",
            &format!("container={watched}"),
            "--format",
            "{{.Action}}",
        ])
        .ok();
    assert_eq!(out.stdout, "create\ndestroy\n", "{out}");
    one_line_error(&b.run(&["events", "--since", "bogus"]), 1);
    one_line_error(&b.run(&["events", "--since", "1s", "--until", "10m"]), 1);

    b.run(&["rm", "-f", &t.running, &t.created, &t.exited]).ok();
}

#[test]
fn completion_scripts_and_man_pages() {
    let b = Berth::new();
    for shell in ["bash", "zsh", "fish"] {
        let out = b.run(&["completion", shell]).ok();
        for word in ["ps", "images", "network", "inspect", "format"] {
            assert!(out.stdout.contains(word), "{shell}: no {word}");
        }
    }
    one_line_error(&b.run(&["completion", "tcsh"]), 125);
    // one man page per command and subcommand
    let dir = b.scratch("man");
    let gen = berth_bin().with_file_name("berth-man");
    let out = cli_support::run_cmd(
        std::process::Command::new(&gen).arg(&dir),
        std::time::Duration::from_secs(60),
    )
    .ok();
    assert!(out.stdout.contains("man pages"), "{out}");
    for page in [
        "berth.1",
        "berth-run.1",
        "berth-ps.1",
        "berth-network-ls.1",
        "berth-completion.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    let help = b.run(&["--help"]).ok();
    let commands = help
        .stdout
        .lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|c| *c != "help")
        .count();
    let pages = std::fs::read_dir(&dir).unwrap().count();
    assert!(pages > commands, "{pages} pages for {commands} commands");
}

/// A reader that closes berth's stdout before berth prints (`berth ps -q |
/// head -1` once head has its line) ends berth quietly with the status a
/// shell reports for SIGPIPE (141), as docker's CLI ends: no panic, no
/// backtrace, no abort.
#[test]
fn a_closed_stdout_ends_berth_quietly() {
    require_root!();
    let b = Berth::new();
    b.load_busybox();
    let name = unique_id("pipe");
    b.run(&["create", "--name", &name, "busybox", "true"]).ok();
    for args in [
        vec!["ps", "-aq"],
        vec!["images"],
        vec!["inspect", name.as_str()],
        vec!["ps", "-a", "--format", "{{json .}}"],
    ] {
        let mut cmd = b.command(&args);
        cmd.stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped());
        // The pipe is made in the child, between fork and exec, and its
        // reader closed there: a reader made in this process would be
        // copied into whatever another test thread forks at that moment,
        // and berth's print would find a reader still there.
        // SAFETY: pipe2, dup2 and close are async-signal-safe, touch no
        // memory of the parent, and the closure allocates nothing.
        unsafe {
            use std::os::unix::process::CommandExt;
            cmd.pre_exec(|| {
                let mut fds = [0; 2];
                if libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) != 0 || libc::dup2(fds[1], 1) != 1
                {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fds[0]);
                libc::close(fds[1]);
                Ok(())
            });
        }
        // the reader is gone before berth has asked its manager anything
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(141), "{args:?}: {stderr}");
        assert!(stderr.is_empty(), "{args:?}: {stderr}");
    }
    b.run(&["rm", &name]).ok();
    b.assert_all_gone(&[]);
}
