//! Durable executor state in SQLite: events, runs, step memos, listeners (pending waits and
//! cancellations), the job queue with its leases, and flow-control state. Every change of
//! state is one transaction, so a crash at any point leaves either the state before a
//! transition or the state after it.
//!
//! - Writes go through one connection with group commit ([`writer`]).
//! - Reads of a database file use a small pool of read-only connections on the calling
//!   thread (WAL lets them read while the writer writes); an in-memory database has one
//!   connection, so its reads queue with the writes.
//! - One process owns a database file ([`lock`]); at open, leases left by a previous owner
//!   (which is dead, or the lock would be held) are cleared, so its interrupted jobs run again.
//!
//! WAL with `synchronous = NORMAL`: a commit survives a killed process; only an OS crash or
//! power loss can lose the last transactions.

mod checkpoint;
mod events;
mod jobs;
mod kv;
mod listeners;
mod lock;
mod retention;
mod runs;
pub(crate) mod schema;
mod steps;
mod writer;

use parking_lot::Mutex;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::StoreResult;
pub(crate) use jobs::NewJob;
pub(crate) use listeners::{Listener, ListenerKind, NewListener, match_paths};
use lock::OwnerLock;
pub use lock::lock_path;
pub use retention::Pruned;
pub(crate) use steps::StepUpdate;
use writer::Writer;

/// How long a write waits for a lock another connection holds before it fails.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);
/// Read connections of a database file.
const READERS: usize = 2;

/// A transaction (or a read snapshot) with the executor's queries.
pub(crate) struct Tx<'a> {
    connection: &'a Connection,
}

impl<'a> Tx<'a> {
    pub(crate) fn new(connection: &'a Connection) -> Self {
        Self { connection }
    }
}

/// The SQLite store.
pub(crate) struct Store {
    writer: Writer,
    readers: Vec<Mutex<Connection>>,
    next_reader: AtomicUsize,
    path: Option<PathBuf>,
    /// Declared before the lock: stopped before it is released.
    _checkpointer: Option<checkpoint::Checkpointer>,
    _owner: Option<OwnerLock>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

fn configure(connection: &Connection) -> StoreResult<()> {
    connection.busy_timeout(BUSY_TIMEOUT)?;
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "OFF")?;
    connection.pragma_update(None, "temp_store", "MEMORY")?;
    connection.pragma_update(None, "cache_size", -16_000)?;
    Ok(())
}

impl Store {
    /// Opens (creating if needed) the database at `path`, or one in memory. Takes the
    /// owner lock first: a second process on the same file fails here, before reading.
    pub(crate) fn open(path: Option<&Path>) -> StoreResult<Self> {
        let owner = match path {
            Some(path) => {
                if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                    // A missing directory surfaces as the lock file's error below.
                    let _ = std::fs::create_dir_all(parent);
                }
                Some(OwnerLock::acquire(path)?)
            }
            None => None,
        };
        let connection = match path {
            Some(path) => Connection::open(path)?,
            None => Connection::open_in_memory()?,
        };
        configure(&connection)?;
        // Only takes effect on a new database (before its first table): lets retention
        // give pages back with `incremental_vacuum`.
        connection.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
        if path.is_some() {
            connection.pragma_update(None, "journal_mode", "WAL")?;
            // The checkpointer thread copies the WAL into the database (see [`checkpoint`]).
            connection.pragma_update(None, "wal_autocheckpoint", 0)?;
            // Once checkpointed, the WAL file is cut back to 64 MB at most.
            connection.pragma_update(None, "journal_size_limit", 64 * 1024 * 1024)?;
        }
        schema::prepare(&connection, path)?;
        // The previous owner is gone (we hold the lock): what it had leased runs again.
        // Nothing holds a concurrency slot now, so nothing waits for one either.
        connection.execute_batch(
            "UPDATE jobs SET lease_owner = NULL WHERE lease_owner IS NOT NULL;
             UPDATE jobs SET parked_on = NULL WHERE parked_on IS NOT NULL;",
        )?;
        let mut readers = Vec::new();
        if let Some(path) = path {
            for _ in 0..READERS {
                let reader = Connection::open_with_flags(
                    path,
                    OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )?;
                configure(&reader)?;
                readers.push(Mutex::new(reader));
            }
        }
        Ok(Self {
            writer: Writer::new(connection),
            readers,
            next_reader: AtomicUsize::new(0),
            path: path.map(Path::to_path_buf),
            _checkpointer: path.map(checkpoint::Checkpointer::start).transpose()?,
            _owner: owner,
        })
    }

    /// The database file, if not in memory.
    pub(crate) fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Runs `work` in a write transaction (grouped with concurrent writes); returns once it
    /// is committed.
    pub(crate) async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: Fn(&Tx<'_>) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        self.writer.write(work).await
    }

    /// Runs read-only `work` on a consistent snapshot.
    pub(crate) async fn read<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: Fn(&Tx<'_>) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        if self.readers.is_empty() {
            return self.writer.write(work).await;
        }
        let start = self.next_reader.fetch_add(1, Ordering::Relaxed);
        let count = self.readers.len();
        let guard = (0..count)
            .find_map(|i| self.readers[(start + i) % count].try_lock())
            .unwrap_or_else(|| self.readers[start % count].lock());
        if !guard.is_autocommit() {
            // A read that panicked left its snapshot open.
            guard.prepare_cached("ROLLBACK")?.execute([])?;
        }
        // One snapshot for every statement of `work`; prepared once, not parsed per read.
        guard.prepare_cached("BEGIN")?.execute([])?;
        let result = work(&Tx::new(&guard));
        guard.prepare_cached("COMMIT")?.execute([])?;
        result
    }

    /// Runs `work` on the writing connection now, outside any batch (start-up only).
    pub(crate) fn run_now<R>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<R>,
    ) -> StoreResult<R> {
        self.writer.run_now(work)
    }
}

/// A value as a JSON column.
pub(crate) fn to_json(value: &impl Serialize) -> StoreResult<String> {
    Ok(serde_json::to_string(value)?)
}

/// A JSON column as a value.
pub(crate) fn from_json<T: DeserializeOwned>(text: &str) -> StoreResult<T> {
    Ok(serde_json::from_str(text)?)
}

/// An optional JSON column as a value.
pub(crate) fn from_json_opt<T: DeserializeOwned>(text: Option<String>) -> StoreResult<Option<T>> {
    text.map(|text| from_json(&text)).transpose()
}
