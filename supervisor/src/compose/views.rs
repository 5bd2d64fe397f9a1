//! `compose top`, `compose port` and `compose ls`: views of the project's
//! containers (and of every project, for `ls`) through berth's own.

use std::collections::BTreeMap;

use berth_proto::manager::TaskRequest;

use crate::client::Manager;
use crate::commands::network::{self, PortArgs as ContainerPortArgs};
use crate::compose::cli::{LsArgs, PortArgs};
use crate::compose::error::ComposeError;
use crate::compose::members::{self, OneOff};
use crate::compose::names;
use crate::format;

/// `compose top`: each running container's name, then its processes.
pub async fn top(m: &Manager, project: &str, services: &[String]) -> Result<(), ComposeError> {
    let containers = members::list(m, project, services, OneOff::Exclude).await?;
    for c in containers.iter().filter(|c| c.is_up()) {
        let mut req = TaskRequest::new();
        req.container_id = c.info.id.clone();
        let t = m
            .tasks
            .top_task(m.ctx(), &req)
            .await
            .map_err(|e| m.err(e))?;
        let titles: Vec<&str> = t.titles.iter().map(String::as_str).collect();
        let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.fields.clone()).collect();
        println!("{}", c.info.name);
        println!("{}", format::table(&titles, &rows));
    }
    Ok(())
}

/// `compose port SERVICE PRIVATE_PORT`: the public address of a binding.
pub async fn port(m: &Manager, project: &str, a: &PortArgs) -> Result<i32, ComposeError> {
    let theirs = members::list(
        m,
        project,
        std::slice::from_ref(&a.service),
        OneOff::Exclude,
    )
    .await?;
    let c = theirs
        .iter()
        .find(|c| c.member.number == a.index)
        .ok_or_else(|| {
            ComposeError::Invalid(format!(
                "service {:?} has no container #{}",
                a.service, a.index
            ))
        })?;
    let args = ContainerPortArgs {
        container: c.info.id.clone(),
        port: Some(format!("{}/{}", a.private_port, a.protocol)),
    };
    Ok(network::port(m, &args).await)
}

/// The STATUS cell of `ls`: `running(2), exited(1)`.
pub fn status_cell(statuses: &[&str]) -> String {
    let mut count: BTreeMap<&str, usize> = BTreeMap::new();
    for s in statuses {
        *count.entry(s).or_default() += 1;
    }
    count
        .iter()
        .map(|(s, n)| format!("{s}({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `compose ls`: the projects that have containers, from their labels.
pub async fn ls(m: &Manager, a: &LsArgs) -> Result<(), ComposeError> {
    let mut rows = Vec::new();
    let mut json = Vec::new();
    for (name, containers) in members::projects(m).await? {
        let statuses: Vec<&str> = containers.iter().map(|c| c.status.as_str()).collect();
        if !a.all && !statuses.contains(&"running") {
            continue;
        }
        let files = containers
            .iter()
            .find_map(|c| c.labels.get(names::CONFIG_FILES).cloned())
            .unwrap_or_default();
        if a.quiet {
            println!("{name}");
            continue;
        }
        let status = status_cell(&statuses);
        json.push(serde_json::json!({"Name": name, "Status": status, "ConfigFiles": files}));
        rows.push(vec![name, status, files]);
    }
    if a.quiet {
        return Ok(());
    }
    match a.format.as_deref() {
        Some("json") => println!("{}", serde_json::Value::Array(json)),
        Some("table") | None => print!(
            "{}",
            format::table(&["NAME", "STATUS", "CONFIG FILES"], &rows)
        ),
        Some(f) => {
            return Err(ComposeError::Invalid(format!(
                "unsupported format: {f} (table or json)"
            )))
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn ls_status_counts() {
        assert_eq!(
            super::status_cell(&["running", "exited", "running"]),
            "exited(1), running(2)"
        );
    }
}
