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
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use tracing::Instrument;

use futures_util::FutureExt;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

use crate::engine::{SharedState, StepIdentity, StepOutcome, found};
use crate::error::{Error, StepError};
use crate::event::{Event, IntoEvents, decode};
use crate::protocol::{
    InvokePayload, Memo, Op, OpData, OpOptions, Opcode, Timing, Userland, format_duration,
};
use crate::service::InngestService;

/// The step tools of one execution. Cheap to clone.
#[derive(Clone)]
pub struct Step {
    state: SharedState,
    service: Arc<InngestService>,
    app_id: Arc<str>,
    run: Arc<crate::hooks::RunInfo>,
}

/// What to wait for in [`Step::wait_for_event`].
///
/// ```
/// use inngest_module::WaitFor;
/// let wait = WaitFor::event("order.shipped")
///     .timeout("7d")
///     .matching("async.data.orderId == event.data.orderId");
/// # let _ = wait;
/// ```
#[derive(Debug, Clone)]
pub struct WaitFor {
    event: String,
    timeout: String,
    expression: Option<String>,
}

impl WaitFor {
    /// Waits for an event with this name (timeout one day unless set).
    pub fn event(name: impl Into<String>) -> Self {
        Self {
            event: name.into(),
            timeout: "1d".into(),
            expression: None,
        }
    }

    /// How long to wait (`"30s"`, `"7d"`); after that the step returns `None`.
    pub fn timeout(mut self, timeout: impl Into<String>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// A CEL expression the event must match; `event` is the run's trigger, `async` the
    /// candidate (e.g. `"async.data.orderId == event.data.orderId"`).
    pub fn matching(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }
}

/// Which function [`Step::invoke`] calls, and with what.
#[derive(Debug, Clone)]
pub struct Invoke {
    function_id: String,
    data: Value,
    timeout: Option<String>,
    qualified: bool,
}

impl Invoke {
    /// Invokes the function with this id in the same app (`"send-receipt"`), or with a full
    /// composite id when given through [`Invoke::composite`].
    pub fn function(id: impl Into<String>) -> Self {
        Self {
            function_id: id.into(),
            data: json!({}),
            timeout: None,
            qualified: false,
        }
    }

    /// Invokes a function by its composite id (`"<app_id>-<fn_id>"`), e.g. in another app.
    pub fn composite(id: impl Into<String>) -> Self {
        Self {
            qualified: true,
            ..Self::function(id)
        }
    }

    /// The invoked function's event data.
    pub fn data(mut self, data: impl Serialize) -> Self {
        self.data = serde_json::to_value(data).unwrap_or_else(|_| json!({}));
        self
    }

    /// Gives up after this long (the step then fails).
    pub fn timeout(mut self, timeout: impl Into<String>) -> Self {
        self.timeout = Some(timeout.into());
        self
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
        app_id: Arc<str>,
        run: Arc<crate::hooks::RunInfo>,
    ) -> Self {
        Self {
            state,
            service,
            app_id,
            run,
        }
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

        if let Some(hooks) = self.service.hooks() {
            hooks.each(|hook| hook.on_step_start(&self.run, &identity.id));
        }
        let started = Instant::now();
        let start = now_nanos();
        let span = if self.service.trace().is_some() {
            crate::trace::step_span(&identity.id, &identity.hash)
        } else {
            tracing::Span::none()
        };
        let result = match AssertUnwindSafe(async move { body().await }.instrument(span.clone()))
            .catch_unwind()
            .await
        {
            Ok(result) => result,
            Err(panic) => Err(Error::panic(&*panic)),
        };
        let elapsed = started.elapsed();
        let timing = Some(Timing {
            a: start,
            b: elapsed.as_nanos() / 1_000_000 * 1_000_000,
        });
        let outcome = match result.and_then(|value| {
            serde_json::to_value(value).map_err(|e| {
                Error::non_retriable(format!(
                    "the result of step `{}` cannot be serialized: {e}",
                    identity.id
                ))
            })
        }) {
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
        if self.service.trace().is_some() {
            span.record("inngest.op", outcome.op.op.as_str());
            if outcome.op.op != Opcode::StepRun {
                span.record("otel.status_code", "ERROR");
            }
        }
        self.state.record_outcome(outcome);
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

    /// Pauses the run until `at`.
    pub fn sleep_until(
        &self,
        id: &str,
        at: SystemTime,
    ) -> impl Future<Output = Result<(), Error>> + Send {
        let identity = self.state.claim(id);
        async move {
            self.sleep_op(identity, humantime::format_rfc3339_millis(at).to_string())
                .await
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

    /// Waits for an event; returns `None` when the timeout passes first.
    pub fn wait_for_event<T>(
        &self,
        id: &str,
        wait: WaitFor,
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
    pub fn send_event<T: Serialize + Send + Sync>(
        &self,
        id: &str,
        events: impl IntoEvents<T>,
    ) -> impl Future<Output = Result<Vec<String>, Error>> + Send {
        let identity = self.state.claim(id);
        let events: Vec<Event<T>> = events.into_events();
        let values: Result<Vec<Value>, _> = events.iter().map(Event::to_value).collect();
        async move {
            let values = values.map_err(|e| {
                Error::non_retriable(format!(
                    "an event of step `{}` cannot be serialized: {e}",
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
                            .send_values(values)
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
                format!("{}-{}", self.app_id, invoke.function_id)
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

/// A sleep duration: a string (`"10m"`) or a [`Duration`].
#[derive(Debug, Clone)]
pub enum StepDuration {
    /// As written (`"1h30m"`); checked before it is sent.
    Text(String),
    /// A Rust duration; sent in `w/d/h/m/s` units.
    Duration(Duration),
}

impl StepDuration {
    fn to_wire(&self) -> Result<String, String> {
        match self {
            StepDuration::Text(text) => crate::protocol::parse_duration(text)
                .map(|_| text.clone())
                .map_err(|e| e.to_string()),
            StepDuration::Duration(duration) => Ok(format_duration(*duration)),
        }
    }
}

impl From<&str> for StepDuration {
    fn from(text: &str) -> Self {
        StepDuration::Text(text.to_string())
    }
}

impl From<String> for StepDuration {
    fn from(text: String) -> Self {
        StepDuration::Text(text)
    }
}

impl From<Duration> for StepDuration {
    fn from(duration: Duration) -> Self {
        StepDuration::Duration(duration)
    }
}
