//! Events as the Event API receives them: checked one by one (every problem names the event
//! and says how to fix it) and completed with `id`, `ts`, `data` and `user`.

use inngest_protocol::Event;
use serde_json::{Map, Value};

use crate::error::ExecutorError;
use crate::ids::new_id;

/// Longest event name, in bytes.
const MAX_NAME: usize = 512;

/// Checks an incoming event and fills `id`, `ts`, `data` and `user`.
pub(crate) fn normalize(index: usize, event: Value, now: i64) -> Result<Event, ExecutorError> {
    let invalid = |reason: &str| ExecutorError::InvalidEvent {
        index,
        reason: reason.to_string(),
    };
    let Value::Object(mut object) = event else {
        return Err(invalid(
            "an event must be a JSON object like {\"name\": \"shop/order.created\", \"data\": {}}",
        ));
    };
    let name = match object.remove("name") {
        Some(Value::String(name)) if name.len() > MAX_NAME => {
            return Err(invalid("`name` is longer than 512 bytes"));
        }
        Some(Value::String(name)) if !name.trim().is_empty() => name,
        _ => return Err(invalid("`name` is required and must be a non-empty string")),
    };
    let data = match object.remove("data") {
        None | Some(Value::Null) => Value::Object(Map::new()),
        Some(data @ Value::Object(_)) => data,
        Some(_) => return Err(invalid("`data` must be a JSON object")),
    };
    let id = match object.remove("id") {
        Some(Value::String(id)) if !id.is_empty() => id,
        None | Some(Value::Null) | Some(Value::String(_)) => new_id(now),
        Some(_) => return Err(invalid("`id` must be a string")),
    };
    let ts = match object.remove("ts") {
        Some(Value::Number(n)) if n.as_i64().is_some() => n.as_i64().unwrap_or(now),
        None | Some(Value::Null) => now,
        Some(_) => return Err(invalid("`ts` must be milliseconds since the Unix epoch")),
    };
    let v = match object.remove("v") {
        Some(Value::String(v)) => Some(v),
        None | Some(Value::Null) => None,
        Some(_) => return Err(invalid("`v` must be a string")),
    };
    let user = match object.remove("user") {
        Some(user @ Value::Object(_)) => user,
        _ => Value::Object(Map::new()),
    };
    Ok(Event {
        name,
        data,
        id: Some(id),
        ts: Some(ts),
        v,
        user: Some(user),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_completed_or_rejected_with_reasons() {
        let event = normalize(0, json!({"name": "a"}), 5).unwrap();
        assert_eq!(event.data, json!({}));
        assert_eq!(event.ts, Some(5));
        assert_eq!(event.user, Some(json!({})));
        assert_eq!(event.id.as_deref().map(str::len), Some(26));
        let kept = normalize(0, json!({"name": "a", "id": "order-1", "ts": 9}), 5).unwrap();
        assert_eq!((kept.id_str(), kept.ts), ("order-1", Some(9)));
        for (bad, reason) in [
            (json!([]), "JSON object"),
            (json!({"data": {}}), "`name` is required"),
            (json!({"name": ""}), "`name` is required"),
            (json!({"name": "a", "data": 3}), "`data` must be"),
            (json!({"name": "a", "ts": "now"}), "`ts` must be"),
            (json!({"name": "a", "id": 3}), "`id` must be"),
            (json!({"name": "x".repeat(513)}), "longer than 512"),
        ] {
            let error = normalize(2, bad, 0).err().map(|e| e.to_string());
            assert!(
                error
                    .as_deref()
                    .is_some_and(|e| e.contains(reason) && e.starts_with("event 2")),
                "{error:?}"
            );
        }
    }
}
