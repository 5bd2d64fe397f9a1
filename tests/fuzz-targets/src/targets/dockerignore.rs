//! `.dockerignore` patterns: the input is the file's text, then a NUL, then
//! context paths (one a line) to match against the compiled patterns.

pub const GENERATED: usize = 1500;

use berth_build::ignore::{self, Ignore};

pub fn run(data: &[u8]) {
    let text = String::from_utf8_lossy(data);
    let (patterns, paths) = text.split_once('\0').unwrap_or((&text, "a/b\nc"));
    let Ok(ig) = Ignore::parse(patterns) else {
        return;
    };
    let _ = ig.has_exceptions();
    for (i, path) in paths.lines().take(64).enumerate() {
        let cleaned = ignore::clean(path);
        assert_eq!(ignore::clean(&cleaned), cleaned, "clean is not idempotent on {path:?}");
        let _ = ig.excludes(path);
        // COPY's glob check compiles a regex per element: a few pairs suffice
        for pattern in patterns.lines().take(if i < 8 { 8 } else { 0 }) {
            let _ = ignore::glob_matches(pattern.trim(), path);
            let _ = ignore::is_glob(pattern);
        }
    }
}
