//! The module in an app: the `[monitoring]` options and their validation, `for_root`, the
//! module toggle, and one registry per app.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::Arc;

use common::{app, find, get_text, orders_module, parse, start, value};
use framework::{Module, Provider, TestingModule};
use monitoring_module::{Metrics, MonitoringModule, MonitoringOptions, TryLabels};

#[tokio::test]
async fn disabled_module_serves_nothing_and_records_nothing() {
    let app = start("[modules.monitoring]\nenabled = false\n").await;
    assert_eq!(get_text(&app, "/orders/1").await, (200, "order 1".into()));
    assert_eq!(get_text(&app, "/metrics").await.0, 404);
    assert_eq!(get_text(&app, "/monitoring/metrics").await.0, 404);
    assert_eq!(get_text(&app, "/monitoring/system").await.0, 404);
    // No registry at all (so no http_* series anywhere), and no layer.
    assert!(app.container().get::<Metrics>().is_err());
    assert!(
        app.container()
            .discover::<framework::http::HttpLayers>()
            .is_empty()
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn unsorted_buckets_are_reported_with_their_path() {
    let result = TestingModule::new(app())
        .config("[monitoring]\nbuckets = [0.1, 1.0, 0.5]\njson_prefix = \"monitoring\"\n")
        .build()
        .await;
    let error = result.expect_err("start-up fails").to_string();
    assert!(
        error.contains("monitoring.buckets: must be strictly increasing (1 is followed by 0.5)"),
        "{error}"
    );
    assert!(
        error.contains("monitoring.json_prefix: must start with `/`"),
        "{error}"
    );
    assert!(error.contains("2 problems"), "{error}");

    for (buckets, message) in [
        ("[]", "monitoring.buckets: must not be empty"),
        (
            "[0.1, 0.1]",
            "monitoring.buckets: must be strictly increasing",
        ),
    ] {
        let error = TestingModule::new(app())
            .config(format!("[monitoring]\nbuckets = {buckets}\n"))
            .build()
            .await
            .expect_err("start-up fails")
            .to_string();
        assert!(error.contains(message), "{buckets}: {error}");
    }

    let error = TestingModule::new(app())
        .config("[monitoring]\nmetrics_pth = \"/m\"\n")
        .build()
        .await
        .expect_err("start-up fails")
        .to_string();
    assert!(
        error.contains("monitoring.metrics_pth: unknown key"),
        "{error}"
    );
}

#[tokio::test]
async fn options_from_config() {
    let app = start(
        r#"
[monitoring]
metrics_path = "/internal/metrics"
json_prefix = "/ops"
http_metrics = false
process_metrics = false
buckets = [0.5, 1.0]
"#,
    )
    .await;
    get_text(&app, "/orders/1").await;
    assert_eq!(get_text(&app, "/metrics").await.0, 404);
    let (status, text) = get_text(&app, "/internal/metrics").await;
    assert_eq!(status, 200);
    assert!(!text.contains("http_"), "{text}");
    assert!(!text.contains("process_"), "{text}");
    assert!(
        text.contains("orders_viewed_total{kind=\"web\"} 1"),
        "{text}"
    );
    assert_eq!(get_text(&app, "/ops/system").await.0, 200);
    assert_eq!(get_text(&app, "/ops/functions").await.0, 200);
    let metrics = app.container().get::<Metrics>().unwrap();
    assert_eq!(metrics.default_buckets(), &[0.5, 1.0]);
    let options = app.container().get::<MonitoringOptions>().unwrap();
    assert_eq!(options.json_prefix, "/ops");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn for_root_takes_options_in_code() {
    let root = Module::new("app")
        .import(MonitoringModule::for_root(MonitoringOptions {
            metrics_path: "/prom".into(),
            buckets: vec![0.25, 2.5],
            ..MonitoringOptions::default()
        }))
        .import(orders_module());
    let app = TestingModule::new(root)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    get_text(&app, "/orders/1").await;
    let samples = parse(&get_text(&app, "/prom").await.1);
    let buckets = find(
        &samples,
        "http_request_duration_seconds_bucket",
        &[("route", "/orders/{id}")],
    );
    let les: Vec<&str> = buckets.iter().map(|b| b.labels["le"].as_str()).collect();
    assert_eq!(les, ["0.25", "2.5", "+Inf"]);
    app.shutdown().await.unwrap();

    let invalid = Module::new("app").import(MonitoringModule::for_root(MonitoringOptions {
        buckets: vec![2.0, 1.0],
        metrics_path: String::new(),
        ..MonitoringOptions::default()
    }));
    let error = TestingModule::new(invalid)
        .build()
        .await
        .expect_err("start-up fails")
        .to_string();
    assert!(
        error.contains("monitoring.buckets: must be strictly increasing (2 is followed by 1)"),
        "{error}"
    );
    assert!(
        error.contains("monitoring.metrics_path: must start with `/`"),
        "{error}"
    );
}

#[tokio::test]
async fn two_apps_have_independent_registries() {
    let first = start("").await;
    let second = start("").await;
    for _ in 0..3 {
        get_text(&first, "/orders/1").await;
    }
    let custom = first
        .container()
        .get::<Metrics>()
        .unwrap()
        .counter("jobs_total", "Jobs.", &["queue"])
        .unwrap();
    custom.try_labels(&["mail"]).unwrap().inc();

    let first_samples = parse(&get_text(&first, "/metrics").await.1);
    assert_eq!(
        value(&first_samples, "jobs_total", &[("queue", "mail")]),
        1.0
    );
    assert_eq!(value(&first_samples, "orders_viewed_total", &[]), 3.0);
    assert_eq!(
        value(
            &first_samples,
            "http_requests_total",
            &[("route", "/orders/{id}")]
        ),
        3.0
    );

    let second_text = get_text(&second, "/metrics").await.1;
    assert!(!second_text.contains("jobs_total"), "{second_text}");
    assert!(
        !second_text.contains("orders_viewed_total{"),
        "{second_text}"
    );
    assert!(!second_text.contains("/orders/{id}"), "{second_text}");
    // The same name registers independently in the second app.
    let other = second
        .container()
        .get::<Metrics>()
        .unwrap()
        .counter("jobs_total", "Other help is fine in another app.", &[])
        .unwrap();
    assert_eq!(other.try_labels(&[]).unwrap().get(), 0.0);
    assert!(!Arc::ptr_eq(
        &first.container().get::<Metrics>().unwrap(),
        &second.container().get::<Metrics>().unwrap()
    ));
    first.shutdown().await.unwrap();
    second.shutdown().await.unwrap();
}

#[tokio::test]
async fn any_module_can_inject_the_metrics() {
    // A provider of another module (which does not import monitoring: it is global).
    struct Jobs {
        done: monitoring_module::prometheus::CounterVec,
    }
    let jobs = Module::new("jobs")
        .provider(Provider::try_factory(|metrics: Arc<Metrics>| {
            metrics
                .counter("jobs_done_total", "Jobs done.", &[])
                .map(|done| Jobs { done })
        }))
        .export::<Jobs>();
    let root = Module::new("app")
        .import(MonitoringModule::new())
        .import(jobs);
    let app = TestingModule::new(root)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let jobs = app.container().get::<Jobs>().unwrap();
    jobs.done.try_labels(&[]).unwrap().inc_by(5.0);
    let samples = parse(&get_text(&app, "/metrics").await.1);
    assert_eq!(value(&samples, "jobs_done_total", &[]), 5.0);
    app.shutdown().await.unwrap();
}
