//! docker's management command groups (`container …`, `image …`,
//! `system …`, `builder …`) as a second spelling of the top-level commands:
//! each verb reuses the top-level command's argument struct, and
//! [`into_command`] rewrites it into that command before anything runs, so
//! both spellings share one parser, one validation and one implementation.
//! `info` is `system info`. Only the verbs with no top-level form (`container prune`, `image prune`,
//! `builder prune`) stay in their group.

use clap::{Args, Subcommand};

use crate::cli::{
    AttachArgs, Command, CommitArgs, CreateArgs, DiffArgs, ExecArgs, ImageCommand, InspectArgs,
    KillArgs, LogsArgs, Names, PsArgs, RmArgs, RunArgs, StartArgs, StatsArgs, StopArgs,
    SystemCommand, TopArgs,
};

/// `berth container …`.
#[derive(Debug, Args)]
pub struct ContainerArgs {
    #[command(subcommand)]
    pub command: ContainerCommand,
}

#[derive(Debug, Subcommand)]
pub enum ContainerCommand {
    /// List containers
    #[command(visible_aliases = ["list", "ps"])]
    Ls(PsArgs),
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
    #[command(visible_alias = "remove")]
    Rm(RmArgs),
    /// Remove all stopped containers
    Prune(ContainerPruneArgs),
    /// Display detailed information on one or more containers
    Inspect(ContainerInspectArgs),
    /// Fetch the logs of a container
    Logs(LogsArgs),
    /// Run a command in a running container
    Exec(ExecArgs),
    /// Attach local standard input, output, and error streams to a running container
    Attach(AttachArgs),
    /// Inspect changes to files or directories on a container's filesystem
    Diff(DiffArgs),
    /// Pause all processes within one or more containers
    Pause(Names),
    /// Unpause all processes within one or more containers
    Unpause(Names),
    /// List port mappings or a specific mapping for the container
    Port(crate::commands::network::PortArgs),
    /// Display a live stream of container resource usage statistics
    Stats(StatsArgs),
    /// Display the running processes of a container
    Top(TopArgs),
    /// Block until one or more containers stop, then print their exit codes
    Wait(Names),
    /// Create a new image from a container's changes
    Commit(CommitArgs),
    /// Rename a container
    Rename(RenameArgs),
    /// Copy files/folders between a container and the local filesystem
    Cp(crate::cp::CpArgs),
    /// Export a container's filesystem as a tar archive
    Export(crate::cp::export::ExportArgs),
    /// Update configuration of one or more containers
    Update(crate::commands::update::UpdateArgs),
}

/// `berth rename` and `berth container rename`.
#[derive(Debug, Args)]
pub struct RenameArgs {
    /// The container to rename: name, id or id prefix
    pub container: String,
    /// Its new name
    pub new_name: String,
}

/// `berth container prune`.
#[derive(Debug, Args)]
pub struct ContainerPruneArgs {
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth container inspect`: `inspect` restricted to containers.
#[derive(Debug, Args)]
pub struct ContainerInspectArgs {
    /// Format the output using a template: {{.Path.To.Field}} or {{json .Field}}
    #[arg(short = 'f', long)]
    pub format: Option<String>,
    #[arg(required = true)]
    pub containers: Vec<String>,
}

/// `berth image prune` and `berth builder prune`.
#[derive(Debug, Args)]
pub struct ImagePruneArgs {
    /// Remove all unused images, not just dangling ones
    #[arg(short = 'a', long)]
    pub all: bool,
    /// Do not prompt for confirmation
    #[arg(short = 'f', long)]
    pub force: bool,
    /// Provide filter values (e.g. "until=<timestamp>", "label=<key>=<value>")
    #[arg(long = "filter")]
    pub filter: Vec<String>,
}

/// `berth builder …`.
#[derive(Debug, Args)]
pub struct BuilderArgs {
    #[command(subcommand)]
    pub command: BuilderCommand,
}

#[derive(Debug, Subcommand)]
pub enum BuilderCommand {
    /// Build an image from a Dockerfile
    Build(crate::cli::BuildArgs),
    /// Remove build cache: the untagged images earlier builds left, unless a container uses them
    Prune(ImagePruneArgs),
}

/// The top-level command a group verb spells differently; commands that
/// are not group verbs, and the group verbs with no top-level form, come
/// back unchanged.
pub fn into_command(command: Command) -> Command {
    match command {
        Command::Container(c) => match c.command {
            ContainerCommand::Ls(a) => Command::Ps(a),
            ContainerCommand::Run(a) => Command::Run(a),
            ContainerCommand::Create(a) => Command::Create(a),
            ContainerCommand::Start(a) => Command::Start(a),
            ContainerCommand::Stop(a) => Command::Stop(a),
            ContainerCommand::Restart(a) => Command::Restart(a),
            ContainerCommand::Kill(a) => Command::Kill(a),
            ContainerCommand::Rm(a) => Command::Rm(a),
            ContainerCommand::Inspect(a) => Command::Inspect(InspectArgs {
                format: a.format,
                kind: Some("container".to_string()),
                names: a.containers,
            }),
            ContainerCommand::Logs(a) => Command::Logs(a),
            ContainerCommand::Exec(a) => Command::Exec(a),
            ContainerCommand::Attach(a) => Command::Attach(a),
            ContainerCommand::Diff(a) => Command::Diff(a),
            ContainerCommand::Pause(a) => Command::Pause(a),
            ContainerCommand::Unpause(a) => Command::Unpause(a),
            ContainerCommand::Port(a) => Command::Port(a),
            ContainerCommand::Stats(a) => Command::Stats(a),
            ContainerCommand::Top(a) => Command::Top(a),
            ContainerCommand::Wait(a) => Command::Wait(a),
            ContainerCommand::Commit(a) => Command::Commit(a),
            ContainerCommand::Rename(a) => Command::Rename(a),
            ContainerCommand::Cp(a) => Command::Cp(a),
            ContainerCommand::Export(a) => Command::Export(a),
            ContainerCommand::Update(a) => Command::Update(a),
            command @ ContainerCommand::Prune(_) => Command::Container(ContainerArgs { command }),
        },
        Command::Image(i) => match i.command {
            ImageCommand::Ls(a) => Command::Images(a),
            ImageCommand::Pull(a) => Command::Pull(a),
            ImageCommand::Push(a) => Command::Push(a),
            ImageCommand::Rm(a) => Command::Rmi(a),
            ImageCommand::Tag(a) => Command::Tag(a),
            ImageCommand::Save(a) => Command::Save(a),
            ImageCommand::Load(a) => Command::Load(a),
            ImageCommand::Import(a) => Command::Import(a),
            ImageCommand::History(a) => Command::History(a),
            ImageCommand::Build(a) => Command::Build(a),
            command => Command::Image(crate::cli::ImageArgs { command }),
        },
        Command::Builder(b) => match b.command {
            BuilderCommand::Build(a) => Command::Build(a),
            command => Command::Builder(BuilderArgs { command }),
        },
        Command::Info(f) => Command::System(crate::cli::SystemArgs {
            command: SystemCommand::Info(f),
        }),
        Command::System(s) => match s.command {
            SystemCommand::Events(a) => Command::Events(a),
            command => Command::System(crate::cli::SystemArgs { command }),
        },
        command => command,
    }
}

impl ImagePruneArgs {
    /// What `image prune` and `builder prune` remove: images only.
    pub fn scope(&self) -> crate::commands::system::PruneScope {
        crate::commands::system::PruneScope {
            containers: false,
            images: true,
            all_images: self.all,
            volumes: false,
            networks: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::Cli;
    use clap::{CommandFactory, Parser};

    fn parse(args: &[&str]) -> Command {
        let cli = Cli::try_parse_from(std::iter::once("berth").chain(args.iter().copied()))
            .unwrap_or_else(|e| panic!("{args:?}: {e}"));
        into_command(cli.command.unwrap())
    }

    #[test]
    fn group_verbs_become_top_level_commands() {
        assert!(matches!(
            parse(&["container", "ls", "-aq"]),
            Command::Ps(PsArgs {
                all: true,
                quiet: true,
                ..
            })
        ));
        assert!(matches!(parse(&["container", "list"]), Command::Ps(_)));
        assert!(matches!(
            parse(&["container", "remove", "x"]),
            Command::Rm(_)
        ));
        assert!(matches!(parse(&["image", "list"]), Command::Images(_)));
        assert!(matches!(
            parse(&["image", "rm", "-f", "x"]),
            Command::Rmi(_)
        ));
        assert!(matches!(parse(&["system", "events"]), Command::Events(_)));
        assert!(matches!(
            parse(&["builder", "build", "."]),
            Command::Build(_)
        ));
        let Command::Run(r) = parse(&["container", "run", "-d", "busybox", "ls", "-l"]) else {
            panic!("not run")
        };
        assert!(r.detach);
        assert_eq!(r.create.command, ["ls", "-l"]);
        let Command::Inspect(i) = parse(&["container", "inspect", "-f", "{{.Id}}", "a"]) else {
            panic!("not inspect")
        };
        assert_eq!(i.kind.as_deref(), Some("container"));
        assert!(matches!(
            parse(&["info"]),
            Command::System(crate::cli::SystemArgs {
                command: SystemCommand::Info(_)
            })
        ));
        // the group-only verbs stay
        assert!(matches!(
            parse(&["container", "prune", "-f"]),
            Command::Container(_)
        ));
        assert!(matches!(
            parse(&["image", "prune", "-af"]),
            Command::Image(_)
        ));
        assert!(matches!(parse(&["builder", "prune"]), Command::Builder(_)));
    }

    /// docs/cli.md's table says which docker commands and flags berth takes:
    /// every row marked `yes` must parse, and each flag it lists must exist.
    #[test]
    fn the_docker_table_in_docs_matches_the_parser() {
        let doc = include_str!("../../docs/cli.md");
        let table = doc
            .split("## docker's commands and flags in berth")
            .nth(1)
            .expect("docs/cli.md has the docker table");
        let mut rows = 0;
        for line in table.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split(" | ").collect();
            let path: Vec<&str> = cells[0]
                .trim_start_matches("| `")
                .trim_end_matches('`')
                .split(' ')
                .collect();
            let mut cmd = Cli::command();
            let mut found = true;
            for p in &path {
                match cmd.find_subcommand(p) {
                    Some(c) => cmd = c.clone(),
                    None => {
                        found = false;
                        break;
                    }
                }
            }
            assert_eq!(
                found,
                cells[1].starts_with("yes"),
                "docs/cli.md row for `{}` says {:?}",
                path.join(" "),
                cells[1]
            );
            if !found {
                continue;
            }
            rows += 1;
            for flag in cells[2].split(", `").filter(|f| *f != "—") {
                // "`-a/--all` (ignored: why)": the flag is what is quoted
                let flag = flag.trim_start_matches('`').split('`').next().unwrap();
                let long = flag.rsplit('/').next().unwrap();
                let long = long.trim_start_matches("--");
                assert!(
                    cmd.get_arguments().any(|a| a.get_long() == Some(long)),
                    "docs/cli.md: `{}` does not take --{long}",
                    path.join(" ")
                );
            }
        }
        assert!(rows > 50, "only {rows} rows");
    }
}
