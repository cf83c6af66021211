//! Ops: what an SDK answers (`206`) when a function did not finish in one request — a step
//! that ran, a step to plan, a sleep, a wait, an invoke.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorBody;

/// Opcodes as they travel on the wire.
///
/// An opcode this crate does not know (a newer SDK's) is kept as [`Opcode::Other`], so
/// the answer still decodes and the receiver can say which op it does not support.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
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
    /// The function finished (checkpointing); `data` is its result.
    RunComplete,
    /// An opcode not known here, by name.
    #[serde(untagged)]
    Other(String),
}

impl Opcode {
    /// The wire name.
    pub fn as_str(&self) -> &str {
        match self {
            Opcode::Other(name) => name,
            known => known.static_name().unwrap_or_default(),
        }
    }

    /// The wire name of a known opcode (`None` for [`Opcode::Other`]).
    pub fn static_name(&self) -> Option<&'static str> {
        Some(match self {
            Opcode::StepRun => "StepRun",
            Opcode::StepError => "StepError",
            Opcode::StepFailed => "StepFailed",
            Opcode::StepPlanned => "StepPlanned",
            Opcode::Sleep => "Sleep",
            Opcode::WaitForEvent => "WaitForEvent",
            Opcode::InvokeFunction => "InvokeFunction",
            Opcode::RunComplete => "RunComplete",
            Opcode::Other(_) => return None,
        })
    }
}

impl std::fmt::Display for Opcode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `userland` of an op: the user's step id and its repeat index (omitted when 0).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Userland {
    /// The id the user wrote.
    #[serde(default)]
    pub id: String,
    /// Repeat index; omitted for the first use.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index: Option<usize>,
}

/// `opts` of an op. Which fields are set depends on the opcode; fields this crate does not
/// know are kept in `other`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OpOptions {
    /// The kind of a run step (`"step.sendEvent"`).
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// `Sleep`: the duration or RFC 3339 time (some SDKs; others put it in the op's `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration: Option<String>,
    /// `WaitForEvent`: the event name (some SDKs; others put it in the op's `name`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// `WaitForEvent` and `InvokeFunction`: how long before giving up.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout: Option<String>,
    /// `WaitForEvent`: the CEL match (`event` = the trigger, `async` = the candidate).
    #[serde(rename = "if", default, skip_serializing_if = "Option::is_none")]
    pub condition: Option<String>,
    /// `InvokeFunction`: the composite id of the function to invoke.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_id: Option<String>,
    /// `InvokeFunction`: the invoked run's event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payload: Option<InvokePayload>,
    /// Fields not listed above, kept as sent.
    #[serde(flatten)]
    pub other: Map<String, Value>,
}

/// `opts.payload` of an `InvokeFunction` op.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct InvokePayload {
    /// The invoked run's event data (an object).
    #[serde(default)]
    pub data: Value,
    /// The deprecated user object.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
    /// The payload version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
}

/// One op in a `206` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Op {
    /// Hashed step id.
    pub id: String,
    /// What happened or is requested.
    pub op: Opcode,
    /// Legacy name; carries the sleep duration or the waited event name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The user's step id.
    #[serde(rename = "displayName", default)]
    pub display_name: String,
    /// Op options.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub opts: Option<OpOptions>,
    /// Where the step came from in user code.
    #[serde(default)]
    pub userland: Userland,
    /// The step's result; `null` where the server expects it.
    #[serde(default, skip_serializing_if = "OpData::is_absent")]
    pub data: OpData,
    /// The step's error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorBody>,
    /// Start (unix ns) and duration (ns) of an executed step.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timing: Option<Timing>,
}

impl Op {
    /// The options, or empty ones.
    pub fn options(&self) -> OpOptions {
        self.opts.clone().unwrap_or_default()
    }

    /// The user's step id: `displayName`, else `userland.id`, else `name`, else the hash.
    pub fn step_name(&self) -> &str {
        [
            self.display_name.as_str(),
            self.userland.id.as_str(),
            self.name.as_deref().unwrap_or_default(),
        ]
        .into_iter()
        .find(|name| !name.is_empty())
        .unwrap_or(&self.id)
    }

    /// `Sleep`: the duration or time to sleep until (`opts.duration`, else `name`).
    pub fn sleep_spec(&self) -> Option<&str> {
        self.opts
            .as_ref()
            .and_then(|o| o.duration.as_deref())
            .or(self.name.as_deref())
            .filter(|spec| !spec.is_empty())
    }

    /// `WaitForEvent`: the event to wait for (`opts.event`, else `name`).
    pub fn wait_event(&self) -> Option<&str> {
        self.opts
            .as_ref()
            .and_then(|o| o.event.as_deref())
            .filter(|event| !event.is_empty())
            .or(self.name.as_deref())
            .filter(|event| !event.is_empty())
    }
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
    /// `true` when the field is not sent.
    pub fn is_absent(&self) -> bool {
        matches!(self, OpData::Absent)
    }

    /// The data as a JSON value (`null` when absent).
    pub fn to_value(&self) -> Value {
        match self {
            OpData::Absent | OpData::Null => Value::Null,
            OpData::Value(value) => value.clone(),
        }
    }

    /// The data as a JSON value (`null` when absent), without a copy.
    pub fn into_value(self) -> Value {
        match self {
            OpData::Absent | OpData::Null => Value::Null,
            OpData::Value(value) => value,
        }
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

/// Why a `206` body could not be read as ops.
#[derive(Debug, thiserror::Error)]
pub enum OpsError {
    /// The body is not JSON.
    #[error("the body is not JSON: {0}")]
    NotJson(serde_json::Error),
    /// The body is JSON but neither an op nor an array of ops.
    #[error("a 206 body must be an array of ops, got {0}")]
    NotOps(String),
    /// An op does not have the expected shape.
    #[error("op {index} is malformed: {source}")]
    Malformed {
        /// Position in the array.
        index: usize,
        /// What is wrong.
        source: serde_json::Error,
    },
}

/// Reads a `206` body: an array of ops (a single op object is accepted too, as the server
/// does). Each error names the op that does not fit.
pub fn decode_ops(body: &[u8]) -> Result<Vec<Op>, OpsError> {
    match serde_json::from_slice::<Value>(body).map_err(OpsError::NotJson)? {
        Value::Array(items) => items
            .into_iter()
            .enumerate()
            .map(|(index, item)| {
                serde_json::from_value(item).map_err(|source| OpsError::Malformed { index, source })
            })
            .collect(),
        item @ Value::Object(_) => serde_json::from_value(item)
            .map(|op| vec![op])
            .map_err(|source| OpsError::Malformed { index: 0, source }),
        other => {
            let mut shown = other.to_string();
            // At most 200 bytes, cut on a character boundary: a string of multi-byte
            // characters must not be cut inside one.
            shown.truncate(shown.floor_char_boundary(200));
            Err(OpsError::NotOps(shown))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

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
        assert!(value.as_object().unwrap().contains_key("data"));
        let absent = Op {
            data: OpData::Absent,
            ..op
        };
        let value = serde_json::to_value(&absent).unwrap();
        assert!(!value.as_object().unwrap().contains_key("data"));
    }

    #[test]
    fn unknown_opcodes_keep_their_name() {
        let op: Op = serde_json::from_value(json!({"id": "h", "op": "AIGateway"})).unwrap();
        assert_eq!(op.op, Opcode::Other("AIGateway".into()));
        assert_eq!(op.op.as_str(), "AIGateway");
        assert_eq!(op.step_name(), "h");
        assert_eq!(serde_json::to_value(&op.op).unwrap(), json!("AIGateway"));
        let known: Opcode = serde_json::from_value(json!("RunComplete")).unwrap();
        assert_eq!(known, Opcode::RunComplete);
    }

    #[test]
    fn sleep_and_wait_read_options_or_name() {
        let sleep: Op =
            serde_json::from_value(json!({"id": "h", "op": "Sleep", "name": "1s"})).unwrap();
        assert_eq!(sleep.sleep_spec(), Some("1s"));
        let go: Op = serde_json::from_value(
            json!({"id": "h", "op": "WaitForEvent", "name": "w", "opts": {"event": "a/b"}}),
        )
        .unwrap();
        assert_eq!(go.wait_event(), Some("a/b"));
        let one = decode_ops(br#"{"id": "h", "op": "StepPlanned"}"#).unwrap();
        assert_eq!(one.len(), 1);
        let error = decode_ops(br#"[{"id": "h", "op": "Sleep"}, {"op": 3}]"#).unwrap_err();
        assert!(
            error.to_string().starts_with("op 1 is malformed"),
            "{error}"
        );
        assert!(matches!(decode_ops(b"7"), Err(OpsError::NotOps(_))));
    }

    #[test]
    fn a_long_multi_byte_string_is_shown_cut_on_a_character_boundary() {
        // `"` then 150 two-byte characters: byte 200 falls inside one.
        let body = format!("\"{}\"", "é".repeat(150));
        let Err(OpsError::NotOps(shown)) = decode_ops(body.as_bytes()) else {
            panic!("a string is not ops");
        };
        assert_eq!(shown.len(), 199);
        assert!(body.starts_with(&shown));
        let error = OpsError::NotOps(shown).to_string();
        assert!(
            error.starts_with("a 206 body must be an array of ops, got \"é"),
            "{error}"
        );
    }
}
