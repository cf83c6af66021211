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

/// Property tests: any JSON value, at any position of a batch and at any clock reading, is
/// either completed into an event or refused with a reason that names the event and the
/// field; never a panic.
#[cfg(test)]
mod properties {
    #![allow(clippy::unwrap_used, clippy::expect_used)]

    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    use crate::test_support::proptest_config as config;

    /// Strings: short, long (around the 512-byte name limit), blank, multi-byte.
    fn text() -> BoxedStrategy<String> {
        prop_oneof![
            4 => "[a-z0-9./_-]{0,16}",
            1 => "\\PC{0,16}",
            1 => prop::sample::select(vec!["", " ", "\t\n", "\u{0}", "\u{a0}", "\u{3000}"]).prop_map(str::to_owned),
            1 => (500..520usize).prop_map(|n| "x".repeat(n)),
            1 => (250..260usize).prop_map(|n| "é".repeat(n)),
        ]
        .boxed()
    }

    /// Arbitrary JSON, numbers at the ends of their ranges included.
    fn json_value() -> BoxedStrategy<Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<u64>().prop_map(Value::from),
            any::<f64>().prop_map(Value::from),
            text().prop_map(Value::String),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
                prop::collection::vec(("[a-z]{1,4}", inner), 0..4)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
        .boxed()
    }

    /// `ts` values: integers at the ends of `i64`, beyond it, floats, strings, anything.
    fn timestamp() -> BoxedStrategy<Value> {
        prop_oneof![
            3 => any::<i64>().prop_map(Value::from),
            2 => prop::sample::select(vec![
                json!(i64::MIN), json!(i64::MAX), json!(i64::MAX as u64 + 1), json!(u64::MAX),
                json!(0), json!(-1), json!(1.0), json!(1.5), json!(1e300), json!(-0.0),
                json!(1_700_000_000_000.0), json!("1700000000000"), json!("now"), json!(null),
                json!([]), json!({}), json!(true),
            ]),
            1 => any::<f64>().prop_map(Value::from),
            1 => json_value(),
        ]
        .boxed()
    }

    /// An event object as a client may send it, each field present or not and of the
    /// right type or not; or, now and then, any JSON at all.
    fn incoming() -> BoxedStrategy<Value> {
        let field = |right: BoxedStrategy<Value>| {
            prop::option::weighted(0.8, prop_oneof![4 => right, 1 => json_value()])
        };
        let object = (
            field(text().prop_map(Value::String).boxed()),
            field(json_value()),
            field(text().prop_map(Value::String).boxed()),
            prop::option::weighted(0.8, timestamp()),
            field(text().prop_map(Value::String).boxed()),
            field(json_value()),
            prop::collection::vec(("[a-z]{1,6}", json_value()), 0..2),
        )
            .prop_map(|(name, data, id, ts, v, user, extra)| {
                let mut object: Map<String, Value> = extra.into_iter().collect();
                for (key, value) in [
                    ("name", name),
                    ("data", data),
                    ("id", id),
                    ("ts", ts),
                    ("v", v),
                    ("user", user),
                ] {
                    if let Some(value) = value {
                        object.insert(key.to_owned(), value);
                    }
                }
                Value::Object(object)
            });
        prop_oneof![5 => object, 1 => json_value()].boxed()
    }

    /// Clock readings, with the extremes.
    fn now() -> BoxedStrategy<i64> {
        prop_oneof![
            2 => any::<i64>(),
            1 => prop::sample::select(vec![i64::MIN, -1, 0, 1, i64::MAX]),
            2 => 1_600_000_000_000i64..2_000_000_000_000,
        ]
        .boxed()
    }

    proptest! {
        #![proptest_config(config(5000))]

        /// Any JSON value: `normalize` completes it (name kept, `data` and `user` objects,
        /// an id, `ts` as sent or now) or refuses it naming the event and saying how to fix
        /// it.
        #[test]
        fn any_incoming_event_is_completed_or_refused(
            event in incoming(),
            index in prop_oneof![0..100usize, Just(usize::MAX)],
            now in now(),
        ) {
            match normalize(index, event.clone(), now) {
                Ok(normalized) => {
                    prop_assert_eq!(Some(normalized.name.as_str()), event["name"].as_str());
                    prop_assert!(!normalized.name.trim().is_empty() && normalized.name.len() <= MAX_NAME);
                    prop_assert!(normalized.data.is_object());
                    prop_assert!(normalized.user.as_ref().is_some_and(Value::is_object));
                    prop_assert!(!normalized.id_str().is_empty());
                    let expected_ts = match &event["ts"] {
                        Value::Null => now,
                        ts => ts.as_i64().unwrap(),
                    };
                    prop_assert_eq!(normalized.ts, Some(expected_ts));
                    prop_assert!(serde_json::to_value(&normalized).is_ok());
                }
                Err(ExecutorError::InvalidEvent { index: at, reason }) => {
                    prop_assert_eq!(at, index);
                    let shown = ExecutorError::InvalidEvent { index: at, reason: reason.clone() }.to_string();
                    prop_assert!(shown.starts_with(&format!("event {index}: ")), "{}", shown);
                    prop_assert!(
                        ["JSON object", "`name`", "`data`", "`id`", "`ts`", "`v`"]
                            .iter()
                            .any(|field| reason.contains(field)),
                        "{}",
                        reason
                    );
                }
                Err(other) => prop_assert!(false, "unexpected {:?}", other),
            }
        }
    }
}
