//! Registers every `src/targets/NAME.rs` as the fuzz target NAME, so adding
//! a target is adding that one file: it is compiled as a module and listed
//! in `TARGETS` for the fuzz binary, with a replay test of its own.

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("src/targets");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut names: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".rs").map(str::to_string)
        })
        .collect();
    names.sort();
    let mut out = String::new();
    for n in &names {
        let path = dir.join(format!("{n}.rs"));
        writeln!(
            out,
            "#[path = {:?}]\npub mod {n};",
            path.display().to_string()
        )
        .unwrap();
    }
    out.push_str("/// Every target, by name.\npub const TARGETS: &[Target] = &[\n");
    for n in &names {
        writeln!(
            out,
            "    Target {{ name: {n:?}, run: {n}::run, generated: {n}::GENERATED }},"
        )
        .unwrap();
    }
    out.push_str("];\n");
    // one replay test per target, so they run in parallel and fail by name
    out.push_str("#[cfg(test)]\nmod replay_tests {\n");
    for n in &names {
        writeln!(
            out,
            "    #[test]\n    fn {n}() {{\n        crate::replay({n:?});\n    }}"
        )
        .unwrap();
    }
    out.push_str("}\n");
    let dest = PathBuf::from(std::env::var("OUT_DIR").unwrap()).join("targets.rs");
    std::fs::write(&dest, out).unwrap_or_else(|e| panic!("write {}: {e}", dest.display()));
}
