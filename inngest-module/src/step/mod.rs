//! The step tools user functions call: `run`, `sleep`, `sleep_until`, `wait_for_event`,
//! `send_event`, `invoke`.
//!
//! Each call claims its step id when it is *called* (the repeated-id rule counts calls), and
//! its future either resolves from the memo or hands the step to the engine and never
//! resumes. Steps may be awaited together (`futures::join!`, `tokio::join!`, `join_all`) to
//! run in parallel.

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use futures_util::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

mod args;

pub use args::{Invoke, SleepUntil, StepDuration, WaitFor};

use crate::engine::{SharedState, StepIdentity, StepOutcome, found};
use crate::error::{Error, StepError};
use crate::event::{Event, IntoEvents, decode};
use crate::hooks::RunContext;
use crate::middleware::MiddlewareList;
use crate::protocol::{InvokePayload, Memo, Op, OpData, OpOptions, Opcode, Timing, Userland};
use crate::service::InngestService;

/// The step tools of one execution. Cheap to clone.
#[derive(Clone)]
pub struct Step {
    state: SharedState,
    service: Arc<InngestService>,
    /// The run, the app, the hooks and the trace setting, from whoever runs the function.
    run: Arc<RunContext>,
    /// The function's middleware, around each step body that runs.
    middleware: Option<MiddlewareList>,
}

/// The output of a step body, a panic in it turned into an error.
async fn caught(
    body: impl Future<Output = Result<Value, Error>> + Send,
    span: tracing::Span,
) -> Result<Value, Error> {
    match AssertUnwindSafe(body.instrument(span)).catch_unwind().await {
        Ok(result) => result,
        Err(panic) => Err(Error::panic(&*panic)),
    }
}

fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() * 1_000_000)
        .unwrap_or_default()
}

fn userland(identity: &StepIdentity) -> Userland {
    Userland {
        id: identity.id.clone(),
        index: (identity.index > 0).then_some(identity.index),
    }
}

fn from_memo<T: DeserializeOwned>(identity: &StepIdentity, value: &Value) -> Result<T, Error> {
    // The fast path; on failure decode again to name the field that does not fit.
    T::deserialize(value).or_else(|_| {
        decode(
            value,
            &format!("the memoized result of step `{}`", identity.id),
        )
        .map_err(Error::non_retriable)
    })
}

/// An op reported as it is (not a run step): `data` is `null`, as the server expects.
fn reported_op(identity: &StepIdentity, op: Opcode, name: Option<String>, opts: OpOptions) -> Op {
    Op {
        id: identity.hash.clone(),
        op,
        name,
        display_name: identity.id.clone(),
        opts: Some(opts),
        userland: userland(identity),
        data: OpData::Null,
        error: None,
        timing: None,
    }
}

impl Step {
    pub(crate) fn new(
        state: SharedState,
        service: Arc<InngestService>,
        run: Arc<RunContext>,
    ) -> Self {
        Self {
            state,
            service,
            run,
            middleware: None,
        }
    }

    /// These step tools with `middleware` around each step body that runs.
    pub(crate) fn with_middleware(mut self, middleware: MiddlewareList) -> Self {
        self.middleware = Some(middleware);
        self
    }

    /// The run these steps belong to: function, run id, attempt.
    pub fn run_info(&self) -> &crate::hooks::RunInfo {
        &self.run.info
    }

    /// What this execution shares with its step tools.
    pub(crate) fn run_context(&self) -> Arc<RunContext> {
        Arc::clone(&self.run)
    }

    /// Runs `body` once, memoizing its result: on replays the stored result is returned and
    /// `body` does not run again. An error in `body` is retried as a step (`StepError`);
    /// once retries are exhausted (or the error is non-retriable) the step fails for good and
    /// this call returns [`Error::Step`], which user code may catch.
    ///
    /// ```no_run
    /// # async fn f(ctx: inngest_module::Ctx) -> inngest_module::Result<()> {
    /// let total: u64 = ctx.step.run("sum", || async { Ok(40 + 2) }).await?;
    /// // Errors of other types convert with `?` inside the body:
    /// let n: u32 = ctx.step.run("parse", || async { Ok("7".parse::<u32>()?) }).await?;
    /// # Ok(()) }
    /// ```
    pub fn run<T, F, Fut>(&self, id: &str, body: F) -> impl Future<Output = Result<T, Error>> + Send
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, Error>> + Send,
    {
        let identity = self.state.claim(id);
        self.run_step(identity, None, body)
    }

    async fn run_step<T, F, Fut>(
        &self,
        identity: StepIdentity,
        kind: Option<(&'static str, &'static str)>,
        body: F,
    ) -> Result<T, Error>
    where
        T: Serialize + DeserializeOwned + Send,
        F: FnOnce() -> Fut + Send,
        Fut: Future<Output = Result<T, Error>> + Send,
    {
        match self.state.memo(&identity.hash) {
            Some(Memo::Data(value)) => return from_memo(&identity, &value),
            Some(Memo::Error(error)) => return Err(Error::Step(StepError::from_memo(error))),
            _ => {}
        }
        let (name, opts) = match kind {
            Some((name, kind)) => (
                name.to_string(),
                OpOptions {
                    kind: Some(kind.into()),
                    ..OpOptions::default()
                },
            ),
            None => (identity.id.clone(), OpOptions::default()),
        };
        let planned = Op {
            id: identity.hash.clone(),
            op: Opcode::StepPlanned,
            name: Some(name),
            display_name: identity.id.clone(),
            opts: Some(opts),
            userland: userland(&identity),
            data: OpData::Null,
            error: None,
            timing: None,
        };
        found(&self.state, planned.clone(), true).await;

        self.run
            .hooks
            .each(|hook| hook.on_step_start(&self.run.info, &identity.id));
        let started = Instant::now();
        let start = now_nanos();
        let span = if self.run.spans {
            crate::trace::step_span(&identity.id, &identity.hash)
        } else {
            tracing::Span::none()
        };
        let step_id = identity.id.as_str();
        let body = async move {
            body().await.and_then(|value| {
                serde_json::to_value(value).map_err(|e| {
                    Error::non_retriable(format!(
                        "the result of step `{step_id}` cannot be serialized: {e}"
                    ))
                })
            })
        };
        let result = match &self.middleware {
            None => caught(body, span.clone()).await,
            Some(middleware) => {
                caught(
                    crate::middleware::around_step(middleware, &self.run.info, step_id, body),
                    span.clone(),
                )
                .await
            }
        };
        let elapsed = started.elapsed();
        let timing = Some(Timing {
            a: start,
            b: elapsed.as_nanos() / 1_000_000 * 1_000_000,
        });
        let outcome = match result {
            Ok(value) => StepOutcome {
                op: Op {
                    op: Opcode::StepRun,
                    data: OpData::Value(value),
                    timing,
                    ..planned
                },
                no_retry: None,
                retry_after: None,
                elapsed,
            },
            Err(error) => {
                let (attempt, max_attempts) = self.state.attempt();
                let last = !error.is_retriable() || attempt + 1 >= max_attempts;
                StepOutcome {
                    op: Op {
                        op: if last {
                            Opcode::StepFailed
                        } else {
                            Opcode::StepError
                        },
                        // The JS SDK repeats a final error in `data` (the server memoizes it).
                        data: if last {
                            OpData::Value(error.to_value())
                        } else {
                            OpData::Null
                        },
                        error: Some(error.to_error_body()),
                        timing,
                        ..planned
                    },
                    no_retry: Some(last),
                    retry_after: if last {
                        None
                    } else {
                        error.retry_after_value()
                    },
                    elapsed,
                }
            }
        };
        if self.run.spans {
            span.record("inngest.op", outcome.op.op.as_str());
            if outcome.op.op != Opcode::StepRun {
                span.record("otel.status_code", "ERROR");
            }
        }
        if let (Some(checkpointer), OpData::Value(value)) =
            (self.state.checkpointer(), &outcome.op.data)
            && outcome.op.op == Opcode::StepRun
        {
            // Checkpointing: post the result and go on in this request.
            let value = value.clone();
            let step = crate::hooks::StepInfo {
                id: identity.id.clone(),
                op: "StepRun",
            };
            self.run
                .hooks
                .each(|hook| hook.on_step_end(&self.run.info, &step, outcome.elapsed));
            match checkpointer.step_ran(outcome.op).await {
                Ok(()) => {
                    self.state.resume_after_checkpoint();
                    return from_memo(&identity, &value);
                }
                Err(interrupted) => self.state.end(interrupted.into()),
            }
        } else {
            self.state.record_outcome(outcome);
        }
        std::future::pending().await
    }

    /// Pauses the run for `duration` (`"10m"`, `"1h30m"`, `"7d"`) without holding resources.
    pub fn sleep(
        &self,
        id: &str,
        duration: impl Into<StepDuration>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let identity = self.state.claim(id);
        let duration = duration.into();
        async move {
            let name = duration.to_wire().map_err(Error::non_retriable)?;
            self.sleep_op(identity, name).await
        }
    }

    /// Pauses the run until `at`: a [`SystemTime`], a `chrono::DateTime` in any time zone,
    /// or an RFC 3339 text (`"2026-12-24T18:00:00+01:00"`, checked before it is sent).
    ///
    /// ```no_run
    /// # async fn f(ctx: inngest_module::Ctx) -> inngest_module::Result<()> {
    /// ctx.step.sleep_until("until-christmas-eve", "2026-12-24T18:00:00+01:00").await?;
    /// let tomorrow = chrono::Utc::now() + chrono::Duration::days(1);
    /// ctx.step.sleep_until("until-tomorrow", tomorrow).await?;
    /// # Ok(()) }
    /// ```
    pub fn sleep_until(
        &self,
        id: &str,
        at: impl Into<SleepUntil>,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let identity = self.state.claim(id);
        let at = at.into();
        async move {
            let at = at.to_wire().map_err(|problem| {
                Error::non_retriable(format!("step `{}`: {problem}", identity.id))
            })?;
            self.sleep_op(identity, at).await
        }
    }

    async fn sleep_op(&self, identity: StepIdentity, name: String) -> Result<(), Error> {
        if self.state.memo(&identity.hash).is_some() {
            return Ok(());
        }
        let op = reported_op(&identity, Opcode::Sleep, Some(name), OpOptions::default());
        found(&self.state, op, false).await;
        std::future::pending().await
    }

    /// Waits for an event; returns `None` when the timeout passes first. The event's
    /// payload is decoded as the `T` of [`WaitFor<T>`].
    ///
    /// ```no_run
    /// # use inngest_module::{Ctx, EventPayload, WaitFor};
    /// # #[derive(serde::Serialize, serde::Deserialize, EventPayload)]
    /// # #[event(name = "order.shipped")]
    /// # struct OrderShipped { order_id: String }
    /// # async fn f(ctx: Ctx) -> inngest_module::Result<()> {
    /// let shipped = ctx
    ///     .step
    ///     .wait_for_event("wait-for-shipping", WaitFor::<OrderShipped>::new().timeout("7d"))
    ///     .await?;
    /// if let Some(event) = shipped {
    ///     println!("shipped: {}", event.data.order_id);
    /// }
    /// # Ok(()) }
    /// ```
    pub fn wait_for_event<T>(
        &self,
        id: &str,
        wait: WaitFor<T>,
    ) -> impl Future<Output = Result<Option<Event<T>>, Error>> + Send
    where
        T: DeserializeOwned + Send,
    {
        let identity = self.state.claim(id);
        async move {
            match self.state.memo(&identity.hash) {
                Some(Memo::Data(Value::Null)) => return Ok(None),
                Some(Memo::Data(value)) => return from_memo(&identity, &value).map(Some),
                Some(Memo::Error(error)) => return Err(Error::Step(StepError::from_memo(error))),
                _ => {}
            }
            let opts = OpOptions {
                timeout: Some(wait.timeout),
                condition: wait.expression,
                ..OpOptions::default()
            };
            let op = reported_op(&identity, Opcode::WaitForEvent, Some(wait.event), opts);
            found(&self.state, op, false).await;
            std::future::pending().await
        }
    }

    /// Sends events as a step (sent once, even when the run is replayed); returns their ids.
    pub fn send_event(
        &self,
        id: &str,
        events: impl IntoEvents,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send {
        let identity = self.state.claim(id);
        let values = events.into_values();
        async move {
            let values = values.map_err(|(index, e)| {
                Error::non_retriable(format!(
                    "event {index} of step `{}` cannot be serialized: {e}",
                    identity.id
                ))
            })?;
            let sent: SentIds = self
                .run_step(
                    identity,
                    Some(("sendEvent", "step.sendEvent")),
                    || async move {
                        let ids = self
                            .service
                            .send_values_with(values, &self.run.forwarded)
                            .await
                            .map_err(|e| Error::retriable(e.to_string()))?;
                        Ok(SentIds::Object { ids })
                    },
                )
                .await?;
            Ok(sent.into_ids())
        }
    }

    /// Invokes another function and returns its result (or its error as [`Error::Step`]).
    pub fn invoke<T: DeserializeOwned + Send>(
        &self,
        id: &str,
        invoke: Invoke,
    ) -> impl Future<Output = Result<T, Error>> + Send {
        let identity = self.state.claim(id);
        async move {
            match self.state.memo(&identity.hash) {
                Some(Memo::Data(value)) => return from_memo(&identity, &value),
                Some(Memo::Error(error)) => return Err(Error::Step(StepError::from_memo(error))),
                _ => {}
            }
            let function_id = if invoke.qualified {
                invoke.function_id
            } else {
                format!("{}-{}", self.run.app_id, invoke.function_id)
            };
            let opts = OpOptions {
                payload: Some(InvokePayload {
                    data: invoke.data,
                    ..InvokePayload::default()
                }),
                function_id: Some(function_id),
                timeout: invoke.timeout,
                ..OpOptions::default()
            };
            let op = reported_op(&identity, Opcode::InvokeFunction, None, opts);
            found(&self.state, op, false).await;
            std::future::pending().await
        }
    }
}

/// The memo of a send-event step: `{ids:[…]}` (what JS and this SDK write) or `[…]`
/// (what the Python SDK and inngest-rs write); both are read.
#[derive(Serialize, serde::Deserialize)]
#[serde(untagged)]
enum SentIds {
    Object { ids: Vec<String> },
    List(Vec<String>),
}

impl SentIds {
    fn into_ids(self) -> Vec<String> {
        match self {
            SentIds::Object { ids } | SentIds::List(ids) => ids,
        }
    }
}
