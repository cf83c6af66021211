//! Checkpointing end to end over HTTP: a 10-step function (ten `step.run`s) driven by an
//! embedded executor that reaches the app over loopback, as a self-hosted server would —
//! with checkpointing on (the default: each step posted to the executor's
//! `/v1/checkpoint/{run_id}/async` inside one execution request), on with
//! `buffered_steps = 10` (the steps ride in the answer), and off (one execution request per
//! step), in the same run, in turn. For each mode: execution requests per run (counted by a
//! hook in the app), steps stored from checkpoint posts per run, wall time for the batch,
//! and the median time from a run's creation to its end.
//!
//! A bench binary (not criterion): each case is one bounded load run (at most `LIMIT`).
//!
//! ```sh
//! cargo bench -p inngest-module --bench checkpointing
//! CHECKPOINTING_RUNS=2000 CHECKPOINTING_ROUNDS=5 cargo bench -p inngest-module --bench checkpointing
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use framework::{Module, Provider, RunningApp};
use inngest_module::executor::{RunFilter, RunStatus};
use inngest_module::{
    Ctx, Error, Executor, Function, FunctionOptions, Functions, Hooks, InngestHook, RunInfo,
};
use serde_json::json;

/// Upper bound on one case's wall time.
const LIMIT: Duration = Duration::from_secs(300);
/// Steps per run.
const STEPS: u64 = 10;

/// Counts execution requests that reached the function.
#[derive(Default)]
struct Requests(AtomicU64);

impl InngestHook for Requests {
    fn on_run_start(&self, _run: &RunInfo) {
        self.0.fetch_add(1, Ordering::Relaxed);
    }
}

struct BenchFunctions;

fn functions(requests: Arc<Requests>) -> Module {
    let provider = Provider::value(BenchFunctions).contribute::<Functions, _>(|_| {
        Function::new(
            FunctionOptions::new("ten-steps").event("bench/ten"),
            |ctx: Ctx| async move {
                let mut total = ctx.event.data["n"].as_u64().unwrap_or(0);
                for step in 0..STEPS {
                    total = ctx
                        .step
                        .run(&format!("step-{step}"), || async move { Ok(total + step) })
                        .await?;
                }
                Ok::<_, Error>(json!({ "total": total }))
            },
        )
    });
    Module::new("functions").provider(provider).provider(
        Provider::arc_value(requests)
            .contribute::<Hooks, _>(|this| Arc::clone(this) as Arc<dyn InngestHook>),
    )
}

/// The modes compared: name and `[inngest] checkpointing` value.
const MODES: [(&str, &str); 3] = [
    ("on", "{ enabled = true }"),
    ("on, buffer 10", "{ enabled = true, buffered_steps = 10 }"),
    ("off", "{ enabled = false }"),
];

/// The app, remote mode, its API (checkpoints) pointed at the executor at `api`.
async fn start_app(api: &str, checkpointing: &str, requests: Arc<Requests>) -> RunningApp {
    let config = format!(
        "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\ndev = \"{api}\"\nexecutor = \"remote\"\ncheckpointing = {checkpointing}\n"
    );
    support::start_app(config, functions(requests)).await
}

/// One case: a fresh executor (SQLite file) serving its API on loopback, the app synced with
/// it over HTTP, `runs` events in batches of 500, timed until every run completed.
async fn case(checkpointing: &str, runs: usize) -> (f64, f64, Duration, Duration) {
    let dir = tempfile::tempdir().unwrap();
    let executor = Executor::open(inngest_module::executor::Settings {
        options: inngest_module::executor::Options {
            database: Some(dir.path().join("runs.sqlite3")),
            max_parallel: 64,
            ..Default::default()
        },
        ..Default::default()
    })
    .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let api = format!("http://{}/_inngest/", listener.local_addr().unwrap());
    let router = executor.router();
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let requests = Arc::new(Requests::default());
    let app = start_app(&api, checkpointing, Arc::clone(&requests)).await;
    support::sync_over_http(&executor, &app).await;
    executor.start();

    let started = Instant::now();
    for chunk in (0..runs).collect::<Vec<_>>().chunks(500) {
        let events = chunk
            .iter()
            .map(|n| json!({"name": "bench/ten", "data": {"n": n}}))
            .collect();
        executor.send(events).await.unwrap();
    }
    let left = executor.wait_idle(LIMIT).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(left, 0, "runs still active after {LIMIT:?}");
    let finished = executor
        .runs(&RunFilter {
            limit: Some(u32::try_from(runs).unwrap()),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(finished.len(), runs);
    let mut latencies: Vec<i64> = finished
        .iter()
        .map(|run| {
            assert_eq!(run.status, RunStatus::Completed, "{run:?}");
            run.ended_at.unwrap() - run.created_at
        })
        .collect();
    latencies.sort_unstable();
    let median = Duration::from_millis(u64::try_from(latencies[latencies.len() / 2]).unwrap());
    let per_run = requests.0.load(Ordering::Relaxed) as f64 / runs as f64;
    let posted = executor.checkpointed_steps() as f64 / runs as f64;
    executor.shutdown(Duration::from_secs(5)).await;
    app.shutdown().await.unwrap();
    server.abort();
    (per_run, posted, elapsed, median)
}

fn env_number(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let runs = env_number("CHECKPOINTING_RUNS", 1_000);
    let rounds = env_number("CHECKPOINTING_ROUNDS", 3);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    println!(
        "{STEPS}-step function, {runs} runs per case, {rounds} rounds, executor over loopback HTTP"
    );
    println!(
        "{:<6} {:<14} {:>13} {:>18} {:>9} {:>8} {:>16}",
        "round",
        "checkpointing",
        "requests/run",
        "steps posted/run",
        "wall (s)",
        "runs/s",
        "median run (ms)"
    );
    for round in 1..=rounds {
        for (name, checkpointing) in MODES {
            let (per_run, posted, elapsed, median) = runtime.block_on(case(checkpointing, runs));
            println!(
                "{round:<6} {name:<14} {per_run:>13.2} {posted:>18.2} {:>9.2} {:>8.0} {:>16}",
                elapsed.as_secs_f64(),
                runs as f64 / elapsed.as_secs_f64(),
                median.as_millis(),
            );
        }
    }
}
