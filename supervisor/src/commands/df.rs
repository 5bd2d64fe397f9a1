//! `berth system df`: what images, containers and volumes take, and what a
//! prune would give back, in docker's table.

use berth_proto::manager::{ListContainersRequest, ListImagesRequest};
use berth_proto::volumes::ListVolumesRequest;

use serde_json::{json, Value};

use crate::cli::FormatArgs;
use crate::client::Manager;
use crate::error::CliError;
use crate::format::human_size;
use crate::render::{Columns, ListFormat};

/// One row of the table.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Usage {
    pub total: usize,
    pub active: usize,
    pub size: u64,
    pub reclaimable: u64,
}

/// docker's RECLAIMABLE cell: size, and its share when there is any size.
pub fn reclaimable_cell(u: &Usage) -> String {
    if u.size == 0 {
        return human_size(u.reclaimable);
    }
    format!(
        "{} ({}%)",
        human_size(u.reclaimable),
        u.reclaimable * 100 / u.size
    )
}

/// `system df`'s rows with docker's field names.
pub fn rows(usage: &[(&str, Usage)]) -> Vec<Value> {
    usage
        .iter()
        .map(|(kind, u)| {
            json!({
                "Type": kind,
                "TotalCount": u.total.to_string(),
                "Active": u.active.to_string(),
                "Size": human_size(u.size),
                "Reclaimable": reclaimable_cell(u),
            })
        })
        .collect()
}

/// `system df`'s fields and headers, as docker's disk-usage context names
/// them.
pub const DF_COLUMNS: Columns = Columns {
    context: "*formatter.diskUsageContext",
    default: "table {{.Type}}\\t{{.TotalCount}}\\t{{.Active}}\\t{{.Size}}\\t{{.Reclaimable}}",
    headers: &[
        ("Type", "TYPE"),
        ("TotalCount", "TOTAL"),
        ("Active", "ACTIVE"),
        ("Size", "SIZE"),
        ("Reclaimable", "RECLAIMABLE"),
    ],
    older_errors: true,
};

/// Everything `system df` counts: images, all containers, volumes with
/// their sizes (the CLI's table and the API's `/system/df` both read it).
pub struct Inventory {
    pub images: Vec<berth_proto::manager::ImageInfo>,
    pub containers: Vec<berth_proto::manager::ContainerInfo>,
    pub volumes: Vec<berth_proto::volumes::VolumeInfo>,
}

/// Asks the manager for the [`Inventory`].
pub async fn inventory(m: &Manager) -> Result<Inventory, CliError> {
    let images = m
        .images
        .list_images(m.ctx(), &ListImagesRequest::new())
        .await
        .map_err(|e| m.err(e))?
        .images;
    let mut all = ListContainersRequest::new();
    all.all = true;
    let containers = m
        .containers
        .list_containers(m.ctx(), &all)
        .await
        .map_err(|e| m.err(e))?
        .containers;
    let mut vr = ListVolumesRequest::new();
    vr.sizes = true;
    let volumes = m
        .volumes
        .list_volumes(m.ctx(), &vr)
        .await
        .map_err(|e| m.err(e))?
        .volumes;
    Ok(Inventory {
        images,
        containers,
        volumes,
    })
}

async fn usage(m: &Manager) -> Result<Vec<(&'static str, Usage)>, CliError> {
    let Inventory {
        images,
        containers,
        volumes,
    } = inventory(m).await?;

    let mut img = Usage {
        total: images.len(),
        ..Default::default()
    };
    for i in &images {
        img.size += i.size;
        if containers.iter().any(|c| c.image_id == i.id) {
            img.active += 1;
        } else {
            img.reclaimable += i.size;
        }
    }
    let running = |s: &str| matches!(s, "running" | "paused" | "restarting");
    let ctr = Usage {
        total: containers.len(),
        active: containers.iter().filter(|c| running(&c.status)).count(),
        ..Default::default()
    };
    let mut vol = Usage {
        total: volumes.len(),
        ..Default::default()
    };
    for v in &volumes {
        vol.size += v.size;
        if v.used_by.is_empty() {
            vol.reclaimable += v.size;
        } else {
            vol.active += 1;
        }
    }
    Ok(vec![
        ("Images", img),
        ("Containers", ctr),
        ("Local Volumes", vol),
        ("Build Cache", Usage::default()),
    ])
}

/// `system df`.
pub async fn df(m: &Manager, f: &FormatArgs) -> i32 {
    let fmt = match ListFormat::from_flag(f.format.as_deref(), &DF_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    match usage(m).await {
        Ok(u) => fmt.print(&rows(&u), &DF_COLUMNS),
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_like_docker() {
        let usage = [
            (
                "Images",
                Usage {
                    total: 6,
                    active: 2,
                    size: 1_984_000,
                    reclaimable: 1_984_000,
                },
            ),
            (
                "Local Volumes",
                Usage {
                    total: 3,
                    active: 1,
                    ..Default::default()
                },
            ),
        ];
        let out = ListFormat::parse(None, &DF_COLUMNS)
            .unwrap()
            .render(&rows(&usage), &DF_COLUMNS)
            .unwrap();
        let want = "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
                    Images          6         2         1.98MB    1.98MB (100%)\n\
                    Local Volumes   3         1         0B        0B\n";
        assert_eq!(out, want);
    }
}
