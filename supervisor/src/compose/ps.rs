//! `compose ps`: the project's containers in docker compose's columns
//! (NAME, IMAGE, COMMAND, SERVICE, CREATED, STATUS with health, PORTS) or
//! as one JSON object per line.

use chrono::Utc;
use serde_json::json;

use crate::client::Manager;
use crate::commands::network::ports_by_container;
use crate::commands::view::spec_args;
use crate::compose::cli::PsArgs;
use crate::compose::error::ComposeError;
use crate::compose::members::ProjectContainer;
use crate::format::{self, ago, familiar, ps_command, ps_status, short_id, ts, StatusView};

/// Prints `containers` as `ps` shows them.
pub async fn print(
    m: &Manager,
    a: &PsArgs,
    project: &str,
    containers: &[ProjectContainer],
) -> Result<(), ComposeError> {
    let shown: Vec<&ProjectContainer> = containers
        .iter()
        .filter(|c| a.all || c.is_up())
        .filter(|c| a.status.is_empty() || a.status.contains(&c.info.status))
        .collect();
    if a.quiet {
        for c in &shown {
            println!("{}", c.info.id);
        }
        return Ok(());
    }
    if a.services {
        let mut names: Vec<&str> = shown.iter().map(|c| c.member.service.as_str()).collect();
        names.dedup();
        for n in names {
            println!("{n}");
        }
        return Ok(());
    }
    let now = Utc::now();
    let ports = ports_by_container(m).await;
    let ids: Vec<String> = shown.iter().map(|c| c.info.id.clone()).collect();
    let health = crate::health::states(m, &ids).await;
    let status = |c: &ProjectContainer| {
        let plain = ps_status(
            &StatusView {
                status: &c.info.status,
                exit_code: c.info.exit_code,
                started: ts(c.info.started_at.as_ref()),
                finished: ts(c.info.finished_at.as_ref()),
            },
            now,
        );
        crate::health::status_with_health(plain, &c.info, health.get(&c.info.id))
    };
    let port_cell = |c: &ProjectContainer| ports.get(&c.info.id).cloned().unwrap_or_default();
    match a.format.as_deref() {
        Some("json") => {
            for c in &shown {
                let created = ts(c.info.created.as_ref());
                let line = json!({
                    "Command": format!("\"{}\"", spec_args(&c.info).join(" ")),
                    "CreatedAt": created.map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()).unwrap_or_default(),
                    "ExitCode": c.info.exit_code,
                    "Health": health.get(&c.info.id).map(|h| h.status.clone()).unwrap_or_default(),
                    "ID": short_id(&c.info.id),
                    "Image": familiar(&c.info.image),
                    "Labels": c.info.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    "Name": c.info.name,
                    "Names": c.info.name,
                    "Ports": port_cell(c),
                    "Project": project,
                    "RunningFor": ago(created, now),
                    "Service": c.member.service,
                    "State": c.info.status,
                    "Status": status(c),
                });
                println!("{line}");
            }
            Ok(())
        }
        Some("table") | None => {
            let rows: Vec<Vec<String>> = shown
                .iter()
                .map(|c| {
                    vec![
                        c.info.name.clone(),
                        familiar(&c.info.image),
                        ps_command(&spec_args(&c.info)),
                        c.member.service.clone(),
                        ago(ts(c.info.created.as_ref()), now),
                        status(c),
                        port_cell(c),
                    ]
                })
                .collect();
            print!(
                "{}",
                format::table(
                    &["NAME", "IMAGE", "COMMAND", "SERVICE", "CREATED", "STATUS", "PORTS"],
                    &rows
                )
            );
            Ok(())
        }
        Some(f) => Err(ComposeError::Invalid(format!(
            "unsupported format: {f} (table or json)"
        ))),
    }
}
