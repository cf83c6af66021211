//! The HTTP routes: `{path}`, `{path}/live`, `{path}/ready`, `{path}/{name}`, and the
//! `/livez` / `/readyz` aliases.

use std::sync::Arc;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::error::HealthError;
use crate::report::HealthReport;
use crate::service::HealthService;

/// The router for `service`'s options.
pub(crate) fn router(service: Arc<HealthService>) -> Router {
    let options = service.options();
    let path = options.path.as_str();
    let mut router = Router::new()
        .route(path, get(all))
        .route(&format!("{path}/live"), get(live))
        .route(&format!("{path}/ready"), get(ready))
        .route(&format!("{path}/{{name}}"), get(one));
    if options.aliases {
        router = router
            .route("/livez", get(live))
            .route("/readyz", get(ready));
    }
    router.with_state(service)
}

/// 200 for `ok`, 503 otherwise; never cached by clients or proxies.
fn respond(report: &HealthReport) -> Response {
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (status, [(header::CACHE_CONTROL, "no-store")], Json(report)).into_response()
}

async fn all(State(service): State<Arc<HealthService>>) -> Response {
    respond(&service.check_all().await)
}

async fn live(State(service): State<Arc<HealthService>>) -> Response {
    respond(&service.check_live())
}

async fn ready(State(service): State<Arc<HealthService>>) -> Response {
    respond(&service.check_readiness().await)
}

async fn one(State(service): State<Arc<HealthService>>, Path(name): Path<String>) -> Response {
    match service.check_one(&name).await {
        Ok(report) => respond(&report),
        Err(HealthError::UnknownIndicator { name, known }) => (
            StatusCode::NOT_FOUND,
            [(header::CACHE_CONTROL, "no-store")],
            Json(serde_json::json!({
                "status": "error",
                "message": format!("no health indicator is named `{name}`"),
                "indicators": known,
            })),
        )
            .into_response(),
        Err(error) => {
            tracing::error!(%error, "health check failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(serde_json::json!({ "status": "error", "message": error.to_string() })),
            )
                .into_response()
        }
    }
}
