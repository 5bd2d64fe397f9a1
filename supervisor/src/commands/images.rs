//! Image commands: images, pull, push, tag, rmi, load, save, import.

use std::io::Write;
use std::path::{Path, PathBuf};

use berth_proto::manager::{
    ImportRootfsRequest, ListImagesRequest, LoadRequest, Progress, PullRequest, PushRequest,
    RemoveImageRequest, SaveRequest, TagRequest,
};
use berth_proto::ttrpc;
use berth_proto::ttrpc::r#async::ClientStreamReceiver;
use chrono::Utc;
use serde_json::json;

use crate::cli::{ImagesArgs, ImportArgs, LoadArgs, PullArgs, RmiArgs, SaveArgs, TagArgs};
use crate::client::Manager;
use crate::error::CliError;
use crate::filters::{Filters, ImageFacts, ImageFilter};
use crate::format::{self, ago, human_size, repo_tag, short_id, ts};
use crate::progress::Display;
use crate::render::{Columns, ListFormat};
use crate::tty;

/// Drains a progress stream to the terminal (stderr when `to_stderr`, as
/// `run`'s implicit pull does); `quiet` prints only summary messages.
pub async fn stream_progress(
    m: &Manager,
    stream: ttrpc::Result<ClientStreamReceiver<Progress>>,
    quiet: bool,
    to_stderr: bool,
) -> Result<Vec<Progress>, CliError> {
    let mut rx = stream.map_err(|e| m.err(e))?;
    let fd = if to_stderr {
        libc::STDERR_FILENO
    } else {
        libc::STDOUT_FILENO
    };
    let out: Box<dyn Write + Send> = if to_stderr {
        Box::new(std::io::stderr())
    } else {
        Box::new(std::io::stdout())
    };
    let mut d = Display::new(out, tty::is_tty(fd));
    let mut summary = Vec::new();
    loop {
        match rx.recv().await {
            Ok(Some(p)) => {
                if !quiet || !p.message.is_empty() {
                    let _ = d.update(&p);
                }
                if p.done || !p.message.is_empty() {
                    summary.push(p);
                }
            }
            Ok(None) => return Ok(summary),
            Err(ttrpc::Error::Eof) => return Ok(summary),
            Err(e) => return Err(m.err(e)),
        }
    }
}

fn fail(e: CliError) -> i32 {
    eprintln!("{e}");
    1
}

/// A host path as the manager must see it: absolute, from our cwd.
fn absolute(p: &Path) -> Result<PathBuf, CliError> {
    if p.is_absolute() {
        return Ok(p.to_path_buf());
    }
    std::env::current_dir()
        .map(|d| d.join(p))
        .map_err(|e| CliError::io("current directory", e))
}

/// What docker's image filters look at of `i`: `berth images -f` and the
/// API's `GET /images/json`.
pub fn image_facts(i: &berth_proto::manager::ImageInfo) -> ImageFacts {
    let cfg: serde_json::Value = serde_json::from_str(&i.config_json).unwrap_or_default();
    let labels = cfg["config"]["Labels"]
        .as_object()
        .map(|o| {
            o.iter()
                .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
                .collect()
        })
        .unwrap_or_default();
    let mut refs: Vec<String> = i.references.iter().map(|r| format::familiar(r)).collect();
    if refs.is_empty() && !i.reference.is_empty() {
        refs.push(format::familiar(&i.reference));
    }
    ImageFacts {
        id: i.id.clone(),
        references: refs,
        labels,
        created: i.created.as_ref().map_or((0, 0), |t| (t.seconds, t.nanos)),
    }
}

/// `berth images`.
pub async fn images(m: &Manager, a: &ImagesArgs) -> i32 {
    let fmt = match ListFormat::from_flag(a.format.as_deref(), &IMAGE_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let filter = match Filters::from_flags(&a.filter).and_then(ImageFilter::new) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}", e.cli_message());
            return e.exit_code();
        }
    };
    let list = match m
        .images
        .list_images(m.ctx(), &{
            let mut r = ListImagesRequest::new();
            r.all = a.all;
            r
        })
        .await
    {
        Ok(l) => l.images,
        Err(e) => return fail(m.err(e)),
    };
    let list = match filter.select(list, image_facts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", e.cli_message());
            return e.exit_code();
        }
    };
    let now = Utc::now();
    let mut rows = Vec::new();
    let mut sorted = list;
    sorted.sort_by(|x, y| {
        let k =
            |i: &berth_proto::manager::ImageInfo| i.created.as_ref().map(|t| (t.seconds, t.nanos));
        k(y).cmp(&k(x))
    });
    for img in &sorted {
        let mut refs = img.references.clone();
        if refs.is_empty() && !img.reference.is_empty() {
            refs.push(img.reference.clone());
        }
        if refs.is_empty() {
            refs.push(String::new());
        }
        for r in refs {
            let (repo, tag) = if r.is_empty() {
                ("<none>".to_string(), "<none>".to_string())
            } else {
                repo_tag(&r)
            };
            if let Some(want) = &a.reference {
                let (wr, wt) = repo_tag(want);
                if wr != repo || (want.contains(':') && wt != tag) {
                    continue;
                }
            }
            rows.push((repo, tag, img));
        }
    }
    if a.quiet {
        let mut seen = Vec::new();
        for (_, _, img) in &rows {
            let id = if a.no_trunc {
                img.id.clone()
            } else {
                short_id(&img.id).to_string()
            };
            if !seen.contains(&id) {
                println!("{id}");
                seen.push(id);
            }
        }
        return 0;
    }
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|(repo, tag, img)| {
            let created = ts(img.created.as_ref());
            json!({
                "Containers": "N/A",
                "CreatedAt": format::created_at(created),
                "CreatedSince": ago(created, now),
                "Digest": if img.manifest_digest.is_empty() { "<none>".to_string() } else { img.manifest_digest.clone() },
                "ID": if a.no_trunc { img.id.clone() } else { short_id(&img.id).to_string() },
                "Repository": repo,
                "SharedSize": "N/A",
                "Size": human_size(img.size),
                "Tag": tag,
                "UniqueSize": "N/A",
                "VirtualSize": human_size(img.size),
            })
        })
        .collect();
    fmt.print(&rows, &IMAGE_COLUMNS)
}

/// `images`'s fields and headers, as docker's image context names them.
pub const IMAGE_COLUMNS: Columns = Columns {
    context: "*formatter.ImageContext",
    default: "table {{.Repository}}\\t{{.Tag}}\\t{{.ID}}\\t{{.CreatedSince}}\\t{{.Size}}",
    headers: &[
        ("ID", "IMAGE ID"),
        ("Repository", "REPOSITORY"),
        ("Tag", "TAG"),
        ("Digest", "DIGEST"),
        ("CreatedSince", "CREATED"),
        ("CreatedAt", "CREATED AT"),
        ("Size", "SIZE"),
        ("Containers", "CONTAINERS"),
        ("VirtualSize", "SIZE"),
        ("SharedSize", "SHARED SIZE"),
        ("UniqueSize", "UNIQUE SIZE"),
    ],
    older_errors: false,
};

/// `berth pull`.
pub async fn pull(m: &Manager, a: &PullArgs) -> i32 {
    let mut r = PullRequest::new();
    r.reference = a.reference.clone();
    r.plain_http = a.plain_http;
    (r.username, r.password) = crate::auth::for_reference(&a.reference);
    let s = m.images.pull_image(m.ctx(), &r).await;
    match stream_progress(m, s, a.quiet, false).await {
        Ok(_) => 0,
        Err(e) => fail(e),
    }
}

/// `berth push`.
pub async fn push(m: &Manager, a: &PullArgs) -> i32 {
    let mut r = PushRequest::new();
    r.reference = a.reference.clone();
    r.plain_http = a.plain_http;
    (r.username, r.password) = crate::auth::for_reference(&a.reference);
    let s = m.images.push_image(m.ctx(), &r).await;
    match stream_progress(m, s, a.quiet, false).await {
        Ok(_) => 0,
        Err(e) => fail(e),
    }
}

/// `berth tag`.
pub async fn tag(m: &Manager, a: &TagArgs) -> i32 {
    let mut r = TagRequest::new();
    r.source = a.source.clone();
    r.target = a.target.clone();
    match m.images.tag_image(m.ctx(), &r).await {
        Ok(_) => 0,
        Err(e) => fail(m.err(e)),
    }
}

/// `berth rmi`.
pub async fn rmi(m: &Manager, a: &RmiArgs) -> i32 {
    let mut code = 0;
    for i in &a.images {
        let mut r = RemoveImageRequest::new();
        r.reference = i.clone();
        r.force = a.force;
        match m.images.remove_image(m.ctx(), &r).await {
            Ok(resp) => {
                for u in &resp.untagged {
                    println!("Untagged: {}", format::familiar(u));
                }
                for d in &resp.deleted {
                    println!("Deleted: {d}");
                }
            }
            Err(e) => {
                eprintln!("{}", m.err(e));
                code = 1;
            }
        }
    }
    code
}

/// Copies stdin to a new file under the state dir for the manager to read.
fn stdin_to_file(dir: &Path, what: &str) -> Result<TempFile, CliError> {
    let (mut f, guard) = spool_file(dir, what)?;
    std::io::copy(&mut std::io::stdin().lock(), &mut f)
        .map_err(|e| CliError::io("read stdin", e))?;
    Ok(guard)
}

/// A new, empty file under the state dir (where the manager reads and
/// writes archives), removed when the guard drops: what `load` and
/// `import` read from a stream, or what `save` writes before it is sent.
pub fn spool_file(dir: &Path, what: &str) -> Result<(std::fs::File, TempFile), CliError> {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let path = dir.join(format!(".{what}-{}-{n}.tar", std::process::id()));
    let f = std::fs::File::create(&path)
        .map_err(|e| CliError::io(format!("create {}", path.display()), e))?;
    Ok((f, TempFile(path)))
}

/// The manager loading the image archive at `path` (absolute): its
/// progress stream, `Loaded image: …` as summary messages.
pub async fn load_archive(
    m: &Manager,
    path: &Path,
) -> ttrpc::Result<ClientStreamReceiver<Progress>> {
    let mut r = LoadRequest::new();
    r.path = path.display().to_string();
    m.images.load_images(m.ctx(), &r).await
}

/// The manager writing `images` as one archive to `path` (absolute).
pub async fn save_archive(m: &Manager, images: &[String], path: &Path) -> Result<(), CliError> {
    let mut r = SaveRequest::new();
    r.references = images.to_vec();
    r.output_path = path.display().to_string();
    m.images
        .save_images(m.ctx(), &r)
        .await
        .map(drop)
        .map_err(|e| m.err(e))
}

/// The manager making an image of the rootfs tarball at `path`
/// (absolute), named `reference` when not empty; the new image's id.
pub async fn import_archive(m: &Manager, path: &Path, reference: &str) -> Result<String, CliError> {
    let mut r = ImportRootfsRequest::new();
    r.path = path.display().to_string();
    r.reference = reference.to_string();
    m.images
        .import_rootfs(m.ctx(), &r)
        .await
        .map(|info| info.id)
        .map_err(|e| m.err(e))
}

/// A file removed when dropped.
pub struct TempFile(pub PathBuf);

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// `berth load`.
pub async fn load(m: &Manager, a: &LoadArgs, state: &Path) -> i32 {
    let mut _tmp = None;
    let path = match &a.input {
        Some(p) => match absolute(p) {
            Ok(p) => p,
            Err(e) => return fail(e),
        },
        None => {
            if tty::is_tty(libc::STDIN_FILENO) {
                return fail(CliError::Invalid(
                    "requested load from stdin, but stdin is empty".into(),
                ));
            }
            match stdin_to_file(state, "load") {
                Ok(t) => {
                    let p = t.0.clone();
                    _tmp = Some(t);
                    p
                }
                Err(e) => return fail(e),
            }
        }
    };
    if !path.exists() {
        return fail(CliError::Invalid(format!(
            "open {}: no such file or directory",
            path.display()
        )));
    }
    let s = load_archive(m, &path).await;
    match stream_progress(m, s, a.quiet, false).await {
        Ok(_) => 0,
        Err(e) => fail(e),
    }
}

/// `berth save`.
pub async fn save(m: &Manager, a: &SaveArgs, state: &Path) -> i32 {
    let (path, to_stdout) = match &a.output {
        Some(p) => match absolute(p) {
            Ok(p) => (p, false),
            Err(e) => return fail(e),
        },
        None => {
            if tty::is_tty(libc::STDOUT_FILENO) {
                return fail(CliError::Invalid(
                    "cowardly refusing to save to a terminal. Use the -o flag or redirect".into(),
                ));
            }
            (
                state.join(format!(".save-{}.tar", std::process::id())),
                true,
            )
        }
    };
    if let Err(e) = save_archive(m, &a.images, &path).await {
        return fail(e);
    }
    if to_stdout {
        let _tmp = TempFile(path.clone());
        let res = std::fs::File::open(&path)
            .and_then(|mut f| std::io::copy(&mut f, &mut std::io::stdout().lock()));
        if let Err(e) = res {
            return fail(CliError::io("write archive to stdout", e));
        }
    }
    0
}

/// `berth import`.
pub async fn import(m: &Manager, a: &ImportArgs, state: &Path) -> i32 {
    let mut _tmp = None;
    let path = if a.file == "-" {
        match stdin_to_file(state, "import") {
            Ok(t) => {
                let p = t.0.clone();
                _tmp = Some(t);
                p
            }
            Err(e) => return fail(e),
        }
    } else {
        match absolute(Path::new(&a.file)) {
            Ok(p) => p,
            Err(e) => return fail(e),
        }
    };
    match import_archive(m, &path, a.reference.as_deref().unwrap_or("")).await {
        Ok(id) => {
            println!("{id}");
            0
        }
        Err(e) => fail(e),
    }
}
