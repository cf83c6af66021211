//! Durability of the embedded executor, with the real `shop` binary: SIGKILL it mid-run,
//! start it again on the same SQLite file, and check that the run finishes, that a step
//! that completed never runs twice, and that pending work (a sleep, a step cut short)
//! resumes.
//!
//! The probe (`src/durability.rs`, enabled here by environment variables) appends
//! `<probeId> <what> <pid>` to a file in each step: `first`, then a `nap` sleep, then `slow`
//! (`slow-started`, 3 s of work, `slow-done`), then `last`.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::time::{Duration, Instant};

use common::{ShopProcess, free_port, shop};
use serde_json::{Value, json};

/// One shop "installation": a port, an executor database and a probe log that outlive the
/// processes started on them.
struct Installation {
    _dir: tempfile::TempDir,
    port: u16,
    database: PathBuf,
    log: PathBuf,
    http: reqwest::Client,
}

impl Installation {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        Self {
            port: free_port(),
            database: dir.path().join("inngest.sqlite3"),
            log: dir.path().join("probe.log"),
            _dir: dir,
            // No pooled connections: they would outlive the killed process.
            http: reqwest::Client::builder()
                .pool_max_idle_per_host(0)
                .build()
                .unwrap(),
        }
    }

    /// `APP_ENV=test` (config/test.toml), on a fixed port, with the executor in the SQLite
    /// file and the probe on.
    fn command(&self) -> Command {
        let mut command = shop();
        command
            .env("APP_ENV", "test")
            .env("APP__SERVER__PORT", self.port.to_string())
            .env("APP__INNGEST__EMBEDDED__DATABASE", &self.database)
            .env("APP__MODULES__DURABILITY__ENABLED", "true")
            .env("APP__DURABILITY__LOG_FILE", &self.log)
            .env("APP__DURABILITY__NAP", "3s")
            .env("APP__DURABILITY__SLOW_STEP", "3s");
        command
    }

    fn start(&self) -> ShopProcess {
        let process = ShopProcess::start(self.command());
        assert_eq!(process.base, format!("http://127.0.0.1:{}", self.port));
        process
    }

    fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Sends `durability.probe` through the executor's Event API; returns the run id.
    async fn probe(&self, probe_id: &str) -> String {
        let response: Value = self
            .http
            .post(format!("{}/_inngest/e/test-key", self.base()))
            .json(&json!({ "name": "durability.probe", "data": { "probeId": probe_id } }))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(response["status"], 200, "{response}");
        let event_id = response["ids"][0].as_str().unwrap().to_string();
        let runs = self
            .get(&format!(
                "runs?event={event_id}&function=shop-durability-probe"
            ))
            .await;
        let runs = runs["data"].as_array().unwrap();
        assert_eq!(runs.len(), 1, "the event started one run: {runs:?}");
        runs[0]["run_id"].as_str().unwrap().to_string()
    }

    /// `GET /_inngest/api/{path}`.
    async fn get(&self, path: &str) -> Value {
        self.http
            .get(format!("{}/_inngest/api/{path}", self.base()))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    async fn run(&self, run_id: &str) -> Value {
        self.get(&format!("runs/{run_id}")).await["data"].clone()
    }

    /// Polls the run until `done` says so (up to 60 s).
    async fn run_until(&self, run_id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let run = self.run(run_id).await;
            if done(&run) {
                return run;
            }
            assert!(Instant::now() < deadline, "{what}: never happened: {run:#}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The probe's lines, as `(what, pid)`.
    fn lines(&self, probe_id: &str) -> Vec<(String, u32)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .filter_map(|line| {
                let mut parts = line.split(' ');
                (parts.next() == Some(probe_id)).then(|| {
                    let what = parts.next().unwrap().to_string();
                    let pid = parts.next().unwrap().parse().unwrap();
                    (what, pid)
                })
            })
            .collect()
    }

    /// Polls the log until it holds `(what, _)`.
    async fn logged(&self, probe_id: &str, what: &str) {
        let deadline = Instant::now() + Duration::from_secs(60);
        while !self.lines(probe_id).iter().any(|(w, _)| w == what) {
            assert!(Instant::now() < deadline, "{what} never logged");
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

fn step<'a>(run: &'a Value, name: &str) -> &'a Value {
    run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == name)
        .unwrap_or_else(|| panic!("no step {name}: {run:#}"))
}

fn step_is(run: &Value, name: &str, status: &str) -> bool {
    run["steps"].as_array().is_some_and(|steps| {
        steps
            .iter()
            .any(|s| s["name"] == name && s["status"] == status)
    })
}

fn lines(expected: &[(&str, u32)]) -> Vec<(String, u32)> {
    expected.iter().map(|(w, p)| (w.to_string(), *p)).collect()
}

#[tokio::test]
async fn a_run_killed_during_a_sleep_resumes_after_a_restart_and_runs_each_step_once() {
    let installation = Installation::new();
    let first_process = installation.start();
    let first_pid = first_process.pid();
    let run_id = installation.probe("nap").await;

    // `first` is done and saved; the run sleeps for 3 s.
    let run = installation
        .run_until(&run_id, "the nap", |run| step_is(run, "nap", "Sleeping"))
        .await;
    assert_eq!(run["status"], "Running");
    assert_eq!(step(&run, "first")["status"], "Completed");
    assert_eq!(installation.lines("nap"), lines(&[("first", first_pid)]));

    first_process.kill9();

    let second_process = installation.start();
    let second_pid = second_process.pid();
    assert_ne!(first_pid, second_pid);
    let run = installation.run(&run_id).await;
    assert_eq!(
        run["status"], "Running",
        "the run survived the kill: {run:#}"
    );
    assert_eq!(step(&run, "first")["status"], "Completed");

    let run = installation
        .run_until(&run_id, "completion", |run| run["status"] == "Completed")
        .await;
    // `first` ran before the kill and was not run again; the rest ran in the new process.
    assert_eq!(
        run["output"],
        json!({ "probeId": "nap", "first": first_pid, "slow": second_pid, "last": second_pid })
    );
    assert_eq!(
        installation.lines("nap"),
        lines(&[
            ("first", first_pid),
            ("slow-started", second_pid),
            ("slow-done", second_pid),
            ("last", second_pid),
        ]),
        "each side effect exactly once"
    );
    let names: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["first", "nap", "slow", "last"]);
    for name in names {
        assert_eq!(step(&run, name)["status"], "Completed", "{run:#}");
    }
    assert_eq!(step(&run, "first")["attempts"], 1);
    // The sleep kept its wake-up time across the restart.
    let nap = step(&run, "nap");
    let slept = nap["ended_at"].as_i64().unwrap() - nap["started_at"].as_i64().unwrap();
    assert!(slept >= 3_000, "slept {slept} ms");
    drop(second_process);
}

#[tokio::test]
async fn a_step_cut_short_by_a_kill_runs_again_after_a_restart_and_completed_steps_do_not() {
    let installation = Installation::new();
    let first_process = installation.start();
    let first_pid = first_process.pid();
    let run_id = installation.probe("slow").await;

    // Kill in the middle of the slow step's 3 s of work.
    installation.logged("slow", "slow-started").await;
    first_process.kill9();
    assert_eq!(
        installation.lines("slow"),
        lines(&[("first", first_pid), ("slow-started", first_pid)]),
        "killed before slow-done"
    );

    let second_process = installation.start();
    let second_pid = second_process.pid();
    let run = installation
        .run_until(&run_id, "completion", |run| run["status"] == "Completed")
        .await;
    assert_eq!(
        run["output"],
        json!({ "probeId": "slow", "first": first_pid, "slow": second_pid, "last": second_pid })
    );
    // The slow step never completed in the first process, so it ran again (at least once
    // is all a step cut short can promise); `first` had completed and did not run again.
    assert_eq!(
        installation.lines("slow"),
        lines(&[
            ("first", first_pid),
            ("slow-started", first_pid),
            ("slow-started", second_pid),
            ("slow-done", second_pid),
            ("last", second_pid),
        ]),
        "completed steps exactly once"
    );
    assert_eq!(step(&run, "first")["attempts"], 1);
    assert_eq!(step(&run, "slow")["status"], "Completed");
    assert_eq!(step(&run, "last")["status"], "Completed");
    drop(second_process);
}

/// Keeps both cores busy until dropped (bounded by `limit`).
struct BusyLoops {
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
    threads: Vec<std::thread::JoinHandle<()>>,
}

impl BusyLoops {
    fn start(count: usize, limit: Duration) -> Self {
        use std::sync::atomic::Ordering;
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let threads = (0..count)
            .map(|_| {
                let stop = std::sync::Arc::clone(&stop);
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
        self.stop.store(true, std::sync::atomic::Ordering::Relaxed);
        for thread in self.threads.drain(..) {
            let _ = thread.join();
        }
    }
}

impl Installation {
    /// Sends `count` `durability.ledger` events (probe ids `l-0` …) in one Event API request:
    /// once it answers, every run exists.
    async fn ledger(&self, count: usize) {
        let events: Vec<Value> = (0..count)
            .map(|n| json!({"name": "durability.ledger", "data": {"probeId": format!("l-{n}")}}))
            .collect();
        let response: Value = self
            .http
            .post(format!("{}/_inngest/e/test-key", self.base()))
            .json(&events)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(
            response["ids"].as_array().map(Vec::len),
            Some(count),
            "{response}"
        );
    }

    /// Every line of the log, as `(probe, what, pid)`.
    fn all_lines(&self) -> Vec<(String, String, u32)> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|line| {
                let mut parts = line.split(' ');
                let probe = parts.next().unwrap().to_string();
                let what = parts.next().unwrap().to_string();
                (probe, what, parts.next().unwrap().parse().unwrap())
            })
            .collect()
    }

    /// Waits until no run is queued or running (at most 120 s).
    async fn idle(&self) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let mut busy = false;
            for status in ["Queued", "Running"] {
                let runs = self.get(&format!("runs?status={status}&limit=1")).await;
                busy |= !runs["data"].as_array().unwrap().is_empty();
            }
            if !busy {
                return;
            }
            assert!(Instant::now() < deadline, "runs still active after 120 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Runs `command` until it exits (at most 60 s); returns its exit code and output.
fn run_to_exit(mut command: Command) -> (Option<i32>, String) {
    let child = command.spawn().expect("the shop binary starts");
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = done_tx.send(child.wait_with_output());
    });
    let output = done_rx
        .recv_timeout(Duration::from_secs(60))
        .expect("the shop exits on its own")
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.code(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_runs_killed_mid_flight_resume_and_only_interrupted_steps_run_twice() {
    killed_mid_flight_then_restarted(Restart::AsBefore).await;
}

/// The move off the embedded executor under stress: killed mid-flight, restarted draining,
/// it refuses new events yet finishes every run, taking the events the runs send (and
/// running the receipts they start) exactly as a normal restart does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousands_of_runs_killed_mid_flight_finish_on_a_draining_restart_with_what_they_send() {
    killed_mid_flight_then_restarted(Restart::Draining).await;
}

/// How the killed installation comes back.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Restart {
    AsBefore,
    Draining,
}

/// Starts thousands of ledger runs (three steps and a send each; each send starts a
/// receipt run of one step), kills -9 the process while they run, restarts it on the
/// same database and checks that every step of every run ran, and that only a step the
/// killed process was running ran again, once.
async fn killed_mid_flight_then_restarted(restart: Restart) {
    const RUNS: usize = 3_000;
    const STEPS: [&str; 4] = ["reserve", "charge", "ship", "receipt"];
    let installation = Installation::new();
    let busy = BusyLoops::start(2, Duration::from_secs(180));
    let first_process = installation.start();
    let first_pid = first_process.pid();
    installation.ledger(RUNS).await;
    // Kill -9 while runs are in full swing: some steps done, some running, some not begun.
    let deadline = Instant::now() + Duration::from_secs(60);
    while installation.all_lines().len() < RUNS {
        assert!(Instant::now() < deadline, "the ledger runs never got going");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    first_process.kill9();
    let before_kill = installation.all_lines().len();
    assert!(
        before_kill < RUNS * STEPS.len(),
        "every step ran before the kill ({before_kill} lines): nothing was interrupted"
    );

    let second_process = match restart {
        Restart::AsBefore => installation.start(),
        Restart::Draining => {
            let mut command = installation.command();
            command.env("APP__INNGEST__EMBEDDED__DRAIN", "true");
            ShopProcess::start(command)
        }
    };
    let second_pid = second_process.pid();
    match restart {
        Restart::AsBefore => installation.idle().await,
        Restart::Draining => {
            // A new event from outside is refused, with where to send it instead.
            let refused = installation
                .http
                .post(format!("{}/_inngest/e/test-key", installation.base()))
                .json(&json!({"name": "durability.ledger", "data": {"probeId": "late"}}))
                .send()
                .await
                .unwrap();
            assert_eq!(refused.status(), 503);
            let deadline = Instant::now() + Duration::from_secs(120);
            loop {
                let status = installation.get("drain").await;
                if status["done"] == true {
                    break;
                }
                assert!(
                    Instant::now() < deadline,
                    "not drained after 120 s: {status}"
                );
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        }
    }
    drop(busy);
    let failed = installation.get("runs?status=Failed&limit=5").await;
    assert_eq!(failed["data"], json!([]), "no run failed");

    let mut executions: std::collections::HashMap<(String, String), Vec<u32>> =
        std::collections::HashMap::new();
    for (probe, step, pid) in installation.all_lines() {
        executions.entry((probe, step)).or_default().push(pid);
    }
    assert!(
        !executions.keys().any(|(probe, _)| probe == "late"),
        "the refused event ran"
    );
    for step in STEPS {
        let ran = executions.keys().filter(|(_, s)| s == step).count();
        assert_eq!(ran, RUNS, "{step} ran for {ran} of {RUNS} runs");
    }
    assert_eq!(
        executions.len(),
        RUNS * STEPS.len(),
        "only the ledger's steps ran"
    );
    let repeated: Vec<_> = executions
        .iter()
        .filter(|(_, pids)| pids.len() > 1)
        .collect();
    for ((probe, step), pids) in &repeated {
        // Only a step the killed process was running can run again, once, in the new one.
        assert_eq!(
            pids.as_slice(),
            [first_pid, second_pid],
            "{probe} {step} ran {pids:?}"
        );
    }
    // Every ledger run whose `ship` ran in the restarted process sent its event from there.
    let sent_after_restart = executions
        .iter()
        .filter(|((_, step), pids)| step == "ship" && pids.last() == Some(&second_pid))
        .count();
    println!(
        "{restart:?}: {before_kill} of {} step executions before the kill; {} ran again after it; {sent_after_restart} runs sent after the restart",
        RUNS * STEPS.len(),
        repeated.len()
    );
    assert!(
        sent_after_restart > 0,
        "no run sent after the restart: the restarted process's sends were not exercised"
    );
    // At most the executions in flight when it died (`max_parallel`, 32 by default).
    assert!(
        repeated.len() <= 32,
        "{} steps ran twice: {repeated:?}",
        repeated.len()
    );
    drop(second_process);
}

#[tokio::test]
async fn a_second_process_on_the_same_database_refuses_to_start_and_runs_nothing() {
    let installation = Installation::new();
    let owner = installation.start();
    let owner_pid = owner.pid();
    installation.ledger(50).await;

    // Same database, another port: refused at start-up, naming the owner.
    let mut second = installation.command();
    second.env("APP__SERVER__PORT", free_port().to_string());
    let (code, output) = run_to_exit(second);
    assert_ne!(code, Some(0), "the second process must not start: {output}");
    assert!(
        output.contains("is in use by another process")
            && output.contains(&format!("pid {owner_pid}")),
        "{output}"
    );
    installation.idle().await;
    let pids: std::collections::HashSet<u32> = installation
        .all_lines()
        .into_iter()
        .map(|(_, _, pid)| pid)
        .collect();
    assert_eq!(pids, [owner_pid].into(), "only the owner ran steps");
    drop(owner);
}

#[tokio::test]
async fn a_process_that_cannot_bind_its_port_runs_nothing_from_its_database() {
    let installation = Installation::new();
    let first = installation.start();
    let first_pid = first.pid();
    // A run sleeps (`nap`, 3 s) with its next steps pending; the owner dies.
    let run_id = installation.probe("pending").await;
    installation
        .run_until(&run_id, "the nap", |run| step_is(run, "nap", "Sleeping"))
        .await;
    first.kill9();
    tokio::time::sleep(Duration::from_secs(4)).await;

    // The next process's port is taken: it fails to bind, and its executor (which starts
    // only once the port is bound) never runs the pending steps, although they are due.
    let blocker = std::net::TcpListener::bind(("127.0.0.1", installation.port)).unwrap();
    let (code, output) = run_to_exit(installation.command());
    assert_ne!(code, Some(0), "{output}");
    assert!(
        output.contains("cannot listen") || output.contains("ddress"),
        "{output}"
    );
    assert_eq!(
        installation.lines("pending"),
        lines(&[("first", first_pid)]),
        "nothing ran in the process that could not bind"
    );
    drop(blocker);

    // A process that can serve picks the run up.
    let third = installation.start();
    let third_pid = third.pid();
    let run = installation
        .run_until(&run_id, "completion", |run| run["status"] == "Completed")
        .await;
    assert_eq!(run["output"]["last"], json!(third_pid));
    drop(third);
}
