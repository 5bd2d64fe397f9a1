//! spawn — run one command and report its wall time and wait4 rusage.
//!
//! Usage: spawn PROGRAM [ARG...]
//!
//! Prints one line to stdout, `wall_ns utime_us stime_us maxrss_kib status`,
//! where wall is the monotonic time from just before the spawn to wait4's
//! return, and the rest is wait4's rusage of the child (its own usage plus that
//! of every descendant it waited for; maxrss is the max over those, not a sum).
//! The child gets /dev/null as stdin and stdout and this process's stderr.
//!
//! Why not time straight from the Python harness: at execve the kernel folds
//! the peak RSS of the process's previous address space into its ru_maxrss, so
//! a child spawned by a ~15 MiB Python reports at least ~15 MiB whatever it
//! execs.  This launcher is small (~1-2 MiB), so the RSS it reports is the
//! runtime's own.  benches/runtime.sh builds it with plain `rustc -O` (std only).

use std::os::unix::process::ExitStatusExt;
use std::process::{Command, ExitStatus, Stdio};
use std::time::Instant;

#[repr(C)]
struct Timeval {
    tv_sec: i64,
    tv_usec: i64,
}

/// `struct rusage` of x86_64 / aarch64 Linux: two timevals and 14 longs.
#[repr(C)]
struct Rusage {
    ru_utime: Timeval,
    ru_stime: Timeval,
    ru_maxrss: i64,
    rest: [i64; 13],
}

extern "C" {
    fn wait4(pid: i32, status: *mut i32, options: i32, rusage: *mut Rusage) -> i32;
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        eprintln!("usage: spawn PROGRAM [ARG...]");
        std::process::exit(2);
    }
    let mut cmd = Command::new(&args[0]);
    cmd.args(&args[1..]).stdin(Stdio::null()).stdout(Stdio::null());
    let t0 = Instant::now();
    let child = match cmd.spawn() {
        Ok(c) => c,
        Err(e) => {
            eprintln!("spawn: {}: {e}", args[0]);
            std::process::exit(127);
        }
    };
    let pid = child.id() as i32;
    let mut status = 0i32;
    let mut ru = Rusage {
        ru_utime: Timeval { tv_sec: 0, tv_usec: 0 },
        ru_stime: Timeval { tv_sec: 0, tv_usec: 0 },
        ru_maxrss: 0,
        rest: [0; 13],
    };
    loop {
        // SAFETY: wait4 writes the status and the rusage into values we own.
        let r = unsafe { wait4(pid, &mut status, 0, &mut ru) };
        if r == pid {
            break;
        }
        if std::io::Error::last_os_error().raw_os_error() != Some(libc_eintr()) {
            eprintln!("spawn: wait4: {}", std::io::Error::last_os_error());
            std::process::exit(126);
        }
    }
    let wall = t0.elapsed();
    // `child` is reaped already: never wait on it again
    std::mem::forget(child);
    let us = |t: &Timeval| t.tv_sec * 1_000_000 + t.tv_usec;
    let code = ExitStatus::from_raw(status)
        .code()
        .unwrap_or_else(|| 128 + ExitStatus::from_raw(status).signal().unwrap_or(0));
    println!(
        "{} {} {} {} {}",
        wall.as_nanos(),
        us(&ru.ru_utime),
        us(&ru.ru_stime),
        ru.ru_maxrss,
        code
    );
}

const fn libc_eintr() -> i32 {
    4
}
