//! `berth volume create|ls|inspect|rm|prune`, in docker's output shapes.

use std::collections::{BTreeMap, HashMap};
use std::io::Write;

use berth_proto::volumes::{
    CreateVolumeRequest, GetVolumeRequest, ListVolumesRequest, PruneVolumesRequest,
    RemoveVolumeRequest, VolumeInfo,
};
use clap::{Args, Subcommand};
use serde_json::{json, Value};

use crate::client::Manager;
use crate::error::CliError;
use crate::format;
use crate::prune_filters::PruneKind;
use crate::render::{Columns, ListFormat};
use berth_proto::prune_filter::PruneFilter;

#[derive(Debug, Args)]
pub struct VolumeArgs {
    #[command(subcommand)]
    pub command: VolumeCommand,
}

#[derive(Debug, Subcommand)]
pub enum VolumeCommand {
    /// Create a volume
    Create(CreateArgs),
    /// List volumes
    #[command(alias = "list")]
    Ls(LsArgs),
    /// Display detailed information on one or more volumes
    Inspect(InspectArgs),
    /// Remove one or more volumes
    #[command(alias = "remove")]
    Rm(RmArgs),
    /// Remove all unused local volumes
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    /// Specify volume name
    #[arg(long = "name")]
    pub name_flag: Option<String>,
    /// Specify volume driver name
    #[arg(short = 'd', long = "driver", default_value = "local")]
    pub driver: String,
    /// Set driver specific options (type, device, o)
    #[arg(short = 'o', long = "opt")]
    pub opt: Vec<String>,
    /// Set metadata for a volume
    #[arg(long = "label")]
    pub label: Vec<String>,
    pub name: Option<String>,
}

#[derive(Debug, Args)]
pub struct LsArgs {
    /// Only display volume names
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Provide filter values (e.g. 'dangling=true', 'name=NAME', 'label=KEY[=VALUE]', 'driver=local')
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output: table (default) or json
    #[arg(long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format the output using a template: {{.Path.To.Field}} or {{json .Field}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Do not fail on a volume that does not exist
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

fn key_values(list: &[String], what: &str) -> Result<BTreeMap<String, String>, CliError> {
    let mut out = BTreeMap::new();
    for kv in list {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        if k.is_empty() {
            return Err(CliError::Invalid(format!("invalid {what}: '{kv}'")));
        }
        out.insert(k.to_string(), v.to_string());
    }
    Ok(out)
}

/// `volume create`: prints the name.
pub async fn create(m: &Manager, a: &CreateArgs) -> i32 {
    let name = match (&a.name_flag, &a.name) {
        (Some(x), Some(y)) if x != y => {
            eprintln!(
                "Conflicting options: either specify --name or provide positional arg, not both"
            );
            return 1;
        }
        (Some(x), _) | (None, Some(x)) => x.clone(),
        (None, None) => String::new(),
    };
    let parsed = key_values(&a.opt, "option").and_then(|o| Ok((o, key_values(&a.label, "label")?)));
    let (options, labels) = match parsed {
        Ok(x) => x,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let mut r = CreateVolumeRequest::new();
    r.name = name;
    r.driver = a.driver.clone();
    r.options = options.into_iter().collect::<HashMap<_, _>>();
    r.labels = labels.into_iter().collect::<HashMap<_, _>>();
    match m.volumes.create_volume(m.ctx(), &r).await {
        Ok(v) => {
            println!("{}", v.name);
            0
        }
        Err(e) => {
            eprintln!("{}", m.err(e));
            1
        }
    }
}

/// A volume list filter.
#[derive(Debug, PartialEq, Eq)]
pub enum Filter {
    Dangling(bool),
    Name(String),
    Driver(String),
    Label(String, Option<String>),
}

pub fn parse_filter(f: &str) -> Result<Filter, CliError> {
    let Some((k, v)) = f.split_once('=') else {
        return Err(CliError::Invalid(format!(
            "Error: bad format of filter (expected name=value): {f}"
        )));
    };
    match k {
        "dangling" => match v {
            "true" | "1" => Ok(Filter::Dangling(true)),
            "false" | "0" => Ok(Filter::Dangling(false)),
            _ => Err(CliError::Invalid(format!(
                "Error response from daemon: invalid filter 'dangling={v}'"
            ))),
        },
        "name" => Ok(Filter::Name(v.to_string())),
        "driver" => Ok(Filter::Driver(v.to_string())),
        "label" => Ok(match v.split_once('=') {
            Some((k, v)) => Filter::Label(k.to_string(), Some(v.to_string())),
            None => Filter::Label(v.to_string(), None),
        }),
        _ => Err(CliError::Invalid(format!(
            "Error response from daemon: Invalid filter '{k}'"
        ))),
    }
}

pub fn matches(v: &VolumeInfo, f: &Filter) -> bool {
    match f {
        Filter::Dangling(d) => v.used_by.is_empty() == *d,
        Filter::Name(n) => v.name.contains(n.as_str()),
        Filter::Driver(d) => v.driver == *d,
        Filter::Label(k, val) => match (v.labels.get(k), val) {
            (Some(x), Some(want)) => x == want,
            (Some(_), None) => true,
            (None, _) => false,
        },
    }
}

/// docker's rule for a volume list: values of one filter key are
/// alternatives, different keys (and every label) must all hold.
pub fn matches_all(v: &VolumeInfo, filters: &[Filter]) -> bool {
    let key = |f: &Filter| std::mem::discriminant(f);
    filters.iter().all(|f| match f {
        Filter::Label(..) => matches(v, f),
        _ => filters
            .iter()
            .filter(|g| key(g) == key(f))
            .any(|g| matches(v, g)),
    })
}

fn labels_line(v: &VolumeInfo) -> String {
    let mut l: Vec<String> = v.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
    l.sort();
    l.join(",")
}

/// One `volume ls --format json` line, with docker's keys.
pub fn ls_json(v: &VolumeInfo) -> Value {
    json!({
        "Availability": "N/A", "Driver": v.driver, "Group": "N/A",
        "Labels": labels_line(v), "Links": "N/A", "Mountpoint": v.mountpoint,
        "Name": v.name, "Scope": "local", "Size": "N/A", "Status": "N/A",
    })
}

pub async fn list(m: &Manager, sizes: bool) -> Result<Vec<VolumeInfo>, CliError> {
    let mut r = ListVolumesRequest::new();
    r.sizes = sizes;
    let mut v = m
        .volumes
        .list_volumes(m.ctx(), &r)
        .await
        .map_err(|e| m.err(e))?
        .volumes;
    v.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(v)
}

/// `volume ls`.
pub async fn ls(m: &Manager, a: &LsArgs) -> i32 {
    let filters: Result<Vec<Filter>, _> = a.filter.iter().map(|f| parse_filter(f)).collect();
    let filters = match filters {
        Ok(f) => f,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let list_fmt = match ListFormat::from_flag(a.format.as_deref(), &VOLUME_COLUMNS) {
        Ok(f) => f,
        Err(code) => return code,
    };
    let vols = match list(m, false).await {
        Ok(v) => v,
        Err(e) => {
            eprintln!("{e}");
            return 1;
        }
    };
    let vols: Vec<_> = vols
        .into_iter()
        .filter(|v| matches_all(v, &filters))
        .collect();
    if a.quiet {
        let out: String = vols.iter().map(|v| format!("{}\n", v.name)).collect();
        let _ = std::io::stdout().write_all(out.as_bytes());
        return 0;
    }
    let rows: Vec<Value> = vols.iter().map(ls_json).collect();
    list_fmt.print(&rows, &VOLUME_COLUMNS)
}

/// `volume ls`'s fields and headers, as docker's volume context names them.
pub const VOLUME_COLUMNS: Columns = Columns {
    context: "*formatter.volumeContext",
    default: "table {{.Driver}}\\t{{.Name}}",
    headers: &[
        ("Name", "VOLUME NAME"),
        ("Driver", "DRIVER"),
        ("Scope", "SCOPE"),
        ("Mountpoint", "MOUNTPOINT"),
        ("Labels", "LABELS"),
        ("Links", "LINKS"),
        ("Size", "SIZE"),
        ("Availability", "AVAILABILITY"),
        ("Group", "GROUP"),
        ("Status", "STATUS"),
    ],
    older_errors: false,
};

/// `volume inspect`'s object for one volume.
pub fn inspect_json(v: &VolumeInfo) -> Value {
    let map = |m: &HashMap<String, String>| -> Value {
        if m.is_empty() {
            Value::Null
        } else {
            let sorted: BTreeMap<_, _> = m.iter().collect();
            json!(sorted)
        }
    };
    json!({
        "CreatedAt": format::ts(v.created_at.as_ref())
            .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
            .unwrap_or_default(),
        "Driver": v.driver,
        "Labels": map(&v.labels),
        "Mountpoint": v.mountpoint,
        "Name": v.name,
        "Options": map(&v.options),
        "Scope": "local",
    })
}

/// `volume inspect`.
pub async fn inspect(m: &Manager, a: &InspectArgs) -> i32 {
    if let Err(e) = crate::render::check_inspect(a.format.as_deref()) {
        eprintln!("{e}");
        return e.exit_code();
    }
    let mut found = Vec::new();
    let mut code = 0;
    let mut errors = Vec::new();
    for n in &a.names {
        let mut r = GetVolumeRequest::new();
        r.name = n.clone();
        match m.volumes.get_volume(m.ctx(), &r).await {
            Ok(v) => found.push(inspect_json(&v)),
            Err(e) => {
                errors.push(m.err(e).to_string());
                code = 1;
            }
        }
    }
    let printed = crate::render::print_inspect(&found, a.format.as_deref());
    if printed != 0 {
        return printed;
    }
    for e in errors {
        eprintln!("{e}");
    }
    code
}

/// `volume rm`: prints each removed name.
pub async fn rm(m: &Manager, a: &RmArgs) -> i32 {
    let mut code = 0;
    for n in &a.names {
        let mut r = RemoveVolumeRequest::new();
        r.name = n.clone();
        r.force = a.force;
        match m.volumes.remove_volume(m.ctx(), &r).await {
            Ok(_) => println!("{n}"),
            Err(e) => {
                eprintln!("{}", m.err(e));
                code = 1;
            }
        }
    }
    code
}

/// Asks docker's question on the terminal; true to go on.
pub fn confirm(warning: &str) -> bool {
    print!("{warning}\nAre you sure you want to continue? [y/N] ");
    let _ = std::io::stdout().flush();
    let mut line = String::new();
    if std::io::stdin().read_line(&mut line).is_err() {
        return false;
    }
    matches!(line.trim(), "y" | "Y" | "yes" | "Yes")
}

/// Removes unused volumes; prints docker's "Deleted Volumes:" block and
/// returns the bytes reclaimed.
pub async fn prune_volumes(m: &Manager, filter: PruneFilter) -> Result<u64, CliError> {
    let req = PruneVolumesRequest {
        filter: Some(filter).into(),
        ..Default::default()
    };
    let r = m
        .volumes
        .prune_volumes(m.ctx(), &req)
        .await
        .map_err(|e| m.err(e))?;
    if !r.volumes_deleted.is_empty() {
        println!("Deleted Volumes:");
        for v in &r.volumes_deleted {
            println!("{v}");
        }
        println!();
    }
    Ok(r.space_reclaimed)
}

/// `volume prune`.
pub async fn prune(m: &Manager, a: &PruneArgs) -> i32 {
    let filter = match crate::prune_filters::from_flags(&a.filter, PruneKind::Volumes) {
        Ok(f) => f,
        Err(code) => return code,
    };
    if !a.force
        && !confirm(
            "WARNING! This will remove all local volumes not used by at least one container.",
        )
    {
        return 0;
    }
    match prune_volumes(m, filter).await {
        Ok(n) => {
            println!("Total reclaimed space: {}", format::human_size(n));
            0
        }
        Err(e) => {
            eprintln!("{e}");
            1
        }
    }
}

/// Removes the anonymous volumes a removed container's spec mounted and no
/// other container uses (`rm -v`); a volume still in use stays, as in docker.
pub async fn remove_anonymous(m: &Manager, spec_json: &str) -> Result<(), CliError> {
    let sources: Vec<String> = crate::mounts::binds_of_spec(spec_json, None)
        .into_iter()
        .map(|b| b.source)
        .collect();
    for v in list(m, false).await? {
        if v.anonymous && v.used_by.is_empty() && sources.contains(&v.mountpoint) {
            let mut r = RemoveVolumeRequest::new();
            r.name = v.name.clone();
            r.force = true;
            if let Err(e) = m.volumes.remove_volume(m.ctx(), &r).await {
                let e = m.err(e);
                if !e.is_not_found() {
                    return Err(e);
                }
            }
        }
    }
    Ok(())
}

/// `volume` dispatch.
pub async fn volume(m: &Manager, a: &VolumeArgs) -> i32 {
    match &a.command {
        VolumeCommand::Create(c) => create(m, c).await,
        VolumeCommand::Ls(l) => ls(m, l).await,
        VolumeCommand::Inspect(i) => inspect(m, i).await,
        VolumeCommand::Rm(r) => rm(m, r).await,
        VolumeCommand::Prune(p) => prune(m, p).await,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vol(name: &str, used: bool) -> VolumeInfo {
        VolumeInfo {
            name: name.into(),
            driver: "local".into(),
            mountpoint: format!("/r/volumes/{name}/_data"),
            labels: [("a".to_string(), "b".to_string())].into(),
            used_by: if used { vec!["c1".into()] } else { vec![] },
            ..Default::default()
        }
    }

    #[test]
    fn filters_like_docker() {
        let (v1, v2) = (vol("data-1", true), vol("cache", false));
        let f = |s: &str| parse_filter(s).unwrap();
        assert!(matches(&v2, &f("dangling=true")) && !matches(&v1, &f("dangling=true")));
        assert!(matches(&v1, &f("dangling=false")));
        assert!(matches(&v1, &f("name=ata")) && !matches(&v2, &f("name=ata")));
        assert!(matches(&v1, &f("label=a")) && matches(&v1, &f("label=a=b")));
        assert!(!matches(&v1, &f("label=a=c")) && !matches(&v1, &f("label=z")));
        assert!(matches(&v1, &f("driver=local")));
        // one key's values are alternatives; labels must all hold
        let both = [f("name=data"), f("name=cache")];
        assert!(matches_all(&v1, &both) && matches_all(&v2, &both));
        assert!(!matches_all(&v1, &[f("name=data"), f("label=z")]));
        assert_eq!(
            parse_filter("bogus=1").unwrap_err().to_string(),
            "Error response from daemon: Invalid filter 'bogus'"
        );
        assert!(parse_filter("dangling=maybe").is_err());
        assert!(parse_filter("nokey").is_err());
    }

    #[test]
    fn json_shapes() {
        let v = vol("v1", false);
        let l = ls_json(&v);
        assert_eq!(l["Labels"], "a=b");
        assert_eq!(l["Mountpoint"], "/r/volumes/v1/_data");
        let i = inspect_json(&v);
        assert_eq!(i["Labels"], json!({"a": "b"}));
        assert_eq!(i["Options"], Value::Null);
        assert_eq!(i["Scope"], "local");
    }
}
