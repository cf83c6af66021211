//! The Event API (`POST {prefix}/e/{key}`) and the recent-events list.

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use inngest_protocol::SendEventsResponse;
use serde::Deserialize;
use serde_json::{Value, json};

use super::{internal, json_reply};
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
    body: Bytes,
) -> Response {
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
    match executor.send(events).await {
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
        Err(error) => internal(&error),
    }
}

/// Query of the events list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct EventsQuery {
    limit: Option<u32>,
    name: Option<String>,
}

pub(super) async fn list(
    State(executor): State<Executor>,
    Query(query): Query<EventsQuery>,
) -> Response {
    match executor
        .events(query.limit.unwrap_or(50), query.name.as_deref())
        .await
    {
        Ok(events) => json_reply(StatusCode::OK, &json!({ "data": events })),
        Err(error) => internal(&error),
    }
}
