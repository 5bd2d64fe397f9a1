//! Lays out the shim's code so an idle shim maps little of it.
//!
//! The kernel maps a file-backed text page together with its neighbours
//! (fault-around, 64 KiB or more), so code run once here and once there
//! leaves the whole text resident: 1.3 MiB of the shim's 1.9 MiB idle RSS
//! was text, though the functions it ever runs up to idle are about 440 KiB.
//! `link-order.txt` lists those functions first (then the rest of a
//! container's lifecycle: exec, stop, delete, a tty), and the linker puts
//! them at the start of `.text` in that order; see `link-order.sh` for how
//! the list is made. A name the build does not have (after a dependency
//! changed) is skipped, so a stale list costs memory, never a failed build.
//!
//! Only rust-lld (the default linker of x86_64-unknown-linux-gnu since Rust
//! 1.90) is given the list: GNU ld has no such option.

use std::path::Path;
use std::process::Command;

fn main() {
    println!("cargo:rerun-if-changed=link-order.txt");
    println!("cargo:rerun-if-env-changed=CARGO_ENCODED_RUSTFLAGS");
    if !links_with_rust_lld() {
        return;
    }
    let list = Path::new(&std::env::var("CARGO_MANIFEST_DIR").expect("cargo sets it"))
        .join("link-order.txt");
    println!(
        "cargo:rustc-link-arg-bin=containerd-shim-berth-v2=-Wl,--symbol-ordering-file={}",
        list.display()
    );
    println!("cargo:rustc-link-arg-bin=containerd-shim-berth-v2=-Wl,--no-warn-symbol-ordering");
}

/// Whether the shim binary is linked by rust-lld: the target's default
/// from Rust 1.90 on, unless the flags pick another linker.
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
    // "rustc 1.95.0 (…)"
    let version = String::from_utf8_lossy(&out.stdout);
    let minor = version
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.split('.').nth(1))
        .and_then(|m| m.parse::<u32>().ok());
    minor.is_some_and(|m| m >= 90)
}
