//! Every way the serve handler refuses or cannot answer a request, typed once, each with
//! the status, body and headers the SDK protocol gives it (the JS SDK's shapes).

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::reply::Reply;
use crate::protocol::headers;
use crate::signature::SignatureError;

/// Why the serve handler refused a request, or could not run it.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The body is larger than `inngest.body_limit`.
    #[error("the request body is larger than inngest.body_limit ({limit} bytes)")]
    BodyTooLarge {
        /// The limit, in bytes.
        limit: usize,
    },
    /// A method other than GET, PUT and POST.
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The query string is not one the serve path reads.
    #[error("the query string cannot be read: {0}")]
    MalformedQuery(String),
    /// The signature is missing or wrong (cloud mode): a bare `401`, the reason logged.
    #[error("the request's signature is missing or wrong: {0}")]
    Unauthorized(#[source] SignatureError),
    /// `?probe=` names a probe other than `trust`.
    #[error("unknown probe `{0}`; the only probe is `trust`")]
    UnknownProbe(String),
    /// A POST without `?fnId=`.
    #[error("the `fnId` query parameter is missing")]
    MissingFunctionId,
    /// `?fnId=` names no function of this app.
    #[error("no function `{function_id}` is served here; served: {}", served.join(", "))]
    FunctionNotFound {
        /// The id asked for.
        function_id: String,
        /// The composite ids served.
        served: Vec<String>,
    },
    /// The body is not an execution request.
    #[error("the execution request is not valid JSON of the expected shape: {0}")]
    MalformedRequest(#[source] serde_json::Error),
    /// The run's data could not be loaded from the Inngest API (`use_api`).
    #[error(transparent)]
    RunData(#[from] RunDataError),
    /// The step the server asked for (`stepId`) is not reached by the function.
    #[error(
        "could not find step `{requested}` to run; the function may have changed since the run started"
    )]
    StepNotFound {
        /// The hashed step id asked for.
        requested: String,
        /// The steps the function reached instead.
        found: Vec<String>,
    },
    /// An in-band sync body is not `{"url": …}`.
    #[error("an in-band sync body must be exactly {{\"url\": \"<app url>\"}}")]
    InvalidInBandSync,
    /// The Inngest API refused or failed the out-of-band sync.
    #[error("{message}")]
    SyncFailed {
        /// The status to answer with (the API's 4xx, or 500).
        status: StatusCode,
        /// Why.
        message: String,
    },
}

/// Why the run's events or steps could not be loaded from the Inngest API (`use_api`).
#[derive(Debug, thiserror::Error)]
pub enum RunDataError {
    /// The run id cannot be put in a URL.
    #[error("the run id `{}` is not a run id (letters, digits, `-` and `_`); its data cannot be loaded", .0.escape_debug())]
    InvalidRunId(String),
    /// `inngest.api_base_url` cannot take a path.
    #[error("the API URL cannot be built: inngest.api_base_url must be an http(s) URL")]
    ApiUrl,
    /// The request failed.
    #[error(transparent)]
    Api(#[from] crate::service::ApiError),
    /// The response could not be read.
    #[error("loading run data (use_api): {0}")]
    Read(#[source] reqwest::Error),
    /// The response is not what the API sends.
    #[error("run {what} from the API: {source}")]
    Decode {
        /// `events` or `steps`.
        what: &'static str,
        /// The decoding error.
        #[source]
        source: serde_json::Error,
    },
}

impl ServeError {
    /// The status the protocol gives this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ServeError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ServeError::MalformedQuery(_)
            | ServeError::UnknownProbe(_)
            | ServeError::MissingFunctionId
            | ServeError::MalformedRequest(_)
            | ServeError::InvalidInBandSync => StatusCode::BAD_REQUEST,
            ServeError::FunctionNotFound { .. }
            | ServeError::RunData(_)
            | ServeError::StepNotFound { .. } => StatusCode::INTERNAL_SERVER_ERROR,
            ServeError::SyncFailed { status, .. } => *status,
        }
    }

    /// `X-Inngest-No-Retry`: whether the executor must not retry (`None`: not sent).
    fn no_retry(&self) -> Option<bool> {
        match self {
            ServeError::BodyTooLarge { .. }
            | ServeError::FunctionNotFound { .. }
            | ServeError::RunData(_)
            | ServeError::StepNotFound { .. } => Some(false),
            ServeError::MalformedQuery(_)
            | ServeError::UnknownProbe(_)
            | ServeError::MissingFunctionId
            | ServeError::MalformedRequest(_) => Some(true),
            ServeError::MethodNotAllowed
            | ServeError::Unauthorized(_)
            | ServeError::InvalidInBandSync
            | ServeError::SyncFailed { .. } => None,
        }
    }
}

impl From<ServeError> for Reply {
    fn from(error: ServeError) -> Self {
        let status = error.status();
        let message = error.to_string();
        let body = match &error {
            ServeError::Unauthorized(_) => {
                // As inngest-js: a refused request learns nothing; the operator reads why
                // (`auth::report_refusal`, logged and counted by the serve handler).
                return Reply {
                    status,
                    body: br#"{"message":"Unauthorized"}"#.to_vec(),
                    headers: Vec::new(),
                    bare: true,
                    deliberate: false,
                };
            }
            ServeError::FunctionNotFound { .. } => {
                json!({ "type": "internal", "name": "FunctionNotFound", "message": message, "stack": "" })
            }
            ServeError::MalformedRequest(_) => {
                json!({ "name": "MalformedRequest", "message": message })
            }
            ServeError::StepNotFound { requested, found } => json!({
                "error": message,
                "requestedStep": requested,
                "foundSteps": found,
                "totalFoundSteps": found.len(),
            }),
            ServeError::InvalidInBandSync => {
                json!({ "code": "invalid_request", "message": message })
            }
            ServeError::SyncFailed { .. } => json!({ "message": message, "modified": false }),
            _ => json!({ "message": message }),
        };
        let reply = Reply::json(status, &body);
        match error.no_retry() {
            Some(no_retry) => reply.header(headers::NO_RETRY, no_retry.to_string()),
            None => reply,
        }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        Reply::from(self).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn body(error: ServeError) -> (StatusCode, serde_json::Value, Option<String>) {
        let reply = Reply::from(error);
        let no_retry = reply
            .headers
            .iter()
            .find(|(name, _)| *name == headers::NO_RETRY)
            .map(|(_, value)| value.clone());
        (
            reply.status,
            serde_json::from_slice(&reply.body).unwrap_or_default(),
            no_retry,
        )
    }

    #[test]
    fn each_error_has_the_protocols_status_body_and_retry_header() {
        let (status, value, no_retry) = body(ServeError::FunctionNotFound {
            function_id: "app-x".into(),
            served: vec!["app-a".into(), "app-b".into()],
        });
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(value["name"], "FunctionNotFound");
        assert_eq!(
            value["message"],
            "no function `app-x` is served here; served: app-a, app-b"
        );
        assert_eq!(no_retry.as_deref(), Some("false"));

        let (status, value, no_retry) = body(ServeError::MissingFunctionId);
        assert_eq!(
            (status, value["message"].as_str(), no_retry.as_deref()),
            (
                StatusCode::BAD_REQUEST,
                Some("the `fnId` query parameter is missing"),
                Some("true")
            )
        );

        let (status, value, no_retry) = body(ServeError::MethodNotAllowed);
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
        assert_eq!(value, json!({ "message": "Method not allowed" }));
        assert_eq!(no_retry, None);

        let (status, value, _) = body(ServeError::StepNotFound {
            requested: "abc".into(),
            found: vec!["def".into()],
        });
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(value["totalFoundSteps"], 1);
    }

    #[test]
    fn a_refused_signature_says_nothing_but_unauthorized() {
        let reply = Reply::from(ServeError::Unauthorized(SignatureError::Missing));
        assert!(reply.bare);
        assert_eq!(reply.status, StatusCode::UNAUTHORIZED);
        assert_eq!(reply.body, br#"{"message":"Unauthorized"}"#);
        let response = ServeError::Unauthorized(SignatureError::Missing).into_response();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
        assert!(!response.headers().contains_key(headers::SDK));
    }

    #[test]
    fn a_wrapped_error_keeps_its_source() {
        let json = serde_json::from_str::<u8>("x").unwrap_err();
        let error = ServeError::MalformedRequest(json);
        assert!(std::error::Error::source(&error).is_some());
    }
}
