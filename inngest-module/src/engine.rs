//! The step engine: runs a function against one execution request and decides what to
//! report (docs/ARCHITECTURE.md, "One execution request", has the decision rules).
//!
//! Step futures share a [`RunState`] with the engine. A memoized step resolves at once. An
//! unmemoized step records itself as *found* and stays pending. After each poll of the
//! user's future the engine looks at what was found:
//! - a step is executing (it was allowed to run): keep polling until it records its outcome;
//! - exactly one run step, immediate execution allowed: let it run, report its outcome —
//!   or, when the request checkpoints ([`crate::checkpoint`]), post its result and keep
//!   polling: the function goes on to its next step in the same request;
//! - otherwise: report every found op (run steps as `StepPlanned`).
//!
//! Either way the engine then **drops the user's future** itself: correctness never depends
//! on user code propagating an error.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use futures_util::FutureExt;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::checkpoint::{Checkpointer, Interrupted};
use crate::error::{Error, RetryAfter};
use crate::protocol::{Memo, Op, hash_step_id, indexed_step_id};

/// Memoized step results by hashed step id, as the JSON text they arrived in: a step's
/// value is decoded only when the run reaches that step.
pub(crate) type RawMemo = HashMap<String, Box<RawValue>>;

/// A step found in user code: its hashed id, the user's id and repeat index.
#[derive(Debug, Clone)]
pub(crate) struct StepIdentity {
    pub hash: String,
    pub id: String,
    pub index: usize,
}

/// An unmemoized step the engine may report or allow to run.
struct Found {
    op: Op,
    runnable: bool,
    waker: Option<Waker>,
}

/// The result of executing one step body.
pub(crate) struct StepOutcome {
    pub op: Op,
    pub no_retry: Option<bool>,
    pub retry_after: Option<RetryAfter>,
    /// How long the step body took (exact; the op's `timing` is rounded to ms).
    pub elapsed: std::time::Duration,
}

/// State shared by the engine and the step futures of one request.
pub(crate) struct RunState {
    memo: RawMemo,
    target: Option<String>,
    immediate: bool,
    pub(crate) attempt: u32,
    pub(crate) max_attempts: u32,
    counters: HashMap<String, usize>,
    found: Vec<(String, Found)>,
    allowed: Option<String>,
    executing: bool,
    /// How the request ends, once a step decided it (its outcome, or a checkpoint that
    /// could not be posted).
    ended: Option<Execution>,
    /// Set when this request checkpoints the steps it runs.
    checkpointer: Option<Arc<Checkpointer>>,
    /// Hashed ids whose memo a step read, when tracked (the testing kit's unused stubs).
    memo_hits: Option<Vec<String>>,
}

/// A shared handle on the run state.
#[derive(Clone)]
pub(crate) struct SharedState(Arc<Mutex<RunState>>);

impl SharedState {
    /// State for one request: its memo, the step `stepId` targets, whether one found step
    /// may run at once (`ctx.disable_immediate_execution` unset), and the attempt of
    /// `max_attempts` (at least 1).
    pub(crate) fn new(
        memo: RawMemo,
        target: Option<String>,
        immediate: bool,
        attempt: u32,
        max_attempts: u32,
    ) -> Self {
        Self(Arc::new(Mutex::new(RunState {
            memo,
            target,
            immediate,
            attempt,
            max_attempts: max_attempts.max(1),
            counters: HashMap::new(),
            found: Vec::new(),
            allowed: None,
            executing: false,
            ended: None,
            checkpointer: None,
            memo_hits: None,
        })))
    }

    /// Checkpoints the steps this request runs through `checkpointer`.
    pub(crate) fn with_checkpointer(self, checkpointer: Arc<Checkpointer>) -> Self {
        self.lock().checkpointer = Some(checkpointer);
        self
    }

    /// The checkpointer, when this request checkpoints and the step ran at attempt 0
    /// (a retried step is reported as in the classic protocol, as inngest-js does).
    pub(crate) fn checkpointer(&self) -> Option<Arc<Checkpointer>> {
        let state = self.lock();
        state.checkpointer.clone().filter(|_| state.attempt == 0)
    }

    /// The executing step was checkpointed: the function goes on, and the next step found
    /// may run.
    pub(crate) fn resume_after_checkpoint(&self) {
        let mut state = self.lock();
        state.executing = false;
        state.allowed = None;
    }

    pub(crate) fn lock(&self) -> MutexGuard<'_, RunState> {
        self.0.lock()
    }

    /// Claims the next use of `id` (the repeated-id rule), at call time.
    pub(crate) fn claim(&self, id: &str) -> StepIdentity {
        let mut state = self.lock();
        let counter = state.counters.entry(id.to_string()).or_insert(0);
        let index = *counter;
        *counter += 1;
        StepIdentity {
            hash: hash_step_id(&indexed_step_id(id, index)),
            id: id.to_string(),
            index,
        }
    }

    /// Records from now on which memoized values steps read ([`SharedState::memo_hits`]).
    pub(crate) fn track_memo_hits(&self) {
        self.lock().memo_hits = Some(Vec::new());
    }

    /// The hashed ids whose memo a step read, if tracked.
    pub(crate) fn memo_hits(&self) -> Vec<String> {
        self.lock().memo_hits.take().unwrap_or_default()
    }

    /// The memoized value of a step, decoded.
    pub(crate) fn memo(&self, hash: &str) -> Option<Memo> {
        let mut state = self.lock();
        let state = &mut *state;
        if let Some(hits) = state.memo_hits.as_mut()
            && state.memo.contains_key(hash)
        {
            hits.push(hash.to_string());
        }
        // The text was valid JSON when the request was parsed, so this decode succeeds.
        let value: Value = serde_json::from_str(state.memo.get(hash)?.get()).ok()?;
        Some(Memo::from_value(value)).filter(|memo| !matches!(memo, Memo::Input(_)))
    }

    pub(crate) fn attempt(&self) -> (u32, u32) {
        let state = self.lock();
        (state.attempt, state.max_attempts)
    }

    /// Records an unmemoized step. Returns `true` when it may execute right away (it is the
    /// step targeted by `stepId`).
    fn record(&self, op: Op, runnable: bool) -> bool {
        let mut state = self.lock();
        if runnable && state.target.as_deref() == Some(op.id.as_str()) {
            state.allowed = Some(op.id.clone());
            state.executing = true;
            return true;
        }
        let hash = op.id.clone();
        state.found.push((
            hash,
            Found {
                op,
                runnable,
                waker: None,
            },
        ));
        false
    }

    /// Ends the request with `execution` at the engine's next look.
    pub(crate) fn end(&self, execution: Execution) {
        self.lock().ended = Some(execution);
    }

    pub(crate) fn record_outcome(&self, outcome: StepOutcome) {
        self.end(Execution::StepRan(Box::new(outcome)));
    }
}

/// Waits until the engine reports (forever) or allows this step to execute.
pub(crate) async fn found(state: &SharedState, op: Op, runnable: bool) {
    if state.record(op.clone(), runnable) {
        return;
    }
    std::future::poll_fn(|cx| {
        let mut guard = state.lock();
        if guard.allowed.as_deref() == Some(op.id.as_str()) {
            guard.executing = true;
            return Poll::Ready(());
        }
        if let Some((_, found)) = guard.found.iter_mut().find(|(hash, _)| *hash == op.id) {
            found.waker = Some(cx.waker().clone());
        }
        Poll::Pending
    })
    .await
}

/// What one execution request produced.
pub(crate) enum Execution {
    /// The function returned.
    Complete(Value),
    /// The function failed.
    Failed(Error),
    /// Ops to report (206).
    Ops(Vec<Op>),
    /// One step executed (206 with one op, plus retry headers for errors).
    StepRan(Box<StepOutcome>),
    /// `stepId` targeted a step that never appeared.
    StepNotFound {
        requested: String,
        found: Vec<String>,
    },
    /// The function returned in a checkpointing request: the steps not posted yet, then
    /// `RunComplete` with the return value (206).
    RunComplete(Vec<Op>),
    /// A checkpoint got `409`: another request owns the run; this one stops.
    Stale,
}

impl From<Interrupted> for Execution {
    fn from(interrupted: Interrupted) -> Self {
        match interrupted {
            Interrupted::Stale => Self::Stale,
            Interrupted::Unposted(steps) => Self::Ops(steps),
        }
    }
}

/// Settles a checkpointing request's buffer before it answers `execution`: a function that
/// returned answers its unposted steps with `RunComplete`; any other answer goes out once
/// the buffer is posted, or is replaced by the unposted steps (or the stop) if it cannot be.
pub(crate) async fn settle(checkpointer: &Checkpointer, execution: Execution) -> Execution {
    match execution {
        Execution::Complete(value) => Execution::RunComplete(checkpointer.complete(value)),
        Execution::Stale | Execution::RunComplete(_) => execution,
        other => match checkpointer.flush().await {
            Ok(()) => other,
            Err(interrupted) => interrupted.into(),
        },
    }
}

/// Drives `future` (the user's function) under the engine's rules.
pub(crate) async fn drive<F>(state: SharedState, future: F) -> Execution
where
    F: Future<Output = Result<Value, Error>> + Send,
{
    // Pinned in place: the handler's future is already boxed once.
    let mut future = std::pin::pin!(AssertUnwindSafe(future).catch_unwind());
    std::future::poll_fn(move |cx| decide(&state, future.as_mut().poll(cx), cx)).await
}

fn decide(
    state: &SharedState,
    polled: Poll<std::thread::Result<Result<Value, Error>>>,
    cx: &mut Context<'_>,
) -> Poll<Execution> {
    let mut guard = state.lock();
    if let Some(ended) = guard.ended.take() {
        return Poll::Ready(ended);
    }
    match polled {
        Poll::Ready(Ok(Ok(value))) => return Poll::Ready(Execution::Complete(value)),
        Poll::Ready(Ok(Err(error))) => return Poll::Ready(Execution::Failed(error)),
        Poll::Ready(Err(panic)) => return Poll::Ready(Execution::Failed(Error::panic(&*panic))),
        Poll::Pending => {}
    }
    if guard.executing || guard.found.is_empty() {
        // A step body is running, or user code awaits something else: wait for a wake-up.
        return Poll::Pending;
    }
    if let Some(target) = guard.target.clone() {
        let found = guard.found.iter().map(|(hash, _)| hash.clone()).collect();
        return Poll::Ready(Execution::StepNotFound {
            requested: target,
            found,
        });
    }
    let eager = guard
        .checkpointer
        .as_ref()
        .is_none_or(|checkpointer| !checkpointer.runtime_exceeded());
    if guard.immediate && eager && guard.found.len() == 1 && guard.found[0].1.runnable {
        let (hash, found) = guard.found.remove(0);
        guard.allowed = Some(hash);
        guard.executing = true;
        match found.waker {
            Some(waker) => waker.wake(),
            None => cx.waker().wake_by_ref(),
        }
        return Poll::Pending;
    }
    let ops = guard.found.drain(..).map(|(_, found)| found.op).collect();
    Poll::Ready(Execution::Ops(ops))
}
