//! Which containers a fresh manager is still recovering. The manager serves
//! from its first instant while recovery goes on behind it; a request for a
//! container still being recovered waits for that container alone, one
//! about all containers (list, prune) for all of them.

use std::collections::HashMap;
use std::sync::Mutex;

use tokio::sync::watch;

/// The containers recovery has not finished yet.
#[derive(Default)]
pub struct RecoveryGate {
    /// Dropping a sender wakes its container's waiters.
    pending: Mutex<HashMap<String, watch::Sender<()>>>,
}

impl RecoveryGate {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, watch::Sender<()>>> {
        self.pending.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks `ids` as being recovered.
    pub fn begin<'a>(&self, ids: impl IntoIterator<Item = &'a str>) {
        let mut pending = self.lock();
        for id in ids {
            pending.insert(id.to_string(), watch::channel(()).0);
        }
    }

    /// Recovery of `id` is over: its waiters go on.
    pub fn done(&self, id: &str) {
        self.lock().remove(id);
    }

    /// True while any container is being recovered.
    pub fn any(&self) -> bool {
        !self.lock().is_empty()
    }

    /// Returns once no container is being recovered.
    pub async fn wait_all(&self) {
        let ids: Vec<String> = self.lock().keys().cloned().collect();
        for id in ids {
            self.wait(&id).await;
        }
    }

    /// Returns once `id` is not (or no longer) being recovered.
    pub async fn wait(&self, id: &str) {
        let rx = self.lock().get(id).map(watch::Sender::subscribe);
        if let Some(mut rx) = rx {
            // an error is the sender's drop: recovery of `id` is over
            while rx.changed().await.is_ok() {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    #[tokio::test]
    async fn waiters_of_one_container_wait_for_it_alone() {
        let gate = Arc::new(RecoveryGate::default());
        gate.begin(["a", "b"]);
        assert!(gate.any());
        // not being recovered: at once
        gate.wait("c").await;
        let g = gate.clone();
        let waiter = tokio::spawn(async move { g.wait("a").await });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        gate.done("b");
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiter.is_finished());
        let g = gate.clone();
        let all = tokio::spawn(async move { g.wait_all().await });
        gate.done("a");
        tokio::time::timeout(Duration::from_secs(5), waiter)
            .await
            .expect("the waiter of a recovered container goes on")
            .unwrap();
        tokio::time::timeout(Duration::from_secs(5), all)
            .await
            .expect("the waiter of all goes on")
            .unwrap();
        assert!(!gate.any());
    }
}
