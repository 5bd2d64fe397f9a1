//! Lays out a long-lived binary's code so an idle process maps little of it.
//!
//! The kernel maps a file-backed text page together with its neighbours
//! (fault-around, 64 KiB or more, or a whole large folio), so code run once
//! here and once there leaves most of a binary's text resident: in the shim,
//! 1.3 MiB of a 1.9 MiB idle RSS was text, though the functions it ever ran
//! up to idle came to about 440 KiB. A link-order list names those
//! functions first (then the rest of the binary's everyday work), and the
//! linker puts them at the start of `.text` in that order; `link-order.sh`
//! beside this crate makes the lists. A name the build does not have (after
//! a dependency changed) is skipped, so a stale list costs memory, never a
//! failed build.
//!
//! Only rust-lld (the default linker of x86_64-unknown-linux-gnu since Rust
//! 1.90) is given a list: GNU ld has no such option.

use std::path::Path;
use std::process::Command;

/// Called from a build script: links binary `bin` of the package being
/// built in the order `list` gives (a path relative to the package), when
/// that list exists.
pub fn order_binary(bin: &str, list: &str) {
    println!("cargo:rerun-if-changed={list}");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if !links_with_rust_lld() {
        return;
    }
    let list = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it")).join(list);
    // a binary not profiled yet links in the compiler's order
    if !list.is_file() {
        return;
    }
    println!(
        "cargo:rustc-link-arg-bin={bin}=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    println!("cargo:rustc-link-arg-bin={bin}=-Wl,--no-warn-symbol-ordering");
}

/// Whether the package's binaries are linked by rust-lld: the target's
/// default from Rust 1.90 on, unless the flags pick another linker.
fn links_with_rust_lld() -> bool {
    if std::env::var("TARGET").as_deref() != Ok("x86_64-unknown-linux-gnu") {
        return false;
    }
    let flags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    if ["linker", "fuse-ld", "link-self-contained"]
        .iter()
        .any(|f| flags.contains(f))
    {
        return false;
    }
    let rustc = std::env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let Ok(out) = Command::new(rustc).arg("--version").output() else {
        return false;
    };
    rustc_minor(&String::from_utf8_lossy(&out.stdout)).is_some_and(|m| m >= 90)
}

/// The minor version in `rustc --version`'s "rustc 1.95.0 (…)".
fn rustc_minor(version: &str) -> Option<u32> {
    version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::rustc_minor;

    #[test]
    fn reads_the_minor_version() {
        assert_eq!(rustc_minor("rustc 1.95.0 (59807616e 2026-10-01)"), Some(95));
        assert_eq!(
            rustc_minor("rustc 1.89.0-nightly (abc 2025-06-01)"),
            Some(89)
        );
        assert_eq!(rustc_minor("garbage"), None);
    }
}
