//! The serve handler on `serve_path`: GET introspection, PUT sync (out-of-band and in-band),
//! POST execution and the trust probe; 405 for anything else.
//!
//! - [`auth`]: signatures, the bare `401`, introspection;
//! - [`sync`]: registering the app, and the URL it registers.

mod auth;
mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, OriginalUri, Request, State};
use axum::http::header::{CONTENT_TYPE, USER_AGENT};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode};
use axum::response::Response;
use framework::config::TrustedProxy;
use serde_json::value::RawValue;
use serde_json::{Value, json};

use crate::engine::{Execution, RawMemo, SharedState, drive};
use crate::error::Error;
use crate::function::{RawEvent, RawInput};
use crate::hooks::{RunInfo, RunStatus, StepInfo};
use crate::protocol::{self, headers};
use crate::registry::Registry;
use crate::signature;
use crate::step::Step;
use auth::{authenticate, introspect, unauthorized};

/// The router serving `serve_path`. Forwarded headers are never believed; see
/// [`router_behind`].
pub fn router(registry: Arc<Registry>) -> Router {
    router_behind(registry, Vec::new())
}

/// The router serving `serve_path`, believing `X-Forwarded-Proto` / `X-Forwarded-Host`
/// from peers in `trusted_proxies` (`server.trusted_proxies`) when it derives the URL it
/// registers.
pub fn router_behind(registry: Arc<Registry>, trusted_proxies: Vec<TrustedProxy>) -> Router {
    let path = registry.options.serve_path.clone();
    Router::new()
        .route(&path, axum::routing::any(handle))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(Arc::new(ServeState {
            registry,
            trusted_proxies,
        }))
}

/// What the serve handler works with.
pub(crate) struct ServeState {
    registry: Arc<Registry>,
    trusted_proxies: Vec<TrustedProxy>,
}

/// A response under construction: status, JSON body and extra headers.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
    /// Only `content-type` and `x-inngest-sdk-handled`: a refusal says nothing about the SDK.
    bare: bool,
}

impl Reply {
    fn json(status: StatusCode, value: &Value) -> Self {
        Self::typed(status, value)
    }

    fn typed(status: StatusCode, value: &impl serde::Serialize) -> Self {
        Self {
            status,
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
            bare: false,
        }
    }

    fn error(status: StatusCode, message: impl Into<String>, no_retry: bool) -> Self {
        let mut reply = Self::json(status, &json!({ "message": message.into() }));
        reply
            .headers
            .push((headers::NO_RETRY, no_retry.to_string()));
        reply
    }

    fn header(mut self, name: &'static str, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `401 {"message":"Unauthorized"}` with no SDK headers, as inngest-js answers.
    fn bare_unauthorized() -> Self {
        Self {
            status: StatusCode::UNAUTHORIZED,
            body: br#"{"message":"Unauthorized"}"#.to_vec(),
            headers: Vec::new(),
            bare: true,
        }
    }
}

/// Seconds since the Unix epoch, for signatures.
fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

async fn handle(
    State(serve): State<Arc<ServeState>>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Response {
    let registry = &serve.registry;
    let (parts, body) = request.into_parts();
    let peer = parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(peer)| *peer);
    let trace: Vec<(&'static str, String)> = ["traceparent", "tracestate"]
        .into_iter()
        .filter_map(|name| {
            parts
                .headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (name, v.to_string()))
        })
        .collect();
    let limit = registry.options.body_limit;
    let body = match axum::body::to_bytes(body, limit).await {
        Ok(body) => body,
        Err(_) => {
            let reply = Reply::error(
                StatusCode::PAYLOAD_TOO_LARGE,
                format!("the request body is larger than inngest.body_limit ({limit} bytes)"),
                false,
            );
            return finish(registry, reply, None, &trace);
        }
    };
    let query = Query::parse(uri.query().unwrap_or_default());
    let (reply, key) = match parts.method {
        Method::GET => introspect(registry, &parts.headers, &body),
        Method::PUT => {
            let request = sync::SyncRequest {
                headers: &parts.headers,
                uri: &uri,
                peer,
                deploy_id: query.deploy_id.as_deref(),
                body: &body,
            };
            sync::sync(&serve, request).await
        }
        Method::POST => execute(registry, &parts.headers, &query, &body).await,
        _ => (
            Reply::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "message": "Method not allowed" }),
            ),
            None,
        ),
    };
    finish(registry, reply, key, &trace)
}

/// Adds the headers every response carries, and signs it with the key that verified the
/// request (cloud mode).
fn finish(
    registry: &Registry,
    reply: Reply,
    key: Option<String>,
    trace: &[(&'static str, String)],
) -> Response {
    let signature = key.map(|key| signature::signature_header(&key, &reply.body, now_secs()));
    let mut response = Response::new(Body::from(reply.body));
    *response.status_mut() = reply.status;
    let map = response.headers_mut();
    map.reserve(8 + trace.len() + reply.headers.len());
    map.insert(CONTENT_TYPE, JSON);
    map.insert(SDK_HANDLED.0, SDK_HANDLED.1);
    if !reply.bare {
        for (name, value) in SDK_HEADERS {
            map.insert(name, value);
        }
        if let Some(env) = &registry.options.environment
            && let Ok(value) = HeaderValue::from_str(env.as_str())
        {
            map.insert(ENV, value);
        }
    }
    for (name, value) in trace.iter().chain(reply.headers.iter()) {
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.as_bytes()),
            HeaderValue::from_str(value),
        ) {
            map.append(name, value);
        }
    }
    if let Some(value) = signature.and_then(|s| HeaderValue::from_str(&s).ok()) {
        map.insert(SIGNATURE, value);
    }
    response
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

/// An execution request as the SDK reads it ([`protocol::ExecutionRequest`] is the whole
/// shape). Payloads stay JSON text: an event's data until the handler decodes it into its
/// own type, a memoized value until the run reaches its step. `event` repeats the first of
/// `events`, so it is only checked to be JSON, and read when `events` is empty.
#[derive(serde::Deserialize)]
struct SdkRequest {
    #[serde(default)]
    event: Option<Box<RawValue>>,
    #[serde(default)]
    events: Vec<RawEvent>,
    #[serde(default)]
    steps: RawMemo,
    #[serde(default)]
    ctx: SdkContext,
    /// Deprecated top-level `use_api`.
    #[serde(default)]
    use_api: bool,
}

/// The part of `ctx` ([`protocol::RequestContext`]) the SDK acts on; the server's own ids
/// (queue item, job, generation, …) are skipped unread.
#[derive(serde::Deserialize, Default)]
#[serde(default)]
struct SdkContext {
    attempt: u32,
    disable_immediate_execution: bool,
    max_attempts: Option<u32>,
    run_id: String,
    use_api: bool,
}

impl SdkRequest {
    /// The run's events: `events`, or the lone `event` of a sender that omits `events`.
    fn take_events(&mut self) -> Result<Vec<RawEvent>, serde_json::Error> {
        if !self.events.is_empty() {
            return Ok(std::mem::take(&mut self.events));
        }
        let event = match self.event.take() {
            Some(raw) => serde_json::from_str(raw.get())?,
            None => RawEvent::default(),
        };
        Ok(vec![event])
    }
}

#[derive(Default)]
struct Query {
    fn_id: Option<String>,
    step_id: Option<String>,
    probe: Option<String>,
    deploy_id: Option<String>,
}

impl Query {
    fn parse(query: &str) -> Self {
        let mut parsed = Query::default();
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            let value = Some(value.into_owned());
            match name.as_ref() {
                "fnId" => parsed.fn_id = value,
                "stepId" => parsed.step_id = value,
                "probe" => parsed.probe = value,
                "deployId" => parsed.deploy_id = value,
                _ => {}
            }
        }
        parsed
    }
}

async fn execute(
    registry: &Registry,
    request_headers: &HeaderMap,
    query: &Query,
    body: &Bytes,
) -> (Reply, Option<String>) {
    let key = match authenticate(registry, request_headers, body) {
        Ok(key) => key,
        Err(error) => return (unauthorized(&error), None),
    };
    if let Some(probe) = &query.probe {
        let reply = if probe == "trust" {
            Reply {
                status: StatusCode::OK,
                body: Vec::new(),
                headers: Vec::new(),
                bare: false,
            }
        } else {
            Reply::error(
                StatusCode::BAD_REQUEST,
                format!("unknown probe `{probe}`; the only probe is `trust`"),
                true,
            )
        };
        return (reply, key);
    }
    let Some(fn_id) = query.fn_id.as_deref() else {
        return (
            Reply::error(
                StatusCode::BAD_REQUEST,
                "the `fnId` query parameter is missing",
                true,
            ),
            key,
        );
    };
    let Some(entry) = registry.entry(fn_id) else {
        let message = format!(
            "no function `{fn_id}` is served here; served: {}",
            registry.function_ids().join(", ")
        );
        let mut reply = Reply::json(
            StatusCode::INTERNAL_SERVER_ERROR,
            &json!({ "type": "internal", "name": "FunctionNotFound", "message": message, "stack": "" }),
        );
        reply.headers.push((headers::NO_RETRY, "false".into()));
        return (reply, key);
    };
    let mut request: SdkRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => return (malformed(&error), key),
    };
    if (request.ctx.use_api || request.use_api)
        && let Err(message) = hydrate(registry, &mut request).await
    {
        return (
            Reply::error(StatusCode::INTERNAL_SERVER_ERROR, message, false),
            key,
        );
    }
    let target = query
        .step_id
        .clone()
        .or_else(|| {
            request_headers
                .get(headers::STEP_ID)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .filter(|step| step != "step" && !step.is_empty());
    let events = match request.take_events() {
        Ok(events) => events,
        Err(error) => return (malformed(&error), key),
    };
    let run_request = RunRequest {
        fn_id,
        entry,
        events,
        memo: request.steps,
        ctx: request.ctx,
        target,
    };
    (run(registry, run_request, request_headers).await, key)
}

/// `400 MalformedRequest`: the body is not an execution request.
fn malformed(error: &serde_json::Error) -> Reply {
    Reply::json(
        StatusCode::BAD_REQUEST,
        &json!({ "name": "MalformedRequest", "message": format!("the execution request is not valid JSON of the expected shape: {error}") }),
    )
    .header(headers::NO_RETRY, "true")
}

/// What one execution runs: the function, the run's events and memo, and the step
/// `stepId` targets.
struct RunRequest<'a> {
    fn_id: &'a str,
    entry: &'a crate::registry::Entry,
    events: Vec<RawEvent>,
    memo: RawMemo,
    ctx: SdkContext,
    target: Option<String>,
}

/// Fetches events and memoized steps when the payload was too large to send inline.
async fn hydrate(registry: &Registry, request: &mut SdkRequest) -> Result<(), String> {
    let run_id = request.ctx.run_id.clone();
    if run_id.is_empty()
        || run_id.len() > 128
        || !run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(format!(
            "the run id `{}` is not a run id (letters, digits, `-` and `_`); its data cannot be loaded",
            run_id.escape_debug()
        ));
    }
    let base = registry.options.api_origin();
    let fetch = |last: &'static str| {
        let mut url = base.clone();
        let built = url
            .path_segments_mut()
            .map(|mut segments| {
                segments
                    .pop_if_empty()
                    .extend(["v0", "runs", run_id.as_str(), last]);
            })
            .map_err(|()| {
                "the API URL cannot be built: inngest.api_base_url must be an http(s) URL"
                    .to_string()
            });
        async move {
            built?;
            let response = registry
                .service
                .api_request("loading run data (use_api)", |client| {
                    client.get(url.clone())
                })
                .await
                .map_err(|e| e.to_string())?;
            response
                .bytes()
                .await
                .map_err(|e| format!("loading run data (use_api): {}", e.without_url()))
        }
    };
    let events = fetch("batch").await?;
    let steps = fetch("actions").await?;
    request.events =
        serde_json::from_slice(&events).map_err(|e| format!("run events from the API: {e}"))?;
    request.steps =
        serde_json::from_slice(&steps).map_err(|e| format!("run steps from the API: {e}"))?;
    Ok(())
}

async fn run(registry: &Registry, request: RunRequest<'_>, request_headers: &HeaderMap) -> Reply {
    let RunRequest {
        fn_id,
        entry,
        events,
        memo,
        ctx,
        target,
    } = request;
    let hooks = registry.hooks();
    // Shared with the step tools (step start hooks) without a copy per request.
    let info = Arc::new(RunInfo {
        function_id: fn_id.to_string(),
        run_id: ctx.run_id.clone(),
        attempt: ctx.attempt,
    });
    let span = match registry.trace() {
        Some(settings) => {
            // Decoded here only for the trace context it may carry.
            let data: Value = events
                .first()
                .and_then(|event| serde_json::from_str(event.data.get()).ok())
                .unwrap_or_default();
            crate::trace::run_span(settings, &info, &data, request_headers)
        }
        None => tracing::Span::none(),
    };
    hooks.each(|hook| hook.on_run_start(&info));
    let started = Instant::now();
    // If this future is dropped before the end (timeout, disconnect), the hooks still
    // hear that the request ended, so in-flight gauges come back down.
    let target_for_span = target.clone();
    let mut end_guard = RunEndGuard {
        hooks: &hooks,
        info: &info,
        span: &span,
        started,
        armed: true,
    };
    let state = SharedState::new(
        memo,
        target,
        !ctx.disable_immediate_execution,
        ctx.attempt,
        ctx.max_attempts.unwrap_or(entry.max_attempts),
    );
    let step = Step::new(
        state.clone(),
        Arc::clone(&registry.service),
        registry.options.app_id.as_str().into(),
        Arc::clone(&info),
    );
    let input = RawInput {
        events,
        context_field: Some(Arc::clone(&registry.context_field)),
        step,
        run_id: ctx.run_id,
        attempt: ctx.attempt,
    };
    let execution = drive(state, (entry.handler)(input))
        .instrument(span.clone())
        .await;
    let mut reported_op: Option<&'static str> = None;
    let mut reported_step: Option<(String, String)> = None;

    let (reply, status) = match execution {
        Execution::Complete(value) => (Reply::json(StatusCode::OK, &value), RunStatus::Completed),
        Execution::Failed(error) => failure_reply(&error),
        Execution::Ops(ops) => {
            if let [op] = ops.as_slice() {
                reported_op = op.op.static_name();
                reported_step = Some((op.display_name.clone(), op.id.clone()));
            } else {
                reported_op = Some("StepPlanned");
            }
            (
                Reply::typed(StatusCode::PARTIAL_CONTENT, &ops),
                RunStatus::Continuing,
            )
        }
        Execution::StepRan(outcome) => {
            let op_name = match &outcome.op.op {
                protocol::Opcode::StepRun => "StepRun",
                protocol::Opcode::StepError => "StepError",
                _ => "StepFailed",
            };
            let step_info = StepInfo {
                id: outcome.op.display_name.clone(),
                op: op_name,
            };
            reported_op = Some(op_name);
            reported_step = Some((outcome.op.display_name.clone(), outcome.op.id.clone()));
            hooks.each(|hook| hook.on_step_end(&info, &step_info, outcome.elapsed));
            let mut reply = Reply::typed(StatusCode::PARTIAL_CONTENT, &[&outcome.op]);
            if let Some(no_retry) = outcome.no_retry {
                reply
                    .headers
                    .push((headers::NO_RETRY, no_retry.to_string()));
            }
            if let Some(retry_after) = outcome.retry_after {
                reply
                    .headers
                    .push((headers::RETRY_AFTER, retry_after.header_value()));
            }
            (reply, RunStatus::Continuing)
        }
        Execution::StepNotFound { requested, found } => {
            let mut reply = Reply::json(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({
                    "error": format!("could not find step `{requested}` to run; the function may have changed since the run started"),
                    "requestedStep": requested,
                    "foundSteps": found,
                    "totalFoundSteps": found.len(),
                }),
            );
            reply.headers.push((headers::NO_RETRY, "false".into()));
            (reply, RunStatus::Retrying)
        }
    };
    end_guard.armed = false;
    let elapsed = started.elapsed();
    hooks.each(|hook| hook.on_run_end(&info, status, elapsed));
    if registry.trace().is_some() {
        let op = reported_op.or(match status {
            RunStatus::Completed => Some("RunComplete"),
            _ => None,
        });
        crate::trace::finish_run_span(
            &span,
            op,
            reported_step
                .as_ref()
                .map(|(id, hash)| (id.as_str(), hash.as_str())),
            target_for_span.as_deref(),
            status.as_str(),
        );
    }
    reply
}

/// Calls `on_run_end(Cancelled)` when an execution request is dropped mid-way.
struct RunEndGuard<'a> {
    hooks: &'a crate::hooks::HookList,
    info: &'a RunInfo,
    span: &'a tracing::Span,
    started: Instant,
    armed: bool,
}

impl Drop for RunEndGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let elapsed = self.started.elapsed();
            self.hooks
                .each(|hook| hook.on_run_end(self.info, RunStatus::Cancelled, elapsed));
            self.span
                .record("inngest.outcome", RunStatus::Cancelled.as_str());
        }
    }
}

fn failure_reply(error: &Error) -> (Reply, RunStatus) {
    let body = error.to_value();
    if error.is_retriable() {
        let mut reply = Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &body)
            .header(headers::NO_RETRY, "false");
        if let Some(retry_after) = error.retry_after_value() {
            reply
                .headers
                .push((headers::RETRY_AFTER, retry_after.header_value()));
        }
        (reply, RunStatus::Retrying)
    } else {
        (
            Reply::json(StatusCode::BAD_REQUEST, &body).header(headers::NO_RETRY, "true"),
            RunStatus::Failed,
        )
    }
}
