//! Function definitions: options (id, triggers, flow control) checked at start-up and turned
//! into the wire's [`FunctionConfig`], and the handlers that serve them ([`crate::handler`]).

use std::collections::BTreeMap;
use std::future::Future;
use std::sync::Arc;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::error::Error;
use crate::event::{FunctionCancelled, FunctionFailed};
use crate::handler::{Ctx, Handler, around_handler, typed_handler};
use crate::middleware::FunctionMiddleware;
use crate::options::is_slug;
use crate::protocol::{
    ConcurrencyLimits, FunctionConfig, StepConfig, StepRetries, StepRuntime, parse_duration,
};

pub use crate::protocol::{
    BatchEvents, Cancel, Concurrency, ConcurrencyScope, Debounce, Priority, RateLimit, Singleton,
    SingletonMode, Throttle, Timeouts, Trigger,
};

/// A function's id, name, triggers and flow control.
///
/// ```
/// use inngest_module::FunctionOptions;
/// let options = FunctionOptions::new("process-order")
///     .event("order.created")
///     .retries(3)
///     .concurrency(10)
///     .throttle(5, "1s");
/// assert!(options.problems().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Default)]
pub struct FunctionOptions {
    /// The id within the app (a slug).
    pub id: String,
    /// Display name (defaults to the id).
    pub name: Option<String>,
    /// Triggers; none for invoke-only functions.
    pub triggers: Vec<Trigger>,
    /// Retries after the first attempt (0–20; the server's default is 4).
    pub retries: Option<u32>,
    /// Concurrency limits (at most two).
    pub concurrency: Vec<Concurrency>,
    /// Rate limit.
    pub rate_limit: Option<RateLimit>,
    /// Throttle.
    pub throttle: Option<Throttle>,
    /// Debounce.
    pub debounce: Option<Debounce>,
    /// Batching.
    pub batch_events: Option<BatchEvents>,
    /// Priority.
    pub priority: Option<Priority>,
    /// Idempotency key (CEL): one run per key per 24 h.
    pub idempotency: Option<String>,
    /// Timeouts.
    pub timeouts: Option<Timeouts>,
    /// Singleton.
    pub singleton: Option<Singleton>,
    /// Cancellation.
    pub cancel: Vec<Cancel>,
    /// Checkpointing for this function; `None`: the app's `[inngest.checkpointing]`.
    /// Not part of the registered config: it only changes how this SDK answers.
    pub checkpointing: Option<crate::options::Checkpointing>,
}

impl FunctionOptions {
    /// Options with this id.
    pub fn new(id: impl Into<String>) -> Self {
        Self {
            id: id.into(),
            ..Self::default()
        }
    }

    /// Display name.
    pub fn name(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// Triggered by an event (exact name or `prefix/*` wildcard).
    pub fn event(mut self, event: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Event {
            event: event.into(),
            expression: None,
        });
        self
    }

    /// Triggered by an event matching a CEL expression (`"event.data.amount > 100"`).
    pub fn event_if(mut self, event: impl Into<String>, expression: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Event {
            event: event.into(),
            expression: Some(expression.into()),
        });
        self
    }

    /// Triggered on a cron schedule (`"0 3 * * *"`, `"TZ=Europe/Paris 0 9 * * 1"`).
    pub fn cron(mut self, cron: impl Into<String>) -> Self {
        self.triggers.push(Trigger::Cron {
            cron: cron.into(),
            jitter: None,
        });
        self
    }

    /// Checkpointing for this function, replacing `[inngest.checkpointing]` for it.
    ///
    /// ```
    /// use inngest_module::{Checkpointing, FunctionOptions};
    /// let classic = FunctionOptions::new("import").checkpointing(Checkpointing::off());
    /// let batched = FunctionOptions::new("etl")
    ///     .checkpointing(Checkpointing::default().buffered_steps(10));
    /// # let _ = (classic, batched);
    /// ```
    pub fn checkpointing(mut self, checkpointing: crate::options::Checkpointing) -> Self {
        self.checkpointing = Some(checkpointing);
        self
    }

    /// Retries after the first attempt (0–20).
    pub fn retries(mut self, retries: u32) -> Self {
        self.retries = Some(retries);
        self
    }

    /// At most `limit` steps of this function at once.
    pub fn concurrency(mut self, limit: u32) -> Self {
        self.concurrency.push(Concurrency {
            limit,
            key: None,
            scope: None,
        });
        self
    }

    /// A keyed (and optionally scoped) concurrency limit.
    pub fn concurrency_keyed(
        mut self,
        limit: u32,
        key: impl Into<String>,
        scope: Option<ConcurrencyScope>,
    ) -> Self {
        self.concurrency.push(Concurrency {
            limit,
            key: Some(key.into()),
            scope,
        });
        self
    }

    /// At most `limit` runs per `period`.
    pub fn rate_limit(mut self, limit: u32, period: impl Into<String>) -> Self {
        self.rate_limit = Some(RateLimit {
            limit,
            period: period.into(),
            key: None,
        });
        self
    }

    /// At most `limit` run starts per `period`.
    pub fn throttle(mut self, limit: u32, period: impl Into<String>) -> Self {
        self.throttle = Some(Throttle {
            limit,
            period: period.into(),
            burst: None,
            key: None,
        });
        self
    }

    /// Run once events stop for `period`.
    pub fn debounce(mut self, period: impl Into<String>) -> Self {
        self.debounce = Some(Debounce {
            period: period.into(),
            key: None,
            timeout: None,
        });
        self
    }

    /// Receive events in batches.
    pub fn batch_events(mut self, max_size: u32, timeout: impl Into<String>) -> Self {
        self.batch_events = Some(BatchEvents {
            max_size,
            timeout: timeout.into(),
            key: None,
            condition: None,
        });
        self
    }

    /// Priority expression.
    pub fn priority(mut self, run: impl Into<String>) -> Self {
        self.priority = Some(Priority { run: run.into() });
        self
    }

    /// Idempotency key expression.
    pub fn idempotency(mut self, key: impl Into<String>) -> Self {
        self.idempotency = Some(key.into());
        self
    }

    /// Start and finish timeouts.
    pub fn timeouts(mut self, start: Option<&str>, finish: Option<&str>) -> Self {
        self.timeouts = Some(Timeouts {
            start: start.map(Into::into),
            finish: finish.map(Into::into),
        });
        self
    }

    /// One run at a time.
    pub fn singleton(mut self, mode: SingletonMode, key: Option<&str>) -> Self {
        self.singleton = Some(Singleton {
            key: key.map(Into::into),
            mode,
        });
        self
    }

    /// Cancel when `event` arrives (matching `condition`, within `timeout`).
    pub fn cancel_on(
        mut self,
        event: impl Into<String>,
        condition: Option<&str>,
        timeout: Option<&str>,
    ) -> Self {
        self.cancel.push(Cancel {
            event: event.into(),
            timeout: timeout.map(Into::into),
            condition: condition.map(Into::into),
        });
        self
    }

    /// Every problem with these options, each naming the option and the fix.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        let mut duration_problems = Vec::new();
        let mut duration = |what: &str, text: &str, min: Option<u64>, max: Option<u64>| {
            duration_problems.extend(duration_problem(what, text, min, max));
        };
        for trigger in &self.triggers {
            if let Trigger::Cron { cron, jitter } = trigger {
                if let Some(jitter) = jitter {
                    duration("cron jitter", jitter, Some(1), Some(300));
                }
                let schedule = cron_schedule(cron);
                let fields = schedule.split_whitespace().count();
                if !(5..=6).contains(&fields) && !schedule.trim_start().starts_with('@') {
                    problems.push(format!("cron `{cron}` needs 5 fields (minute hour day month weekday), optionally after `TZ=Area/City `"));
                }
            }
        }
        if let Some(rate) = &self.rate_limit {
            duration("rate_limit period", &rate.period, Some(1), Some(86_400));
        }
        if let Some(throttle) = &self.throttle {
            duration(
                "throttle period",
                &throttle.period,
                Some(1),
                Some(7 * 86_400),
            );
        }
        if let Some(debounce) = &self.debounce {
            duration(
                "debounce period",
                &debounce.period,
                Some(1),
                Some(7 * 86_400),
            );
            if let Some(timeout) = &debounce.timeout {
                duration("debounce timeout", timeout, Some(1), Some(7 * 86_400));
            }
        }
        if let Some(batch) = &self.batch_events {
            duration("batch timeout", &batch.timeout, Some(1), Some(60));
        }
        if let Some(timeouts) = &self.timeouts {
            for (what, value) in [
                ("timeouts.start", &timeouts.start),
                ("timeouts.finish", &timeouts.finish),
            ] {
                if let Some(value) = value {
                    duration(what, value, Some(1), None);
                }
            }
        }
        for cancel in &self.cancel {
            if let Some(timeout) = &cancel.timeout
                && humantime::parse_rfc3339_weak(timeout).is_err()
            {
                duration("cancel_on timeout", timeout, None, None);
            }
        }
        problems.append(&mut duration_problems);
        if !is_slug(&self.id) {
            problems.push(format!("id `{}` is not a slug: use lowercase letters, digits and hyphens, e.g. \"process-order\"", self.id));
        }
        if self.retries.is_some_and(|r| r > 20) {
            problems.push("retries must be at most 20".into());
        }
        if self.concurrency.len() > 2 {
            problems.push("at most two concurrency limits are allowed".into());
        }
        for limit in &self.concurrency {
            if limit.limit == 0 {
                problems.push("concurrency limit must be at least 1".into());
            }
            if matches!(
                limit.scope,
                Some(ConcurrencyScope::Env | ConcurrencyScope::Account)
            ) && limit.key.is_none()
            {
                problems.push("concurrency with scope \"env\" or \"account\" needs a key".into());
            }
        }
        if self.rate_limit.as_ref().is_some_and(|r| r.limit == 0) {
            problems.push("rate_limit limit must be at least 1".into());
        }
        if self.throttle.as_ref().is_some_and(|t| t.limit == 0) {
            problems.push("throttle limit must be at least 1".into());
        }
        if let Some(batch) = &self.batch_events {
            if !(1..=100).contains(&batch.max_size) {
                problems.push("batch max_size must be between 1 and 100".into());
            }
            if !self.cancel.is_empty() {
                problems.push(
                    "batch_events and cancel_on cannot be combined (the server rejects it)".into(),
                );
            }
            if self.debounce.is_some() {
                problems.push(
                    "batch_events and debounce cannot be combined (the server rejects it)".into(),
                );
            }
            if self.priority.is_some() {
                problems.push(
                    "batch_events and priority cannot be combined (the server rejects it)".into(),
                );
            }
        }
        for trigger in &self.triggers {
            if let Trigger::Event { event, .. } = trigger
                && (event.trim().is_empty() || event.len() > 512)
            {
                problems.push(format!("event trigger `{event}` must be 1–512 characters"));
            }
        }
        problems
    }

    /// The entry in the register payload's `functions[]`, with its step URL under `url`.
    pub fn to_config(&self, app_id: &str, url: &str) -> FunctionConfig {
        let composite = format!("{app_id}-{}", self.id);
        FunctionConfig {
            name: self.name.clone().unwrap_or_else(|| self.id.clone()),
            triggers: self.triggers.clone(),
            steps: step_config(url, &composite, self.retries),
            idempotency: self.idempotency.clone(),
            batch_events: self.batch_events.clone(),
            rate_limit: self.rate_limit.clone(),
            throttle: self.throttle.clone(),
            singleton: self.singleton.clone(),
            concurrency: (!self.concurrency.is_empty())
                .then(|| ConcurrencyLimits::Many(self.concurrency.clone())),
            debounce: self.debounce.clone(),
            priority: self.priority.clone(),
            timeouts: self.timeouts.clone(),
            cancel: self.cancel.clone(),
            id: composite,
        }
    }
}

/// The single `"step"` step SDKs register: the URL the server calls, and the retries.
pub(crate) fn step_config(
    url: &str,
    composite: &str,
    retries: Option<u32>,
) -> BTreeMap<String, StepConfig> {
    let step = StepConfig {
        id: "step".into(),
        name: "step".into(),
        runtime: StepRuntime {
            kind: "http".into(),
            url: format!("{url}?fnId={composite}&stepId=step"),
        },
        retries: retries.map(|attempts| StepRetries { attempts }),
    };
    BTreeMap::from([("step".to_string(), step)])
}

/// A problem with a duration option, if any (bounds in seconds).
fn duration_problem(what: &str, text: &str, min: Option<u64>, max: Option<u64>) -> Option<String> {
    let format = |secs: Option<u64>, none: &str| {
        secs.map_or(none.to_string(), |s| {
            crate::protocol::format_duration(std::time::Duration::from_secs(s))
        })
    };
    match parse_duration(text) {
        Err(error) => Some(format!("{what}: {error}")),
        Ok(d)
            if min.is_some_and(|min| d.as_secs() < min)
                || max.is_some_and(|max| d.as_secs() > max) =>
        {
            Some(format!(
                "{what} `{text}` is out of range ({}–{})",
                format(min, "0s"),
                format(max, "no limit")
            ))
        }
        Ok(_) => None,
    }
}

/// A cron expression without its `TZ=…` / `CRON_TZ=…` prefix.
fn cron_schedule(cron: &str) -> &str {
    cron.strip_prefix("TZ=")
        .or_else(|| cron.strip_prefix("CRON_TZ="))
        .map_or(cron, |rest| rest.split_once(' ').map_or("", |(_, s)| s))
}

impl FunctionOptions {
    /// The cron triggers with a seconds field (6 fields): the embedded executor runs them,
    /// an Inngest server refuses them.
    pub(crate) fn crons_with_seconds(&self) -> Vec<&str> {
        self.triggers
            .iter()
            .filter_map(|trigger| match trigger {
                Trigger::Cron { cron, .. }
                    if cron_schedule(cron).split_whitespace().count() == 6 =>
                {
                    Some(cron.as_str())
                }
                _ => None,
            })
            .collect()
    }
}

/// A function ready to serve: options plus a handler (and an `on_failure` handler).
#[derive(Clone)]
pub struct Function {
    pub(crate) options: FunctionOptions,
    pub(crate) handler: Handler,
    pub(crate) on_failure: Option<Handler>,
    pub(crate) on_cancel: Option<Handler>,
    pub(crate) middleware: Vec<Arc<dyn FunctionMiddleware>>,
}

impl std::fmt::Debug for Function {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Function")
            .field("options", &self.options)
            .field("on_failure", &self.on_failure.is_some())
            .field("on_cancel", &self.on_cancel.is_some())
            .field("middleware", &self.middleware.len())
            .finish()
    }
}

impl Function {
    /// A function from options and a handler taking [`Ctx<T>`] (the payload type `T` is
    /// decoded with serde; a payload that does not fit fails the run without retries,
    /// naming the field).
    pub fn new<T, R, F, Fut>(options: FunctionOptions, handler: F) -> Self
    where
        T: DeserializeOwned + Send + 'static,
        R: Serialize,
        F: Fn(Ctx<T>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        Self {
            options,
            handler: typed_handler(handler),
            on_failure: None,
            on_cancel: None,
            middleware: Vec::new(),
        }
    }

    /// Runs `handler` when this function fails for good (registered as the extra function
    /// `<id>-failure`, triggered by `inngest/function.failed` for this function only).
    ///
    /// `T` is the failed function's payload type, so the handler reads the failed run's
    /// event typed: `ctx.event.data.event.data` (use `serde_json::Value` to read it as JSON).
    pub fn on_failure<T, R, F, Fut>(mut self, handler: F) -> Self
    where
        T: DeserializeOwned + Serialize + Send + 'static,
        R: Serialize,
        F: Fn(Ctx<FunctionFailed<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        self.on_failure = Some(typed_handler(handler));
        self
    }

    /// Runs `handler` when a run of this function is cancelled (registered as the extra
    /// function `<id>-cancelled`, triggered by `inngest/function.cancelled` for this
    /// function only: no filter to write, no composite id to repeat).
    pub fn on_cancel<T, R, F, Fut>(mut self, handler: F) -> Self
    where
        T: DeserializeOwned + Serialize + Send + 'static,
        R: Serialize,
        F: Fn(Ctx<FunctionCancelled<T>>) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<R, Error>> + Send + 'static,
    {
        self.on_cancel = Some(typed_handler(handler));
        self
    }

    /// Adds `middleware` around this function's runs and steps (after any added before:
    /// the first added is outermost). `#[middleware(self.audit)]` calls this.
    pub fn middleware<M: FunctionMiddleware>(mut self, middleware: Arc<M>) -> Self {
        self.middleware.push(middleware);
        self
    }

    /// The handler the executor calls: the function's, inside its middleware.
    pub(crate) fn served_handler(&self) -> Handler {
        if self.middleware.is_empty() {
            Arc::clone(&self.handler)
        } else {
            around_handler(
                Arc::clone(&self.handler),
                self.middleware.iter().cloned().collect(),
            )
        }
    }

    /// The options.
    pub fn options(&self) -> &FunctionOptions {
        &self.options
    }
}

/// The contribution kind for functions: providers contribute [`Function`]s (through
/// `#[inngest_module::function]` or `Provider::contribute::<Functions, _>`), and the module
/// serves every one from enabled modules.
pub struct Functions;

impl framework::ContributionKind for Functions {
    type Item = Function;
}
