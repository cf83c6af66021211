//! Events: what triggers functions, what `step.sendEvent` and the Event API carry.

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::error::ErrorBody;

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

    /// The same event with another payload (e.g. the payload decoded, or encoded).
    pub fn with_data<U>(self, data: U) -> Event<U> {
        Event {
            name: self.name,
            data,
            id: self.id,
            ts: self.ts,
            v: self.v,
            user: self.user,
        }
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

/// A payload type tied to its event name, so the name is written once: at the type.
///
/// Derive it (`#[derive(EventPayload)]` with `#[event(name = "…")]`, from
/// `inngest_module`), then use the type where a name was written: as a trigger
/// (`#[on_event(OrderCreated)]`, or inferred from `Ctx<OrderCreated>`), as an event to send
/// (`inngest.send(OrderCreated { … })`), as what to wait for
/// (`WaitFor::<OrderShipped>::new()`). Strings keep working everywhere.
///
/// ```
/// use inngest_protocol::{Event, EventPayload};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize)]
/// struct OrderCreated { id: u64 }
/// impl EventPayload for OrderCreated { const NAME: &'static str = "order.created"; }
///
/// let event = Event::from(OrderCreated { id: 7 }).with_id("order-7");
/// assert_eq!(event.name, "order.created");
/// ```
#[diagnostic::on_unimplemented(
    message = "`{Self}` is not tied to an event name",
    label = "no event name for this type",
    note = "add `#[derive(EventPayload)]` and `#[event(name = \"…\")]` to `{Self}`, or name the event with a string"
)]
pub trait EventPayload: Serialize + DeserializeOwned {
    /// The event name, e.g. `order.created`.
    const NAME: &'static str;
}

impl<T: EventPayload> From<T> for Event<T> {
    fn from(data: T) -> Self {
        Event::new(T::NAME, data)
    }
}

/// One event or several, of one type or of many: what `InngestService::send` and
/// `Step::send_event` accept.
///
/// - an [`Event<T>`] (any serializable payload, any name);
/// - a payload whose type is an [`EventPayload`] (the name comes from the type);
/// - a `Vec` or an array of either;
/// - a tuple of any of these, for a fan-out of different kinds:
///   `(OrderShipped { … }, Event::new("audit.logged", json!({…})))`.
///
/// ```
/// use inngest_protocol::{Event, IntoEvents};
/// use serde_json::json;
/// let mut out = Vec::new();
/// (Event::new("a", json!({"n": 1})), vec![Event::new("b", 2), Event::new("b", 3)])
///     .append_to(&mut out)
///     .unwrap();
/// assert_eq!(out.len(), 3);
/// assert_eq!(out[2]["data"], 3);
/// ```
pub trait IntoEvents {
    /// Appends these events, as JSON, to `out`, in order. On an error, `out.len()` is the
    /// index of the event that could not be serialized.
    fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error>;

    /// These events as JSON, in order; on an error, the index of the event that could not
    /// be serialized.
    fn into_values(self) -> Result<Vec<Value>, (usize, serde_json::Error)>
    where
        Self: Sized,
    {
        let mut out = Vec::new();
        match self.append_to(&mut out) {
            Ok(()) => Ok(out),
            Err(error) => Err((out.len(), error)),
        }
    }
}

impl<T: Serialize> IntoEvents for Event<T> {
    fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error> {
        out.push(self.to_value()?);
        Ok(())
    }
}

impl<T: EventPayload> IntoEvents for T {
    fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error> {
        Event::from(self).append_to(out)
    }
}

impl<E: IntoEvents> IntoEvents for Vec<E> {
    fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error> {
        self.into_iter()
            .try_for_each(|events| events.append_to(out))
    }
}

impl<E: IntoEvents, const N: usize> IntoEvents for [E; N] {
    fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error> {
        self.into_iter()
            .try_for_each(|events| events.append_to(out))
    }
}

macro_rules! tuple_into_events {
    ($($name:ident),+) => {
        impl<$($name: IntoEvents),+> IntoEvents for ($($name,)+) {
            #[allow(non_snake_case)]
            fn append_to(self, out: &mut Vec<Value>) -> Result<(), serde_json::Error> {
                let ($($name,)+) = self;
                $($name.append_to(out)?;)+
                Ok(())
            }
        }
    };
}

tuple_into_events!(A, B);
tuple_into_events!(A, B, C);
tuple_into_events!(A, B, C, D);
tuple_into_events!(A, B, C, D, E);
tuple_into_events!(A, B, C, D, E, F);

/// The data of `inngest/function.failed`, which an `on_failure` handler receives:
/// `Ctx<FunctionFailed<OrderCreated>>`. `T` is the failed function's payload type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned", serialize = "T: Serialize"))]
pub struct FunctionFailed<T = Value> {
    /// Composite id (`<app_id>-<fn_id>`) of the function that failed.
    pub function_id: String,
    /// Its run id.
    pub run_id: String,
    /// The error it failed with.
    pub error: ErrorBody,
    /// Its triggering event (the first of a batch).
    pub event: Event<T>,
    /// Every event of its run.
    #[serde(default = "Vec::new")]
    pub events: Vec<Event<T>>,
}

impl<T: Serialize + DeserializeOwned> EventPayload for FunctionFailed<T> {
    const NAME: &'static str = "inngest/function.failed";
}

/// The data of `inngest/function.cancelled`, which an `on_cancel` handler receives:
/// `Ctx<FunctionCancelled<OrderCreated>>`. `T` is the cancelled function's payload type.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(bound(deserialize = "T: DeserializeOwned", serialize = "T: Serialize"))]
pub struct FunctionCancelled<T = Value> {
    /// Composite id (`<app_id>-<fn_id>`) of the function whose run was cancelled.
    pub function_id: String,
    /// The cancelled run's id.
    pub run_id: String,
    /// Its triggering event (the first of a batch).
    pub event: Event<T>,
    /// Every event of its run.
    #[serde(default = "Vec::new")]
    pub events: Vec<Event<T>>,
}

impl<T: Serialize + DeserializeOwned> EventPayload for FunctionCancelled<T> {
    const NAME: &'static str = "inngest/function.cancelled";
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

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    struct Shipped {
        order: u64,
    }
    impl EventPayload for Shipped {
        const NAME: &'static str = "order.shipped";
    }

    #[test]
    fn a_typed_payload_carries_its_name_into_every_send_shape() {
        let values = Shipped { order: 1 }.into_values().unwrap();
        assert_eq!(
            values,
            vec![json!({"name": "order.shipped", "data": {"order": 1}})]
        );
        let fan_out = (
            vec![Shipped { order: 2 }, Shipped { order: 3 }],
            Event::new("audit.logged", json!({"what": "shipped"})).with_id("a-1"),
            [Event::from(Shipped { order: 4 }).with_ts(9)],
        )
            .into_values()
            .unwrap();
        let names: Vec<&str> = fan_out
            .iter()
            .map(|e| e["name"].as_str().unwrap())
            .collect();
        assert_eq!(
            names,
            [
                "order.shipped",
                "order.shipped",
                "audit.logged",
                "order.shipped"
            ]
        );
        assert_eq!(fan_out[2]["id"], "a-1");
        assert_eq!(fan_out[3]["ts"], 9);
    }

    /// A payload serde refuses.
    struct Unserializable;
    impl Serialize for Unserializable {
        fn serialize<S: serde::Serializer>(&self, _: S) -> Result<S::Ok, S::Error> {
            Err(serde::ser::Error::custom("no"))
        }
    }

    #[test]
    fn the_event_that_cannot_be_serialized_is_named_by_its_index() {
        let (index, error) = (
            Event::new("a", 1),
            vec![Event::new("b", 2)],
            Event::new("c", Unserializable),
        )
            .into_values()
            .unwrap_err();
        assert_eq!(index, 2);
        assert_eq!(error.to_string(), "no");
    }

    #[test]
    fn failure_and_cancellation_payloads_decode_typed_as_the_server_sends_them() {
        // The shape of `inngest/function.failed` and `inngest/function.cancelled` in the
        // recordings (08-non-retriable-error, 13-cancellation), trimmed.
        let failed: FunctionFailed<Shipped> = serde_json::from_value(json!({
            "_inngest": {"status": "Failed"},
            "error": {"__serialized": true, "name": "NonRetriableError", "message": "bad", "stack": "NonRetriableError: bad"},
            "event": {"data": {"order": 5}, "id": "01", "name": "order.shipped", "ts": 1, "user": {}},
            "events": [{"data": {"order": 5}, "id": "01", "name": "order.shipped", "ts": 1}],
            "function_id": "shop-ship",
            "run_id": "01RUN"
        }))
        .unwrap();
        assert_eq!(failed.event.data, Shipped { order: 5 });
        assert_eq!(failed.error.message, "bad");
        assert_eq!(failed.events.len(), 1);
        let cancelled: FunctionCancelled = serde_json::from_value(json!({
            "_inngest": {"status": "Cancelled"},
            "event": {"data": {"id": "c-1"}, "name": "test/cancellable"},
            "events": [],
            "function_id": "js-peer-cancellable",
            "run_id": "01RUN"
        }))
        .unwrap();
        assert_eq!(cancelled.event.data["id"], "c-1");
        assert_eq!(
            <FunctionCancelled as EventPayload>::NAME,
            "inngest/function.cancelled"
        );
    }

    #[test]
    fn a_wire_event_round_trips() {
        let wire = json!({"data": {"x": 1}, "id": "01", "name": "a", "ts": 5, "user": {}});
        let event: Event = serde_json::from_value(wire.clone()).unwrap();
        assert_eq!(event.id_str(), "01");
        assert_eq!(serde_json::to_value(&event).unwrap(), wire);
    }
}
