//! Signal names as users and callers write them, parsed one way on every
//! tier: `KILL`, `SIGKILL`, `kill`, `9`, `RTMIN+3`, `SIGRTMAX-1` — the forms
//! both docker (`docker kill -s`, `--stop-signal`) and runc (`runc kill`)
//! accept. The CLI names a signal to the manager, the manager to the shim,
//! the shim to the runtime: one parser keeps every hop agreeing.

/// A signal that is no name or number of a Linux signal.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal {0:?}: give a name (KILL, SIGTERM, RTMIN+1) or a number from 1 to 64")]
pub struct InvalidSignal(pub String);

/// The standard signals by name, without `SIG`; aliases follow the name
/// the number is printed as.
const NAMES: &[(&str, i32)] = &[
    ("HUP", libc::SIGHUP),
    ("INT", libc::SIGINT),
    ("QUIT", libc::SIGQUIT),
    ("ILL", libc::SIGILL),
    ("TRAP", libc::SIGTRAP),
    ("ABRT", libc::SIGABRT),
    ("IOT", libc::SIGABRT),
    ("BUS", libc::SIGBUS),
    ("FPE", libc::SIGFPE),
    ("KILL", libc::SIGKILL),
    ("USR1", libc::SIGUSR1),
    ("SEGV", libc::SIGSEGV),
    ("USR2", libc::SIGUSR2),
    ("PIPE", libc::SIGPIPE),
    ("ALRM", libc::SIGALRM),
    ("TERM", libc::SIGTERM),
    ("STKFLT", libc::SIGSTKFLT),
    ("CHLD", libc::SIGCHLD),
    ("CLD", libc::SIGCHLD),
    ("CONT", libc::SIGCONT),
    ("STOP", libc::SIGSTOP),
    ("TSTP", libc::SIGTSTP),
    ("TTIN", libc::SIGTTIN),
    ("TTOU", libc::SIGTTOU),
    ("URG", libc::SIGURG),
    ("XCPU", libc::SIGXCPU),
    ("XFSZ", libc::SIGXFSZ),
    ("VTALRM", libc::SIGVTALRM),
    ("PROF", libc::SIGPROF),
    ("WINCH", libc::SIGWINCH),
    ("IO", libc::SIGIO),
    ("POLL", libc::SIGIO),
    ("PWR", libc::SIGPWR),
    ("SYS", libc::SIGSYS),
];

/// The highest signal number Linux has (`SIGRTMAX` as the kernel counts).
const MAX: i32 = 64;

/// The signal number `s` names: a name in any case with or without `SIG`,
/// `RTMIN`/`RTMAX` with an optional `+n`/`-n` offset, or a number 1–64.
pub fn parse(s: &str) -> Result<i32, InvalidSignal> {
    let bad = || InvalidSignal(s.to_string());
    let t = s.trim();
    if let Ok(n) = t.parse::<i32>() {
        return if (1..=MAX).contains(&n) {
            Ok(n)
        } else {
            Err(bad())
        };
    }
    let upper = t.to_ascii_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = name.strip_prefix("RTMIN") {
        return realtime(libc::SIGRTMIN(), rest).ok_or_else(bad);
    }
    if let Some(rest) = name.strip_prefix("RTMAX") {
        return realtime(libc::SIGRTMAX(), rest).ok_or_else(bad);
    }
    NAMES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, v)| *v)
        .ok_or_else(bad)
}

/// `SIGRTMIN`/`SIGRTMAX` moved by `rest` (`""`, `+3`, `-1`, `3`), if still a
/// real-time signal.
fn realtime(base: i32, rest: &str) -> Option<i32> {
    if rest.is_empty() {
        return Some(base);
    }
    let v = base + rest.parse::<i32>().ok()?;
    (libc::SIGRTMIN()..=libc::SIGRTMAX())
        .contains(&v)
        .then_some(v)
}

/// The `SIGKILL` form of a standard signal; real-time and other numbers
/// without a name print as the number (`40`), which [`parse`] reads back.
pub fn name(n: i32) -> String {
    match NAMES.iter().find(|(_, v)| *v == n) {
        Some((name, _)) => format!("SIG{name}"),
        None => n.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_every_form() {
        assert_eq!(parse("KILL"), Ok(9));
        assert_eq!(parse("SIGTERM"), Ok(15));
        assert_eq!(parse("term"), Ok(15));
        assert_eq!(parse("kill"), Ok(9));
        assert_eq!(parse("HUP"), Ok(1));
        assert_eq!(parse(" SIGHUP "), Ok(1));
        assert_eq!(parse("iot"), Ok(libc::SIGABRT));
        assert_eq!(parse("SIGCLD"), Ok(libc::SIGCHLD));
        assert_eq!(parse("POLL"), Ok(libc::SIGIO));
    }

    #[test]
    fn numbers_and_realtime_signals() {
        assert_eq!(parse("9"), Ok(9));
        assert_eq!(parse("10"), Ok(10));
        assert_eq!(parse("64"), Ok(64));
        assert_eq!(parse("RTMIN"), Ok(libc::SIGRTMIN()));
        assert_eq!(parse("RTMIN+1"), Ok(libc::SIGRTMIN() + 1));
        assert_eq!(parse("SIGRTMAX-1"), Ok(libc::SIGRTMAX() - 1));
        assert!(parse("RTMAX+1").is_err());
    }

    #[test]
    fn garbage_is_refused_with_the_input_named() {
        for bad in ["0", "65", "99", "-1", "", "BOGUS", "SIGNOPE", "NOPE"] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.0, bad);
            assert!(e.to_string().starts_with("invalid signal"), "{e}");
        }
    }

    #[test]
    fn names_print_as_docker_prints_them() {
        assert_eq!(name(9), "SIGKILL");
        assert_eq!(name(libc::SIGABRT), "SIGABRT");
        assert_eq!(name(libc::SIGCHLD), "SIGCHLD");
        assert_eq!(name(40), "40");
        for n in 1..=MAX {
            assert_eq!(parse(&name(n)), Ok(n));
        }
    }
}
