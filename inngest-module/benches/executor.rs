//! Embedded-executor throughput: step transitions per second for a 3-step function over
//! many runs, in-process and through the HTTP transport, against a baseline measured in the
//! same run (the same execution requests sent straight to the serve router, no executor).
//!
//! A bench binary (not criterion): each case is one bounded load run (`RUNS` runs, at most
//! `LIMIT` per case). Run with
//!
//! ```sh
//! cargo bench -p inngest-module --bench executor            # 10,000 runs per case
//! BENCH_RUNS=2000 cargo bench -p inngest-module --bench executor
//! ```
//!
//! A step transition is one step result memoized and the run moved on: a 3-step run makes
//! 3 transitions (plus its final request, which completes it).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::Request;
use framework::{Module, Provider, RunningApp, TestingModule};
use inngest_module::executor::RunFilter;
use inngest_module::executor::transport::Http;
use inngest_module::{
    Ctx, EmbeddedExecutor, Error, Executor, Function, FunctionOptions, Functions, InngestModule,
    InngestService,
};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Upper bound on one case's wall time.
const LIMIT: Duration = Duration::from_secs(300);

struct BenchFunctions;

fn functions() -> Module {
    let provider = Provider::value(BenchFunctions).contribute::<Functions, _>(|_| {
        Function::new(
            FunctionOptions::new("three-steps").event("bench/three"),
            |ctx: Ctx| async move {
                let n = ctx.event.data["n"].as_u64().unwrap_or(0);
                let a = ctx.step.run("a", || async move { Ok(n + 1) }).await?;
                let b = ctx.step.run("b", || async move { Ok(a * 2) }).await?;
                let c = ctx.step.run("c", || async move { Ok(b + 3) }).await?;
                Ok::<_, Error>(json!({ "c": c }))
            },
        )
    });
    Module::new("functions").provider(provider)
}

async fn start(config: &str) -> RunningApp {
    TestingModule::new(
        Module::new("app")
            .import(InngestModule::from_config())
            .import(functions()),
    )
    .config(config.to_string())
    .build()
    .await
    .expect("bench app builds")
    .start()
    .await
    .expect("bench app starts")
}

fn embedded(app: &RunningApp) -> Executor {
    app.container()
        .get::<EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .expect("embedded executor")
}

/// Sends `runs` events through `send`, waits for every run to complete, returns the time.
async fn drive(executor: &Executor, send: impl AsyncFn(Vec<Value>), runs: usize) -> Duration {
    let started = Instant::now();
    for chunk in (0..runs).collect::<Vec<_>>().chunks(500) {
        let events = chunk
            .iter()
            .map(|n| json!({"name": "bench/three", "data": {"n": n}}))
            .collect();
        send(events).await;
    }
    while executor.active_runs().await.unwrap() > 0 {
        assert!(started.elapsed() < LIMIT, "case exceeded {LIMIT:?}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let elapsed = started.elapsed();
    let failed = executor
        .runs(&RunFilter {
            status: Some(inngest_module::executor::RunStatus::Failed),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    assert!(failed.is_empty(), "a bench run failed: {failed:?}");
    elapsed
}

/// The floor: the same 4 execution requests per run (discovery + 3 steps → final), sent
/// straight to the serve router with the memo built in memory. No queue, no store.
async fn baseline(app: &RunningApp, runs: usize) -> Duration {
    let router = app.container().get::<inngest_module::Registry>().unwrap();
    let router = inngest_module::router(router);
    let hashes: Vec<String> = ["a", "b", "c"]
        .iter()
        .map(|id| inngest_module::protocol::hash_step_id(id))
        .collect();
    let started = Instant::now();
    for n in 0..runs as u64 {
        let event = json!({"name": "bench/three", "data": {"n": n}, "id": format!("e{n}"), "ts": 0, "user": {}});
        let mut memo = serde_json::Map::new();
        let mut stack = Vec::new();
        for request in 0..=hashes.len() {
            let body = json!({
                "ctx": {"attempt": 0, "disable_immediate_execution": false, "env": "", "fn_id": "x",
                        "max_attempts": 5, "run_id": format!("r{n}"), "stack": {"current": stack.len(), "stack": stack},
                        "step_id": "step", "use_api": false},
                "event": event, "events": [event], "steps": memo, "use_api": false, "version": 2,
            });
            let response = router
                .clone()
                .oneshot(
                    Request::post("/api/inngest?fnId=bench-three-steps&stepId=step")
                        .header("content-type", "application/json")
                        .body(Body::from(serde_json::to_vec(&body).unwrap()))
                        .unwrap(),
                )
                .await
                .unwrap();
            let status = response.status().as_u16();
            let bytes = axum::body::to_bytes(response.into_body(), usize::MAX)
                .await
                .unwrap();
            if let Some(hash) = hashes.get(request) {
                assert_eq!(status, 206);
                let ops: Value = serde_json::from_slice(&bytes).unwrap();
                let hash = hash.clone();
                memo.insert(hash.clone(), json!({"data": ops[0]["data"]}));
                stack.push(hash);
            } else {
                assert_eq!(status, 200);
            }
        }
    }
    started.elapsed()
}

fn report(case: &str, runs: usize, elapsed: Duration, baseline: Duration) {
    let transitions = runs as f64 * 3.0;
    let per_second = transitions / elapsed.as_secs_f64();
    println!(
        "{case:<28} runs {runs:>6}  {:>8.2} s  {per_second:>10.0} step transitions/s  ×{:.1} baseline time",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() / baseline.as_secs_f64()
    );
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10_000);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let dir = std::env::temp_dir().join(format!("executor-bench-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let base = "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\n[inngest.embedded]\nmax_parallel = 256\n";

        // Baseline and in-process, in-memory store.
        let app = start(base).await;
        let floor = baseline(&app, runs).await;
        println!(
            "{:<28} runs {runs:>6}  {:>8.2} s  {:>10.0} step transitions/s",
            "baseline (router only)",
            floor.as_secs_f64(),
            runs as f64 * 3.0 / floor.as_secs_f64()
        );
        let executor = embedded(&app);
        let service = app.container().get::<InngestService>().unwrap();
        let elapsed = drive(
            &executor,
            async |events| {
                service.send_values(events).await.unwrap();
            },
            runs,
        )
        .await;
        report("in-process, memory store", runs, elapsed, floor);
        app.shutdown().await.unwrap();

        // In-process, SQLite file (WAL).
        let file = dir.join("inprocess.sqlite3");
        let app = start(&format!("{base}database = \"{}\"\n", file.display())).await;
        let executor = embedded(&app);
        let service = app.container().get::<InngestService>().unwrap();
        let elapsed = drive(
            &executor,
            async |events| {
                service.send_values(events).await.unwrap();
            },
            runs,
        )
        .await;
        report("in-process, SQLite file", runs, elapsed, floor);

        // HTTP transport: a second, standalone executor drives the same app over loopback.
        let http = Executor::open(inngest_module::executor::Settings {
            options: inngest_module::executor::Options {
                database: Some(dir.join("http.sqlite3")),
                max_parallel: 64,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        let url = format!("{}/api/inngest", app.base_url());
        let registry = app.container().get::<inngest_module::Registry>().unwrap();
        http.register_app(
            "bench",
            Arc::new(Http::new(
                reqwest::Client::new(),
                url.parse().unwrap(),
                Duration::from_secs(30),
            )),
            &registry.function_configs(&url),
        )
        .await
        .unwrap();
        http.start();
        let elapsed = drive(
            &http,
            async |events| {
                http.send(events).await.unwrap();
            },
            runs,
        )
        .await;
        report("HTTP transport, SQLite file", runs, elapsed, floor);
        http.shutdown(Duration::from_secs(5)).await;
        app.shutdown().await.unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    });
}
