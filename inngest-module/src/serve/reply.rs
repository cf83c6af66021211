//! Replies: a status, a JSON body and headers, finished with the headers every response
//! carries and signed with the key that verified the request.

use std::time::{SystemTime, UNIX_EPOCH};

use axum::body::Body;
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};

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
}

impl Reply {
    /// `status` with `value` as its JSON body.
    pub fn json(status: StatusCode, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
            bare: false,
        }
    }

    /// `200` with an empty body.
    pub fn empty() -> Self {
        Self {
            status: StatusCode::OK,
            body: Vec::new(),
            headers: Vec::new(),
            bare: false,
        }
    }

    /// Adds a header.
    pub fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// The response: the reply's headers plus those every response carries, signed with
    /// `key` when the request was verified with it, and the request's trace headers echoed.
    pub fn finish(
        self,
        registry: &Registry,
        key: Option<&str>,
        trace: &[(&'static str, String)],
    ) -> Response {
        let signature = key.map(|key| signature::signature_header(key, &self.body, now_secs()));
        let env = registry
            .options
            .environment
            .as_deref()
            .and_then(|env| HeaderValue::from_str(env).ok());
        let mut response = self.into_response_with(env, trace);
        if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
            response.headers_mut().insert(SIGNATURE, value);
        }
        response
    }

    fn into_response_with(
        self,
        env: Option<HeaderValue>,
        trace: &[(&'static str, String)],
    ) -> Response {
        let mut response = Response::new(Body::from(self.body));
        *response.status_mut() = self.status;
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
        self.into_response_with(None, &[])
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
const ENV: HeaderName = HeaderName::from_static(headers::ENV);
const SIGNATURE: HeaderName = HeaderName::from_static(headers::SIGNATURE);
