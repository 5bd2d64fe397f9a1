//! The one libFuzzer entry point: runs the target named by
//! `BERTH_FUZZ_TARGET` (a file under tests/fuzz-targets/src/targets/), so a
//! new target needs no change here.

#![no_main]

use std::sync::OnceLock;

static RUN: OnceLock<fn(&[u8])> = OnceLock::new();

fn selected() -> fn(&[u8]) {
    *RUN.get_or_init(|| {
        let name = std::env::var("BERTH_FUZZ_TARGET").unwrap_or_default();
        match berth_fuzz_targets::target(&name) {
            Some(t) => t.run,
            None => {
                let names: Vec<&str> = berth_fuzz_targets::TARGETS.iter().map(|t| t.name).collect();
                eprintln!("set BERTH_FUZZ_TARGET to one of: {}", names.join(", "));
                std::process::exit(2);
            }
        }
    })
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    selected()(data);
});
