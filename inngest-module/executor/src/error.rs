//! Why the executor refused something.

use std::path::PathBuf;

/// A storage failure.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// SQLite refused an operation.
    #[error("the executor's SQLite store failed: {0}")]
    Sqlite(#[from] rusqlite::Error),
    /// A stored JSON column does not decode (the file was edited or is from another version).
    #[error("the executor's store holds data it cannot read: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// Another process owns the database.
    #[error(
        "the executor database {} is in use by another process{}: one process owns a database; \
         stop the other one, or point inngest.embedded.database at another file",
        path.display(),
        holder.map(|pid| format!(" (pid {pid})")).unwrap_or_default()
    )]
    InUse {
        /// The database.
        path: PathBuf,
        /// The owner's process id, when it wrote one.
        holder: Option<u32>,
    },
    /// The lock file next to the database cannot be created or locked.
    #[error("the executor database's lock file {} cannot be used: {source}", path.display())]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The database was written by an incompatible version of the executor.
    #[error(
        "the executor database {} was written by an older version of the embedded executor \
         (schema {found}, this version reads {expected}); move it aside or delete it to start \
         afresh (its runs are not carried over)",
        path.display()
    )]
    Schema {
        /// The database.
        path: PathBuf,
        /// Its schema version.
        found: i64,
        /// This version's.
        expected: i64,
    },
    /// A transaction could not begin or commit (every write of its batch gets this).
    #[error("the executor's SQLite store could not commit: {0}")]
    Transaction(String),
    /// The store was shut down or its worker thread is gone.
    #[error("the executor's store is closed")]
    Closed,
}

/// Shorthand for store results.
pub type StoreResult<T> = Result<T, StoreError>;

/// Why the executor refused something.
#[derive(Debug, thiserror::Error)]
pub enum ExecutorError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An event is malformed.
    #[error("event {index}: {reason}")]
    InvalidEvent {
        /// Position in the request.
        index: usize,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// The executor drains ([`Options::drain`](crate::Options::drain)): it accepts no new
    /// events.
    #[error(
        "this embedded executor is draining and accepts no new events: send them to the Inngest server that replaces it (the app's INNGEST_BASE_URL), or restart it without inngest.embedded.drain"
    )]
    Draining,
    /// A function definition cannot be used.
    #[error("the app `{app_id}` cannot be registered:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidFunctions {
        /// The app.
        app_id: String,
        /// Every problem.
        problems: Vec<String>,
    },
}

/// Why a checkpoint ([`Executor::checkpoint`](crate::Executor::checkpoint)) was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CheckpointError {
    /// The request no longer owns the run: it was cancelled or finished, or its job's lease
    /// lapsed and another execution took over (`409`; the SDK stops).
    #[error("stale dispatch: execution request {qi_id} no longer owns run {run_id}")]
    Stale {
        /// The run.
        run_id: String,
        /// The queue item the request named.
        qi_id: String,
    },
    /// The checkpoint cannot be read (`400`).
    #[error("{0}")]
    Invalid(String),
    /// The store failed (`500`; the SDK retries, then answers the steps instead).
    #[error(transparent)]
    Store(#[from] StoreError),
}
