//! `berth exec`'s output is whole: what a process writes just before it
//! exits is read from its FIFOs after the exit too, on stdout and stderr
//! alike, however quickly the process ends.

mod cli_support;

use berth_fixture::require_root;
use cli_support::Berth;

#[test]
fn exec_output_written_at_exit_is_never_lost() {
    require_root!("cli_exec_output::exec_output_written_at_exit_is_never_lost");
    let b = Berth::new();
    b.load_busybox();
    b.run(&["run", "-d", "--name", "out", "busybox", "sleep", "300"])
        .ok();
    for i in 0..20 {
        // a burst bigger than a pipe's buffer, then the last words at exit
        let out = b.run(&[
            "exec",
            "out",
            "sh",
            "-c",
            "seq 1 20000; echo last; echo err-last >&2",
        ]);
        assert_eq!(out.code(), 0, "{out}");
        let lines: Vec<&str> = out.stdout.lines().collect();
        assert_eq!(lines.len(), 20001, "round {i}: {} lines", lines.len());
        assert_eq!(lines.last(), Some(&"last"), "round {i}");
        assert_eq!(out.stderr.trim(), "err-last", "round {i}: {out}");
    }
    b.run(&["rm", "-f", "out"]).ok();
    b.assert_all_gone(&[]);
}
