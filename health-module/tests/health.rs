#![allow(clippy::unwrap_used, clippy::expect_used)]
//! End-to-end tests of the health module over real loopback HTTP.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use framework::{Error, Module, Provider, RunningApp, TestingModule};
use health_module::{
    BoxFuture, Check, HealthIndicator, HealthIndicators, HealthModule, HealthOptions,
    HealthService, HealthStatus,
};
use serde_json::{Value, json};

/// What a test indicator does when checked.
enum Behavior {
    Up,
    Down(&'static str),
    Hang,
    Panic,
    PanicBeforeFuture,
    Sleep(Duration, Arc<Mutex<Vec<(Instant, Instant)>>>),
    Count(Arc<AtomicUsize>),
}

struct TestIndicator {
    name: &'static str,
    readiness: bool,
    behavior: Behavior,
}

impl HealthIndicator for TestIndicator {
    fn name(&self) -> &str {
        self.name
    }

    fn readiness(&self) -> bool {
        self.readiness
    }

    fn check(&self) -> BoxFuture<'_, Check> {
        if matches!(self.behavior, Behavior::PanicBeforeFuture) {
            panic!("boom before the future");
        }
        Box::pin(async move {
            match &self.behavior {
                Behavior::Up => Check::up().with("pool", 8),
                Behavior::Down(message) => Check::down(*message).with("host", "db.internal"),
                Behavior::Hang => std::future::pending().await,
                Behavior::Panic => panic!("boom"),
                Behavior::PanicBeforeFuture => unreachable!(),
                Behavior::Sleep(duration, record) => {
                    let start = Instant::now();
                    tokio::time::sleep(*duration).await;
                    record.lock().unwrap().push((start, Instant::now()));
                    Check::up()
                }
                Behavior::Count(calls) => {
                    calls.fetch_add(1, Ordering::SeqCst);
                    Check::up()
                }
            }
        })
    }
}

/// A provider contributing `indicator`; `key` keeps providers of one type apart.
fn indicator(
    key: &'static str,
    name: &'static str,
    readiness: bool,
    behavior: Behavior,
) -> Provider<TestIndicator> {
    Provider::value(TestIndicator {
        name,
        readiness,
        behavior,
    })
    .named(key)
    .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>)
}

/// An app module that optionally imports the health module and declares `providers`.
fn app(providers: Vec<Provider<TestIndicator>>) -> Module {
    providers.into_iter().fold(
        Module::new("app").import_optional(HealthModule::new()),
        Module::provider,
    )
}

/// Built-in indicators up whatever the machine.
const RELAXED: &str = "[health]\nmemory_rss_threshold_mb = 1000000\ndisk_threshold = 1.0\n";

async fn start(module: Module, toml: &str) -> RunningApp {
    TestingModule::new(module)
        .config(toml)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

async fn build_error(module: Module, toml: &str) -> Error {
    TestingModule::new(module)
        .config(toml)
        .build()
        .await
        .expect_err("the build should fail")
}

async fn get(running: &RunningApp, path: &str) -> (u16, Value) {
    let response = reqwest::get(format!("{}{path}", running.base_url()))
        .await
        .unwrap();
    let status = response.status().as_u16();
    let body = response.json::<Value>().await.unwrap_or(Value::Null);
    (status, body)
}

fn keys(value: &Value) -> Vec<&str> {
    let mut keys: Vec<&str> = value
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    keys
}

#[tokio::test]
async fn every_endpoint_when_all_is_up() {
    let running = start(
        app(vec![indicator("db", "db", true, Behavior::Up)]),
        RELAXED,
    )
    .await;
    let db = json!({"status": "up", "pool": 8});

    let (status, body) = get(&running, "/health").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "ok");
    assert_eq!(keys(&body), ["details", "error", "info", "status"]);
    assert_eq!(keys(&body["info"]), ["db", "disk", "memory"]);
    assert_eq!(body["error"], json!({}));
    assert_eq!(body["details"], body["info"]);
    assert_eq!(body["info"]["db"], db);
    assert_eq!(body["info"]["memory"]["status"], "up");
    assert_eq!(body["info"]["memory"]["threshold_mb"], 1_000_000);
    assert!(body["info"]["memory"]["rss_mb"].is_u64());
    assert_eq!(body["info"]["disk"]["status"], "up");

    let live = json!({"status": "ok", "info": {}, "error": {}, "details": {}});
    assert_eq!(get(&running, "/health/live").await, (200, live.clone()));
    assert_eq!(get(&running, "/livez").await, (200, live));

    // memory and disk are not readiness indicators.
    let ready = json!({"status": "ok", "info": {"db": db}, "error": {}, "details": {"db": db}});
    assert_eq!(get(&running, "/health/ready").await, (200, ready.clone()));
    assert_eq!(get(&running, "/readyz").await, (200, ready.clone()));
    assert_eq!(get(&running, "/health/db").await, (200, ready));

    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_down_indicator_fails_health_and_readiness_but_not_liveness() {
    let running = start(
        app(vec![
            indicator("db", "db", true, Behavior::Down("db unreachable")),
            indicator("cache", "cache", true, Behavior::Up),
        ]),
        RELAXED,
    )
    .await;
    let down = json!({"status": "down", "message": "db unreachable", "host": "db.internal"});

    let (status, body) = get(&running, "/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["status"], "error");
    assert_eq!(body["error"], json!({"db": down}));
    assert_eq!(keys(&body["info"]), ["cache", "disk", "memory"]);
    assert_eq!(keys(&body["details"]), ["cache", "db", "disk", "memory"]);

    let (status, body) = get(&running, "/health/ready").await;
    assert_eq!(status, 503);
    assert_eq!(
        body,
        json!({
            "status": "error",
            "info": {"cache": {"status": "up", "pool": 8}},
            "error": {"db": down},
            "details": {"cache": {"status": "up", "pool": 8}, "db": down},
        })
    );
    assert_eq!(get(&running, "/readyz").await.0, 503);
    assert_eq!(get(&running, "/health/db").await.0, 503);
    assert_eq!(get(&running, "/health/cache").await.0, 200);
    assert_eq!(get(&running, "/health/live").await.0, 200);
    assert_eq!(get(&running, "/livez").await.0, 200);

    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_down_indicator_outside_readiness_leaves_ready_up() {
    let running = start(
        app(vec![
            indicator("queue", "queue", false, Behavior::Down("lagging")),
            indicator("db", "db", true, Behavior::Up),
        ]),
        RELAXED,
    )
    .await;
    let (status, body) = get(&running, "/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body["details"]), ["db"]);
    let (status, body) = get(&running, "/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["queue"]["message"], "lagging");
    assert_eq!(get(&running, "/health/queue").await.0, 503);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_hanging_indicator_times_out() {
    let running = start(
        app(vec![
            indicator("slow", "slow", true, Behavior::Hang),
            indicator("db", "db", true, Behavior::Up),
        ]),
        &format!("{RELAXED}timeout = \"100ms\"\n"),
    )
    .await;
    let (status, body) = get(&running, "/health/ready").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"]["slow"],
        json!({"status": "down", "message": "timed out after 100ms"})
    );
    assert_eq!(body["info"]["db"]["status"], "up");
    let (status, body) = get(&running, "/health/slow").await;
    assert_eq!(status, 503);
    assert_eq!(body["error"]["slow"]["message"], "timed out after 100ms");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_panicking_indicator_is_down_and_the_app_keeps_serving() {
    let running = start(
        app(vec![
            indicator("boom", "boom", true, Behavior::Panic),
            indicator("early", "early", true, Behavior::PanicBeforeFuture),
            indicator("db", "db", true, Behavior::Up),
        ]),
        RELAXED,
    )
    .await;
    let (status, body) = get(&running, "/health").await;
    assert_eq!(status, 503);
    assert_eq!(
        body["error"]["boom"],
        json!({"status": "down", "message": "the indicator panicked: boom"})
    );
    assert_eq!(
        body["error"]["early"]["message"],
        "the indicator panicked: boom before the future"
    );
    assert_eq!(body["info"]["db"]["status"], "up");
    assert_eq!(get(&running, "/health/db").await.0, 200);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn indicators_run_concurrently() {
    let record = Arc::new(Mutex::new(Vec::new()));
    let nap = Duration::from_millis(300);
    let running = start(
        app(vec![
            indicator("a", "a", true, Behavior::Sleep(nap, Arc::clone(&record))),
            indicator("b", "b", true, Behavior::Sleep(nap, Arc::clone(&record))),
        ]),
        &format!("{RELAXED}timeout = \"1s\"\ncache_ms = 0\n"),
    )
    .await;
    let (status, body) = get(&running, "/health/ready").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(keys(&body["info"]), ["a", "b"]);
    let runs = record.lock().unwrap().clone();
    assert_eq!(runs.len(), 2);
    let ((start_a, end_a), (start_b, end_b)) = (runs[0], runs[1]);
    assert!(
        start_a < end_b && start_b < end_a,
        "the two checks did not overlap: {runs:?}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn results_are_cached_for_cache_ms() {
    let calls = Arc::new(AtomicUsize::new(0));
    let running = start(
        app(vec![indicator(
            "counter",
            "counter",
            true,
            Behavior::Count(Arc::clone(&calls)),
        )]),
        &format!("{RELAXED}cache_ms = 60000\n"),
    )
    .await;
    assert_eq!(get(&running, "/health/counter").await.0, 200);
    assert_eq!(get(&running, "/health/counter").await.0, 200);
    assert_eq!(get(&running, "/health").await.0, 200);
    assert_eq!(get(&running, "/health/ready").await.0, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    running.shutdown().await.unwrap();

    let calls = Arc::new(AtomicUsize::new(0));
    let running = start(
        app(vec![indicator(
            "counter",
            "counter",
            true,
            Behavior::Count(Arc::clone(&calls)),
        )]),
        &format!("{RELAXED}cache_ms = 0\n"),
    )
    .await;
    assert_eq!(get(&running, "/health/counter").await.0, 200);
    assert_eq!(get(&running, "/health/counter").await.0, 200);
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn without_details_entries_are_bare() {
    let running = start(
        app(vec![
            indicator("db", "db", true, Behavior::Up),
            indicator("bad", "bad", true, Behavior::Down("nope")),
        ]),
        &format!("{RELAXED}show_details = false\n"),
    )
    .await;
    assert_eq!(
        get(&running, "/health/ready").await,
        (
            503,
            json!({
                "status": "error",
                "info": {"db": {"status": "up"}},
                "error": {"bad": {"status": "down"}},
            })
        )
    );
    assert_eq!(
        get(&running, "/health/live").await,
        (200, json!({"status": "ok", "info": {}, "error": {}}))
    );
    let (status, body) = get(&running, "/health").await;
    assert_eq!(status, 503);
    assert_eq!(body["info"]["memory"], json!({"status": "up"}));
    assert!(body.get("details").is_none());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_unknown_indicator_is_404_with_the_known_names() {
    let running = start(
        app(vec![indicator("db", "db", true, Behavior::Up)]),
        RELAXED,
    )
    .await;
    let (status, body) = get(&running, "/health/nope").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({
            "status": "error",
            "message": "no health indicator is named `nope`",
            "indicators": ["db", "disk", "memory"],
        })
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn duplicate_names_stop_start_up_naming_both() {
    let other = Module::new("other").provider(indicator("second", "db", true, Behavior::Up));
    let root = app(vec![indicator("first", "db", true, Behavior::Up)]).import(other);
    let message = build_error(root, RELAXED).await.to_string();
    assert!(
        message.contains("two health indicators are named `db`"),
        "{message}"
    );
    assert!(message.contains("in module `app`"), "{message}");
    assert!(message.contains("in module `other`"), "{message}");
    assert!(message.contains("\"first\""), "{message}");
    assert!(message.contains("\"second\""), "{message}");

    // A user indicator may not take a built-in's name either.
    let root = app(vec![indicator("mine", "memory", true, Behavior::Up)]);
    let message = build_error(root, RELAXED).await.to_string();
    assert!(message.contains("named `memory`"), "{message}");
    assert!(message.contains("MemoryIndicator"), "{message}");
}

#[tokio::test]
async fn names_shadowed_by_routes_stop_start_up() {
    let root = app(vec![indicator("x", "ready", true, Behavior::Up)]);
    let message = build_error(root, RELAXED).await.to_string();
    assert!(message.contains("\"ready\""), "{message}");
    assert!(message.contains("reserved"), "{message}");
}

#[tokio::test]
async fn a_disabled_module_serves_nothing() {
    let running = start(
        app(vec![indicator("db", "db", true, Behavior::Up)]),
        "[modules.health]\nenabled = false\n[health]\npath = \"/health\"\n",
    )
    .await;
    assert_eq!(get(&running, "/health").await.0, 404);
    assert_eq!(get(&running, "/health/live").await.0, 404);
    assert_eq!(get(&running, "/livez").await.0, 404);
    assert!(running.container().get::<HealthService>().is_err());
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn invalid_options_are_reported_path_qualified() {
    let error = build_error(
        app(vec![]),
        "[health]\npath = \"health/\"\ndisk_threshold = 2.0\ntimeout = \"0s\"\nshow_detail = true\n",
    )
    .await;
    let Error::Invalid(report) = error else {
        panic!("expected a report, got {error}");
    };
    assert_eq!(
        report.messages(),
        [
            "health.show_detail: unknown key: no such setting in this section (did you mean `show_details`?)"
        ]
    );

    let error = build_error(
        app(vec![]),
        "[health]\npath = \"health/\"\ndisk_threshold = 2.0\ntimeout = \"0s\"\n",
    )
    .await;
    let Error::Invalid(report) = error else {
        panic!("expected a report, got {error}");
    };
    assert_eq!(
        report.messages(),
        [
            "health.disk_threshold: must be between 0 and 1 (a used fraction, e.g. 0.9)",
            "health.path: must start with `/` and not end with one, e.g. `/health`",
            "health.timeout: must be greater than 0 (e.g. \"3s\")",
        ]
    );
}

#[tokio::test]
async fn options_in_code() {
    let root = Module::new("app")
        .import(HealthModule::for_root(HealthOptions {
            path: "/status".into(),
            aliases: false,
            memory_rss_threshold_mb: 1_000_000,
            disk_threshold: 1.0,
            ..HealthOptions::default()
        }))
        .provider(indicator("db", "db", true, Behavior::Up));
    let running = start(root, "").await;
    assert_eq!(get(&running, "/status").await.0, 200);
    assert_eq!(get(&running, "/status/live").await.0, 200);
    assert_eq!(get(&running, "/status/ready").await.0, 200);
    assert_eq!(get(&running, "/status/db").await.0, 200);
    assert_eq!(get(&running, "/health").await.0, 404);
    assert_eq!(get(&running, "/livez").await.0, 404);

    // The service is exported and usable from code.
    let service = running.container().get::<HealthService>().unwrap();
    assert_eq!(service.names(), ["db", "disk", "memory"]);
    assert_eq!(service.readiness_names(), ["db"]);
    let report = service.check_readiness().await;
    assert_eq!(report.status, HealthStatus::Ok);
    assert!(service.check_one("nope").await.is_err());
    running.shutdown().await.unwrap();

    let message = build_error(
        Module::new("app").import(HealthModule::for_root(HealthOptions {
            path: "status".into(),
            ..HealthOptions::default()
        })),
        "",
    )
    .await
    .to_string();
    assert!(
        message.contains("health.path: must start with `/`"),
        "{message}"
    );
}

#[tokio::test]
async fn readiness_fails_while_draining_but_liveness_holds() {
    let running = start(
        app(vec![indicator("db", "db", true, Behavior::Up)]),
        &format!("{RELAXED}[server]\ndrain_delay = \"1s\"\n"),
    )
    .await;
    assert_eq!(get(&running, "/health/ready").await.0, 200);
    let base = running.base_url();
    let readiness = Arc::clone(running.readiness());
    let shutdown = tokio::spawn(running.shutdown());
    while !readiness.is_shutting_down() {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let shutting_down = json!({
        "status": "shutting_down",
        "info": {},
        "error": {"app": {"status": "down", "message": "the application is shutting down"}},
        "details": {"app": {"status": "down", "message": "the application is shutting down"}},
    });
    for path in ["/health/ready", "/readyz"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status().as_u16(), 503, "{path}");
        assert_eq!(response.json::<Value>().await.unwrap(), shutting_down);
    }
    for path in ["/health/live", "/livez"] {
        let response = reqwest::get(format!("{base}{path}")).await.unwrap();
        assert_eq!(response.status().as_u16(), 200, "{path}");
    }
    // Dependency checks themselves still answer.
    let response = reqwest::get(format!("{base}/health/db")).await.unwrap();
    assert_eq!(response.status().as_u16(), 200);
    shutdown.await.unwrap().unwrap();
}

#[tokio::test]
async fn memory_is_down_above_its_threshold() {
    let running = start(
        app(vec![]),
        "[health]\nmemory_rss_threshold_mb = 1\ndisk_threshold = 1.0\n",
    )
    .await;
    let (status, body) = get(&running, "/health/memory").await;
    assert_eq!(status, 503, "{body}");
    let entry = &body["error"]["memory"];
    assert_eq!(entry["status"], "down");
    assert_eq!(entry["threshold_mb"], 1);
    assert!(entry["rss_mb"].as_u64().unwrap() >= 1);
    assert!(
        entry["message"]
            .as_str()
            .unwrap()
            .contains("above the threshold of 1 MiB")
    );
    // Not a readiness indicator: readiness stays up.
    assert_eq!(get(&running, "/health/ready").await.0, 200);
    assert_eq!(get(&running, "/health").await.0, 503);
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn disk_reports_its_details() {
    let running = start(app(vec![]), RELAXED).await;
    let (status, body) = get(&running, "/health/disk").await;
    assert_eq!(status, 200, "{body}");
    let entry = &body["info"]["disk"];
    assert_eq!(
        keys(entry),
        ["free_bytes", "path", "status", "threshold", "used_fraction"]
    );
    assert_eq!(entry["path"], "/");
    assert_eq!(entry["threshold"], 1.0);
    let used = entry["used_fraction"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&used));
    assert!(entry["free_bytes"].is_u64());
    running.shutdown().await.unwrap();

    let running = start(
        app(vec![]),
        "[health]\nmemory_rss_threshold_mb = 1000000\ndisk_path = \"/no/such/dir\"\n",
    )
    .await;
    let (status, body) = get(&running, "/health/disk").await;
    assert_eq!(status, 503);
    let message = body["error"]["disk"]["message"].as_str().unwrap();
    assert!(
        message.contains("cannot stat the filesystem of /no/such/dir"),
        "{message}"
    );
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn any_module_injects_the_health_service_without_importing_the_module() {
    struct Reporter(Arc<HealthService>);
    let reports =
        Module::new("reports").provider(Provider::factory(|service: Arc<HealthService>| {
            Reporter(service)
        }));
    let app = TestingModule::new(
        Module::new("app")
            .import(HealthModule::new())
            .import(reports),
    )
    .build()
    .await
    .expect("the health module is global");
    // The very service the health module built, not a copy.
    let reporter = app.get::<Reporter>().expect("built");
    assert!(Arc::ptr_eq(
        &reporter.0,
        &app.get::<HealthService>().unwrap()
    ));
}
