//! Events: what triggers functions, what `step.sendEvent` and the Event API carry.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// An Inngest event. `T` is the payload type (`serde_json::Value` when untyped).
///
/// On the wire an event is `{name, data, id, ts, user, v}`; only `name` is required when
/// sending, and the server fills `id` and `ts`.
///
/// ```
/// use inngest_protocol::Event;
/// use serde_json::json;
/// let event = Event::new("order.created", json!({"id": 42})).with_id("order-42");
/// assert_eq!(event.name, "order.created");
/// assert_eq!(event.to_value().unwrap()["id"], "order-42");
/// ```
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Event<T = Value> {
    /// The event name, e.g. `order.created`.
    #[serde(default)]
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

    /// The id, or `""` when unset.
    pub fn id_str(&self) -> &str {
        self.id.as_deref().unwrap_or_default()
    }
}

impl<T: Serialize> Event<T> {
    /// The event as JSON, with `data` an object (`{}` for a unit payload).
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        let mut value = serde_json::to_value(self)?;
        if let Some(data) = value.get_mut("data")
            && data.is_null()
        {
            *data = Value::Object(Map::new());
        }
        Ok(value)
    }
}

/// The Event API's answer to `POST /e/{key}`: the ids of the accepted events, in order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct SendEventsResponse {
    /// Ids of the accepted events (empty when the request was refused).
    #[serde(default)]
    pub ids: Vec<String>,
    /// The HTTP status, repeated in the body.
    pub status: u16,
    /// Why the request was refused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn unit_payload_becomes_an_empty_object() {
        let value = Event::new("a", ()).to_value().unwrap();
        assert_eq!(value, json!({"name": "a", "data": {}}));
    }

    #[test]
    fn a_wire_event_round_trips() {
        let wire = json!({"data": {"x": 1}, "id": "01", "name": "a", "ts": 5, "user": {}});
        let event: Event = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(event.id_str(), "01");
        assert_eq!(serde_json::to_value(&event).unwrap(), wire);
    }
}
