//! The health and monitoring modules mounted by `InngestModule` from its own options: the
//! `inngest` indicator, the `inngest_*` metrics fed by the hooks, and nothing at all when
//! they are switched off. Real apps on loopback; the embedded executor runs the functions.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use framework::{Module, Provider, RunningApp, TestingModule, injectable};
use inngest_module::metrics::InngestMetrics;
use inngest_module::{
    self as inngest, Ctx, EmbeddedExecutor, Event, InngestModule, InngestOptions, InngestService,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Attempts(AtomicUsize);

struct Jobs {
    attempts: Arc<Attempts>,
}

#[injectable]
impl Jobs {
    fn new(attempts: Arc<Attempts>) -> Self {
        Self { attempts }
    }

    #[inngest::function(id = "two-steps", event = "job/two")]
    async fn two_steps(&self, ctx: Ctx) -> inngest::Result<Value> {
        let a: i32 = ctx.step.run("first", || async { Ok(1) }).await?;
        let b: i32 = ctx.step.run("second", || async move { Ok(a + 1) }).await?;
        Ok(json!({ "b": b }))
    }

    #[inngest::function(id = "flaky", event = "job/flaky", retries = 2)]
    async fn flaky(&self, ctx: Ctx) -> inngest::Result<Value> {
        let attempts = Arc::clone(&self.attempts);
        ctx.step
            .run("try", || async move {
                if attempts.0.fetch_add(1, Ordering::SeqCst) == 0 {
                    Err(inngest::Error::retriable("first attempt fails"))
                } else {
                    Ok(())
                }
            })
            .await?;
        Ok(json!("ok"))
    }

    #[inngest::function(id = "slow", event = "job/slow")]
    async fn slow(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step
            .run("crawl", || async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(())
            })
            .await?;
        Ok(json!("done"))
    }

    #[inngest::function(id = "doomed", event = "job/doomed")]
    async fn doomed(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Err(inngest::Error::non_retriable("never works"))
    }
}

const FAST: &str = "[inngest]\napp_id = \"jobs\"\n[inngest.embedded]\nretry_backoff = \"20ms\"\nretry_max_backoff = \"100ms\"\n";

async fn start(config: &str) -> RunningApp {
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .provider(Provider::value(Attempts::default()))
        .provide::<Jobs>();
    TestingModule::new(root)
        .config(config.to_string())
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

async fn run_to_end(app: &RunningApp, name: &str) -> String {
    let service = app.container().get::<InngestService>().unwrap();
    let ids = service.send(Event::new(name, json!({}))).await.unwrap();
    let executor = executor(app);
    let filter = inngest_module::executor::RunFilter {
        event: Some(ids[0].clone()),
        ..Default::default()
    };
    let run_id = executor.runs(&filter).await.unwrap()[0].run_id.clone();
    let run = executor
        .wait_for_run(&run_id, Duration::from_secs(20))
        .await
        .unwrap()
        .unwrap();
    run.status.as_str().to_string()
}

async fn get(url: String) -> (u16, String) {
    let response = reqwest::get(url).await.unwrap();
    (response.status().as_u16(), response.text().await.unwrap())
}

fn sample(exposition: &str, series: &str) -> Option<f64> {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
}

#[tokio::test]
async fn mounted_from_options_the_hooks_feed_the_inngest_metrics() {
    let app = start(&format!(
        // The disk indicator is relaxed: the test is about the inngest indicator, not about
        // how full this machine's disk is.
        "{FAST}[inngest.health]\nenabled = true\n[inngest.monitoring]\nenabled = true\n[health]\ndisk_threshold = 1.0\n"
    ))
    .await;
    let base = app.base_url();
    assert_eq!(run_to_end(&app, "job/two").await, "Completed");
    assert_eq!(run_to_end(&app, "job/flaky").await, "Completed");
    assert_eq!(run_to_end(&app, "job/doomed").await, "Failed");

    let (status, metrics) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let value = |series: &str| sample(&metrics, series);
    // Runs: each function completed or failed once; flaky's first request failed and retried.
    assert_eq!(
        value(r#"inngest_function_runs_total{function_id="jobs-two-steps",status="completed"}"#),
        Some(1.0),
        "{metrics}"
    );
    assert_eq!(
        value(r#"inngest_function_runs_total{function_id="jobs-doomed",status="failed"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(r#"inngest_function_runs_total{function_id="jobs-flaky",status="completed"}"#),
        Some(1.0)
    );
    // Series exist at zero from start-up, so dashboards see them before anything fails.
    assert_eq!(
        value(r#"inngest_function_runs_total{function_id="jobs-two-steps",status="failed"}"#),
        Some(0.0)
    );
    // Steps: two-steps ran two bodies; flaky's step failed once (StepError) then ran.
    assert_eq!(
        value(r#"inngest_step_runs_total{function_id="jobs-two-steps",status="completed"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(r#"inngest_step_runs_total{function_id="jobs-flaky",status="retrying"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(r#"inngest_step_runs_total{function_id="jobs-flaky",status="completed"}"#),
        Some(1.0)
    );
    // two-steps took one execution request: both steps checkpointed, then RunComplete
    // (checkpointing is on by default; it took three before: step, step, completion).
    assert_eq!(
        value(r#"inngest_function_duration_seconds_count{function_id="jobs-two-steps"}"#),
        Some(1.0)
    );
    assert_eq!(
        value(r#"inngest_step_duration_seconds_count{function_id="jobs-two-steps"}"#),
        Some(2.0)
    );
    assert_eq!(
        value(r#"inngest_function_runs_in_flight{function_id="jobs-two-steps"}"#),
        Some(0.0)
    );
    assert!(
        value(r#"inngest_function_last_run_timestamp_seconds{function_id="jobs-two-steps"}"#)
            .unwrap()
            > 1.7e9
    );
    assert_eq!(
        value(r#"inngest_events_sent_total{status="ok"}"#),
        Some(3.0)
    );
    assert_eq!(
        value(r#"inngest_events_sent_total{status="error"}"#),
        Some(0.0)
    );
    assert_eq!(value(r#"inngest_syncs_total{status="ok"}"#), Some(1.0));
    assert_eq!(value("inngest_registered_functions"), Some(4.0));
    assert_eq!(
        value(&format!(
            r#"inngest_build_info{{app_id="jobs",mode="embedded",version="{}"}}"#,
            env!("CARGO_PKG_VERSION")
        )),
        Some(1.0),
        "{metrics}"
    );
    assert!(metrics.contains("# TYPE inngest_function_duration_seconds histogram"));

    // The JSON view of functions reads the same families.
    let (_, functions) = get(format!("{base}/monitoring/functions")).await;
    let functions: Value = serde_json::from_str(&functions).unwrap();
    let doomed = functions["functions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["function_id"] == "jobs-doomed")
        .unwrap_or_else(|| panic!("{functions}"));
    assert_eq!(doomed["failed"], 1.0, "{doomed}");
    assert_eq!(doomed["success_rate"], 0.0, "{doomed}");

    // The indicator: up, with the embedded executor and the start-up sync.
    let (status, body) = get(format!("{base}/health/inngest")).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let inngest = &body["info"]["inngest"];
    assert_eq!(inngest["status"], "up");
    assert_eq!(inngest["functions"], 4);
    assert_eq!(inngest["options_valid"], true);
    assert_eq!(inngest["executor"], "embedded");
    assert_eq!(inngest["executor_running"], true);
    assert_eq!(inngest["last_sync"]["kind"], "embedded");
    assert_eq!(inngest["last_sync"]["ok"], true);
    // /health includes it; ready does not depend on it.
    let (status, all) = get(format!("{base}/health")).await;
    assert_eq!(status, 200, "{all}");
    assert!(all.contains("\"inngest\""));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_indicator_is_down_while_the_executor_store_cannot_be_written_or_read() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("runs.sqlite3");
    let config = format!(
        "{FAST}database = \"{}\"\n[inngest.health]\nenabled = true\n[health]\ncache_ms = 0\n",
        database.display()
    );
    let app = start(&config).await;
    let url = format!("{}/health/inngest", app.base_url());
    let inngest = async || -> (u16, Value) {
        let (status, body) = get(url.clone()).await;
        let body: Value = serde_json::from_str(&body).unwrap();
        let check = body["info"]["inngest"].clone();
        let check = if check.is_null() {
            body["error"]["inngest"].clone()
        } else {
            check
        };
        (status, check)
    };
    let (status, check) = inngest().await;
    assert_eq!(
        (status, check["status"].as_str()),
        (200, Some("up")),
        "{check}"
    );

    // Another connection holds the write lock: the store's write check cannot finish.
    let competitor = rusqlite::Connection::open(&database).unwrap();
    competitor.execute_batch("BEGIN IMMEDIATE").unwrap();
    let (status, check) = inngest().await;
    assert_eq!(status, 503, "{check}");
    assert_eq!(check["status"], "down", "{check}");
    let message = check["message"].as_str().unwrap_or_default();
    assert!(message.contains("embedded executor's store"), "{check}");
    competitor.execute_batch("ROLLBACK").unwrap();
    let (status, check) = inngest().await;
    assert_eq!(
        (status, check["status"].as_str()),
        (200, Some("up")),
        "{check}"
    );

    // The file is overwritten with garbage: reads and writes fail, the indicator says so.
    drop(competitor);
    std::fs::write(&database, vec![0xAB_u8; 64 * 1024]).unwrap();
    let (status, check) = inngest().await;
    assert_eq!(status, 503, "{check}");
    assert!(
        check["message"]
            .as_str()
            .unwrap_or_default()
            .contains("store"),
        "{check}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn switched_off_there_are_no_routes_no_hooks_and_no_http_layer() {
    let app = start(FAST).await;
    let base = app.base_url();
    for path in [
        "/health",
        "/health/inngest",
        "/metrics",
        "/monitoring/functions",
    ] {
        assert_eq!(get(format!("{base}{path}")).await.0, 404, "{path}");
    }
    let metrics = app.container().get::<InngestMetrics>().unwrap();
    assert!(!metrics.is_active(), "the metrics hook must be disabled");
    assert!(
        app.container()
            .discover::<framework::http::HttpLayers>()
            .is_empty(),
        "no HTTP layer without the monitoring module"
    );
    assert!(
        app.container().get::<monitoring_module::Metrics>().is_err(),
        "no registry without the monitoring module"
    );
    assert_eq!(run_to_end(&app, "job/two").await, "Completed");
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn for_root_mounts_from_the_options_in_code() {
    let mut options = InngestOptions::new("coded");
    options.health.enabled = true;
    let root = Module::new("app")
        .import(InngestModule::for_root(options))
        .provider(Provider::value(Attempts::default()))
        .provide::<Jobs>();
    let app = TestingModule::new(root)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let base = app.base_url();
    assert_eq!(get(format!("{base}/health/inngest")).await.0, 200);
    assert_eq!(get(format!("{base}/metrics")).await.0, 404);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_indicator_reaches_a_remote_server_with_a_get_and_never_sends_an_event() {
    // A second app on the embedded executor plays the Inngest dev server: `GET /dev`.
    let server = start(FAST).await;
    let server_executor = executor(&server);
    let events_before = server_executor.events(100, None).await.unwrap().len();

    let dev_url = format!("{}/_inngest/", server.base_url());
    let app = start(&format!(
        "[inngest]\napp_id = \"jobs\"\ndev = \"{dev_url}\"\nexecutor = \"remote\"\n[inngest.health]\nenabled = true\n[health]\ncache_ms = 0\n"
    ))
    .await;
    let (status, body) = get(format!("{}/health/inngest", app.base_url())).await;
    assert_eq!(status, 200, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let inngest = &body["info"]["inngest"];
    assert_eq!(inngest["executor"], "remote", "{body}");
    assert_eq!(inngest["server"]["reachable"], true, "{body}");
    assert_eq!(inngest["server"]["status"], 200, "{body}");
    assert_eq!(inngest["server"]["url"], format!("{dev_url}dev"), "{body}");
    // Not synced yet: remote servers sync the app when they are told about it.
    assert_eq!(inngest["last_sync"], Value::Null, "{body}");
    assert_eq!(
        server_executor.events(100, None).await.unwrap().len(),
        events_before,
        "a health check must not send events"
    );

    // The server goes away: the indicator turns down with the reason; live stays up.
    server.shutdown().await.unwrap();
    let (status, body) = get(format!("{}/health/inngest", app.base_url())).await;
    assert_eq!(status, 503, "{body}");
    let body: Value = serde_json::from_str(&body).unwrap();
    let message = body["error"]["inngest"]["message"].as_str().unwrap();
    assert!(message.contains("unreachable"), "{message}");
    assert_eq!(get(format!("{}/health/live", app.base_url())).await.0, 200);
    // Not a readiness indicator: ready stays 200.
    assert_eq!(get(format!("{}/health/ready", app.base_url())).await.0, 200);
    app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_request_dropped_mid_way_brings_the_in_flight_gauge_back_down() {
    // A remote executor calls the serve handler; the server's 300 ms request timeout drops
    // the execution request while its step sleeps.
    let app = start(
        "[server]\nrequest_timeout = \"300ms\"\n[inngest]\napp_id = \"jobs\"\ndev = true\nexecutor = \"remote\"\n[inngest.monitoring]\nenabled = true\n",
    )
    .await;
    let base = app.base_url();
    let body = json!({
        "event": { "name": "job/slow", "data": {} },
        "events": [{ "name": "job/slow", "data": {} }],
        "steps": {},
        "ctx": { "run_id": "01RUNSLOW", "attempt": 0, "fn_id": "jobs-slow" },
        "version": 1
    });
    let response = reqwest::Client::new()
        .post(format!("{base}/api/inngest?fnId=jobs-slow&stepId=step"))
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 408);
    let (_, metrics) = get(format!("{base}/metrics")).await;
    assert_eq!(
        sample(
            &metrics,
            r#"inngest_function_runs_in_flight{function_id="jobs-slow"}"#
        ),
        Some(0.0),
        "{metrics}"
    );
    // Not an outcome, not an execution time.
    assert_eq!(
        sample(
            &metrics,
            r#"inngest_function_duration_seconds_count{function_id="jobs-slow"}"#
        ),
        Some(0.0)
    );
    for status in ["completed", "failed", "retrying"] {
        assert_eq!(
            sample(
                &metrics,
                &format!(
                    r#"inngest_function_runs_total{{function_id="jobs-slow",status="{status}"}}"#
                )
            ),
            Some(0.0)
        );
    }
    app.shutdown().await.unwrap();
}

/// The app's embedded executor.
fn executor(app: &RunningApp) -> inngest_module::Executor {
    app.container()
        .get::<EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .expect("the app runs on the embedded executor")
}

#[tokio::test]
async fn requests_refused_for_their_signature_are_counted_by_reason() {
    // Cloud mode against a server elsewhere: every execution request must be signed.
    let key = "signkey-test-12345678";
    let app = start(&format!(
        "[inngest]\napp_id = \"jobs\"\nexecutor = \"remote\"\nbase_url = \"http://127.0.0.1:9\"\nsigning_key = \"{key}\"\nevent_key = \"k\"\n[inngest.monitoring]\nenabled = true\n"
    ))
    .await;
    let base = app.base_url();
    let client = reqwest::Client::new();
    let body = r#"{"ctx":{"run_id":"01RUN"},"event":{},"events":[],"steps":{}}"#;
    let post = |signature: Option<String>| {
        let mut request = client
            .post(format!(
                "{base}/api/inngest?fnId=jobs-two-steps&stepId=step"
            ))
            .header("content-type", "application/json")
            .body(body);
        if let Some(signature) = signature {
            request = request.header("x-inngest-signature", signature);
        }
        request.send()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let wrong =
        inngest_module::signature::signature_header("signkey-test-87654321", body.as_bytes(), now);
    let right = inngest_module::signature::signature_header(key, body.as_bytes(), now);
    for signature in [
        None,
        None,
        Some(wrong),
        Some("t=1&s=00".into()),
        Some("garbage".into()),
    ] {
        assert_eq!(post(signature).await.unwrap().status(), 401);
    }
    // A signed request passes and is not counted.
    assert_ne!(post(Some(right)).await.unwrap().status(), 401);

    let (status, metrics) = get(format!("{base}/metrics")).await;
    assert_eq!(status, 200);
    let value = |reason: &str| {
        sample(
            &metrics,
            &format!("inngest_signature_rejections_total{{reason=\"{reason}\"}}"),
        )
    };
    assert_eq!(value("missing"), Some(2.0), "{metrics}");
    assert_eq!(value("mismatch"), Some(1.0), "{metrics}");
    assert_eq!(value("expired"), Some(1.0), "{metrics}");
    assert_eq!(value("malformed"), Some(1.0), "{metrics}");
    assert_eq!(value("no_key"), Some(0.0), "{metrics}");
    app.shutdown().await.unwrap();
}
