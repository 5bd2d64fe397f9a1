//! Extra processes in a running container: FIFO stdio under
//! `<bundle>/exec/`, started and reaped through the shim.

use std::path::Path;

use berth_proto::containerd::api;
use berth_proto::manager::{ExecResponse, ResizePtyRequest, WaitResponse};
use protobuf::well_known_types::any::Any;
use protobuf::MessageField;

use crate::bundle;
use crate::error::{ManagerError, Result};
use crate::manager::{random_hex, ExecInfo, Manager};
use crate::record::Status;

pub const PROCESS_URL: &str = "types.containerd.io/opencontainers/runtime-spec/1/Process";

/// The FIFO paths of one exec: stdin (if wanted), stdout, stderr (not with a tty).
pub fn exec_fifos(dir: &Path, exec_id: &str, stdin: bool, tty: bool) -> [String; 3] {
    let p = |s: &str| dir.join(format!("{exec_id}-{s}")).display().to_string();
    [
        if stdin { p("stdin") } else { String::new() },
        p("stdout"),
        if tty { String::new() } else { p("stderr") },
    ]
}

impl Manager {
    pub async fn exec(
        &self,
        key: &str,
        process_json: &str,
        user: &str,
        stdin: bool,
        tty: bool,
    ) -> Result<ExecResponse> {
        let mut process: serde_json::Value = serde_json::from_str(process_json)
            .map_err(|e| ManagerError::InvalidArgument(format!("invalid process_json: {e}")))?;
        serde_json::from_value::<oci_spec::runtime::Process>(process.clone())
            .map_err(|e| ManagerError::InvalidArgument(format!("invalid process_json: {e}")))?;
        if process
            .get("args")
            .and_then(|a| a.as_array())
            .is_none_or(|a| a.is_empty())
        {
            return Err(ManagerError::InvalidArgument(
                "invalid process_json: args is empty".into(),
            ));
        }
        process["terminal"] = serde_json::Value::Bool(tty);
        let rec = self.resolve(key)?;
        if rec.status == Status::Paused {
            return Err(ManagerError::FailedPrecondition(format!(
                "container {} is paused, unpause the container before exec",
                rec.name
            )));
        }
        // names mean what the container's own files say, now; the
        // container's --group-add groups hold for the exec'd process too
        crate::users::resolve_process(&mut process, user, &rec.spec_json, &rec.rootfs)
            .map_err(|e| ManagerError::InvalidArgument(e.to_string()))?;
        let client = self.running_client(&rec)?;
        let exec_id = random_hex(16);
        let dir = self.cfg.bundle_dir(&rec.id).join("exec");
        bundle::make_dir(&dir, 0o700)?;
        let fifos = exec_fifos(&dir, &exec_id, stdin, tty);
        for f in fifos.iter().filter(|f| !f.is_empty()) {
            bundle::make_fifo(Path::new(f))?;
        }
        let req = api::ExecProcessRequest {
            id: rec.id.clone(),
            exec_id: exec_id.clone(),
            terminal: tty,
            stdin: fifos[0].clone(),
            stdout: fifos[1].clone(),
            stderr: fifos[2].clone(),
            spec: MessageField::some(Any {
                type_url: PROCESS_URL.into(),
                value: process.to_string().into_bytes(),
                ..Default::default()
            }),
            ..Default::default()
        };
        if let Err(e) = client.exec(&req).await {
            remove_fifos(&fifos);
            return Err(e.into());
        }
        self.execs.lock().unwrap_or_else(|e| e.into_inner()).insert(
            exec_id.clone(),
            ExecInfo {
                container_id: rec.id.clone(),
                dir,
            },
        );
        self.container_event(&rec, "exec_create", &[("execID", exec_id.clone())]);
        let [stdin_path, stdout_path, stderr_path] = fifos;
        Ok(ExecResponse {
            exec_id,
            stdin_path,
            stdout_path,
            stderr_path,
            ..Default::default()
        })
    }

    /// The container and exec id must belong together.
    fn exec_of(&self, key: &str, exec_id: &str) -> Result<crate::record::ContainerRecord> {
        let rec = self.resolve(key)?;
        let known = self
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(exec_id)
            .map(|e| e.container_id == rec.id);
        match known {
            Some(true) => Ok(rec),
            _ => Err(ManagerError::NotFound(format!(
                "no such exec: {exec_id} in container {}",
                rec.name
            ))),
        }
    }

    pub async fn start_exec(&self, key: &str, exec_id: &str) -> Result<()> {
        let rec = self.exec_of(key, exec_id)?;
        let client = self.running_client(&rec)?;
        client.start(&rec.id, exec_id).await?;
        self.container_event(&rec, "exec_start", &[("execID", exec_id.to_string())]);
        Ok(())
    }

    /// Waits for an exec'd process, then deletes it from the shim and drops
    /// its FIFOs; later calls get the same answer.
    pub async fn wait_exec(&self, key: &str, exec_id: &str) -> Result<WaitResponse> {
        if exec_id.is_empty() {
            return self.wait_task(key).await;
        }
        if let Some(w) = self
            .exec_exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .get(exec_id)
        {
            return Ok(w.clone());
        }
        let rec = self.exec_of(key, exec_id)?;
        let client = self.running_client(&rec)?;
        let w = client.wait(&rec.id, exec_id).await?;
        let _ = client.delete(&rec.id, exec_id).await;
        let resp = WaitResponse {
            exit_code: w.exit_status as i32,
            exited_at: w.exited_at.clone(),
            ..Default::default()
        };
        let info = self
            .execs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remove(exec_id);
        if let Some(info) = info {
            remove_fifos(&exec_fifos(&info.dir, exec_id, true, false));
        }
        // exec_die reaches the bus from the shim's TaskExit event
        self.exec_exits
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(exec_id.to_string(), resp.clone());
        Ok(resp)
    }

    pub async fn resize_pty(&self, req: &ResizePtyRequest) -> Result<()> {
        let rec = if req.exec_id.is_empty() {
            self.resolve(&req.container_id)?
        } else {
            self.exec_of(&req.container_id, &req.exec_id)?
        };
        let client = self.running_client(&rec)?;
        client
            .resize_pty(&api::ResizePtyRequest {
                id: rec.id.clone(),
                exec_id: req.exec_id.clone(),
                width: req.width,
                height: req.height,
                ..Default::default()
            })
            .await?;
        Ok(())
    }

    pub async fn close_stdin(&self, key: &str, exec_id: &str) -> Result<()> {
        let rec = if exec_id.is_empty() {
            self.resolve(key)?
        } else {
            self.exec_of(key, exec_id)?
        };
        // a container whose task is gone has no stdin left to close: the
        // same end a client reaches when the process read its input to the
        // end and exited before the CloseStdin came (docker sends it after
        // closing its own end, which is what ends `cat`)
        if !rec.status.has_task() {
            return Ok(());
        }
        let client = self.running_client(&rec)?;
        client.close_stdin(&rec.id, exec_id).await?;
        Ok(())
    }
}

fn remove_fifos(fifos: &[String]) {
    for f in fifos.iter().filter(|f| !f.is_empty()) {
        let _ = std::fs::remove_file(f);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fifo_names_follow_stdin_and_tty() {
        let f = exec_fifos(Path::new("/b/exec"), "e1", false, true);
        assert_eq!(f, ["".to_string(), "/b/exec/e1-stdout".into(), "".into()]);
        let f = exec_fifos(Path::new("/b/exec"), "e1", true, false);
        assert_eq!(f[0], "/b/exec/e1-stdin");
        assert_eq!(f[2], "/b/exec/e1-stderr");
    }
}
