//! The task API's ttrpc server, on the shim's [`Reactor`]. ttrpc-rust's
//! sync server keeps a listener thread, a connection reaper and, per
//! connection, a reader, a writer, a dispatcher and a pool of workers
//! (ten threads for containerd's one connection); here the loop reads
//! every connection, and each request runs on a thread of its own that
//! writes its answer and ends. A call that only waits for a process to
//! exit (Wait) holds no thread at all: a [`Deferred`] handler keeps the
//! [`Replier`] and answers from the exit.
//!
//! The wire format is ttrpc's: a 10-byte header (payload length and stream
//! id, big-endian u32s; message type; flags) and a protobuf `Request` or
//! `Response`.

use std::collections::HashMap;
use std::io::{self, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::sync::{Arc, Condvar, Mutex};
use std::time::Duration;

use berth_proto::task::Methods;
use berth_proto::ttrpc::proto::{
    Codec, MessageHeader, ResponseInit, MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX,
    MESSAGE_TYPE_REQUEST,
};
use berth_proto::ttrpc::{
    context, get_status, Code, ConnectionContext, Request, Response, TtrpcContext,
};

use crate::reactor::{Reactor, Watch};

/// A method answered later, without a thread: it gets the request and
/// where to send the answer.
pub type Deferred = Box<dyn Fn(Request, Replier) + Send + Sync>;

/// Stack of a request thread: the handlers run runtime commands and
/// encode small messages.
const REQUEST_STACK: usize = 256 * 1024;

/// The answer channel of one request.
pub struct Replier {
    conn: Arc<Mutex<UnixStream>>,
    stream_id: u32,
}

impl Replier {
    /// Sends `res` as the answer; a connection that went away loses it.
    pub fn send(&self, res: Response) {
        let payload = match res.encode() {
            Ok(p) if p.len() <= MESSAGE_LENGTH_MAX => p,
            Ok(p) => encode_status(
                Code::RESOURCE_EXHAUSTED,
                format!("answer of {} bytes is over ttrpc's limit", p.len()),
            ),
            Err(e) => encode_status(Code::INTERNAL, format!("encode answer: {e}")),
        };
        self.send_frame(&payload);
    }

    /// Sends an error status as the answer.
    pub fn fail(&self, code: Code, message: impl Into<String>) {
        self.send_frame(&encode_status(code, message.into()));
    }

    fn send_frame(&self, payload: &[u8]) {
        let mut frame: Vec<u8> =
            MessageHeader::new_response(self.stream_id, payload.len() as u32).into();
        frame.extend_from_slice(payload);
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        let _ = conn.write_all(&frame);
    }
}

fn encode_status(code: Code, message: String) -> Vec<u8> {
    Response::init_status(get_status(code, message))
        .encode()
        .unwrap_or_default()
}

/// Requests running on their threads, so shutdown can let them answer.
#[derive(Default)]
struct InFlight {
    count: Mutex<usize>,
    done: Condvar,
}

impl InFlight {
    fn enter(self: &Arc<Self>) -> InFlightGuard {
        *self.count.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        InFlightGuard(self.clone())
    }
}

struct InFlightGuard(Arc<InFlight>);

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        let mut count = self.0.count.lock().unwrap_or_else(|p| p.into_inner());
        *count -= 1;
        let idle = *count == 0;
        drop(count);
        self.0.done.notify_all();
        if idle {
            // the last request running is done: what it freed goes back
            crate::heap::release_free();
        }
    }
}

/// The server: what it answers, shared by its connections.
pub struct Server {
    methods: Methods,
    deferred: HashMap<String, Deferred>,
    in_flight: Arc<InFlight>,
}

impl Server {
    /// A server of `methods`, with `deferred` answering some paths
    /// (`/<service>/<method>`) instead.
    pub fn new(methods: Methods, deferred: HashMap<String, Deferred>) -> Arc<Server> {
        Arc::new(Server {
            methods,
            deferred,
            in_flight: Arc::default(),
        })
    }

    /// Accepts connections on `listener` (a listening unix socket this
    /// takes over) from the reactor's next turn on.
    pub fn listen(self: &Arc<Self>, reactor: &Reactor, listener: OwnedFd) -> io::Result<()> {
        set_nonblocking(listener.as_raw_fd())?;
        reactor.add(Box::new(Listener {
            fd: listener,
            server: self.clone(),
        }));
        Ok(())
    }

    /// Waits (at most `limit`) for requests still running to answer.
    pub fn drain(&self, limit: Duration) {
        let n = self
            .in_flight
            .count
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let _ = self
            .in_flight
            .done
            .wait_timeout_while(n, limit, |n| *n > 0)
            .map_err(|p| p.into_inner());
    }

    fn dispatch(self: &Arc<Self>, conn: &Arc<Mutex<UnixStream>>, mh: MessageHeader, body: &[u8]) {
        if mh.type_ != MESSAGE_TYPE_REQUEST {
            return;
        }
        let replier = Replier {
            conn: conn.clone(),
            stream_id: mh.stream_id,
        };
        let req = match Request::decode(body) {
            Ok(r) => r,
            Err(e) => return replier.fail(Code::INVALID_ARGUMENT, format!("bad request: {e}")),
        };
        let path = format!("/{}/{}", req.service, req.method);
        if let Some(deferred) = self.deferred.get(&path) {
            return deferred(req, replier);
        }
        if !self.methods.contains_key(&path) {
            return replier.fail(Code::UNIMPLEMENTED, format!("{path} does not exist"));
        }
        let server = self.clone();
        let guard = self.in_flight.enter();
        let fd = conn.lock().map_or(-1, |c| c.as_raw_fd());
        let spawned = std::thread::Builder::new()
            .name("request".into())
            .stack_size(REQUEST_STACK)
            .spawn(move || {
                let _guard = guard;
                server.handle(fd, &path, mh, req, &replier);
            });
        if let Err(e) = spawned {
            crate::log_line!("ttrpc: cannot start a request thread: {e}");
        }
    }

    fn handle(&self, fd: RawFd, path: &str, mh: MessageHeader, req: Request, replier: &Replier) {
        let Some(method) = self.methods.get(path) else {
            return;
        };
        let (res_tx, res_rx) = std::sync::mpsc::channel();
        let ctx = TtrpcContext {
            fd,
            cancel_rx: crossbeam_channel::never(),
            mh,
            res_tx,
            metadata: context::from_pb(&req.metadata),
            timeout_nano: req.timeout_nano,
            conn_ctx: Arc::new(ConnectionContext::default()),
        };
        if let Err(e) = method.handler(ctx, req) {
            return replier.fail(Code::INTERNAL, format!("{path}: {e}"));
        }
        // The handler queued its (already encoded) answer.
        for (_, payload) in res_rx.try_iter() {
            replier.send_frame(&payload);
        }
    }
}

fn set_nonblocking(fd: RawFd) -> io::Result<()> {
    // SAFETY: fcntl on a descriptor we own, with integer arguments only.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

struct Listener {
    fd: OwnedFd,
    server: Arc<Server>,
}

impl Watch for Listener {
    fn fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }

    fn ready(&mut self, reactor: &Reactor) -> bool {
        loop {
            // SAFETY: accept4 with null address pointers; the result is checked.
            let fd = unsafe {
                libc::accept4(
                    self.fd.as_raw_fd(),
                    std::ptr::null_mut(),
                    std::ptr::null_mut(),
                    libc::SOCK_CLOEXEC,
                )
            };
            if fd < 0 {
                let e = io::Error::last_os_error();
                match e.kind() {
                    io::ErrorKind::WouldBlock => return true,
                    io::ErrorKind::Interrupted | io::ErrorKind::ConnectionAborted => continue,
                    _ => {
                        // Out of descriptors: the next turn tries again.
                        crate::log_line!("ttrpc: accept: {e}");
                        return true;
                    }
                }
            }
            // SAFETY: accept4 returned a new descriptor nothing else owns.
            let stream = unsafe { UnixStream::from_raw_fd(fd) };
            reactor.add(Box::new(Connection {
                fd: stream.as_raw_fd(),
                conn: Arc::new(Mutex::new(stream)),
                buf: Vec::new(),
                discard: 0,
                server: self.server.clone(),
            }));
        }
    }
}

/// One client's connection: its bytes read so far, cut into frames.
struct Connection {
    /// The socket's descriptor (owned by `conn`, which the watch keeps).
    fd: RawFd,
    /// The socket; answers are written through it, under its lock.
    conn: Arc<Mutex<UnixStream>>,
    buf: Vec<u8>,
    /// Bytes of an oversized message still to skip.
    discard: usize,
    server: Arc<Server>,
}

impl Connection {
    /// Handles every complete frame in `buf`.
    fn frames(&mut self) {
        loop {
            if self.discard > 0 {
                let n = self.discard.min(self.buf.len());
                self.buf.drain(..n);
                self.discard -= n;
                if self.discard > 0 {
                    return;
                }
            }
            if self.buf.len() < MESSAGE_HEADER_LENGTH {
                return;
            }
            let mh = MessageHeader::from(&self.buf[..MESSAGE_HEADER_LENGTH]);
            let len = mh.length as usize;
            if len > MESSAGE_LENGTH_MAX {
                self.buf.drain(..MESSAGE_HEADER_LENGTH);
                self.discard = len;
                Replier {
                    conn: self.conn.clone(),
                    stream_id: mh.stream_id,
                }
                .fail(
                    Code::INVALID_ARGUMENT,
                    format!("message length {len} is over ttrpc's limit {MESSAGE_LENGTH_MAX}"),
                );
                continue;
            }
            if self.buf.len() < MESSAGE_HEADER_LENGTH + len {
                return;
            }
            let frame: Vec<u8> = self.buf.drain(..MESSAGE_HEADER_LENGTH + len).collect();
            self.server
                .dispatch(&self.conn, mh, &frame[MESSAGE_HEADER_LENGTH..]);
        }
    }
}

impl Watch for Connection {
    fn fd(&self) -> RawFd {
        self.fd
    }

    fn ready(&mut self, _: &Reactor) -> bool {
        let mut chunk = [0u8; 4096];
        loop {
            // SAFETY: recv into a live buffer of chunk.len() bytes; the
            // socket stays blocking for writers, so this read asks not to wait.
            let n = unsafe {
                libc::recv(
                    self.fd,
                    chunk.as_mut_ptr().cast(),
                    chunk.len(),
                    libc::MSG_DONTWAIT,
                )
            };
            if n == 0 {
                return false; // the client hung up
            }
            if n < 0 {
                let e = io::Error::last_os_error();
                return match e.kind() {
                    io::ErrorKind::WouldBlock => {
                        self.frames();
                        if self.buf.is_empty() {
                            // An idle connection holds no buffer.
                            self.buf = Vec::new();
                        }
                        true
                    }
                    io::ErrorKind::Interrupted => continue,
                    _ => false,
                };
            }
            self.buf.extend_from_slice(&chunk[..n as usize]);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use berth_proto::containerd::api;
    use berth_proto::containerd::protobuf::Message;
    use berth_proto::containerd::shim_sync::Task;
    use berth_proto::ttrpc;
    use std::os::unix::net::UnixListener;

    struct Answers;
    impl Task for Answers {
        fn connect(
            &self,
            _: &TtrpcContext,
            req: api::ConnectRequest,
        ) -> ttrpc::Result<api::ConnectResponse> {
            let mut r = api::ConnectResponse::new();
            r.version = format!("hello {}", req.id);
            Ok(r)
        }
    }

    #[test]
    fn requests_are_answered_by_threads_and_deferred_methods() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.sock");
        let listener = OwnedFd::from(UnixListener::bind(&path).unwrap());
        let reactor = Arc::new(Reactor::new().unwrap());
        let mut deferred: HashMap<String, Deferred> = HashMap::new();
        deferred.insert(
            "/containerd.task.v3.Task/Wait".into(),
            Box::new(|_req, replier| {
                let mut w = api::WaitResponse::new();
                w.exit_status = 7;
                let mut res = Response::init_status(get_status(Code::OK, ""));
                res.set_payload(w.write_to_bytes().unwrap());
                // answered later, from another thread
                std::thread::spawn(move || replier.send(res));
            }),
        );
        let server = Server::new(berth_proto::task::create_task(Arc::new(Answers)), deferred);
        server.listen(&reactor, listener).unwrap();
        let looping = {
            let r = reactor.clone();
            std::thread::spawn(move || r.run())
        };

        let url = format!("unix://{}", path.display());
        let client = berth_proto::containerd::shim_sync::TaskClient::new(
            ttrpc::Client::connect(&url).unwrap(),
        );
        let ctx = || ttrpc::context::with_timeout(5_000_000_000);
        let mut w = api::WaitRequest::new();
        w.id = "c".into();
        assert_eq!(client.wait(ctx(), &w).unwrap().exit_status, 7);
        let mut c = api::ConnectRequest::new();
        c.id = "c".into();
        assert_eq!(client.connect(ctx(), &c).unwrap().version, "hello c");
        // A method the service does not implement answers with an error,
        // and the connection goes on.
        assert!(client.pids(ctx(), &api::PidsRequest::new()).is_err());
        assert_eq!(client.connect(ctx(), &c).unwrap().version, "hello c");

        server.drain(Duration::from_secs(5));
        reactor.stop();
        looping.join().unwrap();
    }
}
