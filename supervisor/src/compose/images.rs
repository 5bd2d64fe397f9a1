//! The project's images: `compose build` (each `build:` through `berth
//! build`), `compose pull` and `compose push` (through `berth pull|push`),
//! and `compose images` (the images its containers run).

use berth_proto::manager::GetImageRequest;

use crate::cli::PullArgs;
use crate::client::Manager;
use crate::commands::images as image_cmds;
use crate::compose::cli::{BuildArgs, ImagesArgs};
use crate::compose::error::ComposeError;
use crate::compose::members::{self, OneOff};
use crate::compose::project::ProjectPlan;
use crate::format::{self, familiar, repo_tag, short_id};

/// `compose build [SERVICE…]`.
pub async fn build(m: &Manager, p: &ProjectPlan, a: &BuildArgs) -> Result<(), ComposeError> {
    let selected = p.select(&a.services, true)?;
    for name in &selected {
        let s = p.service(name).expect("selected from the plan");
        let Some(b) = &s.build else {
            continue;
        };
        let mut b = b.clone();
        b.no_cache |= a.no_cache;
        b.pull |= a.pull;
        b.quiet |= a.quiet;
        b.build_arg.extend(a.build_arg.iter().cloned());
        if crate::commands::build::build(m, &b).await != 0 {
            return Err(ComposeError::Build {
                service: s.name.clone(),
            });
        }
    }
    Ok(())
}

/// `compose pull` / `compose push` of the services' images (pull skips
/// what the project builds; push takes only that).
pub async fn pull_or_push(
    m: &Manager,
    p: &ProjectPlan,
    services: &[String],
    push: bool,
) -> Result<(), ComposeError> {
    let selected = p.select(services, true)?;
    let mut failed = false;
    for name in &selected {
        let s = p.service(name).expect("selected from the plan");
        if push != s.build.is_some() || (push && s.local_image) {
            continue;
        }
        let a = PullArgs {
            plain_http: false,
            quiet: false,
            reference: s.image.clone(),
        };
        let code = if push {
            image_cmds::push(m, &a).await
        } else {
            image_cmds::pull(m, &a).await
        };
        failed |= code != 0;
    }
    if failed {
        return Err(ComposeError::Invalid(format!(
            "some images could not be {}",
            if push { "pushed" } else { "pulled" }
        )));
    }
    Ok(())
}

/// `compose images`: CONTAINER, REPOSITORY, TAG, IMAGE ID, SIZE.
pub async fn images(m: &Manager, p: &ProjectPlan, a: &ImagesArgs) -> Result<(), ComposeError> {
    let containers = members::list(m, &p.name, &a.services, OneOff::Exclude).await?;
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for c in &containers {
        let req = GetImageRequest {
            reference: if c.info.image_id.is_empty() {
                c.info.image.clone()
            } else {
                c.info.image_id.clone()
            },
            ..Default::default()
        };
        let Ok(img) = m.images.get_image(m.ctx(), &req).await else {
            continue;
        };
        if a.quiet {
            println!("{}", img.id);
            continue;
        }
        let (repo, tag) = repo_tag(&crate::commands::container::with_default_tag(&c.info.image));
        let repo = familiar(&repo);
        let size = format::human_size(img.size);
        json.push(serde_json::json!({
            "ContainerName": c.info.name, "Repository": repo, "Tag": tag,
            "ID": img.id, "Size": img.size,
        }));
        rows.push(vec![
            c.info.name.clone(),
            repo,
            tag,
            short_id(&img.id).to_string(),
            size,
        ]);
    }
    if a.quiet {
        return Ok(());
    }
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::Value::Array(json)),
        Some("table") | None => print!(
            "{}",
            format::table(
                &["CONTAINER", "REPOSITORY", "TAG", "IMAGE ID", "SIZE"],
                &rows
            )
        ),
        Some(f) => {
            return Err(ComposeError::Invalid(format!(
                "unsupported format: {f} (table or json)"
            )))
        }
    }
    Ok(())
}
