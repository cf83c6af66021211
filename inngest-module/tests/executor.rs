//! The embedded executor end to end: a real app on loopback, functions driven in-process over
//! the SDK protocol, events through `InngestService` and the Event API.
//!
//! Every test starts its own app (its own in-memory store). Tests that go through the app
//! in-process run on a paused tokio clock (the executor follows it through `ExecutorClock`),
//! so sleeps, timeouts, backoff and cron take no real time and times are exact; tests that
//! speak HTTP on loopback run on the real clock. Assertions use what the executor recorded
//! (statuses, steps, times) and what the functions observed (counters); none bounds
//! wall-clock time.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, UNIX_EPOCH};

use tokio::time::Instant;

use framework::{Module, Provider, RunningApp, TestingModule, injectable};
use inngest_module::executor::{RunFilter, RunStatus, RunView, StepRecord, StepStatus};
use inngest_module::protocol::{Opcode, hash_step_id};
use inngest_module::testing::TestExecutor;
use inngest_module::{
    self as inngest, Ctx, EmbeddedExecutor, Error, Event, ExecutorClock, Function, FunctionFailed,
    FunctionOptions, Functions, InngestModule, InngestService, Invoke, WaitFor,
};
use serde_json::{Value, json};

/// Fast retries, so retry tests take milliseconds.
const FAST: &str = "[inngest]\napp_id = \"shop\"\n[inngest.embedded]\nretry_backoff = \"50ms\"\nretry_max_backoff = \"200ms\"\n";

/// What the functions observed.
#[derive(Default)]
struct Counters {
    charged: AtomicUsize,
    left: AtomicUsize,
    right: AtomicUsize,
    flaky_step: AtomicUsize,
    flaky_fn: AtomicUsize,
    fatal: AtomicUsize,
    panics: AtomicUsize,
    after_long_sleep: AtomicUsize,
    announced: AtomicUsize,
    bad: AtomicUsize,
    fatal_step: AtomicUsize,
    after_invoke: AtomicUsize,
    slow_started: AtomicUsize,
    slow_done: AtomicUsize,
    after_slow: AtomicUsize,
    /// Calls of `retry-later`, in order.
    retry_calls: Mutex<Vec<Instant>>,
    /// `inngest/function.failed` payloads the failure handler received.
    failures: Mutex<Vec<FunctionFailed>>,
    /// Labels in the order step bodies started.
    order: Mutex<Vec<String>>,
    /// Per key (and `*` for all): step bodies in flight now, and the most at once.
    inflight: Mutex<HashMap<String, (usize, usize)>>,
}

impl Counters {
    fn enter(&self, key: &str) {
        let mut inflight = self.inflight.lock().unwrap();
        for key in [key, "*"] {
            let entry = inflight.entry(key.to_string()).or_default();
            entry.0 += 1;
            entry.1 = entry.1.max(entry.0);
        }
    }

    fn exit(&self, key: &str) {
        let mut inflight = self.inflight.lock().unwrap();
        for key in [key, "*"] {
            if let Some(entry) = inflight.get_mut(key) {
                entry.0 -= 1;
            }
        }
    }

    fn most_at_once(&self, key: &str) -> usize {
        self.inflight
            .lock()
            .unwrap()
            .get(key)
            .map_or(0, |entry| entry.1)
    }
}

struct Flows {
    counters: Arc<Counters>,
}

#[injectable]
impl Flows {
    fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    #[inngest::function(id = "three-steps", event = "test/three")]
    async fn three_steps(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = Arc::clone(&self.counters);
        let a = ctx
            .step
            .run("charge", || async move {
                counters.charged.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            })
            .await?;
        ctx.step.sleep("pause", "1s").await?;
        let b: i32 = ctx.step.run("ship", || async move { Ok(a + 1) }).await?;
        Ok(json!({ "a": a, "b": b }))
    }
}

/// Trigger matching: exact names, wildcards and `if` expressions.
struct Triggers;

#[injectable]
impl Triggers {
    fn new() -> Self {
        Triggers
    }

    #[inngest::function(id = "exact", event = "match/exact")]
    async fn exact(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "name": ctx.event.name, "data": ctx.event.data }))
    }

    #[inngest::function(id = "wild", event = "wild/*")]
    async fn wild(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!(ctx.event.name))
    }

    #[inngest::function(
        id = "filtered",
        event = "match/filtered",
        if = "event.data.amount > 100"
    )]
    async fn filtered(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data["amount"].clone())
    }
}

/// Step tools: parallel steps, sleeps, waits, sends and invokes.
struct Steps {
    counters: Arc<Counters>,
}

#[injectable]
impl Steps {
    fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    #[inngest::function(id = "parallel", event = "test/parallel")]
    async fn parallel(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = &self.counters;
        let left = ctx.step.run("left", || async move {
            counters.left.fetch_add(1, Ordering::SeqCst);
            Ok(20)
        });
        let right = ctx.step.run("right", || async move {
            counters.right.fetch_add(1, Ordering::SeqCst);
            Ok(22)
        });
        let (left, right): (inngest::Result<i64>, inngest::Result<i64>) = tokio::join!(left, right);
        Ok(json!({ "sum": left? + right? }))
    }

    #[inngest::function(id = "sleeper", event = "test/sleep-until")]
    async fn sleeper(&self, ctx: Ctx) -> inngest::Result<Value> {
        let wake_at = ctx.event.data["wake_at"].as_u64().unwrap_or_default();
        ctx.step
            .sleep_until("until", UNIX_EPOCH + Duration::from_millis(wake_at))
            .await?;
        Ok(json!("awake"))
    }

    #[inngest::function(id = "waiter", event = "wait/start")]
    async fn waiter(&self, ctx: Ctx) -> inngest::Result<Value> {
        let timeout = ctx.event.data["timeout"]
            .as_str()
            .unwrap_or("15s")
            .to_string();
        let wait = WaitFor::event("wait/approved")
            .matching("async.data.order == event.data.order")
            .timeout(timeout);
        let approved = ctx.step.wait_for_event::<Value>("approval", wait).await?;
        Ok(match approved {
            Some(event) => json!({ "approved_by": event.data["by"] }),
            None => json!({ "timed_out": true }),
        })
    }

    #[inngest::function(id = "announcer", event = "send/start")]
    async fn announcer(&self, ctx: Ctx) -> inngest::Result<Value> {
        let event = Event::new("send/announced", json!({ "from": ctx.run_id.clone() }));
        let ids = ctx.step.send_event("announce", event).await?;
        Ok(json!({ "ids": ids }))
    }

    /// Waits for `send/go`, then announces: a run in flight that sends (the drain test).
    #[inngest::function(id = "late-announcer", event = "send/late")]
    async fn late_announcer(&self, ctx: Ctx) -> inngest::Result<Value> {
        let go = WaitFor::event("send/go").timeout("1h");
        ctx.step.wait_for_event::<Value>("go", go).await?;
        let event = Event::new("send/announced", json!({ "from": ctx.run_id.clone() }));
        let ids = ctx.step.send_event("announce", event).await?;
        Ok(json!({ "ids": ids }))
    }

    #[inngest::function(id = "listener", event = "send/announced")]
    async fn listener(&self, ctx: Ctx) -> inngest::Result<Value> {
        self.counters.announced.fetch_add(1, Ordering::SeqCst);
        Ok(ctx.event.data["from"].clone())
    }

    #[inngest::function(id = "caller", event = "invoke/start")]
    async fn caller(&self, ctx: Ctx) -> inngest::Result<Value> {
        let invoke = match ctx.event.data["mode"].as_str().unwrap_or_default() {
            "ok" => Invoke::function("double").data(json!({ "n": 21 })),
            "fail" => Invoke::function("refuse").data(json!({})),
            "missing" => Invoke::composite("elsewhere-nothing").data(json!({})),
            _ => Invoke::function("slow-child").data(json!({})).timeout("1s"),
        };
        match ctx.step.invoke::<Value>("call", invoke).await {
            Ok(value) => Ok(json!({ "ok": value })),
            Err(Error::Step(failure)) => {
                Ok(json!({ "error": failure.name, "message": failure.message }))
            }
            Err(other) => Err(other),
        }
    }

    /// Gives up on its child after 1 s, then works 3 s while the child finishes.
    #[inngest::function(id = "impatient", event = "invoke/impatient")]
    async fn impatient(&self, ctx: Ctx) -> inngest::Result<Value> {
        let invoke = Invoke::function("dawdler").data(json!({})).timeout("1s");
        let result = ctx.step.invoke::<Value>("call", invoke).await;
        let error = match result {
            Err(Error::Step(failure)) => failure.name,
            other => format!("unexpected: {other:?}"),
        };
        let counters = &self.counters;
        ctx.step
            .run("after", || async move {
                counters.after_invoke.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_secs(3)).await;
                Ok(())
            })
            .await?;
        Ok(json!({ "error": error }))
    }

    #[inngest::function(id = "dawdler")]
    async fn dawdler(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("nap", "2s").await?;
        Ok(json!("late"))
    }

    #[inngest::function(id = "double")]
    async fn double(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!(ctx.event.data["n"].as_i64().unwrap_or_default() * 2))
    }

    #[inngest::function(id = "refuse")]
    async fn refuse(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Err(Error::non_retriable("the child refuses"))
    }

    #[inngest::function(id = "slow-child")]
    async fn slow_child(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("nap", "30s").await?;
        Ok(json!("late"))
    }

    /// Waits for a payment of the same amount (a number: `1` and `1.0` are equal in CEL)
    /// and of kind `'card'` (a literal).
    #[inngest::function(id = "payee", event = "pay/start")]
    async fn payee(&self, ctx: Ctx) -> inngest::Result<Value> {
        let wait = WaitFor::event("pay/received")
            .matching("async.data.kind == 'card' && async.data.amount == event.data.amount")
            .timeout("1h");
        let paid = ctx.step.wait_for_event::<Value>("paid", wait).await?;
        Ok(json!(paid.map(|event| event.data["by"].clone())))
    }

    /// Cancelled by any `stop/*` event for its order.
    #[inngest::function(id = "stoppable", event = "stoppable/start")]
    #[inngest::cancel_on(event = "stop/*", if = "async.data.order == event.data.order")]
    async fn stoppable(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("long", "1h").await?;
        Ok(json!("woke"))
    }
}

/// Errors, retries, panics and failure handlers.
struct Failures {
    counters: Arc<Counters>,
}

#[injectable]
impl Failures {
    fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    #[inngest::function(id = "flaky-step", event = "test/flaky-step", retries = 4)]
    async fn flaky_step(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = &self.counters;
        let attempt = ctx.attempt;
        let seen: u32 = ctx
            .step
            .run("flaky", || async move {
                let call = counters.flaky_step.fetch_add(1, Ordering::SeqCst) + 1;
                if call <= 2 {
                    return Err(Error::retriable(format!("failure {call}")));
                }
                Ok(attempt)
            })
            .await?;
        Ok(json!({ "attempt": seen }))
    }

    #[inngest::function(id = "flaky-fn", event = "test/flaky-fn", retries = 4)]
    async fn flaky_fn(&self, ctx: Ctx) -> inngest::Result<Value> {
        let call = self.counters.flaky_fn.fetch_add(1, Ordering::SeqCst) + 1;
        if call <= 2 {
            return Err(Error::retriable(format!("not yet ({call})")));
        }
        Ok(json!({ "attempt": ctx.attempt }))
    }

    #[inngest::function(id = "retry-later", event = "test/retry-later", retries = 2)]
    async fn retry_later(&self, _ctx: Ctx) -> inngest::Result<Value> {
        let calls = {
            let mut calls = self.counters.retry_calls.lock().unwrap();
            calls.push(Instant::now());
            calls.len()
        };
        if calls == 1 {
            return Err(Error::retry_after("busy", Duration::from_secs(1)));
        }
        Ok(json!(calls))
    }

    #[inngest::function(
        id = "fatal",
        event = "test/fatal",
        retries = 3,
        on_failure = "fatal_failed"
    )]
    async fn fatal(&self, _ctx: Ctx) -> inngest::Result<Value> {
        self.counters.fatal.fetch_add(1, Ordering::SeqCst);
        Err(Error::non_retriable("the card was declined"))
    }

    async fn fatal_failed(&self, ctx: Ctx<FunctionFailed>) -> inngest::Result<Value> {
        self.counters
            .failures
            .lock()
            .unwrap()
            .push(ctx.event.data.clone());
        Ok(json!("handled"))
    }

    /// `bad` always fails and asks for its retries 1 s later; `good` finishes in between,
    /// after `bad`'s first failure and before its first retry.
    #[inngest::function(id = "parallel-flaky", event = "test/parallel-flaky", retries = 2)]
    async fn parallel_flaky(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = &self.counters;
        let bad = ctx.step.run("bad", || async move {
            counters.bad.fetch_add(1, Ordering::SeqCst);
            Err::<i64, _>(Error::retry_after("always", Duration::from_secs(1)))
        });
        let good = ctx.step.run("good", || async move {
            for _ in 0..1_000 {
                if counters.bad.load(Ordering::SeqCst) >= 1 {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            tokio::time::sleep(Duration::from_millis(300)).await;
            Ok(1)
        });
        let (bad, good) = tokio::join!(bad, good);
        let bad = match bad {
            Err(Error::Step(failure)) => failure.message,
            other => format!("unexpected: {other:?}"),
        };
        Ok(json!({ "bad": bad, "good": good? }))
    }

    #[inngest::function(id = "fatal-step", event = "test/fatal-step", retries = 3)]
    async fn fatal_step(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = &self.counters;
        ctx.step
            .run("charge", || async move {
                counters.fatal_step.fetch_add(1, Ordering::SeqCst);
                Err::<(), _>(Error::non_retriable("insufficient funds"))
            })
            .await?;
        Ok(json!("unreachable"))
    }

    #[inngest::function(id = "panicky", event = "test/panic", retries = 2)]
    async fn panicky(&self, _ctx: Ctx) -> inngest::Result<Value> {
        self.counters.panics.fetch_add(1, Ordering::SeqCst);
        panic!("the function body panicked")
    }
}

/// Cancellation and flow control.
struct Control {
    counters: Arc<Counters>,
}

#[injectable]
impl Control {
    fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    #[inngest::function(id = "cancellable", event = "cancel/start")]
    #[inngest::cancel_on(event = "cancel/stop", if = "async.data.order == event.data.order")]
    async fn cancellable(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("long", "30s").await?;
        self.counters
            .after_long_sleep
            .fetch_add(1, Ordering::SeqCst);
        Ok(json!("woke"))
    }

    /// A step that takes 800 ms, cancellable while it runs.
    #[inngest::function(id = "slow-cancellable", event = "cancel/slow")]
    #[inngest::cancel_on(event = "cancel/slow.stop")]
    async fn slow_cancellable(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = &self.counters;
        ctx.step
            .run("slow", || async move {
                counters.slow_started.fetch_add(1, Ordering::SeqCst);
                tokio::time::sleep(Duration::from_millis(800)).await;
                counters.slow_done.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?;
        ctx.step
            .run("after", || async move {
                counters.after_slow.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
            .await?;
        Ok(json!("done"))
    }

    /// Concurrency 1, but a sleeping run holds no slot.
    #[inngest::function(id = "napper", event = "conc/nap")]
    #[inngest::concurrency(limit = 1)]
    async fn napper(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("nap", "1s").await?;
        Ok(ctx.event.data["n"].clone())
    }

    /// One step at a time per account; the step takes 300 ms.
    #[inngest::function(id = "serial", event = "conc/work")]
    #[inngest::concurrency(limit = 1, key = "event.data.account")]
    async fn serial(&self, ctx: Ctx) -> inngest::Result<Value> {
        let account = ctx.event.data["account"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let counters = &self.counters;
        let key = account.clone();
        ctx.step
            .run("work", || async move {
                counters.enter(&key);
                tokio::time::sleep(Duration::from_millis(300)).await;
                counters.exit(&key);
                Ok(())
            })
            .await?;
        Ok(json!(account))
    }

    #[inngest::function(id = "limited", event = "flow/limited")]
    #[inngest::rate_limit(limit = 1, period = "1m")]
    async fn limited(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data.clone())
    }

    #[inngest::function(id = "throttled", event = "flow/throttled")]
    #[inngest::throttle(limit = 1, period = "1s")]
    async fn throttled(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data.clone())
    }

    #[inngest::function(id = "debounced", event = "flow/debounced")]
    #[inngest::debounce(period = "1s")]
    async fn debounced(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "n": ctx.event.data["n"], "events": ctx.event_count() }))
    }

    /// Events every few hundred ms keep resetting the 1 s period; `timeout` caps the wait.
    #[inngest::function(id = "capped", event = "flow/capped")]
    #[inngest::debounce(period = "1s", timeout = "2s")]
    async fn capped(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data["n"].clone())
    }

    #[inngest::function(id = "batched", event = "flow/batched")]
    #[inngest::batch(max_size = 3, timeout = "1s")]
    async fn batched(&self, ctx: Ctx) -> inngest::Result<Value> {
        let ns: Vec<Value> = ctx
            .events()?
            .into_iter()
            .map(|e| e.data["n"].clone())
            .collect();
        Ok(json!(ns))
    }

    #[inngest::function(id = "once", event = "flow/once")]
    #[inngest::idempotency("event.data.order")]
    async fn once(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data["order"].clone())
    }

    /// One execution at a time; `boost` seconds of priority; the step takes `ms`.
    #[inngest::function(id = "ranked", event = "flow/ranked")]
    #[inngest::concurrency(limit = 1)]
    #[inngest::priority("event.data.boost")]
    async fn ranked(&self, ctx: Ctx) -> inngest::Result<Value> {
        let label = ctx.event.data["label"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let ms = ctx.event.data["ms"].as_u64().unwrap_or_default();
        let counters = &self.counters;
        let name = label.clone();
        ctx.step
            .run("work", || async move {
                counters.order.lock().unwrap().push(name);
                tokio::time::sleep(Duration::from_millis(ms)).await;
                Ok(())
            })
            .await?;
        Ok(json!(label))
    }

    #[inngest::function(id = "bounded", event = "flow/bounded")]
    #[inngest::timeouts(finish = "1s")]
    async fn bounded(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("long", "30s").await?;
        Ok(json!("finished"))
    }

    /// The second run waits 2 s for the throttle, longer than it may wait to start.
    #[inngest::function(id = "late", event = "flow/late")]
    #[inngest::throttle(limit = 1, period = "2s")]
    #[inngest::timeouts(start = "1s")]
    async fn late(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!("started"))
    }

    #[inngest::function(id = "solo", event = "flow/solo")]
    #[inngest::singleton(mode = "skip")]
    async fn solo(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("nap", "1s").await?;
        Ok(ctx.event.data["n"].clone())
    }

    #[inngest::function(id = "latest", event = "flow/latest")]
    #[inngest::singleton(mode = "cancel", key = "event.data.user")]
    async fn latest(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.sleep("nap", "1s").await?;
        Ok(ctx.event.data["n"].clone())
    }
}

/// Cron functions, only in the cron test's app (they fire every second).
struct Clock;

#[injectable]
impl Clock {
    fn new() -> Self {
        Clock
    }

    #[inngest::on_cron("*/1 * * * * *", id = "tick")]
    async fn tick(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "name": ctx.event.name, "cron": ctx.event.data["cron"] }))
    }

    #[inngest::on_cron("TZ=Europe/Paris 0 3 * * *", id = "nightly")]
    async fn nightly(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!("cleaned"))
    }
}

/// A cron function built without the macros, so a test can change its schedule.
struct Rotor;

fn rotating(spec: &'static str) -> Module {
    Module::new("rotating").provider(Provider::value(Rotor).contribute::<Functions, _>(
        move |_rotor: &Arc<Rotor>| {
            Function::new(
                FunctionOptions::new("rotating").cron(spec),
                |ctx: Ctx| async move { Ok(ctx.event.data["cron"].clone()) },
            )
        },
    ))
}

// ---- helpers ----

async fn start_app(config: &str) -> RunningApp {
    start_with(config, None).await
}

/// [`FAST`] with the executor on a SQLite file in `dir` (kept across restarts).
fn on_file(dir: &tempfile::TempDir) -> String {
    let database = dir.path().join("runs.sqlite3");
    format!(
        "{FAST}database = \"{}\"\n",
        database.display().to_string().replace('\\', "/")
    )
}

/// Starts the test app. Its executor follows tokio's clock: paused in the in-process tests.
async fn start_with(config: &str, extra: Option<Module>) -> RunningApp {
    let mut root = Module::new("app")
        .import(InngestModule::from_config())
        .provider(Provider::value(Counters::default()))
        .provide::<Flows>()
        .provide::<Triggers>()
        .provide::<Steps>()
        .provide::<Failures>()
        .provide::<Control>();
    if let Some(extra) = extra {
        root = root.import(extra);
    }
    TestingModule::new(root)
        .config(config.to_string())
        .override_provider(Provider::value(ExecutorClock::tokio()))
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn executor(app: &RunningApp) -> inngest_module::Executor {
    let embedded = app.container().get::<EmbeddedExecutor>().unwrap();
    embedded.executor().cloned().expect("embedded executor")
}

fn counters(app: &RunningApp) -> Arc<Counters> {
    app.container().get::<Counters>().unwrap()
}

/// The testing kit's helpers on the app's executor.
fn test_executor(app: &RunningApp) -> TestExecutor {
    TestExecutor::of(app.container()).expect("an embedded executor")
}

/// The (first) run an event started, once it finished.
async fn finished(app: &RunningApp, event_id: &str) -> RunView {
    let executor = test_executor(app);
    let run = executor
        .run_for_event(event_id, Duration::from_secs(600))
        .await
        .unwrap();
    wait_done(app, &run.run_id).await
}

/// Sends one event through `InngestService`; returns its id.
async fn send(app: &RunningApp, name: &str, data: Value) -> String {
    let service = app.container().get::<InngestService>().unwrap();
    let ids = service.send(Event::new(name, data)).await.unwrap();
    assert_eq!(ids.len(), 1);
    ids.into_iter().next().unwrap()
}

/// Runs a single event started (routing is synchronous: they exist once `send` returns).
async fn runs_for(app: &RunningApp, event_id: &str) -> Vec<RunView> {
    executor(app)
        .runs(&RunFilter {
            event: Some(event_id.to_string()),
            ..RunFilter::default()
        })
        .await
        .unwrap()
}

/// Runs of a function (`shop-<id>`), oldest first.
async fn runs_of(app: &RunningApp, function: &str) -> Vec<RunView> {
    let mut runs = executor(app)
        .runs(&RunFilter {
            function: Some(format!("shop-{function}")),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    runs.reverse();
    runs
}

/// A run with its steps.
async fn run(app: &RunningApp, run_id: &str) -> RunView {
    executor(app)
        .run(run_id)
        .await
        .unwrap()
        .expect("the run exists")
}

fn steps(run: &RunView) -> &[StepRecord] {
    run.steps.as_deref().expect("a single-run view has steps")
}

fn step<'a>(run: &'a RunView, name: &str) -> &'a StepRecord {
    steps(run)
        .iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step `{name}` in {run:?}"))
}

/// Waits (by the executor's clock) until the run finished; returns it with its steps.
async fn wait_done(app: &RunningApp, run_id: &str) -> RunView {
    test_executor(app)
        .wait_until_finished(run_id, Duration::from_secs(600))
        .await
        .unwrap()
}

/// Polls `probe` every 20 ms until it gives a value (at most 10 minutes by tokio's clock).
async fn eventually<T>(what: &str, mut probe: impl AsyncFnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + Duration::from_secs(600);
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Waits until `run_id` has recorded step `name`.
async fn step_seen(app: &RunningApp, run_id: &str, name: &str) -> RunView {
    test_executor(app)
        .wait_until_step(run_id, name, Duration::from_secs(600))
        .await
        .unwrap()
}

// ---- tests ----

#[tokio::test(start_paused = true)]
async fn a_three_step_function_with_a_sleep_completes() {
    let app = start_app("[inngest]\napp_id = \"shop\"\n").await;
    let service = app.container().get::<InngestService>().unwrap();
    let ids = service
        .send(Event::new("test/three", json!({"order": 1})))
        .await
        .unwrap();
    let run = finished(&app, &ids[0]).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"a": 1, "b": 2})));
    let steps = run.steps.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["charge", "pause", "ship"]);
    assert_eq!(counters(&app).charged.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn triggers_match_exact_names_wildcards_and_if_expressions() {
    let app = start_app(FAST).await;

    let exact = send(&app, "match/exact", json!({"k": 1})).await;
    let run = finished(&app, &exact).await;
    assert_eq!(run.function_id, "shop-exact");
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(
        run.output,
        Some(json!({"name": "match/exact", "data": {"k": 1}}))
    );
    assert_eq!(run.event_ids, [exact]);

    // Near misses of the exact name and of the wildcard's prefix start nothing.
    for name in ["match/exact.v2", "match/exac", "wildcard/x", "wild"] {
        let id = send(&app, name, json!({})).await;
        assert!(
            runs_for(&app, &id).await.is_empty(),
            "`{name}` started a run"
        );
    }

    // `wild/*` matches any depth below the prefix.
    for name in ["wild/a", "wild/a/b.c"] {
        let id = send(&app, name, json!({})).await;
        let run = finished(&app, &id).await;
        assert_eq!(run.function_id, "shop-wild");
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!(name)));
    }

    // `if = "event.data.amount > 100"`.
    let small = send(&app, "match/filtered", json!({"amount": 50})).await;
    assert!(runs_for(&app, &small).await.is_empty());
    let missing = send(&app, "match/filtered", json!({})).await;
    assert!(runs_for(&app, &missing).await.is_empty());
    let large = send(&app, "match/filtered", json!({"amount": 150})).await;
    let run = finished(&app, &large).await;
    assert_eq!(run.function_id, "shop-filtered");
    assert_eq!(run.output, Some(json!(150)));
    assert_eq!(runs_of(&app, "filtered").await.len(), 1);
    assert_eq!(runs_of(&app, "wild").await.len(), 2);
    assert_eq!(runs_of(&app, "exact").await.len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn parallel_steps_each_run_once_and_are_memoized() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/parallel", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"sum": 42})));
    let counters = counters(&app);
    assert_eq!(counters.left.load(Ordering::SeqCst), 1);
    assert_eq!(counters.right.load(Ordering::SeqCst), 1);
    for (name, value) in [("left", 20), ("right", 22)] {
        let step = step(&run, name);
        assert_eq!(step.op, Opcode::StepRun, "{step:?}");
        assert_eq!(step.status, StepStatus::Completed, "{step:?}");
        assert_eq!(step.memo, Some(json!({"data": value})), "{step:?}");
        assert_eq!(step.attempts, 1, "{step:?}");
    }
    assert_eq!(steps(&run).len(), 2);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn sleep_until_wakes_at_the_given_time() {
    let app = start_app(FAST).await;
    let wake_at = u64::try_from(executor(&app).now_ms()).unwrap() + 1_000;
    let id = send(&app, "test/sleep-until", json!({"wake_at": wake_at})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!("awake")));
    let sleep = step(&run, "until");
    assert_eq!(sleep.op, Opcode::Sleep);
    assert_eq!(sleep.status, StepStatus::Completed);
    assert_eq!(sleep.input.as_ref().unwrap()["until"], json!(wake_at));
    let ended = u64::try_from(run.ended_at.unwrap()).unwrap();
    assert!(ended >= wake_at, "ended at {ended}, before {wake_at}");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn wait_for_event_matches_with_if_and_times_out_with_none() {
    let app = start_app(FAST).await;

    let start = send(&app, "wait/start", json!({"order": 1, "timeout": "15s"})).await;
    let run_id = runs_for(&app, &start).await[0].run_id.clone();
    let waiting = step_seen(&app, &run_id, "approval").await;
    assert_eq!(step(&waiting, "approval").op, Opcode::WaitForEvent);
    assert_eq!(step(&waiting, "approval").status, StepStatus::Waiting);

    // Another order's approval does not match `async.data.order == event.data.order`.
    send(&app, "wait/approved", json!({"order": 2, "by": "mallory"})).await;
    assert_eq!(run(&app, &run_id).await.status, RunStatus::Running);
    // Neither does an event of another name.
    send(&app, "wait/approved.v2", json!({"order": 1, "by": "eve"})).await;
    assert_eq!(run(&app, &run_id).await.status, RunStatus::Running);

    let approval = send(&app, "wait/approved", json!({"order": 1, "by": "ada"})).await;
    let run = wait_done(&app, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"approved_by": "ada"})));
    let wait = step(&run, "approval");
    assert_eq!(wait.status, StepStatus::Completed);
    assert_eq!(wait.memo.as_ref().unwrap()["id"], json!(approval));

    // Times out: the step resolves to `None`.
    let start = send(&app, "wait/start", json!({"order": 3, "timeout": "1s"})).await;
    let run = finished(&app, &start).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"timed_out": true})));
    let wait = step(&run, "approval");
    assert_eq!(wait.status, StepStatus::TimedOut);
    assert_eq!(wait.memo, Some(Value::Null));
    assert!(run.ended_at.unwrap() - run.created_at >= 1_000, "{run:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn invoke_returns_the_child_result_or_its_error_or_a_timeout() {
    let app = start_app(FAST).await;

    let ok = send(&app, "invoke/start", json!({"mode": "ok"})).await;
    let parent = finished(&app, &ok).await;
    assert_eq!(parent.status, RunStatus::Completed, "{parent:?}");
    assert_eq!(parent.output, Some(json!({"ok": 42})));
    assert_eq!(step(&parent, "call").op, Opcode::InvokeFunction);
    let children = runs_of(&app, "double").await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].status, RunStatus::Completed);
    assert_eq!(children[0].events[0].name, "inngest/function.invoked");
    assert_eq!(children[0].events[0].data["n"], 21);

    // A child that fails for good: the parent sees its error (and can handle it).
    let fail = send(&app, "invoke/start", json!({"mode": "fail"})).await;
    let parent = finished(&app, &fail).await;
    assert_eq!(parent.status, RunStatus::Completed, "{parent:?}");
    let output = parent.output.clone().unwrap();
    assert_eq!(output["message"], "the child refuses", "{parent:?}");
    assert_eq!(step(&parent, "call").status, StepStatus::Failed);
    let children = runs_of(&app, "refuse").await;
    assert_eq!(children.len(), 1);
    assert_eq!(children[0].status, RunStatus::Failed);
    assert_eq!(
        children[0].attempt, 0,
        "a non-retriable error is not retried"
    );

    // A function the executor does not know.
    let missing = send(&app, "invoke/start", json!({"mode": "missing"})).await;
    let parent = finished(&app, &missing).await;
    assert_eq!(parent.status, RunStatus::Completed, "{parent:?}");
    assert_eq!(parent.output.as_ref().unwrap()["error"], "FunctionNotFound");
    assert!(
        parent.output.as_ref().unwrap()["message"]
            .as_str()
            .unwrap()
            .contains("elsewhere-nothing")
    );

    // A child slower than the invoke's timeout.
    let slow = send(&app, "invoke/start", json!({"mode": "slow"})).await;
    let parent = finished(&app, &slow).await;
    assert_eq!(parent.status, RunStatus::Completed, "{parent:?}");
    assert_eq!(
        parent.output.as_ref().unwrap()["error"],
        "InngestInvokeTimeoutError",
        "{parent:?}"
    );
    assert!(parent.ended_at.unwrap() - parent.created_at >= 1_000);
    assert_eq!(
        runs_of(&app, "slow-child").await[0].status,
        RunStatus::Running
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn send_event_step_returns_ids_and_triggers_other_functions() {
    let app = start_app(FAST).await;
    let id = send(&app, "send/start", json!({})).await;
    let announcer = finished(&app, &id).await;
    assert_eq!(announcer.status, RunStatus::Completed, "{announcer:?}");
    let ids = announcer.output.as_ref().unwrap()["ids"]
        .as_array()
        .unwrap()
        .clone();
    assert_eq!(ids.len(), 1, "{announcer:?}");
    let sent = ids[0].as_str().unwrap();
    assert_eq!(step(&announcer, "announce").status, StepStatus::Completed);

    let listener = finished(&app, sent).await;
    assert_eq!(listener.function_id, "shop-listener");
    assert_eq!(listener.status, RunStatus::Completed, "{listener:?}");
    assert_eq!(listener.output, Some(json!(announcer.run_id)));
    assert_eq!(listener.events[0].name, "send/announced");
    assert_eq!(runs_of(&app, "listener").await.len(), 1);
    assert_eq!(counters(&app).announced.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_failing_step_is_retried_until_it_succeeds() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/flaky-step", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    // The third call of the body saw attempt 2.
    assert_eq!(run.output, Some(json!({"attempt": 2})));
    assert_eq!(counters(&app).flaky_step.load(Ordering::SeqCst), 3);
    let flaky = step(&run, "flaky");
    assert_eq!(flaky.status, StepStatus::Completed, "{flaky:?}");
    assert_eq!(flaky.attempts, 3, "{flaky:?}");
    assert_eq!(flaky.memo, Some(json!({"data": 2})));
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_retriable_function_error_is_retried() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/flaky-fn", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"attempt": 2})));
    assert_eq!(counters(&app).flaky_fn.load(Ordering::SeqCst), 3);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn retry_after_is_honoured() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/retry-later", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!(2)));
    let calls = counters(&app).retry_calls.lock().unwrap().clone();
    assert_eq!(calls.len(), 2);
    // The configured backoff is 50 ms; the error asked for 1 s.
    let gap = calls[1] - calls[0];
    assert!(gap >= Duration::from_millis(950), "retried after {gap:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_non_retriable_error_fails_at_once_and_runs_the_failure_handler() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/fatal", json!({"order": 7})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(
        run.error.as_ref().unwrap()["message"],
        "the card was declined"
    );
    assert_eq!(counters(&app).fatal.load(Ordering::SeqCst), 1);

    let handler = eventually("the failure handler's run", async || {
        runs_of(&app, "fatal-failure").await.into_iter().next()
    })
    .await;
    let handler = wait_done(&app, &handler.run_id).await;
    assert_eq!(handler.status, RunStatus::Completed, "{handler:?}");
    assert_eq!(handler.events[0].name, "inngest/function.failed");
    assert_eq!(handler.output, Some(json!("handled")));
    let failures = counters(&app).failures.lock().unwrap().clone();
    assert_eq!(failures.len(), 1);
    assert_eq!(failures[0].function_id, "shop-fatal");
    assert_eq!(failures[0].run_id, run.run_id);
    assert_eq!(failures[0].error.message, "the card was declined");
    assert_eq!(failures[0].event.data["order"], 7);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_panicking_function_is_retried_then_fails_and_the_app_keeps_serving() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/panic", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    // retries = 2: three attempts.
    assert_eq!(counters(&app).panics.load(Ordering::SeqCst), 3);
    let error = run.error.as_ref().unwrap();
    assert!(
        error.to_string().contains("the function body panicked"),
        "{error}"
    );
    let failed = executor(&app)
        .events(10, Some("inngest/function.failed"))
        .await
        .unwrap();
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert_eq!(failed[0]["data"]["run_id"], json!(run.run_id));
    assert_eq!(failed[0]["data"]["function_id"], "shop-panicky");
    // The executor and the app still work.
    let id = send(&app, "match/exact", json!({})).await;
    assert_eq!(finished(&app, &id).await.status, RunStatus::Completed);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn cancel_on_cancels_a_sleeping_run_only_for_a_matching_event() {
    let app = start_app(FAST).await;
    let start = send(&app, "cancel/start", json!({"order": 1})).await;
    let run_id = runs_for(&app, &start).await[0].run_id.clone();
    let sleeping = step_seen(&app, &run_id, "long").await;
    assert_eq!(step(&sleeping, "long").status, StepStatus::Sleeping);

    // Another order: no cancellation (routing is synchronous, so this is final).
    send(&app, "cancel/stop", json!({"order": 2})).await;
    assert_eq!(run(&app, &run_id).await.status, RunStatus::Running);

    send(&app, "cancel/stop", json!({"order": 1})).await;
    let cancelled = run(&app, &run_id).await;
    assert_eq!(cancelled.status, RunStatus::Cancelled, "{cancelled:?}");
    assert!(cancelled.ended_at.is_some());
    assert_eq!(counters(&app).after_long_sleep.load(Ordering::SeqCst), 0);

    let events = executor(&app)
        .events(10, Some("inngest/function.cancelled"))
        .await
        .unwrap();
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["data"]["run_id"], json!(run_id));
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_six_field_cron_fires_within_seconds_and_a_tz_cron_registers() {
    let clock = Module::new("clock").provide::<Clock>();
    let app = start_with(FAST, Some(clock)).await;
    let apps = executor(&app).apps();
    assert_eq!(apps.len(), 1);
    for id in ["shop-tick", "shop-nightly"] {
        assert!(apps[0].functions.iter().any(|f| f == id), "{apps:?}");
    }

    let tick = eventually("a completed cron run", async || {
        runs_of(&app, "tick")
            .await
            .into_iter()
            .find(|r| r.status == RunStatus::Completed)
    })
    .await;
    assert_eq!(tick.events[0].name, "inngest/scheduled.timer");
    assert_eq!(
        tick.output,
        Some(json!({"name": "inngest/scheduled.timer", "cron": "*/1 * * * * *"}))
    );
    // It keeps firing: one run per second.
    eventually("a second cron run", async || {
        (runs_of(&app, "tick").await.len() >= 2).then_some(())
    })
    .await;
    // 03:00 in Paris is not now (unless the test runs then): no run yet, no error.
    assert!(runs_of(&app, "nightly").await.len() <= 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn concurrency_keys_serialize_runs_per_key() {
    let app = start_app(FAST).await;
    let mut ids = Vec::new();
    for account in ["a", "a", "b", "b"] {
        ids.push(send(&app, "conc/work", json!({"account": account})).await);
    }
    for id in &ids {
        let run = finished(&app, id).await;
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    }
    let counters = counters(&app);
    assert_eq!(counters.most_at_once("a"), 1);
    assert_eq!(counters.most_at_once("b"), 1);
    // Different keys do not wait for each other.
    assert_eq!(counters.most_at_once("*"), 2);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn rate_limit_skips_events_over_the_limit() {
    let app = start_app(FAST).await;
    let first = send(&app, "flow/limited", json!({"n": 1})).await;
    let second = send(&app, "flow/limited", json!({"n": 2})).await;
    assert_eq!(runs_for(&app, &first).await.len(), 1);
    assert!(runs_for(&app, &second).await.is_empty());
    let run = finished(&app, &first).await;
    assert_eq!(run.output, Some(json!({"n": 1})));
    let third = send(&app, "flow/limited", json!({"n": 3})).await;
    assert!(runs_for(&app, &third).await.is_empty());
    assert_eq!(runs_of(&app, "limited").await.len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn throttle_delays_the_second_run_by_the_period() {
    let app = start_app(FAST).await;
    let first = send(&app, "flow/throttled", json!({"n": 1})).await;
    let second = send(&app, "flow/throttled", json!({"n": 2})).await;
    let first = finished(&app, &first).await;
    let second = finished(&app, &second).await;
    assert_eq!(first.status, RunStatus::Completed, "{first:?}");
    assert_eq!(second.status, RunStatus::Completed, "{second:?}");
    let (first_start, second_start) = (first.started_at.unwrap(), second.started_at.unwrap());
    assert!(second_start > first_start);
    // Not before one period after it was created.
    assert!(
        second_start - second.created_at >= 1_000,
        "started {} ms after it was created",
        second_start - second.created_at
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn debounce_runs_once_with_the_last_event() {
    let app = start_app(FAST).await;
    let sent_at = executor(&app).now_ms();
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(send(&app, "flow/debounced", json!({"n": n})).await);
    }
    let last = ids.last().unwrap().clone();
    let run = finished(&app, &last).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"n": 3, "events": 1})));
    assert_eq!(run.event_ids, [last]);
    assert!(run.created_at - sent_at >= 1_000, "{run:?}");
    // The debounce job is gone once the run exists: no other run can follow.
    assert_eq!(runs_of(&app, "debounced").await.len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn batches_fill_up_or_flush_after_the_timeout() {
    let app = start_app(FAST).await;
    let mut ids = Vec::new();
    for n in 1..=3 {
        ids.push(send(&app, "flow/batched", json!({"n": n})).await);
    }
    // The third event fills the batch: one run, created by that send.
    let runs = runs_of(&app, "batched").await;
    assert_eq!(runs.len(), 1);
    assert_eq!(runs[0].event_ids, ids);
    let run = wait_done(&app, &runs[0].run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!([1, 2, 3])));

    // A partial batch waits for the timeout (1 s).
    let sent_at = executor(&app).now_ms();
    let a = send(&app, "flow/batched", json!({"n": 4})).await;
    let b = send(&app, "flow/batched", json!({"n": 5})).await;
    assert!(runs_for(&app, &a).await.is_empty());
    let run = finished(&app, &b).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.event_ids, [a, b]);
    assert_eq!(run.output, Some(json!([4, 5])));
    assert!(run.created_at - sent_at >= 1_000, "{run:?}");
    assert_eq!(runs_of(&app, "batched").await.len(), 2);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn idempotency_keys_start_one_run_per_key() {
    let app = start_app(FAST).await;
    let first = send(&app, "flow/once", json!({"order": "o-1"})).await;
    let repeat = send(&app, "flow/once", json!({"order": "o-1"})).await;
    let other = send(&app, "flow/once", json!({"order": "o-2"})).await;
    assert_eq!(runs_for(&app, &first).await.len(), 1);
    assert!(runs_for(&app, &repeat).await.is_empty());
    assert_eq!(finished(&app, &other).await.output, Some(json!("o-2")));
    assert_eq!(finished(&app, &first).await.output, Some(json!("o-1")));
    assert_eq!(runs_of(&app, "once").await.len(), 2);

    // The same event id twice is one event (the Event API's 24 h dedup).
    let service = app.container().get::<InngestService>().unwrap();
    for _ in 0..2 {
        service
            .send(Event::new("match/exact", json!({})).with_id("dedup-1"))
            .await
            .unwrap();
    }
    assert_eq!(runs_for(&app, "dedup-1").await.len(), 1);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn priority_lets_a_later_run_start_first_under_concurrency_one() {
    let app = start_app(FAST).await;
    let blocker = send(
        &app,
        "flow/ranked",
        json!({"label": "blocker", "boost": 0, "ms": 800}),
    )
    .await;
    let counters = counters(&app);
    eventually("the blocker's step to start", async || {
        (!counters.order.lock().unwrap().is_empty()).then_some(())
    })
    .await;
    // Both queue behind the blocker; the later one has 60 s of priority.
    let low = send(
        &app,
        "flow/ranked",
        json!({"label": "low", "boost": 0, "ms": 10}),
    )
    .await;
    let high = send(
        &app,
        "flow/ranked",
        json!({"label": "high", "boost": 60, "ms": 10}),
    )
    .await;
    for id in [&blocker, &low, &high] {
        assert_eq!(finished(&app, id).await.status, RunStatus::Completed);
    }
    assert_eq!(
        *counters.order.lock().unwrap(),
        ["blocker", "high", "low"],
        "order in which the step bodies started"
    );
    let low = finished(&app, &low).await;
    let high = finished(&app, &high).await;
    assert!(high.started_at.unwrap() <= low.started_at.unwrap());
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn timeouts_cancel_runs_that_do_not_finish_or_start_in_time() {
    let app = start_app(FAST).await;
    let id = send(&app, "flow/bounded", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
    let message = run.error.as_ref().unwrap()["message"].as_str().unwrap();
    assert!(message.contains("timeouts.finish"), "{message}");
    assert!(run.ended_at.unwrap() - run.started_at.unwrap() >= 1_000);
    assert_eq!(step(&run, "long").status, StepStatus::Sleeping);

    // The throttle holds the second run 2 s; it may wait 1 s to start.
    let first = send(&app, "flow/late", json!({})).await;
    let second = send(&app, "flow/late", json!({})).await;
    assert_eq!(finished(&app, &first).await.status, RunStatus::Completed);
    let run = finished(&app, &second).await;
    assert_eq!(run.status, RunStatus::Cancelled, "{run:?}");
    assert!(run.started_at.is_none(), "{run:?}");
    let message = run.error.as_ref().unwrap()["message"].as_str().unwrap();
    assert!(message.contains("timeouts.start"), "{message}");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn singleton_skips_or_cancels_while_a_run_is_active() {
    let app = start_app(FAST).await;
    let first = send(&app, "flow/solo", json!({"n": 1})).await;
    let skipped = send(&app, "flow/solo", json!({"n": 2})).await;
    assert_eq!(runs_for(&app, &first).await.len(), 1);
    assert!(runs_for(&app, &skipped).await.is_empty());
    assert_eq!(finished(&app, &first).await.output, Some(json!(1)));
    // Once it finished, a new run may start.
    let later = send(&app, "flow/solo", json!({"n": 3})).await;
    assert_eq!(finished(&app, &later).await.output, Some(json!(3)));
    assert_eq!(runs_of(&app, "solo").await.len(), 2);

    // mode = "cancel", keyed by user: a newer run replaces the active one for that user.
    let old = send(&app, "flow/latest", json!({"n": 1, "user": "u1"})).await;
    let other_user = send(&app, "flow/latest", json!({"n": 2, "user": "u2"})).await;
    let new = send(&app, "flow/latest", json!({"n": 3, "user": "u1"})).await;
    assert_eq!(finished(&app, &old).await.status, RunStatus::Cancelled);
    assert_eq!(finished(&app, &other_user).await.output, Some(json!(2)));
    assert_eq!(finished(&app, &new).await.output, Some(json!(3)));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_api_accepts_events_over_http_and_rejects_bad_ones() {
    let app = start_app(FAST).await;
    let http = reqwest::Client::new();
    let url = format!("{}/_inngest/e/anykey", app.base_url());

    let response = http
        .post(&url)
        .json(&json!({"name": "match/exact", "data": {"via": "http"}}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["status"], 200, "{body}");
    let ids = body["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 1, "{body}");
    let run = finished(&app, ids[0].as_str().unwrap()).await;
    assert_eq!(run.output.as_ref().unwrap()["data"], json!({"via": "http"}));

    let response = http
        .post(&url)
        .json(&json!([
            {"name": "match/exact", "data": {"n": 1}},
            {"name": "wild/batch", "id": "given-id"},
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    let ids = body["ids"].as_array().unwrap();
    assert_eq!(ids.len(), 2, "{body}");
    assert_eq!(ids[1], "given-id");
    assert_eq!(finished(&app, "given-id").await.function_id, "shop-wild");

    for (payload, expected) in [
        ("{not json", "not JSON"),
        ("{\"data\": {}}", "`name` is required"),
        ("[{\"name\": \"ok\"}, {\"name\": \"\"}]", "event 1"),
        ("42", "event object or an array"),
    ] {
        let response = http
            .post(&url)
            .header("content-type", "application/json")
            .body(payload)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 400, "{payload}");
        let body: Value = response.json().await.unwrap();
        let error = body["error"].as_str().unwrap_or_default();
        assert!(error.contains(expected), "{payload}: {body}");
    }
    // A rejected request stores nothing, not even its valid events.
    assert!(
        executor(&app)
            .events(100, Some("ok"))
            .await
            .unwrap()
            .is_empty()
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_event_api_checks_the_configured_event_key() {
    let config = FAST.replace(
        "app_id = \"shop\"\n",
        "app_id = \"shop\"\nevent_key = \"right-key\"\n",
    );
    let app = start_app(&config).await;
    let http = reqwest::Client::new();
    let event = json!({"name": "match/exact"});

    let response = http
        .post(format!("{}/_inngest/e/wrong-key", app.base_url()))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("event key"),
        "{body}"
    );
    assert!(executor(&app).events(10, None).await.unwrap().is_empty());

    let response = http
        .post(format!("{}/_inngest/e/right-key", app.base_url()))
        .json(&event)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["ids"].as_array().unwrap().len(), 1);
    // The app's own sends go in-process, without the key.
    let id = send(&app, "match/exact", json!({})).await;
    assert_eq!(finished(&app, &id).await.status, RunStatus::Completed);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_runs_api_shows_what_ran() {
    let app = start_app(FAST).await;
    let http = reqwest::Client::new();
    let base = format!("{}/_inngest", app.base_url());
    let get = |path: String| {
        let http = http.clone();
        async move {
            let response = http.get(path).send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };

    let three = send(&app, "test/three", json!({"order": 9})).await;
    let completed = finished(&app, &three).await;
    let fatal = send(&app, "test/fatal", json!({})).await;
    let failed = finished(&app, &fatal).await;

    let (status, body) = get(format!("{base}/api/runs?function=shop-three-steps")).await;
    assert_eq!(status, 200);
    let runs = body["data"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{body}");
    assert_eq!(runs[0]["run_id"], json!(completed.run_id));
    assert_eq!(runs[0]["status"], "Completed");
    assert_eq!(runs[0]["output"], json!({"a": 1, "b": 2}));
    assert_eq!(runs[0]["event_ids"], json!([three]));

    let (_, body) = get(format!("{base}/api/runs?status=Failed")).await;
    let runs = body["data"].as_array().unwrap();
    assert_eq!(runs.len(), 1, "{body}");
    assert_eq!(runs[0]["run_id"], json!(failed.run_id));
    assert_eq!(runs[0]["function_id"], "shop-fatal");

    let (_, body) = get(format!(
        "{base}/api/runs?function=shop-three-steps&status=Failed"
    ))
    .await;
    assert_eq!(body["data"], json!([]));

    let (status, body) = get(format!("{base}/api/runs/{}", completed.run_id)).await;
    assert_eq!(status, 200);
    let names: Vec<&str> = body["data"]["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["charge", "pause", "ship"], "{body}");
    assert_eq!(body["data"]["steps"][0]["memo"], json!({"data": 1}));
    assert_eq!(body["data"]["status"], "Completed");

    let (status, body) = get(format!("{base}/v1/events/{three}/runs")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["run_id"], json!(completed.run_id));

    let (status, body) = get(format!("{base}/api/events?name=test/three")).await;
    assert_eq!(status, 200);
    assert_eq!(body["data"][0]["id"], json!(three));

    let page = http.get(format!("{base}/runs")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    let html = page.text().await.unwrap();
    assert!(
        html.contains(&completed.run_id),
        "the runs page lists the run"
    );
    let page = http
        .get(format!("{base}/runs/{}", completed.run_id))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(page.text().await.unwrap().contains("ship"));

    let (status, body) = get(format!("{base}/api/runs/01NOSUCHRUN")).await;
    assert_eq!(status, 404);
    assert!(body["error"].as_str().unwrap().contains("01NOSUCHRUN"));

    // Pages: one run at a time, newest first, until `next` is null; each run once.
    let mut seen = Vec::new();
    let mut next: Option<String> = None;
    loop {
        let cursor = next
            .as_deref()
            .map(|c| format!("&before={c}"))
            .unwrap_or_default();
        let (status, body) = get(format!("{base}/api/runs?limit=1{cursor}")).await;
        assert_eq!(status, 200, "{body}");
        for run in body["data"].as_array().unwrap() {
            seen.push(run["run_id"].as_str().unwrap().to_string());
        }
        match body["next"].as_str() {
            Some(cursor) => next = Some(cursor.to_string()),
            None => break,
        }
    }
    let (_, everything) = get(format!("{base}/api/runs")).await;
    let all: Vec<String> = everything["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|run| run["run_id"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(seen, all, "the pages, in order, are the whole list");
    assert!(all.len() >= 2);
    let (status, body) = get(format!("{base}/api/runs?before=not-a-cursor")).await;
    assert_eq!(status, 400);
    assert!(
        body["error"].as_str().unwrap().contains("`next` value"),
        "{body}"
    );
    let html = http
        .get(format!("{base}/runs?limit=1"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        html.contains("id=\"older\""),
        "the page links to older runs"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_parallel_step_gets_exactly_its_retries_while_another_succeeds() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/parallel-flaky", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"bad": "always", "good": 1})));
    // retries = 2: three calls, however the other step's success interleaves.
    assert_eq!(counters(&app).bad.load(Ordering::SeqCst), 3);
    let bad = step(&run, "bad");
    assert_eq!(bad.status, StepStatus::Failed, "{bad:?}");
    assert_eq!(bad.attempts, 3, "{bad:?}");
    assert_eq!(step(&run, "good").status, StepStatus::Completed);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_non_retriable_step_error_fails_the_step_once_and_the_run() {
    let app = start_app(FAST).await;
    let id = send(&app, "test/fatal-step", json!({})).await;
    let run = finished(&app, &id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:?}");
    assert_eq!(counters(&app).fatal_step.load(Ordering::SeqCst), 1);
    let charge = step(&run, "charge");
    assert_eq!(charge.status, StepStatus::Failed, "{charge:?}");
    assert_eq!(charge.attempts, 1, "{charge:?}");
    assert!(
        run.error
            .as_ref()
            .unwrap()
            .to_string()
            .contains("insufficient funds"),
        "{run:?}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_child_finishing_after_the_invoke_timeout_changes_nothing() {
    let app = start_app(FAST).await;
    let id = send(&app, "invoke/impatient", json!({})).await;
    let parent = finished(&app, &id).await;
    assert_eq!(parent.status, RunStatus::Completed, "{parent:?}");
    assert_eq!(
        parent.output,
        Some(json!({"error": "InngestInvokeTimeoutError"}))
    );
    let child = wait_done(&app, &runs_of(&app, "dawdler").await[0].run_id).await;
    assert_eq!(child.status, RunStatus::Completed, "{child:?}");
    // The child's late result must not start a second execution of the parent.
    assert_eq!(counters(&app).after_invoke.load(Ordering::SeqCst), 1);
    let call = step(&parent, "call");
    assert_eq!(call.status, StepStatus::Failed, "{call:?}");
    assert_eq!(
        call.memo.as_ref().unwrap()["error"]["name"],
        "InngestInvokeTimeoutError"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn runs_resume_after_a_restart_with_a_database_file() {
    let dir = tempfile::tempdir().unwrap();
    let config = on_file(&dir);

    let app = start_app(&config).await;
    let id = send(&app, "test/three", json!({"order": 1})).await;
    let run_id = runs_for(&app, &id).await[0].run_id.clone();
    step_seen(&app, &run_id, "pause").await;
    assert_eq!(counters(&app).charged.load(Ordering::SeqCst), 1);
    app.shutdown().await.unwrap();

    let app = start_app(&config).await;
    let run = wait_done(&app, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    assert_eq!(run.output, Some(json!({"a": 1, "b": 2})));
    // `charge` was memoized before the restart: it does not run again.
    assert_eq!(counters(&app).charged.load(Ordering::SeqCst), 0);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_sdk_app_synced_over_http_is_driven_over_http() {
    let host = start_app(FAST).await;
    let config = format!(
        "[inngest]\napp_id = \"remote\"\ndev = \"{}/_inngest/\"\n",
        host.base_url()
    );
    let remote = start_app(&config).await;
    assert!(
        remote
            .container()
            .get::<EmbeddedExecutor>()
            .unwrap()
            .executor()
            .is_none(),
        "the remote app uses the host's executor"
    );
    let http = reqwest::Client::new();
    let response = http
        .put(format!("{}/api/inngest", remote.base_url()))
        .send()
        .await
        .unwrap();
    let status = response.status();
    let body = response.text().await.unwrap();
    assert_eq!(status, 200, "{body}");
    let apps = executor(&host).apps();
    let synced = apps.iter().find(|a| a.app_id == "remote").expect("synced");
    assert!(synced.functions.iter().any(|f| f == "remote-three-steps"));

    // The remote app sends through the host's Event API; both apps' functions run.
    let id = send(&remote, "test/three", json!({"order": 2})).await;
    let runs = runs_for(&host, &id).await;
    assert_eq!(runs.len(), 2, "{runs:?}");
    for run in runs {
        let run = wait_done(&host, &run.run_id).await;
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
        assert_eq!(run.output, Some(json!({"a": 1, "b": 2})));
    }
    assert_eq!(counters(&remote).charged.load(Ordering::SeqCst), 1);
    assert_eq!(counters(&host).charged.load(Ordering::SeqCst), 1);
    remote.shutdown().await.unwrap();
    host.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_run_cancelled_during_a_step_drops_that_steps_outcome() {
    let app = start_app(FAST).await;
    let id = send(&app, "cancel/slow", json!({})).await;
    let run_id = runs_for(&app, &id).await[0].run_id.clone();
    let counters = counters(&app);
    eventually("the slow step to start", async || {
        (counters.slow_started.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    send(&app, "cancel/slow.stop", json!({})).await;
    assert_eq!(run(&app, &run_id).await.status, RunStatus::Cancelled);
    eventually("the slow step to end", async || {
        (counters.slow_done.load(Ordering::SeqCst) == 1).then_some(())
    })
    .await;
    // Give the executor time to apply (and drop) the step's outcome.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let cancelled = run(&app, &run_id).await;
    assert_eq!(cancelled.status, RunStatus::Cancelled, "{cancelled:?}");
    assert_eq!(counters.after_slow.load(Ordering::SeqCst), 0);
    assert!(steps(&cancelled).iter().all(|s| s.name != "after"));
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_sleeping_run_holds_no_concurrency_slot() {
    let app = start_app(FAST).await;
    let first = send(&app, "conc/nap", json!({"n": 1})).await;
    let second = send(&app, "conc/nap", json!({"n": 2})).await;
    let first = finished(&app, &first).await;
    let second = finished(&app, &second).await;
    assert_eq!(first.output, Some(json!(1)));
    assert_eq!(second.output, Some(json!(2)));
    // Both slept at the same time: the second started before the first ended.
    assert!(
        second.started_at.unwrap() < first.ended_at.unwrap(),
        "{first:?} {second:?}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn debounce_timeout_caps_the_delay_while_events_keep_coming() {
    let app = start_app(FAST).await;
    let mut last_sent = Instant::now();
    let mut during_stream = false;
    for n in 0..12 {
        send(&app, "flow/capped", json!({"n": n})).await;
        let gap = last_sent.elapsed();
        last_sent = Instant::now();
        tokio::time::sleep(Duration::from_millis(300)).await;
        if n > 0 && gap < Duration::from_millis(900) && !runs_of(&app, "capped").await.is_empty() {
            during_stream = true;
        }
    }
    // Without the 2 s timeout no run could start while events came less than 1 s apart.
    assert!(during_stream, "no run started while events kept coming");
    let runs = eventually("the last debounced run", async || {
        let runs = runs_of(&app, "capped").await;
        runs.iter()
            .any(|r| r.events[0].data["n"] == 11)
            .then_some(runs)
    })
    .await;
    assert!(runs.len() >= 2, "{runs:?}");
    for run in runs {
        assert_eq!(
            wait_done(&app, &run.run_id).await.status,
            RunStatus::Completed
        );
        assert_eq!(run.events.len(), 1);
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_cron_schedule_changed_across_a_restart_does_not_fire_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let config = on_file(&dir);
    let app = start_with(&config, Some(rotating("*/1 * * * * *"))).await;
    app.shutdown().await.unwrap();

    // Redeployed with a yearly schedule: the every-second job left in the queue is stale.
    let app = start_with(&config, Some(rotating("0 0 1 1 *"))).await;
    let restarted = executor(&app).now_ms();
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let fired: Vec<RunView> = runs_of(&app, "rotating")
        .await
        .into_iter()
        .filter(|r| r.created_at >= restarted)
        .collect();
    assert!(fired.is_empty(), "the old schedule fired: {fired:?}");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn waits_and_cancellations_are_found_by_name_and_value_and_match_like_cel() {
    let app = start_app(FAST).await;
    // Indexed under `data.kind` = 'card' (the first equality); the amount is checked on
    // the candidates: 12 and 12.0 are equal, "12" is not.
    let start = send(&app, "pay/start", json!({"amount": 12})).await;
    let run_id = runs_for(&app, &start).await[0].run_id.clone();
    step_seen(&app, &run_id, "paid").await;
    for (data, resumes) in [
        (json!({"kind": "cash", "amount": 12, "by": "cash"}), false),
        (json!({"kind": "card", "amount": "12", "by": "text"}), false),
        (json!({"kind": "card", "amount": 13, "by": "other"}), false),
        (json!({"kind": "card", "by": "missing"}), false),
        (json!({"kind": "card", "amount": 12.0, "by": "ada"}), true),
    ] {
        send(&app, "pay/received", data.clone()).await;
        // Routing is part of the send: the wait is resolved (or not) once it returns.
        let status = step(&run(&app, &run_id).await, "paid").status;
        let expected = if resumes {
            StepStatus::Completed
        } else {
            StepStatus::Waiting
        };
        assert_eq!(status, expected, "{data}");
    }
    let paid = wait_done(&app, &run_id).await;
    assert_eq!(paid.output, Some(json!("ada")));

    // A wildcard cancellation: `stop/*` for the run's order only.
    let first = send(&app, "stoppable/start", json!({"order": 1})).await;
    let second = send(&app, "stoppable/start", json!({"order": 2})).await;
    let first = runs_for(&app, &first).await[0].run_id.clone();
    let second = runs_for(&app, &second).await[0].run_id.clone();
    step_seen(&app, &first, "long").await;
    send(&app, "stopping/x", json!({"order": 1})).await;
    send(&app, "stop/now", json!({"order": 3})).await;
    assert_eq!(run(&app, &first).await.status, RunStatus::Running);
    send(&app, "stop/now", json!({"order": 1})).await;
    assert_eq!(run(&app, &first).await.status, RunStatus::Cancelled);
    assert_eq!(run(&app, &second).await.status, RunStatus::Running);
    send(&app, "stop/later/too", json!({"order": 2})).await;
    assert_eq!(run(&app, &second).await.status, RunStatus::Cancelled);
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn a_backlog_behind_a_full_concurrency_key_does_not_hold_up_other_work() {
    let app = start_app(FAST).await;
    let executor = executor(&app);
    // 3,500 runs of `serial` for one account (one at a time, 300 ms each) — more than a few
    // claims read, all but one parked behind the key — then, last in the same send,
    // another function's event.
    let mut events: Vec<Value> = (0..3_500)
        .map(|_| json!({"name": "conc/work", "data": {"account": "a"}}))
        .collect();
    events.push(json!({"name": "match/exact", "data": {}}));
    let ids = executor.send(events).await.unwrap();
    let other = finished(&app, ids.last().unwrap()).await;
    assert_eq!(other.status, RunStatus::Completed);
    // It ran at once (on the paused clock), while the first `serial` step was still
    // working: it did not wait for a slot of the key to free up.
    let waited = other.ended_at.unwrap() - other.created_at;
    assert!(waited < 300, "waited {waited} ms behind the backlog");
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn retention_prunes_finished_runs_and_old_events_and_keeps_active_ones() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("runs.sqlite3");
    let config = format!(
        "{FAST}database = \"{}\"\nretention = \"1d\"\n",
        database.display()
    );
    let app = start_app(&config).await;
    let executor = executor(&app);
    let pages = || -> i64 {
        let connection = rusqlite::Connection::open(&database).unwrap();
        connection
            .query_row("PRAGMA page_count", [], |row| row.get(0))
            .unwrap()
    };
    // A run waiting 30 days for an approval stays active; 500 quick runs finish.
    let waiting = send(&app, "wait/start", json!({"order": 1, "timeout": "30d"})).await;
    let events: Vec<Value> = (0..500)
        .map(|n| json!({"name": "match/exact", "data": {"n": n, "pad": "x".repeat(500)}}))
        .collect();
    executor.send(events).await.unwrap();
    eventually("the quick runs to finish", async || {
        (executor.active_runs().await.unwrap() == 1).then_some(())
    })
    .await;
    let finished = executor
        .runs(&RunFilter {
            function: Some("shop-exact".into()),
            limit: Some(1000),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert_eq!(finished.len(), 500);
    let full = pages();

    // Two days later (the retention loop runs hourly, on the paused clock): the finished
    // runs and their events are gone, with the pages they used.
    tokio::time::sleep(Duration::from_secs(2 * 86_400)).await;
    let left = executor
        .runs(&RunFilter {
            function: Some("shop-exact".into()),
            ..RunFilter::default()
        })
        .await
        .unwrap();
    assert!(left.is_empty(), "{} finished runs left", left.len());
    assert!(
        executor
            .events(10, Some("match/exact"))
            .await
            .unwrap()
            .is_empty(),
        "old events left"
    );
    let now = pages();
    assert!(
        now < full,
        "the file did not shrink: {now} pages, was {full}"
    );
    // The waiting run was kept, and still resumes.
    let active = runs_for(&app, &waiting).await;
    assert_eq!(active.len(), 1);
    assert_eq!(active[0].status, RunStatus::Running);
    send(&app, "wait/approved", json!({"order": 1, "by": "ada"})).await;
    let run = wait_done(&app, &active[0].run_id).await;
    assert_eq!(run.output, Some(json!({"approved_by": "ada"})));
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_on_the_embedded_executor_names_it() {
    let app = start_app(FAST).await;
    let body: Value = reqwest::get(format!("{}/api/inngest", app.base_url()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    // No signing key in test: requests need no signature, which is what `dev` says.
    assert_eq!(body["mode"], "dev", "{body}");
    assert_eq!(body["extra"], json!({ "executor": "embedded" }), "{body}");
    assert!(
        body["function_count"].as_u64().unwrap_or_default() > 0,
        "{body}"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(start_paused = true)]
async fn steps_reach_the_embedded_executor_as_checkpoints_unless_checkpointing_is_off() {
    let off = format!("{FAST}[inngest.checkpointing]\nenabled = false\n");
    let batched = format!("{FAST}[inngest.checkpointing]\nbuffered_steps = 5\n");
    // charge → checkpoint; sleep answered; ship → checkpoint; RunComplete answered. With a
    // buffer of 5, charge waits in the buffer until the sleep must be answered (posted
    // then, as inngest-js does) and ship rides in the RunComplete answer; with
    // checkpointing off each step is an answer of its own.
    for (config, checkpointed) in [(FAST, 2), (batched.as_str(), 1), (off.as_str(), 0)] {
        let app = start_app(config).await;
        let id = send(&app, "test/three", json!({"order": 1})).await;
        let run = finished(&app, &id).await;
        assert_eq!(run.status, RunStatus::Completed, "{config}: {run:?}");
        assert_eq!(run.output, Some(json!({"a": 1, "b": 2})), "{config}");
        let names: Vec<&str> = steps(&run).iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["charge", "pause", "ship"], "{config}");
        assert_eq!(counters(&app).charged.load(Ordering::SeqCst), 1, "{config}");
        assert_eq!(
            executor(&app).checkpointed_steps(),
            checkpointed,
            "{config}"
        );
        app.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_draining_executor_finishes_its_runs_and_takes_no_new_work() {
    let dir = tempfile::tempdir().unwrap();
    let config = on_file(&dir);
    let app = start_with(&config, Some(rotating("*/1 * * * * *"))).await;
    let id = send(&app, "test/three", json!({"order": 1})).await;
    let run_id = runs_for(&app, &id).await[0].run_id.clone();
    step_seen(&app, &run_id, "pause").await;
    let late = send(&app, "send/late", json!({})).await;
    let late_run = runs_for(&app, &late).await[0].run_id.clone();
    step_seen(&app, &late_run, "go").await;
    app.shutdown().await.unwrap();

    // Restarted draining, as the move to an Inngest server begins.
    let app = start_with(
        &format!("{config}drain = true\n"),
        Some(rotating("*/1 * * * * *")),
    )
    .await;
    let restarted = executor(&app).now_ms();
    // No new events: neither through the service (in-process) nor over the Event API.
    let service = app.container().get::<InngestService>().unwrap();
    let refused = service
        .send(Event::new("test/three", json!({"order": 2})))
        .await
        .unwrap_err();
    assert!(refused.to_string().contains("draining"), "{refused}");
    let over_http = reqwest::Client::new()
        .post(format!("{}/_inngest/e/any", app.base_url()))
        .json(&json!({"name": "test/three", "data": {}}))
        .send()
        .await
        .unwrap();
    assert_eq!(over_http.status(), 503);
    let body: Value = over_http.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("Inngest server"),
        "{body}"
    );
    // What a run in flight sends is taken: it carries the trace context of the run's
    // execution requests, whose trace id the executor derives from the run id. Any other
    // trace context is refused.
    let post_go = |traceparent: String| {
        reqwest::Client::new()
            .post(format!("{}/_inngest/e/any", app.base_url()))
            .header("traceparent", traceparent)
            .json(&json!({"name": "send/go", "data": {}}))
            .send()
    };
    let trace_of = |run: &str| hash_step_id(run)[..32].to_string();
    let stranger = post_go(format!("00-{}-00f067aa0ba902b7-01", trace_of("01NOTARUN")));
    assert_eq!(stranger.await.unwrap().status(), 503);
    let from_the_run = post_go(format!("00-{}-00f067aa0ba902b7-01", trace_of(&late_run)));
    assert_eq!(from_the_run.await.unwrap().status(), 200);
    // The waiting run resumes and its `step.send_event` (in-process) is taken too: the
    // event starts its listener, which finishes before the drain is done.
    let late = wait_done(&app, &late_run).await;
    assert_eq!(late.status, RunStatus::Completed, "{late:?}");
    // The run in flight finishes: its sleep wakes, its last step runs.
    let run = wait_done(&app, &run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    let listeners: Vec<RunView> = runs_of(&app, "listener")
        .await
        .into_iter()
        .filter(|r| r.created_at >= restarted)
        .collect();
    assert_eq!(listeners.len(), 1, "{listeners:?}");
    let listener = wait_done(&app, &listeners[0].run_id).await;
    assert_eq!(listener.output, Some(json!(late_run)));
    assert_eq!(counters(&app).announced.load(Ordering::SeqCst), 1);
    let status: Value = reqwest::Client::new()
        .get(format!("{}/_inngest/api/drain", app.base_url()))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        status,
        json!({"draining": true, "runs_in_flight": 0, "done": true})
    );
    // The every-second cron fired nothing while draining.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    let fired: Vec<RunView> = runs_of(&app, "rotating")
        .await
        .into_iter()
        .filter(|r| r.created_at >= restarted)
        .collect();
    assert!(fired.is_empty(), "a cron fired while draining: {fired:?}");
    assert!(executor(&app).drain_status().done);
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_signed_app_checkpoints_to_the_executor_with_its_hashed_key() {
    let key = "signkey-test-0123456789abcdef";
    // The host's own function answers the classic way: only the remote app checkpoints.
    let host = start_app(&format!(
        "[inngest]\napp_id = \"shop\"\nsigning_key = \"{key}\"\nevent_key = \"ek\"\ncheckpointing = {{ enabled = false }}\n[inngest.embedded]\nretry_backoff = \"50ms\"\nretry_max_backoff = \"200ms\"\n"
    ))
    .await;
    // Cloud mode against the host as a self-hosted server: signed requests both ways.
    let remote = start_app(&format!(
        "[inngest]\napp_id = \"remote\"\nexecutor = \"remote\"\nbase_url = \"{}/_inngest/\"\nsigning_key = \"{key}\"\nevent_key = \"ek\"\n",
        host.base_url()
    ))
    .await;
    let http = reqwest::Client::new();
    let synced = http
        .put(format!("{}/api/inngest", remote.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(synced.status(), 200, "{}", synced.text().await.unwrap());

    let id = send(&remote, "test/three", json!({"order": 3})).await;
    for run in runs_for(&host, &id).await {
        let run = wait_done(&host, &run.run_id).await;
        assert_eq!(run.status, RunStatus::Completed, "{run:?}");
    }
    assert_eq!(counters(&remote).charged.load(Ordering::SeqCst), 1);
    // `charge` and `ship` reached the host as checkpoints, authenticated by the bearer.
    assert_eq!(executor(&host).checkpointed_steps(), 2);

    // Without the hashed key, a checkpoint is refused before anything is read.
    let unsigned = http
        .post(format!(
            "{}/_inngest/v1/checkpoint/01RUN/async",
            host.base_url()
        ))
        .json(&json!({"run_id": "01RUN", "fn_id": "f", "qi_id": "1:1", "steps": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(unsigned.status(), 401);
    remote.shutdown().await.unwrap();
    host.shutdown().await.unwrap();
}
