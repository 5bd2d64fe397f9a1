//! A scratch place for the targets that write files (layer tars, image
//! archives), laid out so a write outside it is seen: the place is
//! `ROOT/jail/place`, so an escape one or two `..` up lands beside it and is
//! found by `check`, and the canary paths catch a symlink or a deeper `..`
//! aimed at `/tmp` or `/` (the seed corpus aims its escapes there).

use std::fs;
use std::path::{Path, PathBuf};

/// Absolute paths the seed corpus's hostile entries aim at.
pub const CANARIES: &[&str] = &[
    "/tmp/berth-fuzz-escape",
    "/berth-fuzz-escape",
    "/tmp/berth-fuzz-escape-link",
];

/// A temp directory holding the place a target may write to.
pub struct Scratch {
    root: tempfile::TempDir,
}

impl Default for Scratch {
    fn default() -> Self {
        Self::new()
    }
}

impl Scratch {
    pub fn new() -> Scratch {
        let root = tempfile::Builder::new()
            .prefix("berth-fuzz.")
            .tempdir()
            .expect("create scratch dir");
        fs::create_dir_all(root.path().join("jail/place")).expect("create scratch place");
        Scratch { root }
    }

    /// Where the target may write.
    pub fn place(&self) -> PathBuf {
        self.root.path().join("jail/place")
    }

    /// A file beside the jail for the target's input.
    pub fn input(&self) -> PathBuf {
        self.root.path().join("input")
    }

    /// Empties the place (kept as an empty directory).
    pub fn clear(&self) {
        let place = self.place();
        make_writable(&place);
        let _ = fs::remove_dir_all(&place);
        fs::create_dir_all(&place).expect("recreate scratch place");
    }

    /// Panics if anything was written outside the place.
    pub fn check(&self) {
        let listed = |dir: &Path| -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(dir)
                .map(|rd| {
                    rd.filter_map(|e| e.ok())
                        .map(|e| e.file_name().to_string_lossy().into_owned())
                        .collect()
                })
                .unwrap_or_default();
            v.sort();
            v
        };
        let root = listed(self.root.path());
        assert!(
            root.iter().all(|n| n == "jail" || n == "input"),
            "write outside the place: {root:?} beside the jail"
        );
        let jail = listed(&self.root.path().join("jail"));
        assert_eq!(
            jail,
            ["place"],
            "write outside the place: {jail:?} in the jail"
        );
        for c in CANARIES {
            assert!(
                fs::symlink_metadata(c).is_err(),
                "write outside the place: {c} exists"
            );
        }
    }
}

/// Gives directories back their write and search bits so a tree unpacked
/// with hostile modes can be removed (root needs none, others do).
fn make_writable(dir: &Path) {
    use std::os::unix::fs::PermissionsExt;
    let Ok(rd) = fs::read_dir(dir) else { return };
    for e in rd.flatten() {
        if let Ok(md) = e.path().symlink_metadata() {
            if md.is_dir() {
                let _ = fs::set_permissions(e.path(), fs::Permissions::from_mode(0o755));
                make_writable(&e.path());
            }
        }
    }
}
