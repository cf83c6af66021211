//! # health-module
//!
//! Kubernetes-grade health checks for the framework, in the style of @nestjs/terminus.
//!
//! - [`HealthModule`] serves `GET /health` (every indicator), `/health/live` (no checks:
//!   the process serves), `/health/ready` (readiness indicators, and 503 while starting or
//!   shutting down) and `/health/{name}` (one indicator), plus `/livez` and `/readyz`.
//! - Any provider can be an indicator: implement [`HealthIndicator`] and contribute it as
//!   [`HealthIndicators`]; the module discovers it in every enabled module.
//! - Indicators run concurrently, each under a timeout, with panics caught and results
//!   cached for `cache_ms` ([`HealthService`]).
//! - Built in: `memory` (resident set of this process) and `disk` (used fraction of a
//!   filesystem), both left out of readiness.
//!
//! ```
//! use std::sync::Arc;
//! use framework::{Module, Provider};
//! use health_module::{BoxFuture, Check, HealthIndicator, HealthIndicators, HealthModule};
//!
//! struct Queue;
//! impl HealthIndicator for Queue {
//!     fn name(&self) -> &str { "queue" }
//!     fn check(&self) -> BoxFuture<'_, Check> {
//!         Box::pin(async { Check::up().with("lag", 0) })
//!     }
//! }
//!
//! let app = Module::new("app")
//!     .import_optional(HealthModule::new())
//!     .provider(Provider::value(Queue).contribute::<HealthIndicators, _>(|this| {
//!         Arc::clone(this) as Arc<dyn HealthIndicator>
//!     }));
//! # let _ = app;
//! ```
//!
//! See `docs/health.md` for options, endpoints and Kubernetes probes.

mod builtin;
mod error;
mod indicator;
mod module;
mod options;
mod report;
mod routes;
mod service;

pub use builtin::{DiskIndicator, MemoryIndicator};
pub use error::HealthError;
pub use indicator::{BoxFuture, Check, HealthIndicator, HealthIndicators};
pub use module::{HealthModule, MODULE_NAME};
pub use options::HealthOptions;
pub use report::{HealthReport, HealthStatus};
pub use service::HealthService;
