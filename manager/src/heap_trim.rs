//! Giving freed heap back to the kernel. Every container start decodes and
//! re-encodes its record (10–20 KB of JSON) a few times; glibc keeps the
//! freed chunks inside its arenas, so after a burst of starts the manager
//! stays tens of megabytes larger than what it holds. `malloc_trim(0)`
//! returns every whole free page (a measured quarter of the manager's
//! anonymous memory at 600 containers). It runs a few seconds after
//! recovery and after each burst of changes settles, never while idle.

use std::sync::Arc;
use std::time::Duration;

use crate::manager::Manager;

/// How often the store is looked at.
const TICK: Duration = Duration::from_secs(5);

/// Trims the heap once after each tick in which container records changed.
pub fn start(mgr: &Arc<Manager>) {
    let mgr = mgr.clone();
    tokio::spawn(async move {
        // None: the first tick trims what recovery left behind
        let mut trimmed = None;
        loop {
            tokio::time::sleep(TICK).await;
            let now = Some(mgr.store.generation());
            if now != trimmed {
                trimmed = now;
                // SAFETY: malloc_trim only returns free memory to the kernel.
                unsafe {
                    libc::malloc_trim(0);
                }
            }
        }
    });
}
