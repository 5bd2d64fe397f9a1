//! One container's shim: starting it with containerd's `start` protocol,
//! cleaning up after a dead one with `delete`, and the task API client.
//!
//! The task service is `containerd.task.v2.Task` for shims that print a bare
//! address at `start` (containerd 1.x shims, like `containerd-shim-runc-v2`)
//! and `containerd.task.v3.Task` for shims that print a JSON bootstrap reply
//! with `"version": 3`; the messages are the same.

use std::path::{Path, PathBuf};

use berth_proto::containerd::api;
use protobuf::Message;
use ttrpc::context::Context;

use crate::spawner::{Outcome, Spawner};

/// Namespace the manager's containers live in, as shims see it.
pub const NAMESPACE: &str = "berth";

/// Longest a shim binary's `start` or `delete` may take.
const SHIM_COMMAND_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Longest a task `Delete` may take (it unmounts the rootfs).
const DELETE_TIMEOUT_NS: i64 = 30_000_000_000;

#[derive(Debug, thiserror::Error)]
pub enum ShimError {
    #[error("run shim {bin}: {source}")]
    Spawn { bin: String, source: std::io::Error },
    #[error("shim {bin} {action} failed ({status}): {stderr}")]
    Failed {
        bin: String,
        action: &'static str,
        status: String,
        stderr: String,
    },
    #[error("shim {bin} {action} did not finish in time")]
    TimedOut { bin: String, action: &'static str },
    #[error("shim {bin} start printed no address")]
    NoAddress { bin: String },
    #[error("shim bootstrap reply {reply:?}: {reason}")]
    BadBootstrap { reply: String, reason: String },
    #[error("connect to shim at {address}: {source}")]
    Connect {
        address: String,
        source: ttrpc::Error,
    },
    #[error("shim {method}: {}", rpc_message(source))]
    Rpc {
        method: &'static str,
        source: ttrpc::Error,
    },
    #[error("shim reply to {method}: {source}")]
    Decode {
        method: &'static str,
        source: protobuf::Error,
    },
}

fn rpc_message(e: &ttrpc::Error) -> String {
    match e {
        ttrpc::Error::RpcStatus(s) => s.message().to_string(),
        other => other.to_string(),
    }
}

pub type Result<T> = std::result::Result<T, ShimError>;

/// How the manager starts shims.
#[derive(Debug, Clone)]
pub struct ShimLauncher {
    pub shim_bin: PathBuf,
    /// The manager's socket: shims publish events to it (TTRPC_ADDRESS).
    pub manager_socket: PathBuf,
    /// Passed as `-publish-binary`.
    pub publish_binary: PathBuf,
    pub debug: bool,
    /// Runs `start` and `delete` from a small descriptor table.
    pub spawner: Spawner,
}

/// Where a started shim listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShimAddress {
    pub address: String,
    pub version: i32,
}

impl ShimLauncher {
    fn command(&self, id: &str, bundle: &Path, action: &str) -> std::process::Command {
        let mut cmd = std::process::Command::new(&self.shim_bin);
        cmd.arg("-namespace")
            .arg(NAMESPACE)
            .arg("-address")
            .arg(&self.manager_socket)
            .arg("-publish-binary")
            .arg(&self.publish_binary);
        if self.debug {
            cmd.arg("-debug");
        }
        cmd.arg("-id")
            .arg(id)
            .arg(action)
            .current_dir(bundle)
            .env("TTRPC_ADDRESS", &self.manager_socket)
            .env("NAMESPACE", NAMESPACE)
            .env(berth_proto::SHIM_PRIVATE_MOUNTS_ENV, "1");
        cmd
    }

    async fn run(&self, id: &str, bundle: &Path, action: &'static str) -> Result<Vec<u8>> {
        let bin = self.shim_bin.display().to_string();
        // a hung shim binary must not hang the manager: the spawner kills it
        let out = match self
            .spawner
            .output(self.command(id, bundle, action), SHIM_COMMAND_TIMEOUT)
            .await
        {
            Outcome::Done(out) => out.map_err(|source| ShimError::Spawn {
                bin: bin.clone(),
                source,
            })?,
            Outcome::TimedOut => return Err(ShimError::TimedOut { bin, action }),
        };
        if !out.status.success() {
            return Err(ShimError::Failed {
                bin,
                action,
                status: out.status.to_string(),
                stderr: one_line(&String::from_utf8_lossy(&out.stderr)),
            });
        }
        Ok(out.stdout)
    }

    /// `<shim> … -id ID start` in the bundle: the shim daemonizes and prints
    /// where it listens.
    pub async fn start(&self, id: &str, bundle: &Path) -> Result<ShimAddress> {
        let stdout = self.run(id, bundle, "start").await?;
        let reply = String::from_utf8_lossy(&stdout).trim().to_string();
        if reply.is_empty() {
            return Err(ShimError::NoAddress {
                bin: self.shim_bin.display().to_string(),
            });
        }
        parse_bootstrap(&reply)
    }

    /// `<shim> … -id ID delete` in the bundle: the shim binary cleans up a
    /// task whose shim process is gone (runtime delete, rootfs unmount) and
    /// reports how it ended.
    pub async fn cleanup(&self, id: &str, bundle: &Path) -> Result<api::DeleteResponse> {
        let stdout = self.run(id, bundle, "delete").await?;
        api::DeleteResponse::parse_from_bytes(&stdout).map_err(|source| ShimError::Decode {
            method: "delete (binary)",
            source,
        })
    }
}

/// Reads a shim's reply to `start`: a bare address (task API v2) or
/// containerd's JSON bootstrap reply.
pub fn parse_bootstrap(reply: &str) -> Result<ShimAddress> {
    let bad = |reason: &str| ShimError::BadBootstrap {
        reply: reply.to_string(),
        reason: reason.to_string(),
    };
    if !reply.starts_with('{') {
        return Ok(ShimAddress {
            address: reply.to_string(),
            version: 2,
        });
    }
    let v: serde_json::Value = serde_json::from_str(reply).map_err(|e| bad(&e.to_string()))?;
    let address = v
        .get("address")
        .and_then(|a| a.as_str())
        .filter(|a| !a.is_empty())
        .ok_or_else(|| bad("no address"))?;
    let protocol = v
        .get("protocol")
        .and_then(|p| p.as_str())
        .unwrap_or("ttrpc");
    if protocol != "ttrpc" {
        return Err(bad("only the ttrpc protocol is spoken"));
    }
    let version = v.get("version").and_then(|p| p.as_i64()).unwrap_or(2) as i32;
    if !(2..=3).contains(&version) {
        return Err(bad("task API version must be 2 or 3"));
    }
    Ok(ShimAddress {
        address: address.to_string(),
        version,
    })
}

fn one_line(s: &str) -> String {
    let lines: Vec<&str> = s.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    lines.join("; ")
}

/// The task API of one shim.
#[derive(Clone)]
pub struct ShimClient {
    client: ttrpc::r#async::Client,
    service: &'static str,
}

impl ShimClient {
    pub async fn connect(addr: &ShimAddress) -> Result<ShimClient> {
        let client = ttrpc::r#async::Client::connect(&berth_proto::ttrpc_url(&addr.address))
            .await
            .map_err(|source| ShimError::Connect {
                address: addr.address.clone(),
                source,
            })?;
        let service = if addr.version >= 3 {
            "containerd.task.v3.Task"
        } else {
            "containerd.task.v2.Task"
        };
        Ok(ShimClient { client, service })
    }

    async fn call<Q: Message, R: Message>(
        &self,
        method: &'static str,
        req: &Q,
        timeout_ns: i64,
    ) -> Result<R> {
        let payload = req
            .write_to_bytes()
            .map_err(|source| ShimError::Decode { method, source })?;
        let mut creq = ttrpc::Request::new();
        creq.set_service(self.service.to_string());
        creq.set_method(method.to_string());
        creq.set_timeout_nano(timeout_ns);
        creq.set_metadata(ttrpc::context::to_pb(Context::default().metadata));
        creq.set_payload(payload);
        let res = self
            .client
            .request(creq)
            .await
            .map_err(|source| ShimError::Rpc { method, source })?;
        R::parse_from_bytes(&res.payload).map_err(|source| ShimError::Decode { method, source })
    }

    pub async fn create(&self, req: &api::CreateTaskRequest) -> Result<api::CreateTaskResponse> {
        self.call("Create", req, 0).await
    }
    pub async fn start(&self, id: &str, exec_id: &str) -> Result<api::StartResponse> {
        let req = api::StartRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        self.call("Start", &req, 0).await
    }
    pub async fn state(&self, id: &str, exec_id: &str) -> Result<api::StateResponse> {
        let req = api::StateRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        self.call("State", &req, 10_000_000_000).await
    }
    pub async fn delete(&self, id: &str, exec_id: &str) -> Result<api::DeleteResponse> {
        let req = api::DeleteRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        self.call("Delete", &req, DELETE_TIMEOUT_NS).await
    }
    pub async fn pids(&self, id: &str) -> Result<api::PidsResponse> {
        let req = api::PidsRequest {
            id: id.into(),
            ..Default::default()
        };
        self.call("Pids", &req, 10_000_000_000).await
    }
    pub async fn pause(&self, id: &str) -> Result<()> {
        let req = api::PauseRequest {
            id: id.into(),
            ..Default::default()
        };
        self.call::<_, api::Empty>("Pause", &req, 0).await.map(drop)
    }
    pub async fn resume(&self, id: &str) -> Result<()> {
        let req = api::ResumeRequest {
            id: id.into(),
            ..Default::default()
        };
        self.call::<_, api::Empty>("Resume", &req, 0)
            .await
            .map(drop)
    }
    pub async fn kill(&self, id: &str, exec_id: &str, signal: u32, all: bool) -> Result<()> {
        let req = api::KillRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            signal,
            all,
            ..Default::default()
        };
        self.call::<_, api::Empty>("Kill", &req, 10_000_000_000)
            .await
            .map(drop)
    }
    pub async fn exec(&self, req: &api::ExecProcessRequest) -> Result<()> {
        self.call::<_, api::Empty>("Exec", req, 0).await.map(drop)
    }
    pub async fn resize_pty(&self, req: &api::ResizePtyRequest) -> Result<()> {
        self.call::<_, api::Empty>("ResizePty", req, 10_000_000_000)
            .await
            .map(drop)
    }
    pub async fn close_stdin(&self, id: &str, exec_id: &str) -> Result<()> {
        let req = api::CloseIORequest {
            id: id.into(),
            exec_id: exec_id.into(),
            stdin: true,
            ..Default::default()
        };
        self.call::<_, api::Empty>("CloseIO", &req, 10_000_000_000)
            .await
            .map(drop)
    }
    pub async fn update(&self, req: &api::UpdateTaskRequest) -> Result<()> {
        self.call::<_, api::Empty>("Update", req, 0).await.map(drop)
    }
    /// Blocks until the process exits.
    pub async fn wait(&self, id: &str, exec_id: &str) -> Result<api::WaitResponse> {
        let req = api::WaitRequest {
            id: id.into(),
            exec_id: exec_id.into(),
            ..Default::default()
        };
        self.call("Wait", &req, 0).await
    }
    pub async fn stats(&self, id: &str) -> Result<api::StatsResponse> {
        let req = api::StatsRequest {
            id: id.into(),
            ..Default::default()
        };
        self.call("Stats", &req, 10_000_000_000).await
    }
    pub async fn connect_task(&self, id: &str) -> Result<api::ConnectResponse> {
        let req = api::ConnectRequest {
            id: id.into(),
            ..Default::default()
        };
        self.call("Connect", &req, 10_000_000_000).await
    }
    /// Asks the shim to exit; it closes the connection as it goes, so a
    /// transport error here means it went.
    pub async fn shutdown(&self, id: &str) -> Result<()> {
        let req = api::ShutdownRequest {
            id: id.into(),
            now: false,
            ..Default::default()
        };
        match self
            .call::<_, api::Empty>("Shutdown", &req, 10_000_000_000)
            .await
        {
            Ok(_) => Ok(()),
            Err(ShimError::Rpc {
                source: ttrpc::Error::RpcStatus(s),
                method,
            }) => Err(ShimError::Rpc {
                method,
                source: ttrpc::Error::RpcStatus(s),
            }),
            Err(_) => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_address_is_task_api_v2() {
        let a = parse_bootstrap("unix:///run/containerd/s/abc").unwrap();
        assert_eq!(a.address, "unix:///run/containerd/s/abc");
        assert_eq!(a.version, 2);
    }

    #[test]
    fn json_bootstrap_carries_version() {
        let a = parse_bootstrap(r#"{"version":3,"address":"unix:///x.sock","protocol":"ttrpc"}"#)
            .unwrap();
        assert_eq!((a.address.as_str(), a.version), ("unix:///x.sock", 3));
        assert!(parse_bootstrap(r#"{"version":3,"address":"","protocol":"ttrpc"}"#).is_err());
        assert!(parse_bootstrap(r#"{"version":3,"address":"x","protocol":"grpc"}"#).is_err());
        assert!(parse_bootstrap(r#"{"version":9,"address":"x"}"#).is_err());
    }
}
