//! The shim's diagnostics. A daemonized shim's stderr is its bundle's `log`
//! FIFO, read by the manager; while no manager runs the FIFO has no reader
//! and a write fails with EPIPE. `eprintln!` panics on a failed write (and
//! a panic aborts the shim, killing the container's last link to the
//! manager), so every line goes through [`log_line!`], which drops it.

/// Writes one line to stderr; a failed write loses the line, never the shim.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
