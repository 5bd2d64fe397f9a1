//! Read-only views of containers: ps, logs, top, stats, events.

use std::fs::File;
use std::time::Duration;

use berth_proto::manager::{
    ContainerInfo, Event, ListContainersRequest, SubscribeRequest, TaskRequest,
};
use berth_proto::ttrpc;
use chrono::Utc;
use serde_json::json;

use crate::cli::{EventsArgs, LogsArgs, PsArgs, StatsArgs, TopArgs};
use crate::client::Manager;
use crate::error::CliError;
use crate::format::{
    self, ago, bytes_size, familiar, human_size, ps_command, ps_status, short_id, ts, StatusView,
};
use crate::logs::{self, Reader};

fn fail(e: CliError) -> i32 {
    eprintln!("{e}");
    1
}

/// The argv stored in a container's spec.
pub fn spec_args(c: &ContainerInfo) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(&c.spec_json)
        .ok()
        .and_then(|v| {
            v["process"]["args"].as_array().map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// docker's STATUS cell of a container (`Up 2 minutes`, `Exited (0) …`).
pub fn status_of(c: &ContainerInfo, now: chrono::DateTime<Utc>) -> String {
    ps_status(
        &StatusView {
            status: &c.status,
            exit_code: c.exit_code,
            started: ts(c.started_at.as_ref()),
            finished: ts(c.finished_at.as_ref()),
        },
        now,
    )
}

/// `berth ps`.
pub async fn ps(m: &Manager, a: &PsArgs) -> i32 {
    // --last N and --latest look at every container, newest first, as docker
    let limit = if a.latest {
        Some(1)
    } else {
        usize::try_from(a.last).ok().filter(|&n| n > 0)
    };
    let mut req = ListContainersRequest::new();
    req.all = a.all || limit.is_some();
    let mut list = match m.containers.list_containers(m.ctx(), &req).await {
        Ok(l) => l.containers,
        Err(e) => return fail(m.err(e)),
    };
    list.sort_by(|x, y| {
        let k = |c: &ContainerInfo| c.created.as_ref().map(|t| (t.seconds, t.nanos));
        k(y).cmp(&k(x))
    });
    if let Some(n) = limit {
        list.truncate(n);
    }
    let id = |c: &ContainerInfo| {
        if a.no_trunc {
            c.id.clone()
        } else {
            short_id(&c.id).to_string()
        }
    };
    if a.quiet {
        for c in &list {
            println!("{}", id(c));
        }
        return 0;
    }
    let now = Utc::now();
    let ports = crate::commands::network::ports_by_container(m).await;
    let ports_of = |c: &ContainerInfo| ports.get(&c.id).cloned().unwrap_or_default();
    let ids: Vec<String> = list.iter().map(|c| c.id.clone()).collect();
    let health = crate::health::states(m, &ids).await;
    let status_of = |c: &ContainerInfo, now| {
        crate::health::status_with_health(status_of(c, now), c, health.get(&c.id))
    };
    match a.format.as_deref() {
        Some("json") => {
            for c in &list {
                let created = ts(c.created.as_ref());
                let line = json!({
                    "Command": format!("\"{}\"", spec_args(c).join(" ")),
                    "CreatedAt": created.map(|t| t.format("%Y-%m-%d %H:%M:%S %z UTC").to_string()).unwrap_or_default(),
                    "ID": id(c),
                    "Image": familiar(&c.image),
                    "Labels": c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(","),
                    "LocalVolumes": "0",
                    "Mounts": "",
                    "Names": c.name,
                    "Networks": "",
                    "Ports": ports_of(c),
                    "RunningFor": ago(created, now),
                    "Size": "0B",
                    "State": c.status,
                    "Status": status_of(c, now),
                });
                println!("{line}");
            }
            0
        }
        Some("table") | None => {
            let rows: Vec<Vec<String>> = list
                .iter()
                .map(|c| {
                    vec![
                        id(c),
                        familiar(&c.image),
                        ps_command(&spec_args(c)),
                        ago(ts(c.created.as_ref()), now),
                        status_of(c, now),
                        ports_of(c),
                        c.name.clone(),
                    ]
                })
                .collect();
            print!(
                "{}",
                format::table(
                    &[
                        "CONTAINER ID",
                        "IMAGE",
                        "COMMAND",
                        "CREATED",
                        "STATUS",
                        "PORTS",
                        "NAMES"
                    ],
                    &rows
                )
            );
            0
        }
        Some(f) => fail(CliError::Invalid(format!(
            "unsupported format: {f} (table or json)"
        ))),
    }
}

/// `berth logs`.
pub async fn logs(m: &Manager, a: &LogsArgs) -> i32 {
    let tail = match logs::parse_tail(&a.tail) {
        Ok(t) => t,
        Err(e) => return fail(CliError::Invalid(e)),
    };
    let now = chrono::Utc::now();
    let when = |flag, v: &Option<String>| {
        v.as_deref()
            .map(|v| crate::since::parse_time(flag, v, now))
            .transpose()
    };
    let (since, until) = match (when("since", &a.since), when("until", &a.until)) {
        (Ok(s), Ok(u)) => (s, u),
        (Err(e), _) | (_, Err(e)) => return fail(CliError::Invalid(e)),
    };
    let c = match crate::commands::container::resolve(m, &a.container).await {
        Ok(c) => c,
        Err(e) => return fail(e),
    };
    let file = match File::open(&c.log_path) {
        Ok(f) => f,
        // never started: no output yet
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !a.follow => return 0,
        Err(e) => return fail(CliError::io(format!("open log {}", c.log_path), e)),
    };
    let p = logs::Print {
        timestamps: a.timestamps,
        details: a.details,
    };
    let mut r = Reader::new(file);
    let out = |e: &logs::Entry| {
        if !crate::since::within(&e.time, since, until) {
            return;
        }
        let _ = logs::print(
            e,
            p,
            &mut std::io::stdout().lock(),
            &mut std::io::stderr().lock(),
        );
    };
    match r.read_tail(tail) {
        Ok(entries) => entries.iter().for_each(out),
        Err(e) => return fail(CliError::io("read log", e)),
    }
    if a.follow && (c.status == "running" || c.status == "paused" || c.status == "restarting") {
        let mut req = TaskRequest::new();
        req.container_id = c.id.clone();
        let stop = m.tasks.wait_task(m.ctx(), &req);
        if let Err(e) = r.follow(out, stop).await {
            return fail(CliError::io("read log", e));
        }
    }
    0
}

/// `berth top`.
pub async fn top(m: &Manager, a: &TopArgs) -> i32 {
    let mut req = TaskRequest::new();
    req.container_id = a.container.clone();
    match m.tasks.top_task(m.ctx(), &req).await {
        Ok(t) => {
            let titles: Vec<&str> = t.titles.iter().map(String::as_str).collect();
            let rows: Vec<Vec<String>> = t.rows.iter().map(|r| r.fields.clone()).collect();
            print!("{}", format::table(&titles, &rows));
            0
        }
        Err(e) => fail(m.err(e)),
    }
}

struct Sample {
    cpu: u64,
    system: u64,
}

fn stats_row(
    c: &ContainerInfo,
    s: &berth_proto::manager::StatsResponse,
    prev: Option<&Sample>,
) -> Vec<String> {
    let cpu = match prev {
        Some(p) if s.system_cpu_usage_ns > p.system => {
            let d_cpu = s.cpu_usage_ns.saturating_sub(p.cpu) as f64;
            let d_sys = (s.system_cpu_usage_ns - p.system) as f64;
            d_cpu / d_sys * s.online_cpus.max(1) as f64 * 100.0
        }
        _ => 0.0,
    };
    let mem_pct = if s.memory_limit > 0 {
        s.memory_usage as f64 / s.memory_limit as f64 * 100.0
    } else {
        0.0
    };
    vec![
        short_id(&c.id).to_string(),
        c.name.clone(),
        format!("{cpu:.2}%"),
        format!(
            "{} / {}",
            bytes_size(s.memory_usage),
            bytes_size(s.memory_limit)
        ),
        format!("{mem_pct:.2}%"),
        format!("{} / {}", human_size(s.net_rx), human_size(s.net_tx)),
        format!(
            "{} / {}",
            human_size(s.blkio_read),
            human_size(s.blkio_write)
        ),
        s.pids.to_string(),
    ]
}

/// `berth stats`.
pub async fn stats(m: &Manager, a: &StatsArgs) -> i32 {
    let mut targets = Vec::new();
    if a.containers.is_empty() {
        let mut req = ListContainersRequest::new();
        req.all = a.all;
        match m.containers.list_containers(m.ctx(), &req).await {
            Ok(l) => targets = l.containers,
            Err(e) => return fail(m.err(e)),
        }
    } else {
        for n in &a.containers {
            match crate::commands::container::resolve(m, n).await {
                Ok(c) => targets.push(c),
                Err(e) => return fail(e),
            }
        }
    }
    let header = [
        "CONTAINER ID",
        "NAME",
        "CPU %",
        "MEM USAGE / LIMIT",
        "MEM %",
        "NET I/O",
        "BLOCK I/O",
        "PIDS",
    ];
    let mut prev: Vec<Option<Sample>> = targets.iter().map(|_| None).collect();
    let tty = crate::tty::is_tty(libc::STDOUT_FILENO);
    // CPU % needs two samples; --no-stream takes them a second apart
    let rounds = if a.no_stream { 2 } else { usize::MAX };
    for round in 0..rounds {
        let mut rows = Vec::new();
        for (i, c) in targets.iter().enumerate() {
            let mut req = TaskRequest::new();
            req.container_id = c.id.clone();
            match m.tasks.task_stats(m.ctx(), &req).await {
                Ok(s) => {
                    rows.push(stats_row(c, &s, prev[i].as_ref()));
                    prev[i] = Some(Sample {
                        cpu: s.cpu_usage_ns,
                        system: s.system_cpu_usage_ns,
                    });
                }
                Err(_) => rows.push(vec![
                    short_id(&c.id).to_string(),
                    c.name.clone(),
                    "--".into(),
                    "-- / --".into(),
                    "--".into(),
                    "--".into(),
                    "--".into(),
                    "--".into(),
                ]),
            }
        }
        let last = round + 1 == rounds;
        if !a.no_stream || last {
            if tty && !a.no_stream {
                print!("\x1b[2J\x1b[H");
            }
            print!("{}", format::table(&header, &rows));
        }
        if !last {
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
    0
}

/// One event as `docker events` prints it.
pub fn event_line(e: &Event) -> String {
    let mut attrs: Vec<(&String, &String)> = e.attributes.iter().collect();
    attrs.sort();
    let attrs: Vec<String> = attrs.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut s = format!(
        "{} {} {} {}",
        format::rfc3339(ts(e.time.as_ref())),
        e.type_,
        e.action,
        e.id
    );
    if !attrs.is_empty() {
        s.push_str(&format!(" ({})", attrs.join(", ")));
    }
    s
}

/// One event as docker's JSON (`events --format json`, the API's `/events`).
pub fn event_json(e: &Event) -> serde_json::Value {
    let t = ts(e.time.as_ref());
    json!({
        "Type": e.type_, "Action": e.action, "id": e.id,
        "Actor": {"ID": e.id, "Attributes": e.attributes},
        "time": t.map(|t| t.timestamp()).unwrap_or(0),
        "timeNano": t.and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0),
    })
}

/// `berth events`.
pub async fn events(m: &Manager, a: &EventsArgs) -> i32 {
    let mut req = SubscribeRequest::new();
    req.filters = a.filter.clone();
    let mut rx = match m.events.subscribe(m.ctx(), &req).await {
        Ok(rx) => rx,
        Err(e) => return fail(m.err(e)),
    };
    loop {
        match rx.recv().await {
            Ok(Some(e)) => {
                if a.format.as_deref() == Some("json") {
                    println!("{}", event_json(&e));
                } else {
                    println!("{}", event_line(&e));
                }
            }
            Ok(None) | Err(ttrpc::Error::Eof) => return 0,
            Err(e) => return fail(m.err(e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn event_lines_like_docker() {
        let mut e = Event::new();
        e.type_ = "container".into();
        e.action = "start".into();
        e.id = "abc".into();
        e.attributes.insert("name".into(), "web".into());
        e.attributes.insert("image".into(), "busybox".into());
        let mut t = berth_proto::protobuf::well_known_types::timestamp::Timestamp::new();
        t.seconds = 86400;
        e.time = Some(t).into();
        assert_eq!(
            event_line(&e),
            "1970-01-02T00:00:00.000000000Z container start abc (image=busybox, name=web)"
        );
    }

    #[test]
    fn spec_args_from_stored_spec() {
        let mut c = ContainerInfo::new();
        c.spec_json = r#"{"process":{"args":["sh","-c","x"]}}"#.into();
        assert_eq!(spec_args(&c), ["sh", "-c", "x"]);
        c.spec_json = "garbage".into();
        assert!(spec_args(&c).is_empty());
    }
}
