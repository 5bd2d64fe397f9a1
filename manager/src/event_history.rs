//! The manager's event history: the newest [`KEPT`] events it published,
//! in its redb store under their numbers, so `events --since` replays what
//! happened before it asked, across manager restarts. A writer task takes
//! published events off the bus in batches and appends them, trimming the
//! oldest in the same transaction: the run path only queues an event.

use std::sync::{Arc, Weak};

use berth_proto::manager::Event;
use berth_proto::protobuf::Message;
use redb::{Database, ReadableTable, ReadableTableMetadata, TableDefinition};

use crate::events::{EventBus, Numbered};
use crate::manager::Manager;

/// Events kept: the newest ones.
pub const KEPT: usize = 1024;

/// event number → the event (protobuf).
const EVENTS: TableDefinition<u64, &[u8]> = TableDefinition::new("events");

#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("event history: {0}")]
    Db(Box<redb::Error>),
    #[error("event history: {0}")]
    Store(#[from] crate::store::StoreError),
}

fn db<E: Into<redb::Error>>(e: E) -> HistoryError {
    HistoryError::Db(Box::new(e.into()))
}

/// Appends `events` (numbered upwards) and drops all but the newest `kept`,
/// in one transaction.
pub fn append(d: &Database, events: &[Numbered], kept: usize) -> Result<(), HistoryError> {
    let txn = d.begin_write().map_err(db)?;
    {
        let mut t = txn.open_table(EVENTS).map_err(db)?;
        for (n, e) in events {
            let bytes = e.write_to_bytes().expect("an event encodes");
            t.insert(*n, bytes.as_slice()).map_err(db)?;
        }
        let mut len = t.len().map_err(db)? as usize;
        while len > kept {
            t.pop_first().map_err(db)?;
            len -= 1;
        }
    }
    txn.commit().map_err(db)
}

/// The stored events numbered up to `through`, oldest first; an entry that
/// does not decode is skipped.
pub fn read(d: &Database, through: u64) -> Result<Vec<Numbered>, HistoryError> {
    let txn = d.begin_read().map_err(db)?;
    let t = match txn.open_table(EVENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(Vec::new()),
        Err(e) => return Err(db(e)),
    };
    let mut out = Vec::new();
    for entry in t.range(..=through).map_err(db)? {
        let (k, v) = entry.map_err(db)?;
        if let Ok(e) = Event::parse_from_bytes(v.value()) {
            out.push((k.value(), e));
        }
    }
    Ok(out)
}

/// The number of the newest stored event (0: none).
pub fn last(d: &Database) -> Result<u64, HistoryError> {
    let txn = d.begin_read().map_err(db)?;
    let t = match txn.open_table(EVENTS) {
        Ok(t) => t,
        Err(redb::TableError::TableDoesNotExist(_)) => return Ok(0),
        Err(e) => return Err(db(e)),
    };
    let newest = t.last().map_err(db)?.map(|(k, _)| k.value()).unwrap_or(0);
    Ok(newest)
}

/// Carries the numbering on from the stored history and starts the task
/// that stores published events.
pub fn start(mgr: &Arc<Manager>) {
    match mgr
        .store
        .db()
        .map_err(HistoryError::from)
        .and_then(|d| last(&d))
    {
        Ok(n) => mgr.events.continue_after(n),
        Err(e) => crate::log_line!("berth-manager: {e}: numbering events afresh"),
    }
    let bus = mgr.events.clone();
    let weak = Arc::downgrade(mgr);
    tokio::spawn(write_loop(bus, weak));
}

async fn write_loop(bus: EventBus, mgr: Weak<Manager>) {
    loop {
        let batch = bus.take_pending();
        if batch.is_empty() {
            bus.pending_wake().await;
            continue;
        }
        let Some(m) = mgr.upgrade() else { return };
        let through = batch.last().map(|(n, _)| *n).unwrap_or(0);
        // the commit syncs the disk: off the runtime's threads
        let stored = tokio::task::spawn_blocking(move || {
            m.store
                .db()
                .map_err(HistoryError::from)
                .and_then(|d| append(&d, &batch, KEPT))
        })
        .await;
        match stored {
            Ok(Ok(())) => {}
            Ok(Err(e)) => crate::log_line!("berth-manager: {e}: events lost from the history"),
            Err(e) => crate::log_line!("berth-manager: event history writer: {e}"),
        }
        // replays wait for this; a failed batch is not waited for forever
        bus.mark_written(through);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ev(action: &str) -> Event {
        let mut e = Event::new();
        e.type_ = "container".into();
        e.action = action.into();
        e
    }

    #[test]
    fn keeps_the_newest_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let d = Database::create(dir.path().join("db")).unwrap();
        assert_eq!(last(&d).unwrap(), 0);
        assert!(read(&d, u64::MAX).unwrap().is_empty());
        for chunk in (1..=25u64).collect::<Vec<_>>().chunks(7) {
            let batch: Vec<Numbered> = chunk.iter().map(|n| (*n, ev(&n.to_string()))).collect();
            append(&d, &batch, 10).unwrap();
        }
        let got = read(&d, u64::MAX).unwrap();
        let numbers: Vec<u64> = got.iter().map(|(n, _)| *n).collect();
        assert_eq!(numbers, (16..=25).collect::<Vec<_>>());
        assert_eq!(got[0].1.action, "16");
        assert_eq!(last(&d).unwrap(), 25);
        assert_eq!(read(&d, 18).unwrap().len(), 3);
    }

    #[test]
    fn survives_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db");
        {
            let d = Database::create(&path).unwrap();
            append(&d, &[(1, ev("create")), (2, ev("start"))], KEPT).unwrap();
        }
        let d = Database::create(&path).unwrap();
        let got = read(&d, u64::MAX).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(got[1].1.action, "start");
    }
}
