//! A function's config as it is registered: triggers, steps and flow control, with the
//! server's field names. The SDK writes it; the embedded executor reads it back.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// One entry of the register payload's `functions[]`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FunctionConfig {
    /// Composite id `<app_id>-<function id>`.
    pub id: String,
    /// Display name.
    #[serde(default)]
    pub name: String,
    /// What starts the function; empty for invoke-only functions.
    #[serde(default)]
    pub triggers: Vec<Trigger>,
    /// The steps; SDKs register one, `"step"`, with the URL to call.
    #[serde(default)]
    pub steps: BTreeMap<String, StepConfig>,
    /// Idempotency key (CEL): one run per key per 24 h.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub idempotency: Option<String>,
    /// Batching.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub batch_events: Option<BatchEvents>,
    /// Rate limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate_limit: Option<RateLimit>,
    /// Throttle.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle: Option<Throttle>,
    /// Singleton.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub singleton: Option<Singleton>,
    /// Concurrency limits.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<ConcurrencyLimits>,
    /// Debounce.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub debounce: Option<Debounce>,
    /// Priority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<Priority>,
    /// Timeouts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
    /// Cancellation rules.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cancel: Vec<Cancel>,
}

impl FunctionConfig {
    /// Retries after the first attempt, as the `"step"` step registers them.
    pub fn retries(&self) -> Option<u32> {
        self.steps
            .get("step")
            .or_else(|| self.steps.values().next())
            .and_then(|step| step.retries.as_ref())
            .map(|retries| retries.attempts)
    }

    /// The concurrency limits as a list (however they were written).
    pub fn concurrency_limits(&self) -> Vec<Concurrency> {
        self.concurrency
            .as_ref()
            .map(ConcurrencyLimits::to_vec)
            .unwrap_or_default()
    }
}

/// One step of a function config.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepConfig {
    /// `"step"`.
    pub id: String,
    /// `"step"`.
    #[serde(default)]
    pub name: String,
    /// How the server reaches the SDK.
    pub runtime: StepRuntime,
    /// Retries after the first attempt (the server's default is 4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retries: Option<StepRetries>,
}

/// `runtime` of a step: `{"type": "http", "url": "…?fnId=…&stepId=step"}`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StepRuntime {
    /// `"http"`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The URL to call.
    pub url: String,
}

/// `retries` of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct StepRetries {
    /// Retries after the first attempt.
    pub attempts: u32,
}

/// What starts a function.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Trigger {
    /// An event name (`order.created`, or a wildcard `order/*`) and an optional CEL filter.
    Event {
        /// Event name.
        event: String,
        /// CEL expression over `event` (the trigger's `if`).
        #[serde(skip_serializing_if = "Option::is_none")]
        expression: Option<String>,
    },
    /// A cron schedule, optionally prefixed `TZ=Area/City `.
    Cron {
        /// The schedule.
        cron: String,
        /// Random delay (1s–5m).
        #[serde(skip_serializing_if = "Option::is_none")]
        jitter: Option<String>,
    },
}

impl<'de> Deserialize<'de> for Trigger {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire {
            event: Option<String>,
            expression: Option<String>,
            cron: Option<String>,
            jitter: Option<String>,
        }
        let wire = Wire::deserialize(deserializer)?;
        match (wire.event, wire.cron) {
            (Some(event), None) => Ok(Trigger::Event {
                event,
                expression: wire.expression.filter(|e| !e.trim().is_empty()),
            }),
            (None, Some(cron)) => Ok(Trigger::Cron {
                cron,
                jitter: wire.jitter,
            }),
            (Some(_), Some(_)) => Err(serde::de::Error::custom(
                "a trigger has either `event` or `cron`, not both",
            )),
            (None, None) => Err(serde::de::Error::custom(
                "a trigger needs `event` (an event name) or `cron` (a schedule)",
            )),
        }
    }
}

/// `scope` of a concurrency limit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ConcurrencyScope {
    /// Per function (the default).
    Fn,
    /// Across the environment (needs a key).
    Env,
    /// Across the account (needs a key).
    Account,
}

impl ConcurrencyScope {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            ConcurrencyScope::Fn => "fn",
            ConcurrencyScope::Env => "env",
            ConcurrencyScope::Account => "account",
        }
    }
}

/// One concurrency limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Concurrency {
    /// Steps running at once.
    pub limit: u32,
    /// CEL key: one limit per value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Scope.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<ConcurrencyScope>,
}

/// `concurrency` as SDKs write it: a bare limit, one limit object, or a list of them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum ConcurrencyLimits {
    /// `"concurrency": 10`.
    Limit(u32),
    /// `"concurrency": {"limit": 10, "key": "…"}`.
    One(Concurrency),
    /// `"concurrency": [{"limit": 10}, …]` (what this SDK and the JS SDK write).
    Many(Vec<Concurrency>),
}

impl ConcurrencyLimits {
    /// The limits as a list.
    pub fn to_vec(&self) -> Vec<Concurrency> {
        match self {
            ConcurrencyLimits::Limit(limit) => vec![Concurrency {
                limit: *limit,
                key: None,
                scope: None,
            }],
            ConcurrencyLimits::One(one) => vec![one.clone()],
            ConcurrencyLimits::Many(many) => many.clone(),
        }
    }
}

/// Rate limit: at most `limit` runs per `period` (extra events are dropped).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RateLimit {
    /// Runs per period.
    pub limit: u32,
    /// Period (`"1m"`).
    pub period: String,
    /// CEL key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Throttle: at most `limit` runs start per `period` (extra runs wait).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Throttle {
    /// Runs per period.
    pub limit: u32,
    /// Period (≥ 1s).
    pub period: String,
    /// Extra runs allowed in a burst.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<u32>,
    /// CEL key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
}

/// Debounce: run once after events stop arriving for `period`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Debounce {
    /// Quiet period.
    pub period: String,
    /// CEL key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Longest delay before running anyway.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
}

/// Batch events: the handler receives up to `max_size` events at once.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BatchEvents {
    /// Most events per batch (1–100).
    #[serde(rename = "maxSize")]
    pub max_size: u32,
    /// Longest wait for a batch to fill (1s–60s).
    pub timeout: String,
    /// CEL key: one batch per value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// CEL filter for events joining the batch.
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Cancel a run when a matching event arrives.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cancel {
    /// Event name.
    pub event: String,
    /// How long the cancellation listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// CEL match (`async` = the cancel event, `event` = the trigger).
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
}

/// Priority: a CEL expression giving seconds to move a run ahead (or back).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Priority {
    /// The expression.
    pub run: String,
}

/// Timeouts: to start, and to finish.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Timeouts {
    /// Longest wait from event to start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<String>,
    /// Longest run time from start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub finish: Option<String>,
}

/// `singleton.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SingletonMode {
    /// Skip the new run while one is running.
    Skip,
    /// Cancel the running one.
    Cancel,
}

/// Singleton: one run at a time (per key).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Singleton {
    /// CEL key.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// What to do with a second run.
    pub mode: SingletonMode,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn concurrency_reads_every_shape() {
        for (wire, limits) in [
            (json!(3), 1),
            (json!({"limit": 2, "key": "event.data.u"}), 1),
            (
                json!([{"limit": 2}, {"limit": 9, "scope": "env", "key": "k"}]),
                2,
            ),
        ] {
            let parsed: ConcurrencyLimits = serde_json::from_value(wire.clone()).unwrap();
            assert_eq!(parsed.to_vec().len(), limits);
            assert_eq!(serde_json::to_value(&parsed).unwrap(), wire);
        }
    }

    #[test]
    fn triggers_need_event_or_cron() {
        let event: Trigger =
            serde_json::from_value(json!({"event": "a", "expression": ""})).unwrap();
        assert_eq!(
            event,
            Trigger::Event {
                event: "a".into(),
                expression: None
            }
        );
        let cron: Trigger = serde_json::from_value(json!({"cron": "0 3 * * *"})).unwrap();
        assert!(matches!(cron, Trigger::Cron { .. }));
        let error = serde_json::from_value::<Trigger>(json!({"name": "a"})).unwrap_err();
        assert!(error.to_string().contains("needs `event`"), "{error}");
    }

    #[test]
    fn retries_come_from_the_step() {
        let config: FunctionConfig = serde_json::from_value(json!({
            "id": "app-f", "name": "f", "triggers": [],
            "steps": {"step": {"id": "step", "name": "step", "runtime": {"type": "http", "url": "u"}, "retries": {"attempts": 3}}}
        })).unwrap();
        assert_eq!(config.retries(), Some(3));
    }
}
