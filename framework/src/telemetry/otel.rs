//! The export pipeline and W3C propagation (feature `telemetry`): OTLP/HTTP protobuf
//! exporter, the `tracing-opentelemetry` layer, and server spans that continue the caller's
//! trace.

use std::time::Duration;

use axum::http::{HeaderMap, Request, Response};
use opentelemetry::propagation::{Extractor, Injector, TextMapPropagator};
use opentelemetry::trace::TracerProvider as _;
use opentelemetry::{Context, KeyValue};
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::{Sampler, SdkTracerProvider};
use tracing::Span;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use super::{TelemetryConfig, TelemetryError};

impl TelemetryConfig {
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

/// Builds the pipeline off the runtime (building the exporter builds a blocking HTTP
/// client).
pub(super) async fn start(
    config: std::sync::Arc<TelemetryConfig>,
    default_name: String,
) -> Result<TelemetryGuard, TelemetryError> {
    let timeout = config.export_timeout;
    let provider = tokio::task::spawn_blocking(move || config.tracer_provider(&default_name))
        .await
        .map_err(|error| TelemetryError::Exporter(error.to_string()))??;
    Ok(TelemetryGuard::new(provider, timeout))
}

impl TelemetryGuard {
    fn new(provider: SdkTracerProvider, export_timeout: Duration) -> Self {
        Self {
            provider,
            // Room for the batch in flight plus the final one.
            timeout: export_timeout.saturating_mul(2) + Duration::from_secs(1),
        }
    }

    /// This pipeline's `tracing` layer (see [`layer`]).
    pub(crate) fn layer<S>(&self) -> Box<dyn tracing_subscriber::Layer<S> + Send + Sync>
    where
        S: tracing::Subscriber
            + for<'span> tracing_subscriber::registry::LookupSpan<'span>
            + Send
            + Sync,
    {
        Box::new(layer(&self.provider))
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
