//! The rootfs of an auto-remove (`--rm`) container as a volatile overlay.
//!
//! Unmounting an overlay syncs its whole upper filesystem (`syncfs`), which
//! on a busy disk costs tens to hundreds of milliseconds at every `run --rm`
//! exit. The container layer of an auto-remove container is thrown away with
//! the container, and a crash that loses its unsynced writes also ends the
//! container (recovery removes it), so it is mounted with overlay's
//! `volatile` option, which skips every sync of the upper filesystem.
//!
//! A volatile mount leaves `<workdir>/work/incompat/volatile` behind, and
//! overlay refuses to mount that upper again while it is there: a second
//! start of the same container (its first one failed after the mount) clears
//! the marker first. Only the manager mounts this layer, and only while the
//! container has no task, so the marker found then is from an earlier
//! mount by this same container layer.

use std::path::Path;

/// The overlay option that skips syncs of the upper filesystem.
const VOLATILE: &str = "volatile";

/// `options` of a rootfs mount of `kind`, with `volatile` added for an
/// overlay of an auto-remove container (and its marker from an earlier
/// mount removed).
pub fn mount_options(kind: &str, options: &[String], auto_remove: bool) -> Vec<String> {
    let mut options = options.to_vec();
    if !auto_remove || kind != "overlay" || options.iter().any(|o| o == VOLATILE) {
        return options;
    }
    let Some(workdir) = options.iter().find_map(|o| o.strip_prefix("workdir=")) else {
        return options;
    };
    let marker = Path::new(workdir).join("work/incompat/volatile");
    match std::fs::remove_dir_all(&marker) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        // the mount would be refused: mount as before instead
        Err(_) => return options,
    }
    options.push(VOLATILE.to_string());
    options
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(work: &Path) -> Vec<String> {
        vec![
            "lowerdir=/l".into(),
            "upperdir=/u".into(),
            format!("workdir={}", work.display()),
        ]
    }

    #[test]
    fn only_auto_remove_overlays_are_volatile() {
        let dir = tempfile::tempdir().unwrap();
        let o = opts(dir.path());
        assert!(!mount_options("overlay", &o, false).contains(&VOLATILE.to_string()));
        assert!(!mount_options("bind", &o, true).contains(&VOLATILE.to_string()));
        let v = mount_options("overlay", &o, true);
        assert_eq!(v.iter().filter(|x| *x == VOLATILE).count(), 1);
        assert_eq!(mount_options("overlay", &v, true), v);
    }

    #[test]
    fn a_marker_of_an_earlier_mount_is_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let marker = dir.path().join("work/incompat/volatile/dirty");
        std::fs::create_dir_all(&marker).unwrap();
        let v = mount_options("overlay", &opts(dir.path()), true);
        assert!(v.contains(&VOLATILE.to_string()));
        assert!(!dir.path().join("work/incompat/volatile").exists());
        assert!(dir.path().join("work").exists());
    }
}
