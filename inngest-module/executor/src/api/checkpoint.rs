//! The checkpoint API (`POST {prefix}/v1/checkpoint/{run_id}/async`, and at the root):
//! steps an SDK ran inside one execution request, stored before it goes on
//! ([`Executor::checkpoint`]).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use inngest_protocol::checkpoint::CheckpointRequest;
use serde_json::json;

use super::access::{check_signing_bearer, check_write};
use super::{internal, json_reply};
use crate::error::{CheckpointError, ExecutorError};
use crate::executor::Executor;

fn refused(status: StatusCode, error: impl Into<String>) -> Response {
    json_reply(
        status,
        &json!({"status": status.as_u16(), "error": error.into()}),
    )
}

pub(super) async fn checkpoint_async(
    State(executor): State<Executor>,
    Path(run_id): Path<String>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    let settings = &executor.inner.settings;
    let guarded = settings.signing_key.is_some();
    if let Err(refusal) = check_write(&settings.access, &request_headers, guarded)
        .and_then(|()| check_signing_bearer(settings.signing_key.as_deref(), &request_headers))
    {
        return refused(refusal.status, refusal.message);
    }
    let request: CheckpointRequest = match serde_json::from_slice(&body) {
        Ok(request) => request,
        Err(error) => {
            return refused(
                StatusCode::BAD_REQUEST,
                format!(
                    "the body is not a checkpoint (`run_id`, `fn_id`, `qi_id`, `steps`): {error}"
                ),
            );
        }
    };
    if request.run_id != run_id {
        return refused(
            StatusCode::BAD_REQUEST,
            format!(
                "the body's `run_id` `{}` is not the run of the path, `{run_id}`",
                request.run_id
            ),
        );
    }
    match executor.checkpoint(request).await {
        Ok(()) => {
            let mut response = StatusCode::OK.into_response();
            response.headers_mut().insert(
                inngest_protocol::headers::SERVER_KIND,
                axum::http::HeaderValue::from_static("dev"),
            );
            response
        }
        Err(error @ CheckpointError::Stale { .. }) => {
            refused(StatusCode::CONFLICT, error.to_string())
        }
        Err(error @ CheckpointError::Invalid(_)) => {
            refused(StatusCode::BAD_REQUEST, error.to_string())
        }
        Err(CheckpointError::Store(error)) => internal(&ExecutorError::Store(error)),
    }
}
