//! One claimed job, carried out: a timer is fired in one transaction; an execution loads the
//! run (checking the lease still holds), calls the SDK through the app's transport, and
//! applies the answer in one transaction that first checks the lease again.
//!
//! A result whose transaction fails (a locked or full database) is kept in memory and
//! applied again with backoff, never dropped and re-run: the step body ran once. Only when
//! the process stops before the result is stored does the job run again on the next start.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::value::RawValue;

/// A run's events as stored JSON.
type RawEvents = Vec<Box<RawValue>>;

use crate::engine::{Effects, Executed, Outcome};
use crate::error::StoreError;
use crate::executor::Executor;
use crate::functions::FunctionDef;
use crate::model::{ClaimedJob, Job, Run, RunStatus, StepStatus};
use crate::request::{RequestParts, build};
use crate::store::StepUpdate;

/// First pause before a failed store write is tried again; doubles up to [`MAX_RETRY_PAUSE`].
const RETRY_PAUSE: Duration = Duration::from_millis(50);
const MAX_RETRY_PAUSE: Duration = Duration::from_secs(5);
/// How long a job that cannot be applied waits before it is tried again from scratch.
const RELEASE_DELAY_MS: i64 = 60_000;

/// What an execution needs from the store: the run, its events and its memo.
struct RunData {
    run: Run,
    events: RawEvents,
    memo: HashMap<String, Box<RawValue>>,
}

/// What the store holds for a job about to be executed.
enum Loaded {
    /// The lease no longer holds (the job was deleted by a cancellation).
    Lost,
    /// The run is gone or finished: the job is dropped.
    Stale,
    /// The run's data.
    Run(Box<RunData>),
}

/// The next job to carry out, with the run's data when it is known to be current.
struct Next {
    job: ClaimedJob,
    known: Option<RunData>,
}

/// Carries out one claimed job, then the run's next execution when the job's transaction
/// handed it over (a run that keeps going keeps its slot).
pub(crate) async fn run(executor: &Executor, job: ClaimedJob) {
    let mut next = Next { job, known: None };
    loop {
        let job = next.job;
        let following = match job.job.clone() {
            Job::Execute {
                run_id,
                step,
                attempt,
            } => {
                let executed = Executed {
                    run_id,
                    step,
                    attempt,
                };
                execute(executor, &job, executed, next.known).await
            }
            _ => fire(executor, job)
                .await
                .map(|job| Next { job, known: None }),
        };
        match following {
            Some(following) if !*executor.inner.stop.borrow() => next = following,
            // Stopping: a job handed over stays leased, and runs on the next start.
            _ => return,
        }
    }
}

async fn fire(executor: &Executor, job: ClaimedJob) -> Option<ClaimedJob> {
    let job = Arc::new(job);
    let timer = Arc::clone(&job);
    persist(executor, &job, move |executor, now| {
        let job = Arc::clone(&timer);
        let inner = Arc::clone(&executor.inner);
        async move {
            let engine_inner = Arc::clone(&inner);
            inner
                .store
                .write(move |tx| engine_inner.engine.transition(tx, now, |t| t.fire(&job)))
                .await
        }
    })
    .await
    .flatten()
    .map(|continuation| continuation.job)
}

/// Reads what an execution needs, checking the job's lease in the same snapshot.
async fn load(
    executor: &Executor,
    claimed: &ClaimedJob,
    run_id: &str,
) -> Result<Loaded, StoreError> {
    let owner = executor.inner.engine.owner;
    let (id, lease, run_id) = (claimed.id, claimed.lease, run_id.to_string());
    executor
        .inner
        .store
        .read(move |tx| {
            let Some((run, events)) = tx.run_for_job(&run_id, id, owner, lease)? else {
                return Ok(if tx.job_leased(id, owner, lease)? {
                    Loaded::Stale
                } else {
                    Loaded::Lost
                });
            };
            if run.status.is_final() {
                return Ok(Loaded::Stale);
            }
            let memo = tx.memo(&run_id)?;
            Ok(Loaded::Run(Box::new(RunData { run, events, memo })))
        })
        .await
}

async fn execute(
    executor: &Executor,
    claimed: &ClaimedJob,
    executed: Executed,
    known: Option<RunData>,
) -> Option<Next> {
    let inner = &executor.inner;
    let owner = inner.engine.owner;
    let (id, lease) = (claimed.id, claimed.lease);
    let loaded = match known {
        Some(known) => Ok(Loaded::Run(Box::new(known))),
        None => load(executor, claimed, &executed.run_id).await,
    };
    let RunData { run, events, memo } = match loaded {
        Ok(Loaded::Run(loaded)) => *loaded,
        Ok(Loaded::Lost) => return None,
        Ok(Loaded::Stale) => {
            let _ = inner
                .store
                .write(move |tx| tx.complete_job(id, owner, lease))
                .await;
            return None;
        }
        Err(error) => {
            tracing::error!(%error, run = %executed.run_id, "the executor cannot load a run; it is tried again later");
            release(executor, claimed).await;
            return None;
        }
    };
    let catalog = inner.engine.catalog();
    let function = catalog.get(&run.function_id).cloned();
    let now = executor.now_ms();
    if run.status == RunStatus::Queued
        && let Some(start) = function.as_ref().and_then(|f| f.start_timeout_ms)
        && now.saturating_sub(run.created_at) > start
    {
        let run_id = run.id.clone();
        persist(executor, claimed, move |executor, now| {
            let inner = Arc::clone(&executor.inner);
            let run_id = run_id.clone();
            async move {
                let engine_inner = Arc::clone(&inner);
                inner
                    .store
                    .write(move |tx| {
                        engine_inner.engine.transition(tx, now, |t| {
                            if !t.tx.complete_job(id, owner, lease)? {
                                return Ok(());
                            }
                            match t.tx.run(&run_id)? {
                                Some(run) => {
                                    t.cancel(run, "the run did not start within its timeouts.start")
                                }
                                None => Ok(()),
                            }
                        })
                    })
                    .await
            }
        })
        .await;
        return None;
    }
    let outcome = match function {
        None => Outcome::NoAnswer(format!(
            "function `{}` is not registered with the executor",
            run.function_id
        )),
        Some(function) => {
            let queue_item = crate::engine::queue_item_id(id, lease);
            call(
                executor, &function, &run, &events, &memo, &executed, queue_item,
            )
            .await
        }
    };
    let executed = Arc::new(executed);
    let outcome = Arc::new(outcome);
    let job = Arc::new(claimed.clone());
    let continuation = persist(executor, claimed, move |executor, now| {
        let inner = Arc::clone(&executor.inner);
        let executed = Arc::clone(&executed);
        let outcome = Arc::clone(&outcome);
        let job = Arc::clone(&job);
        async move {
            let engine_inner = Arc::clone(&inner);
            inner
                .store
                .write(move |tx| {
                    engine_inner.engine.transition(tx, now, |t| {
                        t.apply(&job, &executed, outcome.as_ref().clone())
                    })
                })
                .await
        }
    })
    .await
    .flatten()?;
    Some(Next {
        known: carried(continuation.run, events, memo, continuation.memoized),
        job: continuation.job,
    })
}

/// The run's data for its next execution, from what the handover transaction returned:
/// `None` (read it again) unless the memo is known to be complete — another worker may
/// have memoized a parallel step since this one read it.
fn carried(
    run: Option<Run>,
    events: RawEvents,
    mut memo: HashMap<String, Box<RawValue>>,
    memoized: Vec<(String, String)>,
) -> Option<RunData> {
    let run = run?;
    for (hash, value) in memoized {
        memo.insert(hash, RawValue::from_string(value).ok()?);
    }
    let complete = run.state.stack.len() == memo.len()
        && run.state.stack.iter().all(|hash| memo.contains_key(hash));
    complete.then_some(RunData { run, events, memo })
}

/// Calls the SDK for one execution request.
async fn call(
    executor: &Executor,
    function: &Arc<FunctionDef>,
    run: &Run,
    events: &[Box<RawValue>],
    memo: &HashMap<String, Box<RawValue>>,
    executed: &Executed,
    queue_item: String,
) -> Outcome {
    let inner = &executor.inner;
    let now = executor.now_ms();
    if let Some(hash) = executed.step.clone() {
        let run_id = run.id.clone();
        // Shown on the runs page as running; losing this write changes nothing else.
        let _ = inner
            .store
            .write(move |tx| {
                tx.touch_step(&StepUpdate {
                    run_id: &run_id,
                    hash: &hash,
                    name: &hash,
                    op: &inngest_protocol::Opcode::StepPlanned,
                    status: StepStatus::Running,
                    input: None,
                    count_attempt: false,
                    now,
                })
            })
            .await;
    }
    let request = build(RequestParts {
        function,
        run,
        events,
        memo,
        step: executed.step.as_deref(),
        attempt: executed.attempt,
        queue_item,
        signing_key: inner.settings.signing_key.as_deref(),
        now,
    });
    match request {
        Ok(request) => match function.transport.execute(request).await {
            Ok(response) => Outcome::answered(response),
            Err(error) => Outcome::NoAnswer(error.to_string()),
        },
        Err(error) => Outcome::NoAnswer(format!("the execution request cannot be built: {error}")),
    }
}

/// Stores a job's result: tries `write` until it commits (pausing with backoff while the
/// store is busy), then wakes whoever must hear and returns what the write returned. A
/// result that cannot be stored for a reason retrying will not fix releases the job to be
/// tried again later; while stopping, the job is left leased for the next start.
async fn persist<F, Fut, R>(executor: &Executor, claimed: &ClaimedJob, write: F) -> Option<R>
where
    F: Fn(&Executor, i64) -> Fut,
    Fut: std::future::Future<Output = Result<(R, Effects), StoreError>>,
{
    let mut pause = RETRY_PAUSE;
    loop {
        let now = executor.now_ms();
        match write(executor, now).await {
            Ok((result, effects)) => {
                executor.heard(effects);
                return Some(result);
            }
            Err(error) if transient(&error) => {
                if *executor.inner.stop.borrow() {
                    tracing::warn!(%error, job = claimed.id, "stopping before a job's result was stored; it runs again on the next start");
                    return None;
                }
                tracing::warn!(%error, job = claimed.id, "the executor could not store a job's result; trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(MAX_RETRY_PAUSE);
            }
            Err(error) => {
                tracing::error!(%error, job = claimed.id, "the executor cannot store a job's result; the job is tried again later");
                release(executor, claimed).await;
                return None;
            }
        }
    }
}

/// Gives a claimed job back to the queue, due a while from now.
async fn release(executor: &Executor, claimed: &ClaimedJob) {
    let owner = executor.inner.engine.owner;
    let (id, lease) = (claimed.id, claimed.lease);
    let due = executor.now_ms().saturating_add(RELEASE_DELAY_MS);
    if let Err(error) = executor
        .inner
        .store
        .write(move |tx| tx.release_job(id, owner, lease, due))
        .await
    {
        tracing::error!(%error, job = id, "the executor cannot release a job; it runs again on the next start");
    }
}

/// Errors worth waiting out: a lock another connection holds, a commit that failed.
fn transient(error: &StoreError) -> bool {
    match error {
        StoreError::Transaction(_) | StoreError::Closed => true,
        StoreError::Sqlite(rusqlite::Error::SqliteFailure(code, _)) => matches!(
            code.code,
            rusqlite::ErrorCode::DatabaseBusy
                | rusqlite::ErrorCode::DatabaseLocked
                | rusqlite::ErrorCode::DiskFull
                | rusqlite::ErrorCode::SystemIoFailure
        ),
        _ => false,
    }
}
