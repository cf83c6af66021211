//! Group commit: every write is a closure queued to the one writing connection; whichever
//! blocking task drains the queue runs up to [`MAX_BATCH`] closures in one `BEGIN IMMEDIATE`
//! transaction, commits once and hands each caller its result. A caller's result arrives
//! only after the commit, so "returned" means "durable".
//!
//! A closure that fails must not take its neighbours down with it, nor leave half its
//! changes behind. Savepoints would isolate each closure but copy every page it touches
//! into a sub-journal (a seventh of the writer's time); instead the batch runs optimistically
//! and, if any closure fails, is rolled back whole and each of its closures runs again in a
//! transaction of its own. Closures are therefore `Fn`; what they change in memory (flow
//! control windows) may be counted twice in that rare case, never what they store.
//!
//! The drain runs on tokio's blocking pool, never on the async workers: a database another
//! process holds locked (the busy timeout applies to `BEGIN IMMEDIATE`) stalls writes, not
//! the server. With tokio's paused test clock, a running blocking task also keeps time from
//! auto-advancing while SQLite works.

use parking_lot::{Condvar, Mutex};
use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
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
    /// Runs the closure (again, if it ran in a batch that was rolled back); `false` when it
    /// failed.
    fn run(&mut self, tx: &Tx<'_>) -> bool;
    /// Delivers the result once its transaction committed (or the commit's error).
    fn complete(self: Box<Self>, committed: Result<(), String>);
}

struct Closure<F, R> {
    work: F,
    result: Option<StoreResult<R>>,
    reply: oneshot::Sender<StoreResult<R>>,
}

impl<F, R> Task for Closure<F, R>
where
    F: Fn(&Tx<'_>) -> StoreResult<R> + Send,
    R: Send,
{
    fn run(&mut self, tx: &Tx<'_>) -> bool {
        let result = (self.work)(tx);
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
        F: Fn(&Tx<'_>) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        self.shared.queue.lock().push_back(Box::new(Closure {
            work,
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
        work(&self.shared.connection.lock())
    }
}

impl Shared {
    fn drain(&self) {
        loop {
            let batch: Vec<Box<dyn Task>> = {
                let mut queue = self.queue.lock();
                if queue.is_empty() {
                    self.arrived.wait_for(&mut queue, LINGER);
                }
                let take = queue.len().min(MAX_BATCH);
                queue.drain(..take).collect()
            };
            if batch.is_empty() {
                self.draining.store(false, Ordering::Release);
                // A task queued between the check above and the store would be stranded:
                // take the drain back unless another drainer already started.
                if self.queue.lock().is_empty() || self.draining.swap(true, Ordering::AcqRel) {
                    return;
                }
                continue;
            }
            self.commit(batch);
        }
    }

    fn commit(&self, mut batch: Vec<Box<dyn Task>>) {
        let connection = self.connection.lock();
        match run_in_transaction(&connection, &mut batch) {
            Ok(true) => {
                drop(connection);
                complete_all(batch, &Ok(()));
            }
            Ok(false) => {
                // A closure failed: the batch was rolled back whole. Each closure runs
                // again alone, so only the failing one fails.
                let mut results = Vec::with_capacity(batch.len());
                for task in &mut batch {
                    let mut one = [std::mem::replace(task, Box::new(Placeholder))];
                    let committed = match run_in_transaction(&connection, &mut one) {
                        // Its own error is in its result; the empty commit succeeded.
                        Ok(_) => Ok(()),
                        Err(error) => Err(error.to_string()),
                    };
                    let [task] = one;
                    results.push((task, committed));
                }
                drop(connection);
                for (task, committed) in results {
                    task.complete(committed);
                }
            }
            Err(error) => {
                drop(connection);
                complete_all(batch, &Err(error.to_string()));
            }
        }
    }
}

/// Runs `tasks` in one `BEGIN IMMEDIATE` transaction. Commits and returns `true` when every
/// task succeeded; rolls back and returns `false` at the first that failed (or panicked).
fn run_in_transaction(
    connection: &Connection,
    tasks: &mut [Box<dyn Task>],
) -> rusqlite::Result<bool> {
    // Prepared once per connection: no SQL parsing per batch.
    let statement = |sql: &str| -> rusqlite::Result<()> {
        connection.prepare_cached(sql)?.execute([])?;
        Ok(())
    };
    let outcome = (|| -> rusqlite::Result<bool> {
        statement("BEGIN IMMEDIATE")?;
        let tx = Tx::new(connection);
        for task in tasks.iter_mut() {
            let ok = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| task.run(&tx)))
                .unwrap_or_else(|_| {
                    tracing::error!("a store closure panicked; its transaction is rolled back");
                    false
                });
            if !ok {
                statement("ROLLBACK")?;
                return Ok(false);
            }
        }
        statement("COMMIT")?;
        Ok(true)
    })();
    if outcome.is_err() && !connection.is_autocommit() {
        // Leaves nothing half done.
        let _ = statement("ROLLBACK");
    }
    outcome
}

fn complete_all(batch: Vec<Box<dyn Task>>, committed: &Result<(), String>) {
    for task in batch {
        task.complete(committed.clone());
    }
}

/// Stands in for a task while it runs alone.
struct Placeholder;

impl Task for Placeholder {
    fn run(&mut self, _tx: &Tx<'_>) -> bool {
        true
    }

    fn complete(self: Box<Self>, _committed: Result<(), String>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task<F, R>(work: F) -> (Box<dyn Task>, oneshot::Receiver<StoreResult<R>>)
    where
        F: Fn(&Tx<'_>) -> StoreResult<R> + Send + 'static,
        R: Send + 'static,
    {
        let (reply, result) = oneshot::channel();
        let task = Box::new(Closure {
            work,
            result: None,
            reply,
        });
        (task, result)
    }

    fn insert(value: i64) -> impl Fn(&Tx<'_>) -> StoreResult<()> + Send + 'static {
        move |tx| {
            tx.connection
                .execute("INSERT INTO t (v) VALUES (?1)", [value])?;
            Ok(())
        }
    }

    #[test]
    fn a_failing_closure_fails_alone_and_leaves_nothing_behind() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        let writer = Writer::new(connection);
        let (first, first_result) = task(insert(1));
        // Writes, then fails: its row must not survive.
        let (bad, bad_result) = task(|tx: &Tx<'_>| -> StoreResult<()> {
            tx.connection.execute("INSERT INTO t (v) VALUES (2)", [])?;
            Err(crate::error::StoreError::Closed)
        });
        let (last, last_result) = task(insert(3));
        writer.shared.commit(vec![first, bad, last]);
        assert!(first_result.blocking_recv().unwrap().is_ok());
        assert!(matches!(
            bad_result.blocking_recv().unwrap(),
            Err(crate::error::StoreError::Closed)
        ));
        assert!(last_result.blocking_recv().unwrap().is_ok());
        let values: Vec<i64> = writer
            .run_now(|connection| {
                let mut statement = connection.prepare("SELECT v FROM t ORDER BY v")?;
                let rows = statement.query_map([], |row| row.get(0))?;
                Ok(rows.collect::<rusqlite::Result<_>>()?)
            })
            .unwrap();
        assert_eq!(values, [1, 3]);
    }

    #[test]
    fn a_batch_that_succeeds_commits_every_closure() {
        let connection = Connection::open_in_memory().unwrap();
        connection
            .execute_batch("CREATE TABLE t (v INTEGER)")
            .unwrap();
        let writer = Writer::new(connection);
        let (tasks, results): (Vec<_>, Vec<_>) = (0..5).map(|v| task(insert(v))).unzip();
        writer.shared.commit(tasks);
        for result in results {
            assert!(result.blocking_recv().unwrap().is_ok());
        }
        let count: i64 = writer
            .run_now(|connection| {
                Ok(connection.query_row("SELECT COUNT(*) FROM t", [], |r| r.get(0))?)
            })
            .unwrap();
        assert_eq!(count, 5);
    }
}
