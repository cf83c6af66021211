//! The serve handler on `serve_path`: GET introspection, PUT sync (out-of-band and in-band),
//! POST execution and the trust probe; 405 for anything else (PROTOCOL.md §1–§3, §5).

use std::sync::Arc;

use std::time::{Instant, SystemTime, UNIX_EPOCH};
use tracing::Instrument;
use url::Url;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::Response;
use serde_json::{Value, json};

use crate::engine::{Execution, SharedState, drive};
use crate::error::Error;
use crate::function::RawInput;
use crate::hooks::{RunInfo, RunStatus, StepInfo};
use crate::protocol::introspection::{Authenticated, InBandSync, Introspection};
use crate::protocol::{self, Capabilities, ExecutionRequest, headers};
use crate::registry::Registry;
use crate::signature::{self, SignatureError, key_hash_without_prefix, sha256_hex};
use crate::step::Step;

/// The router serving `serve_path`.
pub fn router(registry: Arc<Registry>) -> Router {
    let path = registry.options.serve_path.clone();
    Router::new()
        .route(&path, axum::routing::any(handle))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(registry)
}

/// A response under construction: status, JSON body and extra headers.
struct Reply {
    status: StatusCode,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
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
}

fn now_secs() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

async fn handle(
    State(registry): State<Arc<Registry>>,
    OriginalUri(uri): OriginalUri,
    request: Request,
) -> Response {
    let (parts, body) = request.into_parts();
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
            return finish(&registry, reply, None, &trace);
        }
    };
    let query = Query::parse(uri.query().unwrap_or_default());
    let (reply, key) = match parts.method {
        Method::GET => introspect(&registry, &parts.headers, &body),
        Method::PUT => sync(&registry, &parts.headers, &uri, &query, &body).await,
        Method::POST => execute(&registry, &parts.headers, &query, &body).await,
        _ => (
            Reply::json(
                StatusCode::METHOD_NOT_ALLOWED,
                &json!({ "message": "Method not allowed" }),
            ),
            None,
        ),
    };
    finish(&registry, reply, key, &trace)
}

/// Adds the headers every response carries, and signs it with the key that verified the
/// request (cloud mode).
fn finish(
    registry: &Registry,
    reply: Reply,
    key: Option<String>,
    trace: &[(&'static str, String)],
) -> Response {
    let mut builder = Response::builder()
        .status(reply.status)
        .header("content-type", "application/json")
        .header("user-agent", protocol::SDK)
        .header(headers::SDK, protocol::SDK)
        .header(headers::REQ_VERSION, protocol::REQ_VERSION)
        .header(headers::FRAMEWORK, protocol::FRAMEWORK)
        .header(headers::SDK_HANDLED, "true");
    if let Some(env) = &registry.options.environment {
        builder = builder.header(headers::ENV, env.as_str());
    }
    for (name, value) in trace.iter().chain(reply.headers.iter()) {
        if let Ok(value) = HeaderValue::from_str(value) {
            builder = builder.header(*name, value);
        }
    }
    if let Some(key) = key {
        builder = builder.header(
            headers::SIGNATURE,
            signature::signature_header(&key, &reply.body, now_secs()),
        );
    }
    builder
        .body(Body::from(reply.body))
        .unwrap_or_else(|_| Response::new(Body::empty()))
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

/// Verification outcome: `Ok(Some(key))` verified with `key`, `Ok(None)` not required.
fn authenticate(
    registry: &Registry,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, SignatureError> {
    let options = &registry.options;
    let header = headers
        .get(headers::SIGNATURE)
        .and_then(|v| v.to_str().ok());
    let embedded_unsigned = registry.executor_kind() == crate::options::ExecutorKind::Embedded
        && options.signing_key.is_none();
    if options.is_dev() || !options.verify_signatures || embedded_unsigned {
        return Ok(None);
    }
    let keys = options.signing_keys();
    let index = signature::verify(header, body, &keys, now_secs())?;
    Ok(keys.get(index).map(|key| key.to_string()))
}

fn unauthorized(error: &SignatureError) -> Reply {
    Reply::error(
        StatusCode::UNAUTHORIZED,
        format!("Unauthorized: {error}"),
        false,
    )
}

fn introspect(
    registry: &Registry,
    request_headers: &HeaderMap,
    body: &[u8],
) -> (Reply, Option<String>) {
    let options = &registry.options;
    let signed = request_headers.contains_key(headers::SIGNATURE);
    let mut value = Introspection {
        has_event_key: options.event_key.is_some(),
        has_signing_key: options.signing_key.is_some(),
        has_signing_key_fallback: Some(options.signing_key_fallback.is_some()),
        function_count: registry.function_count(),
        mode: if options.is_dev() { "dev" } else { "cloud" }.into(),
        schema_version: protocol::SCHEMA_VERSION.into(),
        capabilities: Some(Capabilities {
            trust_probe: Some("v1".into()),
            connect: Some("v1".into()),
            in_band_sync: Some("v1".into()),
        }),
        ..Introspection::default()
    };
    if options.is_dev() || !signed {
        return (Reply::typed(StatusCode::OK, &value), None);
    }
    let key = match authenticate(registry, request_headers, body) {
        Ok(key) => key,
        Err(error) => return (unauthorized(&error), None),
    };
    let hash =
        |key: &Option<framework::Secret>| key.as_ref().map(|k| key_hash_without_prefix(k.expose()));
    value.authentication_succeeded = Some(true);
    value.authenticated = Some(Authenticated {
        api_origin: Some(options.api_origin().to_string()),
        app_id: options.app_id.clone(),
        env: options.environment.clone(),
        event_api_origin: Some(options.event_api_origin().to_string()),
        event_key_hash: options.event_key.as_ref().map(|k| sha256_hex(k.expose())),
        framework: Some(protocol::FRAMEWORK.into()),
        sdk_language: Some(protocol::SDK_LANGUAGE.into()),
        sdk_version: Some(protocol::SDK_VERSION.into()),
        serve_origin: options
            .serve_origin
            .as_ref()
            .map(|u| u.as_str().trim_end_matches('/').to_string()),
        serve_path: Some(options.serve_path.clone()),
        signing_key_fallback_hash: hash(&options.signing_key_fallback),
        signing_key_hash: hash(&options.signing_key),
    });
    (Reply::typed(StatusCode::OK, &value), key)
}

/// The URL to register: `serve_origin` (or the request's `Host`) plus the served path.
fn app_url(registry: &Registry, request_headers: &HeaderMap, uri: &axum::http::Uri) -> String {
    let path = uri.path();
    if let Some(origin) = &registry.options.serve_origin {
        return format!("{}{path}", origin.as_str().trim_end_matches('/'));
    }
    let host = request_headers
        .get("host")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("localhost");
    let scheme = request_headers
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("http");
    let options = &registry.options;
    if options.serve_host.is_none() && options.serve_port.is_none() {
        return format!("{scheme}://{host}{path}");
    }
    // Replace the host and/or port of the request's URL.
    match Url::parse(&format!("{scheme}://{host}{path}")) {
        Ok(mut url) => {
            if let Some(serve_host) = &options.serve_host {
                let _ = url.set_host(Some(serve_host));
            }
            if let Some(port) = options.serve_port {
                let _ = url.set_port(Some(port));
            }
            url.to_string()
        }
        Err(_) => format!("{scheme}://{host}{path}"),
    }
}

async fn sync(
    registry: &Registry,
    request_headers: &HeaderMap,
    uri: &axum::http::Uri,
    query: &Query,
    body: &Bytes,
) -> (Reply, Option<String>) {
    let options = &registry.options;
    let in_band = request_headers
        .get(headers::SYNC_KIND)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind == "in_band" || kind == "in-band")
        && options.allow_in_band_sync;
    let signed = request_headers.contains_key(headers::SIGNATURE);
    let key = if in_band || signed {
        match authenticate(registry, request_headers, body) {
            Ok(key) => key,
            Err(error) => return (unauthorized(&error), None),
        }
    } else {
        None
    };
    if in_band {
        let reply = in_band_sync(registry, request_headers, uri, body);
        let error = (reply.status != StatusCode::OK)
            .then(|| format!("the in-band sync request was refused ({})", reply.status));
        registry.record_sync(crate::hooks::SyncKind::InBand, error);
        return (reply, key);
    }
    let url = app_url(registry, request_headers, uri);
    let server_kind = request_headers
        .get(headers::SERVER_KIND)
        .and_then(|v| v.to_str().ok())
        .map(String::from);
    let reply = match register(
        registry,
        &url,
        query.deploy_id.as_deref(),
        server_kind.as_deref(),
    )
    .await
    {
        Ok(modified) => {
            registry.record_sync(crate::hooks::SyncKind::OutOfBand, None);
            Reply::json(
                StatusCode::OK,
                &json!({ "message": "Successfully synced.", "modified": modified }),
            )
        }
        Err((status, message)) => {
            registry.record_sync(crate::hooks::SyncKind::OutOfBand, Some(message.clone()));
            Reply::json(status, &json!({ "message": message, "modified": false }))
        }
    };
    let mut reply = reply.header(headers::SYNC_KIND, "out_of_band");
    if let Some(kind) = server_kind {
        reply = reply.header(headers::EXPECTED_SERVER_KIND, kind);
    }
    (reply, key)
}

fn in_band_sync(
    registry: &Registry,
    request_headers: &HeaderMap,
    uri: &axum::http::Uri,
    body: &[u8],
) -> Reply {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InBandRequest {
        url: String,
    }
    let Ok(InBandRequest { url }) = serde_json::from_slice(body) else {
        return Reply::json(
            StatusCode::BAD_REQUEST,
            &json!({ "code": "invalid_request", "message": "an in-band sync body must be exactly {\"url\": \"<app url>\"}" }),
        );
    };
    let options = &registry.options;
    let url = match &options.serve_origin {
        Some(_) => app_url(registry, request_headers, uri),
        None => url,
    };
    let (introspection, _) = introspect(registry, request_headers, body);
    let inspection: Introspection = serde_json::from_slice(&introspection.body).unwrap_or_default();
    let value = InBandSync {
        app_id: options.app_id.clone(),
        app_version: options.app_version.clone(),
        capabilities: Some(Capabilities {
            trust_probe: Some("v1".into()),
            connect: Some("v1".into()),
            in_band_sync: None,
        }),
        env: options.environment.clone(),
        feature_observations: None,
        framework: protocol::FRAMEWORK.into(),
        functions: registry.function_configs(&url),
        inspection,
        platform: None,
        sdk_author: "inngest".into(),
        sdk_language: protocol::SDK_LANGUAGE.into(),
        sdk_version: protocol::SDK_VERSION.into(),
        sdk: protocol::SDK.into(),
        url,
    };
    Reply::typed(StatusCode::OK, &value).header(headers::SYNC_KIND, "in_band")
}

/// `POST {api}/fn/register`. Returns `modified`, or the status and message to answer with.
async fn register(
    registry: &Registry,
    url: &str,
    deploy_id: Option<&str>,
    server_kind: Option<&str>,
) -> Result<bool, (StatusCode, String)> {
    let options = &registry.options;
    let mut target = options.api_origin().join("fn/register").map_err(|e| {
        (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("the register URL cannot be built: {e}"),
        )
    })?;
    if let Some(deploy_id) = deploy_id {
        target.query_pairs_mut().append_pair("deployId", deploy_id);
    }
    let payload = registry.register_payload(url);
    let result = registry
        .service
        .api_request("registering the app", |client| {
            let mut request = client
                .post(target.clone())
                .header(headers::SYNC_KIND, "out_of_band")
                .header(headers::FRAMEWORK, protocol::FRAMEWORK)
                .json(&payload);
            if let Some(kind) = server_kind {
                request = request.header(headers::EXPECTED_SERVER_KIND, kind);
            }
            request
        })
        .await;
    match result {
        Ok(response) => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            tracing::info!(
                url,
                functions = registry.function_count(),
                "synced with Inngest"
            );
            Ok(body
                .get("modified")
                .and_then(Value::as_bool)
                .unwrap_or(false))
        }
        Err(crate::service::ApiError::Status { status, body, .. })
            if (400..500).contains(&status) =>
        {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
                .unwrap_or(body);
            tracing::warn!(url, status, %message, "Inngest rejected the sync");
            Err((
                StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                message,
            ))
        }
        Err(error) => {
            tracing::warn!(url, %error, "sync with Inngest failed");
            Err((StatusCode::INTERNAL_SERVER_ERROR, error.to_string()))
        }
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
    let mut request: ExecutionRequest = match serde_json::from_slice(body) {
        Ok(request) => request,
        Err(error) => {
            let reply = Reply::json(
                StatusCode::BAD_REQUEST,
                &json!({ "name": "MalformedRequest", "message": format!("the execution request is not valid JSON of the expected shape: {error}") }),
            )
            .header(headers::NO_RETRY, "true");
            return (reply, key);
        }
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
    (
        run(registry, fn_id, entry, request, target, request_headers).await,
        key,
    )
}

/// Fetches events and memoized steps when the payload was too large to send inline.
async fn hydrate(registry: &Registry, request: &mut ExecutionRequest) -> Result<(), String> {
    let run_id = request.ctx.run_id.clone();
    let base = registry.options.api_origin();
    let fetch = |path: String| {
        let url = base.join(&path);
        async move {
            let url = url.map_err(|e| format!("the API URL cannot be built: {e}"))?;
            let response = registry
                .service
                .api_request("loading run data (use_api)", |client| {
                    client.get(url.clone())
                })
                .await
                .map_err(|e| e.to_string())?;
            response
                .json::<Value>()
                .await
                .map_err(|e| format!("loading run data (use_api): {e}"))
        }
    };
    let events = fetch(format!("v0/runs/{run_id}/batch")).await?;
    let steps = fetch(format!("v0/runs/{run_id}/actions")).await?;
    request.events =
        serde_json::from_value(events).map_err(|e| format!("run events from the API: {e}"))?;
    request.event = request.events.first().cloned().unwrap_or_default();
    request.steps =
        serde_json::from_value(steps).map_err(|e| format!("run steps from the API: {e}"))?;
    Ok(())
}

async fn run(
    registry: &Registry,
    fn_id: &str,
    entry: &crate::registry::Entry,
    request: ExecutionRequest,
    target: Option<String>,
    request_headers: &HeaderMap,
) -> Reply {
    let hooks = registry.hooks();
    // Shared with the step tools (step start hooks) without a copy per request.
    let info = Arc::new(RunInfo {
        function_id: fn_id.to_string(),
        run_id: request.ctx.run_id.clone(),
        attempt: request.ctx.attempt,
    });
    let span = match registry.trace() {
        Some(settings) => {
            let event = request.events.first().unwrap_or(&request.event);
            crate::trace::run_span(settings, &info, &event.data, request_headers)
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
    let mut request = request;
    let state = SharedState::new(&mut request, target, entry.max_attempts);
    let step = Step::new(
        state.clone(),
        Arc::clone(&registry.service),
        registry.options.app_id.as_str().into(),
        Arc::clone(&info),
    );
    let events = if request.events.is_empty() {
        vec![std::mem::take(&mut request.event)]
    } else {
        std::mem::take(&mut request.events)
    };
    let input = RawInput {
        events,
        step,
        run_id: request.ctx.run_id.clone(),
        attempt: request.ctx.attempt,
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
