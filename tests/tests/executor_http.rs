//! The embedded executor's HTTP transport, proven against the real npm `inngest` SDK app of
//! `tests/js-peer`: a Rust host app runs the embedded executor on loopback; the JS app is
//! pointed at it with `INNGEST_DEV=<host>/_inngest/`, syncs itself (a `PUT` on its own serve
//! endpoint makes it `POST /fn/register` to the executor), and is then driven over HTTP to
//! the end of every recorded scenario. Each run's status and output are compared with what
//! the real Inngest dev server produced for the same function (`run.json` `runs_summary` of
//! `tests/inngest-reference/recordings`).
//!
//! Every test has its own host and JS app serving only the scenario's functions; the long
//! waits of the recordings stay short (backoff 50 ms, sleeps of 1–2 s, `Retry-After: 3`).

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod support;

use std::time::{Duration, Instant, SystemTime};

use framework::{Module, RunningApp, TestingModule};
use inngest_module::InngestModule;
use serde_json::{Value, json};
use support::*;

/// The host: no `dev`, no base URL, so the test environment picks the embedded executor.
const HOST_CONFIG: &str = "[inngest]\napp_id = \"host\"\n[inngest.embedded]\nretry_backoff = \"50ms\"\nretry_max_backoff = \"500ms\"";

/// Longest wait for any run of these scenarios.
const RUN_DEADLINE: Duration = Duration::from_secs(20);

/// A host app with the embedded executor and the JS SDK app synced with it.
struct Harness {
    host: RunningApp,
    js: JsPeer,
    /// `http://127.0.0.1:<host port>/_inngest`.
    api: String,
    client: reqwest::Client,
    started: Instant,
}

impl Harness {
    /// Starts the host and the JS app serving `functions` (ids without the app prefix), and
    /// syncs the JS app with the host's executor.
    async fn start(checkpointing: bool, functions: &[&str]) -> Harness {
        let host = TestingModule::new(Module::new("host").import(InngestModule::from_config()))
            .config(HOST_CONFIG)
            .build()
            .await
            .expect("the host builds")
            .start()
            .await
            .expect("the host starts");
        let api = format!("{}/_inngest", host.base_url());
        // The trailing slash matters: the JS SDK resolves `e/<key>` against the base (kept
        // under `/_inngest/`) but `/fn/register` against the origin.
        let dev = format!("{api}/");
        let mode = if checkpointing { "1" } else { "0" };
        let js = JsPeer::start(&[
            ("INNGEST_DEV", &dev),
            ("FUNCTIONS", &functions.join(",")),
            ("CHECKPOINTING", mode),
        ])
        .await;
        let client = reqwest::Client::new();
        let harness = Harness {
            host,
            js,
            api,
            client,
            started: Instant::now(),
        };
        harness.sync(functions).await;
        harness
    }

    async fn get(&self, path: &str) -> Value {
        let response = self
            .client
            .get(format!("{}{path}", self.api))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The JS app's own sync: `PUT` on its serve endpoint, and the executor now lists it.
    async fn sync(&self, functions: &[&str]) {
        let serve_url = format!("{}/api/inngest", self.js.base);
        let response = self.client.put(&serve_url).send().await.unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        assert_eq!(
            status, 200,
            "the JS app could not sync with the executor: {body}"
        );
        assert_eq!(body["modified"], true, "{body}");
        let apps = self.get("/api/apps").await;
        let app = apps["data"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["app_id"] == "js-peer")
            .unwrap_or_else(|| panic!("the JS app is not registered: {apps}"))
            .clone();
        assert_eq!(
            app["target"], serve_url,
            "the JS app is driven over HTTP at its serve URL"
        );
        let registered: Vec<&str> = app["functions"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(Value::as_str)
            .collect();
        for id in functions {
            assert!(
                registered.contains(&format!("js-peer-{id}").as_str()),
                "js-peer-{id} is not registered: {registered:?}"
            );
        }
    }

    /// Sends one event through the Event API; returns its id.
    async fn send(&self, name: &str, data: Value) -> String {
        let response = self
            .client
            .post(format!("{}/e/test-key", self.api))
            .json(&json!({ "name": name, "data": data }))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["status"], 200, "{body}");
        body["ids"][0].as_str().unwrap().to_string()
    }

    /// Polls `path` (a `{"data": …}` answer) until `done` holds for its data.
    async fn poll(&self, path: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + RUN_DEADLINE;
        loop {
            let data = self.get(path).await["data"].clone();
            if done(&data) {
                return data;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not done after {RUN_DEADLINE:?}; last answer of {path}: {data:#}"
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// The finished runs of an event, via the dev server's `GET /v1/events/{id}/runs`.
    async fn event_runs(&self, event_id: &str, count: usize) -> Vec<Value> {
        let data = self
            .poll(
                &format!("/v1/events/{event_id}/runs"),
                &format!("runs of event {event_id}"),
                |data| {
                    data.as_array()
                        .is_some_and(|runs| runs.len() >= count && runs.iter().all(is_final))
                },
            )
            .await;
        data.as_array().unwrap().clone()
    }

    /// The one finished run of an event.
    async fn event_run(&self, event_id: &str) -> Value {
        let runs = self.event_runs(event_id, 1).await;
        assert_eq!(runs.len(), 1, "one run per event: {runs:#?}");
        runs[0].clone()
    }

    /// The finished runs of a function (composite id), via `GET /api/runs?function=`.
    async fn function_runs(&self, function_id: &str, count: usize) -> Vec<Value> {
        let data = self
            .poll(
                &format!("/api/runs?function={function_id}"),
                &format!("runs of {function_id}"),
                |data| {
                    data.as_array()
                        .is_some_and(|runs| runs.len() >= count && runs.iter().all(is_final))
                },
            )
            .await;
        data.as_array().unwrap().clone()
    }

    /// One run with its steps, via the dev server's `GET /v1/runs/{id}`.
    async fn run(&self, run_id: &str) -> Value {
        self.get(&format!("/v1/runs/{run_id}")).await["data"].clone()
    }

    /// Steps the executor stored from checkpoints so far.
    fn checkpointed_steps(&self) -> u64 {
        let embedded = self
            .host
            .container()
            .get::<inngest_module::EmbeddedExecutor>()
            .unwrap();
        embedded.executor().unwrap().checkpointed_steps()
    }

    /// With checkpointing, `at_least` steps reached the executor as checkpoints (not one
    /// request each); without, none did.
    fn assert_checkpointed(&self, checkpointing: bool, at_least: u64) {
        let stored = self.checkpointed_steps();
        if checkpointing {
            assert!(
                stored >= at_least,
                "{stored} steps checkpointed, expected {at_least}"
            );
        } else {
            assert_eq!(stored, 0, "the classic protocol checkpoints nothing");
        }
    }

    fn report(&self, scenario: &str) {
        eprintln!(
            "executor_http {scenario}: done in {} ms after sync",
            self.started.elapsed().as_millis()
        );
    }
}

fn is_final(run: &Value) -> bool {
    matches!(
        run["status"].as_str(),
        Some("Completed" | "Failed" | "Cancelled")
    )
}

fn run_duration_ms(run: &Value) -> i64 {
    let start = run["started_at"]
        .as_i64()
        .or_else(|| run["created_at"].as_i64())
        .unwrap();
    run["ended_at"].as_i64().unwrap() - start
}

/// `runs_summary` of a recorded scenario: `(label, status, output)` in recorded order.
fn recorded(scenario: &str) -> Vec<(String, String, Value)> {
    let path = recordings_dir().join(scenario).join("run.json");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path:?}: {e}"));
    let run: Value = serde_json::from_str(&text).unwrap();
    run["runs_summary"]
        .as_object()
        .unwrap()
        .values()
        .map(|r| {
            (
                r["label"].as_str().unwrap().to_string(),
                r["status"].as_str().unwrap().to_string(),
                r["output"].clone(),
            )
        })
        .collect()
}

/// The recorded run whose label starts with `label`.
fn recorded_run(scenario: &str, label: &str) -> (String, Value) {
    recorded(scenario)
        .into_iter()
        .find(|(l, _, _)| l.starts_with(label))
        .map(|(_, status, output)| (status, output))
        .unwrap_or_else(|| panic!("no recorded run `{label}` in {scenario}"))
}

/// Drops what differs between any two executions: JS stack traces.
fn without_stacks(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| k.as_str() != "stack")
                .map(|(k, v)| (k.clone(), without_stacks(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(without_stacks).collect()),
        other => other.clone(),
    }
}

/// Asserts a run ended like the recorded one (status and output, stacks aside).
fn assert_like_recording(run: &Value, scenario: &str, label: &str) {
    let (status, output) = recorded_run(scenario, label);
    assert_eq!(
        run["status"],
        status.as_str(),
        "{scenario} {label}: {run:#}"
    );
    assert_eq!(
        without_stacks(&run["output"]),
        without_stacks(&output),
        "{scenario} {label}: output differs from the recording; run: {run:#}"
    );
}

fn iso_in(delay: Duration) -> String {
    humantime::format_rfc3339_millis(SystemTime::now() + delay).to_string()
}

async fn run_then_sleep(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["step-sleep"]).await;
    let event = h.send("test/hello", json!({"name": "rust"})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "01-run-sleep", "test/hello");
    assert_eq!(run["function_id"], "js-peer-step-sleep");
    assert_eq!(run["event_id"], event.as_str());
    assert!(
        run_duration_ms(&run) >= 1000,
        "the 1 s sleep was honoured: {run:#}"
    );
    let detail = h.run(run["run_id"].as_str().unwrap()).await;
    let steps = detail["steps"].as_array().unwrap();
    let summary: Vec<(&str, &str, &str)> = steps
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["op"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("first", "StepRun", "Completed"),
            ("nap", "Sleep", "Completed")
        ],
        "{detail:#}"
    );
    assert_eq!(steps[0]["memo"], json!({"data": {"hello": "rust"}}));
    h.assert_checkpointed(checkpointing, 1);
    h.report("01 run-sleep");
}

async fn sleep_until(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["sleep-until"]).await;
    let until = iso_in(Duration::from_millis(1500));
    let event = h.send("test/sleep-until", json!({ "until": until })).await;
    let run = h.event_run(&event).await;
    let (status, recorded_output) = recorded_run("02-sleep-until", "test/sleep-until");
    assert_eq!(run["status"], status.as_str(), "{run:#}");
    // The recording's `until` was its own timestamp; the shape and the rest are the same.
    let mut expected = recorded_output;
    expected["until"] = json!(until);
    assert_eq!(run["output"], expected);
    let until_ms = humantime::parse_rfc3339(&until)
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        run["ended_at"].as_i64().unwrap() >= until_ms,
        "woke at or after {until}: {run:#}"
    );
    h.report("02 sleep-until");
}

async fn wait_for_event_matched(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["wait-approval"]).await;
    let event = h.send("test/request", json!({"id": "req-1"})).await;
    let runs = h.get(&format!("/api/runs?event={event}")).await["data"].clone();
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    // Wait until the run is parked on the wait, as in the recording, before any approval.
    h.poll(&format!("/v1/runs/{run_id}"), "the wait step", |run| {
        run["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["name"] == "wait-approval" && s["op"] == "WaitForEvent")
        })
    })
    .await;
    // A non-matching approval has no effect; the matching one resumes the run.
    h.send(
        "test/approved",
        json!({"id": "other", "approver": "mallory"}),
    )
    .await;
    let approved = h
        .send("test/approved", json!({"id": "req-1", "approver": "alice"}))
        .await;
    let run = h.event_run(&event).await;
    let (status, recorded_output) = recorded_run("03-wait-for-event-matched", "test/request");
    assert_eq!(run["status"], status.as_str(), "{run:#}");
    // The whole event, raw (not unwrapped to `.data`): only its id and ts are this run's.
    let approval = &run["output"]["approval"];
    let mut expected = recorded_output;
    expected["approval"]["id"] = json!(approved);
    expected["approval"]["ts"] = approval["ts"].clone();
    assert!(approval["ts"].is_i64(), "{approval}");
    assert_eq!(run["output"], expected);
    h.report("03 wait-for-event matched");
}

async fn wait_for_event_timeout(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["wait-approval-timeout"]).await;
    let event = h.send("test/request-short", json!({"id": "req-2"})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "04-wait-for-event-timeout", "test/request-short");
    assert!(
        run_duration_ms(&run) >= 2000,
        "the 2 s timeout was honoured: {run:#}"
    );
    h.report("04 wait-for-event timeout");
}

async fn send_event(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["send-event"]).await;
    let event = h.send("test/fanout", json!({})).await;
    let run = h.event_run(&event).await;
    let (status, _) = recorded_run("05-send-event", "test/fanout");
    assert_eq!(run["status"], status.as_str(), "{run:#}");
    // The SDK sent the events itself, to `/_inngest/e/<key>`; the ids it got back are the
    // ids the executor stored them under.
    let children = h.get("/api/events?name=test/child").await["data"].clone();
    let mut stored: Vec<&str> = children
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["id"].as_str().unwrap())
        .collect();
    stored.sort_unstable();
    let mut sent: Vec<&str> = run["output"]["sent"]["ids"]
        .as_array()
        .unwrap_or_else(|| panic!("{run:#}"))
        .iter()
        .map(|id| id.as_str().unwrap())
        .collect();
    sent.sort_unstable();
    assert_eq!(sent.len(), 2, "{run:#}");
    assert_eq!(sent, stored);
    let data: Vec<&Value> = children
        .as_array()
        .unwrap()
        .iter()
        .map(|e| &e["data"])
        .collect();
    assert!(data.contains(&&json!({"n": 1})) && data.contains(&&json!({"n": 2})));
    h.assert_checkpointed(checkpointing, 1);
    h.report("05 send-event");
}

async fn invoke(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["invoke-child", "invoke-parent"]).await;
    let event = h.send("test/invoke", json!({"k": "v"})).await;
    let parent = h.event_run(&event).await;
    assert_like_recording(&parent, "06-invoke", "test/invoke (parent)");
    let children = h.function_runs("js-peer-invoke-child", 1).await;
    assert_eq!(children.len(), 1);
    assert_like_recording(&children[0], "06-invoke", "invoke-child");
    let trigger = &children[0]["events"][0];
    assert_eq!(trigger["name"], "inngest/function.invoked", "{trigger:#}");
    assert_eq!(trigger["data"]["x"], 1, "{trigger:#}");
    h.report("06 invoke");
}

async fn step_error_then_success(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["step-retry"]).await;
    let event = h.send("test/step-retry", json!({})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "07-step-error-then-success", "test/step-retry");
    let detail = h.run(run["run_id"].as_str().unwrap()).await;
    let flaky = &detail["steps"][0];
    assert_eq!(flaky["name"], "flaky", "{detail:#}");
    assert_eq!(flaky["status"], "Completed", "{detail:#}");
    assert_eq!(
        flaky["attempts"], 2,
        "one failed attempt, one success: {detail:#}"
    );
    h.report("07 step error then success");
}

async fn non_retriable_error_runs_on_failure(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["non-retriable"]).await;
    let event = h.send("test/non-retriable", json!({"k": "v"})).await;
    let run = h.event_run(&event).await;
    // `/v1` reports the error as the output, like the dev server; `/api` keeps it apart.
    assert_like_recording(&run, "08-non-retriable-error", "test/non-retriable");
    assert_eq!(run["attempt"], 0, "not retried: {run:#}");
    let run_id = run["run_id"].as_str().unwrap();
    let native = h.get(&format!("/api/runs/{run_id}")).await["data"].clone();
    assert_eq!(native["output"], Value::Null, "{native:#}");
    assert_eq!(
        without_stacks(&native["error"]),
        without_stacks(&recorded_run("08-non-retriable-error", "test/non-retriable").1)
    );
    let handlers = h.function_runs("js-peer-non-retriable-failure", 1).await;
    assert_eq!(handlers.len(), 1, "{handlers:#?}");
    assert_like_recording(&handlers[0], "08-non-retriable-error", "onFailure handler");
    let failed = &handlers[0]["events"][0];
    assert_eq!(failed["name"], "inngest/function.failed", "{failed:#}");
    assert_eq!(failed["data"]["run_id"], run["run_id"], "{failed:#}");
    assert_eq!(failed["data"]["function_id"], "js-peer-non-retriable");
    h.report("08 non-retriable + onFailure");
}

async fn retry_after_from_a_step_and_from_the_body(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["retry-after", "retry-after-body"]).await;
    let step_event = h.send("test/retry-after", json!({"k": "step"})).await;
    let retry_at = iso_in(Duration::from_millis(1500));
    let body_event = h
        .send("test/retry-after-body", json!({ "retryAt": retry_at }))
        .await;
    let step_run = h.event_run(&step_event).await;
    assert_like_recording(&step_run, "09-retry-after-error", "test/retry-after (step");
    // `Retry-After: 3` (seconds), not the 50 ms backoff.
    assert!(
        run_duration_ms(&step_run) >= 2500,
        "the step's Retry-After of 3 s was honoured: {step_run:#}"
    );
    let body_run = h.event_run(&body_event).await;
    assert_like_recording(&body_run, "09-retry-after-error", "test/retry-after-body");
    let retry_at_ms = humantime::parse_rfc3339(&retry_at)
        .unwrap()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    assert!(
        body_run["ended_at"].as_i64().unwrap() >= retry_at_ms,
        "the body's Retry-After date {retry_at} was honoured: {body_run:#}"
    );
    h.report("09 retry-after");
}

async fn parallel_steps(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["parallel"]).await;
    let event = h.send("test/parallel", json!({})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "10-parallel-steps", "test/parallel");
    // Both planned steps were run by their own request (`stepId=<hash>`) and memoized.
    let detail = h.run(run["run_id"].as_str().unwrap()).await;
    let mut steps: Vec<(&str, &str, &str, &Value)> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap(),
                s["op"].as_str().unwrap(),
                s["status"].as_str().unwrap(),
                &s["memo"],
            )
        })
        .collect();
    steps.sort_by_key(|s| s.0);
    assert_eq!(
        steps,
        [
            ("a", "StepRun", "Completed", &json!({"data": "A"})),
            ("b", "StepRun", "Completed", &json!({"data": "B"}))
        ],
        "{detail:#}"
    );
    h.report("10 parallel steps");
}

async fn repeated_step_ids(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["repeated-ids"]).await;
    let event = h.send("test/repeat", json!({})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "11-repeated-step-ids", "test/repeat");
    let detail = h.run(run["run_id"].as_str().unwrap()).await;
    let hashes: Vec<&str> = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["hash"].as_str().unwrap())
        .collect();
    // sha1("same"), sha1("same:1"), sha1("same:2"), as in the recording.
    let expected: Vec<String> = ["same", "same:1", "same:2"]
        .iter()
        .map(|id| inngest_module::protocol::hash_step_id(id))
        .collect();
    assert_eq!(hashes, expected, "{detail:#}");
    h.assert_checkpointed(checkpointing, 3);
    h.report("11 repeated step ids");
}

async fn cancellation_runs_the_cancelled_handler(checkpointing: bool) {
    let h = Harness::start(checkpointing, &["cancellable", "on-cancelled"]).await;
    let event = h.send("test/cancellable", json!({"id": "c-1"})).await;
    let runs = h.get(&format!("/api/runs?event={event}")).await["data"].clone();
    let run_id = runs[0]["run_id"].as_str().unwrap().to_string();
    // Cancel while it sleeps its 30 s, after the first step, as in the recording.
    h.poll(&format!("/v1/runs/{run_id}"), "the long nap", |run| {
        run["steps"].as_array().is_some_and(|steps| {
            steps
                .iter()
                .any(|s| s["name"] == "long-nap" && s["op"] == "Sleep")
        })
    })
    .await;
    // A cancel for another id does nothing.
    h.send("test/cancel", json!({"id": "c-other"})).await;
    h.send("test/cancel", json!({"id": "c-1"})).await;
    let run = h.event_run(&event).await;
    assert_like_recording(&run, "13-cancellation", "test/cancellable");
    let detail = h.run(&run_id).await;
    let nap = detail["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "long-nap")
        .unwrap();
    assert_ne!(
        nap["status"], "Completed",
        "the nap never ended: {detail:#}"
    );
    let handlers = h.function_runs("js-peer-on-cancelled", 1).await;
    assert_eq!(handlers.len(), 1, "{handlers:#?}");
    let (status, mut expected) = recorded_run("13-cancellation", "on-cancelled");
    expected["run_id"] = json!(run_id);
    assert_eq!(handlers[0]["status"], status.as_str());
    assert_eq!(handlers[0]["output"], expected, "{:#}", handlers[0]);
    let cancelled = &handlers[0]["events"][0];
    assert_eq!(cancelled["name"], "inngest/function.cancelled");
    assert_eq!(cancelled["data"]["function_id"], "js-peer-cancellable");
    h.report("13 cancellation");
}

/// A refused sync must reach the SDK as refused: inngest-js takes the outcome from the
/// body's `status` (default 200), so every error reply of `/fn/register` carries it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_registrations_carry_their_status() {
    let host = TestingModule::new(Module::new("host").import(InngestModule::from_config()))
        .config(HOST_CONFIG)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let bad_cron = json!({
        "url": "http://127.0.0.1:9/api/inngest", "appName": "bad",
        "functions": [{"id": "bad-cron", "name": "bad", "triggers": [{"cron": "not a cron"}], "steps": {}}],
    });
    for path in ["/_inngest/fn/register", "/fn/register"] {
        for (body, what) in [
            ("{".to_string(), "not JSON"),
            (json!({"functions": []}).to_string(), "no url"),
            (bad_cron.to_string(), "an invalid cron"),
        ] {
            let response = client
                .post(format!("{}{path}", host.base_url()))
                .header("content-type", "application/json")
                .body(body)
                .send()
                .await
                .unwrap();
            assert_eq!(response.status(), 400, "{path}: {what}");
            let reply: Value = response.json().await.unwrap();
            assert_eq!(reply["status"], 400, "{path}: {what}: {reply}");
            assert!(reply["error"].is_string(), "{path}: {what}: {reply}");
        }
        // What a cross-site form can send (text/plain) is refused before it is read.
        let response = client
            .post(format!("{}{path}", host.base_url()))
            .header("content-type", "text/plain")
            .body(bad_cron.to_string())
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 415, "{path}");
        let reply: Value = response.json().await.unwrap();
        assert_eq!(reply["status"], 415, "{path}: {reply}");
    }
    let apps: Value = client
        .get(format!("{}/_inngest/api/apps", host.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        apps["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|a| a["app_id"] != "bad"),
        "{apps}"
    );
}

/// Every scenario twice: the JS app on the classic protocol (one request per step), and
/// with checkpointing on (inngest-js v4's default: steps posted to the executor's
/// `/v1/checkpoint/{run_id}/async` inside one request).
macro_rules! in_both_modes {
    ($($scenario:ident),* $(,)?) => {
        mod classic {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(false).await
                }
            )*
        }
        mod checkpointing {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $scenario() {
                    super::$scenario(true).await
                }
            )*
        }
    };
}

in_both_modes!(
    run_then_sleep,
    sleep_until,
    wait_for_event_matched,
    wait_for_event_timeout,
    send_event,
    invoke,
    step_error_then_success,
    non_retriable_error_runs_on_failure,
    retry_after_from_a_step_and_from_the_body,
    parallel_steps,
    repeated_step_ids,
    cancellation_runs_the_cancelled_handler,
);

/// The checkpoint API refuses what it cannot store: a request that does not own the run
/// (`409`: the SDK stops), a body that is not a checkpoint and a run that is not the path's
/// (`400`, saying what to send).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpoints_that_do_not_own_their_run_are_refused() {
    let h = Harness::start(true, &["step-sleep"]).await;
    let post = |path: String, body: Value| {
        let client = h.client.clone();
        let url = format!("{}{path}", h.api);
        async move { client.post(url).json(&body).send().await.unwrap() }
    };
    let checkpoint = json!({
        "run_id": "01RUN", "fn_id": "f", "qi_id": "1:1",
        "steps": [{"id": "a", "op": "StepRun", "name": "a", "data": 1}],
    });
    let stale = post("/v1/checkpoint/01RUN/async".into(), checkpoint.clone()).await;
    assert_eq!(stale.status(), 409);
    assert!(
        stale
            .text()
            .await
            .unwrap()
            .contains("no longer owns run 01RUN")
    );
    let other_run = post("/v1/checkpoint/01OTHER/async".into(), checkpoint).await;
    assert_eq!(other_run.status(), 400);
    let not_ours = post(
        "/v1/checkpoint/01RUN/async".into(),
        json!({"run_id": "01RUN", "fn_id": "f", "qi_id": "NWFw", "steps": []}),
    )
    .await;
    assert_eq!(not_ours.status(), 400);
    assert!(not_ours.text().await.unwrap().contains("ctx.qi_id"));
    let garbage = post("/v1/checkpoint/01RUN/async".into(), json!({"steps": "no"})).await;
    assert_eq!(garbage.status(), 400);
    assert_eq!(h.checkpointed_steps(), 0);
}
