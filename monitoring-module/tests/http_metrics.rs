//! The HTTP metrics layer over a running app: series per route template, `unmatched` for
//! 404s, `OTHER` for unusual methods, and the duration histogram's samples.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{find, get_text, parse, start, value};
use monitoring_module::TEXT_CONTENT_TYPE;

#[tokio::test]
async fn one_series_per_route_template() {
    let app = start("").await;
    assert_eq!(get_text(&app, "/orders/1").await, (200, "order 1".into()));
    assert_eq!(get_text(&app, "/orders/2").await.0, 200);
    assert_eq!(get_text(&app, "/nope").await.0, 404);
    assert_eq!(get_text(&app, "/nowhere/else").await.0, 404);

    let (status, text) = get_text(&app, "/metrics").await;
    assert_eq!(status, 200);
    let samples = parse(&text);

    // One series for both ids, labelled by the template.
    let orders = find(
        &samples,
        "http_requests_total",
        &[("route", "/orders/{id}")],
    );
    assert_eq!(orders.len(), 1, "{orders:#?}");
    assert_eq!(orders[0].value, 2.0);
    assert_eq!(orders[0].labels["method"], "GET");
    assert_eq!(orders[0].labels["status"], "200");
    assert!(!text.contains("/orders/1") && !text.contains("/orders/2"));
    assert!(!text.contains("/nope"), "raw paths never become labels");

    // 404s from the fallback.
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[("route", "unmatched"), ("status", "404"), ("method", "GET")]
        ),
        2.0
    );

    // The duration histogram.
    assert!(text.contains("# TYPE http_request_duration_seconds histogram\n"));
    assert!(text.contains("# TYPE http_requests_total counter\n"));
    let labels = [("method", "GET"), ("route", "/orders/{id}")];
    let buckets = find(&samples, "http_request_duration_seconds_bucket", &labels);
    assert_eq!(
        buckets.len(),
        prometheus_default_buckets() + 1,
        "{buckets:#?}"
    );
    let les: Vec<&str> = buckets.iter().map(|b| b.labels["le"].as_str()).collect();
    assert_eq!(les.first(), Some(&"0.005"));
    assert_eq!(les.last(), Some(&"+Inf"));
    assert!(
        buckets.windows(2).all(|w| w[0].value <= w[1].value),
        "cumulative"
    );
    assert_eq!(buckets.last().unwrap().value, 2.0);
    assert_eq!(
        value(&samples, "http_request_duration_seconds_count", &labels),
        2.0
    );
    let sum = value(&samples, "http_request_duration_seconds_sum", &labels);
    assert!(sum > 0.0 && sum < 5.0, "sum {sum}");
    assert_eq!(
        value(
            &samples,
            "http_request_duration_seconds_count",
            &[("route", "unmatched")]
        ),
        2.0
    );
    app.shutdown().await.unwrap();
}

fn prometheus_default_buckets() -> usize {
    monitoring_module::prometheus::DEFAULT_BUCKETS.len()
}

#[tokio::test]
async fn statuses_methods_and_the_metrics_endpoint_itself() {
    let app = start("").await;
    let client = reqwest::Client::new();
    let url = format!("{}/orders/7", app.base_url());
    // 400: the path parameter is not a number (still the same route template).
    assert_eq!(get_text(&app, "/orders/abc").await.0, 400);
    // 405 with an unusual method: method="OTHER".
    let purge = reqwest::Method::from_bytes(b"PURGE").unwrap();
    let response = client.request(purge, &url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let response = client.delete(&url).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    // A first scrape, which the second one counts.
    let first = client
        .get(format!("{}/metrics", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        first.headers()["content-type"].to_str().unwrap(),
        TEXT_CONTENT_TYPE
    );

    let samples = parse(&get_text(&app, "/metrics").await.1);
    let route = ("route", "/orders/{id}");
    assert_eq!(
        value(&samples, "http_requests_total", &[route, ("status", "400")]),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[route, ("method", "OTHER"), ("status", "405")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[route, ("method", "DELETE"), ("status", "405")]
        ),
        1.0
    );
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "200")]
        ),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn route_templates_include_the_global_prefix() {
    let app = start("[server]\nglobal_prefix = \"/api\"\n").await;
    assert_eq!(get_text(&app, "/api/orders/1").await.0, 200);
    let samples = parse(&get_text(&app, "/api/metrics").await.1);
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[("route", "/api/orders/{id}")]
        ),
        1.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn concurrent_requests_are_all_counted() {
    let app = start("").await;
    let client = reqwest::Client::new();
    let mut tasks = Vec::new();
    for i in 0..50 {
        let client = client.clone();
        let url = format!("{}/orders/{i}", app.base_url());
        tasks.push(tokio::spawn(async move {
            client.get(url).send().await.unwrap().status().as_u16()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), 200);
    }
    let samples = parse(&get_text(&app, "/metrics").await.1);
    assert_eq!(
        value(
            &samples,
            "http_requests_total",
            &[("route", "/orders/{id}"), ("status", "200")]
        ),
        50.0
    );
    assert_eq!(
        value(
            &samples,
            "http_request_duration_seconds_count",
            &[("route", "/orders/{id}")]
        ),
        50.0
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_dropped_by_the_server_timeout_is_recorded_as_499() {
    use axum::{Router, routing::get};
    use framework::{Module, TestingModule};
    use monitoring_module::MonitoringModule;

    let slow = Module::new("slow").router(Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(std::time::Duration::from_secs(5)).await;
            "late"
        }),
    ));
    let app = TestingModule::new(
        Module::new("app")
            .import(MonitoringModule::new())
            .import(slow),
    )
    .config("[server]\nrequest_timeout = \"200ms\"")
    .build()
    .await
    .unwrap()
    .start()
    .await
    .unwrap();
    assert_eq!(get_text(&app, "/slow").await.0, 408);
    let samples = parse(&get_text(&app, "/metrics").await.1);
    let dropped = find(&samples, "http_requests_total", &[("route", "/slow")]);
    assert_eq!(dropped.len(), 1, "{dropped:#?}");
    assert_eq!(dropped[0].labels["status"], "499");
    assert_eq!(dropped[0].value, 1.0);
    let count = value(
        &samples,
        "http_request_duration_seconds_count",
        &[("route", "/slow")],
    );
    assert_eq!(count, 1.0);
    app.shutdown().await.unwrap();
}
