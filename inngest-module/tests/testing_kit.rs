//! `inngest_module::testing`: functions run in process with stubbed steps, as users would
//! test them.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use framework::{Module, Provider, TestingModule, injectable};
use inngest_module::protocol::Opcode;
use inngest_module::testing::{RunEnd, StepDone, TestError, TestRun, event};
use inngest_module::{self as inngest, Ctx, Error, Event, InngestModule, Invoke, WaitFor};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Order {
    id: String,
    cents: u64,
}

/// Counts step bodies that really ran.
#[derive(Default)]
struct Calls {
    charge: AtomicUsize,
    refund: AtomicUsize,
}

/// A saga: reserve, charge (may fail), refund on failure, then wait for shipping.
async fn checkout(calls: Arc<Calls>, ctx: Ctx<Order>) -> inngest::Result<Value> {
    let order = ctx.event.data.clone();
    let reservation: String = ctx
        .step
        .run("reserve", || async { Ok(format!("res-{}", order.id)) })
        .await?;
    let charged = ctx
        .step
        .run("charge", || async {
            calls.charge.fetch_add(1, Ordering::SeqCst);
            if order.cents > 10_000 {
                Err(Error::retriable("the card was declined"))
            } else {
                Ok(format!("ch-{}", order.id))
            }
        })
        .await;
    let charge = match charged {
        Ok(charge) => charge,
        Err(Error::Step(failed)) => {
            ctx.step
                .run("refund", || async {
                    calls.refund.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                })
                .await?;
            return Ok(json!({ "refunded": reservation, "because": failed.message }));
        }
        Err(other) => return Err(other),
    };
    ctx.step.sleep("cool-off", "10m").await?;
    let shipped: Option<Event<Value>> = ctx
        .step
        .wait_for_event(
            "wait-shipped",
            WaitFor::event("order.shipped").timeout("7d"),
        )
        .await?;
    ctx.step
        .send_event(
            "notify",
            Event::new("order.done", json!({ "id": order.id })),
        )
        .await?;
    Ok(json!({ "charge": charge, "shipped": shipped.is_some() }))
}

fn order(id: &str, cents: u64) -> Event<Value> {
    event("order.created", json!({ "id": id, "cents": cents }))
}

fn checkout_with(
    calls: &Arc<Calls>,
) -> impl Fn(Ctx<Order>) -> std::pin::Pin<Box<dyn Future<Output = inngest::Result<Value>> + Send>>
+ Send
+ Sync
+ 'static {
    let calls = Arc::clone(calls);
    move |ctx| Box::pin(checkout(Arc::clone(&calls), ctx))
}

#[tokio::test]
async fn steps_run_sleeps_pass_and_an_unstubbed_wait_stops_the_run() {
    let calls = Arc::new(Calls::default());
    let outcome = TestRun::new(order("o-1", 500))
        .run(checkout_with(&calls))
        .await;
    assert_eq!(outcome.ran_steps(), ["reserve", "charge"]);
    assert_eq!(outcome.step_output("reserve"), Some(&json!("res-o-1")));
    assert!(outcome.slept("cool-off"));
    let reached = outcome.reached().expect("stops at the wait");
    assert_eq!(reached.op, Opcode::WaitForEvent);
    assert_eq!(reached.display_name, "wait-shipped");
    assert_eq!(reached.name.as_deref(), Some("order.shipped"));
    // Each body ran once, although the function was replayed after every step.
    assert_eq!(calls.charge.load(Ordering::SeqCst), 1);
    assert!(outcome.sent().is_empty());
}

#[tokio::test]
async fn stubbed_steps_do_not_run_and_a_stubbed_wait_completes_the_run() {
    let calls = Arc::new(Calls::default());
    let outcome = TestRun::new(order("o-2", 500))
        .step("charge", "ch-stubbed")
        .step(
            "wait-shipped",
            event("order.shipped", json!({ "id": "o-2" })),
        )
        .run(checkout_with(&calls))
        .await;
    assert_eq!(
        outcome.output(),
        Some(&json!({ "charge": "ch-stubbed", "shipped": true }))
    );
    assert!(!outcome.ran("charge"));
    assert_eq!(calls.charge.load(Ordering::SeqCst), 0);
    assert_eq!(outcome.ran_steps(), ["reserve", "notify"]);
    let sent = outcome.sent();
    assert_eq!(sent.len(), 1);
    assert_eq!(sent[0]["name"], "order.done");
    assert_eq!(sent[0]["data"], json!({ "id": "o-2" }));
    assert!(outcome.unused_stubs().is_empty());

    let timed_out = TestRun::new(order("o-3", 500))
        .wait_times_out("wait-shipped")
        .run(checkout_with(&calls))
        .await;
    assert_eq!(timed_out.output().unwrap()["shipped"], false);
}

#[tokio::test]
async fn a_failing_step_is_retried_then_fails_for_good_and_the_function_compensates() {
    let calls = Arc::new(Calls::default());
    let outcome = TestRun::new(order("o-4", 99_999))
        .retries(2)
        .run(checkout_with(&calls))
        .await;
    assert_eq!(
        outcome.output(),
        Some(&json!({ "refunded": "res-o-4", "because": "the card was declined" }))
    );
    let charge: Vec<StepDone> = outcome
        .steps
        .iter()
        .filter(|step| step.id == "charge")
        .map(|step| step.done)
        .collect();
    assert_eq!(
        charge,
        [StepDone::Retried, StepDone::Retried, StepDone::Failed]
    );
    assert_eq!(calls.charge.load(Ordering::SeqCst), 3);
    assert_eq!(calls.refund.load(Ordering::SeqCst), 1);
    assert!(outcome.ran("refund"));

    // A step stubbed as failed takes the same path without running anything.
    let stubbed = TestRun::new(order("o-5", 1))
        .step_fails("charge", "insufficient funds")
        .run(checkout_with(&calls))
        .await;
    assert_eq!(stubbed.output().unwrap()["because"], "insufficient funds");
    assert_eq!(calls.charge.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn stop_at_a_sleep_and_unused_stubs_are_reported() {
    let calls = Arc::new(Calls::default());
    let outcome = TestRun::new(order("o-6", 1))
        .stop_at("cool-off")
        .step("chrage", "typo")
        .run(checkout_with(&calls))
        .await;
    let reached = outcome.reached().expect("stops at the sleep");
    assert_eq!(reached.op, Opcode::Sleep);
    assert_eq!(reached.display_name, "cool-off");
    assert_eq!(outcome.unused_stubs(), ["chrage"]);
}

#[tokio::test]
async fn parallel_steps_run_one_by_one_and_invoke_needs_a_stub() {
    let fan_out = |ctx: Ctx| async move {
        let (a, b) = futures_util::future::join(
            ctx.step.run("a", || async { Ok(1) }),
            ctx.step.run("b", || async { Ok(2) }),
        )
        .await;
        let total: u32 = ctx
            .step
            .invoke(
                "sum",
                Invoke::function("adder").data(json!({ "a": a?, "b": b? })),
            )
            .await?;
        Ok(total)
    };
    let stopped = TestRun::new(event("numbers", json!({}))).run(fan_out).await;
    let mut ran = stopped.ran_steps();
    ran.sort();
    assert_eq!(ran, ["a", "b"]);
    let reached = stopped.reached().expect("stops at the invoke");
    assert_eq!(reached.op, Opcode::InvokeFunction);
    assert_eq!(
        reached.opts.as_ref().and_then(|o| o.function_id.as_deref()),
        Some("test-app-adder")
    );

    let done = TestRun::new(event("numbers", json!({})))
        .step("sum", 3)
        .run(fan_out)
        .await;
    assert_eq!(done.output(), Some(&json!(3)));
}

#[tokio::test]
async fn a_payload_that_does_not_fit_fails_the_run_naming_the_field() {
    let outcome = TestRun::new(event("order.created", json!({ "id": 1 })))
        .run(|ctx: Ctx<Order>| async move { Ok(ctx.event.data.cents) })
        .await;
    let RunEnd::Failed(error) = &outcome.end else {
        panic!("expected a failure, got {:?}", outcome.end);
    };
    assert!(!error.is_retriable());
    assert!(error.to_string().contains("data.id"), "{error}");
}

/// A service with its dependency injected, tested through the app it is part of.
struct Payments {
    fee: Arc<Fee>,
}

struct Fee(u64);

#[injectable]
impl Payments {
    fn new(fee: Arc<Fee>) -> Self {
        Self { fee }
    }

    #[inngest::function(id = "charge-order", event = "order.created")]
    async fn charge_order(&self, ctx: Ctx<Order>) -> inngest::Result<u64> {
        let cents = ctx.event.data.cents;
        let fee = self.fee.0;
        ctx.step
            .run("charge", || async move { Ok(cents + fee) })
            .await
    }
}

#[tokio::test]
async fn a_function_of_an_app_runs_with_the_apps_providers() {
    let app = TestingModule::new(
        Module::new("app")
            .import(InngestModule::from_config())
            .provider(Provider::value(Fee(30)))
            .provide::<Payments>(),
    )
    .config("[inngest]\napp_id = \"shop\"\ndev = true")
    .build()
    .await
    .unwrap();
    let outcome = TestRun::new(order("o-7", 100))
        .run_function(&app, "charge-order")
        .await
        .unwrap();
    assert_eq!(outcome.output(), Some(&json!(130)));
    assert_eq!(outcome.ran_steps(), ["charge"]);
    // The composite id works too; an unknown id names what is served.
    assert!(
        TestRun::new(order("o-8", 1))
            .run_function(&app, "shop-charge-order")
            .await
            .is_ok()
    );
    let error = TestRun::new(order("o-9", 1))
        .run_function(&app, "refund-order")
        .await
        .unwrap_err();
    assert!(matches!(error, TestError::UnknownFunction { .. }));
    assert!(error.to_string().contains("shop-charge-order"), "{error}");
}

/// A function that sleeps an hour between two steps, for the executor helpers.
struct Napper;

#[injectable]
impl Napper {
    fn new() -> Self {
        Napper
    }

    #[inngest::function(id = "nap", event = "test/nap")]
    async fn nap(&self, ctx: Ctx) -> inngest::Result<u32> {
        ctx.step.run("before", || async { Ok(1) }).await?;
        ctx.step.sleep("an-hour", "1h").await?;
        ctx.step.run("after", || async { Ok(2) }).await
    }
}

#[tokio::test(start_paused = true)]
async fn the_executor_helpers_find_a_run_wait_for_a_step_and_for_the_end_on_a_paused_clock() {
    use inngest_module::ExecutorClock;
    use inngest_module::executor::RunStatus;
    use inngest_module::testing::TestExecutor;
    use std::time::Duration;

    let app = TestingModule::new(
        Module::new("app")
            .import(InngestModule::from_config())
            .provide::<Napper>(),
    )
    .config("[inngest]\napp_id = \"shop\"")
    .override_provider(Provider::value(ExecutorClock::tokio()))
    .build()
    .await
    .unwrap()
    .start()
    .await
    .unwrap();
    let executor = TestExecutor::of(app.container()).unwrap();
    let service = app
        .container()
        .get::<inngest_module::InngestService>()
        .unwrap();
    let ids = service
        .send(Event::new("test/nap", json!({})))
        .await
        .unwrap();
    let run = executor
        .run_for_event(&ids[0], Duration::from_secs(5))
        .await
        .unwrap();
    let sleeping = executor
        .wait_until_step(&run.run_id, "an-hour", Duration::from_secs(60))
        .await
        .unwrap();
    assert!(!sleeping.status.is_final());
    let error = executor
        .wait_until_step(&run.run_id, "never", Duration::from_secs(5))
        .await
        .unwrap_err();
    assert!(
        error
            .to_string()
            .contains("timed out after 5s waiting for step `never`"),
        "{error}"
    );
    // An hour of sleep passes on the paused clock.
    let done = executor
        .wait_until_finished(&run.run_id, Duration::from_secs(2 * 3600))
        .await
        .unwrap();
    assert_eq!(done.status, RunStatus::Completed);
    assert!(matches!(
        executor
            .run_for_event("no-such-event", Duration::from_secs(1))
            .await,
        Err(TestError::Timeout { .. })
    ));
    app.shutdown().await.unwrap();

    // An app that talks to an Inngest server has no embedded executor to wait on.
    let remote = TestingModule::new(Module::new("app").import(InngestModule::from_config()))
        .config("[inngest]\napp_id = \"shop\"\ndev = true")
        .build()
        .await
        .unwrap();
    assert!(matches!(
        TestExecutor::of(remote.container()),
        Err(TestError::NoEmbeddedExecutor)
    ));
}
