//! What a function's code receives and how it is called: the raw input the engine gives a
//! handler, the typed [`Ctx`] it is decoded into (payloads decoded once, straight from the
//! JSON text they arrived in), and the function's middleware around it.

use std::future::Future;
use std::sync::Arc;

use futures_util::FutureExt;
use futures_util::future::BoxFuture;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::error::Error;
use crate::event::Event;
use crate::hooks::RunInfo;
use crate::middleware::{MiddlewareFuture, MiddlewareList, Next};
use crate::step::Step;

/// What a function receives: its event(s), the step tools and the run's identity.
pub struct Ctx<T = Value> {
    /// The triggering event (the first of a batch).
    pub event: Event<T>,
    /// The step tools.
    pub step: Step,
    /// The run id.
    pub run_id: String,
    /// The attempt, from 0.
    pub attempt: u32,
    /// Every event of the run as it arrived; [`Ctx::events`] decodes them on demand, so a
    /// function that reads only `event` decodes one payload per request.
    batch: Vec<RawEvent>,
    /// The data field where senders put their trace context (`inngest.tracing`).
    context_field: Option<Arc<str>>,
}

impl<T: DeserializeOwned> Ctx<T> {
    /// Every event of the run, decoded as `T`: more than one for batch functions, whose
    /// first event is also [`Ctx::event`]. Decoded on each call, so call it once.
    ///
    /// A payload that does not fit `T` is a non-retriable error naming the event and the
    /// field, as for `event` (which is checked before the function starts).
    ///
    /// ```no_run
    /// # async fn f(ctx: inngest_module::Ctx<serde_json::Value>) -> inngest_module::Result<usize> {
    /// let batch = ctx.events()?;
    /// Ok(batch.len())
    /// # }
    /// ```
    pub fn events(&self) -> Result<Vec<Event<T>>, Error> {
        self.batch
            .iter()
            .enumerate()
            .map(|(index, raw)| {
                typed_event(raw, self.context_field.as_deref(), || {
                    describe_event(index, raw)
                })
            })
            .collect()
    }

    /// How many events the run has (more than one for batch functions), without decoding
    /// them.
    pub fn event_count(&self) -> usize {
        self.batch.len()
    }
}

/// How an error names the event at `index` of a run.
fn describe_event(index: usize, raw: &RawEvent) -> String {
    if index == 0 {
        format!("event `{}`", raw.name)
    } else {
        format!("event {index} (`{}`)", raw.name)
    }
}

/// An event as the serve handler reads it: the envelope decoded, the payload kept as the
/// JSON text it arrived in, decoded once, straight into the handler's type.
pub(crate) type RawEvent = Event<Box<serde_json::value::RawValue>>;

/// The raw input the engine gives a handler.
pub(crate) struct RawInput {
    pub events: Vec<RawEvent>,
    /// The data field where senders put their trace context, dropped from data that does
    /// not fit the handler's type with it.
    pub context_field: Option<Arc<str>>,
    pub step: Step,
    pub run_id: String,
    pub attempt: u32,
}

pub(crate) type Handler =
    Arc<dyn Fn(RawInput) -> BoxFuture<'static, Result<Value, Error>> + Send + Sync>;

pub(crate) fn typed_handler<T, R, F, Fut>(handler: F) -> Handler
where
    T: DeserializeOwned + Send + 'static,
    R: Serialize,
    F: Fn(Ctx<T>) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<R, Error>> + Send + 'static,
{
    let handler = Arc::new(handler);
    Arc::new(move |input: RawInput| {
        let handler = Arc::clone(&handler);
        async move {
            // The first event is decoded before the function starts; the others only if
            // it asks for them (`Ctx::events`).
            let first = input
                .events
                .first()
                .ok_or_else(|| Error::non_retriable("the request carries no event"))?;
            let context_field = input.context_field;
            let event: Event<T> =
                typed_event(first, context_field.as_deref(), || describe_event(0, first))?;
            let ctx = Ctx {
                event,
                step: input.step,
                run_id: input.run_id,
                attempt: input.attempt,
                batch: input.events,
                context_field,
            };
            let output = handler(ctx).await?;
            serde_json::to_value(output).map_err(|e| {
                Error::non_retriable(format!("the function's result cannot be serialized: {e}"))
            })
        }
        .boxed()
    })
}

/// An event with its data decoded as `T`; a payload that does not fit is a non-retriable
/// error naming the field.
///
/// A sender with tracing on adds its trace context to the data (`context_field`). That
/// field is not part of the payload: when the data does not fit `T` with it (a type with
/// `#[serde(deny_unknown_fields)]`), it is decoded again without it.
fn typed_event<T: DeserializeOwned>(
    raw: &RawEvent,
    context_field: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<Event<T>, Error> {
    let data: T = match serde_json::from_str(raw.data.get()) {
        Ok(data) => data,
        // Only a payload that does not fit pays for the second look.
        Err(_) => decode_slowly(raw, context_field, what)?,
    };
    Ok(Event {
        name: raw.name.clone(),
        data,
        id: raw.id.clone(),
        ts: raw.ts,
        v: raw.v.clone(),
        user: raw.user.clone(),
    })
}

/// Decodes data that did not fit at first: without the trace-context field, and else
/// locating the field that does not fit.
fn decode_slowly<T: DeserializeOwned>(
    raw: &RawEvent,
    context_field: Option<&str>,
    what: impl FnOnce() -> String,
) -> Result<T, Error> {
    let mut value: Value = match serde_json::from_str(raw.data.get()) {
        Ok(value) => value,
        Err(error) => {
            return Err(Error::non_retriable(format!(
                "{} is not JSON: {error}",
                what()
            )));
        }
    };
    if let (Some(field), Value::Object(map)) = (context_field, &mut value)
        && map.remove(field).is_some()
        && let Ok(data) = T::deserialize(&value)
    {
        return Ok(data);
    }
    Err(misfit::<T>(&value, what))
}

/// The error for data that does not fit `T`, naming the field.
fn misfit<T: DeserializeOwned>(value: &Value, what: impl FnOnce() -> String) -> Error {
    match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(_) => Error::non_retriable(format!("{} could not be decoded", what())),
        Err(error) => {
            let path = error.path().to_string();
            let at = if path == "." {
                "data".to_string()
            } else {
                format!("data.{path}")
            };
            Error::non_retriable(format!(
                "{} does not fit the expected type at `{at}`: {}",
                what(),
                error.into_inner()
            ))
        }
    }
}

/// `handler` with `middleware` around it (input transform, then `wrap_run`), and the step
/// tools it gets wrapped by `wrap_step`.
pub(crate) fn around_handler(handler: Handler, middleware: MiddlewareList) -> Handler {
    Arc::new(move |mut input: RawInput| {
        let handler = Arc::clone(&handler);
        let middleware = Arc::clone(&middleware);
        Box::pin(async move {
            let context = input.step.run_context();
            let run = &context.info;
            input.events = transformed(&middleware, run, input.events)?;
            input.step = input.step.with_middleware(Arc::clone(&middleware));
            let mut next: MiddlewareFuture<'_> = handler(input);
            for layer in middleware.iter().rev() {
                next = layer.wrap_run(run, Next::new(next));
            }
            next.await
        })
    })
}

/// The events after every middleware's `transform_input`.
fn transformed(
    middleware: &MiddlewareList,
    run: &RunInfo,
    raw: Vec<RawEvent>,
) -> Result<Vec<RawEvent>, Error> {
    let mut events = raw
        .into_iter()
        .map(|event| {
            let data: Value = serde_json::from_str(event.data.get()).map_err(|error| {
                Error::non_retriable(format!("event `{}` is not JSON: {error}", event.name))
            })?;
            Ok(event.with_data(data))
        })
        .collect::<Result<Vec<Event>, Error>>()?;
    for layer in middleware.iter() {
        layer.transform_input(run, &mut events)?;
    }
    events
        .into_iter()
        .map(|event| {
            let data = RawValue::from_string(event.data.to_string()).map_err(|error| {
                Error::non_retriable(format!(
                    "event `{}` changed by middleware is not JSON: {error}",
                    event.name
                ))
            })?;
            Ok(event.with_data(data))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    struct Order {
        count: u32,
    }

    fn raw(data: &str) -> RawEvent {
        let text = format!(r#"{{"name":"order.created","data":{data},"id":"e1"}}"#);
        serde_json::from_str(&text).expect("an event")
    }

    #[test]
    fn a_payload_is_decoded_from_its_text_into_the_handlers_type() {
        let event: Event<Order> =
            typed_event(&raw(r#"{"count":3}"#), None, String::new).expect("fits");
        assert_eq!(
            (event.data.count, event.name.as_str()),
            (3, "order.created")
        );
        assert_eq!(event.id.as_deref(), Some("e1"));
    }

    #[test]
    fn a_payload_that_does_not_fit_names_the_field() {
        let error = typed_event::<Order>(&raw(r#"{"count":"three"}"#), None, || {
            "event `order.created`".into()
        })
        .expect_err("does not fit");
        assert_eq!(
            error.to_string(),
            "NonRetriableError: event `order.created` does not fit the expected type at `data.count`: invalid type: string \"three\", expected u32"
        );
        let error =
            typed_event::<Order>(&raw("{}"), None, || "the event".into()).expect_err("missing");
        assert!(
            error.to_string().contains(
                "the event does not fit the expected type at `data`: missing field `count`"
            ),
            "{error}"
        );
    }

    /// A strict payload type.
    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Strict {
        count: u32,
    }

    #[test]
    fn a_senders_trace_context_does_not_break_a_strict_payload_type() {
        let traced = raw(
            r#"{"count":3,"traceContext":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#,
        );
        let event: Event<Strict> =
            typed_event(&traced, Some("traceContext"), String::new).expect("fits without it");
        assert_eq!(event.data.count, 3);
        // Without the field's name it is an unknown field, as serde says.
        let error =
            typed_event::<Strict>(&traced, None, || "the event".into()).expect_err("strict");
        assert!(
            error.to_string().contains("unknown field `traceContext`"),
            "{error}"
        );
        // Another unknown field is still reported, by name, once the context is gone.
        let other = raw(r#"{"count":3,"traceContext":{},"colour":"red"}"#);
        let error = typed_event::<Strict>(&other, Some("traceContext"), || "the event".into())
            .expect_err("still strict");
        assert!(
            error.to_string().contains("unknown field `colour`"),
            "{error}"
        );
    }
}
