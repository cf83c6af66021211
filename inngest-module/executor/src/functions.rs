//! Function definitions as the executor uses them: read from the typed register payload
//! (whether it came from this app in-process or from another SDK app over HTTP), with every
//! expression compiled and every duration parsed once, at registration.

use std::collections::HashMap;
use std::sync::Arc;

use inngest_protocol::duration::parse_duration_ms;
use inngest_protocol::{Event, FunctionConfig, SingletonMode, Trigger};
use serde_json::Value;

use crate::cron::CronSchedule;
use crate::expr::Expression;
use crate::ids::uuid_for;
use crate::transport::Transport;

/// The server's retry count when a function sets none.
pub const DEFAULT_RETRIES: u32 = 4;

/// What starts a function.
pub(crate) enum TriggerDef {
    /// An event name, exact or `prefix/*`, with an optional `if` expression.
    Event {
        /// The name or pattern as registered.
        name: String,
        /// The `if` expression.
        expression: Option<Expression>,
    },
    /// A cron schedule.
    Cron(CronSchedule),
}

/// The prefix of the events the executor emits itself (`inngest/function.failed`, …).
pub(crate) const INTERNAL_PREFIX: &str = "inngest/";

/// Exact names, `prefix/*` wildcards (any depth below the prefix) and `*` alone. A wildcard
/// matches the executor's own `inngest/…` events only when its prefix names them
/// (`inngest/*`): `*` means "every event sent", so a function on `*` that cancels or fails
/// does not start itself again.
pub(crate) fn event_name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => {
            name.starts_with(prefix)
                && (!name.starts_with(INTERNAL_PREFIX) || prefix.starts_with(INTERNAL_PREFIX))
        }
        None => pattern == name,
    }
}

/// A concurrency limit.
pub(crate) struct ConcurrencyDef {
    /// Executions at once.
    pub limit: u32,
    /// Key expression (one limit per key value).
    pub key: Option<Expression>,
    /// `fn`, `env` or `account`.
    pub scope: &'static str,
}

/// A limit per period (rate limit and throttle).
pub(crate) struct PeriodLimit {
    /// Runs per period.
    pub limit: u32,
    /// Period in ms.
    pub period_ms: i64,
    /// Extra runs allowed in a burst (throttle only).
    pub burst: u32,
    /// Key expression.
    pub key: Option<Expression>,
}

/// Debounce.
pub(crate) struct DebounceDef {
    /// Quiet period in ms.
    pub period_ms: i64,
    /// Key expression.
    pub key: Option<Expression>,
    /// Longest delay since the first event, in ms.
    pub timeout_ms: Option<i64>,
}

/// Batching.
pub(crate) struct BatchDef {
    /// Events per batch.
    pub max_size: usize,
    /// Longest wait for a batch to fill, in ms.
    pub timeout_ms: i64,
    /// Key expression (one batch per key value).
    pub key: Option<Expression>,
    /// Only events for which this holds are batched.
    pub condition: Option<Expression>,
}

/// A cancellation rule.
pub(crate) struct CancelDef {
    /// Event that cancels (exact, or `prefix/*`).
    pub event: String,
    /// Condition (`event` = trigger, `async` = the cancelling event), as written.
    pub condition: Option<String>,
    /// Only runs younger than this are cancelled (ms).
    pub timeout_ms: Option<i64>,
}

/// Singleton.
pub(crate) struct SingletonDef {
    /// Key expression.
    pub key: Option<Expression>,
    /// `true` to cancel the running run, `false` to skip the new one.
    pub cancel: bool,
}

/// One function the executor can run.
pub(crate) struct FunctionDef {
    /// Composite id `<app>-<fn>`.
    pub id: String,
    /// The app that serves it.
    pub app_id: String,
    /// Stable UUID-shaped id sent as `ctx.fn_id`.
    pub uuid: String,
    /// Triggers.
    pub triggers: Vec<TriggerDef>,
    /// Attempts per unit of work (retries + 1).
    pub max_attempts: u32,
    /// Concurrency limits.
    pub concurrency: Vec<ConcurrencyDef>,
    /// Rate limit (excess events are skipped).
    pub rate_limit: Option<PeriodLimit>,
    /// Throttle (excess runs are delayed).
    pub throttle: Option<PeriodLimit>,
    /// Debounce.
    pub debounce: Option<DebounceDef>,
    /// Batching.
    pub batch: Option<BatchDef>,
    /// Cancellation rules.
    pub cancel: Vec<CancelDef>,
    /// Priority expression (seconds).
    pub priority: Option<Expression>,
    /// Idempotency key expression (24 h).
    pub idempotency: Option<Expression>,
    /// Singleton.
    pub singleton: Option<SingletonDef>,
    /// Longest wait before the first execution (ms).
    pub start_timeout_ms: Option<i64>,
    /// Longest run time after the first execution (ms).
    pub finish_timeout_ms: Option<i64>,
    /// How to reach the app.
    pub transport: Arc<dyn Transport>,
}

impl std::fmt::Debug for FunctionDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FunctionDef").field("id", &self.id).finish()
    }
}

/// Collects a function's problems, each naming the field.
struct Problems<'a> {
    id: &'a str,
    list: Vec<String>,
}

impl Problems<'_> {
    fn duration(&mut self, field: &str, text: Option<&str>) -> Option<i64> {
        let text = text?;
        match parse_duration_ms(text) {
            Ok(ms) => Some(ms),
            Err(error) => {
                self.list
                    .push(format!("function {}: {field}: {error}", self.id));
                None
            }
        }
    }

    fn expression(&mut self, field: &str, text: Option<&str>) -> Option<Expression> {
        let text = text.filter(|t| !t.trim().is_empty())?;
        match Expression::compile(text) {
            Ok(expression) => Some(expression),
            Err(error) => {
                self.list
                    .push(format!("function {}: {field}: {error}", self.id));
                None
            }
        }
    }

    fn push(&mut self, message: String) {
        self.list.push(format!("function {}: {message}", self.id));
    }
}

impl FunctionDef {
    /// Reads one function of a register payload. Every problem names the function and the
    /// field.
    pub(crate) fn from_config(
        app_id: &str,
        config: &FunctionConfig,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, Vec<String>> {
        if config.id.trim().is_empty() {
            return Err(vec!["a function has no `id`".into()]);
        }
        let mut problems = Problems {
            id: &config.id,
            list: Vec::new(),
        };
        let mut triggers = Vec::new();
        for (index, trigger) in config.triggers.iter().enumerate() {
            match trigger {
                Trigger::Event { event, expression } => triggers.push(TriggerDef::Event {
                    name: event.clone(),
                    expression: problems.expression(
                        &format!("triggers[{index}].expression"),
                        expression.as_deref(),
                    ),
                }),
                Trigger::Cron { cron, .. } => match CronSchedule::parse(cron) {
                    Ok(schedule) => triggers.push(TriggerDef::Cron(schedule)),
                    Err(error) => problems.push(format!("triggers[{index}].cron: {error}")),
                },
            }
        }
        let mut concurrency = Vec::new();
        for (index, limit) in config.concurrency_limits().into_iter().enumerate() {
            if limit.limit == 0 {
                problems.push(format!("concurrency[{index}].limit must be at least 1"));
            }
            concurrency.push(ConcurrencyDef {
                limit: limit.limit.max(1),
                key: problems
                    .expression(&format!("concurrency[{index}].key"), limit.key.as_deref()),
                scope: limit.scope.map_or("fn", |s| s.as_str()),
            });
        }
        let rate_limit = config.rate_limit.as_ref().map(|rate| PeriodLimit {
            limit: rate.limit,
            period_ms: problems
                .duration("rateLimit.period", Some(&rate.period))
                .unwrap_or(60_000),
            burst: 0,
            key: problems.expression("rateLimit.key", rate.key.as_deref()),
        });
        let throttle = config.throttle.as_ref().map(|throttle| PeriodLimit {
            limit: throttle.limit,
            period_ms: problems
                .duration("throttle.period", Some(&throttle.period))
                .unwrap_or(1_000),
            burst: throttle.burst.unwrap_or(0),
            key: problems.expression("throttle.key", throttle.key.as_deref()),
        });
        let debounce = config.debounce.as_ref().map(|debounce| DebounceDef {
            period_ms: problems
                .duration("debounce.period", Some(&debounce.period))
                .unwrap_or(1_000),
            key: problems.expression("debounce.key", debounce.key.as_deref()),
            timeout_ms: problems.duration("debounce.timeout", debounce.timeout.as_deref()),
        });
        let batch = config.batch_events.as_ref().map(|batch| BatchDef {
            max_size: usize::try_from(batch.max_size.max(1)).unwrap_or(1),
            timeout_ms: problems
                .duration("batchEvents.timeout", Some(&batch.timeout))
                .unwrap_or(1_000),
            key: problems.expression("batchEvents.key", batch.key.as_deref()),
            condition: problems.expression("batchEvents.if", batch.condition.as_deref()),
        });
        let mut cancel = Vec::new();
        for (index, rule) in config.cancel.iter().enumerate() {
            if let Some(condition) = &rule.condition {
                problems.expression(&format!("cancel[{index}].if"), Some(condition));
            }
            cancel.push(CancelDef {
                event: rule.event.clone(),
                condition: rule.condition.clone().filter(|c| !c.trim().is_empty()),
                timeout_ms: problems
                    .duration(&format!("cancel[{index}].timeout"), rule.timeout.as_deref()),
            });
        }
        let singleton = config.singleton.as_ref().map(|singleton| SingletonDef {
            key: problems.expression("singleton.key", singleton.key.as_deref()),
            cancel: singleton.mode == SingletonMode::Cancel,
        });
        let timeouts = config.timeouts.as_ref();
        let function = Self {
            app_id: app_id.to_string(),
            uuid: uuid_for(&config.id),
            triggers,
            max_attempts: config
                .retries()
                .unwrap_or(DEFAULT_RETRIES)
                .saturating_add(1),
            concurrency,
            rate_limit,
            throttle,
            debounce,
            batch,
            cancel,
            priority: problems.expression(
                "priority.run",
                config.priority.as_ref().map(|p| p.run.as_str()),
            ),
            idempotency: problems.expression("idempotency", config.idempotency.as_deref()),
            singleton,
            start_timeout_ms: problems
                .duration("timeouts.start", timeouts.and_then(|t| t.start.as_deref())),
            finish_timeout_ms: problems.duration(
                "timeouts.finish",
                timeouts.and_then(|t| t.finish.as_deref()),
            ),
            transport,
            id: config.id.clone(),
        };
        if problems.list.is_empty() {
            Ok(function)
        } else {
            Err(problems.list)
        }
    }

    /// `true` if `event` (as JSON) starts this function (name and `if` expression). A
    /// function's own failure or cancellation never starts it.
    pub(crate) fn triggered_by(&self, event: &Event, json: &Value) -> bool {
        if event.name.starts_with(INTERNAL_PREFIX)
            && json["data"]["function_id"].as_str() == Some(self.id.as_str())
        {
            return false;
        }
        self.triggers.iter().any(|trigger| match trigger {
            TriggerDef::Event { name, expression } if event_name_matches(name, &event.name) => {
                match expression {
                    None => true,
                    Some(expression) => match expression.matches(&[("event", json)]) {
                        Ok(matched) => matched,
                        Err(error) => {
                            tracing::warn!(function = %self.id, %error, "trigger expression failed; not matched");
                            false
                        }
                    },
                }
            }
            _ => false,
        })
    }

    /// The key of `expression` for `event`, or `""` without one.
    pub(crate) fn key_of(expression: Option<&Expression>, event: &Value) -> String {
        expression
            .and_then(|e| e.key(&[("event", event)]).ok().flatten())
            .unwrap_or_default()
    }
}

/// The registered functions, swapped as a whole when an app (re-)registers.
#[derive(Default)]
pub(crate) struct Catalog {
    /// Functions by composite id.
    pub by_id: HashMap<String, Arc<FunctionDef>>,
    /// Functions sorted by id (routing order).
    pub sorted: Vec<Arc<FunctionDef>>,
    /// Every `cancel_on` event pattern with a wildcard.
    pub cancel_wildcards: Vec<String>,
}

impl Catalog {
    /// A catalog of these functions.
    pub(crate) fn new(functions: impl IntoIterator<Item = Arc<FunctionDef>>) -> Self {
        let by_id: HashMap<String, Arc<FunctionDef>> =
            functions.into_iter().map(|f| (f.id.clone(), f)).collect();
        let mut sorted: Vec<Arc<FunctionDef>> = by_id.values().cloned().collect();
        sorted.sort_by(|a, b| a.id.cmp(&b.id));
        let mut cancel_wildcards: Vec<String> = sorted
            .iter()
            .flat_map(|f| f.cancel.iter())
            .filter(|rule| rule.event.ends_with('*'))
            .map(|rule| rule.event.clone())
            .collect();
        cancel_wildcards.sort();
        cancel_wildcards.dedup();
        Self {
            by_id,
            sorted,
            cancel_wildcards,
        }
    }

    /// One function.
    pub(crate) fn get(&self, id: &str) -> Option<&Arc<FunctionDef>> {
        self.by_id.get(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards_match_by_prefix() {
        assert!(event_name_matches("shop/*", "shop/order.created"));
        assert!(event_name_matches("shop/*", "shop/a/b"));
        assert!(!event_name_matches("shop/*", "shopping/x"));
        assert!(event_name_matches("order.created", "order.created"));
        assert!(!event_name_matches("order.created", "order.created.v2"));
    }

    #[test]
    fn the_executors_own_events_match_only_patterns_that_name_them() {
        assert!(!event_name_matches("*", "inngest/function.cancelled"));
        assert!(!event_name_matches("inn*", "inngest/function.failed"));
        assert!(event_name_matches("inngest/*", "inngest/function.failed"));
        assert!(event_name_matches(
            "inngest/function.*",
            "inngest/function.cancelled"
        ));
        assert!(event_name_matches(
            "inngest/function.cancelled",
            "inngest/function.cancelled"
        ));
        assert!(event_name_matches("*", "order.created"));
    }
}
