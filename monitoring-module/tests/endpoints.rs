//! The module's endpoints over loopback HTTP: the Prometheus text with the process
//! families, and the JSON views (`/monitoring/metrics`, `/functions`, `/system`).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::{Duration, Instant};

use common::{get_json, get_text, parse, start, value};
use monitoring_module::{Metrics, TEXT_CONTENT_TYPE, TryLabels};
use serde_json::{Value, json};

#[tokio::test]
async fn metrics_text_has_the_process_families() {
    let app = start("").await;
    let response = reqwest::get(format!("{}/metrics", app.base_url()))
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().unwrap(),
        "text/plain; version=0.0.4; charset=utf-8"
    );
    assert_eq!(
        TEXT_CONTENT_TYPE,
        "text/plain; version=0.0.4; charset=utf-8"
    );
    let text = response.text().await.unwrap();
    for (name, kind) in [
        ("process_cpu_seconds_total", "counter"),
        ("process_resident_memory_bytes", "gauge"),
        ("process_virtual_memory_bytes", "gauge"),
        ("process_open_fds", "gauge"),
        ("process_max_fds", "gauge"),
        ("process_start_time_seconds", "gauge"),
        ("process_threads", "gauge"),
    ] {
        assert!(
            text.contains(&format!("# TYPE {name} {kind}\n")),
            "{name} {kind} in\n{text}"
        );
        assert!(text.contains(&format!("# HELP {name} ")), "{name} help");
    }
    let samples = parse(&text);
    assert!(value(&samples, "process_resident_memory_bytes", &[]) > 0.0);
    assert!(value(&samples, "process_open_fds", &[]) > 0.0);
    assert!(value(&samples, "process_threads", &[]) >= 1.0);
    let started = value(&samples, "process_start_time_seconds", &[]);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    assert!(
        started > 1_600_000_000.0 && started <= now + 1.0,
        "{started}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn json_metrics_view_lists_every_family() {
    let app = start("").await;
    get_text(&app, "/orders/1").await;
    let json = get_json(&app, "/monitoring/metrics").await;
    let families = json["families"].as_array().unwrap();
    let names: Vec<&str> = families
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");
    let family = |name: &str| -> &Value {
        families
            .iter()
            .find(|f| f["name"] == name)
            .unwrap_or_else(|| panic!("{name} in {names:?}"))
    };

    let requests = family("http_requests_total");
    assert_eq!(requests["type"], "counter");
    assert!(requests["help"].as_str().unwrap().len() > 5);
    let sample = requests["samples"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["labels"]["route"] == "/orders/{id}")
        .unwrap();
    assert_eq!(
        sample["labels"],
        json!({"method": "GET", "route": "/orders/{id}", "status": "200"})
    );
    assert_eq!(sample["value"], 1.0);

    let duration = family("http_request_duration_seconds");
    assert_eq!(duration["type"], "histogram");
    let sample = &duration["samples"][0];
    assert_eq!(
        sample["labels"],
        json!({"method": "GET", "route": "/orders/{id}"})
    );
    assert_eq!(sample["count"], 1);
    assert!(sample["sum"].as_f64().unwrap() > 0.0);
    let buckets = sample["buckets"].as_array().unwrap();
    assert_eq!(buckets[0]["le"], "0.005");
    assert_eq!(buckets.last().unwrap(), &json!({"le": "+Inf", "count": 1}));
    let counts: Vec<u64> = buckets
        .iter()
        .map(|b| b["count"].as_u64().unwrap())
        .collect();
    assert!(
        counts.windows(2).all(|w| w[0] <= w[1]),
        "cumulative: {counts:?}"
    );
    assert!(sample.get("value").is_none());

    assert_eq!(family("process_threads")["type"], "gauge");
    assert_eq!(family("orders_viewed_total")["samples"][0]["value"], 1.0);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn system_view_reports_this_process() {
    let app = start("").await;
    // Use some CPU so that cpu_seconds (10 ms resolution) cannot read 0.
    let spin = Instant::now();
    let mut x = 0_u64;
    while spin.elapsed() < Duration::from_millis(50) {
        x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(1));
    }
    let json = get_json(&app, "/monitoring/system").await;
    for field in [
        "rss_bytes",
        "virtual_memory_bytes",
        "cpu_seconds",
        "uptime_seconds",
        "open_fds",
        "max_fds",
        "threads",
        "pid",
    ] {
        let value = json[field]
            .as_f64()
            .unwrap_or_else(|| panic!("{field} is a number in {json}"));
        assert!(value > 0.0, "{field} = {value}");
    }
    assert_eq!(json["pid"], std::process::id());
    assert!(json["rss_bytes"].as_u64().unwrap() <= json["virtual_memory_bytes"].as_u64().unwrap());
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn functions_view_is_empty_without_inngest_families() {
    let app = start("").await;
    assert_eq!(
        get_json(&app, "/monitoring/functions").await,
        json!({"functions": []})
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn functions_view_from_the_documented_families() {
    let app = start("").await;
    let metrics = app.container().get::<Metrics>().unwrap();
    let runs = metrics
        .counter(
            "inngest_function_runs_total",
            "Inngest function runs by outcome.",
            &["function_id", "status"],
        )
        .unwrap();
    let duration = metrics
        .histogram(
            "inngest_function_duration_seconds",
            "Inngest function run duration in seconds.",
            &["function_id"],
            Some(&[0.1, 0.5, 1.0, 5.0]),
        )
        .unwrap();
    let last_run = metrics
        .gauge(
            "inngest_function_last_run_timestamp_seconds",
            "When the function last ran (Unix seconds).",
            &["function_id"],
        )
        .unwrap();

    // send-mail: 7 completed, 2 failed, 3 retrying.
    runs.try_labels(&["send-mail", "completed"])
        .unwrap()
        .inc_by(7.0);
    runs.try_labels(&["send-mail", "failed"])
        .unwrap()
        .inc_by(2.0);
    runs.try_labels(&["send-mail", "retrying"])
        .unwrap()
        .inc_by(3.0);
    // Ten durations: ≤0.1: 2, ≤0.5: 5, ≤1.0: 8, ≤5.0: 10.
    let send_mail = duration.try_labels(&["send-mail"]).unwrap();
    for seconds in [0.05, 0.05, 0.2, 0.3, 0.4, 0.7, 0.8, 0.9, 2.0, 3.0] {
        send_mail.observe(seconds);
    }
    last_run
        .try_labels(&["send-mail"])
        .unwrap()
        .set(1_700_000_000.0);
    // sync-crm: one completed run, no durations, no timestamp.
    runs.try_labels(&["sync-crm", "completed"]).unwrap().inc();
    // flaky: only retries so far.
    runs.try_labels(&["flaky", "retrying"]).unwrap().inc_by(4.0);

    let json = get_json(&app, "/monitoring/functions").await;
    let functions = json["functions"].as_array().unwrap();
    let ids: Vec<&str> = functions
        .iter()
        .map(|f| f["function_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, ["flaky", "send-mail", "sync-crm"]);

    let send_mail = &functions[1];
    assert_eq!(
        send_mail["runs"], 9,
        "completed + failed; retries are not runs"
    );
    assert_eq!(send_mail["completed"], 7);
    assert_eq!(send_mail["failed"], 2);
    assert_eq!(send_mail["retrying"], 3);
    assert_eq!(send_mail["errors"], 5);
    close(&send_mail["success_rate"], 7.0 / 9.0);
    // p50: rank 5 of 10 is the last of the 3 in (0.1, 0.5]: 0.1 + 0.4 × 3/3 = 0.5.
    close(&send_mail["p50_seconds"], 0.5);
    // p95: rank 9.5 is 1.5 of the 2 in (1.0, 5.0]: 1.0 + 4.0 × 1.5/2 = 4.0.
    close(&send_mail["p95_seconds"], 4.0);
    assert_eq!(send_mail["last_run"], "2023-11-14T22:13:20.000Z");

    let sync_crm = &functions[2];
    assert_eq!(sync_crm["runs"], 1);
    close(&sync_crm["success_rate"], 1.0);
    assert_eq!(sync_crm["errors"], 0);
    assert!(sync_crm["p50_seconds"].is_null());
    assert!(sync_crm["p95_seconds"].is_null());
    assert!(sync_crm["last_run"].is_null());

    let flaky = &functions[0];
    assert_eq!(flaky["runs"], 0);
    assert_eq!(flaky["retrying"], 4);
    assert_eq!(flaky["errors"], 4);
    assert!(flaky["success_rate"].is_null());

    // The same families are in the Prometheus text.
    let samples = parse(&get_text(&app, "/metrics").await.1);
    assert_eq!(
        value(
            &samples,
            "inngest_function_duration_seconds_count",
            &[("function_id", "send-mail")]
        ),
        10.0
    );
    app.shutdown().await.unwrap();
}

fn close(value: &Value, expected: f64) {
    let actual = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is a number"));
    assert!((actual - expected).abs() < 1e-9, "{actual} != {expected}");
}

/// `promtool check metrics` (installed by `scripts/test`) accepts the exposition, lints
/// included. promtool is required (Debian package `prometheus`).
#[tokio::test]
async fn promtool_accepts_the_text_format() {
    use std::io::Write;
    use std::process::{Command, Stdio};

    let app = start("").await;
    get_text(&app, "/orders/1").await;
    get_text(&app, "/nope").await;
    let text = get_text(&app, "/metrics").await.1;
    app.shutdown().await.unwrap();

    let child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = child
        .expect("promtool is installed (Debian package `prometheus`; scripts/test installs it)");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(text.as_bytes())
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}\n{text}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}
