//! Wire types of the Inngest SDK protocol: execution requests, ops, memoized step values,
//! header names, step-id hashing and duration strings (PROTOCOL.md §3–§4).

use std::collections::HashMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use sha1::{Digest, Sha1};

/// The SDK name and version sent as `X-Inngest-SDK`, `User-Agent` and the register `sdk`.
pub const SDK: &str = concat!("inngest-rs:v", env!("CARGO_PKG_VERSION"));
/// The SDK language reported in introspection and in-band sync.
pub const SDK_LANGUAGE: &str = "rust";
/// The SDK version reported in introspection and in-band sync.
pub const SDK_VERSION: &str = env!("CARGO_PKG_VERSION");
/// The request version this SDK speaks (`X-Inngest-Req-Version`).
pub const REQ_VERSION: &str = "2";
/// The framework name reported to the server.
pub const FRAMEWORK: &str = "axum";
/// Introspection schema version.
pub const SCHEMA_VERSION: &str = "2024-05-24";

/// Header names used by the protocol.
pub mod headers {
    /// SDK name and version; a 2xx without it is an error for the server.
    pub const SDK: &str = "x-inngest-sdk";
    /// Request version.
    pub const REQ_VERSION: &str = "x-inngest-req-version";
    /// `t=<unix seconds>&s=<hex hmac>`.
    pub const SIGNATURE: &str = "x-inngest-signature";
    /// `true` when the error must not be retried.
    pub const NO_RETRY: &str = "x-inngest-no-retry";
    /// Seconds or a date before the next attempt.
    pub const RETRY_AFTER: &str = "retry-after";
    /// `in_band` or `out_of_band`.
    pub const SYNC_KIND: &str = "x-inngest-sync-kind";
    /// `dev` or `cloud`, sent by the server on its own sync PUT.
    pub const SERVER_KIND: &str = "x-inngest-server-kind";
    /// Echo of the server kind on register.
    pub const EXPECTED_SERVER_KIND: &str = "x-inngest-expected-server-kind";
    /// The Inngest environment (branch) name.
    pub const ENV: &str = "x-inngest-env";
    /// The web framework.
    pub const FRAMEWORK: &str = "x-inngest-framework";
    /// The hosting platform.
    pub const PLATFORM: &str = "x-inngest-platform";
    /// Targeted step of a parallel plan (the query parameter wins).
    pub const STEP_ID: &str = "x-inngest-step-id";
    /// Seed from which the server derives event ids, so a retried send never duplicates.
    pub const EVENT_ID_SEED: &str = "x-inngest-event-id-seed";
    /// Marks a response as produced by an SDK.
    pub const SDK_HANDLED: &str = "x-inngest-sdk-handled";
}

/// The hex SHA-1 of a step id, the `id` of its op and its key in the memo map.
///
/// ```
/// assert_eq!(inngest_module::protocol::hash_step_id("my-step-id"), "e7d8a2f140845095749d60246ff1110c9d01d76a");
/// ```
pub fn hash_step_id(id: &str) -> String {
    hex::encode(Sha1::digest(id.as_bytes()))
}

/// The id hashed for the `index`-th use (from 0) of a step id: `id`, `id:1`, `id:2`, …
pub fn indexed_step_id(id: &str, index: usize) -> String {
    if index == 0 {
        id.to_string()
    } else {
        format!("{id}:{index}")
    }
}

/// Opcodes as they travel on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Opcode {
    /// A run step that was executed and succeeded.
    StepRun,
    /// A run step failed and will be retried.
    StepError,
    /// A run step failed for good.
    StepFailed,
    /// A run step found but not executed.
    StepPlanned,
    /// Sleep for a duration or until a time.
    Sleep,
    /// Wait for an event.
    WaitForEvent,
    /// Invoke another function.
    InvokeFunction,
}

impl Opcode {
    /// The wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Opcode::StepRun => "StepRun",
            Opcode::StepError => "StepError",
            Opcode::StepFailed => "StepFailed",
            Opcode::StepPlanned => "StepPlanned",
            Opcode::Sleep => "Sleep",
            Opcode::WaitForEvent => "WaitForEvent",
            Opcode::InvokeFunction => "InvokeFunction",
        }
    }
}

/// `userland` of an op: the user's step id and its repeat index (omitted when 0).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Userland {
    /// The id the user wrote.
    pub id: String,
    /// Repeat index; omitted for the first use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// One op in a 206 response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Hashed step id.
    pub id: String,
    /// What happened or is requested.
    pub op: Opcode,
    /// Legacy name; carries the sleep duration or waited event name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's step id.
    #[serde(rename = "displayName")]
    pub display_name: String,
    /// Op options.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub opts: Option<Value>,
    /// Where the step came from in user code.
    pub userland: Userland,
    /// The step's result; `null` where the server expects it.
    #[serde(skip_serializing_if = "OpData::is_absent")]
    pub data: OpData,
    /// The step's error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Value>,
    /// Start (unix ns) and duration (ns) of an executed step.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

/// An op's `data` field: absent, `null`, or a value.
#[derive(Debug, Clone, PartialEq, Default)]
pub enum OpData {
    /// Not sent.
    #[default]
    Absent,
    /// Sent as `null` (Sleep, WaitForEvent, StepError, StepPlanned, InvokeFunction).
    Null,
    /// The step's result.
    Value(Value),
}

impl OpData {
    fn is_absent(&self) -> bool {
        matches!(self, OpData::Absent)
    }
}

impl Serialize for OpData {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OpData::Absent | OpData::Null => serializer.serialize_none(),
            OpData::Value(value) => value.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for OpData {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Ok(match Value::deserialize(deserializer)? {
            Value::Null => OpData::Null,
            value => OpData::Value(value),
        })
    }
}

/// Step timing: start in unix nanoseconds (millisecond precision) and duration in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Timing {
    /// Start, unix ns.
    pub a: u128,
    /// Duration, ns.
    pub b: u128,
}

/// The body of an execution request (`POST serve_path?fnId=…&stepId=…`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct ExecutionRequest {
    /// The triggering event (the first of a batch).
    #[serde(default)]
    pub event: Value,
    /// Every event of the run (batches have more than one).
    #[serde(default)]
    pub events: Vec<Value>,
    /// Memoized step results by hashed id.
    #[serde(default)]
    pub steps: HashMap<String, Value>,
    /// Run context.
    #[serde(default)]
    pub ctx: RequestContext,
    /// Request version (-1 on a new run).
    #[serde(default)]
    pub version: i64,
    /// Deprecated top-level `use_api`.
    #[serde(default)]
    pub use_api: bool,
}

/// `ctx` of an execution request.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct RequestContext {
    /// The server's internal function id (a UUID).
    #[serde(default)]
    pub fn_id: String,
    /// The run id (a ULID).
    #[serde(default)]
    pub run_id: String,
    /// The environment name.
    #[serde(default)]
    pub env: String,
    /// `"step"` (the body's own `stepId` is in the query).
    #[serde(default)]
    pub step_id: String,
    /// Attempt of the current unit of work, from 0.
    #[serde(default)]
    pub attempt: u32,
    /// `retries + 1`.
    #[serde(default)]
    pub max_attempts: Option<u32>,
    /// Memoized step ids in completion order.
    #[serde(default)]
    pub stack: Stack,
    /// Report every step as planned (parallel work in progress).
    #[serde(default)]
    pub disable_immediate_execution: bool,
    /// Fetch events and steps from the API (payload too large).
    #[serde(default)]
    pub use_api: bool,
}

/// `ctx.stack`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Stack {
    /// Hashed ids in completion order.
    #[serde(default)]
    pub stack: Vec<String>,
    /// Position.
    #[serde(default)]
    pub current: usize,
}

/// A memoized step value, parsed the way the JS SDK does: an object that is exactly
/// `{"data":X}` is data, exactly `{"error":E}` an error, exactly `{"input":I}` not done yet;
/// anything else (including `null` and a raw event) is the data itself.
#[derive(Debug, Clone, PartialEq)]
pub enum Memo {
    /// The step's result.
    Data(Value),
    /// The step failed for good.
    Error(Value),
    /// The step is not done (its input was replaced).
    Input(Value),
}

impl Memo {
    /// Parses a memo value.
    pub fn parse(value: &Value) -> Memo {
        if let Value::Object(map) = value
            && map.len() == 1
        {
            if let Some(data) = map.get("data") {
                return Memo::Data(data.clone());
            }
            if let Some(error) = map.get("error") {
                return Memo::Error(error.clone());
            }
            if let Some(input) = map.get("input") {
                return Memo::Input(input.clone());
            }
        }
        Memo::Data(value.clone())
    }
}

/// Formats a duration the way the Go, JS and Rust SDKs do: `w/d/h/m/s` units, sub-second
/// parts dropped (rounded up to `1s` when the whole duration is shorter).
///
/// ```
/// use std::time::Duration;
/// use inngest_module::protocol::format_duration;
/// assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(2000)), "2s");
/// assert_eq!(format_duration(Duration::from_secs(8 * 86400)), "1w1d");
/// ```
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return if duration.is_zero() { "0s" } else { "1s" }.to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&format!("{}{unit}", secs / size));
            secs %= size;
        }
    }
    out
}

/// Parses a duration string (`"10m"`, `"1h30m"`, `"7d"`, `"2w"`, `"500ms"`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    humantime::parse_duration(text.trim()).map_err(|error| {
        format!(
            "`{text}` is not a duration ({error}); write e.g. \"30s\", \"10m\", \"1h30m\" or \"7d\""
        )
    })
}

/// An error in the shape the protocol uses: `{name, message, stack}`.
pub fn error_value(name: &str, message: &str, extra: Option<Map<String, Value>>) -> Value {
    let mut map = extra.unwrap_or_default();
    map.insert("name".into(), Value::String(name.into()));
    map.insert("message".into(), Value::String(message.into()));
    map.entry("stack")
        .or_insert_with(|| Value::String(format!("{name}: {message}")));
    Value::Object(map)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn step_ids_hash_like_the_recordings() {
        assert!(hash_step_id("first step").starts_with("98bf98df"));
        assert!(hash_step_id("sleep").starts_with("c3ca5f78"));
        assert!(hash_step_id("wait").starts_with("daaad336"));
        assert!(hash_step_id("same").starts_with("ff3390"));
        assert!(hash_step_id(&indexed_step_id("same", 1)).starts_with("c1023f"));
        assert!(hash_step_id(&indexed_step_id("same", 2)).starts_with("e48d66"));
    }

    #[test]
    fn memo_parsing_follows_the_js_rule() {
        assert_eq!(Memo::parse(&json!({"data": 1})), Memo::Data(json!(1)));
        assert_eq!(
            Memo::parse(&json!({"error": {"message": "x"}})),
            Memo::Error(json!({"message": "x"}))
        );
        assert_eq!(Memo::parse(&json!(null)), Memo::Data(json!(null)));
        let event = json!({"data": {"a": 1}, "name": "x", "id": "1", "ts": 1, "user": {}});
        assert_eq!(Memo::parse(&event), Memo::Data(event.clone()));
    }

    #[test]
    fn durations_format_and_parse() {
        assert_eq!(format_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_duration(Duration::from_millis(10)), "1s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(
            parse_duration("1h30m").ok(),
            Some(Duration::from_secs(5400))
        );
        assert_eq!(
            parse_duration("7d").ok(),
            Some(Duration::from_secs(7 * 86400))
        );
        assert!(
            parse_duration("soon")
                .unwrap_err()
                .contains("`soon` is not a duration")
        );
    }

    #[test]
    fn op_data_null_is_serialized_and_absent_is_not() {
        let op = Op {
            id: "x".into(),
            op: Opcode::Sleep,
            name: Some("1s".into()),
            display_name: "nap".into(),
            opts: None,
            userland: Userland {
                id: "nap".into(),
                index: None,
            },
            data: OpData::Null,
            error: None,
            timing: None,
        };
        let value = serde_json::to_value(&op).unwrap();
        assert_eq!(value["data"], Value::Null);
        assert!(value.as_object().unwrap().contains_key("data"));
        let absent = Op {
            data: OpData::Absent,
            ..op
        };
        assert!(
            !serde_json::to_value(&absent)
                .unwrap()
                .as_object()
                .unwrap()
                .contains_key("data")
        );
    }
}
