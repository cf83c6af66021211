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

use axum::http::{HeaderMap, Request, Response};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use serde::Deserialize;
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;
use url::Url;
use validator::Validate;

use crate::config::{ConfigSection, Environment, SectionProblems};

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

/// Why the export pipeline could not be built.
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The OTLP exporter rejected its configuration.
    #[error("the OTLP exporter cannot be built: {0}")]
    Exporter(String),
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

    /// Builds the tracer provider: OTLP/HTTP protobuf exporter behind a batch processor,
    /// parent-based ratio sampler, and the resource.
    pub fn tracer_provider(&self, default_name: &str) -> Result<SdkTracerProvider, TelemetryError> {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(self.traces_url())
            .with_timeout(self.export_timeout)
            .build()
            .map_err(|e| TelemetryError::Exporter(e.to_string()))?;
        let resource = Resource::builder()
            .with_service_name(
                self.service_name
                    .clone()
                    .unwrap_or_else(|| default_name.to_string()),
            )
            .with_attributes(
                self.resource_attributes
                    .iter()
                    .map(|(k, v)| KeyValue::new(k.clone(), v.clone())),
            )
            .build();
        Ok(SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_sampler(Sampler::ParentBased(Box::new(Sampler::TraceIdRatioBased(
                self.sampler_ratio,
            ))))
            .with_resource(resource)
            .build())
    }
}

/// The `tracing` layer that turns spans into OpenTelemetry spans of `provider`.
pub fn layer<S>(provider: &SdkTracerProvider) -> impl tracing_subscriber::Layer<S>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    tracing_opentelemetry::layer().with_tracer(provider.tracer("framework"))
}

/// A running export pipeline; [`TelemetryGuard::shutdown`] flushes what is buffered.
#[derive(Debug)]
pub struct TelemetryGuard {
    provider: SdkTracerProvider,
    timeout: Duration,
}

impl TelemetryGuard {
    pub(crate) fn new(provider: SdkTracerProvider, export_timeout: Duration) -> Self {
        Self {
            provider,
            // Room for the batch in flight plus the final one.
            timeout: export_timeout.saturating_mul(2) + Duration::from_secs(1),
        }
    }

    /// Flushes buffered spans and stops the exporter (blocking work runs off the runtime),
    /// waiting at most twice `export_timeout` plus a second.
    pub async fn shutdown(self) {
        let (provider, timeout) = (self.provider, self.timeout);
        let result =
            tokio::task::spawn_blocking(move || provider.shutdown_with_timeout(timeout)).await;
        match result {
            Ok(Ok(())) => tracing::debug!("telemetry flushed"),
            Ok(Err(error)) => tracing::warn!(%error, "telemetry could not be flushed"),
            Err(error) => tracing::warn!(%error, "telemetry flush task failed"),
        }
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

/// Reads W3C headers from an HTTP header map.
pub struct HeaderExtractor<'a>(pub &'a HeaderMap);

impl Extractor for HeaderExtractor<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(axum::http::HeaderName::as_str).collect()
    }
}

/// The W3C context carried by `traceparent` / `tracestate` values.
pub fn extract_w3c(traceparent: &str, tracestate: Option<&str>) -> Context {
    struct Pair<'a>(&'a str, Option<&'a str>);
    impl Extractor for Pair<'_> {
        fn get(&self, key: &str) -> Option<&str> {
            match key {
                "traceparent" => Some(self.0),
                "tracestate" => self.1,
                _ => None,
            }
        }
        fn keys(&self) -> Vec<&str> {
            vec!["traceparent", "tracestate"]
        }
    }
    TraceContextPropagator::new().extract(&Pair(traceparent, tracestate))
}

/// `(traceparent, tracestate)` of `context`, when it holds a valid span context.
pub fn inject_w3c(context: &Context) -> Option<(String, String)> {
    #[derive(Default)]
    struct Pair(Option<String>, Option<String>);
    impl Injector for Pair {
        fn set(&mut self, key: &str, value: String) {
            match key {
                "traceparent" => self.0 = Some(value),
                "tracestate" => self.1 = Some(value),
                _ => {}
            }
        }
    }
    let mut pair = Pair::default();
    TraceContextPropagator::new().inject_context(context, &mut pair);
    pair.0.map(|parent| (parent, pair.1.unwrap_or_default()))
}

/// `tower_http::trace::MakeSpan`: one `INFO` server span per request, continuing the
/// caller's W3C context, and none for excluded paths (probes, scrapes).
#[derive(Clone, Debug)]
pub(crate) struct ServerSpans {
    pub(crate) exclude: std::sync::Arc<[String]>,
}

impl<B> tower_http::trace::MakeSpan<B> for ServerSpans {
    fn make_span(&mut self, request: &Request<B>) -> Span {
        let path = request.uri().path();
        if self.exclude.iter().any(|prefix| {
            path.strip_prefix(prefix.as_str())
                .is_some_and(|rest| rest.is_empty() || rest.starts_with('/'))
        }) {
            return Span::none();
        }
        let method = request.method().as_str();
        // Named `{method}` (the route is not known yet out here; `record_route` adds
        // `http.route` once the router matched one): raw paths carry ids and would make
        // span names unbounded.
        let span = tracing::info_span!(
            "http.request",
            otel.name = %method,
            otel.kind = "server",
            http.request.method = %method,
            http.route = tracing::field::Empty,
            url.path = %path,
            http.response.status_code = tracing::field::Empty,
            otel.status_code = tracing::field::Empty,
        );
        let parent = TraceContextPropagator::new().extract(&HeaderExtractor(request.headers()));
        if opentelemetry::trace::TraceContextExt::span(&parent)
            .span_context()
            .is_valid()
        {
            let _ = span.set_parent(parent);
        }
        span
    }
}

/// `tower_http::trace::OnResponse`: records the status on the server span.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordStatus;

impl<B> tower_http::trace::OnResponse<B> for RecordStatus {
    fn on_response(self, response: &Response<B>, _latency: Duration, span: &Span) {
        let status = response.status();
        span.record("http.response.status_code", status.as_u16());
        if status.is_server_error() {
            span.record("otel.status_code", "ERROR");
        }
    }
}

/// Records `http.route` (the matched route template) on the current server span; runs
/// inside the router, where `MatchedPath` is set.
pub(crate) async fn record_route(
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    if let Some(route) = request.extensions().get::<axum::extract::MatchedPath>() {
        Span::current().record("http.route", route.as_str());
    }
    next.run(request).await
}

/// The prefixes [`ServerSpans`] skips, under the global prefix: the configured ones and
/// every module's [`UntracedPaths`].
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
