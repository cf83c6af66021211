//! Replies: a status, a JSON body and headers, finished with the headers every response
//! carries and signed with the key that verified the request.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

use super::names::{ENV, EXPECTED_SERVER_KIND, SERVER_KIND, SIGNATURE, TRACE_CONTEXT};
use crate::protocol::{self, headers};
use crate::registry::Registry;
use crate::signature;

/// A response under construction: status, JSON body and extra headers.
pub(super) struct Reply {
    pub status: StatusCode,
    pub body: Vec<u8>,
    pub headers: Vec<(&'static str, String)>,
    /// Only `content-type` and `x-inngest-sdk-handled`: a refusal says nothing about the SDK.
    pub bare: bool,
    /// A `5xx` the protocol asks for (a function to be retried), not a fault: the request
    /// trace layer does not log it at ERROR ([`framework::http::DeliberateError`]).
    pub deliberate: bool,
}

impl Reply {
    /// `status` with `value` as its JSON body.
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
            bare: false,
            deliberate: false,
        }
    }

    /// `200` with an empty body.
    pub fn empty() -> Self {
        Self {
            status: StatusCode::OK,
            body: Vec::new(),
            headers: Vec::new(),
            bare: false,
            deliberate: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The response: the reply's headers plus those every response carries, signed with
    /// `key` when the request was verified with it, and the request's trace headers echoed.
    pub fn finish(self, registry: &Registry, key: Option<&str>, echoed: &Echoed) -> Response {
        let signature = key.map(|key| signature::signature_header(key, &self.body, now_secs()));
        let env = registry
            .options
            .environment
            .as_deref()
            .and_then(|env| HeaderValue::from_str(env).ok());
        let mut response = self.into_response_with(env, echoed);
        if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
            response.headers_mut().insert(SIGNATURE, value);
        }
        response
    }

    fn into_response_with(self, env: Option<HeaderValue>, echoed: &Echoed) -> Response {
        let trace = &echoed.trace;
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
        if self.deliberate {
            response
                .extensions_mut()
                .insert(framework::http::DeliberateError);
        }
        let map = response.headers_mut();
        map.reserve(8 + trace.len() + self.headers.len());
        map.insert(CONTENT_TYPE, JSON);
        map.insert(SDK_HANDLED.0, SDK_HANDLED.1);
        if !self.bare {
            for (name, value) in SDK_HEADERS {
                map.insert(name, value);
            }
            if let Some(env) = env {
                map.insert(ENV, env);
            }
            if let Some(kind) = &echoed.server_kind {
                map.insert(EXPECTED_SERVER_KIND, kind.clone());
            }
        }
        for (name, value) in trace.iter().chain(self.headers.iter()) {
            if let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(name.as_bytes()),
                HeaderValue::from_str(value),
            ) {
                map.append(name, value);
            }
        }
        response
    }
}

/// The reply alone: its headers and the SDK's, without an environment, a signature or
/// trace headers (which [`Reply::finish`] adds).
impl IntoResponse for Reply {
    fn into_response(self) -> Response {
        self.into_response_with(None, &Echoed::default())
    }
}

/// What a reply echoes of its request: the W3C trace headers, and the server kind the
/// request announced (`X-Inngest-Server-Kind`) as `X-Inngest-Expected-Server-Kind` on every
/// reply but a bare refusal, as inngest-js does (recordings 12 and 15).
#[derive(Debug, Default)]
pub(super) struct Echoed {
    pub trace: Vec<(&'static str, String)>,
    pub server_kind: Option<HeaderValue>,
}

impl Echoed {
    /// What `headers` ask to be echoed.
    pub fn of(headers: &axum::http::HeaderMap) -> Self {
        let trace = TRACE_CONTEXT
            .iter()
            .filter_map(|(header, name)| {
                headers
                    .get(header)
                    .and_then(|v| v.to_str().ok())
                    .map(|v| (*name, v.to_string()))
            })
            .collect();
        Self {
            trace,
            server_kind: headers.get(SERVER_KIND).cloned(),
        }
    }
}

/// Seconds since the Unix epoch, for signatures.
pub(super) fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// Headers every response carries, made once.
const JSON: HeaderValue = HeaderValue::from_static("application/json");
const SDK_HANDLED: (HeaderName, HeaderValue) = (
    HeaderName::from_static(headers::SDK_HANDLED),
    HeaderValue::from_static("true"),
);
/// Headers of every response but a bare refusal.
const SDK_HEADERS: [(HeaderName, HeaderValue); 4] = [
    (USER_AGENT, HeaderValue::from_static(protocol::SDK)),
    (
        HeaderName::from_static(headers::SDK),
        HeaderValue::from_static(protocol::SDK),
    ),
    (
        HeaderName::from_static(headers::REQ_VERSION),
        HeaderValue::from_static(protocol::REQ_VERSION),
    ),
    (
        HeaderName::from_static(headers::FRAMEWORK),
        HeaderValue::from_static(protocol::FRAMEWORK),
    ),
];
