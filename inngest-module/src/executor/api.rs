//! HTTP surface of the embedded executor, under its prefix (default `/_inngest`):
//!
//! | Route | What |
//! |---|---|
//! | `POST {prefix}/e/{key}` | Event API: one event or an array; `{"ids":[…],"status":200}` |
//! | `POST {prefix}/fn/register` | another SDK app syncs its functions (then is driven over HTTP) |
//! | `POST /fn/register` | the same, at the root: SDKs resolve `/fn/register` against the origin |
//! | `GET {prefix}/dev` | dev-server discovery (what the JS SDK probes) |
//! | `GET {prefix}/api/runs` | runs; `function`, `status`, `since`, `until` (ms), `event`, `limit` |
//! | `GET {prefix}/api/runs/{id}` | one run with its steps |
//! | `GET {prefix}/api/events` | recent events; `limit`, `name` |
//! | `GET {prefix}/api/apps` | apps and their functions |
//! | `GET {prefix}/v1/events/{id}/runs`, `GET {prefix}/v1/runs/{id}` | the dev server's shapes (see `dev_shape`) |
//! | `GET {prefix}/runs`, `GET {prefix}/runs/{id}` | the runs page |
//!
//! To drive a JS SDK app, start it with `INNGEST_DEV=http://<host>:<port>{prefix}/` (trailing
//! slash): inngest-js sends events to `new URL("e/<key>", base)` (under the prefix only with
//! the slash) but registers at `new URL("/fn/register", base)`, i.e. at the origin's root,
//! whatever the base path — hence the root alias.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};

use super::page;
use super::store::RunFilter;
use super::transport::Http;
use super::{Executor, ExecutorError, RunView};
use crate::protocol::headers;

/// Largest Event API or register request body (5000 events of ~3 KB).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

/// The executor's routes, mounted at its prefix.
pub fn router(executor: Executor) -> Router {
    let prefix = executor.options().prefix.clone();
    let routes = Router::new()
        .route("/e/{key}", post(send_events))
        .route("/fn/register", post(register))
        .route("/dev", get(dev_info))
        .route("/api/runs", get(list_runs))
        .route("/api/runs/{id}", get(one_run))
        .route("/api/events", get(list_events))
        .route("/api/apps", get(list_apps))
        .route("/v1/events/{id}/runs", get(event_runs))
        .route("/v1/runs/{id}", get(one_run_v1))
        .route("/runs", get(runs_page))
        .route("/runs/{id}", get(run_page))
        .route("/", get(index))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(executor.clone());
    let root_register = Router::new()
        .route("/fn/register", post(register))
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(executor);
    Router::new().nest(&prefix, routes).merge(root_register)
}

fn json_reply(status: StatusCode, body: Value) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response.headers_mut().insert(
        headers::SERVER_KIND,
        axum::http::HeaderValue::from_static("dev"),
    );
    response
}

fn internal(error: &ExecutorError) -> Response {
    tracing::error!(%error, "executor API failed");
    json_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        json!({ "status": 500, "error": error.to_string() }),
    )
}

async fn send_events(
    State(executor): State<Executor>,
    Path(key): Path<String>,
    body: Bytes,
) -> Response {
    if !executor.key_accepted(&key) {
        return json_reply(
            StatusCode::UNAUTHORIZED,
            json!({
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
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"ids": [], "status": 400, "error": "the body must be an event object or an array of events"}),
            );
        }
        Err(error) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"ids": [], "status": 400, "error": format!("the body is not JSON: {error}")}),
            );
        }
    };
    if events.len() > 5000 {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"ids": [], "status": 400, "error": "at most 5000 events per request; split the send"}),
        );
    }
    match executor.send(events) {
        Ok(ids) => json_reply(StatusCode::OK, json!({ "ids": ids, "status": 200 })),
        Err(error @ ExecutorError::InvalidEvent { .. }) => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"ids": [], "status": 400, "error": error.to_string()}),
        ),
        Err(error) => internal(&error),
    }
}

/// `POST /fn/register`. Error replies carry `status` in the body too: SDKs take the sync's
/// outcome from it (inngest-js defaults it to 200, so a bare `{"error"}` would pass as synced).
async fn register(
    State(executor): State<Executor>,
    request_headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Some(key) = &executor.inner.settings.signing_key {
        let expected = crate::signature::hashed_key(key);
        let given = request_headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let accepted = given.is_some_and(|given| {
            super::subtle_eq::constant_time_eq(given.as_bytes(), expected.as_bytes())
        });
        if !accepted {
            return json_reply(
                StatusCode::UNAUTHORIZED,
                json!({"status": 401, "error": "the Authorization bearer is not the hashed signing key of this executor"}),
            );
        }
    }
    let payload: Value = match serde_json::from_slice(&body) {
        Ok(payload) => payload,
        Err(error) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"status": 400, "error": format!("the register body is not JSON: {error}")}),
            );
        }
    };
    let Some(url) = payload
        .get("url")
        .and_then(Value::as_str)
        .and_then(|u| url::Url::parse(u).ok())
    else {
        return json_reply(
            StatusCode::BAD_REQUEST,
            json!({"status": 400, "error": "`url` must be the app's serve URL, e.g. http://127.0.0.1:3000/api/inngest"}),
        );
    };
    let app_id = payload
        .get("appName")
        .or_else(|| payload.get("app_id"))
        .and_then(Value::as_str)
        .unwrap_or("app")
        .to_string();
    let functions: Vec<crate::protocol::FunctionConfig> = match payload
        .get("functions")
        .cloned()
        .map(serde_json::from_value)
        .transpose()
    {
        Ok(functions) => functions.unwrap_or_default(),
        Err(error) => {
            return json_reply(
                StatusCode::BAD_REQUEST,
                json!({"ok": false, "status": 400, "error": format!("the app `{app_id}` cannot be registered: {error}")}),
            );
        }
    };
    let transport = Arc::new(Http::new(
        executor.http_client().clone(),
        url.clone(),
        executor.options().request_timeout,
    ));
    match executor.register_app(&app_id, transport, &functions) {
        Ok(count) => {
            tracing::info!(app = %app_id, %url, functions = count, "app synced with the embedded executor");
            json_reply(
                StatusCode::OK,
                json!({"ok": true, "modified": true, "app_id": app_id}),
            )
        }
        Err(error @ ExecutorError::InvalidFunctions { .. }) => json_reply(
            StatusCode::BAD_REQUEST,
            json!({"ok": false, "status": 400, "error": error.to_string()}),
        ),
        Err(error) => internal(&error),
    }
}

async fn dev_info(State(executor): State<Executor>) -> Response {
    json_reply(
        StatusCode::OK,
        json!({
            "version": concat!("inngest-embedded/", env!("CARGO_PKG_VERSION")),
            "apps": executor.apps(),
        }),
    )
}

/// Query of the runs list.
#[derive(Debug, Default, Deserialize)]
struct RunsQuery {
    function: Option<String>,
    status: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    event: Option<String>,
    limit: Option<u32>,
}

impl From<RunsQuery> for RunFilter {
    fn from(query: RunsQuery) -> Self {
        RunFilter {
            function: query.function.filter(|s| !s.is_empty()),
            status: query.status.filter(|s| !s.is_empty()),
            since: query.since,
            until: query.until,
            event: query.event.filter(|s| !s.is_empty()),
            limit: query.limit,
        }
    }
}

async fn list_runs(State(executor): State<Executor>, Query(query): Query<RunsQuery>) -> Response {
    match executor.runs(&query.into()) {
        Ok(runs) => json_reply(StatusCode::OK, json!({ "data": runs })),
        Err(error) => internal(&error),
    }
}

async fn one_run(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.run(&id) {
        Ok(Some(run)) => json_reply(StatusCode::OK, json!({ "data": run })),
        Ok(None) => json_reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no run with id `{id}`")}),
        ),
        Err(error) => internal(&error),
    }
}

/// A run as the dev server's `/v1` routes report it: the run view plus `event_id` (the
/// triggering event), and `output` as the dev server fills it when the function returned
/// nothing — a failed run's error, `{}` for a cancelled run (recordings 08 and 13).
fn dev_shape(run: RunView) -> Value {
    let event_id = run.event_ids.first().cloned();
    let output = match (&run.output, run.status.as_str()) {
        (None, "Failed") => run.error.clone(),
        (None, "Cancelled") => Some(json!({})),
        _ => None,
    };
    let mut value = serde_json::to_value(run).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("event_id".into(), json!(event_id));
        if let Some(output) = output {
            map.insert("output".into(), output);
        }
    }
    value
}

async fn one_run_v1(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.run(&id) {
        Ok(Some(run)) => json_reply(StatusCode::OK, json!({ "data": dev_shape(run) })),
        Ok(None) => json_reply(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no run with id `{id}`")}),
        ),
        Err(error) => internal(&error),
    }
}

async fn event_runs(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    let filter = RunFilter {
        event: Some(id),
        ..RunFilter::default()
    };
    match executor.runs(&filter) {
        Ok(runs) => {
            let runs: Vec<Value> = runs.into_iter().map(dev_shape).collect();
            json_reply(StatusCode::OK, json!({ "data": runs }))
        }
        Err(error) => internal(&error),
    }
}

/// Query of the events list.
#[derive(Debug, Default, Deserialize)]
struct EventsQuery {
    limit: Option<u32>,
    name: Option<String>,
}

async fn list_events(
    State(executor): State<Executor>,
    Query(query): Query<EventsQuery>,
) -> Response {
    match executor.events(query.limit.unwrap_or(50), query.name.as_deref()) {
        Ok(events) => json_reply(StatusCode::OK, json!({ "data": events })),
        Err(error) => internal(&error),
    }
}

async fn list_apps(State(executor): State<Executor>) -> Response {
    json_reply(StatusCode::OK, json!({ "data": executor.apps() }))
}

async fn index(State(executor): State<Executor>) -> Redirect {
    Redirect::to(&format!("{}/runs", executor.options().prefix))
}

async fn runs_page(State(executor): State<Executor>, Query(query): Query<RunsQuery>) -> Response {
    let filter: RunFilter = query.into();
    let runs = executor.runs(&filter);
    let events = executor.events(20, None);
    match (runs, events) {
        (Ok(runs), Ok(events)) => Html(page::runs(
            &executor.options().prefix,
            &executor.apps(),
            &filter,
            &runs,
            &events,
        ))
        .into_response(),
        (Err(error), _) | (_, Err(error)) => internal(&error),
    }
}

async fn run_page(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.run(&id) {
        Ok(Some(run)) => Html(page::run(&executor.options().prefix, &run)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(page::not_found(&executor.options().prefix, &id)),
        )
            .into_response(),
        Err(error) => internal(&error),
    }
}
