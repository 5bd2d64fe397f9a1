//! containerd's shim task service under both of its names.
//!
//! containerd 1.6 and 1.7 call the task service `containerd.task.v2.Task`;
//! containerd 2.x calls the same service, with the same messages,
//! `containerd.task.v3.Task`. containerd-shim-protos generates the v3 name
//! only, so a shim that registers [`create_task`]'s methods answers both.
//!
//! ttrpc-rust's sync server hangs up, without an answer, on a request whose
//! payload does not decode; ttrpc's Go server (what containerd expects)
//! answers it with an error status. [`create_task`]'s handlers do the
//! latter, so a bad request costs the client its call, not its connection.

use std::collections::HashMap;
use std::sync::Arc;

use containerd_shim_protos::shim_sync::{self, Task};
use ttrpc::proto::ResponseInit;
use ttrpc::{Code, MethodHandler, Response, TtrpcContext};

/// Methods of a ttrpc service, keyed by `/<service>/<method>`.
pub type Methods = HashMap<String, Box<dyn MethodHandler + Send + Sync>>;

const V3_PREFIX: &str = "/containerd.task.v3.Task/";
const V2_PREFIX: &str = "/containerd.task.v2.Task/";

/// The task service's methods under the v2 and the v3 service names, both
/// served by `service`.
pub fn create_task(service: Arc<dyn Task + Send + Sync>) -> Methods {
    let mut methods = Methods::new();
    for (path, handler) in shim_sync::create_task(service.clone()) {
        methods.insert(path, Box::new(Answering(handler)));
    }
    for (path, handler) in shim_sync::create_task(service) {
        let v2 = match path.strip_prefix(V3_PREFIX) {
            Some(method) => format!("{V2_PREFIX}{method}"),
            None => path,
        };
        methods.insert(v2, Box::new(Answering(handler)));
    }
    methods
}

/// A generated handler whose failures (a payload that does not decode, a
/// reply that does not encode) are answered with INVALID_ARGUMENT instead
/// of closing the connection.
struct Answering(Box<dyn MethodHandler + Send + Sync>);

impl MethodHandler for Answering {
    fn handler(&self, ctx: TtrpcContext, req: ttrpc::Request) -> ttrpc::Result<()> {
        let reply = TtrpcContext {
            fd: ctx.fd,
            cancel_rx: ctx.cancel_rx.clone(),
            mh: ctx.mh,
            res_tx: ctx.res_tx.clone(),
            metadata: HashMap::new(),
            timeout_nano: ctx.timeout_nano,
            conn_ctx: ctx.conn_ctx.clone(),
        };
        let path = format!("/{}/{}", req.service, req.method);
        match self.0.handler(ctx, req) {
            Ok(()) => Ok(()),
            Err(e) => {
                let status = ttrpc::get_status(Code::INVALID_ARGUMENT, format!("{path}: {e}"));
                reply.respond(reply.mh.stream_id, Response::init_status(status))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Nothing;
    impl Task for Nothing {}

    #[test]
    fn both_service_names_are_registered() {
        let methods = create_task(Arc::new(Nothing));
        for name in ["Create", "Wait", "Shutdown", "Connect"] {
            assert!(
                methods.contains_key(&format!("{V2_PREFIX}{name}")),
                "v2 {name}"
            );
            assert!(
                methods.contains_key(&format!("{V3_PREFIX}{name}")),
                "v3 {name}"
            );
        }
        assert_eq!(methods.len() % 2, 0);
    }
}
