//! A reader that closes berth's standard output early (`berth ps -q |
//! head -1`) ends berth quietly, as the SIGPIPE that ends docker's CLI
//! does.  Rust ignores SIGPIPE, so `println!` into the closed pipe panics,
//! and the release build aborts with a backtrace and status 134.  SIGPIPE
//! itself stays ignored: a write to a manager or registry socket whose peer
//! went away is still an error berth reports and exits on with its code.

/// What a shell reports for a process SIGPIPE ended: 128 + 13.
const CLOSED_PIPE_STATUS: i32 = 128 + libc::SIGPIPE;

/// Installs a panic hook (chained before the previous one) that turns a
/// failed print to a closed stdout into exit status 141, without a word.
pub fn exit_quietly_on_closed_stdout() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg = payload
            .downcast_ref::<String>()
            .map(String::as_str)
            .or_else(|| payload.downcast_ref::<&str>().copied())
            .unwrap_or("");
        if is_closed_stdout(msg) {
            std::process::exit(CLOSED_PIPE_STATUS);
        }
        previous(info);
    }));
}

/// The panic `print!`/`println!` raise when stdout's reader has gone.
fn is_closed_stdout(msg: &str) -> bool {
    msg.starts_with("failed printing to stdout") && msg.contains("os error 32")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_broken_stdout_pipe_counts() {
        assert!(is_closed_stdout(
            "failed printing to stdout: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stderr: Broken pipe (os error 32)"
        ));
        assert!(!is_closed_stdout(
            "failed printing to stdout: No space left on device (os error 28)"
        ));
        assert!(!is_closed_stdout("index out of bounds"));
    }
}
