//! One image layer (tar, gzip or zstd) unpacked into an empty directory, as
//! `prepare` unpacks every layer: hostile names, links, whiteouts, devices
//! and modes may be refused but never write outside the directory.

pub const GENERATED: usize = 1500;

use crate::scratch::Scratch;

thread_local! {
    static SCRATCH: Scratch = Scratch::new();
}

pub fn run(data: &[u8]) {
    SCRATCH.with(|s| {
        if let Err(e) = berth_image_store::unpack_layer(data, &s.place()) {
            assert!(!e.to_string().contains('\n'), "multi-line error: {e}");
        }
        s.check();
        s.clear();
    });
}
