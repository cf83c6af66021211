//! End to end through the Event API: events POSTed one per request over loopback at
//! concurrency 32 to an app on the embedded executor (SQLite file, WAL), each starting a run
//! of a 3-step function; timed from the first request until every run completed. Run at
//! 2,000 and at 20,000 events (a fresh app and database each), so a slowdown as the store
//! grows shows as a lower rate at 20,000.
//!
//! A bench binary (not criterion): each case is one bounded load run (at most `LIMIT`).
//!
//! ```sh
//! cargo bench -p inngest-module --bench event_api
//! EVENT_API_COUNTS=1000,5000 cargo bench -p inngest-module --bench event_api
//! ```
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::sync::Arc;
use std::time::{Duration, Instant};

use framework::{Module, Provider, RunningApp};
use inngest_module::executor::{RunFilter, RunStatus};
use inngest_module::{
    Ctx, EmbeddedExecutor, Error, Executor, Function, FunctionOptions, Functions,
};
use serde_json::json;
use tokio::sync::Semaphore;

/// Upper bound on one case's wall time.
const LIMIT: Duration = Duration::from_secs(300);
/// Requests in flight.
const CONCURRENCY: usize = 32;

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

async fn start(database: &std::path::Path) -> RunningApp {
    let config = format!(
        "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\n[inngest.embedded]\nmax_parallel = 256\ndatabase = \"{}\"\n",
        database.display()
    );
    support::start_app(config, functions()).await
}

fn embedded(app: &RunningApp) -> Executor {
    app.container()
        .get::<EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .expect("embedded executor")
}

/// Sends `count` events, one per request, `CONCURRENCY` at a time; waits for every run.
async fn drive(app: &RunningApp, count: usize) -> Duration {
    let executor = embedded(app);
    let client = reqwest::Client::new();
    let url = format!("{}/_inngest/e/bench", app.base_url());
    let permits = Arc::new(Semaphore::new(CONCURRENCY));
    let started = Instant::now();
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..count {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (client, url) = (client.clone(), url.clone());
        sends.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"name": "bench/three", "data": {"n": n}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            drop(permit);
        });
        assert!(started.elapsed() < LIMIT, "case exceeded {LIMIT:?}");
    }
    while let Some(sent) = sends.join_next().await {
        sent.unwrap();
    }
    let left = executor.wait_idle(LIMIT).await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(left, 0, "runs still active after {LIMIT:?}");
    let failed = executor
        .runs(&RunFilter {
            status: Some(RunStatus::Failed),
            limit: Some(1),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(failed.is_empty(), "a bench run failed: {failed:?}");
    elapsed
}

fn main() {
    let counts: Vec<usize> = std::env::var("EVENT_API_COUNTS")
        .ok()
        .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
        .unwrap_or_else(|| vec![2_000, 20_000]);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let mut rates = Vec::new();
        for count in counts {
            let dir = tempfile::tempdir().unwrap();
            let app = start(&dir.path().join("bench.sqlite3")).await;
            let elapsed = drive(&app, count).await;
            let rate = count as f64 / elapsed.as_secs_f64();
            println!(
                "event API, c{CONCURRENCY}, SQLite file   events {count:>6}  {:>7.2} s  {rate:>8.0} runs/s  {:>8.0} step transitions/s",
                elapsed.as_secs_f64(),
                rate * 3.0
            );
            rates.push((count, rate));
            app.shutdown().await.unwrap();
        }
        if let (Some((first_n, first)), Some((last_n, last))) = (rates.first(), rates.last())
            && first_n != last_n
        {
            println!(
                "runs/s at {last_n} events ÷ runs/s at {first_n} events: {:.2}",
                last / first
            );
        }
    });
}
