//! `berth system df`: what images, containers and volumes take, and what a
//! prune would give back, in docker's table.

use berth_proto::manager::{ListContainersRequest, ListImagesRequest};
use berth_proto::volumes::ListVolumesRequest;

use crate::client::Manager;
use crate::error::CliError;
use crate::format::human_size;

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

/// docker's tabwriter: cells at least 10 wide, 3 spaces of padding.
pub fn render(rows: &[(&str, Usage)]) -> String {
    let mut table = vec![vec![
        "TYPE".to_string(),
        "TOTAL".into(),
        "ACTIVE".into(),
        "SIZE".into(),
        "RECLAIMABLE".into(),
    ]];
    for (kind, u) in rows {
        table.push(vec![
            kind.to_string(),
            u.total.to_string(),
            u.active.to_string(),
            human_size(u.size),
            reclaimable_cell(u),
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| {
            let w = table
                .iter()
                .map(|r| r[i].chars().count())
                .max()
                .unwrap_or(0);
            (w + 3).max(10)
        })
        .collect();
    let mut out = String::new();
    for r in &table {
        let mut line = String::new();
        for (i, c) in r.iter().enumerate() {
            if i + 1 == r.len() {
                line.push_str(c);
            } else {
                line.push_str(&format!("{c:<w$}", w = widths[i]));
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

async fn usage(m: &Manager) -> Result<Vec<(&'static str, Usage)>, CliError> {
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
pub async fn df(m: &Manager) -> i32 {
    match usage(m).await {
        Ok(rows) => {
            print!("{}", render(&rows));
            0
        }
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
        let out = render(&[
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
        ]);
        let want = "TYPE            TOTAL     ACTIVE    SIZE      RECLAIMABLE\n\
                    Images          6         2         1.98MB    1.98MB (100%)\n\
                    Local Volumes   3         1         0B        0B\n";
        assert_eq!(out, want);
    }
}
