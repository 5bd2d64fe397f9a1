//! berth: the docker-like front end.  It does dockerd's work in-process
//! (image config + flags → OCI spec) and talks ttrpc to berth-manager,
//! starting one when none answers on `<state>/manager.sock`.
//!
//! - [`cli`]: the command line; [`commands`]: one module per command group;
//!   [`groups`]: docker's `container`/`image`/`system`/`builder` spellings
//!   rewritten into the top-level commands
//! - [`runflags`]: `run`'s file and image-source flags; [`since`]: docker's
//!   time arguments
//! - [`builder`]: `berth build`'s driver backend over the manager
//! - [`client`]: connection and manager autostart; [`paths`]: dirs, binary
//! - [`spec`] + [`flags`]: the spec builder and flag parsers (pure);
//!   [`change`]: `commit -c` instructions
//! - [`session`], [`logs`], [`tty`]: attach, log following, raw mode;
//!   [`logflags`]: `--log-driver`/`--log-opt`
//! - [`cp`]: `cp` and `export` over a container's root; [`auth`]: `login`,
//!   `logout` and the credentials pulls and pushes send
//! - [`format`], [`progress`]: docker's output shapes
//! - [`compose`]: `berth compose`, docker compose's projects
//! - [`template`]: Go templates over JSON values; [`render`]: the one place
//!   every `--format` is rendered; [`filters`]: `ps`/`images` filters, shared
//!   with the Docker API
//! - [`extras`]: shell completions and man pages from the parser

pub mod auth;
pub mod builder;
pub mod change;
pub mod cli;
pub mod client;
pub mod closed_stdout;
pub mod commands;
pub mod compose;
pub mod cp;
pub mod error;
pub mod event_window;
pub mod extras;
pub mod filters;
pub mod flags;
pub mod format;
pub mod groups;
pub mod health;
pub mod index;
pub mod init;
pub mod logflags;
pub mod logs;
pub mod mounts;
pub mod netflags;
pub mod paths;
pub mod progress;
pub mod prune_filters;
pub mod recorded;
pub mod render;
pub mod runflags;
pub mod security;
pub mod session;
pub mod since;
pub mod sizes;
pub mod spec;
pub mod template;
pub mod tty;
pub mod users;

use clap::Parser;

use cli::{Cli, Command, ImageCommand, SystemCommand};
use client::Manager;
use commands::{build, container, exec, images, inspect, layers, system, view};
use error::EXIT_BERTH_FAILED;
use groups::{BuilderCommand, ContainerCommand};
use paths::Dirs;

/// Version string printed by `--version`.
pub fn version() -> String {
    format!("berth version {}", env!("CARGO_PKG_VERSION"))
}

/// Runs berth with `args` (argv, program name first); returns the exit code.
pub fn main_with_args(args: impl IntoIterator<Item = std::ffi::OsString>) -> i32 {
    closed_stdout::exit_quietly_on_closed_stdout();
    let cli = match Cli::try_parse_from(args) {
        Ok(c) => c,
        // help and version go to stdout whole; a usage error is one line
        // naming what was wrong, exit 125 like docker
        Err(e) if !e.use_stderr() => {
            let _ = e.print();
            return 0;
        }
        Err(e) => {
            eprintln!("berth: {}", usage_error_line(&e.render().to_string()));
            return 125;
        }
    };
    if cli.version {
        println!("{}", version());
        return 0;
    }
    let Some(command) = cli.command else {
        let _ = <Cli as clap::CommandFactory>::command().print_help();
        return 0;
    };
    // completions need no manager
    if let Command::Completion(c) = &command {
        extras::print_completion(c.shell);
        return 0;
    }
    // `container ls` is `ps`, `image rm` is `rmi`, ...: one code path each
    let command = groups::into_command(command);
    let dirs = Dirs::resolve(cli.state, cli.root, |k| std::env::var_os(k));
    // commands that need no manager
    match &command {
        Command::Context(a) => return commands::context::context(&dirs, a),
        Command::Logout(a) => return auth::logout(a),
        _ => {}
    }
    if let Command::System(cli::SystemArgs {
        command: SystemCommand::Service(a),
    }) = &command
    {
        return commands::service::exec_service(&dirs, a);
    }
    let is_create = matches!(command, Command::Run(_) | Command::Create(_));
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("berth: start async runtime: {e}");
            return EXIT_BERTH_FAILED;
        }
    };
    rt.block_on(async move {
        // compose checks its files before it connects
        if let Command::Compose(c) = command {
            return compose::main(c, &dirs).await;
        }
        // search asks an index, never a manager
        if let Command::Search(a) = &command {
            return commands::search::search(a).await;
        }
        // flag errors must not start a manager or change anything
        if let Command::Run(r) = &command {
            if let Err(e) = container::run_options(&r.create)
                .and_then(|_| container::run_attach(&r.create.attach, r.detach))
            {
                eprintln!("berth: {e}");
                return EXIT_BERTH_FAILED;
            }
        }
        if let Command::Create(c) = &command {
            if let Err(e) = container::run_options(&c.create) {
                eprintln!("berth: {e}");
                return EXIT_BERTH_FAILED;
            }
        }
        if let Command::Build(b) = &command {
            if let Err(e) = build::check_flags(b) {
                eprintln!("berth: {e}");
                return 1;
            }
        }
        if let Command::Commit(c) = &command {
            if let Err(e) = layers::check_changes(c) {
                eprintln!("{e}");
                return 1;
            }
        }
        let m = match Manager::connect_or_start(&dirs).await {
            Ok(m) => m,
            Err(e) => {
                if is_create {
                    eprintln!("berth: {e}");
                    return EXIT_BERTH_FAILED;
                }
                eprintln!("{e}");
                return 1;
            }
        };
        dispatch(&m, command, &dirs).await
    })
}

async fn dispatch(m: &Manager, command: Command, dirs: &Dirs) -> i32 {
    match command {
        // answered before a manager is asked for
        Command::Completion(_) => 0,
        Command::Run(mut r) => {
            r.create.detached = r.detach;
            container::run(m, &r.create, r.detach, &r.create.attach).await
        }
        Command::Create(c) => container::create(m, &c.create).await,
        Command::Start(a) => container::start(m, &a).await,
        Command::Stop(a) => container::stop(m, &a).await,
        Command::Restart(a) => container::restart(m, &a).await,
        Command::Kill(a) => container::kill(m, &a).await,
        Command::Rm(a) => container::rm(m, &a).await,
        Command::Pause(a) => container::pause(m, &a, true).await,
        Command::Unpause(a) => container::pause(m, &a, false).await,
        Command::Wait(a) => container::wait(m, &a).await,
        Command::Attach(a) => container::attach(m, &a).await,
        Command::Exec(a) => exec::exec(m, &a).await,
        Command::Ps(a) => view::ps(m, &a).await,
        Command::Logs(a) => view::logs(m, &a).await,
        Command::Top(a) => view::top(m, &a).await,
        Command::Stats(a) => view::stats(m, &a).await,
        Command::Events(a) => view::events(m, &a).await,
        Command::Inspect(a) => inspect::inspect(m, &a).await,
        Command::Images(a) => images::images(m, &a).await,
        Command::Pull(a) => images::pull(m, &a).await,
        Command::Push(a) => images::push(m, &a).await,
        Command::Tag(a) => images::tag(m, &a).await,
        Command::Rmi(a) => images::rmi(m, &a).await,
        Command::Load(a) => images::load(m, &a, &dirs.state).await,
        Command::Save(a) => images::save(m, &a, &dirs.state).await,
        Command::Import(a) => images::import(m, &a, &dirs.state).await,
        Command::Build(a) => build::build(m, &a).await,
        Command::Commit(a) => layers::commit(m, &a).await,
        Command::History(a) => layers::history(m, &a).await,
        Command::Diff(a) => layers::diff(m, &a).await,
        Command::Image(i) => match i.command {
            ImageCommand::Inspect(a) => layers::image_inspect(m, &a).await,
            ImageCommand::Prune(a) => {
                let kind = crate::prune_filters::PruneKind::Images;
                system::prune_scope(m, a.scope(), a.force, kind, &a.filter).await
            }
            // every other verb was rewritten into its top-level command
            other => unreachable_group_verb(&format!("image {other:?}")),
        },
        Command::Container(c) => match c.command {
            ContainerCommand::Prune(a) => {
                let scope = system::PruneScope {
                    containers: true,
                    images: false,
                    all_images: false,
                    volumes: false,
                    networks: false,
                };
                let kind = crate::prune_filters::PruneKind::Containers;
                system::prune_scope(m, scope, a.force, kind, &a.filter).await
            }
            other => unreachable_group_verb(&format!("container {other:?}")),
        },
        Command::Builder(b) => match b.command {
            BuilderCommand::Prune(a) => {
                let kind = crate::prune_filters::PruneKind::Builder;
                system::prune_scope(m, a.scope(), a.force, kind, &a.filter).await
            }
            other => unreachable_group_verb(&format!("builder {other:?}")),
        },
        Command::Rename(a) => container::rename(m, &a).await,
        Command::Info(f) => system::info(m, &f).await,
        Command::Cp(a) => crate::cp::cp(m, &a).await,
        Command::Export(a) => crate::cp::export::export(m, &a).await,
        Command::Update(a) => commands::update::update(m, &a).await,
        // answered before a manager is asked for
        Command::Search(a) => commands::search::search(&a).await,
        Command::Context(a) => commands::context::context(dirs, &a),
        Command::Logout(a) => auth::logout(&a),
        Command::Login(a) => auth::login(m, &a).await,
        Command::System(s) => match s.command {
            SystemCommand::Info(f) => system::info(m, &f).await,
            SystemCommand::Prune {
                all,
                force,
                volumes,
                filter,
            } => system::prune(m, all, force, volumes, &filter).await,
            SystemCommand::Df(f) => commands::df::df(m, &f).await,
            SystemCommand::Events(a) => view::events(m, &a).await,
            SystemCommand::Service(_) => unreachable_group_verb("system service"),
        },
        Command::Network(a) => crate::commands::network::network(m, a).await,
        Command::Port(a) => crate::commands::network::port(m, &a).await,
        Command::Version(f) => system::version(m, &f).await,
        Command::Volume(a) => commands::volume::volume(m, &a).await,
        Command::Compose(a) => compose::main(a, dirs).await,
    }
}

/// A group verb that [`groups::into_command`] should have rewritten: a bug
/// in berth, reported rather than panicking.
fn unreachable_group_verb(verb: &str) -> i32 {
    eprintln!("berth: internal error: {verb} was not dispatched; please report this");
    EXIT_BERTH_FAILED
}

/// The first line of clap's usage error, without its `error: ` prefix: the
/// tips and usage lines after it are left out so bad input is one line.
fn usage_error_line(rendered: &str) -> &str {
    let line = rendered
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .unwrap_or("invalid arguments");
    line.strip_prefix("error: ").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    #[test]
    fn usage_errors_are_one_line() {
        let code = super::main_with_args(["berth", "ps", "-n", "two"].map(Into::into));
        assert_eq!(code, 125);
        assert_eq!(
            super::usage_error_line(
                "error: unrecognized subcommand 'lss'\n\n  tip: a similar subcommand exists: 'ls'\n\nUsage: berth container <COMMAND>\n"
            ),
            "unrecognized subcommand 'lss'"
        );
    }
}
