//! The module's routes: the Prometheus text endpoint and the JSON views.

use std::sync::Arc;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};

use crate::functions::functions_view;
use crate::metrics::{Metrics, TEXT_CONTENT_TYPE};
use crate::options::MonitoringOptions;
use crate::process::ProcessSnapshot;
use crate::views::{SystemView, metrics_view};

/// The router: `GET {metrics_path}`, `GET {json_prefix}/metrics`,
/// `GET {json_prefix}/functions` and `GET {json_prefix}/system`.
///
/// ```
/// use std::sync::Arc;
/// use monitoring_module::{Metrics, MonitoringOptions, routes};
/// let router: axum::Router = routes::router(Arc::new(Metrics::new()), &MonitoringOptions::default());
/// # let _ = router;
/// ```
pub fn router(metrics: Arc<Metrics>, options: &MonitoringOptions) -> Router {
    let prefix = &options.json_prefix;
    Router::new()
        .route(&options.metrics_path, get(prometheus_text))
        .route(&format!("{prefix}/metrics"), get(metrics_json))
        .route(&format!("{prefix}/functions"), get(functions_json))
        .route(&format!("{prefix}/system"), get(system_json))
        .with_state(metrics)
}

async fn prometheus_text(State(metrics): State<Arc<Metrics>>) -> Response {
    match metrics.render() {
        Ok(text) => ([(header::CONTENT_TYPE, TEXT_CONTENT_TYPE)], text).into_response(),
        Err(error) => {
            tracing::error!(%error, "rendering the metrics failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                "rendering the metrics failed",
            )
                .into_response()
        }
    }
}

async fn metrics_json(State(metrics): State<Arc<Metrics>>) -> Response {
    Json(metrics_view(&metrics.gather())).into_response()
}

async fn functions_json(State(metrics): State<Arc<Metrics>>) -> Response {
    Json(functions_view(&metrics.gather())).into_response()
}

async fn system_json() -> Response {
    Json(SystemView::from(ProcessSnapshot::read())).into_response()
}
