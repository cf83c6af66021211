//! W3C propagation for runs (feature `telemetry`): the parent of a run's span, and the
//! context written into sent events.

use axum::http::HeaderMap;
use opentelemetry::Context;
use opentelemetry::trace::{SpanContext, SpanId, TraceContextExt, TraceFlags, TraceId, TraceState};
use serde_json::{Map, Value, json};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::TraceSettings;
use crate::hooks::RunInfo;
use crate::options::ExecutorTraceparent;

/// The context an event's data carries in `<field>`: the W3C shape
/// `{traceparent, tracestate}` or the nestjs-inngest shape `{traceId, spanId, traceFlags}`.
pub(crate) fn event_context(data: &Value, field: &str) -> Option<Context> {
    let carried = data.get(field)?.as_object()?;
    let context = if let Some(parent) = carried.get("traceparent").and_then(Value::as_str) {
        framework::telemetry::extract_w3c(parent, carried.get("tracestate").and_then(Value::as_str))
    } else {
        let trace_id = TraceId::from_hex(carried.get("traceId")?.as_str()?).ok()?;
        let span_id = SpanId::from_hex(carried.get("spanId")?.as_str()?).ok()?;
        let flags = match carried.get("traceFlags") {
            Some(Value::Number(n)) => u8::try_from(n.as_u64()?).ok()?,
            Some(Value::String(s)) => u8::from_str_radix(s.trim_start_matches("0x"), 16).ok()?,
            _ => 1,
        };
        let span = SpanContext::new(
            trace_id,
            span_id,
            TraceFlags::new(flags),
            true,
            TraceState::default(),
        );
        Context::new().with_remote_span_context(span)
    };
    context.span().span_context().is_valid().then_some(context)
}

fn header_context(headers: &HeaderMap) -> Option<Context> {
    let parent = headers.get("traceparent")?.to_str().ok()?;
    let state = headers.get("tracestate").and_then(|v| v.to_str().ok());
    let context = framework::telemetry::extract_w3c(parent, state);
    context.span().span_context().is_valid().then_some(context)
}

/// The span of one execution request. Parent: the producer's context from the event;
/// the executor's `traceparent` is a link, or the parent when the event has none and
/// `executor_traceparent = "parent"`.
pub(crate) fn run_span(
    settings: &TraceSettings,
    run: &RunInfo,
    event_data: &Value,
    headers: &HeaderMap,
) -> Span {
    let span = tracing::info_span!(
        "inngest.function.run",
        otel.name = %format!("inngest.function.run {}", run.function_id),
        otel.kind = "server",
        inngest.function.id = %run.function_id,
        inngest.run.id = %run.run_id,
        inngest.attempt = run.attempt,
        inngest.step.id = tracing::field::Empty,
        inngest.step.hash = tracing::field::Empty,
        inngest.op = tracing::field::Empty,
        inngest.outcome = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // The parent is always set explicitly, so whatever span is current (e.g. an HTTP
    // server span) never decides which trace a run joins.
    let from_event = event_context(event_data, &settings.field);
    let from_header = header_context(headers);
    let parent = match (from_event, from_header) {
        (Some(parent), header) => {
            if let Some(header) = header {
                span.add_link(header.span().span_context().clone());
            }
            parent
        }
        (None, Some(header)) => match settings.executor_traceparent {
            ExecutorTraceparent::Parent => header,
            ExecutorTraceparent::Link => {
                span.add_link(header.span().span_context().clone());
                Context::new()
            }
        },
        (None, None) => Context::new(),
    };
    let _ = span.set_parent(parent);
    span
}

/// Writes the current span's W3C context into each event's `data.<field>`, unless the
/// event already has that field (a user's value is never overwritten).
pub(crate) fn inject(settings: &TraceSettings, events: &mut [Value]) {
    if !settings.inject {
        return;
    }
    let Some((traceparent, tracestate)) =
        framework::telemetry::inject_w3c(&Span::current().context())
    else {
        return;
    };
    for event in events {
        let Some(data) = event
            .as_object_mut()
            .and_then(|e| e.get_mut("data"))
            .and_then(Value::as_object_mut)
        else {
            continue;
        };
        if !data.contains_key(&settings.field) {
            let mut carried = Map::new();
            carried.insert("traceparent".into(), json!(traceparent));
            carried.insert("tracestate".into(), json!(tracestate));
            data.insert(settings.field.clone(), Value::Object(carried));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_carried_shapes_are_read_and_bad_ones_ignored() {
        let w3c = json!({ "data": { "traceContext": {
            "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            "tracestate": "vendor=1"
        }}});
        let context = event_context(&w3c["data"], "traceContext").expect("w3c");
        let span = context.span();
        assert_eq!(
            span.span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(
            span.span_context().span_id().to_string(),
            "00f067aa0ba902b7"
        );
        assert!(span.span_context().is_sampled());

        let nest = json!({ "data": { "traceContext": {
            "traceId": "4bf92f3577b34da6a3ce929d0e0e4736",
            "spanId": "00f067aa0ba902b7",
            "traceFlags": 1
        }}});
        let context = event_context(&nest["data"], "traceContext").expect("nestjs shape");
        assert_eq!(
            context.span().span_context().span_id().to_string(),
            "00f067aa0ba902b7"
        );
        assert!(context.span().span_context().is_remote());

        for bad in [
            json!({ "data": {} }),
            json!({ "data": { "traceContext": "x" } }),
            json!({ "data": { "traceContext": { "traceparent": "nonsense" } } }),
            json!({ "data": { "traceContext": { "traceId": "zz", "spanId": "00f067aa0ba902b7" } } }),
            json!({ "data": { "traceContext": {
                "traceparent": "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
            } } }),
        ] {
            assert!(
                event_context(&bad["data"], "traceContext").is_none(),
                "{bad}"
            );
        }
    }
}
