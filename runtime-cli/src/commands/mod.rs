//! The command handlers, one module per group of runc's commands, and
//! [`dispatch`], which runs the one the command line names:
//!
//! | command | handler |
//! |---|---|
//! | `create`, `run` | [`create::create`] (then `lifecycle::start_loaded`, `foreground::wait` for `run`) |
//! | `start`, `state`, `kill`, `delete`, `pause`, `resume`, `list` | [`lifecycle`] |
//! | `exec` | [`exec::exec`] |
//! | `ps`, `events`, `update`, `features` | [`info`] |
//! | `spec` | [`spec::write`] |

pub mod create;
pub mod exec;
pub mod info;
pub mod lifecycle;
pub mod spec;

use std::io::Write;
use std::path::PathBuf;

use crate::cli::{self, Cli, Command, ListFormat};
use crate::{foreground, logging, state_root};

/// Runs one command; returns the process exit code.
pub fn dispatch(cli: Cli) -> anyhow::Result<i32> {
    logging::init(cli.log.clone(), cli.log_format, cli.debug);
    let root = state_root(&cli);
    if cli.systemd_cgroup && !std::path::Path::new("/run/systemd/system").exists() {
        return Err(create::Error::NoSystemd.into());
    }
    let mut stdout = std::io::stdout().lock();
    match &cli.command {
        Command::Create(a) => {
            create::create(&create_options(&root, a, false))?;
        }
        Command::Run(r) => {
            let created = create::create(&create_options(&root, &r.create, !r.detach))?;
            // the state just written is the one in hand: no reload
            if let Err(e) = lifecycle::start_loaded(&root, &created.state) {
                let _ = lifecycle::delete_loaded(&root, &created.state, true);
                return Err(e.into());
            }
            if r.detach {
                return Ok(0);
            }
            let code = foreground::wait(created.state.pid, created.console)?;
            if !r.keep {
                lifecycle::delete_loaded(&root, &created.state, true)?;
            }
            return Ok(code);
        }
        Command::Start { id } => lifecycle::start(&root, id)?,
        Command::State { id } => {
            writeln!(stdout, "{}", lifecycle::state(&root, id)?)?;
        }
        Command::Kill(k) => lifecycle::kill(&root, &k.id, k.signal.as_deref(), k.all)?,
        Command::Delete(d) => lifecycle::delete(&root, &d.id, d.force)?,
        Command::Exec(e) => return Ok(exec::exec(&root, e)?),
        Command::Ps(p) => {
            let out = info::ps(&root, &p.id, p.format == ListFormat::Json, &p.ps_args)?;
            stdout.write_all(out.as_bytes())?;
        }
        Command::List(l) => {
            let items = lifecycle::list(&root);
            let out = lifecycle::format_list(&items, l.format == ListFormat::Json, l.quiet);
            stdout.write_all(out.as_bytes())?;
        }
        Command::Pause { id } => lifecycle::pause(&root, id)?,
        Command::Resume { id } => lifecycle::resume(&root, id)?,
        Command::Events(e) => info::events(&root, e, &mut stdout)?,
        Command::Update(u) => info::update(&root, u)?,
        Command::Spec(s) => {
            let bundle = s.bundle.clone().unwrap_or_else(|| PathBuf::from("."));
            spec::write(&bundle, s.rootless)?;
        }
        Command::Features => stdout.write_all(info::features().as_bytes())?,
    }
    Ok(0)
}

fn create_options<'a>(
    root: &'a std::path::Path,
    a: &'a cli::CreateArgs,
    foreground: bool,
) -> create::CreateOptions<'a> {
    create::CreateOptions {
        root,
        id: &a.id,
        bundle: &a.bundle,
        console_socket: a.console_socket.as_deref(),
        pid_file: a.pid_file.as_deref(),
        no_pivot: a.no_pivot,
        no_new_keyring: a.no_new_keyring,
        preserve_fds: a.preserve_fds,
        foreground,
    }
}
