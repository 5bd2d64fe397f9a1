//! One ttrpc call at a time on a blocking unix socket: how the shim sends
//! containerd its events. ttrpc-rust's client runs a reader and a writer
//! thread per connection and hands answers over channels, for callers
//! that share a connection; the shim's one event thread sends a request and
//! waits for its answer, which needs neither (two fewer threads, and their
//! stacks, each time events are sent).

use std::io::{self, Read, Write};
use std::os::unix::net::UnixStream;
use std::time::Duration;

use berth_proto::ttrpc::proto::{
    Codec, MessageHeader, ResponseInit, MESSAGE_HEADER_LENGTH, MESSAGE_LENGTH_MAX,
    MESSAGE_TYPE_RESPONSE,
};
use berth_proto::ttrpc::{Request, Response};

/// A call failed.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The address is not a unix socket's.
    #[error("{0}: not a unix socket address (unix://PATH or unix://@NAME)")]
    Address(String),
    /// Connecting, writing or reading.
    #[error("{0}")]
    Io(#[from] io::Error),
    /// The request did not encode.
    #[error("encode request: {0}")]
    Encode(String),
    /// The answer is not a ttrpc response.
    #[error("bad answer: {0}")]
    Answer(String),
    /// The server answered with an error.
    #[error("{code:?}: {message}")]
    Status {
        /// The status code.
        code: i32,
        /// The server's message.
        message: String,
    },
}

/// A connection to a ttrpc server.
pub struct Caller {
    stream: UnixStream,
    /// Clients number their requests 1, 3, 5, ...
    next_stream: u32,
}

impl Caller {
    /// Connects to `url` (`unix://PATH`, or `unix://@NAME` for an abstract
    /// socket, as ttrpc's addresses are written).
    pub fn connect(url: &str) -> Result<Caller, CallError> {
        let address = url
            .strip_prefix("unix://")
            .ok_or_else(|| CallError::Address(url.to_string()))?;
        let stream = match address.strip_prefix('@') {
            Some(name) => {
                use std::os::linux::net::SocketAddrExt;
                let addr = std::os::unix::net::SocketAddr::from_abstract_name(name)?;
                UnixStream::connect_addr(&addr)?
            }
            None => UnixStream::connect(address)?,
        };
        Ok(Caller {
            stream,
            next_stream: 1,
        })
    }

    /// Calls `/service/method` with `payload` (an encoded request message)
    /// and returns the answer's payload; the call and the wait for its
    /// answer take at most `timeout` each.
    pub fn call(
        &mut self,
        service: &str,
        method: &str,
        payload: Vec<u8>,
        timeout: Duration,
    ) -> Result<Vec<u8>, CallError> {
        let id = self.next_stream;
        self.next_stream = self.next_stream.wrapping_add(2);
        let mut req = Request::new();
        req.service = service.to_string();
        req.method = method.to_string();
        req.payload = payload;
        req.timeout_nano = timeout.as_nanos().min(i64::MAX as u128) as i64;
        let body = req.encode().map_err(|e| CallError::Encode(e.to_string()))?;
        let mut frame: Vec<u8> = MessageHeader::new_request(id, body.len() as u32).into();
        frame.extend_from_slice(&body);
        self.stream.set_write_timeout(Some(timeout))?;
        self.stream.set_read_timeout(Some(timeout))?;
        self.stream.write_all(&frame)?;
        loop {
            let mut head = [0u8; MESSAGE_HEADER_LENGTH];
            self.stream.read_exact(&mut head)?;
            let mh = MessageHeader::from(&head[..]);
            let len = mh.length as usize;
            if len > MESSAGE_LENGTH_MAX {
                return Err(CallError::Answer(format!(
                    "length {len} is over ttrpc's limit {MESSAGE_LENGTH_MAX}"
                )));
            }
            let mut body = vec![0u8; len];
            self.stream.read_exact(&mut body)?;
            // Only answers to this request count (a server sends no others
            // to a client that has one request out at a time).
            if mh.type_ != MESSAGE_TYPE_RESPONSE || mh.stream_id != id {
                continue;
            }
            let res = Response::decode(&body).map_err(|e| CallError::Answer(e.to_string()))?;
            if let Some(status) = res.non_ok() {
                return Err(CallError::Status {
                    code: status.code.value(),
                    message: status.message,
                });
            }
            return Ok(res.payload);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{mpsc, Arc, Mutex};

    use berth_proto::containerd::protobuf::Message;
    use berth_proto::containerd::shim::events::ForwardRequest;
    use berth_proto::containerd::shim_sync::{create_events, Events};
    use berth_proto::ttrpc::{self, get_status, Code, TtrpcContext};

    /// containerd's side: takes one envelope, refuses the next.
    struct Containerd(Mutex<mpsc::Sender<String>>);

    impl Events for Containerd {
        fn forward(
            &self,
            _: &TtrpcContext,
            req: ForwardRequest,
        ) -> ttrpc::Result<berth_proto::containerd::protobuf::well_known_types::empty::Empty>
        {
            let topic = req.envelope.topic.clone();
            let _ = self.0.lock().unwrap().send(topic.clone());
            if topic == "/refused" {
                return Err(ttrpc::Error::RpcStatus(get_status(
                    Code::UNAVAILABLE,
                    "not now",
                )));
            }
            Ok(Default::default())
        }
    }

    fn forward(topic: &str) -> Vec<u8> {
        let mut req = ForwardRequest::new();
        req.envelope.mut_or_insert_default().topic = topic.into();
        req.write_to_bytes().unwrap()
    }

    #[test]
    fn calls_a_ttrpc_server_and_reads_its_answers_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("unix://{}", dir.path().join("events.sock").display());
        let (tx, rx) = mpsc::channel();
        let mut server = ttrpc::Server::new()
            .bind(&url)
            .unwrap()
            .register_service(create_events(Arc::new(Containerd(Mutex::new(tx)))));
        server.start().unwrap();

        let mut caller = Caller::connect(&url).unwrap();
        let wait = Duration::from_secs(5);
        let service = "containerd.services.events.ttrpc.v1.Events";
        caller
            .call(service, "Forward", forward("/tasks/start"), wait)
            .unwrap();
        assert_eq!(rx.recv_timeout(wait).unwrap(), "/tasks/start");
        // an error status is an error, and the connection goes on
        match caller.call(service, "Forward", forward("/refused"), wait) {
            Err(CallError::Status { code, message }) => {
                assert_eq!(code, Code::UNAVAILABLE as i32);
                assert_eq!(message, "not now");
            }
            other => panic!("expected the server's refusal, got {other:?}"),
        }
        assert!(caller.call(service, "Nope", Vec::new(), wait).is_err());
        caller
            .call(service, "Forward", forward("/tasks/exit"), wait)
            .unwrap();
        assert_eq!(rx.recv_timeout(wait).unwrap(), "/refused");
        assert_eq!(rx.recv_timeout(wait).unwrap(), "/tasks/exit");

        assert!(matches!(
            Caller::connect("/no/scheme"),
            Err(CallError::Address(_))
        ));
        server.shutdown();
    }
}
