//! Embedded-executor throughput: step transitions per second for a 3-step function over
//! many runs — in-process on an in-memory store, in-process on a SQLite file, and through the
//! HTTP transport — against a baseline measured in the same run (the same execution
//! requests sent straight to the serve router, the memo kept in a local map: the SDK's share
//! of the work, with no queue, no store and no scheduling).
//!
//! Criterion with `iter_custom`: one iteration is [`RUNS`] runs (events sent in one batch,
//! timed until every run completed), and the throughput is reported in step transitions
//! (3 per run: a step result memoized and the run moved on). The store keeps growing across
//! iterations, as it would in production.
//!
//! ```sh
//! cargo bench -p inngest-module --bench executor
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};

use axum::body::Body;
use axum::http::Request;
use framework::{Module, Provider, RunningApp};
use inngest_module::executor::RunFilter;
use inngest_module::{
    Ctx, EmbeddedExecutor, Error, Executor, Function, FunctionOptions, Functions, InngestService,
};
use serde_json::{Value, json};
use tower::ServiceExt;

/// Upper bound on one iteration's wall time.
const LIMIT: Duration = Duration::from_secs(120);
/// Runs per iteration.
const RUNS: usize = 5_000;

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
    support::start_app(config.to_string(), functions()).await
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
async fn drive(executor: &Executor, send: &impl AsyncFn(Vec<Value>), runs: usize) -> Duration {
    let started = Instant::now();
    for chunk in (0..runs).collect::<Vec<_>>().chunks(500) {
        let events = chunk
            .iter()
            .map(|n| json!({"name": "bench/three", "data": {"n": n}}))
            .collect();
        send(events).await;
    }
    // Woken as runs finish: no polling delay in the figure.
    let left = executor.wait_idle(LIMIT).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(left, 0, "runs still active after {LIMIT:?}");
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

/// Times `iters` batches of [`RUNS`] runs through `executor`, events sent by `send`.
fn iterations(
    runtime: &tokio::runtime::Runtime,
    iters: u64,
    executor: &Executor,
    send: impl AsyncFn(Vec<Value>),
) -> Duration {
    runtime.block_on(async {
        let mut total = Duration::ZERO;
        for _ in 0..iters {
            total += drive(executor, &send, RUNS).await;
        }
        total
    })
}

fn executor(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let base = "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\n[inngest.embedded]\nmax_parallel = 256\n";
    let mut group = c.benchmark_group("executor");
    group
        .throughput(Throughput::Elements(RUNS as u64 * 3))
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(10));

    // Each case on an app of its own, shut down before the next: one case's store (the
    // in-memory one holds every run in RAM) must not weigh on the next.
    let app = runtime.block_on(start(base));
    group.bench_function("baseline_serve_router", |b| {
        b.iter_custom(|iters| {
            runtime.block_on(async {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    total += baseline(&app, RUNS).await;
                }
                total
            })
        });
    });
    {
        let executor = embedded(&app);
        let service = app.container().get::<InngestService>().unwrap();
        group.bench_function("in_process_memory_store", |b| {
            b.iter_custom(|iters| {
                iterations(&runtime, iters, &executor, async |events| {
                    service.send_values(events).await.unwrap();
                })
            });
        });
    }
    runtime.block_on(app.shutdown()).unwrap();

    let file = dir.path().join("inprocess.sqlite3");
    let app = runtime.block_on(start(&format!("{base}database = \"{}\"\n", file.display())));
    {
        let executor = embedded(&app);
        let service = app.container().get::<InngestService>().unwrap();
        group.bench_function("in_process_sqlite_file", |b| {
            b.iter_custom(|iters| {
                iterations(&runtime, iters, &executor, async |events| {
                    service.send_values(events).await.unwrap();
                })
            });
        });
    }
    runtime.block_on(app.shutdown()).unwrap();

    // A standalone executor drives an app over loopback; the app runs no executor of its
    // own (a remote one is configured), as it would behind a real server.
    let app = runtime.block_on(start(
        "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\ndev = true\nexecutor = \"remote\"\n",
    ));
    let http = runtime.block_on(async {
        let http = Executor::open(inngest_module::executor::Settings {
            options: inngest_module::executor::Options {
                database: Some(dir.path().join("http.sqlite3")),
                max_parallel: 256,
                ..Default::default()
            },
            ..Default::default()
        })
        .unwrap();
        support::sync_over_http(&http, &app).await;
        http.start();
        http
    });
    group.bench_function("http_transport_sqlite_file", |b| {
        b.iter_custom(|iters| {
            iterations(&runtime, iters, &http, async |events| {
                http.send(events).await.unwrap();
            })
        });
    });
    group.finish();
    runtime.block_on(async {
        http.shutdown(Duration::from_secs(5)).await;
        app.shutdown().await.unwrap();
    });
}

criterion_group!(benches, executor);
criterion_main!(benches);
