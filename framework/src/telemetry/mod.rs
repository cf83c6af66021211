//! OpenTelemetry traces: the `[telemetry]` section, the export pipeline (OTLP over HTTP
//! with protobuf bodies), and W3C trace-context propagation for incoming HTTP requests.
//!
//! Off by default; then nothing here runs: no exporter, no extra span per request.
//!
//! ```toml
//! [telemetry]
//! enabled = true
//! service_name = "shop"                 # or OTEL_SERVICE_NAME
//! endpoint = "http://localhost:4318"    # or OTEL_EXPORTER_OTLP_ENDPOINT; /v1/traces is appended
//! sampler_ratio = 1.0                   # parent-based: a sampled caller keeps its trace sampled
//! [telemetry.resource_attributes]
//! "deployment.environment" = "production"
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use url::Url;
use validator::Validate;

use crate::config::{ConfigSection, Environment, SectionProblems};

#[cfg(feature = "telemetry")]
mod otel;
#[cfg(feature = "telemetry")]
pub use otel::{HeaderExtractor, TelemetryGuard, extract_w3c, inject_w3c, layer};
#[cfg(feature = "telemetry")]
pub(crate) use otel::{RecordStatus, ServerSpans, record_route};

/// A running export pipeline. This build has none (the feature `telemetry` of `framework`
/// is off), so no value of this type exists.
#[cfg(not(feature = "telemetry"))]
#[derive(Debug)]
pub enum TelemetryGuard {}

#[cfg(not(feature = "telemetry"))]
impl TelemetryGuard {
    /// Flushes buffered spans (never called: no guard exists without the feature).
    pub async fn shutdown(self) {
        match self {}
    }

    pub(crate) fn layer<S>(&self) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>
            + Send
            + Sync,
    {
        match *self {}
    }
}

/// Starts the export pipeline of `config` (`default_name` is the service name when none is
/// configured).
pub(crate) async fn start(
    config: std::sync::Arc<TelemetryConfig>,
    default_name: String,
) -> Result<TelemetryGuard, TelemetryError> {
    #[cfg(feature = "telemetry")]
    {
        otel::start(config, default_name).await
    }
    #[cfg(not(feature = "telemetry"))]
    {
        let _ = (config, default_name);
        Err(TelemetryError::NotBuilt)
    }
}

/// Why the export pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter rejected its configuration.
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(String),
    /// `enabled = true` in a build without the feature `telemetry`.
    #[error("{NOT_BUILT}")]
    NotBuilt,
}

const NOT_BUILT: &str = "this build has no OpenTelemetry export: turn on the feature `telemetry` of the `framework` crate \
     (on by default; `inngest-module` turns it on with its own feature `telemetry`), or set `enabled = false`";

/// `[telemetry]`: OpenTelemetry trace export.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct TelemetryConfig {
    /// Export traces (default: no; then telemetry costs nothing).
    pub enabled: bool,
    /// `service.name` (`OTEL_SERVICE_NAME`); unset: the root module's name.
    pub service_name: Option<String>,
    /// More resource attributes, e.g. `"deployment.environment" = "production"`.
    pub resource_attributes: BTreeMap<String, String>,
    /// Fraction of new traces sampled, 0.0–1.0 (parent-based: a request or event that
    /// carries a sampled context stays sampled).
    #[validate(range(min = 0.0, max = 1.0, message = "must be between 0.0 and 1.0"))]
    pub sampler_ratio: f64,
    /// The OTLP/HTTP endpoint's base (`OTEL_EXPORTER_OTLP_ENDPOINT`); `/v1/traces` is
    /// appended. Default `http://localhost:4318`.
    pub endpoint: Option<Url>,
    /// How long one export may take.
    #[serde(with = "humantime_serde")]
    pub export_timeout: Duration,
    /// Requests whose path (after the global prefix) starts with one of these get no span:
    /// probes and scrapes would drown the traces.
    pub exclude_paths: Vec<String>,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            service_name: None,
            resource_attributes: BTreeMap::new(),
            sampler_ratio: 1.0,
            endpoint: None,
            export_timeout: Duration::from_secs(10),
            exclude_paths: ["/health", "/livez", "/readyz", "/metrics", "/monitoring"]
                .map(String::from)
                .to_vec(),
        }
    }
}

impl ConfigSection for TelemetryConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        if self.enabled && cfg!(not(feature = "telemetry")) {
            problems.add("enabled", NOT_BUILT);
        }
        if !self.sampler_ratio.is_finite() {
            problems.add("sampler_ratio", "must be a number between 0.0 and 1.0");
        }
        // A foreign OTEL_EXPORTER_OTLP_ENDPOINT (e.g. a gRPC `collector:4317`) must not stop
        // an app that does not export.
        if let Some(endpoint) = self.endpoint.as_ref().filter(|_| self.enabled)
            && !matches!(endpoint.scheme(), "http" | "https")
        {
            problems.add(
                "endpoint",
                format!("`{endpoint}` must be an http:// or https:// URL (OTLP over HTTP), e.g. http://localhost:4318"),
            );
        }
        if self.export_timeout.is_zero() {
            problems.add("export_timeout", "must be greater than 0, e.g. \"10s\"");
        }
        for path in &self.exclude_paths {
            if !path.starts_with('/') || (path.len() > 1 && path.ends_with('/')) {
                problems.add(
                    "exclude_paths",
                    format!("`{path}` must start with `/` and not end with one, e.g. \"/health\""),
                );
            }
        }
    }
}

impl TelemetryConfig {
    /// The OTLP traces URL: `{endpoint}/v1/traces`.
    pub fn traces_url(&self) -> String {
        let base = self
            .endpoint
            .as_ref()
            .map_or("http://localhost:4318", Url::as_str);
        format!("{}/v1/traces", base.trim_end_matches('/'))
    }
}

/// Path prefixes a module serves that must get no server span (kind of contribution):
/// probes, scrapes, or endpoints that make their own server spans (the Inngest serve
/// handler). Relative to the global prefix, starting with `/`.
///
/// ```
/// use std::sync::Arc;
/// use framework::{Provider, telemetry::UntracedPaths};
/// struct Probes;
/// let provider = Provider::value(Probes)
///     .contribute::<UntracedPaths, _>(|_: &Arc<Probes>| vec!["/status".to_string()]);
/// # let _ = provider;
/// ```
pub struct UntracedPaths;

impl crate::ContributionKind for UntracedPaths {
    type Item = Vec<String>;
}

/// The prefixes the server spans skip, under the global prefix: the configured ones and
/// every module's [`UntracedPaths`].
#[cfg(feature = "telemetry")]
pub(crate) fn excluded_paths(
    config: &TelemetryConfig,
    contributed: impl IntoIterator<Item = String>,
    global_prefix: &str,
) -> Vec<String> {
    config
        .exclude_paths
        .iter()
        .cloned()
        .chain(contributed)
        .map(|path| {
            format!(
                "{}{}",
                global_prefix.trim_end_matches('/'),
                path.trim_end_matches('/')
            )
        })
        .collect()
}
