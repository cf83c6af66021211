//! The Event API (`POST {prefix}/e/{key}`) and the recent-events list.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use inngest_protocol::SendEventsResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::access::check_write;
use super::{internal, json_reply};
use crate::bounded::Bound;
use crate::error::ExecutorError;
use crate::executor::{Executor, MAX_EVENTS_PER_SEND};

fn refused(status: StatusCode, error: impl Into<String>) -> Response {
    json_reply(
        status,
        &SendEventsResponse {
            ids: Vec::new(),
            status: status.as_u16(),
            error: Some(error.into()),
        },
    )
}

pub(super) async fn send(
    State(executor): State<Executor>,
    Path(key): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let guarded = executor.inner.settings.event_key.is_some();
    if let Err(refusal) = check_write(&executor.inner.settings.access, &headers, guarded) {
        return refused(refusal.status, refusal.message);
    }
    if !executor.key_accepted(&key) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            &json!({
                "status": 401,
                "message": "Event key not found",
                "error": "the event key in the URL does not match inngest.event_key",
            }),
        );
    }
    let events = match serde_json::from_slice::<Value>(&body) {
        Ok(Value::Array(events)) => events,
        Ok(event @ Value::Object(_)) => vec![event],
        Ok(_) => {
            return refused(
                StatusCode::BAD_REQUEST,
                "the body must be an event object or an array of events",
            );
        }
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("the body is not JSON: {error}"),
            );
        }
    };
    if events.len() > MAX_EVENTS_PER_SEND {
        return refused(
            StatusCode::BAD_REQUEST,
            format!("at most {MAX_EVENTS_PER_SEND} events per request; split the send"),
        );
    }
    // A run's `step.send_event` forwards its execution request's trace context: a
    // draining executor still takes what its runs in flight send.
    let traceparent = headers.get("traceparent").and_then(|v| v.to_str().ok());
    match executor.send_traced(events, traceparent).await {
        Ok(ids) => json_reply(
            StatusCode::OK,
            &SendEventsResponse {
                ids,
                status: 200,
                error: None,
            },
        ),
        Err(error @ ExecutorError::InvalidEvent { .. }) => {
            refused(StatusCode::BAD_REQUEST, error.to_string())
        }
        Err(error @ ExecutorError::Draining) => {
            refused(StatusCode::SERVICE_UNAVAILABLE, error.to_string())
        }
        Err(error) => internal(&error),
    }
}

/// Query of the events list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventsQuery {
    limit: Option<u32>,
    name: Option<String>,
    before: Option<String>,
}

/// Events per page of the events API: 50 unless `limit` says otherwise, at most 100.
const MAX_PAGE: u32 = 100;

pub(super) async fn list(
    State(executor): State<Executor>,
    Query(query): Query<EventsQuery>,
) -> Response {
    let before = match query.before.as_deref().filter(|b| !b.is_empty()) {
        None => None,
        Some(text) => match text.parse::<i64>() {
            Ok(seq) => Some(seq),
            Err(_) => {
                return json_reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": format!("`before` must be the `next` value of a previous page, not `{text}`")}),
                );
            }
        },
    };
    let limit = query.limit.unwrap_or(50).clamp(1, MAX_PAGE);
    let name = query.name.as_deref().filter(|n| !n.is_empty());
    match executor
        .bounded_events(limit, name, before, Bound::LIST)
        .await
    {
        Ok(page) => {
            let next = (page.len() == limit as usize)
                .then(|| page.last().map(|(seq, _)| seq.to_string()))
                .flatten();
            let data: Vec<Value> = page.into_iter().map(|(_, event)| event).collect();
            json_reply(StatusCode::OK, &json!({ "data": data, "next": next }))
        }
        Err(error) => internal(&error),
    }
}
