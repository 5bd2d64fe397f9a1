use clap::Parser;

fn main() {
    let args = berth_runtime::cli::normalize_args(std::env::args());
    let cli = berth_runtime::cli::Cli::parse_from(args);
    match berth_runtime::dispatch(cli) {
        Ok(code) => std::process::exit(code),
        Err(e) => {
            // messages already carry their causes: print the top one only
            berth_runtime::logging::error(&e.to_string());
            std::process::exit(1);
        }
    }
}
