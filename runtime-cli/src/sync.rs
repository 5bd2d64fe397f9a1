//! The channel between the runtime and the processes it forks: a
//! `SOCK_SEQPACKET` socket pair carrying one JSON message per packet and,
//! where needed, a file descriptor.

use nix::sys::socket::{
    recvmsg, sendmsg, socketpair, AddressFamily, ControlMessage, ControlMessageOwned, MsgFlags,
    SockFlag, SockType,
};
use serde::{Deserialize, Serialize};
use std::io::{IoSlice, IoSliceMut};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

const MAX_MESSAGE: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot create sync socket: {0}")]
    Socket(nix::Error),
    #[error("sync socket send: {0}")]
    Send(nix::Error),
    #[error("sync socket receive: {0}")]
    Receive(nix::Error),
    #[error("container setup process exited before reporting")]
    Closed,
    #[error("unexpected sync message {got:?}, wanted {wanted}")]
    Unexpected { got: Message, wanted: &'static str },
    #[error("malformed sync message: {0}")]
    Malformed(serde_json::Error),
}

/// Messages between the runtime (parent) and its setup processes.
#[derive(Debug, Serialize, Deserialize)]
pub enum Message {
    /// child → parent: write my uid/gid maps (I unshared a user namespace)
    IdMapRequest,
    /// parent → child: maps written
    IdMapDone,
    /// intermediate child → parent: the container process' pid
    Pid(i32),
    /// parent → container: go on; your pid as the runtime sees it
    Go { host_pid: i32 },
    /// container → parent: run prestart and createRuntime hooks now
    RunCreateRuntimeHooks,
    /// parent → container: hooks done
    HooksDone,
    /// container → parent: setup finished, waiting for `start`
    Ready,
    /// container → parent: the pty master follows as the attached fd
    ConsoleMaster,
    /// any child → parent: setup failed
    Error(String),
}

pub struct Channel {
    fd: OwnedFd,
}

/// A connected pair: (parent end, child end). Both are close-on-exec, so the
/// child's end closing tells the parent the container process exec'd.
pub fn pair() -> Result<(Channel, Channel), Error> {
    let (a, b) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .map_err(Error::Socket)?;
    // SAFETY: socketpair returned two fresh descriptors that nothing else owns.
    let (a, b) = unsafe { (OwnedFd::from_raw_fd(a), OwnedFd::from_raw_fd(b)) };
    Ok((Channel { fd: a }, Channel { fd: b }))
}

impl Channel {
    pub fn raw(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    pub fn send(&self, msg: &Message) -> Result<(), Error> {
        self.send_with_fd(msg, None)
    }

    pub fn send_with_fd(&self, msg: &Message, fd: Option<RawFd>) -> Result<(), Error> {
        let data = serde_json::to_vec(msg).expect("message serializes");
        let iov = [IoSlice::new(&data)];
        let fds;
        let cmsgs: &[ControlMessage] = match fd {
            Some(f) => {
                fds = [f];
                &[ControlMessage::ScmRights(&fds)]
            }
            None => &[],
        };
        loop {
            match sendmsg::<()>(self.raw(), &iov, cmsgs, MsgFlags::MSG_NOSIGNAL, None) {
                Ok(_) => return Ok(()),
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::Send(e)),
            }
        }
    }

    /// Receives one message; `Err(Closed)` when the other end is gone.
    pub fn recv(&self) -> Result<(Message, Option<OwnedFd>), Error> {
        let mut buf = vec![0u8; MAX_MESSAGE];
        let mut cmsg_buf = nix::cmsg_space!([RawFd; 1]);
        let (len, fd) = loop {
            let mut iov = [IoSliceMut::new(&mut buf)];
            match recvmsg::<()>(
                self.raw(),
                &mut iov,
                Some(&mut cmsg_buf),
                MsgFlags::MSG_CMSG_CLOEXEC,
            ) {
                Ok(msg) => {
                    let mut fd = None;
                    for c in msg.cmsgs() {
                        if let ControlMessageOwned::ScmRights(fds) = c {
                            for f in fds {
                                // SAFETY: the kernel installed this descriptor for us.
                                let owned = unsafe { OwnedFd::from_raw_fd(f) };
                                fd.get_or_insert(owned);
                            }
                        }
                    }
                    break (msg.bytes, fd);
                }
                Err(nix::Error::EINTR) => continue,
                Err(e) => return Err(Error::Receive(e)),
            }
        };
        if len == 0 {
            return Err(Error::Closed);
        }
        let msg = serde_json::from_slice(&buf[..len]).map_err(Error::Malformed)?;
        Ok((msg, fd))
    }

    /// Receives the reply to a request, turning a reported error into `Err`.
    pub fn reply(&self) -> Result<Message, ChildError> {
        match self.recv() {
            Ok((Message::Error(e), _)) => Err(ChildError::Reported(e)),
            Ok((m, _)) => Ok(m),
            Err(e) => Err(ChildError::Sync(e)),
        }
    }
}

/// Why a setup child failed.
#[derive(Debug, thiserror::Error)]
pub enum ChildError {
    #[error("{0}")]
    Reported(String),
    #[error(transparent)]
    Sync(#[from] Error),
}
