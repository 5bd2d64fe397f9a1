//! `compose down`: stops the project's containers in reverse dependency
//! order and removes them, then its networks; with `-v` its volumes (named
//! and the containers' anonymous ones), with `--rmi` its images.  Orphans
//! (containers of services the files no longer name) stay unless
//! `--remove-orphans`.

use berth_proto::manager::RemoveImageRequest;

use crate::client::Manager;
use crate::compose::cli::DownArgs;
use crate::compose::error::ComposeError;
use crate::compose::lifecycle::{self, Op};
use crate::compose::members::{self, OneOff};
use crate::compose::{progress, resources};

/// What `down` knows of the project: its name, the services of its files
/// with their dependencies (none when only `-p` named it), and the images
/// `--rmi` may remove.
pub struct Target<'a> {
    pub project: &'a str,
    /// service → the services it depends on
    pub deps: &'a [(String, Vec<String>)],
    /// whether `deps` comes from the compose files (else every container
    /// of the project counts as the project's)
    pub from_files: bool,
    /// (image, built by the project without a name of its own)
    pub images: &'a [(String, bool)],
}

/// `compose down`.
pub async fn down(m: &Manager, t: &Target<'_>, a: &DownArgs) -> Result<(), ComposeError> {
    let rmi = match a.rmi.as_deref() {
        None => None,
        Some(r @ ("local" | "all")) => Some(r),
        Some(r) => {
            return Err(ComposeError::Invalid(format!(
                "invalid value for --rmi: {r:?} (local or all)"
            )))
        }
    };
    let all = members::list(m, t.project, &[], OneOff::Include).await?;
    let known = |s: &str| !t.from_files || t.deps.iter().any(|(n, _)| n == s);
    let (ours, orphans): (Vec<_>, Vec<_>) = all.into_iter().partition(|c| known(&c.member.service));
    let mut targets = ours;
    if a.remove_orphans {
        targets.extend(orphans);
    } else if !orphans.is_empty() {
        let names: Vec<&str> = orphans.iter().map(|c| c.info.name.as_str()).collect();
        eprintln!(
            "WARN[0000] Found orphan containers ({}) for this project. If you removed or renamed this service in your compose file, you can run this command with the --remove-orphans flag to clean it up.",
            names.join(", ")
        );
    }
    lifecycle::apply(
        m,
        &targets,
        t.deps,
        &Op::Remove {
            volumes: a.volumes,
            stop: a.timeout,
        },
    )
    .await?;
    resources::remove_networks(m, t.project).await?;
    if a.volumes {
        resources::remove_volumes(m, t.project).await?;
    }
    if let Some(rmi) = rmi {
        for (image, local) in t.images {
            if rmi == "local" && !local {
                continue;
            }
            let req = RemoveImageRequest {
                reference: image.clone(),
                ..Default::default()
            };
            match m.images.remove_image(m.ctx(), &req).await {
                Ok(_) => progress::event("Image", image, "Removed"),
                Err(e) => {
                    let e = m.err(e);
                    if !e.is_not_found() {
                        eprintln!("berth: image {image}: {e}");
                    }
                }
            }
        }
    }
    Ok(())
}
