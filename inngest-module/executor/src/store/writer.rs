//! Group commit: every write is a closure queued to the one writing connection; whichever
//! blocking task drains the queue runs up to [`MAX_BATCH`] closures in one `BEGIN IMMEDIATE`
//! transaction, each inside its own savepoint (a closure that fails rolls back alone), then
//! commits once and hands each caller its result. A caller's result arrives only after the
//! commit, so "returned" means "durable".
//!
//! The drain runs on tokio's blocking pool, never on the async workers: a database another
//! process holds locked (the busy timeout applies to `BEGIN IMMEDIATE`) stalls writes, not
//! the server. With tokio's paused test clock, a running blocking task also keeps time from
//! auto-advancing while SQLite works.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::Connection;
use tokio::sync::oneshot;

use super::Tx;
use crate::error::{StoreError, StoreResult};

/// Most closures committed together.
const MAX_BATCH: usize = 256;
/// How long a drainer that emptied the queue waits for more before it exits: under load
/// the next write comes within microseconds, and handing it to a running drainer is
/// cheaper than starting another blocking task.
const LINGER: Duration = Duration::from_micros(500);

/// One queued closure and where its result goes.
trait Task: Send {
    /// Runs the closure; `false` when it failed (its savepoint is rolled back).
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Delivers the result once the batch committed (or the commit's error).
    fn complete(self: Box<Self>, committed: Result<(), String>);
}

struct Closure<F, R> {
    work: Option<F>,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> Task for Closure<F, R>
where
    F: FnOnce(&Tx<'_>) -> StoreResult<R> + Send,
    R: Send,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let Some(work) = self.work.take() else {
            return false;
        };
        let result = work(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn complete(self: Box<Self>, committed: Result<(), String>) {
        let result = match committed {
            Ok(()) => self.result.unwrap_or(Err(StoreError::Closed)),
            Err(message) => Err(StoreError::Transaction(message)),
        };
        // The caller may have given up waiting; nothing to do then.
        let _ = self.reply.send(result);
    }
}

struct Shared {
    queue: Mutex<VecDeque<Box<dyn Task>>>,
    /// Wakes a lingering drainer.
    arrived: Condvar,
    draining: AtomicBool,
    connection: Mutex<Connection>,
}

/// The writing connection and its queue.
#[derive(Clone)]
pub(crate) struct Writer {
    shared: Arc<Shared>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic inside a closure is caught below; the guarded data stays consistent (SQLite
    // rolls an unfinished transaction back), so a poisoned lock is safe to reuse.
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Writer {
    pub(crate) fn new(connection: Connection) -> Self {
        Self {
            shared: Arc::new(Shared {
                queue: Mutex::new(VecDeque::new()),
                arrived: Condvar::new(),
                draining: AtomicBool::new(false),
                connection: Mutex::new(connection),
            }),
        }
    }

    /// Queues `work` and waits for the commit of the batch it joins.
    pub(crate) async fn write<R, F>(&self, work: F) -> StoreResult<R>
    where
        F: FnOnce(&Tx<'_>) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        lock(&self.shared.queue).push_back(Box::new(Closure {
            work: Some(work),
            result: None,
            reply,
        }));
        if self.shared.draining.swap(true, Ordering::AcqRel) {
            self.shared.arrived.notify_one();
        } else {
            let shared = Arc::clone(&self.shared);
            tokio::task::spawn_blocking(move || shared.drain());
        }
        result.await.unwrap_or(Err(StoreError::Closed))
    }

    /// Runs `work` on the writing connection right now, outside any batch (start-up work).
    pub(crate) fn run_now<R>(
        &self,
        work: impl FnOnce(&Connection) -> StoreResult<R>,
    ) -> StoreResult<R> {
        work(&lock(&self.shared.connection))
    }
}

impl Shared {
    fn drain(&self) {
        loop {
            let batch: Vec<Box<dyn Task>> = {
                let mut queue = lock(&self.queue);
                if queue.is_empty() {
                    queue = self
                        .arrived
                        .wait_timeout(queue, LINGER)
                        .map(|(queue, _)| queue)
                        .unwrap_or_else(|poisoned| poisoned.into_inner().0);
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            if batch.is_empty() {
                self.draining.store(false, Ordering::Release);
                // A task queued between the check above and the store would be stranded:
                // take the drain back unless another drainer already started.
                if lock(&self.queue).is_empty() || self.draining.swap(true, Ordering::AcqRel) {
                    return;
                }
                continue;
            }
            self.commit(batch);
        }
    }

    fn commit(&self, mut batch: Vec<Box<dyn Task>>) {
        let connection = lock(&self.connection);
        // Every statement is prepared once per connection: no SQL parsing per batch or task.
        let statement = |sql: &str| -> rusqlite::Result<()> {
            connection.prepare_cached(sql)?.execute([])?;
            Ok(())
        };
        let outcome = (|| -> rusqlite::Result<()> {
            statement("BEGIN IMMEDIATE")?;
            let tx = Tx::new(&connection);
            for task in &mut batch {
                statement("SAVEPOINT task")?;
                let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run(&tx)))
                    .unwrap_or_else(|_| {
                        tracing::error!("a store closure panicked; its changes are rolled back");
                        false
                    });
                if !ok {
                    statement("ROLLBACK TO task")?;
                }
                statement("RELEASE task")?;
            }
            statement("COMMIT")
        })();
        if outcome.is_err() && !connection.is_autocommit() {
            // Leaves nothing half done: every closure of the batch is told it failed.
            let _ = statement("ROLLBACK");
        }
        drop(connection);
        let committed = outcome.map_err(|error| error.to_string());
        for task in batch {
            task.complete(committed.clone());
        }
    }
}
