//! What the HTTP routes share: the error response and id generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inngest_module::SendError;
use serde_json::json;

/// Why a route failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request is well-formed JSON but not acceptable (422).
    Invalid(String),
    /// The event could not be handed to Inngest (502): nothing was queued.
    Send(SendError),
}

impl From<SendError> for ApiError {
    fn from(error: SendError) -> Self {
        ApiError::Send(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Invalid(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": message })),
            )
                .into_response(),
            ApiError::Send(error) => {
                tracing::error!(%error, "an event could not be sent to Inngest");
                (
                    StatusCode::BAD_GATEWAY,
                    Json(json!({ "error": format!("the event could not be queued: {error}") })),
                )
                    .into_response()
            }
        }
    }
}

/// A new id such as `ord-19a4f0c2b3e-7`: the clock in hex milliseconds, then a counter.
pub(crate) fn new_id(prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    format!("{prefix}-{millis:x}-{n}")
}

/// Reports `field` unless `text` is a duration Inngest accepts (`"30s"`, `"1m"`, `"3d"`).
pub(crate) fn check_duration(problems: &mut framework::SectionProblems, field: &str, text: &str) {
    if let Err(error) = inngest_module::protocol::parse_duration(text) {
        problems.add(field, error.to_string());
    }
}
