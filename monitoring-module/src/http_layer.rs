//! [`HttpMetricsLayer`]: `http_requests_total` and `http_request_duration_seconds` for every
//! request, labelled by route template.
//!
//! A hand-written tower layer (no boxing, no `middleware::from_fn`): the service reads the
//! route template from [`MatchedPath`] when the request comes in, and its future records
//! the duration and the status when the response is ready. Label handles are cached per
//! route, method and status, so recording is a few atomic operations.

use parking_lot::RwLock;
use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::response::Response;
use http::Method;
use prometheus::{Counter, CounterVec, Histogram, HistogramVec};
use tower::{Layer, Service};

use crate::error::MetricsError;
use crate::metrics::Metrics;

/// Name of the request counter.
pub const HTTP_REQUESTS_TOTAL: &str = "http_requests_total";
/// Name of the request duration histogram.
pub const HTTP_REQUEST_DURATION_SECONDS: &str = "http_request_duration_seconds";
/// The `route` label of requests that matched no route (404s from the fallback).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The `method` label values: the standard methods, then `OTHER` for everything else.
const METHODS: [&str; 10] = [
    "GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS", "CONNECT", "TRACE", "OTHER",
];
/// Distinct statuses cached per route and method; more are still counted, uncached.
const STATUS_SLOTS: usize = 8;

fn method_index(method: &Method) -> usize {
    match *method {
        Method::GET => 0,
        Method::POST => 1,
        Method::PUT => 2,
        Method::DELETE => 3,
        Method::PATCH => 4,
        Method::HEAD => 5,
        Method::OPTIONS => 6,
        Method::CONNECT => 7,
        Method::TRACE => 8,
        _ => 9,
    }
}

/// The tower layer recording HTTP metrics into a [`Metrics`] registry. Apply it with
/// `Router::layer` so that [`MatchedPath`] is set when it runs (the monitoring module does
/// this for the whole app router through `framework::http::HttpLayers`).
///
/// Labels: `method` (standard methods, else `OTHER`), `route` (the route template such as
/// `/orders/{id}`, or `unmatched`) and, on the counter, `status` (the response's code).
///
/// ```
/// use axum::{Router, routing::get};
/// use monitoring_module::{HttpMetricsLayer, Metrics};
///
/// let metrics = Metrics::new();
/// let router: Router = Router::new()
///     .route("/orders/{id}", get(|| async { "order" }))
///     .layer(HttpMetricsLayer::new(&metrics)?);
/// # let _ = router;
/// # Ok::<(), monitoring_module::MetricsError>(())
/// ```
///
/// A request cancelled before its response is ready (client gone, the framework's request
/// timeout) is not recorded.
#[derive(Clone, Debug)]
pub struct HttpMetricsLayer {
    recorder: Arc<Recorder>,
}

impl HttpMetricsLayer {
    /// Registers (or gets) `http_requests_total{method,route,status}` and
    /// `http_request_duration_seconds{method,route}` (with the registry's default buckets)
    /// in `metrics`.
    pub fn new(metrics: &Metrics) -> Result<Self, MetricsError> {
        let requests = metrics.counter(
            HTTP_REQUESTS_TOTAL,
            "Total number of HTTP requests, by method, route template and status code.",
            &["method", "route", "status"],
        )?;
        let duration = metrics.histogram(
            HTTP_REQUEST_DURATION_SECONDS,
            "HTTP request duration in seconds, by method and route template.",
            &["method", "route"],
            None,
        )?;
        let unmatched = Arc::new(RouteEntry::new(UNMATCHED_ROUTE, &requests, &duration));
        Ok(Self {
            recorder: Arc::new(Recorder {
                requests,
                duration,
                routes: RwLock::new(HashMap::new()),
                unmatched,
            }),
        })
    }
}

impl<S> Layer<S> for HttpMetricsLayer {
    type Service = HttpMetricsService<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpMetricsService {
            inner,
            shared: Arc::new(Instance {
                recorder: Arc::clone(&self.recorder),
                last: OnceLock::new(),
            }),
        }
    }
}

/// The service of [`HttpMetricsLayer`].
#[derive(Clone, Debug)]
pub struct HttpMetricsService<S> {
    inner: S,
    /// One allocation per layered service, so a clone (axum clones the service for each
    /// request) is a single reference count.
    shared: Arc<Instance>,
}

#[derive(Debug)]
struct Instance {
    recorder: Arc<Recorder>,
    /// The route this instance served first: `Router::layer` wraps each route on its own,
    /// so this almost always hits and the shared map is not consulted.
    last: OnceLock<Arc<RouteEntry>>,
}

impl<S> HttpMetricsService<S> {
    fn entry(&self, request: &Request) -> Arc<RouteEntry> {
        let Some(matched) = request.extensions().get::<MatchedPath>() else {
            return Arc::clone(&self.shared.recorder.unmatched);
        };
        let route = matched.as_str();
        if let Some(entry) = self.shared.last.get()
            && *entry.route == *route
        {
            return Arc::clone(entry);
        }
        let entry = self.shared.recorder.route(route);
        let _ = self.shared.last.set(Arc::clone(&entry));
        entry
    }
}

impl<S> Service<Request> for HttpMetricsService<S>
where
    S: Service<Request, Response = Response>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = S::Error;
    type Future = RecordFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let entry = self.entry(&request);
        let method = method_index(request.method());
        RecordFuture {
            inner: self.inner.call(request),
            record: Some(Pending {
                entry,
                method,
                start: Instant::now(),
            }),
        }
    }
}

/// The future of [`HttpMetricsService`]: the inner future, recording when it is ready.
///
/// The inner future must be `Unpin`, as axum's `Route` futures are (the layer is meant for
/// `Router::layer`).
#[derive(Debug)]
pub struct RecordFuture<F> {
    inner: F,
    record: Option<Pending>,
}

#[derive(Debug)]
struct Pending {
    entry: Arc<RouteEntry>,
    method: usize,
    start: Instant,
}

impl<F, E> Future for RecordFuture<F>
where
    F: Future<Output = Result<Response, E>> + Unpin,
{
    type Output = Result<Response, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let output = std::task::ready!(Pin::new(&mut this.inner).poll(cx));
        if let (Ok(response), Some(pending)) = (&output, this.record.take()) {
            pending.record(response.status().as_u16());
        }
        Poll::Ready(output)
    }
}

/// Status recorded for a request dropped before its response was ready (the client went
/// away, or the server's request timeout answered 408 outside this layer): nginx's
/// "client closed request".
pub const DROPPED_STATUS: u16 = 499;

impl<F> Drop for RecordFuture<F> {
    fn drop(&mut self) {
        if let Some(pending) = self.record.take() {
            pending.record(DROPPED_STATUS);
        }
    }
}

impl Pending {
    fn record(self, status: u16) {
        let elapsed = self.start.elapsed().as_secs_f64();
        let slot = &self.entry.methods[self.method];
        let method = METHODS[self.method];
        let route = &*self.entry.route;
        match slot.duration.get() {
            Some(histogram) => histogram.observe(elapsed),
            None => {
                if let Ok(histogram) = self
                    .entry
                    .duration
                    .get_metric_with_label_values(&[method, route])
                {
                    histogram.observe(elapsed);
                    let _ = slot.duration.set(histogram);
                }
            }
        }
        // Only called the first time a route, method and status are seen (or past the
        // cached slots), so the label formatting is off the hot path.
        slot.count(status, || {
            self.entry
                .requests
                .get_metric_with_label_values(&[method, route, &status.to_string()])
        });
    }
}

/// The families and the per-route caches, shared by every service of one layer.
#[derive(Debug)]
struct Recorder {
    requests: CounterVec,
    duration: HistogramVec,
    routes: RwLock<HashMap<Box<str>, Arc<RouteEntry>>>,
    unmatched: Arc<RouteEntry>,
}

impl Recorder {
    fn route(&self, route: &str) -> Arc<RouteEntry> {
        if let Some(entry) = self.routes.read().get(route) {
            return Arc::clone(entry);
        }
        let mut routes = self.routes.write();
        Arc::clone(
            routes.entry(route.into()).or_insert_with(|| {
                Arc::new(RouteEntry::new(route, &self.requests, &self.duration))
            }),
        )
    }
}

/// Cached label handles of one route template.
#[derive(Debug)]
struct RouteEntry {
    route: Box<str>,
    requests: CounterVec,
    duration: HistogramVec,
    methods: [MethodSlot; METHODS.len()],
}

impl RouteEntry {
    fn new(route: &str, requests: &CounterVec, duration: &HistogramVec) -> Self {
        Self {
            route: route.into(),
            requests: requests.clone(),
            duration: duration.clone(),
            methods: std::array::from_fn(|_| MethodSlot::default()),
        }
    }
}

/// Cached label handles of one route and method: the duration histogram, and the counters
/// of the first [`STATUS_SLOTS`] statuses seen (claimed lock-free).
#[derive(Debug, Default)]
struct MethodSlot {
    duration: OnceLock<Histogram>,
    statuses: [StatusSlot; STATUS_SLOTS],
}

#[derive(Debug, Default)]
struct StatusSlot {
    /// 0 while free.
    status: AtomicU16,
    counter: OnceLock<Counter>,
}

impl MethodSlot {
    /// Increments the counter of `status`, creating it with `make` the first time.
    fn count(&self, status: u16, make: impl FnOnce() -> prometheus::Result<Counter>) {
        for slot in &self.statuses {
            let mut seen = slot.status.load(Ordering::Acquire);
            if seen == 0 {
                seen = match slot.status.compare_exchange(
                    0,
                    status,
                    Ordering::AcqRel,
                    Ordering::Acquire,
                ) {
                    // Claimed: create the counter and keep it.
                    Ok(_) => {
                        if let Ok(counter) = make() {
                            counter.inc();
                            let _ = slot.counter.set(counter);
                        }
                        return;
                    }
                    Err(current) => current,
                };
            }
            if seen == status {
                match slot.counter.get() {
                    Some(counter) => counter.inc(),
                    // Claimed by a concurrent request that is still creating it.
                    None => {
                        if let Ok(counter) = make() {
                            counter.inc();
                        }
                    }
                }
                return;
            }
        }
        // Every slot holds another status: count without caching.
        if let Ok(counter) = make() {
            counter.inc();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_slots_overflow_still_counts() {
        let metrics = Metrics::new();
        let vec = metrics.counter("c_total", "C.", &["status"]).unwrap();
        let slot = MethodSlot::default();
        for status in 200..220_u16 {
            for _ in 0..2 {
                slot.count(status, || {
                    vec.get_metric_with_label_values(&[status.to_string()])
                });
            }
        }
        for status in 200..220_u16 {
            let counter = vec
                .get_metric_with_label_values(&[status.to_string()])
                .unwrap();
            assert_eq!(counter.get(), 2.0, "status {status}");
        }
    }

    #[test]
    fn methods() {
        assert_eq!(METHODS[method_index(&Method::PATCH)], "PATCH");
        let odd = Method::from_bytes(b"PROPFIND").unwrap();
        assert_eq!(METHODS[method_index(&odd)], "OTHER");
    }
}
