use clap::Parser;

fn main() {
    let args = berth_runtime::cli::normalize_args(std::env::args());
    let cli = berth_runtime::cli::Cli::parse_from(args);
    // before anything else: a process put into a container must never have
    // the host's binary as its /proc/<pid>/exe
    if berth_runtime::enters_container(&cli.command) {
        if let Err(e) = berth_runtime::sealed_exe::ensure() {
            berth_runtime::logging::init(cli.log.clone(), cli.log_format, cli.debug);
            berth_runtime::logging::error(&e.to_string());
            std::process::exit(1);
        }
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
