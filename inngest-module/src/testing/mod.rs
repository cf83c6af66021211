//! Unit tests for Inngest functions: run a function in process, as the executor would, with
//! chosen step results stubbed by id, and look at what happened. No server, no HTTP.
//!
//! [`TestRun`] replays the function like the real protocol does, one "request" after
//! another, until it returns, fails, or reaches an op it cannot complete on its own:
//! - `step.run` bodies execute (a failing step is retried up to the function's retries,
//!   then fails for good, so compensation code runs as in production);
//! - `step.sleep` / `sleep_until` complete at once, unless [`TestRun::stop_at`] names them;
//! - `step.wait_for_event` and `step.invoke` need a result: [`TestRun::step`] (or
//!   [`TestRun::wait_times_out`]); without one the run stops there and
//!   [`TestOutcome::reached`] tells which op it reached;
//! - `step.send_event` records its events ([`TestOutcome::sent`]) instead of sending them.
//!
//! ```
//! use inngest_module::testing::{TestRun, event};
//! use inngest_module::{Ctx, Result};
//! use serde_json::{Value, json};
//!
//! async fn welcome(ctx: Ctx) -> Result<Value> {
//!     let user: String = ctx.step.run("load-user", || async { Ok("ada".to_string()) }).await?;
//!     ctx.step.sleep("wait-a-day", "1d").await?;
//!     Ok(json!({ "welcomed": user }))
//! }
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let outcome = TestRun::new(event("user.signed_up", json!({"id": 1})))
//!     .step("load-user", "grace")
//!     .run(welcome)
//!     .await;
//! assert_eq!(outcome.output(), Some(&json!({ "welcomed": "grace" })));
//! assert!(!outcome.ran("load-user")); // stubbed, so its body never ran
//! assert!(outcome.slept("wait-a-day"));
//! # });
//! ```

use std::collections::{HashMap, HashSet, VecDeque};
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::engine::{Execution, RawMemo, SharedState, drive};
use crate::error::Error;
use crate::event::Event;
use crate::handler::{Ctx, Handler, RawEvent, RawInput, typed_handler};
use crate::hooks::{HookList, RunContext, RunInfo};
use crate::protocol::{Op, Opcode, hash_step_id};
use crate::registry::{DEFAULT_RETRIES, Registry};
use crate::service::InngestService;
use crate::step::Step;

#[cfg(feature = "embedded")]
mod executor;
mod outcome;

#[cfg(feature = "embedded")]
pub use executor::TestExecutor;
use outcome::data_of;
pub use outcome::{RunEnd, StepDone, StepReport, TestOutcome};

/// At most this many replays per run: a function that never ends is reported, not looped on.
const MAX_REPLAYS: usize = 10_000;

/// A test event: `name` with `data`, a unique id (`test-event-<n>`) and the current time.
///
/// ```
/// let event = inngest_module::testing::event("order.created", serde_json::json!({"id": 7}));
/// assert_eq!(event.name, "order.created");
/// assert!(event.id.unwrap().starts_with("test-event-"));
/// ```
pub fn event(name: impl Into<String>, data: impl Serialize) -> Event<Value> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let data = serde_json::to_value(data).unwrap_or(Value::Null);
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default();
    Event::new(name, data)
        .with_id(format!(
            "test-event-{}",
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
        .with_ts(ts)
}

/// One run of a function under test: its event(s), stubbed step results, and what to stop
/// at. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct TestRun {
    events: Vec<Value>,
    stubs: Vec<(String, Value)>,
    stop_at: HashSet<String>,
    retries: Option<u32>,
    run_id: String,
}

impl TestRun {
    /// A run triggered by `event` (an [`Event`], or any value of that shape).
    pub fn new(event: impl Serialize) -> Self {
        Self::batch([event])
    }

    /// A run of a batch function, with every event of the batch (the first is `ctx.event`).
    pub fn batch<E: Serialize>(events: impl IntoIterator<Item = E>) -> Self {
        Self {
            events: events
                .into_iter()
                .map(|event| serde_json::to_value(event).unwrap_or(Value::Null))
                .collect(),
            stubs: Vec::new(),
            stop_at: HashSet::new(),
            retries: None,
            run_id: "test-run".to_string(),
        }
    }

    /// Stubs the result of step `id`: its body does not run and the step returns `result`
    /// (a `step.run` value, the event a `wait_for_event` received, an `invoke`'s result).
    /// The second use of the same id in a run is `"id:1"`, the third `"id:2"`, …
    pub fn step(mut self, id: &str, result: impl Serialize) -> Self {
        let data = serde_json::to_value(result).unwrap_or(Value::Null);
        self.stubs.push((id.to_string(), json!({ "data": data })));
        self
    }

    /// Stubs step `id` as failed for good with `message`: the step returns
    /// [`Error::Step`], which the function may catch.
    pub fn step_fails(mut self, id: &str, message: &str) -> Self {
        self.stubs.push((
            id.to_string(),
            json!({ "error": { "name": "Error", "message": message } }),
        ));
        self
    }

    /// Stubs `wait_for_event` step `id` as timed out: it returns `None`.
    pub fn wait_times_out(mut self, id: &str) -> Self {
        self.stubs.push((id.to_string(), json!({ "data": null })));
        self
    }

    /// Stops the run when it reaches step `id` (a sleep, or a step not to run): the
    /// outcome's [`TestOutcome::reached`] is that step's op.
    pub fn stop_at(mut self, id: &str) -> Self {
        self.stop_at.insert(id.to_string());
        self
    }

    /// How often a failing `step.run` is retried before it fails for good (default: the
    /// function's `retries`, or [`DEFAULT_RETRIES`] for [`TestRun::run`]).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// The run id the function sees (default `"test-run"`).
    pub fn run_id(mut self, run_id: impl Into<String>) -> Self {
        self.run_id = run_id.into();
        self
    }

    /// Runs `function` (any `async fn(Ctx<T>) -> Result<R>`, e.g. a closure calling a
    /// service's method) to its end or to the first op it cannot complete.
    pub async fn run<T, R, F, Fut>(self, function: F) -> TestOutcome
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(Ctx<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        let max_attempts = self.retries.unwrap_or(DEFAULT_RETRIES) + 1;
        self.drive(
            &typed_handler(function),
            "test-function",
            "test-app",
            max_attempts,
            Some("traceContext".into()),
        )
        .await
    }

    /// Runs the function the app serves as `id` (`"process-order"` or the composite
    /// `"shop-process-order"`), with the providers the app was built with.
    ///
    /// ```no_run
    /// # async fn f(app: framework::TestApp) -> Result<(), Box<dyn std::error::Error>> {
    /// use inngest_module::testing::{TestRun, event};
    /// let outcome = TestRun::new(event("order.created", serde_json::json!({"orderId": "o-1"})))
    ///     .run_function(&app, "process-order")
    ///     .await?;
    /// # Ok(()) }
    /// ```
    pub async fn run_function(
        self,
        app: &framework::TestApp,
        id: &str,
    ) -> Result<TestOutcome, TestError> {
        let registry = app
            .get::<Registry>()
            .map_err(|_| TestError::NoInngestModule)?;
        let app_id = registry.options.app_id.clone();
        let composite = if registry.entry(id).is_some() {
            id.to_string()
        } else {
            format!("{app_id}-{id}")
        };
        let entry = registry
            .entry(&composite)
            .ok_or_else(|| TestError::UnknownFunction {
                id: id.to_string(),
                served: registry.function_ids(),
            })?;
        let max_attempts = self
            .retries
            .map_or(entry.max_attempts, |retries| retries + 1);
        Ok(self
            .drive(
                &entry.handler,
                &composite,
                &app_id,
                max_attempts,
                Some(Arc::clone(&registry.context_field)),
            )
            .await)
    }

    async fn drive(
        self,
        handler: &Handler,
        function_id: &str,
        app_id: &str,
        max_attempts: u32,
        context_field: Option<Arc<str>>,
    ) -> TestOutcome {
        let (service, sent) = InngestService::recording(app_id);
        let stub_ids: HashMap<String, String> = self
            .stubs
            .iter()
            .map(|(id, _)| (hash_step_id(id), id.clone()))
            .collect();
        let mut replay = Replay {
            memo: self
                .stubs
                .iter()
                .map(|(id, value)| (hash_step_id(id), value.clone()))
                .collect(),
            pending: VecDeque::new(),
            steps: Vec::new(),
        };
        let mut used_stubs = HashSet::new();
        let end = match self.raw_events() {
            Ok(events) => {
                let context = ReplayContext {
                    handler,
                    service: &service,
                    app_id: app_id.into(),
                    function_id,
                    events,
                    context_field,
                    max_attempts,
                };
                self.replay_until_the_end(&context, &mut replay, |hits| {
                    used_stubs.extend(hits.into_iter().filter(|hash| stub_ids.contains_key(hash)));
                })
                .await
            }
            Err(error) => RunEnd::Failed(error),
        };
        let mut unused_stubs: Vec<String> = stub_ids
            .into_iter()
            .filter(|(hash, _)| !used_stubs.contains(hash))
            .map(|(_, id)| id)
            .collect();
        unused_stubs.sort();
        TestOutcome {
            steps: replay.steps,
            end,
            sent,
            unused_stubs,
        }
    }

    /// Replays the function, one request at a time, until it ends or stops.
    async fn replay_until_the_end(
        &self,
        context: &ReplayContext<'_>,
        replay: &mut Replay,
        mut memo_hits: impl FnMut(Vec<String>),
    ) -> RunEnd {
        let mut attempt = 0;
        for _ in 0..MAX_REPLAYS {
            let state = SharedState::new(
                raw_memo(&replay.memo),
                replay.pending.front().cloned(),
                true,
                attempt,
                context.max_attempts,
            );
            state.track_memo_hits();
            let run = Arc::new(RunContext {
                info: RunInfo {
                    function_id: context.function_id.to_string(),
                    run_id: self.run_id.clone(),
                    attempt,
                },
                app_id: Arc::clone(&context.app_id),
                hooks: HookList::default(),
                spans: false,
                forwarded: Vec::new(),
            });
            let step = Step::new(state.clone(), Arc::clone(context.service), run);
            let input = RawInput {
                events: context.events.clone(),
                context_field: context.context_field.clone(),
                step,
                run_id: self.run_id.clone(),
                attempt,
            };
            let execution = drive(state.clone(), (context.handler)(input)).await;
            memo_hits(state.memo_hits());
            match execution {
                Execution::Complete(value) => return RunEnd::Completed(value),
                Execution::Failed(error) => return RunEnd::Failed(error),
                Execution::StepRan(ran) => {
                    let op = ran.op;
                    replay.pending.retain(|hash| *hash != op.id);
                    let done = match op.op {
                        Opcode::StepError => {
                            // Retried: the next request targets the step again.
                            attempt += 1;
                            replay.pending.push_front(op.id.clone());
                            replay.steps.push(StepReport::of(&op, StepDone::Retried));
                            continue;
                        }
                        Opcode::StepFailed => {
                            replay
                                .memo
                                .insert(op.id.clone(), json!({ "error": data_of(&op) }));
                            StepDone::Failed
                        }
                        _ => {
                            replay
                                .memo
                                .insert(op.id.clone(), json!({ "data": data_of(&op) }));
                            StepDone::Ran
                        }
                    };
                    replay.steps.push(StepReport::of(&op, done));
                    attempt = 0;
                }
                Execution::Ops(ops) => {
                    if let Some(stop) = self.absorb(ops, replay) {
                        return RunEnd::Reached(Box::new(stop));
                    }
                }
                Execution::StepNotFound { requested, .. } => {
                    return RunEnd::Failed(Error::non_retriable(format!(
                        "the run planned step {requested} but did not reach it again on replay: is the function deterministic?"
                    )));
                }
                // The testing kit replays without a checkpointer: these never come.
                Execution::RunComplete(_) | Execution::Stale => {
                    return RunEnd::Failed(Error::non_retriable(
                        "the testing kit does not checkpoint",
                    ));
                }
            }
        }
        RunEnd::Failed(Error::non_retriable(format!(
            "the run did not end after {MAX_REPLAYS} replays"
        )))
    }

    /// Takes the ops one replay reported: sleeps complete (unless stopped at), planned
    /// steps are queued to run one by one; returns the op the run stops at, if any.
    fn absorb(&self, ops: Vec<Op>, replay: &mut Replay) -> Option<Op> {
        let mut stop = None;
        for op in ops {
            let stopped = self.stop_at.contains(&StepReport::id_of(&op));
            match op.op {
                Opcode::StepPlanned if !stopped => {
                    if !replay.pending.contains(&op.id) {
                        replay.pending.push_back(op.id.clone());
                    }
                }
                Opcode::Sleep if !stopped => {
                    replay.memo.insert(op.id.clone(), json!({ "data": null }));
                    replay.steps.push(StepReport::of(&op, StepDone::Slept));
                }
                _ => {
                    stop.get_or_insert(op);
                }
            }
        }
        stop
    }

    /// The events as the engine takes them (payloads as JSON text).
    fn raw_events(&self) -> Result<Vec<RawEvent>, Error> {
        if self.events.is_empty() {
            return Err(Error::non_retriable("a test run needs at least one event"));
        }
        self.events
            .iter()
            .map(|event| {
                serde_json::to_string(event)
                    .and_then(|text| serde_json::from_str(&text))
                    .map_err(|e| {
                        Error::non_retriable(format!(
                            "a test event is not an event (`{{\"name\": …, \"data\": …}}`): {e}"
                        ))
                    })
            })
            .collect()
    }
}

/// What every replay of one run shares.
struct ReplayContext<'a> {
    handler: &'a Handler,
    service: &'a Arc<InngestService>,
    app_id: Arc<str>,
    function_id: &'a str,
    events: Vec<RawEvent>,
    context_field: Option<Arc<str>>,
    max_attempts: u32,
}

/// What a run has built up between replays: results by hashed id, the planned steps still
/// to run, and the report.
struct Replay {
    memo: HashMap<String, Value>,
    pending: VecDeque<String>,
    steps: Vec<StepReport>,
}

/// The memo as the engine takes it (JSON text by hashed id).
fn raw_memo(memo: &HashMap<String, Value>) -> RawMemo {
    memo.iter()
        .filter_map(|(hash, value)| {
            let raw = RawValue::from_string(value.to_string()).ok()?;
            Some((hash.clone(), raw))
        })
        .collect()
}

/// Why [`TestRun::run_function`] could not run a function.
#[derive(Debug, thiserror::Error)]
pub enum TestError {
    /// The app does not import `InngestModule`.
    #[error("the app serves no Inngest functions: import InngestModule in the module under test")]
    NoInngestModule,
    /// No function has this id.
    #[error("the app serves no function `{id}`; it serves: {}", served.join(", "))]
    UnknownFunction {
        /// The id asked for.
        id: String,
        /// The composite ids served.
        served: Vec<String>,
    },
    /// The app runs its functions on an Inngest server, not on the embedded executor.
    #[error(
        "the app has no embedded executor: it is configured for an Inngest server (unset `dev` / `base_url`, or set `executor = \"embedded\"`)"
    )]
    NoEmbeddedExecutor,
    /// No run has this id.
    #[error("no run `{0}` exists")]
    NoSuchRun(String),
    /// A wait timed out.
    #[error("timed out after {after:?} waiting for {what}")]
    Timeout {
        /// What was awaited.
        what: String,
        /// How long (by tokio's clock).
        after: std::time::Duration,
    },
    /// The executor failed to answer.
    #[cfg(feature = "embedded")]
    #[error(transparent)]
    Executor(#[from] crate::executor::ExecutorError),
}
