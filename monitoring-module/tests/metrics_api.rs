//! The custom metrics API: get-or-register, conflicts, invalid names, and label-count
//! errors (never panics), seen through a running app's `/metrics`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{get_text, parse, start, value};
use monitoring_module::{Metrics, MetricsError, TryLabels};

#[tokio::test]
async fn get_or_register_returns_the_same_metric() {
    let app = start("").await;
    let metrics = app.container().get::<Metrics>().unwrap();
    let a = metrics
        .counter("emails_sent_total", "Emails sent.", &["provider"])
        .unwrap();
    let b = metrics
        .counter("emails_sent_total", "Emails sent.", &["provider"])
        .unwrap();
    a.try_labels(&["smtp"]).unwrap().inc();
    b.try_labels(&["smtp"]).unwrap().inc();
    assert_eq!(a.try_labels(&["smtp"]).unwrap().get(), 2.0);

    let g1 = metrics.gauge("pool_size", "Pool size.", &[]).unwrap();
    let g2 = metrics.gauge("pool_size", "Pool size.", &[]).unwrap();
    g1.try_labels(&[]).unwrap().set(4.0);
    assert_eq!(g2.try_labels(&[]).unwrap().get(), 4.0);

    let h1 = metrics
        .histogram("render_seconds", "Render time.", &["page"], None)
        .unwrap();
    let h2 = metrics
        .histogram(
            "render_seconds",
            "Render time.",
            &["page"],
            Some(metrics.default_buckets()),
        )
        .unwrap();
    h1.try_labels(&["home"]).unwrap().observe(0.2);
    h2.try_labels(&["home"]).unwrap().observe(0.4);
    assert_eq!(h1.try_labels(&["home"]).unwrap().get_sample_count(), 2);

    let samples = parse(&get_text(&app, "/metrics").await.1);
    assert_eq!(
        value(&samples, "emails_sent_total", &[("provider", "smtp")]),
        2.0
    );
    assert_eq!(value(&samples, "pool_size", &[]), 4.0);
    assert_eq!(
        value(&samples, "render_seconds_count", &[("page", "home")]),
        2.0
    );
    app.shutdown().await.unwrap();
}

#[test]
fn conflicts_are_errors() {
    let metrics = Metrics::new();
    metrics
        .counter("orders_total", "Orders.", &["channel"])
        .unwrap();
    let conflict = |result: Result<(), MetricsError>, what: &str| match result {
        Err(MetricsError::Conflict { name, reason }) => {
            assert_eq!(name, "orders_total");
            assert!(reason.contains(what), "{reason} mentions {what}");
        }
        other => panic!("expected a conflict, got {other:?}"),
    };
    conflict(
        metrics
            .gauge("orders_total", "Orders.", &["channel"])
            .map(drop),
        "a counter, asked for a gauge",
    );
    conflict(
        metrics
            .histogram("orders_total", "Orders.", &["channel"], None)
            .map(drop),
        "a counter, asked for a histogram",
    );
    conflict(
        metrics
            .counter("orders_total", "Other help.", &["channel"])
            .map(drop),
        "help",
    );
    conflict(
        metrics
            .counter("orders_total", "Orders.", &["region"])
            .map(drop),
        "labels",
    );
    conflict(
        metrics
            .counter("orders_total", "Orders.", &["channel", "region"])
            .map(drop),
        "labels",
    );

    metrics
        .histogram("latency_seconds", "Latency.", &[], Some(&[0.1, 1.0]))
        .unwrap();
    match metrics.histogram("latency_seconds", "Latency.", &[], Some(&[0.1, 2.0])) {
        Err(MetricsError::Conflict { reason, .. }) => assert!(reason.contains("buckets")),
        other => panic!("expected a conflict, got {other:?}"),
    }
    // The error message says what to do.
    let message = metrics
        .gauge("orders_total", "Orders.", &["channel"])
        .unwrap_err()
        .to_string();
    assert!(message.contains("orders_total"), "{message}");
}

#[test]
fn invalid_names_say_what_is_allowed() {
    let metrics = Metrics::new();
    for name in ["", "1st_total", "orders-total", "orders total", "ünïcode"] {
        match metrics.counter(name, "Help.", &[]) {
            Err(error @ MetricsError::InvalidName { .. }) => {
                assert!(
                    error.to_string().contains("[a-zA-Z_:][a-zA-Z0-9_:]*"),
                    "{error}"
                );
            }
            other => panic!("{name:?}: expected InvalidName, got {other:?}"),
        }
    }
    for label in ["__reserved", "a:b", "1x", "with-dash", ""] {
        match metrics.gauge("ok_name", "Help.", &[label]) {
            Err(error @ MetricsError::InvalidName { .. }) => {
                let message = error.to_string();
                assert!(message.contains("[a-zA-Z_][a-zA-Z0-9_]*"), "{message}");
                assert!(message.contains("__"), "{message}");
            }
            other => panic!("{label:?}: expected InvalidName, got {other:?}"),
        }
    }
    // Colons are fine in metric names (recording rules), not in labels.
    metrics
        .gauge("job:latency:p95", "Help.", &["_job"])
        .unwrap();
    // Empty help and bad buckets are reported too.
    assert!(matches!(
        metrics.counter("no_help_total", "", &[]),
        Err(MetricsError::Invalid { .. })
    ));
    assert!(matches!(
        metrics.histogram("bad_buckets", "Help.", &[], Some(&[1.0, 0.5])),
        Err(MetricsError::Invalid { .. })
    ));
}

#[test]
fn wrong_label_counts_are_errors_not_panics() {
    let metrics = Metrics::new();
    let counter = metrics
        .counter("calls_total", "Calls.", &["service", "outcome"])
        .unwrap();
    let gauge = metrics
        .gauge("temperature", "Temperature.", &["room"])
        .unwrap();
    let histogram = metrics
        .histogram("wait_seconds", "Wait.", &[], None)
        .unwrap();
    assert!(matches!(
        counter.try_labels(&["billing"]),
        Err(MetricsError::LabelCount {
            expected: 2,
            got: 1
        })
    ));
    assert!(matches!(
        gauge.try_labels(&["a", "b"]),
        Err(MetricsError::LabelCount {
            expected: 1,
            got: 2
        })
    ));
    assert!(matches!(
        histogram.try_labels(&["x"]),
        Err(MetricsError::LabelCount {
            expected: 0,
            got: 1
        })
    ));
    // prometheus's own non-panicking accessor converts the same way.
    let error: MetricsError = counter
        .get_metric_with_label_values(&["only-one"])
        .unwrap_err()
        .into();
    assert!(
        error.to_string().contains("has 2 label(s), got 1"),
        "{error}"
    );
    // Nothing was recorded by the failed calls.
    assert!(!metrics.render().unwrap().contains("calls_total{"));
}

#[test]
fn process_names_are_taken_by_the_collector() {
    let metrics = Metrics::new();
    metrics
        .register(Box::new(
            monitoring_module::ProcessCollector::new().unwrap(),
        ))
        .unwrap();
    assert!(matches!(
        metrics.counter("process_cpu_seconds_total", "CPU.", &[]),
        Err(MetricsError::Conflict { .. })
    ));
    // Registering it twice is a conflict as well, not a panic.
    assert!(matches!(
        metrics.register(Box::new(
            monitoring_module::ProcessCollector::new().unwrap()
        )),
        Err(MetricsError::Conflict { .. })
    ));
    let text = metrics.render().unwrap();
    assert!(text.contains("# TYPE process_cpu_seconds_total counter"));
}
