//! App registration (`POST /fn/register`) for SDK apps driven over HTTP, and discovery.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use inngest_protocol::RegisterRequest;
use serde_json::json;

use super::access::{check_app_url, check_signing_bearer, check_write};
use super::{internal, json_reply};
use crate::error::ExecutorError;
use crate::executor::Executor;
use crate::transport::Http;

/// Error replies carry `status` in the body too: SDKs take the sync's outcome from it
/// (inngest-js defaults it to 200, so a bare `{"error"}` would pass as synced).
fn refused(status: StatusCode, error: impl Into<String>) -> Response {
    json_reply(
        status,
        &json!({"ok": false, "status": status.as_u16(), "error": error.into()}),
    )
}

pub(super) async fn register(
    State(executor): State<Executor>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    let settings = &executor.inner.settings;
    if let Err(refusal) = check_write(
        &settings.access,
        &request_headers,
        settings.signing_key.is_some(),
    ) {
        return refused(refusal.status, refusal.message);
    }
    if let Err(refusal) = check_signing_bearer(settings.signing_key.as_deref(), &request_headers) {
        return refused(refusal.status, refusal.message);
    }
    let payload: RegisterRequest = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!("the register body is not a register payload: {error}"),
            );
        }
    };
    let Ok(url) = url::Url::parse(&payload.url) else {
        return refused(
            StatusCode::BAD_REQUEST,
            "`url` must be the app's serve URL, e.g. http://127.0.0.1:3000/api/inngest",
        );
    };
    if let Err(refusal) = check_app_url(&settings.access, &url) {
        return refused(refusal.status, refusal.message);
    }
    let app_id = if payload.app_name.is_empty() {
        "app".to_string()
    } else {
        payload.app_name.clone()
    };
    let transport = Arc::new(Http::new(
        executor.http_client(),
        url.clone(),
        executor.options().request_timeout,
    ));
    match executor
        .register_app(&app_id, transport, &payload.functions)
        .await
    {
        Ok(count) => {
            tracing::info!(app = %app_id, %url, functions = count, "app synced with the embedded executor");
            json_reply(
                StatusCode::OK,
                &json!({"ok": true, "modified": true, "app_id": app_id}),
            )
        }
        Err(error @ ExecutorError::InvalidFunctions { .. }) => {
            refused(StatusCode::BAD_REQUEST, error.to_string())
        }
        Err(error) => internal(&error),
    }
}

pub(super) async fn dev_info(State(executor): State<Executor>) -> Response {
    json_reply(
        StatusCode::OK,
        &json!({
            "version": concat!("inngest-embedded/", env!("CARGO_PKG_VERSION")),
            "apps": executor.apps(),
        }),
    )
}

pub(super) async fn apps(State(executor): State<Executor>) -> Response {
    json_reply(StatusCode::OK, &json!({ "data": executor.apps() }))
}
