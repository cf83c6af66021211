//! The header names the serve path reads and writes, made once: a lookup by a
//! [`HeaderName`] constant does not parse the name again on every request.

use axum::http::HeaderName;

use crate::protocol::headers;

/// `X-Inngest-Signature`, on requests and on signed replies.
pub(super) const SIGNATURE: HeaderName = HeaderName::from_static(headers::SIGNATURE);
/// `X-Inngest-Step-Id`: the step an execution request targets.
pub(super) const STEP_ID: HeaderName = HeaderName::from_static(headers::STEP_ID);
/// `X-Inngest-Server-Kind`: the kind of server the request comes from.
pub(super) const SERVER_KIND: HeaderName = HeaderName::from_static(headers::SERVER_KIND);
/// `X-Inngest-Expected-Server-Kind`: the server kind echoed back.
pub(super) const EXPECTED_SERVER_KIND: HeaderName =
    HeaderName::from_static(headers::EXPECTED_SERVER_KIND);
/// `X-Inngest-Env`: the app's environment (branch) on replies.
pub(super) const ENV: HeaderName = HeaderName::from_static(headers::ENV);
/// `X-Request-Id`: the server's id of an execution request, named by its checkpoints.
pub(super) const REQUEST_ID: HeaderName = HeaderName::from_static(headers::REQUEST_ID);
/// `X-Inngest-Generation-Id`: the request's generation, named by its checkpoints.
pub(super) const GENERATION_ID: HeaderName = HeaderName::from_static(headers::GENERATION_ID);
/// The W3C trace context headers, echoed on replies and forwarded on `send_event`, with the
/// names they are forwarded under.
pub(super) const TRACE_CONTEXT: [(HeaderName, &str); 2] = [
    (HeaderName::from_static("traceparent"), "traceparent"),
    (HeaderName::from_static("tracestate"), "tracestate"),
];
