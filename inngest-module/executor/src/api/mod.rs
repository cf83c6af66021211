//! HTTP surface of the embedded executor, under its prefix (default `/_inngest`). Who may
//! reach each route is decided in [`access`] (and documented in `docs/SECURITY.md`):
//!
//! | Route | What | Guarded by |
//! |---|---|---|
//! | `POST {prefix}/e/{key}` | Event API: one event or an array; `{"ids":[…],"status":200}` | the event key |
//! | `POST {prefix}/fn/register` | another SDK app syncs its functions (then is driven over HTTP) | the signing key; the app's origin |
//! | `POST /fn/register` | the same, at the root: SDKs resolve `/fn/register` against the origin | the same |
//! | `POST {prefix}/v1/checkpoint/{run_id}/async` | steps a checkpointing execution request ran; `409` once it no longer owns the run | the signing key |
//! | `POST /v1/checkpoint/{run_id}/async` | the same, at the root (inngest-js resolves it against the origin) | the same |
//! | `GET {prefix}/dev` | dev-server discovery (what the JS SDK probes) | the console |
//! | `GET {prefix}/api/runs` | runs, a page at a time; `function`, `status`, `since`, `until` (ms), `event`, `limit`, `before` | the console |
//! | `GET {prefix}/api/runs/{id}` | one run with its steps | the console |
//! | `GET {prefix}/api/events` | recent events, a page at a time; `limit`, `name`, `before` | the console |
//! | `GET {prefix}/api/apps` | apps and their functions | the console |
//! | `GET {prefix}/api/drain` | `{"draining","runs_in_flight","done"}`: how far a drain has come | the console |
//! | `GET {prefix}/v1/events/{id}/runs`, `GET {prefix}/v1/runs/{id}` | the dev server's shapes | the console |
//! | `GET {prefix}/runs`, `GET {prefix}/runs/{id}` | the runs page | the console |
//!
//! Every write takes only `application/json` and refuses what a browser marks as sent from
//! another site; payloads in lists and pages are truncated ([`crate::bounded`]).
//!
//! To drive a JS SDK app, start it with `INNGEST_DEV=http://<host>:<port>{prefix}/` (trailing
//! slash): inngest-js sends events to `new URL("e/<key>", base)` (under the prefix only with
//! the slash) but registers at `new URL("/fn/register", base)`, i.e. at the origin's root,
//! whatever the base path — hence the root alias.

mod access;
mod checkpoint;
mod events;
mod register;
mod runs;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderValue, StatusCode};
use axum::middleware;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use inngest_protocol::headers;
use serde::Serialize;
use serde_json::json;

use crate::error::ExecutorError;
use crate::executor::Executor;

/// Where SDKs post checkpoints, under the prefix and at the root.
const CHECKPOINT_ASYNC: &str = "/v1/checkpoint/{run_id}/async";

/// Largest Event API or register request body (5000 events of ~3 KB).
const BODY_LIMIT: usize = 16 * 1024 * 1024;

impl Executor {
    /// The executor's routes: everything under its prefix, plus `POST /fn/register`.
    pub fn router(&self) -> Router {
        let prefix = self.options().prefix.clone();
        let console = Router::new()
            .route("/dev", get(register::dev_info))
            .route("/api/runs", get(runs::list))
            .route("/api/runs/{id}", get(runs::one))
            .route("/api/events", get(events::list))
            .route("/api/apps", get(register::apps))
            .route("/api/drain", get(drain_status))
            .route("/v1/events/{id}/runs", get(runs::event_runs))
            .route("/v1/runs/{id}", get(runs::one_v1))
            .route("/runs", get(runs::page))
            .route("/runs/{id}", get(runs::run_page))
            .route("/", get(runs::index))
            .layer(middleware::from_fn_with_state(
                self.clone(),
                access::console,
            ));
        let routes = Router::new()
            .route("/e/{key}", post(events::send))
            .route("/fn/register", post(register::register))
            .route(CHECKPOINT_ASYNC, post(checkpoint::checkpoint_async))
            .merge(console)
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone());
        let root_register = Router::new()
            .route("/fn/register", post(register::register))
            .route(CHECKPOINT_ASYNC, post(checkpoint::checkpoint_async))
            .layer(DefaultBodyLimit::max(BODY_LIMIT))
            .with_state(self.clone());
        Router::new()
            .nest(&prefix, routes)
            .merge(root_register)
            .layer(middleware::map_response(access::security_headers))
    }
}

/// A JSON reply with the dev server's `X-Inngest-Server-Kind`.
fn json_reply(status: StatusCode, body: &impl Serialize) -> Response {
    let mut response = (status, axum::Json(body)).into_response();
    response
        .headers_mut()
        .insert(headers::SERVER_KIND, HeaderValue::from_static("dev"));
    response
}

/// How far a drain has come ([`crate::DrainStatus`]).
async fn drain_status(axum::extract::State(executor): axum::extract::State<Executor>) -> Response {
    json_reply(StatusCode::OK, &executor.drain_status())
}

/// A 500 for a store failure, logged.
fn internal(error: &ExecutorError) -> Response {
    tracing::error!(%error, "executor API failed");
    json_reply(
        StatusCode::INTERNAL_SERVER_ERROR,
        &json!({ "status": 500, "error": error.to_string() }),
    )
}
