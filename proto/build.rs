//! Generates the Rust code for every `.proto` under `protos/berth/` and
//! `protos/containerd/` with ttrpc-codegen (pure Rust: no protoc needed).

use std::path::{Path, PathBuf};

use ttrpc_codegen::{Codegen, Customize, ProtobufCustomize};

fn protos_under(dir: &Path, found: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("read {}: {e}", dir.display()))
        .map(|e| e.expect("dir entry").path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            protos_under(&path, found);
        } else if path.extension().is_some_and(|x| x == "proto") {
            found.push(path);
        }
    }
}

fn main() {
    let mut inputs = Vec::new();
    protos_under(Path::new("protos/berth"), &mut inputs);
    // containerd's own messages that containerd-shim-protos does not carry
    // (the runc runtime options).
    protos_under(Path::new("protos/containerd"), &mut inputs);
    println!("cargo:rerun-if-changed=protos");

    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("OUT_DIR")).join("berth");
    std::fs::create_dir_all(&out).expect("create OUT_DIR/berth");
    Codegen::new()
        .out_dir(&out)
        .inputs(&inputs)
        .include("protos")
        .rust_protobuf()
        .customize(Customize {
            async_all: true,
            ..Default::default()
        })
        .rust_protobuf_customize(ProtobufCustomize::default().gen_mod_rs(false))
        .run()
        .expect("ttrpc-codegen");

    // The generated files are written as whole modules; they are `include!`d
    // into inline modules, where inner attributes and inner doc comments are
    // not allowed.
    for entry in std::fs::read_dir(&out).expect("read OUT_DIR/berth") {
        let path = entry.expect("dir entry").path();
        let text = std::fs::read_to_string(&path).expect("read generated file");
        let kept: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with("#!") && !l.starts_with("//!"))
            .collect();
        std::fs::write(&path, kept.join("\n")).expect("write generated file");
    }
}
