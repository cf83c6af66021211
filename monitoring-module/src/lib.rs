//! # monitoring-module
//!
//! Prometheus metrics for framework apps:
//!
//! - [`Metrics`]: the injectable metrics API (`Arc<Metrics>`) over a registry **per app**
//!   (never the process-global default registry): get-or-register counters, gauges and
//!   histograms, conflicts and bad names reported as [`MetricsError`], recording through
//!   [`TryLabels`] (a wrong number of label values is an error, not a panic);
//! - [`ProcessCollector`]: `process_*` metrics read from `/proc/self`;
//! - [`HttpMetricsLayer`]: `http_requests_total{method,route,status}` and
//!   `http_request_duration_seconds{method,route}` by route template;
//! - [`MonitoringModule`]: wires it all into an app from the `[monitoring]` section
//!   ([`MonitoringOptions`]) and serves `GET /metrics` (text format 0.0.4) plus JSON views
//!   under `/monitoring`: `metrics`, `functions` (per-Inngest-function figures, see
//!   [`functions`]) and `system`.
//!
//! ```no_run
//! use std::sync::Arc;
//! use axum::{Router, extract::State, routing::post};
//! use framework::{App, Module};
//! use monitoring_module::{Metrics, MonitoringModule, TryLabels};
//!
//! async fn create(State(metrics): State<Arc<Metrics>>) -> &'static str {
//!     if let Ok(orders) = metrics.counter("orders_created_total", "Orders created.", &["channel"]) {
//!         if let Ok(web) = orders.try_labels(&["web"]) {
//!             web.inc();
//!         }
//!     }
//!     "created"
//! }
//!
//! # async fn run() -> framework::Result<()> {
//! let orders = Module::new("orders").routes(|metrics: Arc<Metrics>| {
//!     Router::new().route("/orders", post(create)).with_state(metrics)
//! });
//! let app = Module::new("app").import(MonitoringModule::new()).import(orders);
//! App::new(app).config_dir("config").run().await
//! # }
//! ```

mod error;
pub mod functions;
mod http_layer;
mod metrics;
mod module;
mod names;
mod options;
mod process;
pub mod routes;
pub mod views;

pub use error::MetricsError;
pub use http_layer::{
    HTTP_REQUEST_DURATION_SECONDS, HTTP_REQUESTS_TOTAL, HttpMetricsLayer, HttpMetricsService,
    RecordFuture, UNMATCHED_ROUTE,
};
pub use metrics::{Metrics, TEXT_CONTENT_TYPE, TryLabels};
pub use module::{MODULE_NAME, MonitoringModule};
pub use options::MonitoringOptions;
pub use process::{ProcessCollector, ProcessSnapshot};

/// The user guide's Rust snippets (`docs/monitoring.md`), compiled as doctests so the guide
/// cannot drift from the API.
#[doc = include_str!("../../docs/monitoring.md")]
#[cfg(doctest)]
pub struct GuideDoctests;

/// The `prometheus` crate this module is built on (its metric types are part of the API).
pub use prometheus;
