//! The manager's request decoding: ttrpc frames read off the socket as the
//! server reads them (header, length limit, payload), the `ttrpc.Request`
//! envelope, and the payload parsed as the request message of the
//! `berth.manager.v1` method it names, found through the services'
//! descriptors so every method of every service is covered. A request that
//! parses must encode again and parse back.

pub const GENERATED: usize = 3000;

use berth_proto::protobuf::reflect::FileDescriptor;
use berth_proto::ttrpc::proto::{Codec, GenMessage, Request, MESSAGE_TYPE_REQUEST};

/// The files declaring the manager's services.
fn files() -> [&'static FileDescriptor; 5] {
    [
        berth_proto::manager::file_descriptor(),
        berth_proto::layers::file_descriptor(),
        berth_proto::networks::file_descriptor(),
        berth_proto::volumes::file_descriptor(),
        berth_proto::health::file_descriptor(),
    ]
}

thread_local! {
    static RUNTIME: tokio::runtime::Runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .expect("tokio runtime");
}

pub fn run(data: &[u8]) {
    let mut reader = data;
    // a connection carries frames back to back
    for _ in 0..8 {
        let frame = RUNTIME.with(|rt| rt.block_on(GenMessage::read_from(&mut reader)));
        match frame {
            Ok(msg) => request(&msg),
            Err(_) => return,
        }
    }
}

fn request(msg: &GenMessage) {
    if msg.header.type_ != MESSAGE_TYPE_REQUEST || msg.check().is_err() {
        return;
    }
    let Ok(req) = <Request as Codec>::decode(&msg.payload) else {
        return;
    };
    let Some((package, service)) = req.service.rsplit_once('.') else {
        return;
    };
    for file in files() {
        if file.package() != package {
            continue;
        }
        for svc in file.services() {
            if svc.proto().name() != service {
                continue;
            }
            for method in svc.methods() {
                if method.proto().name() != req.method {
                    continue;
                }
                let input = method.input_type();
                if let Ok(parsed) = input.parse_from_bytes(&req.payload) {
                    let bytes = parsed
                        .write_to_bytes_dyn()
                        .expect("a parsed request encodes again");
                    input
                        .parse_from_bytes(&bytes)
                        .expect("a re-encoded request parses");
                }
            }
        }
    }
}
