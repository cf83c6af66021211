//! The execution request: what the server (or the embedded executor) sends the SDK to run
//! a function (`POST serve_path?fnId=<composite id>&stepId=<"step" or a step hash>`).

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::event::Event;

/// The body of an execution request.
///
/// `E` and `M` are how events and memoized values are held: decoded (the default, as the
/// SDK reads them) or, for a sender that already has them as JSON text, as
/// [`serde_json::value::RawValue`]s written out verbatim.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct ExecutionRequest<E = Event, M = Value> {
    /// The triggering event (the first of a batch).
    #[serde(default)]
    pub event: E,
    /// Every event of the run (batches have more than one).
    #[serde(default)]
    pub events: Vec<E>,
    /// Memoized step results by hashed step id (see [`Memo`]).
    #[serde(default)]
    pub steps: HashMap<String, M>,
    /// Run context.
    #[serde(default)]
    pub ctx: RequestContext,
    /// Request version: `-1` until the SDK answered with ops, then the version it reported.
    #[serde(default)]
    pub version: i64,
    /// Deprecated top-level `use_api`.
    #[serde(default)]
    pub use_api: bool,
    /// Deferred work the server tracks for the run (sent as `{}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub defers: Option<Map<String, Value>>,
}

/// `ctx` of an execution request.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct RequestContext {
    /// Attempt of the current unit of work, from 0.
    #[serde(default)]
    pub attempt: u32,
    /// Report every step as planned (parallel work in progress).
    #[serde(default)]
    pub disable_immediate_execution: bool,
    /// The environment name.
    #[serde(default)]
    pub env: String,
    /// The server's internal function id (a UUID).
    #[serde(default)]
    pub fn_id: String,
    /// The function's generation (the server increments it on changes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<u64>,
    /// The queue job behind this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub job_id: Option<String>,
    /// `retries + 1`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_attempts: Option<u32>,
    /// The queue item id.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub qi_id: Option<String>,
    /// The id of this request.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// The run id (a ULID).
    #[serde(default)]
    pub run_id: String,
    /// Memoized step ids in completion order.
    #[serde(default)]
    pub stack: Stack,
    /// `"step"` (the step to run is in the `stepId` query parameter).
    #[serde(default)]
    pub step_id: String,
    /// Fetch events and steps from the API (the payload was too large to send).
    #[serde(default)]
    pub use_api: bool,
}

/// `ctx.stack`: the hashed ids of memoized steps in the order they finished.
#[derive(Debug, Clone, Default, PartialEq, Deserialize, Serialize)]
pub struct Stack {
    /// Hashed ids in completion order.
    #[serde(default)]
    pub stack: Vec<String>,
    /// Position (the number of ids).
    #[serde(default)]
    pub current: usize,
}

impl Stack {
    /// A stack of these ids, positioned at its end.
    pub fn new(stack: Vec<String>) -> Self {
        Self {
            current: stack.len(),
            stack,
        }
    }
}

/// A memoized step value, read the way the JS SDK reads it: an object that is exactly
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
    /// Reads a memo value.
    ///
    /// ```
    /// use inngest_protocol::Memo;
    /// use serde_json::json;
    /// assert_eq!(Memo::parse(&json!({"data": 1})), Memo::Data(json!(1)));
    /// assert_eq!(Memo::parse(&json!(null)), Memo::Data(json!(null)));
    /// ```
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

    /// Reads a memo value it owns, moving the inner value out instead of copying it.
    ///
    /// ```
    /// use inngest_protocol::Memo;
    /// use serde_json::json;
    /// assert_eq!(Memo::from_value(json!({"error": "x"})), Memo::Error(json!("x")));
    /// assert_eq!(Memo::from_value(json!({"data": 1, "b": 2})), Memo::Data(json!({"data": 1, "b": 2})));
    /// ```
    pub fn from_value(value: Value) -> Memo {
        match value {
            Value::Object(mut map) if map.len() == 1 => {
                if let Some(data) = map.remove("data") {
                    Memo::Data(data)
                } else if let Some(error) = map.remove("error") {
                    Memo::Error(error)
                } else if let Some(input) = map.remove("input") {
                    Memo::Input(input)
                } else {
                    Memo::Data(Value::Object(map))
                }
            }
            other => Memo::Data(other),
        }
    }

    /// The value stored for this memo: `{"data": X}`, `{"error": E}` or `{"input": I}`.
    pub fn to_value(&self) -> Value {
        let (key, inner) = match self {
            Memo::Data(value) => ("data", value),
            Memo::Error(value) => ("error", value),
            Memo::Input(value) => ("input", value),
        };
        let mut map = Map::with_capacity(1);
        map.insert(key.to_string(), inner.clone());
        Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn memo_parsing_follows_the_js_rule() {
        assert_eq!(
            Memo::parse(&json!({"error": {"message": "x"}})),
            Memo::Error(json!({"message": "x"}))
        );
        let event = json!({"data": {"a": 1}, "name": "x", "id": "1", "ts": 1, "user": {}});
        assert_eq!(Memo::parse(&event), Memo::Data(event.clone()));
        assert_eq!(Memo::Data(json!(2)).to_value(), json!({"data": 2}));
    }

    #[test]
    fn a_minimal_request_decodes_with_defaults() {
        let request: ExecutionRequest = serde_json::from_str(r#"{"ctx":{"run_id":"r1"}}"#).unwrap();
        assert_eq!(request.ctx.run_id, "r1");
        assert!(request.events.is_empty());
        assert_eq!(request.version, 0);
    }
}
