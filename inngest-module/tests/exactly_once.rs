//! Exactly once, under load and against a competing writer: thousands of runs of a 3-step
//! function on a SQLite file, sent through the Event API on loopback at concurrency 32
//! while two busy loops keep both cores loaded. Every step body appends `<run> <step>` to a
//! side-effect file (one `O_APPEND` write per line); afterwards every run completed and
//! every step body of every run ran exactly once.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::HashMap;
use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use framework::{Module, Provider, RunningApp, TestingModule, injectable};
use inngest_module::executor::{RunFilter, RunStatus};
use inngest_module::{self as inngest, Ctx, EmbeddedExecutor, InngestModule};
use serde_json::{Value, json};
use tokio::sync::Semaphore;

/// Where step bodies record themselves.
struct SideEffects {
    file: File,
}

impl SideEffects {
    fn record(&self, run_id: &str, step: &str) -> inngest::Result<()> {
        // One write of a short line: atomic with O_APPEND, whoever else appends.
        (&self.file).write_all(format!("{run_id} {step}\n").as_bytes())?;
        Ok(())
    }
}

struct Ledger {
    effects: Arc<SideEffects>,
}

#[injectable]
impl Ledger {
    fn new(effects: Arc<SideEffects>) -> Self {
        Self { effects }
    }

    #[inngest::function(id = "ledger", event = "stress/ledger")]
    async fn ledger(&self, ctx: Ctx) -> inngest::Result<Value> {
        for step in ["reserve", "charge", "ship"] {
            let (effects, run_id) = (&self.effects, ctx.run_id.as_str());
            ctx.step
                .run(step, || async move { effects.record(run_id, step) })
                .await?;
        }
        Ok(json!("done"))
    }
}

/// The app on a database file, its steps recording into `effects`.
async fn start(database: &Path, effects: &Path) -> RunningApp {
    let file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(effects)
        .unwrap();
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .provider(Provider::value(SideEffects { file }))
        .provide::<Ledger>();
    let config = format!(
        "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"stress\"\n[inngest.embedded]\nmax_parallel = 64\nretry_backoff = \"50ms\"\nretry_max_backoff = \"500ms\"\ndatabase = \"{}\"\n",
        database.display()
    );
    TestingModule::new(root)
        .config(config)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn executor(app: &RunningApp) -> inngest_module::Executor {
    app.container()
        .get::<EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .unwrap()
}

/// Keeps both cores busy until dropped (and at most `limit`).
struct BusyLoops {
    stop: Arc<AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyLoops {
    fn start(count: usize, limit: Duration) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = Arc::clone(&stop);
                std::thread::spawn(move || {
                    let started = Instant::now();
                    let mut x = 0u64;
                    while !stop.load(Ordering::Relaxed) && started.elapsed() < limit {
                        x = std::hint::black_box(
                            x.wrapping_mul(6364136223846793005).wrapping_add(1),
                        );
                    }
                })
            })
            .collect();
        Self { stop, threads }
    }
}

impl Drop for BusyLoops {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

/// Sends `count` events through the Event API, `concurrency` requests at a time.
async fn send_events(base: &str, count: usize, concurrency: usize) {
    let client = reqwest::Client::new();
    let permits = Arc::new(Semaphore::new(concurrency));
    let mut sends = tokio::task::JoinSet::new();
    for n in 0..count {
        let permit = Arc::clone(&permits).acquire_owned().await.unwrap();
        let (client, url) = (client.clone(), format!("{base}/_inngest/e/stress"));
        sends.spawn(async move {
            let response = client
                .post(url)
                .json(&json!({"name": "stress/ledger", "data": {"n": n}}))
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 200);
            drop(permit);
        });
    }
    while let Some(sent) = sends.join_next().await {
        sent.unwrap();
    }
}

/// How often each `(run, step)` ran, from the side-effect file.
fn executions(effects: &Path) -> HashMap<(String, String), usize> {
    let mut counts = HashMap::new();
    for line in std::fs::read_to_string(effects).unwrap().lines() {
        let (run, step) = line.split_once(' ').unwrap();
        *counts
            .entry((run.to_string(), step.to_string()))
            .or_default() += 1;
    }
    counts
}

/// Every run finished `Completed`, and every step of every run ran exactly once.
async fn assert_exactly_once(app: &RunningApp, effects: &Path, runs: usize) {
    let executor = executor(app);
    let active = executor.wait_idle(Duration::from_secs(300)).await.unwrap();
    assert_eq!(active, 0, "runs still active");
    for status in [RunStatus::Failed, RunStatus::Cancelled] {
        let filter = RunFilter {
            status: Some(status),
            ..RunFilter::default()
        };
        let bad = executor.runs(&filter).await.unwrap();
        assert!(bad.is_empty(), "{status} runs: {bad:?}");
    }
    let counts = executions(effects);
    let twice: Vec<_> = counts.iter().filter(|(_, n)| **n != 1).collect();
    assert!(
        twice.is_empty(),
        "step bodies that did not run exactly once: {twice:?}"
    );
    let run_ids: std::collections::HashSet<&String> = counts.keys().map(|(run, _)| run).collect();
    assert_eq!(run_ids.len(), runs, "runs that recorded steps");
    assert_eq!(counts.len(), runs * 3, "(run, step) pairs recorded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_thousand_runs_at_concurrency_32_on_a_busy_machine_run_each_step_once() {
    let dir = tempfile::tempdir().unwrap();
    let (database, effects): (PathBuf, PathBuf) = (
        dir.path().join("runs.sqlite3"),
        dir.path().join("effects.log"),
    );
    let app = start(&database, &effects).await;
    let busy = BusyLoops::start(2, Duration::from_secs(240));
    send_events(&app.base_url(), 5_000, 32).await;
    assert_exactly_once(&app, &effects, 5_000).await;
    drop(busy);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_competing_writer_holding_the_database_delays_results_but_never_repeats_a_step() {
    let dir = tempfile::tempdir().unwrap();
    let (database, effects) = (
        dir.path().join("runs.sqlite3"),
        dir.path().join("effects.log"),
    );
    let app = start(&database, &effects).await;
    send_events(&app.base_url(), 300, 16).await;
    // Another connection (a backup, a `sqlite3` shell) takes the write lock for longer than
    // the executor's 5 s busy timeout, while runs are in full swing: their results wait,
    // are tried again, and are stored once the lock is gone.
    let competitor = rusqlite::Connection::open(&database).unwrap();
    competitor.execute_batch("BEGIN IMMEDIATE").unwrap();
    let held_from = Instant::now();
    tokio::time::sleep(Duration::from_millis(6_500)).await;
    let (while_locked, _) = (executions(&effects).len(), ());
    competitor.execute_batch("COMMIT").unwrap();
    drop(competitor);
    assert!(held_from.elapsed() >= Duration::from_millis(6_500));
    // Step bodies ran while the lock was held (only their results had to wait).
    assert!(while_locked > 0, "no step ran before the lock was released");
    assert_exactly_once(&app, &effects, 300).await;
    app.shutdown().await.unwrap();
}
