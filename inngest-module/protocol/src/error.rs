//! Error bodies: `{name, message, stack}` plus whatever else the SDK adds (`cause`,
//! `__serialized`, …).

use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

/// An error as the protocol carries it: in a `StepError`/`StepFailed` op, in a failed
/// function's 400/500 answer, in a memoized step error and in `inngest/function.failed`.
///
/// Decoding is lenient: an error that is not an object (a bare string, a number) becomes
/// the message of an `Error`, so one odd SDK cannot make a whole answer unreadable.
///
/// ```
/// use inngest_protocol::ErrorBody;
/// let error = ErrorBody::new("NonRetriableError", "card declined");
/// let value = serde_json::to_value(&error).unwrap();
/// assert_eq!(value["__serialized"], true);
/// assert!(value.get("stack").is_none(), "no made-up stack");
/// let odd: ErrorBody = serde_json::from_str("\"boom\"").unwrap();
/// assert_eq!((odd.name.as_str(), odd.message.as_str()), ("Error", "boom"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ErrorBody {
    /// The error's name (`Error`, `NonRetriableError`, …).
    pub name: String,
    /// The message.
    pub message: String,
    /// A stack trace, when the sender had one (inngest-js does; this SDK does not).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stack: Option<String>,
    /// Every other field, kept as sent (`cause`, `__serialized`, `data`, …).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

impl ErrorBody {
    /// An error with this name and message, marked `__serialized: true` as inngest-js marks
    /// the errors it serializes (recordings 07–09). No stack: a Rust error has none to
    /// give, and a made-up one-line stack would only repeat the message.
    pub fn new(name: impl Into<String>, message: impl Into<String>) -> Self {
        let mut extra = Map::new();
        extra.insert("__serialized".into(), Value::Bool(true));
        Self {
            name: name.into(),
            message: message.into(),
            stack: None,
            extra,
        }
    }

    /// Adds the error that caused this one, as `cause`.
    pub fn with_cause(mut self, cause: ErrorBody) -> Self {
        if let Ok(value) = serde_json::to_value(cause) {
            self.extra.insert("cause".into(), value);
        }
        self
    }

    /// The error as a JSON value.
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// Reads an error from any JSON value (see the type's lenient rule).
    pub fn from_value(value: Value) -> Self {
        match value {
            Value::Object(mut map) => {
                let mut text = |key: &str| match map.remove(key) {
                    Some(Value::String(text)) => Some(text),
                    Some(Value::Null) | None => None,
                    Some(other) => Some(other.to_string()),
                };
                let name = text("name").unwrap_or_else(|| "Error".into());
                let message = text("message").unwrap_or_default();
                let stack = text("stack");
                Self {
                    name,
                    message,
                    stack,
                    extra: map,
                }
            }
            Value::String(message) => Self::new("Error", message),
            Value::Null => Self::new("Error", ""),
            other => Self::new("Error", other.to_string()),
        }
    }
}

impl<'de> Deserialize<'de> for ErrorBody {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Value::deserialize(deserializer).map(ErrorBody::from_value)
    }
}

impl std::fmt::Display for ErrorBody {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_js_error_round_trips_with_its_extra_fields() {
        let js = json!({"__serialized": true, "name": "NonRetriableError", "message": "no",
                        "stack": "NonRetriableError: no\n at x", "cause": {"name": "Error", "message": "why"}});
        let error: ErrorBody = serde_json::from_value(js.clone()).unwrap();
        assert_eq!(error.name, "NonRetriableError");
        assert_eq!(error.to_value(), js);
    }

    #[test]
    fn a_cause_is_nested() {
        let error = ErrorBody::new("NonRetriableError", "fatal")
            .with_cause(ErrorBody::new("Error", "root"));
        assert_eq!(error.to_value()["cause"]["message"], "root");
    }
}
