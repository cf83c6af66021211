//! Per-request overhead of the HTTP metrics layer: the same axum `Router` (one
//! `/orders/{id}` route) called with `tower::ServiceExt::oneshot`
//!
//! - `without_layer`: the baseline, measured in the same run;
//! - `noop_layer`: plus a pass-through layer (`MapRequestLayer` with the identity): what any
//!   `Router::layer` costs, since axum re-boxes the layered route;
//! - `with_layer`: plus [`HttpMetricsLayer`] (what the monitoring module installs);
//! - `from_fn_equivalent`: plus an `axum::middleware::from_fn` recording the same two
//!   families without caching label handles, for comparison with the hand-written layer.
//!
//! The routers are prepared with `with_state(())` as `axum::serve` prepares them for each
//! connection. Handlers complete on their first poll, so the futures are polled once (`now_or_never`),
//! with no runtime in the measurement. Run with
//!
//! ```sh
//! cargo bench -p monitoring-module --bench http_layer
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::routing::get;
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::FutureExt;
use monitoring_module::{HttpMetricsLayer, Metrics, TryLabels};
use tower::ServiceExt;

fn router() -> Router {
    Router::new().route("/orders/{id}", get(|| async { "order" }))
}

fn call(router: &Router) -> StatusCode {
    let request = Request::builder()
        .uri("/orders/1")
        .body(Body::empty())
        .unwrap();
    router
        .clone()
        .oneshot(request)
        .now_or_never()
        .expect("the handler is ready on the first poll")
        .unwrap()
        .status()
}

fn from_fn_router(metrics: &Metrics) -> Router {
    let requests = metrics
        .counter(
            "fn_requests_total",
            "Requests.",
            &["method", "route", "status"],
        )
        .unwrap();
    let duration = metrics
        .histogram(
            "fn_request_duration_seconds",
            "Duration.",
            &["method", "route"],
            None,
        )
        .unwrap();
    router().layer(axum::middleware::from_fn(
        move |request: Request, next: Next| {
            let requests = requests.clone();
            let duration = duration.clone();
            async move {
                let start = Instant::now();
                let method = request.method().as_str().to_owned();
                let route = request
                    .extensions()
                    .get::<MatchedPath>()
                    .map_or_else(|| "unmatched".to_owned(), |m| m.as_str().to_owned());
                let response = next.run(request).await;
                if let Ok(histogram) = duration.try_labels(&[&method, &route]) {
                    histogram.observe(start.elapsed().as_secs_f64());
                }
                if let Ok(counter) =
                    requests.try_labels(&[&method, &route, response.status().as_str()])
                {
                    counter.inc();
                }
                response
            }
        },
    ))
}

fn http_layer(c: &mut Criterion) {
    let metrics = Metrics::new();
    // `with_state(())` turns handlers into routes once, as `axum::serve` does for each
    // connection (otherwise axum converts the handler, and applies the layers, per request).
    let baseline = router().with_state::<()>(());
    let layered = router()
        .layer(HttpMetricsLayer::new(&metrics).unwrap())
        .with_state::<()>(());
    let from_fn = from_fn_router(&metrics).with_state::<()>(());
    let noop = router()
        .layer(tower::util::MapRequestLayer::new(|request: Request| {
            request
        }))
        .with_state::<()>(());
    for router in [&baseline, &noop, &layered, &from_fn] {
        assert_eq!(call(router), StatusCode::OK);
    }

    let mut group = c.benchmark_group("http_layer");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(100);
    group.bench_function("without_layer", |b| b.iter(|| black_box(call(&baseline))));
    group.bench_function("noop_layer", |b| b.iter(|| black_box(call(&noop))));
    group.bench_function("with_layer", |b| b.iter(|| black_box(call(&layered))));
    group.bench_function("from_fn_equivalent", |b| {
        b.iter(|| black_box(call(&from_fn)))
    });
    group.finish();

    // Every request was recorded.
    let text = metrics.render().unwrap();
    assert!(
        text.contains("http_requests_total{method=\"GET\",route=\"/orders/{id}\",status=\"200\"}")
    );
}

criterion_group!(benches, http_layer);
criterion_main!(benches);
