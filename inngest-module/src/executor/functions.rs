//! Function definitions as the executor reads them from a register payload: the same JSON
//! the Inngest server receives on `POST /fn/register`, whether it came from this app
//! in-process or from another SDK app over HTTP.

use std::sync::Arc;

use serde_json::Value;

use super::cron::CronSchedule;
use super::expr::Expression;
use super::transport::Transport;
use crate::protocol::parse_duration;
use crate::registry::DEFAULT_RETRIES;

/// What starts a function.
pub enum TriggerDef {
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

impl TriggerDef {
    /// `true` if an event named `name` matches this trigger's name or pattern.
    pub fn name_matches(&self, name: &str) -> bool {
        match self {
            TriggerDef::Event { name: pattern, .. } => event_name_matches(pattern, name),
            TriggerDef::Cron(_) => false,
        }
    }
}

/// Exact names, `prefix/*` wildcards (any depth below the prefix) and `*` alone.
pub fn event_name_matches(pattern: &str, name: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => name.starts_with(prefix),
        None => pattern == name,
    }
}

/// A concurrency limit.
pub struct ConcurrencyDef {
    /// Executions at once.
    pub limit: u32,
    /// Key expression (one limit per key value).
    pub key: Option<Expression>,
    /// `fn`, `env` or `account`.
    pub scope: String,
}

/// A limit per period (rate limit and throttle).
pub struct PeriodLimit {
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
pub struct DebounceDef {
    /// Quiet period in ms.
    pub period_ms: i64,
    /// Key expression.
    pub key: Option<Expression>,
    /// Longest delay since the first event, in ms.
    pub timeout_ms: Option<i64>,
}

/// Batching.
pub struct BatchDef {
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
pub struct CancelDef {
    /// Event that cancels.
    pub event: String,
    /// Condition (`event` = trigger, `async` = the cancelling event).
    pub expression: Option<Expression>,
    /// Only runs younger than this are cancelled (ms).
    pub timeout_ms: Option<i64>,
}

/// Singleton.
pub struct SingletonDef {
    /// Key expression.
    pub key: Option<Expression>,
    /// `true` to cancel the running run, `false` to skip the new one.
    pub cancel: bool,
}

/// One function the executor can run.
pub struct FunctionDef {
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

fn duration_ms(value: Option<&Value>, what: &str) -> Result<Option<i64>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(text)) => parse_duration(text)
            .map(|d| Some(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
            .map_err(|e| format!("{what}: {e}")),
        Some(other) => Err(format!("{what}: expected a duration string, got {other}")),
    }
}

fn expression(value: Option<&Value>, what: &str) -> Result<Option<Expression>, String> {
    match value
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
    {
        None => Ok(None),
        Some(text) => Expression::compile(text)
            .map(Some)
            .map_err(|e| format!("{what}: {e}")),
    }
}

fn count(value: Option<&Value>, what: &str) -> Result<Option<u32>, String> {
    match value {
        None | Some(Value::Null) => Ok(None),
        Some(value) => value
            .as_u64()
            .and_then(|n| u32::try_from(n).ok())
            .map(Some)
            .ok_or_else(|| format!("{what}: expected a non-negative integer, got {value}")),
    }
}

fn period_limit(value: &Value, what: &str) -> Result<PeriodLimit, String> {
    Ok(PeriodLimit {
        limit: count(value.get("limit"), &format!("{what}.limit"))?.unwrap_or(1),
        period_ms: duration_ms(value.get("period"), &format!("{what}.period"))?
            .ok_or_else(|| format!("{what}.period is required"))?,
        burst: count(value.get("burst"), &format!("{what}.burst"))?.unwrap_or(0),
        key: expression(value.get("key"), &format!("{what}.key"))?,
    })
}

/// A stable UUID-shaped id derived from the composite id.
fn uuid_for(id: &str) -> String {
    let hash = crate::protocol::hash_step_id(id);
    format!(
        "{}-{}-5{}-a{}-{}",
        &hash[0..8],
        &hash[8..12],
        &hash[13..16],
        &hash[17..20],
        &hash[20..32]
    )
}

impl FunctionDef {
    /// Reads one function entry of a register payload. Every problem names the field.
    pub fn parse(
        app_id: &str,
        config: &Value,
        transport: Arc<dyn Transport>,
    ) -> Result<Self, String> {
        let id = config
            .get("id")
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
            .ok_or("a function has no `id`")?
            .to_string();
        let at = |field: &str| format!("function {id}: {field}");
        let mut triggers = Vec::new();
        for trigger in config
            .get("triggers")
            .and_then(Value::as_array)
            .ok_or_else(|| at("`triggers` must be an array"))?
        {
            if let Some(name) = trigger.get("event").and_then(Value::as_str) {
                triggers.push(TriggerDef::Event {
                    name: name.to_string(),
                    expression: expression(trigger.get("expression"), &at("trigger expression"))?,
                });
            } else if let Some(spec) = trigger.get("cron").and_then(Value::as_str) {
                triggers.push(TriggerDef::Cron(
                    CronSchedule::parse(spec).map_err(|e| at(&e.to_string()))?,
                ));
            } else {
                return Err(at(&format!(
                    "a trigger needs `event` or `cron`, got {trigger}"
                )));
            }
        }
        let attempts = count(
            config.pointer("/steps/step/retries/attempts"),
            &at("retries.attempts"),
        )?
        .unwrap_or(DEFAULT_RETRIES);
        let concurrency = match config.get("concurrency") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Number(n)) => vec![ConcurrencyDef {
                limit: n.as_u64().and_then(|n| u32::try_from(n).ok()).unwrap_or(1),
                key: None,
                scope: "fn".into(),
            }],
            Some(value) => {
                let list = match value {
                    Value::Array(list) => list.clone(),
                    Value::Object(_) => vec![value.clone()],
                    other => return Err(at(&format!("concurrency: unexpected {other}"))),
                };
                let mut limits = Vec::new();
                for entry in list {
                    limits.push(ConcurrencyDef {
                        limit: count(entry.get("limit"), &at("concurrency.limit"))?.unwrap_or(1),
                        key: expression(entry.get("key"), &at("concurrency.key"))?,
                        scope: entry
                            .get("scope")
                            .and_then(Value::as_str)
                            .unwrap_or("fn")
                            .to_string(),
                    });
                }
                limits
            }
        };
        let mut cancel = Vec::new();
        for entry in config
            .get("cancel")
            .and_then(Value::as_array)
            .cloned()
            .unwrap_or_default()
        {
            cancel.push(CancelDef {
                event: entry
                    .get("event")
                    .and_then(Value::as_str)
                    .ok_or_else(|| at("cancel.event is required"))?
                    .to_string(),
                expression: expression(entry.get("if"), &at("cancel.if"))?,
                timeout_ms: duration_ms(entry.get("timeout"), &at("cancel.timeout"))?,
            });
        }
        let batch = match config.get("batchEvents") {
            None | Some(Value::Null) => None,
            Some(value) => Some(BatchDef {
                max_size: count(value.get("maxSize"), &at("batchEvents.maxSize"))?.unwrap_or(1)
                    as usize,
                timeout_ms: duration_ms(value.get("timeout"), &at("batchEvents.timeout"))?
                    .unwrap_or(1_000),
                key: expression(value.get("key"), &at("batchEvents.key"))?,
                condition: expression(value.get("if"), &at("batchEvents.if"))?,
            }),
        };
        let debounce = match config.get("debounce") {
            None | Some(Value::Null) => None,
            Some(value) => Some(DebounceDef {
                period_ms: duration_ms(value.get("period"), &at("debounce.period"))?
                    .ok_or_else(|| at("debounce.period is required"))?,
                key: expression(value.get("key"), &at("debounce.key"))?,
                timeout_ms: duration_ms(value.get("timeout"), &at("debounce.timeout"))?,
            }),
        };
        let singleton = match config.get("singleton") {
            None | Some(Value::Null) => None,
            Some(value) => Some(SingletonDef {
                key: expression(value.get("key"), &at("singleton.key"))?,
                cancel: value.get("mode").and_then(Value::as_str) == Some("cancel"),
            }),
        };
        Ok(Self {
            app_id: app_id.to_string(),
            uuid: uuid_for(&id),
            triggers,
            max_attempts: attempts.saturating_add(1),
            concurrency,
            rate_limit: config
                .get("rateLimit")
                .filter(|v| !v.is_null())
                .map(|v| period_limit(v, &at("rateLimit")))
                .transpose()?,
            throttle: config
                .get("throttle")
                .filter(|v| !v.is_null())
                .map(|v| period_limit(v, &at("throttle")))
                .transpose()?,
            debounce,
            batch,
            cancel,
            priority: expression(config.pointer("/priority/run"), &at("priority.run"))?,
            idempotency: expression(config.get("idempotency"), &at("idempotency"))?,
            singleton,
            start_timeout_ms: duration_ms(
                config.pointer("/timeouts/start"),
                &at("timeouts.start"),
            )?,
            finish_timeout_ms: duration_ms(
                config.pointer("/timeouts/finish"),
                &at("timeouts.finish"),
            )?,
            transport,
            id,
        })
    }

    /// `true` if `event` starts this function (name and `if` expression).
    pub fn triggered_by(&self, event: &Value) -> bool {
        let name = event.get("name").and_then(Value::as_str).unwrap_or("");
        self.triggers.iter().any(|trigger| match trigger {
            TriggerDef::Event { expression, .. } if trigger.name_matches(name) => {
                match expression {
                    None => true,
                    Some(expression) => match expression.matches(&[("event", event)]) {
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
    pub fn key_of(expression: Option<&Expression>, event: &Value) -> String {
        expression
            .and_then(|e| e.key(&[("event", event)]).ok().flatten())
            .unwrap_or_default()
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
    fn uuid_is_stable_and_shaped() {
        let id = uuid_for("shop-process-order");
        assert_eq!(id, uuid_for("shop-process-order"));
        assert_eq!(id.len(), 36);
        assert_eq!(id.matches('-').count(), 4);
        assert_ne!(id, uuid_for("shop-other"));
    }
}
