//! runc's command line: the clap definitions and the Go-style flag spelling
//! (`-bundle x`, `--pid-file=x`) that runc's callers use.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// Default state directory when run as root, as runc keeps `/run/runc`.
pub const DEFAULT_ROOT: &str = "/run/berth-runtime";

#[derive(Parser, Debug)]
#[command(
    name = "berth-runtime",
    version,
    about = "berth's OCI runtime, a drop-in for runc",
    disable_help_subcommand = false
)]
pub struct Cli {
    /// root directory for storage of container state
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// file to write the runtime's log to (default: stderr)
    #[arg(long, global = true, value_name = "FILE")]
    pub log: Option<PathBuf>,
    /// log format: text or json
    #[arg(long = "log-format", global = true, default_value = "text")]
    pub log_format: LogFormat,
    /// enable debug logging
    #[arg(long, global = true)]
    pub debug: bool,
    /// manage cgroups through systemd
    #[arg(long = "systemd-cgroup", global = true)]
    pub systemd_cgroup: bool,
    /// accepted for runc compatibility; criu is not supported
    #[arg(long, global = true, hide = true)]
    pub criu: Option<String>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum ListFormat {
    Table,
    Json,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// create a container
    Create(CreateArgs),
    /// executes the user defined process in a created container
    Start { id: String },
    /// create and run a container
    Run(RunArgs),
    /// output the state of a container
    State { id: String },
    /// kill sends the specified signal (default: SIGTERM) to the container's init process
    Kill(KillArgs),
    /// delete any resources held by the container
    Delete(DeleteArgs),
    /// execute new process inside the container
    Exec(ExecArgs),
    /// ps displays the processes running inside a container
    Ps(PsArgs),
    /// lists containers started by berth-runtime with the given root
    #[command(alias = "ls")]
    List(ListArgs),
    /// pause suspends all processes inside the container
    Pause { id: String },
    /// resumes all processes that have been previously paused
    Resume { id: String },
    /// display container events such as OOM notifications, cpu, memory, and IO usage statistics
    Events(EventsArgs),
    /// update container resource constraints
    Update(UpdateArgs),
    /// create a new specification file
    Spec(SpecArgs),
    /// show the enabled features
    Features,
}

#[derive(Args, Debug, Clone)]
pub struct CreateArgs {
    /// path to the root of the bundle directory
    #[arg(short, long, default_value = ".")]
    pub bundle: PathBuf,
    /// path to an AF_UNIX socket which will receive the console's pseudoterminal master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// do not use pivot root to jail process inside rootfs
    #[arg(long = "no-pivot")]
    pub no_pivot: bool,
    /// do not create a new session keyring for the container
    #[arg(long = "no-new-keyring")]
    pub no_new_keyring: bool,
    /// pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// accepted for runc compatibility (SELinux/AppArmor labels are not applied)
    #[arg(long = "no-subreaper", hide = true)]
    pub no_subreaper: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub create: CreateArgs,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// do not delete the container after it exits
    #[arg(long)]
    pub keep: bool,
}

#[derive(Args, Debug)]
pub struct KillArgs {
    /// send the signal to all processes in the container
    #[arg(short, long)]
    pub all: bool,
    pub id: String,
    /// signal name (KILL, SIGKILL) or number; default SIGTERM
    pub signal: Option<String>,
}

#[derive(Args, Debug)]
pub struct DeleteArgs {
    /// forcibly delete the container if it is still running (uses SIGKILL)
    #[arg(short, long)]
    pub force: bool,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct ExecArgs {
    /// path to an AF_UNIX socket which will receive the console's pseudoterminal master
    #[arg(long = "console-socket")]
    pub console_socket: Option<PathBuf>,
    /// current working directory in the container
    #[arg(long)]
    pub cwd: Option<String>,
    /// set environment variables
    #[arg(short, long = "env")]
    pub env: Vec<String>,
    /// allocate a pseudo-TTY
    #[arg(short, long)]
    pub tty: bool,
    /// UID (format: <uid>[:<gid>])
    #[arg(short, long)]
    pub user: Option<String>,
    /// additional gids
    #[arg(short = 'g', long = "additional-gids")]
    pub additional_gids: Vec<u32>,
    /// path to the process.json
    #[arg(short, long)]
    pub process: Option<PathBuf>,
    /// detach from the container's process
    #[arg(short, long)]
    pub detach: bool,
    /// specify the file to write the process id to
    #[arg(long = "pid-file")]
    pub pid_file: Option<PathBuf>,
    /// set the asm process label (not applied)
    #[arg(long = "process-label", hide = true)]
    pub process_label: Option<String>,
    /// set the apparmor profile (not applied)
    #[arg(long, hide = true)]
    pub apparmor: Option<String>,
    /// set the no new privileges value for the process
    #[arg(long = "no-new-privs")]
    pub no_new_privs: bool,
    /// add a capability to the bounding set for the process
    #[arg(short, long = "cap")]
    pub cap: Vec<String>,
    /// pass N additional file descriptors to the container
    #[arg(long = "preserve-fds", default_value_t = 0)]
    pub preserve_fds: u32,
    /// run the process in an (existing) sub-cgroup (accepted, not supported)
    #[arg(long = "cgroup", hide = true)]
    pub cgroup: Vec<String>,
    /// ignore paused state (accepted for compatibility)
    #[arg(long = "ignore-paused", hide = true)]
    pub ignore_paused: bool,
    pub id: String,
    /// command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Args, Debug)]
pub struct PsArgs {
    /// select one of: table or json
    #[arg(short, long, default_value = "table")]
    pub format: ListFormat,
    pub id: String,
    /// options passed to ps (default -ef)
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub ps_args: Vec<String>,
}

#[derive(Args, Debug)]
pub struct ListArgs {
    /// select one of: table or json
    #[arg(short, long, default_value = "table")]
    pub format: ListFormat,
    /// display only container IDs
    #[arg(short, long)]
    pub quiet: bool,
}

#[derive(Args, Debug)]
pub struct EventsArgs {
    /// display the container's stats then exit
    #[arg(long)]
    pub stats: bool,
    /// set the stats collection interval (e.g. 5s, 500ms)
    #[arg(long, default_value = "5s")]
    pub interval: String,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct UpdateArgs {
    /// path to a file containing the resources to update, or "-" to read from stdin
    #[arg(short, long)]
    pub resources: Option<PathBuf>,
    #[arg(long = "blkio-weight")]
    pub blkio_weight: Option<u16>,
    #[arg(long = "cpu-period")]
    pub cpu_period: Option<u64>,
    #[arg(long = "cpu-quota")]
    pub cpu_quota: Option<i64>,
    #[arg(long = "cpu-share")]
    pub cpu_share: Option<u64>,
    #[arg(long = "cpu-rt-period")]
    pub cpu_rt_period: Option<u64>,
    #[arg(long = "cpu-rt-runtime")]
    pub cpu_rt_runtime: Option<i64>,
    #[arg(long = "cpuset-cpus")]
    pub cpuset_cpus: Option<String>,
    #[arg(long = "cpuset-mems")]
    pub cpuset_mems: Option<String>,
    #[arg(long = "kernel-memory")]
    pub kernel_memory: Option<String>,
    #[arg(long = "kernel-memory-tcp")]
    pub kernel_memory_tcp: Option<String>,
    #[arg(long)]
    pub memory: Option<String>,
    #[arg(long = "memory-reservation")]
    pub memory_reservation: Option<String>,
    #[arg(long = "memory-swap")]
    pub memory_swap: Option<String>,
    #[arg(long = "pids-limit")]
    pub pids_limit: Option<i64>,
    #[arg(long = "l3-cache-schema", hide = true)]
    pub l3_cache_schema: Option<String>,
    #[arg(long = "mem-bw-schema", hide = true)]
    pub mem_bw_schema: Option<String>,
    pub id: String,
}

#[derive(Args, Debug)]
pub struct SpecArgs {
    /// path to the root of the bundle directory
    #[arg(short, long)]
    pub bundle: Option<PathBuf>,
    /// generate a configuration for a rootless container
    #[arg(long)]
    pub rootless: bool,
}

/// Long flags runc accepts with a single dash (Go's flag package style).
const LONG_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "debug",
    "systemd-cgroup",
    "criu",
    "rootless",
    "bundle",
    "console-socket",
    "pid-file",
    "no-pivot",
    "no-new-keyring",
    "preserve-fds",
    "no-subreaper",
    "detach",
    "keep",
    "all",
    "force",
    "cwd",
    "env",
    "tty",
    "user",
    "additional-gids",
    "process",
    "process-label",
    "apparmor",
    "no-new-privs",
    "cap",
    "cgroup",
    "ignore-paused",
    "format",
    "quiet",
    "stats",
    "interval",
    "resources",
    "blkio-weight",
    "cpu-period",
    "cpu-quota",
    "cpu-share",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-cpus",
    "cpuset-mems",
    "kernel-memory",
    "kernel-memory-tcp",
    "memory",
    "memory-reservation",
    "memory-swap",
    "pids-limit",
    "l3-cache-schema",
    "mem-bw-schema",
    "version",
    "help",
];

/// Flags whose value is the next argument, so it is never taken for a
/// positional argument.
const VALUE_FLAGS: &[&str] = &[
    "root",
    "log",
    "log-format",
    "criu",
    "rootless",
    "bundle",
    "b",
    "console-socket",
    "pid-file",
    "preserve-fds",
    "cwd",
    "env",
    "e",
    "user",
    "u",
    "additional-gids",
    "g",
    "process",
    "p",
    "process-label",
    "apparmor",
    "cap",
    "c",
    "cgroup",
    "format",
    "f",
    "interval",
    "resources",
    "r",
    "blkio-weight",
    "cpu-period",
    "cpu-quota",
    "cpu-share",
    "cpu-rt-period",
    "cpu-rt-runtime",
    "cpuset-cpus",
    "cpuset-mems",
    "kernel-memory",
    "kernel-memory-tcp",
    "memory",
    "memory-reservation",
    "memory-swap",
    "pids-limit",
    "l3-cache-schema",
    "mem-bw-schema",
];

/// Commands whose trailing arguments belong to a program run in the
/// container, so flag rewriting must stop once they start.
const PASSTHROUGH_AFTER: &[(&str, usize)] = &[("exec", 2), ("ps", 1)];

/// Rewrites Go-style `-flag` spellings of runc's long flags into `--flag`,
/// leaving the container command of `exec` (and `ps` options) untouched.
/// The subcommand's name, found without a full parse (which the sealed
/// re-exec would otherwise pay twice): the first argument that is neither a
/// global flag nor a global flag's value.  Expects [`normalize_args`]' output.
pub fn subcommand_name(args: &[String]) -> Option<&str> {
    const TAKES_VALUE: [&str; 4] = ["--root", "--log", "--log-format", "--criu"];
    let mut rest = args.iter().skip(1);
    while let Some(arg) = rest.next() {
        if TAKES_VALUE.contains(&arg.as_str()) {
            rest.next();
        } else if !arg.starts_with('-') {
            return Some(arg);
        }
    }
    None
}

pub fn normalize_args<I: IntoIterator<Item = String>>(args: I) -> Vec<String> {
    let mut out = Vec::new();
    let mut iter = args.into_iter();
    if let Some(argv0) = iter.next() {
        out.push(argv0);
    }
    let mut subcommand: Option<String> = None;
    let mut positionals_after_sub = 0usize;
    let mut expect_value = false;
    let mut passthrough = false;
    for arg in iter {
        if passthrough {
            out.push(arg);
            continue;
        }
        if expect_value {
            expect_value = false;
            out.push(arg);
            continue;
        }
        if arg == "--" {
            passthrough = true;
            out.push(arg);
            continue;
        }
        if let Some(rest) = arg.strip_prefix('-') {
            let body = rest.strip_prefix('-').unwrap_or(rest);
            let (name, has_inline_value) = match body.split_once('=') {
                Some((n, _)) => (n, true),
                None => (body, false),
            };
            let is_single_dash = !rest.starts_with('-');
            let rewritten = if is_single_dash && name.len() > 1 && LONG_FLAGS.contains(&name) {
                format!("-{arg}")
            } else {
                arg.clone()
            };
            if !has_inline_value && VALUE_FLAGS.contains(&name) {
                expect_value = true;
            }
            out.push(rewritten);
            continue;
        }
        match &subcommand {
            None => subcommand = Some(arg.clone()),
            Some(sub) => {
                positionals_after_sub += 1;
                if let Some((_, n)) = PASSTHROUGH_AFTER.iter().find(|(s, _)| s == sub) {
                    if positionals_after_sub >= *n {
                        passthrough = true;
                    }
                }
            }
        }
        out.push(arg);
    }
    out
}

/// Parses exec's `--user uid[:gid]`.
pub fn parse_user(s: &str) -> Result<(u32, Option<u32>), String> {
    let (u, g) = match s.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (s, None),
    };
    let uid = u
        .parse()
        .map_err(|_| format!("invalid user {s:?}: want uid[:gid] as numbers"))?;
    let gid = g
        .map(|g| {
            g.parse()
                .map_err(|_| format!("invalid user {s:?}: want uid[:gid] as numbers"))
        })
        .transpose()?;
    Ok((uid, gid))
}

/// Parses a Go-style duration (`5s`, `500ms`, `1m`).
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let err = || format!("invalid duration {s:?}");
    let split = s.find(|c: char| c.is_ascii_alphabetic()).ok_or_else(err)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| err())?;
    let secs = match unit {
        "ns" => n / 1e9,
        "us" | "µs" => n / 1e6,
        "ms" => n / 1e3,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(err()),
    };
    if secs <= 0.0 {
        return Err(err());
    }
    Ok(std::time::Duration::from_secs_f64(secs))
}

#[cfg(test)]
mod subcommand_name_tests {
    use super::*;

    fn name(args: &[&str]) -> Option<String> {
        let args = normalize_args(args.iter().map(|a| a.to_string()));
        subcommand_name(&args).map(str::to_string)
    }

    #[test]
    fn skips_global_flags_and_their_values() {
        assert_eq!(name(&["rt", "create", "x"]).as_deref(), Some("create"));
        assert_eq!(
            name(&["rt", "--root", "/r", "--log", "/l", "--debug", "run", "x"]).as_deref(),
            Some("run")
        );
        assert_eq!(
            name(&["rt", "-root", "/r", "exec", "x"]).as_deref(),
            Some("exec")
        );
        assert_eq!(
            name(&["rt", "--log-format=json", "state", "x"]).as_deref(),
            Some("state")
        );
        assert_eq!(name(&["rt", "--debug"]), None);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(args: &[&str]) -> Vec<String> {
        normalize_args(args.iter().map(|s| s.to_string()))
    }

    #[test]
    fn go_style_long_flags_get_two_dashes() {
        assert_eq!(
            norm(&["r", "-root", "/x", "create", "-bundle", "/b", "id"]),
            ["r", "--root", "/x", "create", "--bundle", "/b", "id"]
        );
        assert_eq!(
            norm(&["r", "create", "-pid-file=/p", "id"]),
            ["r", "create", "--pid-file=/p", "id"]
        );
    }

    #[test]
    fn short_flags_stay() {
        assert_eq!(
            norm(&["r", "delete", "-f", "id"]),
            ["r", "delete", "-f", "id"]
        );
    }

    #[test]
    fn exec_command_is_left_alone() {
        assert_eq!(
            norm(&["r", "exec", "-tty", "id", "ls", "-all", "-env"]),
            ["r", "exec", "--tty", "id", "ls", "-all", "-env"]
        );
        assert_eq!(
            norm(&["r", "exec", "-cwd", "/", "id", "sh", "-c", "x"]),
            ["r", "exec", "--cwd", "/", "id", "sh", "-c", "x"]
        );
    }

    #[test]
    fn values_are_not_rewritten() {
        assert_eq!(
            norm(&["r", "--log", "-debug", "state", "id"]),
            ["r", "--log", "-debug", "state", "id"]
        );
    }

    #[test]
    fn parses_runc_style_command_lines() {
        let cli = Cli::try_parse_from(norm(&[
            "r",
            "-root",
            "/tmp/x",
            "create",
            "-bundle",
            "/b",
            "--pid-file",
            "/p",
            "c1",
        ]))
        .unwrap();
        assert_eq!(cli.root.as_deref(), Some(std::path::Path::new("/tmp/x")));
        match cli.command {
            Command::Create(c) => {
                assert_eq!(c.id, "c1");
                assert_eq!(c.bundle, PathBuf::from("/b"));
            }
            other => panic!("unexpected {other:?}"),
        }
        let cli = Cli::try_parse_from(norm(&["r", "kill", "c1", "KILL"])).unwrap();
        assert!(matches!(cli.command, Command::Kill(k) if k.signal.as_deref() == Some("KILL")));
        let cli =
            Cli::try_parse_from(norm(&["r", "exec", "-t", "c1", "sh", "-c", "echo"])).unwrap();
        assert!(
            matches!(cli.command, Command::Exec(e) if e.tty && e.command == ["sh", "-c", "echo"])
        );
    }
}

#[cfg(test)]
mod value_tests {
    use super::*;

    #[test]
    fn users_and_durations() {
        assert_eq!(parse_user("1000:100"), Ok((1000, Some(100))));
        assert_eq!(parse_user("7"), Ok((7, None)));
        assert!(parse_user("bob").is_err());
        assert_eq!(parse_duration("5s"), Ok(std::time::Duration::from_secs(5)));
        assert_eq!(
            parse_duration("250ms"),
            Ok(std::time::Duration::from_millis(250))
        );
        assert!(parse_duration("5").is_err());
    }
}
