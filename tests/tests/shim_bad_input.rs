//! containerd-shim-berth-v2 given bad input on its socket: bytes that are
//! no ttrpc frame, a frame whose request is garbage, a request for an
//! unknown container, a Create whose bundle does not exist. Each is
//! answered with a ttrpc error status (or, for unframeable bytes, the
//! connection is dropped), and the shim keeps serving.
//!
//! No containerd is needed: the test runs the shim's `start` itself, in a
//! temporary bundle dir with a made-up containerd address, and speaks ttrpc
//! by hand (a 10-byte frame header, then protobuf), so it checks the wire,
//! not a client library.

use std::fs;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use berth_fixture::{processes_with_arg, require_root, shim_bin, unique_id, wait_until};

const TASK: &str = "containerd.task.v2.Task";
/// ttrpc frame types.
const REQUEST: u8 = 1;
const RESPONSE: u8 = 2;
/// gRPC status codes.
const OK: i64 = 0;
const INVALID_ARGUMENT: i64 = 3;
const NOT_FOUND: i64 = 5;

// --- protobuf, by hand -----------------------------------------------------

fn varint(mut v: u64, out: &mut Vec<u8>) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn bytes_field(field: u64, data: &[u8], out: &mut Vec<u8>) {
    varint(field << 3 | 2, out);
    varint(data.len() as u64, out);
    out.extend_from_slice(data);
}

fn varint_field(field: u64, v: u64, out: &mut Vec<u8>) {
    varint(field << 3, out);
    varint(v, out);
}

/// A protobuf message's fields: (number, varint value or bytes).
fn fields(mut buf: &[u8]) -> Vec<(u64, Result<u64, Vec<u8>>)> {
    fn read_varint(buf: &mut &[u8]) -> u64 {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let Some((&b, rest)) = buf.split_first() else {
                return v;
            };
            *buf = rest;
            v |= u64::from(b & 0x7f) << shift;
            if b < 0x80 {
                break;
            }
        }
        v
    }
    let mut out = Vec::new();
    while !buf.is_empty() {
        let key = read_varint(&mut buf);
        match key & 7 {
            0 => out.push((key >> 3, Ok(read_varint(&mut buf)))),
            2 => {
                let n = (read_varint(&mut buf) as usize).min(buf.len());
                out.push((key >> 3, Err(buf[..n].to_vec())));
                buf = &buf[n..];
            }
            _ => break,
        }
    }
    out
}

/// A ttrpc Request {service, method, payload}.
fn request(method: &str, payload: &[u8]) -> Vec<u8> {
    let mut r = Vec::new();
    bytes_field(1, TASK.as_bytes(), &mut r);
    bytes_field(2, method.as_bytes(), &mut r);
    bytes_field(3, payload, &mut r);
    r
}

/// A message with string field 1 = `id` (StateRequest, ConnectRequest, ...).
fn with_id(id: &str) -> Vec<u8> {
    let mut m = Vec::new();
    bytes_field(1, id.as_bytes(), &mut m);
    m
}

// --- ttrpc frames -------------------------------------------------------------

fn frame(stream: u32, kind: u8, body: &[u8]) -> Vec<u8> {
    let mut f = Vec::with_capacity(10 + body.len());
    f.extend_from_slice(&(body.len() as u32).to_be_bytes());
    f.extend_from_slice(&stream.to_be_bytes());
    f.push(kind);
    f.push(0);
    f.extend_from_slice(body);
    f
}

/// What the shim answered: status code, message, payload.
#[derive(Debug)]
struct Answer {
    code: i64,
    message: String,
    payload: Vec<u8>,
}

fn read_answer(conn: &mut UnixStream, stream: u32) -> Answer {
    let mut header = [0u8; 10];
    conn.read_exact(&mut header)
        .expect("a ttrpc response header (the shim hung up or stayed silent)");
    let len = u32::from_be_bytes(header[..4].try_into().unwrap()) as usize;
    let got_stream = u32::from_be_bytes(header[4..8].try_into().unwrap());
    assert_eq!(header[8], RESPONSE, "frame type of the answer");
    assert_eq!(got_stream, stream, "stream id of the answer");
    let mut body = vec![0u8; len];
    conn.read_exact(&mut body).expect("the response body");
    let mut answer = Answer {
        code: OK,
        message: String::new(),
        payload: Vec::new(),
    };
    for (n, v) in fields(&body) {
        match (n, v) {
            (1, Err(status)) => {
                for (sn, sv) in fields(&status) {
                    match (sn, sv) {
                        (1, Ok(code)) => answer.code = code as i64,
                        (2, Err(msg)) => answer.message = String::from_utf8_lossy(&msg).into(),
                        _ => {}
                    }
                }
            }
            (2, Err(p)) => answer.payload = p,
            _ => {}
        }
    }
    answer
}

/// A shim started by hand; killed and its files removed on drop.
struct Shim {
    id: String,
    socket: PathBuf,
    bundle: tempfile::TempDir,
}

impl Shim {
    fn start() -> Shim {
        let id = unique_id("shim-bad");
        let bundle = tempfile::tempdir().expect("bundle dir");
        let shim = shim_bin();
        let out = Command::new(&shim)
            .args(["-namespace", "berth-test", "-id", &id])
            .args(["-address", &format!("/nonexistent/{id}.sock")])
            .args(["-publish-binary", "/bin/false", "start"])
            .current_dir(bundle.path())
            .env_remove("TTRPC_ADDRESS")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "run {}: {e}; build it (cargo build --release -p containerd-shim-berth-v2)",
                    shim.display()
                )
            });
        let address = String::from_utf8_lossy(&out.stdout).trim().to_string();
        let shim_guard = Shim {
            socket: PathBuf::from(address.trim_start_matches("unix://")),
            id,
            bundle,
        };
        assert!(
            out.status.success() && address.starts_with("unix:///"),
            "shim start: {:?}\nstdout: {address}\nstderr: {}",
            out.status,
            String::from_utf8_lossy(&out.stderr)
        );
        let written =
            fs::read_to_string(shim_guard.bundle.path().join("address")).unwrap_or_default();
        assert_eq!(written, address, "the address file in the bundle");
        shim_guard
    }

    fn connect(&self) -> UnixStream {
        let conn = UnixStream::connect(&self.socket)
            .unwrap_or_else(|e| panic!("connect {}: {e}", self.socket.display()));
        conn.set_read_timeout(Some(Duration::from_secs(20)))
            .unwrap();
        conn
    }

    /// One request on a fresh connection.
    fn call(&self, method: &str, payload: &[u8]) -> Answer {
        let mut conn = self.connect();
        conn.write_all(&frame(1, REQUEST, &request(method, payload)))
            .expect("send request");
        read_answer(&mut conn, 1)
    }

    fn pids(&self) -> Vec<i32> {
        processes_with_arg(&self.id)
    }

    /// The shim still answers a Connect with its own pid.
    fn assert_serving(&self) -> u32 {
        let a = self.call("Connect", &with_id(&self.id));
        assert_eq!(a.code, OK, "Connect after bad input: {a:?}");
        let pid = fields(&a.payload)
            .into_iter()
            .find_map(|(n, v)| (n == 1).then_some(v.ok()).flatten())
            .expect("ConnectResponse.shim_pid");
        assert!(
            self.pids().contains(&(pid as i32)),
            "shim pid {pid} not running"
        );
        pid as u32
    }
}

impl Drop for Shim {
    fn drop(&mut self) {
        for pid in self.pids() {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = fs::remove_file(&self.socket);
    }
}

#[test]
fn bad_requests_get_error_statuses_and_the_shim_keeps_serving() {
    require_root!("shim_bad_input::bad_requests_get_error_statuses_and_the_shim_keeps_serving");
    let shim = Shim::start();
    let pid = shim.assert_serving();

    // A well-framed request whose body is not a ttrpc Request.
    let mut conn = shim.connect();
    conn.write_all(&frame(
        3,
        REQUEST,
        b"\xff\xfe garbage \x00\x01\x02 not protobuf",
    ))
    .unwrap();
    let a = read_answer(&mut conn, 3);
    assert_ne!(a.code, OK, "garbage request answered OK: {a:?}");

    // A valid Request whose payload is garbage for the method.
    let a = shim.call("State", b"\x0a\xff\xff\xff\xff\x0f");
    assert_eq!(a.code, INVALID_ARGUMENT, "garbage State payload: {a:?}");

    // An unknown method.
    let a = shim.call("Frobnicate", &[]);
    assert_ne!(a.code, OK, "unknown method answered OK: {a:?}");

    // Bytes that are no frame at all: an HTTP request. The header it makes
    // announces a body of ~1 GiB, more than ttrpc allows; the shim may only
    // drop this connection.
    let mut raw = shim.connect();
    raw.write_all(b"GET / HTTP/1.1\r\nHost: shim\r\n\r\n")
        .unwrap();
    drop(raw);
    assert_eq!(shim.assert_serving(), pid);

    // A request for a container the shim does not have.
    for method in ["State", "Start", "Kill", "Wait", "Pids", "Delete", "Stats"] {
        let a = shim.call(method, &with_id("no-such-container"));
        assert_eq!(a.code, NOT_FOUND, "{method} of an unknown id: {a:?}");
        assert!(a.message.contains("no-such-container"), "{method}: {a:?}");
    }

    // A Create whose bundle does not exist: refused, nothing left behind.
    let missing = Path::new("/nonexistent/berth-bundle").join(&shim.id);
    let mut create = Vec::new();
    bytes_field(1, shim.id.as_bytes(), &mut create);
    bytes_field(2, missing.to_str().unwrap().as_bytes(), &mut create);
    varint_field(4, 0, &mut create);
    let a = shim.call("Create", &create);
    assert_eq!(a.code, NOT_FOUND, "Create with a missing bundle: {a:?}");
    assert!(a.message.contains("/nonexistent/berth-bundle"), "{a:?}");
    let a = shim.call("State", &with_id(&shim.id));
    assert_eq!(a.code, NOT_FOUND, "a failed Create left a task: {a:?}");

    // Both service names answer (containerd 1.6/1.7 use v2, 2.x v3).
    let mut conn = shim.connect();
    let mut req = Vec::new();
    bytes_field(1, b"containerd.task.v3.Task", &mut req);
    bytes_field(2, b"Connect", &mut req);
    bytes_field(3, &with_id(&shim.id), &mut req);
    conn.write_all(&frame(5, REQUEST, &req)).unwrap();
    assert_eq!(read_answer(&mut conn, 5).code, OK);

    assert_eq!(shim.assert_serving(), pid, "the shim was replaced");

    // With no task left, Shutdown ends the shim and removes its socket.
    let mut shutdown = with_id(&shim.id);
    varint_field(2, 0, &mut shutdown);
    let a = shim.call("Shutdown", &shutdown);
    assert_eq!(a.code, OK, "Shutdown: {a:?}");
    assert!(
        wait_until(Duration::from_secs(10), || shim.pids().is_empty()),
        "shim still running after Shutdown: {:?}",
        shim.pids()
    );
    assert!(
        !shim.socket.exists(),
        "socket {} left behind",
        shim.socket.display()
    );
}
