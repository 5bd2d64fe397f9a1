//! Container lifecycle: run, create, start, stop, restart, kill, rm, pause,
//! unpause, wait, attach.

use std::collections::HashMap;

use berth_proto::manager::{
    ContainerInfo, CreateContainerRequest, DeleteContainerRequest, GetContainerRequest,
    GetImageRequest, ImageInfo, KillRequest, PullRequest, RestartPolicy, StopRequest, TaskRequest,
};

use crate::cli::{AttachArgs, CreateFlags, KillArgs, Names, RmArgs, StartArgs, StopArgs};
use crate::client::Manager;
use crate::error::{CliError, EXIT_BERTH_FAILED};
use crate::flags;
use crate::mounts;
use crate::session::{self, AttachOptions, Outcome};
use crate::spec::{self, ImageConfig, Network, RunOptions};

/// Checks a container name the way docker does.
pub fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Everything `run`/`create` can check before talking to the manager, so
/// bad input changes nothing.
pub fn run_options(f: &CreateFlags) -> Result<RunOptions, CliError> {
    let inv = |e: flags::FlagError| CliError::Invalid(e.to_string());
    if let Some(n) = &f.name {
        if !valid_name(n) {
            return Err(CliError::Invalid(format!(
                "Invalid container name ({n}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed"
            )));
        }
    }
    crate::netflags::validate(&f.network, &f.net).map_err(CliError::Invalid)?;
    // every mode but host gets a namespace of its own; the manager puts a
    // bridge or user network's into the spec
    let network = match f.network.as_str() {
        "host" => Network::Host,
        _ => Network::None,
    };
    crate::runflags::validate(&f.files).map_err(CliError::Invalid)?;
    crate::recorded::attached(f).map_err(CliError::Invalid)?;
    let mut env = Vec::new();
    for e in &crate::runflags::env_entries(&f.files, &f.env).map_err(CliError::Invalid)? {
        if let Some(kv) = flags::parse_env(e, |k| std::env::var(k).ok()).map_err(inv)? {
            env.push(kv);
        }
    }
    flags::parse_restart(&f.restart).map_err(inv)?;
    if f.rm && f.restart != "no" {
        return Err(CliError::Invalid(
            "conflicting options: --restart and --rm".into(),
        ));
    }
    if let Some(s) = &f.stop_signal {
        flags::parse_signal(s).map_err(inv)?;
    }
    for l in &crate::runflags::label_entries(&f.files, &f.label).map_err(CliError::Invalid)? {
        if l.split_once('=').map(|(k, _)| k).unwrap_or(l).is_empty() {
            return Err(CliError::Invalid(format!("invalid label: '{l}'")));
        }
    }
    let plan = mounts::MountPlan::parse(&f.volume, &f.tmpfs, &f.mounts)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    crate::health::from_flags(&f.health).map_err(|e| CliError::Invalid(e.to_string()))?;
    f.log.config().map_err(CliError::Invalid)?;
    f.security
        .parse(network == Network::Host)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    crate::users::check_group_add(&f.security.group_add).map_err(inv)?;
    if f.security.init {
        crate::init::find().map_err(|e| CliError::Invalid(e.to_string()))?;
    }
    Ok(RunOptions {
        entrypoint: f.entrypoint.clone(),
        command: f.command.clone(),
        env,
        workdir: f
            .workdir
            .as_deref()
            .map(flags::parse_workdir)
            .transpose()
            .map_err(inv)?,
        // a named user is the manager's to resolve, in the container
        user: match f.user.as_deref().map(crate::users::classify).transpose() {
            Ok(Some(crate::users::UserSpec::Numeric(u))) => Some(u),
            Ok(_) => None,
            Err(e) => return Err(inv(e)),
        },
        tty: f.tty,
        open_stdin: f.interactive,
        // volumes join the host binds once they exist (create_container)
        binds: plan.binds,
        tmpfs: plan.tmpfs,
        network,
        memory: f
            .memory
            .as_deref()
            .map(flags::parse_size)
            .transpose()
            .map_err(inv)?,
        cpu_quota: f
            .cpus
            .as_deref()
            .map(flags::parse_cpus)
            .transpose()
            .map_err(inv)?,
        pids_limit: f.pids_limit,
        hostname: f.hostname.clone(),
    })
}

/// `busybox` → `busybox:latest`, as docker names what it looks for.
pub fn with_default_tag(reference: &str) -> String {
    let last = reference.rsplit('/').next().unwrap_or(reference);
    if last.contains(':') || reference.contains('@') {
        reference.to_string()
    } else {
        format!("{reference}:latest")
    }
}

/// The image, pulled first if it is not stored yet (docker's behaviour).
pub async fn get_or_pull(m: &Manager, reference: &str) -> Result<ImageInfo, CliError> {
    let mut req = GetImageRequest::new();
    req.reference = reference.to_string();
    match m
        .images
        .get_image(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))
    {
        Ok(i) => return Ok(i),
        Err(e) if e.is_not_found() => {}
        Err(e) => return Err(e),
    }
    eprintln!(
        "Unable to find image '{}' locally",
        with_default_tag(reference)
    );
    let mut pull = PullRequest::new();
    pull.reference = reference.to_string();
    (pull.username, pull.password) = crate::auth::for_reference(reference);
    crate::commands::images::stream_progress(
        m,
        m.images.pull_image(m.ctx(), &pull).await,
        false,
        true,
    )
    .await?;
    m.images
        .get_image(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))
}

/// The image by `--pull`: `missing` pulls only what is not stored,
/// `always` pulls first, `never` only looks.
async fn image_for_run(
    m: &Manager,
    reference: &str,
    policy: crate::runflags::PullPolicy,
) -> Result<ImageInfo, CliError> {
    use crate::runflags::PullPolicy;
    match policy {
        PullPolicy::Missing => get_or_pull(m, reference).await,
        PullPolicy::Always => {
            let mut pull = PullRequest::new();
            pull.reference = reference.to_string();
            (pull.username, pull.password) = crate::auth::for_reference(reference);
            crate::commands::images::stream_progress(
                m,
                m.images.pull_image(m.ctx(), &pull).await,
                false,
                true,
            )
            .await?;
            let mut req = GetImageRequest::new();
            req.reference = reference.to_string();
            m.images
                .get_image(m.ctx(), &req)
                .await
                .map_err(|e| m.err(e))
        }
        PullPolicy::Never => {
            let mut req = GetImageRequest::new();
            req.reference = reference.to_string();
            m.images
                .get_image(m.ctx(), &req)
                .await
                .map_err(|e| m.err(e))
        }
    }
}

/// Creates the container record (no process yet). `--rm` is the manager's
/// promise (auto-remove), kept even if this command is killed: an attached
/// `run` opens the log, which the manager makes at create, before the start,
/// and reads it to its end from the open file whenever the removal comes.
pub async fn create_container(m: &Manager, f: &CreateFlags) -> Result<ContainerInfo, CliError> {
    // `--cidfile` is claimed before anything is made, as docker does, so two
    // runs naming one file cannot both create a container
    let Some(path) = f.files.cidfile.as_deref() else {
        return create_record(m, f).await;
    };
    run_options(f)?;
    let cid = crate::runflags::CidFile::claim(path).map_err(CliError::Invalid)?;
    let created = create_record(m, f).await;
    match &created {
        Ok(c) => cid.write(&c.id).map_err(CliError::Invalid)?,
        Err(_) => cid.discard(),
    }
    created
}

/// [`create_container`] once `--cidfile` is claimed.
async fn create_record(m: &Manager, f: &CreateFlags) -> Result<ContainerInfo, CliError> {
    let mut opts = run_options(f)?;
    let policy = crate::runflags::pull_policy(&f.files.pull).map_err(CliError::Invalid)?;
    let image = image_for_run(m, &f.image, policy).await?;
    let mut cfg = ImageConfig::from_json(&image.config_json)
        .map_err(|e| CliError::Invalid(format!("image {}: {e}", f.image)))?;
    let user = crate::users::requested(f.user.as_deref(), &cfg.user)
        .map_err(|e| CliError::Invalid(format!("image {}: {e}", f.image)))?;
    if crate::users::is_named(&cfg.user) {
        // the spec starts as root; the manager puts the named user in
        cfg.user.clear();
    }
    let plan = mounts::MountPlan::parse(&f.volume, &f.tmpfs, &f.mounts)
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let check =
        crate::health::from_flags(&f.health).map_err(|e| CliError::Invalid(e.to_string()))?;
    let check = crate::health::merge(check, &image.config_json);
    let volumes = mounts::resolve(m, &plan, &image.config_json).await?;
    let created = create_with_volumes(
        m,
        f,
        &mut opts,
        (&cfg, &image.config_json),
        user.as_deref(),
        &volumes,
        check.as_ref(),
    )
    .await;
    if created.is_err() {
        volumes.rollback(m).await;
    }
    created
}

/// The rest of [`create_container`] once the volumes exist.
async fn create_with_volumes(
    m: &Manager,
    f: &CreateFlags,
    opts: &mut RunOptions,
    (cfg, image_config_json): (&ImageConfig, &str),
    user: Option<&str>,
    volumes: &mounts::Resolved,
    check: Option<&serde_json::Value>,
) -> Result<ContainerInfo, CliError> {
    opts.binds.extend(volumes.binds.iter().cloned());
    let mut spec = spec::build(cfg, opts).map_err(|e| CliError::Invalid(e.to_string()))?;
    mounts::apply_nocopy(&mut spec, volumes);
    crate::health::apply(&mut spec, check);
    crate::logflags::apply(&mut spec, &f.log.config().map_err(CliError::Invalid)?);
    crate::users::annotate(&mut spec, user, &f.security.group_add);
    crate::recorded::annotate(
        &mut spec,
        crate::recorded::attached(f).map_err(CliError::Invalid)?,
        &crate::recorded::exposed(f, image_config_json).map_err(CliError::Invalid)?,
    );
    if f.security.init {
        let init = crate::init::find().map_err(|e| CliError::Invalid(e.to_string()))?;
        crate::init::apply(&mut spec, &init);
    }
    f.security
        .parse(opts.network == Network::Host)
        .and_then(|s| s.apply(&mut spec))
        .map_err(|e| CliError::Invalid(e.to_string()))?;
    let (policy, retries) =
        flags::parse_restart(&f.restart).map_err(|e| CliError::Invalid(e.to_string()))?;
    let mut req = CreateContainerRequest::new();
    req.name = f.name.clone().unwrap_or_default();
    req.image = f.image.clone();
    req.spec_json = spec.to_string();
    req.labels = crate::runflags::label_entries(&f.files, &f.label)
        .map_err(CliError::Invalid)?
        .iter()
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (l.clone(), String::new()),
        })
        .collect::<HashMap<_, _>>();
    let mut rp = RestartPolicy::new();
    rp.name = policy;
    rp.max_retries = retries;
    req.restart_policy = Some(rp).into();
    req.auto_remove = f.rm;
    req.tty = f.tty;
    req.open_stdin = f.interactive;
    req.stop_signal = match &f.stop_signal {
        Some(s) => flags::parse_signal(s).map_err(|e| CliError::Invalid(e.to_string()))?,
        None if !cfg.stop_signal.is_empty() => cfg.stop_signal.clone(),
        None => "SIGTERM".into(),
    };
    req.stop_timeout = f.stop_timeout.unwrap_or(10);
    req.network = Some(
        crate::netflags::request(&f.network, &f.net, image_config_json)
            .map_err(CliError::Invalid)?,
    )
    .into();
    m.containers
        .create_container(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))
}

/// Deletes a container (`--rm`), treating "already gone" as success.
async fn remove_quietly(m: &Manager, c: &ContainerInfo, force: bool) -> Result<(), CliError> {
    let mut d = DeleteContainerRequest::new();
    d.id = c.id.clone();
    d.force = force;
    // the manager takes the anonymous volumes of an auto-remove container,
    // whichever delete comes first
    match delete_again(m, &d).await {
        Err(e) if e.is_not_found() => Ok(()),
        other => other,
    }
}

/// DeleteContainer, again to the next manager if this one went away; a
/// repeat that finds the container gone finds the first attempt's work.
pub async fn delete_again(m: &Manager, d: &DeleteContainerRequest) -> Result<(), CliError> {
    m.again(|m, repeat| {
        let d = d.clone();
        async move {
            match m.containers.delete_container(m.ctx(), &d).await {
                Ok(_) => Ok(()),
                Err(e) => match m.err(e) {
                    e if repeat && e.is_not_found() => Ok(()),
                    e => Err(e),
                },
            }
        }
    })
    .await
}

fn fail(e: CliError, code: i32) -> i32 {
    eprintln!("berth: {e}");
    code
}

/// `run -a`: the streams to attach; refused with `-d`, as docker does.
pub fn run_attach(values: &[String], detach: bool) -> Result<session::Shown, CliError> {
    if detach && !values.is_empty() {
        return Err(CliError::Invalid("Conflicting options: -a and -d".into()));
    }
    session::Shown::parse(values).map_err(CliError::Invalid)
}

/// `berth create`.
pub async fn create(m: &Manager, f: &CreateFlags) -> i32 {
    match create_container(m, f).await {
        Ok(c) => {
            println!("{}", c.id);
            0
        }
        Err(e) => fail(e, EXIT_BERTH_FAILED),
    }
}

/// `berth run`.
pub async fn run(m: &Manager, f: &CreateFlags, detach: bool, attach: &[String]) -> i32 {
    let shown = match run_attach(attach, detach) {
        Ok(s) => s,
        Err(e) => return fail(e, EXIT_BERTH_FAILED),
    };
    let c = match create_container(m, f).await {
        Ok(c) => c,
        Err(e) => return fail(e, EXIT_BERTH_FAILED),
    };
    if detach {
        if let Err((e, code)) = session::start_task(m, &c.id).await {
            if f.rm {
                let _ = remove_quietly(m, &c, true).await;
            }
            return fail(e, code);
        }
        println!("{}", c.id);
        return 0;
    }
    let opts = AttachOptions {
        stdin: f.interactive && shown.stdin,
        from_start: true,
        start: true,
        shown,
    };
    let outcome = session::attach(m, &c.id, opts).await;
    match outcome {
        Ok(Outcome::Exited(code)) => {
            // the manager removes it (auto-remove); this waits for that. A
            // removal the manager could not finish (a full disk) it retries:
            // the exit code stays the container's
            if f.rm {
                match remove_quietly(m, &c, false).await {
                    Err(e) if e.is_lost_manager() => return fail(e, EXIT_BERTH_FAILED),
                    _ => {}
                }
            }
            code
        }
        Ok(Outcome::Detached) => {
            session::say_detached();
            0
        }
        Err((e, code)) => {
            if f.rm {
                let _ = remove_quietly(m, &c, true).await;
            }
            fail(e, code)
        }
    }
}

/// Runs `op` for each name, printing the name on success and docker's error
/// otherwise; exit 1 if any failed.
async fn each<'a, F, Fut>(names: &'a [String], mut op: F) -> i32
where
    F: FnMut(&'a str) -> Fut,
    Fut: std::future::Future<Output = Result<(), CliError>>,
{
    let mut code = 0;
    for n in names {
        match op(n).await {
            Ok(()) => println!("{n}"),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    code
}

/// The full id of a container given by id, prefix or name.
pub async fn resolve(m: &Manager, name: &str) -> Result<ContainerInfo, CliError> {
    let mut r = GetContainerRequest::new();
    r.id = name.to_string();
    m.again(|m, _| {
        let r = r.clone();
        async move {
            m.containers
                .get_container(m.ctx(), &r)
                .await
                .map_err(|e| m.err(e))
        }
    })
    .await
}

fn task(id: &str) -> TaskRequest {
    let mut r = TaskRequest::new();
    r.container_id = id.to_string();
    r
}

/// `berth start`.
pub async fn start(m: &Manager, a: &StartArgs) -> i32 {
    if a.attach || a.interactive {
        if a.containers.len() > 1 {
            eprintln!("you cannot start and attach multiple containers at once");
            return 1;
        }
        let c = match resolve(m, &a.containers[0]).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("{e}");
                return 1;
            }
        };
        let opts = AttachOptions {
            stdin: a.interactive && c.open_stdin,
            from_start: false,
            start: true,
            shown: session::Shown::ALL,
        };
        return match session::attach(m, &c.id, opts).await {
            Ok(Outcome::Exited(code)) => code,
            Ok(Outcome::Detached) => {
                session::say_detached();
                0
            }
            Err((e, _)) => {
                eprintln!("{e}");
                1
            }
        };
    }
    each(&a.containers, |n| async move {
        let c = resolve(m, n).await?;
        session::start_task(m, &c.id).await.map_err(|(e, _)| e)
    })
    .await
}

/// `berth stop`.
pub async fn stop(m: &Manager, a: &StopArgs) -> i32 {
    each(
        &a.containers,
        |n| async move { stop_one(m, n, a.time).await },
    )
    .await
}

/// Stops one container (`time`: seconds before the kill; `None`: the
/// container's own stop timeout).
pub async fn stop_one(m: &Manager, n: &str, time: Option<i32>) -> Result<(), CliError> {
    let mut r = StopRequest::new();
    r.container_id = n.to_string();
    r.timeout = time.unwrap_or(-1);
    // a stop is the manager's promise: the next manager finishes it too
    m.again(|m, _| {
        let r = r.clone();
        async move { m.tasks.stop_task(m.ctx(), &r).await.map_err(|e| m.err(e)) }
    })
    .await?;
    Ok(())
}

/// `berth restart`.
pub async fn restart(m: &Manager, a: &StopArgs) -> i32 {
    each(&a.containers, |n| async move {
        let c = resolve(m, n).await?;
        if c.status == "running" || c.status == "paused" {
            stop_one(m, &c.id, a.time).await?;
        }
        session::start_task(m, &c.id).await.map_err(|(e, _)| e)
    })
    .await
}

/// `berth kill`.
pub async fn kill(m: &Manager, a: &KillArgs) -> i32 {
    let sig = match flags::parse_signal(&a.signal) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    each(&a.containers, |n| {
        let sig = sig.clone();
        async move {
            let mut r = KillRequest::new();
            r.container_id = n.to_string();
            r.signal = sig;
            m.tasks.kill_task(m.ctx(), &r).await.map_err(|e| m.err(e))?;
            Ok(())
        }
    })
    .await
}

/// `berth rm`.
pub async fn rm(m: &Manager, a: &RmArgs) -> i32 {
    each(&a.containers, |n| async move {
        let spec = if a.volumes {
            Some(resolve(m, n).await?.spec_json)
        } else {
            None
        };
        let mut d = DeleteContainerRequest::new();
        d.id = n.to_string();
        d.force = a.force;
        delete_again(m, &d).await?;
        if let Some(spec) = spec {
            crate::commands::volume::remove_anonymous(m, &spec).await?;
        }
        Ok(())
    })
    .await
}

/// `berth pause` / `berth unpause`.
pub async fn pause(m: &Manager, a: &Names, pause: bool) -> i32 {
    each(&a.containers, |n| async move {
        let r = task(n);
        let res = if pause {
            m.tasks.pause_task(m.ctx(), &r).await
        } else {
            m.tasks.resume_task(m.ctx(), &r).await
        };
        res.map_err(|e| m.err(e))?;
        Ok(())
    })
    .await
}

/// `berth wait`: prints each exit code.
pub async fn wait(m: &Manager, a: &Names) -> i32 {
    let mut code = 0;
    for n in &a.containers {
        let waited = m
            .again(|m, _| async move {
                m.tasks
                    .wait_task(m.ctx(), &task(n))
                    .await
                    .map_err(|e| m.err(e))
            })
            .await;
        match waited {
            Ok(w) => println!("{}", w.exit_code),
            Err(e) => {
                eprintln!("{e}");
                code = 1;
            }
        }
    }
    code
}

/// `berth attach`.
pub async fn attach(m: &Manager, a: &AttachArgs) -> i32 {
    let c = match resolve(m, &a.container).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    if c.status != "running" {
        eprintln!("You cannot attach to a stopped container, start it first");
        return 1;
    }
    let opts = AttachOptions {
        stdin: !a.no_stdin && c.open_stdin,
        from_start: false,
        start: false,
        shown: session::Shown::ALL,
    };
    match session::attach(m, &c.id, opts).await {
        Ok(Outcome::Exited(code)) => code,
        Ok(Outcome::Detached) => {
            session::say_detached();
            0
        }
        Err((e, _)) => {
            eprintln!("{e}");
            1
        }
    }
}

/// `berth rename OLD NEW`: the manager checks the new name and that no
/// other container holds it.
pub async fn rename(m: &Manager, a: &crate::groups::RenameArgs) -> i32 {
    let mut r = berth_proto::manager::RenameContainerRequest::new();
    r.id = a.container.clone();
    r.new_name = a.new_name.clone();
    match m.containers.rename_container(m.ctx(), &r).await {
        Ok(_) => 0,
        Err(e) => fail(m.err(e), 1),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn flags(args: &[&str]) -> CreateFlags {
        let cli =
            crate::cli::Cli::try_parse_from(["berth", "create"].iter().chain(args.iter()).copied())
                .unwrap();
        match cli.command {
            Some(crate::cli::Command::Create(c)) => c.create,
            _ => unreachable!(),
        }
    }

    #[test]
    fn default_tag() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(
            with_default_tag("127.0.0.1:5000/x"),
            "127.0.0.1:5000/x:latest"
        );
        assert_eq!(
            with_default_tag("127.0.0.1:5000/x:v1"),
            "127.0.0.1:5000/x:v1"
        );
        assert_eq!(with_default_tag("x@sha256:00"), "x@sha256:00");
    }

    #[test]
    fn names() {
        assert!(valid_name("web-1.a_b"));
        assert!(!valid_name("-x"));
        assert!(!valid_name("a"));
        assert!(!valid_name("a b"));
        assert!(!valid_name("a/b"));
    }

    #[test]
    fn bad_flags_are_caught_before_any_call() {
        for args in [
            &["-v", "nocolon", "busybox"][..],
            &["-v", "/tmp:/x:bogus", "busybox"],
            &["--network", "", "busybox"],
            &["-p", "80x", "busybox"],
            &["--ip", "1.2.3", "busybox"],
            &["-m", "lots", "busybox"],
            &["--cpus", "-1", "busybox"],
            &["-u", "no body", "busybox"],
            &["-w", "rel", "busybox"],
            &["--name", "bad name", "busybox"],
            &["--restart", "sometimes", "busybox"],
            &["--rm", "--restart", "always", "busybox"],
        ] {
            let e = run_options(&flags(args)).unwrap_err();
            assert!(!e.to_string().contains('\n'), "{args:?}: {e}");
        }
        let o = run_options(&flags(&[
            "-e",
            "A=1",
            "-m",
            "1m",
            "--network",
            "host",
            "busybox",
            "true",
        ]))
        .unwrap();
        assert_eq!(o.env, ["A=1"]);
        assert_eq!(o.memory, Some(1 << 20));
        assert_eq!(o.network, Network::Host);
    }
}
