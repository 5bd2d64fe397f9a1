//! The manager's log lines go to stderr (a file with `--log`). A write that
//! fails — the front end that started the manager closed its end — is
//! dropped rather than turned into a panic, as `eprintln!` would.

/// Writes one line to stderr, ignoring errors.
#[macro_export]
macro_rules! log_line {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}
