//! The command line: docker's commands and flags.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "berth",
    about = "berth: run containers, docker-style, with no daemon to install",
    disable_version_flag = true
)]
pub struct Cli {
    /// State dir: the manager's socket, FIFOs and log (env BERTH_STATE)
    #[arg(long, global = true, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Root dir: images, snapshots, containers (env BERTH_ROOT)
    #[arg(long, global = true, value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Print version information and quit
    #[arg(short = 'v', long = "version")]
    pub version: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Create and run a new container from an image
    Run(RunArgs),
    /// Create a new container
    Create(CreateArgs),
    /// Start one or more stopped containers
    Start(StartArgs),
    /// Stop one or more running containers
    Stop(StopArgs),
    /// Restart one or more containers
    Restart(StopArgs),
    /// Kill one or more running containers
    Kill(KillArgs),
    /// Remove one or more containers
    Rm(RmArgs),
    /// List containers
    Ps(PsArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Pause all processes within one or more containers
    Pause(Names),
    /// Unpause all processes within one or more containers
    Unpause(Names),
    /// Return low-level information on containers or images
    Inspect(InspectArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Names),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Display a live stream of container resource usage statistics
    Stats(StatsArgs),
    /// Get real time events from the manager
    Events(EventsArgs),
    /// List images
    Images(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PullArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Remove one or more images
    Rmi(RmiArgs),
    /// Load an image from a tar archive
    Load(LoadArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
    /// Manage networks
    Network(crate::commands::network::NetworkArgs),
    /// List port mappings or a specific mapping for the container
    Port(crate::commands::network::PortArgs),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Manage images
    Image(ImageArgs),
    /// Manage berth
    System(SystemArgs),
    /// Show the berth version information
    Version(FormatArgs),
    /// Manage volumes
    Volume(crate::commands::volume::VolumeArgs),
    /// Manage containers
    Container(crate::groups::ContainerArgs),
    /// Manage builds
    Builder(crate::groups::BuilderArgs),
    /// Rename a container
    Rename(crate::groups::RenameArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(crate::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(crate::cp::export::ExportArgs),
    /// Update configuration of one or more containers
    Update(crate::commands::update::UpdateArgs),
    /// Search Docker Hub for images
    Search(crate::commands::search::SearchArgs),
    /// Manage contexts
    Context(crate::commands::context::ContextArgs),
    /// Authenticate to a registry
    Login(crate::auth::LoginArgs),
    /// Log out from a registry
    Logout(crate::auth::LogoutArgs),
    /// Display system-wide information
    Info(FormatArgs),
    /// Define and run multi-container applications
    Compose(crate::compose::cli::ComposeArgs),
    /// Generate the autocompletion script for the specified shell
    Completion(CompletionArgs),
}

/// `--format` of the commands that print one object (`info`, `version`).
#[derive(Debug, Args, Clone, Default)]
pub struct FormatArgs {
    /// Format output: json, or a Go template ({{.ServerVersion}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionArgs {
    /// bash, zsh, fish, elvish or powershell
    pub shell: clap_complete::Shell,
}

/// Flags shared by `run` and `create`.
#[derive(Debug, Args, Default, Clone)]
pub struct CreateFlags {
    /// Assign a name to the container
    #[arg(long)]
    pub name: Option<String>,
    /// Set environment variables
    #[arg(short = 'e', long = "env", value_name = "KEY=VALUE")]
    pub env: Vec<String>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    /// Overwrite the default ENTRYPOINT of the image
    #[arg(long)]
    pub entrypoint: Option<String>,
    /// Bind mount a volume (host-path:container-path[:ro], name:container-path[:ro], container-path)
    #[arg(short = 'v', long = "volume")]
    pub volume: Vec<String>,
    /// Mount a tmpfs directory (path[:options])
    #[arg(long)]
    pub tmpfs: Vec<String>,
    /// Connect a container to a network: bridge, host, none, container:NAME|ID or a network's name
    #[arg(long, default_value = "default")]
    pub network: String,
    #[command(flatten)]
    pub net: crate::netflags::NetworkFlags,
    /// Memory limit
    #[arg(short = 'm', long)]
    pub memory: Option<String>,
    /// Number of CPUs
    #[arg(long, allow_hyphen_values = true)]
    pub cpus: Option<String>,
    /// Tune container pids limit (set -1 for unlimited)
    #[arg(long = "pids-limit", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Restart policy to apply when a container exits: no, on-failure[:N], always
    #[arg(long, default_value = "no")]
    pub restart: String,
    /// Automatically remove the container when it exits
    #[arg(long)]
    pub rm: bool,
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Set meta data on a container
    #[arg(short = 'l', long = "label")]
    pub label: Vec<String>,
    /// Container host name
    #[arg(long)]
    pub hostname: Option<String>,
    /// Signal to stop the container
    #[arg(long = "stop-signal")]
    pub stop_signal: Option<String>,
    /// Timeout (in seconds) to stop a container
    #[arg(long = "stop-timeout")]
    pub stop_timeout: Option<u32>,
    #[command(flatten)]
    pub mounts: crate::mounts::MountFlags,
    #[command(flatten)]
    pub health: crate::health::HealthFlags,
    #[command(flatten)]
    pub security: crate::security::SecurityFlags,
    #[command(flatten)]
    pub files: crate::runflags::RunFileFlags,
    #[command(flatten)]
    pub log: crate::logflags::LogFlags,
    /// Attach to STDIN, STDOUT or STDERR
    #[arg(short = 'a', long = "attach", value_name = "list")]
    pub attach: Vec<String>,
    /// Set by a detached `run` (`-d`): nothing is recorded as attached
    #[arg(skip)]
    pub detached: bool,
    /// Image
    pub image: String,
    /// Command and its arguments
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Run container in background and print container ID
    #[arg(short = 'd', long)]
    pub detach: bool,
    #[command(flatten)]
    pub create: CreateFlags,
}

#[derive(Debug, Args)]
pub struct CreateArgs {
    #[command(flatten)]
    pub create: CreateFlags,
}

#[derive(Debug, Args)]
pub struct StartArgs {
    /// Attach STDOUT/STDERR and forward signals
    #[arg(short = 'a', long)]
    pub attach: bool,
    /// Attach container's STDIN
    #[arg(short = 'i', long)]
    pub interactive: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct StopArgs {
    /// Seconds to wait before killing the container (`--time` is the older spelling)
    #[arg(
        short = 't',
        long = "timeout",
        visible_alias = "time",
        allow_hyphen_values = true
    )]
    pub time: Option<i32>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct KillArgs {
    /// Signal to send to the container
    #[arg(short = 's', long, default_value = "KILL")]
    pub signal: String,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct RmArgs {
    /// Force the removal of a running container (uses SIGKILL)
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Remove anonymous volumes associated with the container
    #[arg(short = 'v', long = "volumes")]
    pub volumes: bool,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct PsArgs {
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only display container IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output: table, json, or a Go template ('table {{.ID}}\t{{.Names}}')
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (status=, name=, label=, ancestor=, exited=, network=, volume=, id=, before=, since=, health=, publish=, expose=, is-task=, isolation=)
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Show n last created containers (includes all states)
    #[arg(short = 'n', long, default_value_t = -1, allow_hyphen_values = true)]
    pub last: i64,
    /// Show the latest created container (includes all states)
    #[arg(short = 'l', long)]
    pub latest: bool,
    /// Display total file sizes
    #[arg(short = 's', long)]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct LogsArgs {
    /// Follow log output
    #[arg(short = 'f', long)]
    pub follow: bool,
    /// Number of lines to show from the end of the logs
    #[arg(short = 'n', long, default_value = "all")]
    pub tail: String,
    /// Show timestamps
    #[arg(short = 't', long)]
    pub timestamps: bool,
    /// Show logs since a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub since: Option<String>,
    /// Show logs before a timestamp (e.g. 2013-01-02T13:23:37Z) or relative (e.g. 42m for 42 minutes)
    #[arg(long)]
    pub until: Option<String>,
    /// Show extra details provided to logs
    #[arg(long)]
    pub details: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ExecArgs {
    /// Keep STDIN open even if not attached
    #[arg(short = 'i', long)]
    pub interactive: bool,
    /// Allocate a pseudo-TTY
    #[arg(short = 't', long)]
    pub tty: bool,
    /// Detached mode: run command in the background
    #[arg(short = 'd', long)]
    pub detach: bool,
    /// Set environment variables
    #[arg(short = 'e', long = "env")]
    pub env: Vec<String>,
    /// Read in a file of environment variables
    #[arg(long = "env-file", value_name = "FILE")]
    pub env_file: Vec<PathBuf>,
    /// Working directory inside the container
    #[arg(short = 'w', long = "workdir")]
    pub workdir: Option<String>,
    /// Username or UID (format: <uid>[:<gid>])
    #[arg(short = 'u', long = "user")]
    pub user: Option<String>,
    pub container: String,
    #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true)]
    pub command: Vec<String>,
}

#[derive(Debug, Args)]
pub struct AttachArgs {
    /// Do not attach STDIN
    #[arg(long = "no-stdin")]
    pub no_stdin: bool,
    pub container: String,
}

#[derive(Debug, Args)]
pub struct Names {
    #[arg(required = true)]
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    /// Format output: json, or a Go template ({{.State.Pid}}, {{json .Config}})
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    /// Only inspect objects of this type: container or image
    #[arg(long = "type")]
    pub kind: Option<String>,
    #[arg(required = true)]
    pub names: Vec<String>,
}

#[derive(Debug, Args)]
pub struct CommitArgs {
    /// Commit message
    #[arg(short = 'm', long)]
    pub message: Option<String>,
    /// Author (e.g., "John Hannibal Smith <hannibal@a-team.com>")
    #[arg(short = 'a', long)]
    pub author: Option<String>,
    /// Apply Dockerfile instruction to the created image
    #[arg(short = 'c', long = "change")]
    pub change: Vec<String>,
    /// Pause container during commit
    #[arg(short = 'p', long, default_value_t = true, num_args = 0..=1,
          require_equals = true, default_missing_value = "true",
          action = clap::ArgAction::Set)]
    pub pause: bool,
    pub container: String,
    /// REPOSITORY[:TAG]
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Format output: table, json, or a Go template
    #[arg(long)]
    pub format: Option<String>,
    pub image: String,
}

#[derive(Debug, Args)]
pub struct DiffArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct ImageArgs {
    #[command(subcommand)]
    pub command: ImageCommand,
}

#[derive(Debug, Subcommand)]
pub enum ImageCommand {
    /// Display detailed information on one or more images
    Inspect(ImageInspectArgs),
    /// Show the history of an image
    History(HistoryArgs),
    /// List images
    #[command(visible_alias = "list")]
    Ls(ImagesArgs),
    /// Download an image from a registry
    Pull(PullArgs),
    /// Upload an image to a registry
    Push(PullArgs),
    /// Remove one or more images
    #[command(visible_alias = "remove")]
    Rm(RmiArgs),
    /// Remove unused images
    Prune(crate::groups::ImagePruneArgs),
    /// Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE
    Tag(TagArgs),
    /// Save one or more images to a tar archive
    Save(SaveArgs),
    /// Load an image from a tar archive
    Load(LoadArgs),
    /// Import the contents from a tarball to create a filesystem image
    Import(ImportArgs),
    /// Build an image from a Dockerfile
    Build(BuildArgs),
}

#[derive(Debug, Args)]
pub struct ImageInspectArgs {
    /// Format the output using a Go template
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct TopArgs {
    pub container: String,
}

#[derive(Debug, Args)]
pub struct StatsArgs {
    /// Disable streaming stats and only pull the first result
    #[arg(long = "no-stream")]
    pub no_stream: bool,
    /// Format output: table, json, or a Go template ('table {{.Name}}\t{{.CPUPerc}}')
    #[arg(long)]
    pub format: Option<String>,
    /// Show all containers (default shows just running)
    #[arg(short = 'a', long)]
    pub all: bool,
    pub containers: Vec<String>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    /// Filter output based on conditions provided (container=, type=, event=)
    #[arg(short = 'f', long = "filter")]
    pub filter: Vec<String>,
    /// Format output: json for one JSON object per line, or a Go template
    #[arg(long)]
    pub format: Option<String>,
    /// Show events created since this timestamp (RFC 3339, Unix time or a duration like 10m)
    #[arg(long)]
    pub since: Option<String>,
    /// Stream events until this timestamp (RFC 3339, Unix time or a duration like 10m)
    #[arg(long)]
    pub until: Option<String>,
}

#[derive(Debug, Args)]
pub struct ImagesArgs {
    /// Show all images (default hides intermediate images)
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Only show image IDs
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Don't truncate output
    #[arg(long = "no-trunc")]
    pub no_trunc: bool,
    /// Format output: table, json, or a Go template ('table {{.Repository}}\t{{.Tag}}')
    #[arg(long)]
    pub format: Option<String>,
    /// Filter output based on conditions provided (dangling=, reference=, label=, before=, since=)
    #[arg(short = 'f', long = "filter", value_name = "FILTER")]
    pub filter: Vec<String>,
    /// Show only images matching this reference
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct PullArgs {
    /// Talk plain HTTP to the registry (implied for loopback registries)
    #[arg(long = "plain-http")]
    pub plain_http: bool,
    /// Suppress verbose output
    #[arg(short = 'q', long)]
    pub quiet: bool,
    pub reference: String,
}

#[derive(Debug, Args)]
pub struct TagArgs {
    pub source: String,
    pub target: String,
}

#[derive(Debug, Args)]
pub struct RmiArgs {
    /// Force removal of the image
    #[arg(short = 'f', long)]
    pub force: bool,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct LoadArgs {
    /// Read from tar archive file, instead of STDIN
    #[arg(short = 'i', long = "input")]
    pub input: Option<PathBuf>,
    /// Suppress the load output
    #[arg(short = 'q', long)]
    pub quiet: bool,
}

#[derive(Debug, Args)]
pub struct SaveArgs {
    /// Write to a file, instead of STDOUT
    #[arg(short = 'o', long = "output")]
    pub output: Option<PathBuf>,
    #[arg(required = true)]
    pub images: Vec<String>,
}

#[derive(Debug, Args)]
pub struct ImportArgs {
    /// Tarball file (or - for STDIN)
    pub file: String,
    /// Name for the new image
    pub reference: Option<String>,
}

#[derive(Debug, Args)]
pub struct SystemArgs {
    #[command(subcommand)]
    pub command: SystemCommand,
}

#[derive(Debug, Subcommand)]
pub enum SystemCommand {
    /// Display system-wide information
    Info(FormatArgs),
    /// Remove stopped containers and unused images
    Prune {
        /// Remove all unused images, not just dangling ones
        #[arg(short = 'a', long)]
        all: bool,
        /// Do not prompt for confirmation
        #[arg(short = 'f', long)]
        force: bool,
        /// Prune volumes
        #[arg(long)]
        volumes: bool,
        /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
        #[arg(long = "filter")]
        filter: Vec<String>,
    },
    /// Show berth disk usage
    Df(FormatArgs),
    /// Get real time events from the manager
    Events(EventsArgs),
    /// Serve the Docker Engine API (docker's clients drive berth)
    Service(ServiceArgs),
}

/// `berth system service`: where and how long the Engine API is served.
#[derive(Debug, Args, Clone, PartialEq, Eq)]
pub struct ServiceArgs {
    /// unix:///PATH or tcp://127.0.0.1:PORT (default unix://<state>/docker.sock)
    #[arg(long)]
    pub listen: Option<String>,
    /// Exit after this many idle seconds; 0 serves until stopped
    #[arg(short = 't', long = "time", default_value_t = 5)]
    pub time: u64,
    /// Group owning the unix socket (mode 0660)
    #[arg(long)]
    pub group: Option<String>,
}

impl ServiceArgs {
    /// The flags again, for the service binary this command becomes.
    pub fn to_args(&self) -> Vec<String> {
        let mut a = vec!["--time".to_string(), self.time.to_string()];
        if let Some(l) = &self.listen {
            a.extend(["--listen".to_string(), l.clone()]);
        }
        if let Some(g) = &self.group {
            a.extend(["--group".to_string(), g.clone()]);
        }
        a
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Cli {
        Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied())).unwrap()
    }

    /// clap's own checks of the whole tree: flags flattened in from several
    /// modules must never share a name.
    #[test]
    fn the_command_tree_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn run_flags_like_docker() {
        let c = parse(&[
            "run",
            "--rm",
            "-it",
            "--name",
            "x",
            "-e",
            "A=1",
            "-v",
            "/a:/b:ro",
            "-m",
            "64m",
            "--cpus",
            "0.5",
            "--pids-limit",
            "-1",
            "busybox",
            "sh",
            "-c",
            "echo -n hi",
        ]);
        let Some(Command::Run(r)) = c.command else {
            panic!("not run")
        };
        assert!(!r.detach);
        let f = r.create;
        assert!(f.rm && f.interactive && f.tty);
        assert_eq!(f.name.as_deref(), Some("x"));
        assert_eq!(f.volume, ["/a:/b:ro"]);
        assert_eq!(f.pids_limit, Some(-1));
        assert_eq!(f.image, "busybox");
        assert_eq!(f.command, ["sh", "-c", "echo -n hi"]);
    }

    #[test]
    fn flags_after_the_image_belong_to_the_command() {
        let c = parse(&["run", "-d", "busybox", "ls", "-la", "--rm"]);
        let Some(Command::Run(r)) = c.command else {
            panic!("not run")
        };
        assert!(r.detach);
        assert!(!r.create.rm);
        assert_eq!(r.create.command, ["ls", "-la", "--rm"]);
        let c = parse(&["exec", "-it", "c1", "sh", "-c", "x"]);
        let Some(Command::Exec(e)) = c.command else {
            panic!("not exec")
        };
        assert!(e.interactive && e.tty);
        assert_eq!(e.command, ["sh", "-c", "x"]);
    }

    #[test]
    fn global_dirs_and_other_commands() {
        let c = parse(&["--state", "/s", "ps", "-aq", "--root", "/r"]);
        assert_eq!(c.state, Some(PathBuf::from("/s")));
        assert_eq!(c.root, Some(PathBuf::from("/r")));
        assert!(matches!(
            c.command,
            Some(Command::Ps(PsArgs {
                all: true,
                quiet: true,
                ..
            }))
        ));
        assert!(parse(&["-v"]).version);
        let c = parse(&["logs", "-f", "--tail", "3", "-t", "c"]);
        assert!(matches!(
            c.command,
            Some(Command::Logs(LogsArgs {
                follow: true,
                timestamps: true,
                ..
            }))
        ));
        let c = parse(&["kill", "-s", "TERM", "a", "b"]);
        let Some(Command::Kill(k)) = c.command else {
            panic!("not kill")
        };
        assert_eq!(k.signal, "TERM");
        assert_eq!(k.containers, ["a", "b"]);
        assert!(matches!(
            parse(&["system", "prune", "-af"]).command,
            Some(Command::System(SystemArgs {
                command: SystemCommand::Prune {
                    all: true,
                    force: true,
                    volumes: false,
                    ..
                }
            }))
        ));
        assert!(Cli::try_parse_from(["berth", "rm"]).is_err());
    }
}

/// `berth build`.
#[derive(Debug, Args, Clone)]
pub struct BuildArgs {
    /// Name and optionally a tag in the 'name:tag' format
    #[arg(short = 't', long = "tag")]
    pub tag: Vec<String>,
    /// Name of the Dockerfile (default: 'PATH/Dockerfile'; '-' reads it from stdin)
    #[arg(short = 'f', long = "file")]
    pub file: Option<String>,
    /// Set build-time variables
    #[arg(long = "build-arg", value_name = "KEY=VALUE")]
    pub build_arg: Vec<String>,
    /// Set the target build stage to build
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use cache when building the image
    #[arg(long)]
    pub no_cache: bool,
    /// Always attempt to pull a newer version of the image
    #[arg(long)]
    pub pull: bool,
    /// Suppress the build output and print image ID on success
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Set metadata for an image
    #[arg(long)]
    pub label: Vec<String>,
    /// Networking mode for the RUN instructions: none or host
    #[arg(long, default_value = "none")]
    pub network: String,
    /// Remove intermediate containers (also after a failed step)
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, num_args = 0..=1, default_missing_value = "true")]
    pub rm: bool,
    /// Always remove intermediate containers
    #[arg(long)]
    pub force_rm: bool,
    /// The build context: a directory, or '-' for a Dockerfile on stdin and no context
    #[arg(value_name = "PATH|-")]
    pub path: String,
}
