//! Entering the new root: pivot_root (or chroot with `--no-pivot`), the old
//! root detached.

#[allow(unused_imports)]
use super::*;

/// Makes `rootfs` the root: pivot_root, or MS_MOVE + chroot with `--no-pivot`.
pub fn enter(rootfs: &Path, no_pivot: bool) -> Result<(), Error> {
    if no_pivot {
        chdir(rootfs).map_err(sys("chdir", rootfs))?;
        mount(
            Some(rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .map_err(sys("move mount", rootfs))?;
        nix::unistd::chroot(".").map_err(sys("chroot", rootfs))?;
        chdir("/").map_err(sys("chdir", Path::new("/")))?;
        return Ok(());
    }
    let old = open(
        "/",
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", Path::new("/")))?;
    // SAFETY: fresh descriptor from open.
    let old = unsafe { OwnedFd::from_raw_fd(old) };
    let new = open(
        rootfs,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .map_err(sys("open", rootfs))?;
    // SAFETY: fresh descriptor from open.
    let new = unsafe { OwnedFd::from_raw_fd(new) };
    fchdir(new.as_raw_fd()).map_err(sys("chdir", rootfs))?;
    pivot_root(".", ".").map_err(sys("pivot_root", rootfs))?;
    fchdir(old.as_raw_fd()).map_err(sys("chdir to old root", Path::new("/")))?;
    // the old root must not propagate its unmount back to the host
    mount(
        None::<&str>,
        ".",
        None::<&str>,
        MsFlags::MS_SLAVE | MsFlags::MS_REC,
        None::<&str>,
    )
    .map_err(sys("make old root slave", Path::new("/")))?;
    umount2(".", MntFlags::MNT_DETACH).map_err(sys("unmount old root", Path::new("/")))?;
    chdir("/").map_err(sys("chdir", Path::new("/")))?;
    Ok(())
}
