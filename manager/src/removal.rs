//! Removals that failed half-way (a full disk that cannot even commit the
//! snapshot's removal, a busy mount) are finished behind the user's back:
//! the container stays listed, dead, and is retried with a growing pause
//! until its files and record are gone, so nothing is leaked and the next
//! `rm`, `container prune` or a restart's recovery need not be waited for.

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::manager::Manager;
use crate::record::Status;

/// The first pause before a retry; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(500);
const RETRY_MAX: Duration = Duration::from_secs(30);

/// Containers with a retry under way: one loop each.
static PENDING: Mutex<Option<HashSet<String>>> = Mutex::new(None);

fn claim(id: &str) -> bool {
    let mut p = PENDING.lock().unwrap_or_else(|e| e.into_inner());
    p.get_or_insert_with(HashSet::new).insert(id.to_string())
}

fn release(id: &str) {
    if let Some(p) = PENDING.lock().unwrap_or_else(|e| e.into_inner()).as_mut() {
        p.remove(id);
    }
}

impl Manager {
    /// Retries the removal of dead container `id` (or of one whose create
    /// failed) until it is done, or the container is gone.
    pub fn finish_removal_later(self: &Arc<Self>, id: &str) {
        if !claim(id) {
            return;
        }
        let mgr = self.clone();
        let id = id.to_string();
        tokio::spawn(async move {
            let mut pause = RETRY_FIRST;
            loop {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(RETRY_MAX);
                match mgr.store.get(&id) {
                    // dead, or a create that failed before its mounts
                    Ok(Some(r))
                        if r.status == Status::Dead
                            || (r.status == Status::Created && r.rootfs.is_empty()) => {}
                    Ok(_) => break,
                    // the store itself is failing (a full disk): later
                    Err(_) => continue,
                }
                if mgr.delete_container(&id, false).await.is_ok() {
                    break;
                }
            }
            release(&id);
        });
    }
}
