//! The bodies of berth's fuzz targets, one module per file under
//! `src/targets/` (build.rs lists them), each a `run(&[u8])` that feeds the
//! input to one parser the way berth does and panics when an invariant
//! breaks: nothing may panic, hang or write outside the place it was given.
//! `cargo fuzz` (the crate in `tests/fuzz`) drives them coverage-guided on
//! nightly; `cargo test` replays their checked-in corpus under
//! `tests/fuzz/corpus/NAME/` and a bounded, deterministic set of mutations of
//! it on the stable toolchain, so a crash once found stays fixed.

pub mod mutate;
pub mod scratch;

/// One fuzz target.
pub struct Target {
    /// its name: the corpus directory and `make fuzz TARGET=`
    pub name: &'static str,
    /// feeds one input; panics on a broken invariant
    pub run: fn(&[u8]),
    /// how many mutated cases `cargo test` derives from the corpus
    pub generated: usize,
}

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}

/// The checked-in corpus of every target: `tests/fuzz/corpus`.
pub fn corpus_root() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus")
}

/// The corpus files of `name`, sorted by file name (empty if it has none).
pub fn corpus(name: &str) -> Vec<(String, Vec<u8>)> {
    let dir = corpus_root().join(name);
    let mut out: Vec<(String, Vec<u8>)> = match std::fs::read_dir(&dir) {
        Ok(rd) => rd
            .filter_map(|e| {
                let e = e.ok()?;
                let data = std::fs::read(e.path()).ok()?;
                Some((e.file_name().to_string_lossy().into_owned(), data))
            })
            .collect(),
        Err(_) => Vec::new(),
    };
    out.sort();
    out
}

/// Runs target `name` over its checked-in corpus, then over a bounded,
/// deterministic set of mutations of it (`Target::generated` cases), as the
/// stable-toolchain tests do; `BERTH_FUZZ_VERBOSE=1` names each case first.
pub fn replay(name: &str) {
    let target = target(name).unwrap_or_else(|| panic!("no fuzz target {name}"));
    let files = corpus(name);
    assert!(
        !files.is_empty(),
        "{name}: no corpus in tests/fuzz/corpus/{name}"
    );
    let verbose = std::env::var_os("BERTH_FUZZ_VERBOSE").is_some();
    for (file, data) in &files {
        if verbose {
            eprintln!("{name}: corpus {file}");
        }
        (target.run)(data);
    }
    let seeds: Vec<Vec<u8>> = files.into_iter().map(|(_, d)| d).collect();
    // a seed of its own per target, so targets do not share one sequence
    let seed = name.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
    });
    for (i, case) in mutate::cases(&seeds, target.generated, seed)
        .iter()
        .enumerate()
    {
        if verbose {
            eprintln!("{name}: generated case {i} ({} bytes)", case.len());
        }
        (target.run)(case);
    }
}

// the target modules, `TARGETS` and one replay test per target (build.rs)
include!(concat!(env!("OUT_DIR"), "/targets.rs"));
