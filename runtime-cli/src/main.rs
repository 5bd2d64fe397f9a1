use clap::Parser;

fn main() {
    let args = berth_runtime::cli::normalize_args(std::env::args());
    // before anything else: a process put into a container must never have
    // the host's binary as its /proc/<pid>/exe; the cheap look at the
    // subcommand spares the copy that re-execs a full argument parse
    let early = matches!(
        berth_runtime::cli::subcommand_name(&args),
        Some("create" | "run" | "exec")
    );
    let early_result = if early {
        berth_runtime::sealed_exe::ensure()
    } else {
        Ok(())
    };
    let cli = berth_runtime::cli::Cli::parse_from(args);
    let sealed = match early_result {
        Ok(()) if !early && berth_runtime::enters_container(&cli.command) => {
            berth_runtime::sealed_exe::ensure()
        }
        other => other,
    };
    if let Err(e) = sealed {
        berth_runtime::logging::init(cli.log.clone(), cli.log_format, cli.debug);
        berth_runtime::logging::error(&e.to_string());
        std::process::exit(1);
    }
    match berth_runtime::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // messages already carry their causes: print the top one only
            berth_runtime::logging::error(&e.to_string());
            std::process::exit(1);
        }
    }
}
