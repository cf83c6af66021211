//! # inngest-executor
//!
//! The embedded Inngest executor: an in-process Inngest server for one app (and any SDK app
//! that syncs with it). It drives functions over the same protocol the real server uses —
//! execution requests with the memo map, op arrays back, all typed by [`inngest_protocol`] —
//! so an app cannot tell it from the dev server, and moving to a real server (self-hosted or
//! Inngest Cloud) is a configuration change.
//!
//! The data path of one event, each arrow one transaction or one call:
//!
//! ```text
//! Event API / send ─▶ store (event, runs, first jobs) ─▶ scheduler (claim: lease)
//!   ─▶ worker (load run + memo) ─▶ transport ─▶ SDK ─▶ ops ─▶ store (apply if the lease holds)
//! ```
//!
//! | Module | What |
//! |---|---|
//! | [`Executor`] | open, register apps, send events, start/stop, read runs |
//! | `store` | SQLite: events, runs, steps, listeners, the job queue with leases; group commit |
//! | `scheduler`, `worker` | claims due jobs while slots are free; carries one job out |
//! | `engine` | state transitions: routing, flow control, applying ops per opcode, timers |
//! | `matching` | finding the waits and cancellations an event matches through an index |
//! | [`transport`] | in-process (the app's router, no socket) or HTTP (any SDK app) |
//! | `api`, `page` | the Event API, `/fn/register`, the runs API and the runs page |
//!
//! **Exactly once.** A job is leased to this process in the transaction that claims it; the
//! SDK is called only while the lease holds; a result is applied only in a transaction that
//! deletes the job with that lease. One process owns a database file (an exclusive lock),
//! and when it starts, jobs its dead predecessor had leased run again: a step body runs twice
//! only when the process died while it ran, or when the SDK asked for a retry.

mod api;
mod bounded;
mod clock;
mod cron;
mod drain;
mod engine;
mod error;
mod events;
mod executor;
mod expr;
mod functions;
mod ids;
mod matching;
mod model;
mod options;
mod page;
mod request;
mod scheduler;
mod store;
#[cfg(test)]
mod test_support;
pub mod transport;
mod worker;

pub use clock::Clock;
pub use drain::DrainStatus;
pub use error::{CheckpointError, ExecutorError, StoreError};
pub use executor::{Executor, MAX_EVENTS_PER_SEND, Pruned, WeakExecutor};
pub use functions::DEFAULT_RETRIES;
pub use model::{AppInfo, RunCursor, RunFilter, RunStatus, RunView, StepRecord, StepStatus};
pub use options::{Access, Options, Settings};
pub use store::lock_path;
