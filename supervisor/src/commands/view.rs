//! Read-only views of containers: ps, logs, top, stats, events.

use std::borrow::Cow;
use std::fs::File;
use std::time::Duration;

use berth_proto::manager::{ContainerInfo, Event, ListContainersRequest, TaskRequest};
use berth_proto::ttrpc;
use chrono::Utc;
use serde_json::json;

use crate::cli::{EventsArgs, LogsArgs, PsArgs, StatsArgs, TopArgs};
use crate::client::Manager;
use crate::error::CliError;
use crate::event_window::{Window, WindowError};
use crate::filters::{ContainerFilter, Filters};
use crate::format::{
    self, ago, bytes_size, ellipsis, familiar, human_size, ps_command, ps_status, short_id, ts,
    StatusView,
};
use crate::logs::{self, Reader};
use crate::render::{Columns, ListFormat};

fn fail(e: CliError) -> i32 {
    eprintln!("{e}");
    1
}

/// What listers read of a (brief) spec: the argv and the mounts. Read into
/// these few fields and not a `serde_json::Value`, so `ps` of a thousand
/// containers skips the rest of every spec instead of building a tree of it;
/// a mount's strings are borrowed from the spec, as most mounts are not
/// binds and are dropped at once.
#[derive(serde::Deserialize, Default)]
struct ListedSpec<'a> {
    #[serde(default)]
    process: ListedProcess,
    #[serde(default, borrow)]
    mounts: Vec<ListedMount<'a>>,
}

#[derive(serde::Deserialize, Default)]
struct ListedProcess {
    #[serde(default)]
    args: Vec<String>,
}

#[derive(serde::Deserialize)]
struct ListedMount<'a> {
    #[serde(default, rename = "type", borrow)]
    kind: Cow<'a, str>,
    #[serde(default, borrow)]
    source: Cow<'a, str>,
    #[serde(default, borrow)]
    destination: Cow<'a, str>,
}

/// A container's argv and bind mounts, read from its spec at once.
#[derive(Default)]
pub(crate) struct Listed {
    pub args: Vec<String>,
    /// volume names (or bind sources)
    pub shown: Vec<String>,
    /// where each of `shown` is mounted
    pub dests: Vec<String>,
}

/// Reads [`Listed`] of `c`'s spec; a spec that does not parse lists none.
pub(crate) fn listed(c: &ContainerInfo) -> Listed {
    let spec: ListedSpec = serde_json::from_str(&c.spec_json).unwrap_or_default();
    let mut shown = Vec::new();
    let mut dests = Vec::new();
    for m in spec.mounts {
        if m.kind != "bind" {
            continue;
        }
        shown.push(
            crate::mounts::volume_of_source(&m.source)
                .unwrap_or(&m.source)
                .to_string(),
        );
        dests.push(m.destination.into_owned());
    }
    Listed {
        args: spec.process.args,
        shown,
        dests,
    }
}

/// What [`spec_args`] reads of a spec: the mounts are skipped, not built.
#[derive(serde::Deserialize, Default)]
struct ArgsSpec {
    #[serde(default)]
    process: ListedProcess,
}

/// The argv stored in a container's spec.
pub fn spec_args(c: &ContainerInfo) -> Vec<String> {
    serde_json::from_str::<ArgsSpec>(&c.spec_json)
        .unwrap_or_default()
        .process
        .args
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

/// `ps`'s fields and headers, as docker's container context names them.
pub const PS_COLUMNS: Columns = Columns {
    context: "*formatter.ContainerContext",
    default: "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}",
    headers: &[
        ("ID", "CONTAINER ID"),
        ("Image", "IMAGE"),
        ("Command", "COMMAND"),
        ("CreatedAt", "CREATED AT"),
        ("RunningFor", "CREATED"),
        ("Ports", "PORTS"),
        ("State", "STATE"),
        ("Status", "STATUS"),
        ("Size", "SIZE"),
        ("Names", "NAMES"),
        ("Labels", "LABELS"),
        ("Mounts", "MOUNTS"),
        ("Networks", "NETWORKS"),
        ("LocalVolumes", "LOCAL VOLUMES"),
        ("Platform", "PLATFORM"),
    ],
    older_errors: false,
};

/// `ps -s`'s table: the default one and a SIZE column.
const PS_SIZE_TABLE: &str = "table {{.ID}}\\t{{.Image}}\\t{{.Command}}\\t{{.RunningFor}}\\t{{.Status}}\\t{{.Ports}}\\t{{.Names}}\\t{{.Size}}";

/// Volume names (or bind sources) and destinations of a container's spec.
pub(crate) fn mounts_of(c: &ContainerInfo) -> (Vec<String>, Vec<String>) {
    let l = listed(c);
    (l.shown, l.dests)
}

/// `berth ps`.
pub async fn ps(m: &Manager, a: &PsArgs) -> i32 {
    let default_table = a
        .format
        .as_deref()
        .is_none_or(|f| matches!(f.trim(), "" | "table"));
    let format = match a.format.as_deref() {
        _ if a.size && default_table => Some(PS_SIZE_TABLE),
        f => f,
    };
    // sizes cost a walk of each layer: only for -s or a template showing
    // them, `.Size` or the whole row (`{{json .}}`), as docker decides
    let want_size =
        !a.quiet && (a.size || format.is_some_and(|f| f.contains(".Size") || f.contains("json .")));
    let fmt = match ListFormat::from_flag(format, &PS_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let filter = match Filters::from_flags(&a.filter).and_then(ContainerFilter::new) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{}", e.cli_message());
            return e.exit_code();
        }
    };
    // --last N and --latest look at every container, newest first, as docker
    let limit = if a.latest {
        Some(1)
    } else {
        usize::try_from(a.last).ok().filter(|&n| n > 0)
    };
    // before/since name any container, so a filter sees them all
    let mut req = ListContainersRequest::new();
    req.all = a.all || limit.is_some() || !a.filter.is_empty();
    // a row gets only the fields the format shows: the default table
    // needs no CreatedAt, Labels, Mounts or Networks of a thousand rows
    let reads = fmt.reads();
    let wants = |k: &str| !a.quiet && reads.wants(k);
    let with_mounts = wants("Mounts") || wants("LocalVolumes");
    // rows carry all ps shows but what sizes read (the rootfs mount); the
    // bind mounts, most of a row, only when shown or filtered on
    req.rows = !want_size;
    req.rows_without_mounts = !with_mounts && a.filter.is_empty();
    let mut list = match m.containers.list_containers(m.ctx(), &req).await {
        Ok(l) => l.containers,
        Err(e) => return fail(m.err(e)),
    };
    list.sort_by(|x, y| {
        let k = |c: &ContainerInfo| c.created.as_ref().map(|t| (t.seconds, t.nanos));
        k(y).cmp(&k(x))
    });
    // endpoints and health are asked for only by a filter or the cells
    // that show them
    let cx = if a.filter.is_empty() && !["Ports", "Networks", "Status"].iter().any(|k| wants(k)) {
        crate::commands::listing::ListContext::default()
    } else {
        crate::commands::listing::list_context(m, &list).await
    };
    let (eps_of, health) = (&cx.eps_of, &cx.health);
    let networks_of = |c: &ContainerInfo| cx.networks_of(c);
    let facts = |c: &ContainerInfo| cx.facts(c);
    let mut list = match filter.select(list, facts) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("{}", e.cli_message());
            return e.exit_code();
        }
    };
    if !(a.all || limit.is_some() || filter.wants_all()) {
        list.retain(|c| c.status == "running" || c.status == "paused" || c.status == "restarting");
    }
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
        // one write, not one a line
        let ids: String = list.iter().map(|c| id(c) + "\n").collect();
        print!("{ids}");
        return 0;
    }
    let sizes = if want_size {
        match crate::sizes::of_containers(m, &list).await {
            Ok(s) => s,
            Err(e) => return fail(e),
        }
    } else {
        std::collections::HashMap::new()
    };
    let now = Utc::now();
    let with_args = wants("Command");
    let rows: Vec<PsRow> = list
        .iter()
        .map(|c| {
            // a spec's mounts are read only for the cells that show them
            let Listed {
                args,
                shown: mounts,
                ..
            } = match (with_args, with_mounts) {
                (_, true) => listed(c),
                (true, false) => Listed {
                    args: spec_args(c),
                    ..Listed::default()
                },
                (false, false) => Listed::default(),
            };
            PsRow {
                c,
                created: ts(c.created.as_ref()),
                args,
                mounts,
            }
        })
        .collect();
    // a row's cells, by docker's field names; None: Platform, docker's null
    // for local containers
    let cell = |r: &PsRow, k: &str| -> Option<String> {
        let c = r.c;
        Some(match k {
            "Command" if a.no_trunc => format!("\"{}\"", r.args.join(" ")),
            "Command" => ps_command(&r.args),
            "CreatedAt" => format::created_at(r.created),
            "ID" => id(c),
            "Image" => familiar(&c.image),
            "Labels" => {
                let mut labels: Vec<String> =
                    c.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
                labels.sort();
                labels.join(",")
            }
            "LocalVolumes" => r
                .mounts
                .iter()
                .filter(|m| !m.starts_with('/'))
                .count()
                .to_string(),
            "Mounts" => r
                .mounts
                .iter()
                .map(|m| {
                    if a.no_trunc {
                        m.clone()
                    } else {
                        ellipsis(m, 15)
                    }
                })
                .collect::<Vec<_>>()
                .join(","),
            "Names" => c.name.clone(),
            "Networks" => networks_of(c).join(","),
            "Ports" => eps_of
                .get(c.id.as_str())
                .map(|e| crate::commands::network::ports_cell(e))
                .unwrap_or_default(),
            "RunningFor" => ago(r.created, now),
            "Size" => sizes.get(&c.id).copied().unwrap_or_default().cell(),
            "State" => c.status.clone(),
            "Status" => crate::health::status_with_health(status_of(c, now), c, health.get(&c.id)),
            _ => return None,
        })
    };
    // a plain format (the default table is) is printed from the cells; any
    // other gets each row as the object docker's templates see
    if let Some(out) = fmt.render_cells(&rows, &PS_COLUMNS, |r, k| cell(r, k)) {
        print!("{out}");
        return 0;
    }
    let shown: Vec<&str> = PS_COLUMNS
        .headers
        .iter()
        .map(|(k, _)| *k)
        .filter(|k| wants(k))
        .collect();
    let rows: Vec<serde_json::Value> = rows
        .iter()
        .map(|r| {
            let row: serde_json::Map<String, serde_json::Value> = shown
                .iter()
                .map(|k| {
                    (
                        k.to_string(),
                        cell(r, k).map_or(serde_json::Value::Null, Into::into),
                    )
                })
                .collect();
            serde_json::Value::Object(row)
        })
        .collect();
    fmt.print(&rows, &PS_COLUMNS)
}

/// What a `ps` row's cells are made of.
struct PsRow<'a> {
    c: &'a ContainerInfo,
    created: Option<chrono::DateTime<Utc>>,
    /// the argv, when the format shows the command
    args: Vec<String>,
    /// the bind mounts' volumes or sources, when the format shows them
    mounts: Vec<String>,
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
    if let Err(e) = crate::logflags::check_readable(&c.spec_json) {
        return fail(CliError::Invalid(e));
    }
    let p = logs::Print {
        timestamps: a.timestamps,
        details: a.details,
    };
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
    let mut r = match Reader::whole_log(std::path::Path::new(&c.log_path)) {
        Ok(Some((r, mut entries))) => {
            if let Some(n) = tail {
                entries.drain(..entries.len().saturating_sub(n));
            }
            entries.iter().for_each(out);
            r
        }
        // never started: no output yet
        Ok(None) if !a.follow => return 0,
        Ok(None) => match File::open(&c.log_path) {
            Ok(f) => Reader::new(f).following(&c.log_path),
            Err(e) => return fail(CliError::io(format!("open log {}", c.log_path), e)),
        },
        Err(e) => return fail(CliError::io(format!("read log {}", c.log_path), e)),
    };
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
) -> serde_json::Value {
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
    json!({
        "Container": short_id(&c.id),
        "ID": short_id(&c.id),
        "Name": c.name,
        "CPUPerc": format!("{cpu:.2}%"),
        "MemUsage": format!("{} / {}", bytes_size(s.memory_usage), bytes_size(s.memory_limit)),
        "MemPerc": format!("{mem_pct:.2}%"),
        "NetIO": format!("{} / {}", human_size(s.net_rx), human_size(s.net_tx)),
        "BlockIO": format!("{} / {}", human_size(s.blkio_read), human_size(s.blkio_write)),
        "PIDs": s.pids.to_string(),
    })
}

/// `stats`'s fields and headers, as docker's stats context names them.
pub const STATS_COLUMNS: Columns = Columns {
    context: "*formatter.statsContext",
    default: "table {{.ID}}\\t{{.Name}}\\t{{.CPUPerc}}\\t{{.MemUsage}}\\t{{.MemPerc}}\\t{{.NetIO}}\\t{{.BlockIO}}\\t{{.PIDs}}",
    headers: &[
        ("Container", "CONTAINER"),
        ("ID", "CONTAINER ID"),
        ("Name", "NAME"),
        ("CPUPerc", "CPU %"),
        ("MemUsage", "MEM USAGE / LIMIT"),
        ("MemPerc", "MEM %"),
        ("NetIO", "NET I/O"),
        ("BlockIO", "BLOCK I/O"),
        ("PIDs", "PIDS"),
    ],
    older_errors: true,
};

/// `berth stats`.
pub async fn stats(m: &Manager, a: &StatsArgs) -> i32 {
    let fmt = match ListFormat::from_flag(a.format.as_deref(), &STATS_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
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
                Err(_) => rows.push(json!({
                    "Container": short_id(&c.id), "ID": short_id(&c.id), "Name": c.name,
                    "CPUPerc": "--", "MemUsage": "-- / --", "MemPerc": "--",
                    "NetIO": "--", "BlockIO": "--", "PIDs": "--",
                })),
            }
        }
        let last = round + 1 == rounds;
        if !a.no_stream || last {
            if tty && !a.no_stream {
                print!("\x1b[2J\x1b[H");
            }
            let code = fmt.print(&rows, &STATS_COLUMNS);
            if code != 0 {
                return code;
            }
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

/// One event as docker's `events.Message`: what `--format` templates see.
pub fn event_json(e: &Event) -> serde_json::Value {
    let t = ts(e.time.as_ref());
    let mut m = json!({
        "Type": e.type_, "Action": e.action,
        "Actor": {"ID": e.id, "Attributes": e.attributes},
        "scope": "local",
        "time": t.map(|t| t.timestamp()).unwrap_or(0),
        "timeNano": t.and_then(|t| t.timestamp_nanos_opt()).unwrap_or(0),
    });
    // docker still sends the old status/id/from keys for containers
    if e.type_ == "container" {
        m["status"] = json!(e.action);
        m["id"] = json!(e.id);
        if let Some(image) = e.attributes.get("image") {
            m["from"] = json!(image);
        }
    }
    m
}

/// How `events` prints: docker's line, `json`, or a template.
enum EventFormat {
    Line,
    Json,
    Template(crate::template::Template),
}

const EVENT_CONTEXT: crate::template::Missing = crate::template::Missing::Struct("*events.Message");

fn event_format(flag: Option<&str>) -> Result<EventFormat, String> {
    match flag.map(str::trim) {
        None | Some("") => Ok(EventFormat::Line),
        Some("json") => Ok(EventFormat::Json),
        Some(f) => {
            let body = f.replace("\\t", "\t").replace("\\n", "\n");
            let tpl = crate::template::Template::parse(&body).map_err(|e| e.to_string())?;
            // a field no event has is refused up front, as docker does
            tpl.execute(&event_json(&Event::new()), EVENT_CONTEXT)
                .map_err(|e| e.to_string())?;
            Ok(EventFormat::Template(tpl))
        }
    }
}

/// `berth events`: the manager's recorded events from `--since` (or, with
/// only `--until`, from the oldest recorded), then live ones until
/// `--until`; without either, live events alone.
pub async fn events(m: &Manager, a: &EventsArgs) -> i32 {
    let fmt = match event_format(a.format.as_deref()) {
        Ok(f) => f,
        Err(e) => {
            eprintln!("Error parsing format: {e}");
            return 64;
        }
    };
    let window = match Window::parse(a.since.as_deref(), a.until.as_deref(), Utc::now()) {
        Ok(w) => w,
        Err(e @ WindowError::Time(_)) => return fail(CliError::Invalid(e.to_string())),
        Err(e) => {
            return fail(CliError::Daemon {
                code: ttrpc::Code::INVALID_ARGUMENT,
                message: e.to_string(),
            })
        }
    };
    let (mut rx, deadline) = match crate::event_window::open(m, a.filter.clone(), &window).await {
        Ok(s) => (s.rx, s.deadline),
        Err(e) => return fail(e),
    };
    loop {
        let next = match deadline {
            Some(d) => match tokio::time::timeout_at(d, rx.recv()).await {
                Ok(n) => n,
                Err(_) => return 0,
            },
            None => rx.recv().await,
        };
        match next {
            Ok(Some(e)) => {
                if !window.holds(ts(e.time.as_ref())) {
                    continue;
                }
                match &fmt {
                    EventFormat::Line => println!("{}", event_line(&e)),
                    EventFormat::Json => println!("{}", crate::template::json_go(&event_json(&e))),
                    EventFormat::Template(tpl) => match tpl.execute(&event_json(&e), EVENT_CONTEXT)
                    {
                        Ok(s) => println!("{s}"),
                        Err(err) => return fail(CliError::Invalid(err.to_string())),
                    },
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

    #[test]
    fn mounts_of_shows_binds_only() {
        let mut c = ContainerInfo::new();
        c.spec_json = r#"{"process":{"args":["true"],"env":["A=1"]},"mounts":[
            {"destination":"/proc","type":"proc","source":"proc"},
            {"destination":"/data","type":"bind","source":"/srv/data","options":["rbind"]}],
            "hostname":"h"}"#
            .into();
        assert_eq!(
            mounts_of(&c),
            (vec!["/srv/data".to_string()], vec!["/data".to_string()])
        );
        assert_eq!(spec_args(&c), ["true"]);
    }
}
