//! HTTP: the [`Inject<T>`] extractor, per-request scopes, and the app router with its
//! tower-http layers (tracing, request id, timeout, body limit).

use std::convert::Infallible;
use std::ops::Deref;
use std::sync::Arc;

use axum::Router;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use tower::ServiceBuilder;
use tower::util::BoxCloneSyncService;
use tower_http::classify::{
    ClassifiedResponse, ClassifyResponse, NeverClassifyEos, ServerErrorsAsFailures,
    ServerErrorsFailureClass, SharedClassifier,
};
use tower_http::request_id::{
    MakeRequestId, PropagateRequestIdLayer, RequestId, SetRequestIdLayer,
};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::config::ServerConfig;
use crate::container::{Container, RequestScope};
use crate::error::{Error, ResolveError};

/// Extracts a provider in a handler: the singleton, a new transient, or this request's
/// instance of a request-scoped provider (built once per request, shared by every
/// `Inject` of the same type in it).
///
/// ```
/// use axum::{routing::get, Router};
/// use framework::http::Inject;
///
/// struct Greeter;
/// impl Greeter { fn greet(&self) -> &'static str { "hello" } }
///
/// async fn hello(greeter: Inject<Greeter>) -> &'static str { greeter.greet() }
/// let router: Router = Router::new().route("/hello", get(hello));
/// # let _ = router;
/// ```
pub struct Inject<T: ?Sized>(pub Arc<T>);

impl<T: ?Sized> Deref for Inject<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.0
    }
}

/// Why [`Inject`] failed: 500, with the reason logged (not shown to the client).
#[derive(Debug)]
pub struct InjectRejection(ResolveError);

impl IntoResponse for InjectRejection {
    fn into_response(self) -> Response {
        tracing::error!(error = %self.0, "dependency injection failed in a request");
        (StatusCode::INTERNAL_SERVER_ERROR, "internal server error").into_response()
    }
}

impl<S: Send + Sync, T: ?Sized + Send + Sync + 'static> FromRequestParts<S> for Inject<T> {
    type Rejection = InjectRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let scope = request_scope(parts).ok_or(InjectRejection(ResolveError::OutsideRequest {
            key: crate::key::ProviderKey::of::<T>(),
        }))?;
        scope
            .resolve::<T>()
            .await
            .map(Inject)
            .map_err(InjectRejection)
    }
}

/// The container, in every request's extensions: the request scope is built from it on the
/// first [`Inject`] of a request, so a handler that injects nothing pays nothing for it.
#[derive(Clone)]
struct ScopeSource(Arc<Container>);

/// This request's scope: the one an earlier [`Inject`] made, or a new one seeded with the
/// request's [`RequestInfo`]; `None` outside the app router.
fn request_scope(parts: &mut Parts) -> Option<Arc<RequestScope>> {
    if let Some(scope) = parts.extensions.get::<Arc<RequestScope>>() {
        return Some(Arc::clone(scope));
    }
    let container = Arc::clone(&parts.extensions.get::<ScopeSource>()?.0);
    let scope = Arc::new(RequestScope::new(container));
    // The URI as the client sent it, global prefix and module nesting included.
    let uri = parts
        .extensions
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| parts.uri.clone(), |original| original.0.clone());
    let info = RequestInfo {
        method: parts.method.clone(),
        uri,
        headers: parts.headers.clone(),
        request_id: parts
            .headers
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string),
    };
    scope.seed(
        crate::key::ProviderKey::of::<RequestInfo>(),
        crate::inject::erase(Arc::new(info)),
    );
    parts.extensions.insert(Arc::clone(&scope));
    Some(scope)
}

/// Information about the current request, injectable into request-scoped providers.
#[derive(Debug, Clone)]
pub struct RequestInfo {
    /// Method.
    pub method: axum::http::Method,
    /// Path and query.
    pub uri: axum::http::Uri,
    /// Headers.
    pub headers: axum::http::HeaderMap,
    /// The `x-request-id` assigned to the request.
    pub request_id: Option<String>,
}

/// A layer over the whole application router, contributed by a module (kind
/// [`HttpLayers`]): metrics, auth, CORS… It is applied to every module's routes after they
/// are merged under the global prefix, inside the framework's own layers (request scope,
/// timeout, request id, tracing), so handlers' [`axum::extract::MatchedPath`] is visible to it.
///
/// ```
/// use std::sync::Arc;
/// use axum::Router;
/// use framework::{Provider, http::{HttpLayer, HttpLayers}};
///
/// struct Cors;
/// let provider = Provider::value(Cors).contribute::<HttpLayers, _>(|_: &Arc<Cors>| {
///     HttpLayer::new(|router: Router| router.layer(tower::layer::util::Identity::new()))
/// });
/// # let _ = provider;
/// ```
#[derive(Clone)]
pub struct HttpLayer(Arc<dyn Fn(Router) -> Router + Send + Sync>);

impl HttpLayer {
    /// A layer from a function of the router (typically `|router| router.layer(..)`).
    pub fn new(apply: impl Fn(Router) -> Router + Send + Sync + 'static) -> Self {
        Self(Arc::new(apply))
    }

    /// Applies the layer.
    pub fn apply(&self, router: Router) -> Router {
        (self.0)(router)
    }
}

impl std::fmt::Debug for HttpLayer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HttpLayer")
    }
}

/// The contribution kind for [`HttpLayer`]s: discovered from providers of enabled modules
/// when the router is built, and applied in discovery order.
pub struct HttpLayers;

impl crate::ContributionKind for HttpLayers {
    type Item = HttpLayer;
}

/// The text of a panic raised while building routes.
pub(crate) fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "invalid or overlapping routes".into())
}

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Assembles the application: every module's routes under the global prefix, the modules'
/// HTTP layers, then the framework's layers (request id, trace, timeout, body limit, the
/// container for request scopes) around the whole router.
pub(crate) fn app_router(
    container: &Arc<Container>,
    routers: Vec<(Arc<str>, Router)>,
    server: &ServerConfig,
    telemetry: &crate::telemetry::TelemetryConfig,
) -> Result<AppService, Error> {
    let mut merged = Router::new();
    for (module, router) in routers {
        // axum panics on overlapping routes; turn that into an error naming the module.
        let previous = merged.clone();
        merged =
            std::panic::catch_unwind(std::panic::AssertUnwindSafe(move || previous.merge(router)))
                .map_err(|panic| Error::Routes {
                    module: module.to_string(),
                    message: panic_message(&*panic),
                })?;
    }
    let mut app = if server.global_prefix.is_empty() {
        merged
    } else {
        Router::new().nest(&server.global_prefix, merged)
    };
    for layer in container.discover::<HttpLayers>() {
        app = layer.item.apply(app);
    }
    #[cfg(feature = "telemetry")]
    if telemetry.enabled {
        app = app.layer(axum::middleware::from_fn(crate::telemetry::record_route));
    }
    let untraced: Vec<String> = container
        .discover::<crate::telemetry::UntracedPaths>()
        .into_iter()
        .flat_map(|found| found.item.iter().cloned().collect::<Vec<_>>())
        .collect();
    // The framework's own layers wrap the router once, as one service: applied with
    // `Router::layer` they would wrap every route, and each request would clone them all.
    let inner = ServiceBuilder::new()
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            server.request_timeout,
        ))
        // The default limit for body extractors; a module's routes may set their own with
        // `DefaultBodyLimit` (the Inngest serve handler takes `inngest.body_limit`).
        .layer(axum::extract::DefaultBodyLimit::max(server.body_limit))
        .layer(axum::Extension(ScopeSource(Arc::clone(container))))
        .service(app);
    let ids = SetRequestIdLayer::new(REQUEST_ID, SequentialRequestIds::new());
    // With telemetry: an INFO server span per request that continues the caller's W3C
    // context (none for probes and scrapes). Without: tower-http's DEBUG span, as before.
    #[cfg(feature = "telemetry")]
    if telemetry.enabled {
        let spans = TraceLayer::new(SharedClassifier::new(AnswersAreNotFaults))
            .make_span_with(crate::telemetry::ServerSpans {
                exclude: crate::telemetry::excluded_paths(
                    telemetry,
                    untraced,
                    &server.global_prefix,
                )
                .into(),
            })
            .on_response(crate::telemetry::RecordStatus);
        return Ok(browser_layers(
            server,
            boxed(ServiceBuilder::new().layer(ids).layer(spans).service(inner)),
        ));
    }
    let _ = (telemetry, untraced);
    Ok(browser_layers(
        server,
        boxed(
            ServiceBuilder::new()
                .layer(ids)
                .layer(TraceLayer::new(SharedClassifier::new(AnswersAreNotFaults)))
                .service(inner),
        ),
    ))
}

/// The optional layers for browsers, outermost, each only when its config turns it on:
/// compression, then CORS (so a preflight is answered before anything else runs).
fn browser_layers(server: &ServerConfig, service: AppService) -> AppService {
    use tower::Layer;
    #[cfg(feature = "compression")]
    let service = if server.compression.enabled {
        use tower_http::compression::{CompressionLayer, predicate::SizeAbove};
        boxed(
            CompressionLayer::new()
                .compress_when(SizeAbove::new(server.compression.min_size))
                .layer(service),
        )
    } else {
        service
    };
    match cors_layer(&server.cors) {
        Some(cors) => boxed(cors.layer(service)),
        None => service,
    }
}

/// `[server.cors]` as a layer; `None` when it is off. The settings were checked at start-up
/// (`ServerConfig::check`), so what does not parse here cannot occur.
fn cors_layer(cors: &crate::config::CorsConfig) -> Option<tower_http::cors::CorsLayer> {
    use tower_http::cors::{AllowOrigin, CorsLayer};
    if !cors.enabled {
        return None;
    }
    let origins = if cors.allowed_origins.iter().any(|origin| origin == "*") {
        AllowOrigin::any()
    } else {
        AllowOrigin::list(
            cors.allowed_origins
                .iter()
                .filter_map(|origin| axum::http::HeaderValue::from_str(origin).ok()),
        )
    };
    let methods: Vec<axum::http::Method> = cors
        .allowed_methods
        .iter()
        .filter_map(|method| axum::http::Method::from_bytes(method.as_bytes()).ok())
        .collect();
    let headers: Vec<axum::http::HeaderName> = cors
        .allowed_headers
        .iter()
        .filter_map(|header| axum::http::HeaderName::from_bytes(header.as_bytes()).ok())
        .collect();
    Some(
        CorsLayer::new()
            .allow_origin(origins)
            .allow_methods(methods)
            .allow_headers(headers)
            .allow_credentials(cors.allow_credentials)
            .max_age(cors.max_age),
    )
}

/// The application as one service: the router inside the framework's layers.
pub(crate) type AppService = BoxCloneSyncService<axum::extract::Request, Response, Infallible>;

/// Boxes a stack of layers over the router into an [`AppService`].
fn boxed<S, B>(service: S) -> AppService
where
    S: tower::Service<
            axum::extract::Request,
            Response = axum::http::Response<B>,
            Error = Infallible,
        > + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
    B: http_body::Body<Data = axum::body::Bytes> + Send + 'static,
    B::Error: Into<axum::BoxError>,
{
    BoxCloneSyncService::new(
        ServiceBuilder::new()
            .map_response(|response: axum::http::Response<B>| response.map(axum::body::Body::new))
            .service(service),
    )
}

/// Request ids for requests that come without one: a random 64-bit prefix drawn once per
/// app, and a counter (32 hex digits in all). Unique across replicas and restarts like a
/// UUID, without drawing random bytes per request.
#[derive(Clone, Debug)]
struct SequentialRequestIds {
    prefix: u64,
    next: Arc<std::sync::atomic::AtomicU64>,
}

impl SequentialRequestIds {
    fn new() -> Self {
        Self {
            prefix: random_u64(),
            next: Arc::new(std::sync::atomic::AtomicU64::new(0)),
        }
    }
}

impl MakeRequestId for SequentialRequestIds {
    fn make_request_id<B>(&mut self, _request: &axum::http::Request<B>) -> Option<RequestId> {
        let n = self.next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{:016x}{n:016x}", self.prefix);
        axum::http::HeaderValue::from_str(&id)
            .ok()
            .map(RequestId::new)
    }
}

/// 64 random bits from the system, or, should it fail, from the standard library's
/// per-process hasher keys.
fn random_u64() -> u64 {
    getrandom::u64().unwrap_or_else(|_| {
        use std::hash::BuildHasher;
        std::collections::hash_map::RandomState::new().hash_one(std::process::id())
    })
}

/// Marks a `5xx` response as a deliberate answer rather than a fault: an Inngest function
/// asking the executor to retry answers `500`, and that is the protocol working, not the
/// server failing. The request trace layer logs faults at ERROR; a marked response is
/// logged like any other response (DEBUG). Insert it into the response's extensions.
///
/// ```
/// use axum::response::{IntoResponse, Response};
/// let mut response: Response = axum::http::StatusCode::INTERNAL_SERVER_ERROR.into_response();
/// response.extensions_mut().insert(framework::http::DeliberateError);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct DeliberateError;

/// tower-http's `5xx`-is-a-failure rule, except for responses marked [`DeliberateError`].
#[derive(Debug, Clone, Copy)]
struct AnswersAreNotFaults;

impl ClassifyResponse for AnswersAreNotFaults {
    type FailureClass = ServerErrorsFailureClass;
    type ClassifyEos = NeverClassifyEos<ServerErrorsFailureClass>;

    fn classify_response<B>(
        self,
        response: &axum::http::Response<B>,
    ) -> ClassifiedResponse<Self::FailureClass, Self::ClassifyEos> {
        if response.extensions().get::<DeliberateError>().is_some() {
            return ClassifiedResponse::Ready(Ok(()));
        }
        ServerErrorsAsFailures::new().classify_response(response)
    }

    fn classify_error<E: std::fmt::Display + 'static>(self, error: &E) -> Self::FailureClass {
        ServerErrorsAsFailures::new().classify_error(error)
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use axum::routing::get;
    use tower::ServiceExt;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    /// Counts ERROR events.
    #[derive(Clone, Default)]
    struct Errors(Arc<AtomicUsize>);

    impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for Errors {
        fn on_event(
            &self,
            event: &tracing::Event<'_>,
            _ctx: tracing_subscriber::layer::Context<'_, S>,
        ) {
            if *event.metadata().level() == tracing::Level::ERROR {
                self.0.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    /// ERROR events logged while the trace layer serves one request to `path`.
    async fn errors_logged_for(path: &str) -> usize {
        let app = Router::new()
            .route(
                "/fault",
                get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
            )
            .route(
                "/answer",
                get(|| async {
                    let mut response = StatusCode::INTERNAL_SERVER_ERROR.into_response();
                    response.extensions_mut().insert(DeliberateError);
                    response
                }),
            )
            .layer(TraceLayer::new(SharedClassifier::new(AnswersAreNotFaults)));
        let errors = Errors::default();
        let subscriber = tracing_subscriber::registry().with(errors.clone());
        let _guard = tracing::subscriber::set_default(subscriber);
        let request = axum::http::Request::get(path)
            .body(axum::body::Body::empty())
            .unwrap();
        let response = app.oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        errors.0.load(Ordering::SeqCst)
    }

    #[tokio::test]
    async fn a_deliberate_500_is_not_logged_as_a_fault_and_any_other_is() {
        assert_eq!(errors_logged_for("/fault").await, 1);
        assert_eq!(errors_logged_for("/answer").await, 0);
    }
}
