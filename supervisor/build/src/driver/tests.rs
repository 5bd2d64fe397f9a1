//! The driver against an in-memory manager: output lines, cache hits and
//! misses, configs, stages and failures.

use std::collections::HashMap;
use std::sync::Mutex;

use super::*;
use crate::backend::Captured;

#[derive(Default)]
struct Fake {
    images: Mutex<HashMap<String, Image>>,
    cache: Mutex<HashMap<String, String>>,
    containers: Mutex<Vec<String>>,
    runs: Mutex<Vec<RunStep>>,
    layers: Mutex<Vec<Vec<String>>>,
    tags: Mutex<Vec<(String, String)>>,
    created_by: Mutex<Vec<String>>,
    counter: Mutex<u32>,
    mounts: Mutex<Vec<tempfile::TempDir>>,
}

impl Fake {
    fn new() -> Fake {
        let f = Fake::default();
        f.images.lock().unwrap().insert(
            "busybox".into(),
            Image {
                id: format!("sha256:{}", "b".repeat(64)),
                config: json!({"Env": ["PATH=/bin"], "Cmd": ["sh"]}),
            },
        );
        f
    }

    fn next_id(&self, c: char) -> String {
        let mut n = self.counter.lock().unwrap();
        *n += 1;
        format!("sha256:{c}{:063x}", *n)
    }

    fn add(&self, config: &Value) -> Image {
        let img = Image {
            id: self.next_id('1'),
            config: config.clone(),
        };
        self.images
            .lock()
            .unwrap()
            .insert(img.id.clone(), img.clone());
        img
    }
}

#[async_trait::async_trait(?Send)]
impl Backend for Fake {
    async fn image(&self, reference: &str, _pull: bool) -> Result<Image, BackendError> {
        self.images
            .lock()
            .unwrap()
            .get(reference)
            .cloned()
            .ok_or_else(|| BackendError::not_found(format!("No such image: {reference}")))
    }
    async fn cached(&self, key: &str) -> Result<Option<String>, BackendError> {
        let id = self.cache.lock().unwrap().get(key).cloned();
        Ok(id.filter(|id| self.images.lock().unwrap().contains_key(id)))
    }
    async fn remember(&self, key: &str, image_id: &str) -> Result<(), BackendError> {
        self.cache
            .lock()
            .unwrap()
            .insert(key.into(), image_id.into());
        Ok(())
    }
    async fn create_image(&self, req: NewImage) -> Result<Image, BackendError> {
        self.created_by.lock().unwrap().push(req.created_by.clone());
        if let Some(t) = &req.layer_tar {
            let mut a = tar::Archive::new(std::fs::File::open(t).unwrap());
            let names = a
                .entries()
                .unwrap()
                .map(|e| e.unwrap().path().unwrap().display().to_string())
                .collect();
            self.layers.lock().unwrap().push(names);
        }
        Ok(self.add(&req.config))
    }
    async fn create_container(&self, step: &RunStep) -> Result<String, BackendError> {
        let id = self.next_id('c').trim_start_matches("sha256:").to_string();
        self.containers.lock().unwrap().push(id.clone());
        self.runs.lock().unwrap().push(step.clone());
        Ok(id)
    }
    async fn run_container(&self, _id: &str, out: &mut dyn Output) -> Result<i32, BackendError> {
        let step = self.runs.lock().unwrap().last().cloned().unwrap();
        let cmd = step.args.last().cloned().unwrap_or_default();
        out.process(false, &format!("ran {cmd}\n"));
        Ok(cmd
            .strip_prefix("exit ")
            .and_then(|c| c.parse().ok())
            .unwrap_or(0))
    }
    async fn commit(
        &self,
        _id: &str,
        config: &Value,
        _created_by: &str,
    ) -> Result<Image, BackendError> {
        Ok(self.add(config))
    }
    async fn remove_container(&self, id: &str) -> Result<(), BackendError> {
        self.containers.lock().unwrap().retain(|c| c != id);
        Ok(())
    }
    async fn mount_image(&self, _image_id: &str) -> Result<MountedImage, BackendError> {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("etc")).unwrap();
        std::fs::write(d.path().join("etc/passwd"), "app:x:1000:1001::/:/bin/sh\n").unwrap();
        std::fs::write(d.path().join("artifact"), "built").unwrap();
        std::fs::create_dir_all(d.path().join("run")).unwrap();
        std::fs::create_dir_all(d.path().join("var")).unwrap();
        std::os::unix::fs::symlink("/run", d.path().join("var/run")).unwrap();
        let m = MountedImage {
            path: d.path().to_path_buf(),
            token: String::new(),
        };
        self.mounts.lock().unwrap().push(d);
        Ok(m)
    }
    async fn release(&self, _m: MountedImage) -> Result<(), BackendError> {
        Ok(())
    }
    async fn tag(&self, image_id: &str, reference: &str) -> Result<(), BackendError> {
        self.tags
            .lock()
            .unwrap()
            .push((image_id.into(), reference.into()));
        Ok(())
    }
}

const SEVEN: &str = "FROM busybox\nRUN echo one\nCOPY a.txt /app/\nRUN echo two\nCOPY src /app/src\nWORKDIR /app\nCMD [\"cat\", \"a.txt\"]\n";

fn ctx() -> tempfile::TempDir {
    let d = tempfile::tempdir().unwrap();
    std::fs::write(d.path().join("a.txt"), "a").unwrap();
    std::fs::create_dir(d.path().join("src")).unwrap();
    std::fs::write(d.path().join("src/main.c"), "int main;").unwrap();
    d
}

fn opts(dockerfile: &str, context: &tempfile::TempDir) -> Options {
    Options {
        file_name: "Dockerfile".into(),
        dockerfile: dockerfile.into(),
        context: Some(context.path().to_path_buf()),
        tags: vec!["app".into()],
        network: "none".into(),
        build_id: "b1".into(),
        ..Default::default()
    }
}

async fn run(o: &Options, f: &Fake) -> (Result<Built, BuildError>, String) {
    let mut out = Captured::default();
    let r = build(o, f, &mut out).await;
    (r, out.text)
}

fn cached_steps(text: &str) -> usize {
    text.matches(" ---> Using cache").count()
}

#[tokio::test]
async fn seven_steps_then_cached_then_one_file_changed() {
    let f = Fake::new();
    let c = ctx();
    let o = opts(SEVEN, &c);
    let (r, text) = run(&o, &f).await;
    let built = r.unwrap();
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines[0], "Step 1/7 : FROM busybox");
    assert_eq!(lines[1], " ---> bbbbbbbbbbbb");
    assert_eq!(lines[2], "Step 2/7 : RUN echo one");
    assert!(lines[3].starts_with(" ---> Running in c"), "{text}");
    assert_eq!(lines[4], "ran echo one");
    assert!(lines[5].starts_with("Removing intermediate container c"));
    assert!(text.contains("Step 7/7 : CMD [\"cat\", \"a.txt\"]"));
    assert!(text.ends_with(&format!(
        "Successfully built {}\nSuccessfully tagged app:latest\n",
        short(&built.image.id)
    )));
    assert_eq!(cached_steps(&text), 0);
    assert_eq!(built.image.config["Cmd"], json!(["cat", "a.txt"]));
    assert_eq!(built.image.config["WorkingDir"], json!("/app"));
    assert!(
        f.containers.lock().unwrap().is_empty(),
        "containers removed"
    );
    assert_eq!(
        f.layers.lock().unwrap()[1],
        vec!["app", "app/src", "app/src/main.c"]
    );

    let (r, text) = run(&o, &f).await;
    assert_eq!(r.unwrap().image.id, built.image.id);
    assert_eq!(cached_steps(&text), 6, "{text}");
    assert!(!text.contains("Running in"));

    std::fs::write(c.path().join("src/main.c"), "int main();").unwrap();
    let (r, text) = run(&o, &f).await;
    assert_ne!(r.unwrap().image.id, built.image.id);
    assert_eq!(cached_steps(&text), 3, "{text}");
    let step5 = text.find("Step 5/7").unwrap();
    assert!(!text[step5..].contains("Using cache"));

    let mut nc = o.clone();
    nc.no_cache = true;
    let (_, text) = run(&nc, &f).await;
    assert_eq!(cached_steps(&text), 0);
}

#[tokio::test]
async fn configs_follow_the_instructions() {
    let f = Fake::new();
    let c = ctx();
    let df = "ARG BASE=busybox\nFROM ${BASE}\nARG V=1\nENV A=x B=\"$V y\" D=$A\nENV C=$A\nRUN echo $V\nENTRYPOINT [\"/bin/app\"]\nEXPOSE 80 53/udp\nUSER app\nVOLUME /data\nSTOPSIGNAL SIGINT\nSHELL [\"/bin/bash\", \"-c\"]\nHEALTHCHECK --interval=30s --retries=2 CMD true\nONBUILD RUN echo later\nLABEL k=\"v w\"\n";
    let mut o = opts(df, &c);
    o.build_args = vec![
        ("V".into(), Some("2".into())),
        ("UNUSED".into(), Some("x".into())),
    ];
    o.labels = vec![("extra".into(), "yes".into())];
    let (r, text) = run(&o, &f).await;
    let cfg = r.unwrap().image.config;
    assert!(text.contains("Step 1/16 : ARG BASE=busybox"), "{text}");
    assert!(text.contains("Step 16/16 : LABEL extra=yes"), "{text}");
    assert_eq!(
        cfg["Env"],
        json!(["PATH=/bin", "A=x", "B=2 y", "D=", "C=x"])
    );
    assert_eq!(cfg["Entrypoint"], json!(["/bin/app"]));
    assert_eq!(cfg["Cmd"], Value::Null, "ENTRYPOINT resets the base's CMD");
    assert_eq!(cfg["ExposedPorts"], json!({"80/tcp": {}, "53/udp": {}}));
    assert_eq!(cfg["User"], json!("app"));
    assert_eq!(cfg["Volumes"], json!({"/data": {}}));
    assert_eq!(cfg["StopSignal"], json!("SIGINT"));
    assert_eq!(cfg["Shell"], json!(["/bin/bash", "-c"]));
    assert_eq!(
        cfg["Healthcheck"],
        json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000i64, "Retries": 2})
    );
    assert_eq!(cfg["OnBuild"], json!(["RUN echo later"]));
    assert_eq!(cfg["Labels"], json!({"k": "v w", "extra": "yes"}));
    let step = f.runs.lock().unwrap()[0].clone();
    assert_eq!(step.args, vec!["/bin/sh", "-c", "echo $V"]);
    assert!(step.env.contains(&"V=2".to_string()));
    assert!(
        !cfg["Env"].to_string().contains("V=2"),
        "args stay out of the image"
    );
    assert_eq!(
        step.labels,
        vec![("berth.build".to_string(), "b1".to_string())]
    );
    assert!(text.contains("[Warning] One or more build-args [UNUSED] were not consumed"));

    // a child image runs the trigger first
    let parent = f
        .images
        .lock()
        .unwrap()
        .values()
        .find(|i| i.config.get("OnBuild").is_some() && i.config["Labels"].get("extra").is_some())
        .cloned()
        .unwrap();
    f.images.lock().unwrap().insert("parent".into(), parent);
    let (r, text) = run(&opts("FROM parent\nCMD x\n", &c), &f).await;
    assert!(text.contains("# Executing 1 build trigger"), "{text}");
    assert!(text.contains("ran echo later"));
    assert_eq!(r.unwrap().image.config.get("OnBuild"), None);
}

#[tokio::test]
async fn multi_stage_and_target() {
    let f = Fake::new();
    let c = ctx();
    let df = "FROM busybox AS build\nRUN make\nFROM scratch AS final\nCOPY --from=build /artifact /bin/app\nCOPY --chown=app a.txt /a\nFROM busybox AS unused\nRUN echo no\n";
    let mut o = opts(df, &c);
    o.target = Some("final".into());
    let (r, text) = run(&o, &f).await;
    let built = r.unwrap();
    assert!(
        text.contains("Step 3/5 : FROM scratch AS final\n ---> \n"),
        "{text}"
    );
    assert!(!text.contains("echo no"));
    let layers = f.layers.lock().unwrap().clone();
    assert_eq!(layers[0], vec!["bin", "bin/app"]);
    assert_eq!(built.image.config, json!({}));

    o.target = Some("nope".into());
    let (r, _) = run(&o, &f).await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "failed to reach build target nope in Dockerfile"
    );
}

#[tokio::test]
async fn failures_name_the_step_and_leave_nothing() {
    let f = Fake::new();
    let c = ctx();
    let (r, text) = run(
        &opts("FROM busybox\nRUN echo ok\nRUN exit 3\nCMD x\n", &c),
        &f,
    )
    .await;
    assert_eq!(
        r.unwrap_err().to_string(),
        "Dockerfile:3: The command '/bin/sh -c exit 3' returned a non-zero code: 3"
    );
    assert!(!text.contains("Successfully"));
    assert!(f.tags.lock().unwrap().is_empty());
    assert!(f.containers.lock().unwrap().is_empty());

    let e = run(&opts("FROM busybox\n\nFROB x\n", &c), &f)
        .await
        .0
        .unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:3: unknown instruction: FROB");
    let e = run(&opts("FROM nothere\n", &c), &f).await.0.unwrap_err();
    assert_eq!(e.to_string(), "Dockerfile:1: No such image: nothere");
    let e = run(&opts("FROM busybox\nCOPY ../x /\n", &c), &f)
        .await
        .0
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2: COPY failed: forbidden path outside the build context: ../x"
    );
    let e = run(&opts("FROM busybox\nCOPY nope /\n", &c), &f)
        .await
        .0
        .unwrap_err();
    assert!(e
        .to_string()
        .contains("COPY failed: file not found in build context"));
    let e = run(&opts("RUN x\nFROM busybox\n", &c), &f)
        .await
        .0
        .unwrap_err();
    assert!(e.to_string().starts_with("Dockerfile:1: no build stage"));
    let mut o = opts("FROM busybox\n", &c);
    o.tags = vec!["Bad".into()];
    assert!(run(&o, &f)
        .await
        .0
        .unwrap_err()
        .to_string()
        .contains("must be lowercase"));
}

#[tokio::test]
async fn copy_follows_the_images_symlinks_inside_it() {
    let f = Fake::new();
    let c = ctx();
    let (r, text) = run(
        &opts(
            "FROM busybox\nCOPY a.txt /var/run/x\nCOPY a.txt /var/run\n",
            &c,
        ),
        &f,
    )
    .await;
    r.unwrap_or_else(|e| panic!("{e}: {text}"));
    let layers = f.layers.lock().unwrap().clone();
    assert_eq!(layers[0], vec!["run", "run/x"]);
    assert_eq!(layers[1], vec!["run", "run/a.txt"]);
}

#[tokio::test]
async fn history_lines_and_healthchecks_as_docker_writes_them() {
    let f = Fake::new();
    let c = ctx();
    let df = "FROM busybox\nHEALTHCHECK --interval=30s --retries=2 CMD true\nHEALTHCHECK CMD [\"a\",\"b\"]\nSHELL [\"/bin/sh\",\"-xc\"]\nUSER 1:2\n";
    let mut out = Captured::default();
    let built = build(&opts(df, &c), &f, &mut out).await.unwrap();
    assert_eq!(
        built.image.config["Healthcheck"],
        json!({"Test": ["CMD", "a", "b"], "Interval": 30_000_000_000i64, "Retries": 2})
    );
    let by = f.created_by.lock().unwrap().clone();
    assert_eq!(
        by,
        vec![
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD-SHELL" "true"] "30s" "0s" "0s" '\x02'}"#,
            r#"/bin/sh -c #(nop)  HEALTHCHECK &{["CMD" "a" "b"] "30s" "0s" "0s" '\x02'}"#,
            "/bin/sh -xc #(nop)  SHELL [/bin/sh -xc]",
            "/bin/sh -xc #(nop)  USER 1:2",
        ]
    );
}

#[test]
fn owners_and_tags_and_durations() {
    let d = tempfile::tempdir().unwrap();
    std::fs::create_dir(d.path().join("etc")).unwrap();
    std::fs::write(d.path().join("etc/passwd"), "app:x:1000:1001::/:/bin/sh\n").unwrap();
    std::fs::write(d.path().join("etc/group"), "staff:x:50:\n").unwrap();
    assert_eq!(resolve_owner("1:2", None), Ok((1, 2)));
    assert_eq!(resolve_owner("7", None), Ok((7, 7)));
    assert_eq!(resolve_owner("app", Some(d.path())), Ok((1000, 1001)));
    assert_eq!(resolve_owner("app:staff", Some(d.path())), Ok((1000, 50)));
    assert!(resolve_owner("nobody", Some(d.path())).is_err());
    assert_eq!(normalize_tag("a/b").unwrap(), "a/b:latest");
    assert_eq!(
        normalize_tag("localhost:5000/a:v1").unwrap(),
        "localhost:5000/a:v1"
    );
    assert_eq!(
        normalize_tag("localhost:5000/a").unwrap(),
        "localhost:5000/a:latest"
    );

    assert_eq!(quote_word("a.b-c"), "a.b-c");

    assert_eq!(
        go_health(
            &json!({"Test": ["CMD-SHELL", "true"], "Interval": 30_000_000_000i64, "Retries": 2})
        ),
        r#"&{["CMD-SHELL" "true"] "30s" "0s" "0s" '\x02'}"#
    );
    assert_eq!(quote_word("a b\"$x"), "\"a b\\\"\\$x\"");
    assert_eq!(
        lex::expand(
            &quote_word("a b\"$x\\"),
            &Vec::<(String, String)>::new(),
            '\\'
        )
        .unwrap(),
        "a b\"$x\\"
    );
}
