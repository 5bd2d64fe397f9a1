//! A filter compiled to its BPF program, loaded with seccomp(2) itself.
//!
//! libseccomp spends most of a container start's seccomp time turning a
//! profile of some 350 syscalls with argument conditions into BPF. The
//! program it makes depends on nothing but the profile, libseccomp and the
//! architecture, so a [`Program`] keeps it — in memory across a fork, on
//! disk across runs ([`crate::cache`]) — and loads it with the same flags
//! libseccomp's own load would pass. NOTIFY profiles are not compiled this
//! way: their listener fd comes from libseccomp's load.

use std::io::{Read, Seek};
use std::os::fd::{FromRawFd, OwnedFd};

use libseccomp::ScmpFilterContext;

use crate::Error;

/// The kernel's longest seccomp program, in instructions (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// SECCOMP_FILTER_FLAG_* bits libseccomp's load would pass for these
/// attributes, as <linux/seccomp.h> numbers them.
const FLAG_TSYNC: u32 = 1;
const FLAG_LOG: u32 = 2;
const FLAG_SPEC_ALLOW: u32 = 4;
const FLAG_WAIT_KILLABLE_RECV: u32 = 32;

/// One BPF instruction, laid out as the kernel's `struct sock_filter`
/// (which libc defines without the traits a comparison needs).
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Insn {
    code: u16,
    jt: u8,
    jf: u8,
    k: u32,
}

const _: () = assert!(std::mem::size_of::<Insn>() == std::mem::size_of::<libc::sock_filter>());
const _: () = assert!(std::mem::align_of::<Insn>() == std::mem::align_of::<libc::sock_filter>());

/// A seccomp filter as the kernel takes it: BPF instructions and the flags
/// of seccomp(SECCOMP_SET_MODE_FILTER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Program {
    insns: Vec<Insn>,
    flags: u32,
}

impl Program {
    /// The program libseccomp generates for `ctx`, and the load flags its
    /// attributes ask for.
    pub(crate) fn export(ctx: &ScmpFilterContext) -> Result<Program, Error> {
        let fail = |cause: String| Error::Export { cause };
        // SAFETY: memfd_create with a NUL-terminated name and valid flags
        // returns a new descriptor or -1.
        let fd = unsafe { libc::memfd_create(c"berth-seccomp".as_ptr(), libc::MFD_CLOEXEC) };
        if fd < 0 {
            return Err(fail(format!(
                "memfd_create: {}",
                std::io::Error::last_os_error()
            )));
        }
        // SAFETY: `fd` was just returned by memfd_create and nothing else owns it.
        let mut file = std::fs::File::from(unsafe { OwnedFd::from_raw_fd(fd) });
        ctx.export_bpf(&file).map_err(|e| fail(e.to_string()))?;
        let mut bytes = Vec::new();
        file.rewind()
            .and_then(|_| file.read_to_end(&mut bytes))
            .map_err(|e| fail(e.to_string()))?;
        let bit = |on: bool, bit: u32| if on { bit } else { 0 };
        let flags = bit(ctx.get_ctl_tsync().unwrap_or(false), FLAG_TSYNC)
            | bit(ctx.get_ctl_log().unwrap_or(false), FLAG_LOG)
            | bit(ctx.get_ctl_ssb().unwrap_or(false), FLAG_SPEC_ALLOW)
            | bit(
                ctx.get_ctl_waitkill().unwrap_or(false),
                FLAG_WAIT_KILLABLE_RECV,
            );
        Program::from_parts(&bytes, flags).ok_or_else(|| {
            fail(format!(
                "libseccomp wrote {} bytes, not a program of 1 to {MAX_INSNS} instructions",
                bytes.len()
            ))
        })
    }

    /// A program from its instructions' bytes (host order, 8 bytes each,
    /// as `seccomp_export_bpf` writes them) and its load flags; `None` when
    /// the bytes are not 1 to [`MAX_INSNS`] whole instructions or a flag is
    /// not one a profile can set.
    pub fn from_parts(bytes: &[u8], flags: u32) -> Option<Program> {
        let size = std::mem::size_of::<Insn>();
        let known = FLAG_TSYNC | FLAG_LOG | FLAG_SPEC_ALLOW | FLAG_WAIT_KILLABLE_RECV;
        if bytes.is_empty() || !bytes.len().is_multiple_of(size) || bytes.len() / size > MAX_INSNS {
            return None;
        }
        if flags & !known != 0 {
            return None;
        }
        let insns = bytes
            .chunks_exact(size)
            .map(|b| Insn {
                code: u16::from_ne_bytes([b[0], b[1]]),
                jt: b[2],
                jf: b[3],
                k: u32::from_ne_bytes([b[4], b[5], b[6], b[7]]),
            })
            .collect();
        Some(Program { insns, flags })
    }

    /// The instructions' bytes, as [`Program::from_parts`] reads them.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.insns.len() * 8);
        for i in &self.insns {
            out.extend_from_slice(&i.code.to_ne_bytes());
            out.push(i.jt);
            out.push(i.jf);
            out.extend_from_slice(&i.k.to_ne_bytes());
        }
        out
    }

    /// The flags seccomp(2) is called with.
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Loads the program for the calling thread (every thread with TSYNC),
    /// inherited across fork and exec. Fails with `EACCES` unless the
    /// process has no_new_privs or CAP_SYS_ADMIN, as [`crate::Filter::load`].
    pub fn load(&self) -> Result<(), Error> {
        let prog = libc::sock_fprog {
            // at most MAX_INSNS (from_parts), so it fits
            len: self.insns.len() as u16,
            // Insn is sock_filter's layout (checked above)
            filter: self.insns.as_ptr().cast::<libc::sock_filter>().cast_mut(),
        };
        // SAFETY: seccomp(2) reads `prog` and the `len` instructions it
        // points to, which live in `self.insns` for the whole call.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        match rc {
            0 => Ok(()),
            // with TSYNC, the id of a thread that could not be synchronised
            tid if tid > 0 => Err(Error::load(std::io::Error::other(format!(
                "thread {tid} could not be synchronised"
            )))),
            _ => Err(Error::load(std::io::Error::last_os_error())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_round_trip_and_bad_ones_are_refused() {
        let bytes: Vec<u8> = (0u8..32).collect();
        let p = Program::from_parts(&bytes, FLAG_LOG).expect("four instructions");
        assert_eq!(p.bytes(), bytes);
        assert_eq!(p.flags(), FLAG_LOG);
        assert!(
            Program::from_parts(&bytes[..31], 0).is_none(),
            "a torn instruction"
        );
        assert!(Program::from_parts(&[], 0).is_none(), "no instruction");
        assert!(
            Program::from_parts(&bytes, 1 << 7).is_none(),
            "an unknown flag"
        );
        let too_long = vec![0u8; (MAX_INSNS + 1) * 8];
        assert!(
            Program::from_parts(&too_long, 0).is_none(),
            "over BPF_MAXINSNS"
        );
    }
}
