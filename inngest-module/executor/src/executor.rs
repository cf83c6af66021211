//! [`Executor`]: the embedded executor's public face — open it on a database, register the
//! apps it drives, send it events, start and stop it, and read what ran.

use parking_lot::{Mutex, RwLock};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, AtomicUsize, Ordering};
use std::time::Duration;

use inngest_protocol::FunctionConfig;
use inngest_protocol::checkpoint::CheckpointRequest;
use serde_json::Value;
use tokio::sync::{Notify, watch};

use crate::bounded::Bound;
use crate::engine::{Checkpointed, Effects, Engine};
use crate::error::{CheckpointError, ExecutorError, StoreError};
use crate::events::normalize;
use crate::functions::{Catalog, FunctionDef};
use crate::model::{AppInfo, RunFilter, RunView};
use crate::options::{Access, Options, Settings};
use crate::store::Store;
use crate::transport::Transport;

pub use crate::store::Pruned;

/// Most events accepted in one send.
pub const MAX_EVENTS_PER_SEND: usize = 5000;

pub(crate) struct Inner {
    pub(crate) settings: Settings,
    pub(crate) store: Store,
    pub(crate) engine: Engine,
    apps: RwLock<HashMap<String, AppInfo>>,
    /// Wakes the scheduler (work was queued, a slot freed).
    pub(crate) wake: Notify,
    /// Counts finished runs, for [`Executor::wait_for_run`].
    pub(crate) finished: watch::Sender<u64>,
    pub(crate) stop: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Executions in flight.
    pub(crate) in_flight: AtomicUsize,
    /// Runs not finished, as of the last committed transition.
    active: AtomicI64,
    /// Steps stored from checkpoints since the executor opened.
    checkpointed_steps: AtomicU64,
}

/// The embedded executor. Cheap to clone.
///
/// ```no_run
/// # async fn demo() -> Result<(), inngest_executor::ExecutorError> {
/// use inngest_executor::{Executor, Settings};
/// let executor = Executor::open(Settings::default())?;   // in memory
/// executor.start();
/// let ids = executor.send(vec![serde_json::json!({"name": "shop/order.created"})]).await?;
/// assert_eq!(ids.len(), 1);
/// executor.shutdown(std::time::Duration::from_secs(5)).await;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Executor {
    pub(crate) inner: Arc<Inner>,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inner").finish_non_exhaustive()
    }
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("prefix", &self.inner.settings.options.prefix)
            .field("database", &self.inner.store.path())
            .finish()
    }
}

/// A handle that does not keep the executor alive (see [`Executor::downgrade`]).
#[derive(Clone, Debug)]
pub struct WeakExecutor {
    inner: std::sync::Weak<Inner>,
}

impl WeakExecutor {
    /// The executor, unless it was dropped.
    pub fn upgrade(&self) -> Option<Executor> {
        self.inner.upgrade().map(|inner| Executor { inner })
    }
}

/// A new lease owner id: random, so a restarted process never mistakes its predecessor's
/// leases for its own.
fn owner_id() -> i64 {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    i64::from_le_bytes(bytes) & i64::MAX
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Executor {
    /// Opens the store (a file, or memory) and builds an idle executor; call
    /// [`Executor::start`] to begin executing. A database another process owns is refused
    /// here, before anything is read.
    pub fn open(settings: Settings) -> Result<Self, ExecutorError> {
        let store = Store::open(settings.options.database.as_deref())?;
        let paths = store.run_now(crate::store::match_paths)?;
        let active =
            store.run_now(|connection| crate::store::Tx::new(connection).count_active())?;
        let options = &settings.options;
        let engine = Engine::new(
            owner_id(),
            (
                millis(options.retry_backoff),
                millis(options.retry_max_backoff),
            ),
            paths,
            options.drain,
        );
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                store,
                engine,
                apps: RwLock::new(HashMap::new()),
                wake: Notify::new(),
                finished: watch::channel(0).0,
                stop: watch::channel(false).0,
                tasks: Mutex::new(Vec::new()),
                in_flight: AtomicUsize::new(0),
                active: AtomicI64::new(active),
                checkpointed_steps: AtomicU64::new(0),
            }),
        })
    }

    /// A handle that does not keep the executor (and its database lock) alive: for
    /// whatever the executor itself holds, such as the app it drives.
    pub fn downgrade(&self) -> WeakExecutor {
        WeakExecutor {
            inner: Arc::downgrade(&self.inner),
        }
    }

    /// The options it runs with.
    pub fn options(&self) -> &Options {
        &self.inner.settings.options
    }

    /// Who may reach its routes.
    pub fn access(&self) -> &Access {
        &self.inner.settings.access
    }

    /// Now, by the executor's clock (ms since the Unix epoch).
    pub fn now_ms(&self) -> i64 {
        self.inner.settings.clock.now_ms()
    }

    /// Registers (or re-registers) an app's functions; replaces whatever the app registered
    /// before. Returns how many functions it now serves. Every problem with every function
    /// is reported at once.
    pub async fn register_app(
        &self,
        app_id: &str,
        transport: Arc<dyn Transport>,
        configs: &[FunctionConfig],
    ) -> Result<usize, ExecutorError> {
        let mut parsed = Vec::new();
        let mut problems = Vec::new();
        for config in configs {
            match FunctionDef::from_config(app_id, config, Arc::clone(&transport)) {
                Ok(function) => parsed.push(Arc::new(function)),
                Err(found) => problems.extend(found),
            }
        }
        if !problems.is_empty() {
            return Err(ExecutorError::InvalidFunctions {
                app_id: app_id.to_string(),
                problems,
            });
        }
        let ids: Vec<String> = parsed.iter().map(|f| f.id.clone()).collect();
        let current = self.inner.engine.catalog();
        let kept = current
            .sorted
            .iter()
            .filter(|f| f.app_id != app_id)
            .cloned();
        self.inner
            .engine
            .set_catalog(Catalog::new(kept.chain(parsed)));
        self.inner.apps.write().insert(
            app_id.to_string(),
            AppInfo {
                app_id: app_id.to_string(),
                target: transport.describe(),
                functions: ids.clone(),
                synced_at: self.now_ms(),
            },
        );
        let now = self.now_ms();
        self.write_transition(now, |t| t.schedule_crons()).await?;
        self.inner.wake.notify_one();
        Ok(ids.len())
    }

    /// Apps registered, by id.
    pub fn apps(&self) -> Vec<AppInfo> {
        let mut apps: Vec<AppInfo> = self.inner.apps.read().values().cloned().collect();
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        apps
    }

    /// Accepts events: validates them, fills `id`, `ts`, `data` and `user`, stores them
    /// with the runs they start in one transaction, and returns their ids in order. When
    /// this returns, the events are durable. A draining executor refuses them
    /// ([`ExecutorError::Draining`]).
    pub async fn send(&self, events: Vec<Value>) -> Result<Vec<String>, ExecutorError> {
        self.send_traced(events, None).await
    }

    /// Accepts events as [`send`](Self::send) does, sent with the W3C `traceparent` of the
    /// request that sends them. While draining, they are accepted only when `traceparent`
    /// is that of an execution request of a run in flight here — what a run's
    /// `step.send_event` forwards — so that the run can finish and what it sends starts
    /// its runs ([`crate::DrainStatus`]).
    pub async fn send_traced(
        &self,
        events: Vec<Value>,
        traceparent: Option<&str>,
    ) -> Result<Vec<String>, ExecutorError> {
        if self.is_draining() && !self.sent_by_run_in_flight(traceparent).await? {
            return Err(ExecutorError::Draining);
        }
        let now = self.now_ms();
        let mut accepted = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            accepted.push(normalize(index, event, now)?);
        }
        let ids: Vec<String> = accepted.iter().map(|e| e.id_str().to_string()).collect();
        self.write_transition(now, move |t| {
            for event in &accepted {
                t.accept_event(event)?;
            }
            Ok(())
        })
        .await?;
        Ok(ids)
    }

    /// Stores the steps a checkpointing execution request ran (`POST
    /// {prefix}/v1/checkpoint/{run_id}/async`, or in-process from this app's SDK): they are
    /// memoized before this returns, if the request still owns the run.
    pub async fn checkpoint(&self, request: CheckpointRequest) -> Result<(), CheckpointError> {
        let Some(queue_item) = crate::engine::parse_queue_item_id(&request.qi_id) else {
            return Err(CheckpointError::Invalid(format!(
                "`qi_id` `{}` is not a queue item of this executor: send the `ctx.qi_id` of the execution request",
                request.qi_id
            )));
        };
        let CheckpointRequest {
            run_id,
            qi_id,
            steps,
            ..
        } = request;
        let run = run_id.clone();
        let count = steps.len() as u64;
        let outcome = self
            .write_transition(self.now_ms(), move |t| {
                t.checkpoint(&run, queue_item, &steps)
            })
            .await?;
        match outcome {
            Checkpointed::Stored => {
                self.inner
                    .checkpointed_steps
                    .fetch_add(count, Ordering::Relaxed);
                Ok(())
            }
            Checkpointed::Stale => Err(CheckpointError::Stale { run_id, qi_id }),
            Checkpointed::Unsupported(op) => Err(CheckpointError::Invalid(format!(
                "an async checkpoint carries `StepRun` steps only, not `{op}`"
            ))),
        }
    }

    /// Steps stored from checkpoints ([`Executor::checkpoint`]) since the executor opened:
    /// how many step results reached it without an execution request of their own.
    pub fn checkpointed_steps(&self) -> u64 {
        self.inner.checkpointed_steps.load(Ordering::Relaxed)
    }

    /// Runs a transition in a write transaction and tells the scheduler and the waiters
    /// what it changed.
    pub(crate) async fn write_transition<R, F>(&self, now: i64, work: F) -> Result<R, StoreError>
    where
        F: Fn(&crate::engine::Transition<'_>) -> Result<R, StoreError> + Send + 'static,
        R: Send + 'static,
    {
        let inner = Arc::clone(&self.inner);
        let (result, effects) = self
            .inner
            .store
            .write(move |tx| inner.engine.transition(tx, now, &work))
            .await?;
        self.heard(effects);
        Ok(result)
    }

    /// Wakes whoever must hear about `effects`.
    pub(crate) fn heard(&self, effects: Effects) {
        if effects.queued {
            self.inner.wake.notify_one();
        }
        let change = i64::from(effects.created) - i64::from(effects.finished);
        if change != 0 {
            self.inner.active.fetch_add(change, Ordering::AcqRel);
        }
        if effects.finished > 0 {
            self.inner
                .finished
                .send_modify(|count| *count = count.wrapping_add(u64::from(effects.finished)));
        }
    }

    /// One run with its steps.
    pub async fn run(&self, run_id: &str) -> Result<Option<RunView>, ExecutorError> {
        self.bounded_run(run_id, Bound::NONE).await
    }

    /// One run with its steps, payloads bounded for a view.
    pub(crate) async fn bounded_run(
        &self,
        run_id: &str,
        bound: Bound,
    ) -> Result<Option<RunView>, ExecutorError> {
        let run_id = run_id.to_string();
        Ok(self
            .inner
            .store
            .read(move |tx| {
                let Some(run) = tx.bounded_run(&run_id, bound)? else {
                    return Ok(None);
                };
                let events = tx.bounded_run_events(&run_id, bound)?;
                let steps = tx.steps(&run_id, bound)?;
                Ok(Some(RunView::new(run, events, Some(steps))))
            })
            .await?)
    }

    /// Runs matching `filter`, newest first.
    pub async fn runs(&self, filter: &RunFilter) -> Result<Vec<RunView>, ExecutorError> {
        self.bounded_runs(filter, Bound::NONE).await
    }

    /// Runs matching `filter`, newest first, payloads bounded for a view.
    pub(crate) async fn bounded_runs(
        &self,
        filter: &RunFilter,
        bound: Bound,
    ) -> Result<Vec<RunView>, ExecutorError> {
        let filter = filter.clone();
        Ok(self
            .inner
            .store
            .read(move |tx| {
                Ok(tx
                    .runs(&filter, bound)?
                    .into_iter()
                    .map(|(run, events)| RunView::new(run, events, None))
                    .collect())
            })
            .await?)
    }

    /// How many runs have not finished (queued or running), as of the last committed
    /// transition: `0` means the executor is idle. Counted in memory, so asking is free.
    pub async fn active_runs(&self) -> Result<usize, ExecutorError> {
        Ok(self.active_count())
    }

    /// Runs not finished, as of the last committed transition.
    pub(crate) fn active_count(&self) -> usize {
        usize::try_from(self.inner.active.load(Ordering::Acquire)).unwrap_or(0)
    }

    /// The most recent events (at most 1000), newest first.
    pub async fn events(
        &self,
        limit: u32,
        name: Option<&str>,
    ) -> Result<Vec<Value>, ExecutorError> {
        let page = self.bounded_events(limit, name, None, Bound::NONE).await?;
        Ok(page.into_iter().map(|(_, event)| event).collect())
    }

    /// Events newest first, older than the event numbered `before`, each with its number
    /// (the next page's cursor), payloads bounded for a view.
    pub(crate) async fn bounded_events(
        &self,
        limit: u32,
        name: Option<&str>,
        before: Option<i64>,
        bound: Bound,
    ) -> Result<Vec<(i64, Value)>, ExecutorError> {
        let name = name.map(str::to_string);
        Ok(self
            .inner
            .store
            .read(move |tx| tx.recent_events(limit.clamp(1, 1000), name.as_deref(), before, bound))
            .await?)
    }

    /// Waits until `run_id` finishes or `timeout` passes (by tokio's clock, so a paused test
    /// clock moves it); returns its last state.
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<Option<RunView>, ExecutorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut finished = self.inner.finished.subscribe();
        loop {
            finished.borrow_and_update();
            let run = self.run(run_id).await?;
            let done = run.as_ref().is_some_and(|r| r.status.is_final());
            if done || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::select! {
                _ = finished.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Waits until no run is active or `timeout` passes; returns how many are still active.
    pub async fn wait_idle(&self, timeout: Duration) -> Result<usize, ExecutorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut finished = self.inner.finished.subscribe();
        loop {
            finished.borrow_and_update();
            let active = self.active_runs().await?;
            if active == 0 || tokio::time::Instant::now() >= deadline {
                return Ok(active);
            }
            tokio::select! {
                _ = finished.changed() => {}
                () = tokio::time::sleep_until(deadline) => {}
            }
        }
    }

    /// Checks the store with a cheap read and a cheap write, each within `timeout`: the
    /// health indicator's probe. A corrupted, locked or unwritable database fails it.
    pub async fn check_store(&self, timeout: Duration) -> Result<(), ExecutorError> {
        let timed_out = || {
            ExecutorError::Store(StoreError::Transaction(format!(
                "the store did not answer within {timeout:?}"
            )))
        };
        tokio::time::timeout(timeout, self.inner.store.read(|tx| tx.read_heartbeat()))
            .await
            .map_err(|_| timed_out())??;
        let now = self.now_ms();
        tokio::time::timeout(timeout, self.inner.store.write(move |tx| tx.heartbeat(now)))
            .await
            .map_err(|_| timed_out())??;
        Ok(())
    }

    /// Deletes what retention no longer keeps (finished runs and events older than the
    /// `retention` option), in small transactions; returns how much went.
    pub async fn prune(&self) -> Result<Pruned, ExecutorError> {
        let retention = millis(self.options().retention);
        if retention == 0 {
            return Ok(Pruned::default());
        }
        let now = self.now_ms();
        let runs_before = now.saturating_sub(retention);
        // Event ids are remembered for deduplication for a day at least.
        let events_before = now.saturating_sub(retention.max(crate::engine::DAY_MS));
        let mut total = Pruned::default();
        loop {
            let batch = self
                .inner
                .store
                .write(move |tx| tx.prune(runs_before, events_before, now))
                .await?;
            total = total.plus(batch);
            if batch.is_empty() {
                break;
            }
            tokio::task::yield_now().await;
        }
        if !total.is_empty() {
            self.inner.store.write(|tx| tx.vacuum_some(10_000)).await?;
        }
        Ok(total)
    }

    /// A shared HTTP client for apps driven over HTTP, built on first use.
    pub(crate) fn http_client(&self) -> reqwest::Client {
        inngest_protocol::client::shared()
    }

    /// The Event API key check: any key when none is configured (like the dev server).
    pub(crate) fn key_accepted(&self, key: &str) -> bool {
        match &self.inner.settings.event_key {
            None => true,
            Some(expected) => constant_time_eq(expected.as_bytes(), key.as_bytes()),
        }
    }

    /// The background tasks (scheduling loop first, then retention).
    pub(crate) fn tasks(&self) -> parking_lot::MutexGuard<'_, Vec<tokio::task::JoinHandle<()>>> {
        self.inner.tasks.lock()
    }
}

/// Compares secrets in constant time (`subtle`): no early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}
