//! Events: what triggers functions and what [`InngestService::send`](crate::InngestService::send) sends.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

/// An Inngest event. `T` is the payload type (`serde_json::Value` when untyped).
///
/// ```
/// use inngest_module::Event;
/// use serde_json::json;
/// let event = Event::new("order.created", json!({"id": 42})).with_id("order-42");
/// assert_eq!(event.name, "order.created");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<T = Value> {
    /// The event name, e.g. `order.created`.
    pub name: String,
    /// The payload.
    pub data: T,
    /// The event id; when sending, an idempotency key (the server drops a repeat in 24 h).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    /// Milliseconds since the Unix epoch; filled in on send when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ts: Option<i64>,
    /// Schema version of the payload.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub v: Option<String>,
    /// Deprecated user object; kept for the wire.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<Value>,
}

impl<T> Event<T> {
    /// An event with a name and a payload.
    pub fn new(name: impl Into<String>, data: T) -> Self {
        Self {
            name: name.into(),
            data,
            id: None,
            ts: None,
            v: None,
            user: None,
        }
    }

    /// Sets the idempotency id.
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the timestamp (ms since the epoch).
    pub fn with_ts(mut self, ts: i64) -> Self {
        self.ts = Some(ts);
        self
    }

    /// Sets the payload version.
    pub fn with_version(mut self, v: impl Into<String>) -> Self {
        self.v = Some(v.into());
        self
    }
}

impl<T: Serialize> Event<T> {
    /// The event as JSON, with `data` an object (`{}` for a unit payload).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let Some(data) = value.get_mut("data")
            && data.is_null()
        {
            *data = json!({});
        }
        Ok(value)
    }
}

/// Decodes an event payload, naming the field that does not fit.
pub(crate) fn decode<T: DeserializeOwned>(value: &Value, what: &str) -> Result<T, String> {
    serde_path_to_error::deserialize(value).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if path == "." {
            format!("{what} does not fit the expected type: {inner}")
        } else {
            format!("{what} does not fit the expected type at `{path}`: {inner}")
        }
    })
}

/// The milliseconds since the Unix epoch, now.
pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// One event or several: what [`InngestService::send`](crate::InngestService::send) and
/// [`Step::send_event`](crate::Step::send_event) accept.
pub trait IntoEvents<T> {
    /// The events, in order.
    fn into_events(self) -> Vec<Event<T>>;
}

impl<T> IntoEvents<T> for Event<T> {
    fn into_events(self) -> Vec<Event<T>> {
        vec![self]
    }
}

impl<T> IntoEvents<T> for Vec<Event<T>> {
    fn into_events(self) -> Vec<Event<T>> {
        self
    }
}

impl<T, const N: usize> IntoEvents<T> for [Event<T>; N] {
    fn into_events(self) -> Vec<Event<T>> {
        self.into_iter().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Order {
        id: u64,
        lines: Vec<Line>,
    }
    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Line {
        qty: u32,
    }

    #[test]
    fn decode_names_the_field_that_does_not_fit() {
        let bad = json!({"id": 1, "lines": [{"qty": 1}, {"qty": "two"}]});
        let message = decode::<Order>(&bad, "event `order.created` data").unwrap_err();
        assert!(message.contains("at `lines[1].qty`"), "{message}");
        assert!(decode::<Order>(&json!({"id": 1, "lines": []}), "x").is_ok());
    }

    #[test]
    fn unit_payload_becomes_an_empty_object() {
        let value = Event::new("a", ()).to_value().unwrap();
        assert_eq!(value, json!({"name": "a", "data": {}}));
    }
}
