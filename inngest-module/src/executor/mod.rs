//! The embedded executor: an in-process Inngest server for one app (and any SDK app that
//! syncs with it). It drives functions over the same protocol the real server uses —
//! execution requests with the memo map, op arrays back — so the app code cannot tell it
//! from the dev server, and switching to a real server is a config change.
//!
//! - [`store`]: SQLite state (events, runs, memos, waits, the job queue).
//! - [`transport`]: in-process (the app's serve router, no socket) or HTTP (any SDK app).
//! - `state`: transitions inside one transaction (routing, flow control, applying ops).
//! - `api`: the Event API, `/fn/register`, the runs API and the runs page.

pub mod store;
pub mod transport;

mod api;
pub(crate) mod cron;
pub(crate) mod expr;
mod functions;
mod page;
mod state;

use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;

use crate::event::now_millis;
use crate::options::EmbeddedOptions;
use crate::protocol::{self, headers};
use functions::{FunctionDef, TriggerDef};
use state::{Context, Limits, new_id};
use store::{QueuedJob, Run, RunFilter, StepRecord, Store, StoreError};
use transport::{ExecRequest, Transport};

pub use api::router;

/// Work in the executor's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Call the SDK for a run (discovery, or one planned step when `step` is set).
    Execute {
        /// The run.
        run_id: String,
        /// Hash of the planned step to run, or `None` for discovery (`stepId=step`).
        step: Option<String>,
        /// Attempt of this unit of work.
        attempt: u32,
        /// Concurrency keys and limits this execution counts against.
        limits: Vec<(String, u32)>,
    },
    /// A sleep ended.
    SleepWake {
        /// The run.
        run_id: String,
        /// The sleep step.
        hash: String,
    },
    /// A `wait_for_event` timed out.
    WaitTimeout {
        /// The run.
        run_id: String,
        /// The wait step.
        hash: String,
    },
    /// An `invoke` timed out.
    InvokeTimeout {
        /// The run.
        run_id: String,
        /// The invoke step.
        hash: String,
    },
    /// The run's `timeouts.finish` passed.
    FinishTimeout {
        /// The run.
        run_id: String,
    },
    /// A debounce period ended.
    Debounce {
        /// The function.
        function_id: String,
        /// The debounce key.
        key: String,
    },
    /// A batch timed out before filling.
    BatchFlush {
        /// The function.
        function_id: String,
        /// The batch key.
        key: String,
    },
    /// A cron trigger fires.
    Cron {
        /// The function.
        function_id: String,
        /// The cron spec.
        spec: String,
    },
}

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
    /// A function definition cannot be used.
    #[error("the app `{app_id}` cannot be registered:\n{}", problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n"))]
    InvalidFunctions {
        /// The app.
        app_id: String,
        /// Every problem.
        problems: Vec<String>,
    },
}

/// An app whose functions the executor drives.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// App id.
    pub app_id: String,
    /// Where it is reached.
    pub target: String,
    /// Its composite function ids.
    pub functions: Vec<String>,
    /// When it (last) registered (ms).
    pub synced_at: i64,
}

/// Settings the executor runs with.
#[derive(Debug, Clone)]
pub struct ExecutorSettings {
    /// The embedded options (prefix, database, parallelism, backoff).
    pub options: EmbeddedOptions,
    /// Signs execution requests when set.
    pub signing_key: Option<String>,
    /// Required on the Event API when set.
    pub event_key: Option<String>,
}

/// A run with its steps, as the runs API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Run id.
    pub run_id: String,
    /// Composite function id.
    pub function_id: String,
    /// `Queued`, `Running`, `Completed`, `Failed` or `Cancelled`.
    pub status: String,
    /// Created (ms).
    pub created_at: i64,
    /// First execution (ms).
    pub started_at: Option<i64>,
    /// Finished (ms).
    pub ended_at: Option<i64>,
    /// Triggering event ids.
    pub event_ids: Vec<String>,
    /// Triggering events.
    pub events: Vec<Value>,
    /// Return value.
    pub output: Option<Value>,
    /// Error.
    pub error: Option<Value>,
    /// Attempt of the current unit of work.
    pub attempt: u32,
    /// Steps, in order of appearance (only in single-run views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepRecord>>,
}

impl RunView {
    fn new(run: Run, steps: Option<Vec<StepRecord>>) -> Self {
        Self {
            event_ids: run
                .state
                .events
                .iter()
                .filter_map(|e| e.get("id").and_then(Value::as_str).map(String::from))
                .collect(),
            run_id: run.id,
            function_id: run.function_id,
            status: run.status.as_str().to_string(),
            created_at: run.created_at,
            started_at: run.started_at,
            ended_at: run.ended_at,
            events: run.state.events,
            output: run.output,
            error: run.error,
            attempt: run.state.attempt,
            steps,
        }
    }
}

#[derive(Default)]
struct Running {
    jobs: HashSet<i64>,
    keys: HashMap<String, u32>,
}

struct Inner {
    settings: ExecutorSettings,
    store: Store,
    functions: RwLock<HashMap<String, Arc<FunctionDef>>>,
    apps: RwLock<HashMap<String, AppInfo>>,
    limits: Mutex<Limits>,
    running: Mutex<Running>,
    wake: Notify,
    stop: watch::Sender<bool>,
    loop_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    http: reqwest::Client,
}

/// The embedded executor. Cheap to clone.
#[derive(Clone)]
pub struct Executor {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Executor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Executor")
            .field("prefix", &self.inner.settings.options.prefix)
            .finish()
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

impl Executor {
    /// Opens the store (a file, or memory) and builds an idle executor; call
    /// [`Executor::start`] to begin executing.
    pub fn open(settings: ExecutorSettings) -> Result<Self, ExecutorError> {
        let store = match &settings.options.database {
            Some(path) => Store::open(path)?,
            None => Store::in_memory()?,
        };
        let (stop, _) = watch::channel(false);
        let http = reqwest::Client::builder()
            .user_agent("Inngest")
            .build()
            .unwrap_or_default();
        Ok(Self {
            inner: Arc::new(Inner {
                settings,
                store,
                functions: RwLock::new(HashMap::new()),
                apps: RwLock::new(HashMap::new()),
                limits: Mutex::new(Limits::default()),
                running: Mutex::new(Running::default()),
                wake: Notify::new(),
                stop,
                loop_task: Mutex::new(None),
                http,
            }),
        })
    }

    /// The options it runs with.
    pub fn options(&self) -> &EmbeddedOptions {
        &self.inner.settings.options
    }

    /// Registers (or re-registers) an app's functions from a register payload's
    /// `functions` array; replaces whatever the app registered before. Returns how many
    /// functions it now serves.
    pub fn register_app(
        &self,
        app_id: &str,
        transport: Arc<dyn Transport>,
        configs: &[crate::protocol::FunctionConfig],
    ) -> Result<usize, ExecutorError> {
        let mut parsed = Vec::new();
        let mut problems = Vec::new();
        let configs: Vec<Value> = configs
            .iter()
            .map(|config| serde_json::to_value(config).unwrap_or_default())
            .collect();
        for config in &configs {
            match FunctionDef::parse(app_id, config, Arc::clone(&transport)) {
                Ok(function) => parsed.push(Arc::new(function)),
                Err(problem) => problems.push(problem),
            }
        }
        if !problems.is_empty() {
            return Err(ExecutorError::InvalidFunctions {
                app_id: app_id.to_string(),
                problems,
            });
        }
        let ids: Vec<String> = parsed.iter().map(|f| f.id.clone()).collect();
        {
            let mut functions = self
                .inner
                .functions
                .write()
                .unwrap_or_else(|p| p.into_inner());
            functions.retain(|_, f| f.app_id != app_id);
            for function in &parsed {
                functions.insert(function.id.clone(), Arc::clone(function));
            }
        }
        self.inner
            .apps
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(
                app_id.to_string(),
                AppInfo {
                    app_id: app_id.to_string(),
                    target: transport.describe(),
                    functions: ids.clone(),
                    synced_at: now_millis(),
                },
            );
        self.schedule_crons(&parsed)?;
        self.inner.wake.notify_one();
        Ok(ids.len())
    }

    fn schedule_crons(&self, functions: &[Arc<FunctionDef>]) -> Result<(), ExecutorError> {
        let now = now_millis();
        self.inner.store.write(|tx| {
            for function in functions {
                for trigger in &function.triggers {
                    let TriggerDef::Cron(schedule) = trigger else {
                        continue;
                    };
                    let job = Job::Cron {
                        function_id: function.id.clone(),
                        spec: schedule.source().to_string(),
                    };
                    if tx.job_exists(&job)? {
                        continue;
                    }
                    if let Some(next) = schedule.next_after(now) {
                        tx.enqueue(None, next, 0, &job)?;
                    }
                }
            }
            Ok(())
        })?;
        Ok(())
    }

    /// Apps registered, by id.
    pub fn apps(&self) -> Vec<AppInfo> {
        let mut apps: Vec<AppInfo> = self
            .inner
            .apps
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .values()
            .cloned()
            .collect();
        apps.sort_by(|a, b| a.app_id.cmp(&b.app_id));
        apps
    }

    fn functions(&self) -> HashMap<String, Arc<FunctionDef>> {
        self.inner
            .functions
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn context<'a>(
        &'a self,
        functions: &'a HashMap<String, Arc<FunctionDef>>,
        now: i64,
    ) -> Context<'a> {
        let options = &self.inner.settings.options;
        Context {
            functions,
            limits: &self.inner.limits,
            now,
            backoff: (
                millis(options.retry_backoff),
                millis(options.retry_max_backoff),
            ),
        }
    }

    /// Accepts events: validates them, fills `id`, `ts`, `data` and `user`, stores them
    /// with the runs they start in one transaction, and returns their ids in order. When
    /// this returns, the events are durable.
    pub fn send(&self, events: Vec<Value>) -> Result<Vec<String>, ExecutorError> {
        let now = now_millis();
        let mut accepted = Vec::with_capacity(events.len());
        for (index, event) in events.into_iter().enumerate() {
            accepted.push(normalize_event(index, event, now)?);
        }
        let functions = self.functions();
        let context = self.context(&functions, now);
        let ids = self.inner.store.write(|tx| {
            let mut ids = Vec::with_capacity(accepted.len());
            for event in &accepted {
                context.accept_event(tx, event)?;
                ids.push(event["id"].as_str().unwrap_or_default().to_string());
            }
            Ok(ids)
        })?;
        self.inner.wake.notify_one();
        Ok(ids)
    }

    /// One run with its steps.
    pub fn run(&self, run_id: &str) -> Result<Option<RunView>, ExecutorError> {
        Ok(self.inner.store.read(|tx| {
            let Some(run) = tx.run(run_id)? else {
                return Ok(None);
            };
            let steps = tx.steps(run_id)?;
            Ok(Some(RunView::new(run, Some(steps))))
        })?)
    }

    /// Runs matching `filter`, newest first.
    pub fn runs(&self, filter: &RunFilter) -> Result<Vec<RunView>, ExecutorError> {
        Ok(self.inner.store.read(|tx| {
            Ok(tx
                .runs(filter)?
                .into_iter()
                .map(|run| RunView::new(run, None))
                .collect())
        })?)
    }

    /// How many runs have not finished (queued or running): `0` means the executor is idle.
    pub fn active_runs(&self) -> Result<usize, ExecutorError> {
        let count = self.inner.store.read(|tx| tx.count_active())?;
        Ok(usize::try_from(count).unwrap_or(0))
    }

    /// The most recent events, newest first.
    pub fn events(&self, limit: u32, name: Option<&str>) -> Result<Vec<Value>, ExecutorError> {
        Ok(self
            .inner
            .store
            .read(|tx| tx.recent_events(limit.clamp(1, 1000), name))?)
    }

    /// Waits until `run_id` finishes or `timeout` passes; returns its last state.
    pub async fn wait_for_run(
        &self,
        run_id: &str,
        timeout: Duration,
    ) -> Result<Option<RunView>, ExecutorError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let run = self.run(run_id)?;
            let done = run
                .as_ref()
                .and_then(|r| store::RunStatus::parse(&r.status))
                .is_some_and(store::RunStatus::is_final);
            if done || tokio::time::Instant::now() >= deadline {
                return Ok(run);
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Starts the scheduling loop (idempotent). Pending work from a previous process —
    /// queued runs, sleeps, waits — resumes.
    pub fn start(&self) {
        let mut task = lock(&self.inner.loop_task);
        if task.is_some() {
            return;
        }
        let executor = self.clone();
        *task = Some(tokio::spawn(async move { executor.schedule_loop().await }));
    }

    /// Whether the scheduling loop is started and alive (not stopped, not crashed).
    pub fn is_running(&self) -> bool {
        lock(&self.inner.loop_task)
            .as_ref()
            .is_some_and(|task| !task.is_finished())
            && !*self.inner.stop.borrow()
    }

    /// Stops taking work and waits (up to `grace`) for executions in flight. Work not
    /// finished stays queued for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        self.inner.wake.notify_one();
        let task = lock(&self.inner.loop_task).take();
        if let Some(task) = task {
            let _ = tokio::time::timeout(grace, task).await;
        }
    }

    async fn schedule_loop(self) {
        let mut stop = self.inner.stop.subscribe();
        let mut tasks = JoinSet::new();
        let max_parallel = self.inner.settings.options.max_parallel.max(1);
        loop {
            if *stop.borrow() {
                break;
            }
            while tasks.try_join_next().is_some() {}
            let now = now_millis();
            let mut started = 0usize;
            let busy = lock(&self.inner.running).jobs.len();
            if busy < max_parallel {
                let due = self
                    .inner
                    .store
                    .read(|tx| tx.due_jobs(now, max_parallel + busy + 64));
                match due {
                    Ok(due) => {
                        for job in due {
                            if lock(&self.inner.running).jobs.len() >= max_parallel {
                                break;
                            }
                            if !self.claim(&job) {
                                continue;
                            }
                            started += 1;
                            let executor = self.clone();
                            tasks.spawn(async move { executor.process(job).await });
                        }
                    }
                    Err(error) => {
                        tracing::error!(%error, "the executor cannot read its queue");
                    }
                }
            }
            if started > 0 {
                tokio::task::yield_now().await;
                continue;
            }
            let next_due = self.inner.store.read(|tx| tx.next_due()).ok().flatten();
            let wait = match next_due {
                Some(at) if at > now => Duration::from_millis((at - now).min(30_000) as u64),
                Some(_) => Duration::from_millis(250),
                None => Duration::from_secs(30),
            };
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => {}
            }
        }
        let grace = async { while tasks.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(Duration::from_secs(30), grace).await;
    }

    /// Marks a job as in flight if it is not already and its concurrency keys have room.
    fn claim(&self, job: &QueuedJob) -> bool {
        let mut running = lock(&self.inner.running);
        if running.jobs.contains(&job.id) {
            return false;
        }
        if let Job::Execute { limits, .. } = &job.job {
            let full = limits
                .iter()
                .any(|(key, limit)| running.keys.get(key).copied().unwrap_or(0) >= *limit);
            if full {
                return false;
            }
            for (key, _) in limits {
                *running.keys.entry(key.clone()).or_default() += 1;
            }
        }
        running.jobs.insert(job.id);
        true
    }

    fn release(&self, job: &QueuedJob) {
        let mut running = lock(&self.inner.running);
        running.jobs.remove(&job.id);
        if let Job::Execute { limits, .. } = &job.job {
            for (key, _) in limits {
                if let Some(count) = running.keys.get_mut(key) {
                    *count = count.saturating_sub(1);
                    if *count == 0 {
                        running.keys.remove(key);
                    }
                }
            }
        }
        drop(running);
        self.inner.wake.notify_one();
    }

    async fn process(&self, job: QueuedJob) {
        if let Err(error) = self.process_job(&job).await {
            tracing::error!(%error, job = ?job.job, "the executor could not process a job; it stays queued");
            // Back off so a persistent store error does not spin.
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        self.release(&job);
    }

    async fn process_job(&self, job: &QueuedJob) -> Result<(), ExecutorError> {
        let functions = self.functions();
        if let Job::Execute {
            run_id,
            step,
            attempt,
            ..
        } = &job.job
        {
            return self
                .execute(&functions, job.id, run_id, step.clone(), *attempt)
                .await;
        }
        let context = self.context(&functions, now_millis());
        self.inner.store.write(|tx| {
            if !tx.delete_job(job.id)? {
                return Ok(());
            }
            match &job.job {
                Job::Execute { .. } => Ok(()),
                Job::SleepWake { run_id, hash } => {
                    context.resolve(tx, run_id, hash, Value::Null, "Completed")
                }
                Job::WaitTimeout { run_id, hash } => {
                    if tx.delete_wait(run_id, hash)? {
                        context.resolve(tx, run_id, hash, Value::Null, "TimedOut")?;
                    }
                    Ok(())
                }
                Job::InvokeTimeout { run_id, hash } => {
                    let error = json!({"error": {
                        "name": "InngestInvokeTimeoutError",
                        "message": "Timed out waiting for the invoked function to complete",
                    }});
                    context.resolve(tx, run_id, hash, error, "Failed")
                }
                Job::FinishTimeout { run_id } => match tx.run(run_id)? {
                    Some(run) if !run.status.is_final() => {
                        context.cancel(tx, run, "the run did not finish within its timeouts.finish")
                    }
                    _ => Ok(()),
                },
                Job::Debounce { function_id, key } => {
                    let kv = format!("debounce:{function_id}:{key}");
                    let pending = tx.kv_get(&kv, context.now)?;
                    tx.kv_delete(&kv)?;
                    if let (Some(function), Some(pending)) = (functions.get(function_id), pending) {
                        let event = pending.get("event").cloned().unwrap_or(Value::Null);
                        context.create_run(tx, function, vec![event], None)?;
                    }
                    Ok(())
                }
                Job::BatchFlush { function_id, key } => {
                    let kv = format!("batch:{function_id}:{key}");
                    let events = tx.kv_get(&kv, context.now)?;
                    tx.kv_delete(&kv)?;
                    if let (Some(function), Some(Value::Array(events))) =
                        (functions.get(function_id), events)
                        && !events.is_empty()
                    {
                        context.create_run(tx, function, events, None)?;
                    }
                    Ok(())
                }
                Job::Cron { function_id, spec } => {
                    let Some(function) = functions.get(function_id) else {
                        return Ok(());
                    };
                    // A job left from a schedule the function no longer has (changed or
                    // removed since it was queued, e.g. across a restart) is dropped.
                    let Some(schedule) = function.triggers.iter().find_map(|t| match t {
                        TriggerDef::Cron(s) if s.source() == spec => Some(s),
                        _ => None,
                    }) else {
                        return Ok(());
                    };
                    let event =
                        context.internal_event("inngest/scheduled.timer", json!({ "cron": spec }));
                    let id = event["id"].as_str().unwrap_or_default().to_string();
                    tx.insert_event(&id, "inngest/scheduled.timer", &event, context.now)?;
                    context.create_run(tx, function, vec![event], None)?;
                    if let Some(next) = schedule.next_after(context.now) {
                        tx.enqueue(None, next, 0, &job.job)?;
                    }
                    Ok(())
                }
            }
        })?;
        Ok(())
    }

    async fn execute(
        &self,
        functions: &HashMap<String, Arc<FunctionDef>>,
        job_id: i64,
        run_id: &str,
        step: Option<String>,
        attempt: u32,
    ) -> Result<(), ExecutorError> {
        let loaded = self.inner.store.read(|tx| {
            let Some(run) = tx.run(run_id)? else {
                return Ok(None);
            };
            let memo = tx.memo(run_id)?;
            Ok(Some((run, memo)))
        })?;
        let now = now_millis();
        let Some((run, memo)) = loaded else {
            self.inner.store.write(|tx| tx.delete_job(job_id))?;
            return Ok(());
        };
        let function = functions.get(&run.function_id).cloned();
        let context = self.context(functions, now);
        if run.status.is_final() {
            self.inner.store.write(|tx| tx.delete_job(job_id))?;
            return Ok(());
        }
        if run.status == store::RunStatus::Queued
            && let Some(start) = function.as_ref().and_then(|f| f.start_timeout_ms)
            && now - run.created_at > start
        {
            self.inner.store.write(|tx| {
                tx.delete_job(job_id)?;
                context.cancel(tx, run, "the run did not start within its timeouts.start")
            })?;
            return Ok(());
        }
        let Some(function) = function else {
            let outcome = Err(format!(
                "function `{}` is not registered with the executor",
                run.function_id
            ));
            self.inner
                .store
                .write(|tx| context.apply(tx, job_id, run_id, step, attempt, outcome))?;
            return Ok(());
        };
        if let Some(hash) = &step {
            self.inner.store.write(|tx| {
                tx.touch_step(
                    run_id,
                    hash,
                    hash,
                    "StepPlanned",
                    "Running",
                    None,
                    false,
                    now,
                )
            })?;
        }
        let request = self.build_request(&function, &run, memo, step.as_deref(), attempt);
        let outcome = function
            .transport
            .execute(request)
            .await
            .map_err(|e| e.to_string());
        let functions = self.functions();
        let context = self.context(&functions, now_millis());
        self.inner
            .store
            .write(|tx| context.apply(tx, job_id, run_id, step, attempt, outcome))?;
        Ok(())
    }

    fn build_request(
        &self,
        function: &FunctionDef,
        run: &Run,
        memo: serde_json::Map<String, Value>,
        step: Option<&str>,
        attempt: u32,
    ) -> ExecRequest {
        let step_id = step.unwrap_or("step").to_string();
        let request_id = new_id();
        let events = &run.state.events;
        let body = json!({
            "ctx": {
                "attempt": attempt,
                "disable_immediate_execution": run.state.force_plan || step.is_some(),
                "env": "",
                "fn_id": function.uuid,
                "max_attempts": function.max_attempts,
                "request_id": request_id,
                "run_id": run.id,
                "stack": { "current": run.state.stack.len(), "stack": run.state.stack },
                "step_id": step_id,
                "use_api": false,
            },
            "event": events.first().cloned().unwrap_or(Value::Null),
            "events": events,
            "steps": memo,
            "use_api": false,
            "version": run.state.version,
        });
        let body = serde_json::to_vec(&body).unwrap_or_default();
        let mut map = http::HeaderMap::new();
        let mut put = |name: &'static str, value: String| {
            if let Ok(value) = http::HeaderValue::from_str(&value) {
                map.insert(name, value);
            }
        };
        put("content-type", "application/json".into());
        put("user-agent", "Inngest".into());
        put(headers::REQ_VERSION, run.state.version.to_string());
        put("x-run-id", run.id.clone());
        put("x-request-id", request_id);
        put(headers::STEP_ID, step_id.clone());
        put(headers::SERVER_KIND, "dev".into());
        put("traceparent", traceparent(&run.id));
        if let Some(key) = &self.inner.settings.signing_key {
            put(
                headers::SIGNATURE,
                crate::signature::signature_header(key, &body, now_millis() / 1000),
            );
        }
        ExecRequest {
            function_id: function.id.clone(),
            step_id,
            headers: map,
            body,
        }
    }

    /// The Event API key check: any key when none is configured (like the dev server).
    fn key_accepted(&self, key: &str) -> bool {
        match &self.inner.settings.event_key {
            None => true,
            Some(expected) => {
                use subtle_eq::constant_time_eq;
                constant_time_eq(expected.as_bytes(), key.as_bytes())
            }
        }
    }

    fn http_client(&self) -> &reqwest::Client {
        &self.inner.http
    }
}

mod subtle_eq {
    /// Compares without an early exit on the first differing byte.
    pub fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
        if a.len() != b.len() {
            return false;
        }
        a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}

/// A W3C `traceparent` whose trace id is derived from the run id (every request of a run
/// shares one trace) with a fresh span id.
fn traceparent(run_id: &str) -> String {
    let trace = protocol::hash_step_id(run_id);
    let mut span = [0u8; 8];
    let _ = getrandom::fill(&mut span);
    format!("00-{}-{}-01", &trace[..32], hex::encode(span))
}

/// Checks an incoming event and fills `id`, `ts`, `data` and `user`.
fn normalize_event(index: usize, event: Value, now: i64) -> Result<Value, ExecutorError> {
    let invalid = |reason: &str| ExecutorError::InvalidEvent {
        index,
        reason: reason.to_string(),
    };
    let Value::Object(mut object) = event else {
        return Err(invalid(
            "an event must be a JSON object like {\"name\": \"shop/order.created\", \"data\": {}}",
        ));
    };
    match object.get("name").and_then(Value::as_str) {
        Some(name) if !name.trim().is_empty() && name.len() <= 512 => {}
        Some(name) if name.len() > 512 => return Err(invalid("`name` is longer than 512 bytes")),
        _ => return Err(invalid("`name` is required and must be a non-empty string")),
    }
    match object.get("data") {
        None | Some(Value::Null) => {
            object.insert("data".into(), json!({}));
        }
        Some(Value::Object(_)) => {}
        Some(_) => return Err(invalid("`data` must be a JSON object")),
    }
    match object.get("id") {
        Some(Value::String(id)) if !id.is_empty() => {}
        None | Some(Value::Null) => {
            object.insert("id".into(), json!(new_id()));
        }
        Some(Value::String(_)) => {
            object.insert("id".into(), json!(new_id()));
        }
        Some(_) => return Err(invalid("`id` must be a string")),
    }
    match object.get("ts") {
        Some(Value::Number(n)) if n.as_i64().is_some() => {}
        None | Some(Value::Null) => {
            object.insert("ts".into(), json!(now));
        }
        Some(_) => return Err(invalid("`ts` must be milliseconds since the Unix epoch")),
    }
    if !matches!(object.get("user"), Some(Value::Object(_))) {
        object.insert("user".into(), json!({}));
    }
    Ok(Value::Object(object))
}

impl crate::service::EventSink for Executor {
    fn accept(&self, events: Vec<Value>) -> Result<Vec<String>, String> {
        self.send(events).map_err(|e| e.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn events_are_normalized_or_rejected_with_reasons() {
        let event = normalize_event(0, json!({"name": "a"}), 5).unwrap_or_default();
        assert_eq!(event["data"], json!({}));
        assert_eq!(event["ts"], json!(5));
        assert_eq!(event["user"], json!({}));
        assert_eq!(event["id"].as_str().map(str::len), Some(26));
        let kept = normalize_event(0, json!({"name": "a", "id": "order-1", "ts": 9}), 5)
            .unwrap_or_default();
        assert_eq!(kept["id"], "order-1");
        assert_eq!(kept["ts"], 9);
        for (bad, reason) in [
            (json!([]), "JSON object"),
            (json!({"data": {}}), "`name` is required"),
            (json!({"name": ""}), "`name` is required"),
            (json!({"name": "a", "data": 3}), "`data` must be"),
            (json!({"name": "a", "ts": "now"}), "`ts` must be"),
        ] {
            let error = normalize_event(2, bad, 0).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains(reason) && e.starts_with("event 2")),
                "{error:?}"
            );
        }
    }

    #[test]
    fn traceparent_shares_the_trace_across_a_run() {
        let a = traceparent("01RUN");
        let b = traceparent("01RUN");
        assert_eq!(a.len(), 55);
        assert_eq!(a[..35], b[..35]);
        assert_ne!(a, b);
    }
}
