use std::io::Write;

use anyhow::Context;
use berth_shim::args::{Action, Args};

fn main() {
    if let Err(e) = run() {
        berth_shim::log_line!("containerd-shim-berth-v2: {e:#}");
        std::process::exit(1);
    }
}

fn run() -> anyhow::Result<()> {
    let args = Args::parse(std::env::args().skip(1))?;
    let mut out = std::io::stdout();
    match args.action {
        Action::Version => writeln!(out, "{}", berth_shim::version())?,
        Action::Info => out.write_all(&berth_shim::start::runtime_info()?)?,
        Action::Start => {
            let address = berth_shim::start::start(&args).context("start")?;
            write!(out, "{address}")?;
        }
        Action::Delete => {
            let resp = berth_shim::cleanup::delete(&args).context("delete")?;
            out.write_all(&resp)?;
        }
        Action::Serve => berth_shim::serve::serve(&args).context("serve")?,
    }
    out.flush()?;
    Ok(())
}
