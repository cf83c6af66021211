//! Typed events, values from config in the attributes, and per-function middleware, as a
//! user writes them: providers with `#[inngest::function]`, built into an app, run with the
//! testing kit and on the embedded executor.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use framework::{
    Config, ConfigSection, Environment, Module, SectionProblems, TestApp, TestingModule, injectable,
};
use inngest_module::protocol::Opcode;
use inngest_module::testing::{RunEnd, TestExecutor, TestRun, event};
use inngest_module::{
    self as inngest, Ctx, Error, Event, EventPayload, FunctionCancelled, FunctionFailed,
    FunctionMiddleware, InngestModule, InngestService, MiddlewareFuture, Next, Registry, RunInfo,
    WaitFor,
};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "shop/order.placed")]
#[serde(rename_all = "camelCase")]
struct OrderPlaced {
    order_id: String,
    cents: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "shop/order.shipped")]
#[serde(rename_all = "camelCase")]
struct OrderShipped {
    order_id: String,
    carrier: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "shop/order.voided")]
#[serde(rename_all = "camelCase")]
struct OrderVoided {
    order_id: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, EventPayload)]
#[event(name = "mail/requested")]
struct MailRequested {
    to: String,
}

/// `[fulfilment]`: values the functions' attributes read.
#[derive(Debug, Clone, Deserialize, validator::Validate)]
#[serde(deny_unknown_fields)]
struct FulfilmentConfig {
    report_schedule: String,
    max_parallel: u32,
    throttle_period: String,
}

impl ConfigSection for FulfilmentConfig {
    fn check(&self, _env: Environment, _problems: &mut SectionProblems) {}
}

/// Records what it saw; refuses events without an order id; wraps step outputs.
#[derive(Default)]
struct Audit {
    runs: Mutex<Vec<String>>,
    steps: Mutex<Vec<String>>,
}

#[injectable]
impl Audit {
    fn new() -> Self {
        Self::default()
    }
}

impl FunctionMiddleware for Audit {
    fn transform_input(&self, _run: &RunInfo, events: &mut Vec<Event>) -> inngest::Result<()> {
        for event in events.iter_mut() {
            if event.data.get("orderId").is_none() {
                return Err(Error::non_retriable("audit: the event names no order"));
            }
            // An input transform: the function sees amounts in whole cents, rounded up.
            if let Some(cents) = event.data.get("cents").and_then(Value::as_f64) {
                event.data["cents"] = json!(cents.ceil() as u64);
            }
        }
        Ok(())
    }

    fn wrap_run<'a>(&'a self, run: &'a RunInfo, next: Next<'a>) -> MiddlewareFuture<'a> {
        Box::pin(async move {
            let output = next.await?;
            self.runs.lock().unwrap().push(run.function_id.clone());
            Ok(json!({ "audited": output }))
        })
    }

    fn wrap_step<'a>(
        &'a self,
        _run: &'a RunInfo,
        step_id: &'a str,
        next: Next<'a>,
    ) -> MiddlewareFuture<'a> {
        Box::pin(async move {
            let output = next.await;
            self.steps.lock().unwrap().push(step_id.to_string());
            // An output transform: text results are stored upper-cased. (The output of a
            // `send_event` step is the SDK's record of the sent ids: left as it is.)
            output.map(|value| match value {
                Value::String(text) => json!(text.to_uppercase()),
                other => other,
            })
        })
    }
}

/// Counts the runs it wraps; listed after `Audit`, so it runs inside it.
#[derive(Default)]
struct Counter(AtomicUsize);

#[injectable]
impl Counter {
    fn new() -> Self {
        Self::default()
    }
}

impl FunctionMiddleware for Counter {
    fn wrap_run<'a>(&'a self, _run: &'a RunInfo, next: Next<'a>) -> MiddlewareFuture<'a> {
        self.0.fetch_add(1, Ordering::SeqCst);
        next.into_future()
    }
}

use std::future::IntoFuture;

struct Fulfilment {
    config: Config<FulfilmentConfig>,
    audit: Arc<Audit>,
    counter: Arc<Counter>,
}

#[injectable]
impl Fulfilment {
    fn new(config: Config<FulfilmentConfig>, audit: Arc<Audit>, counter: Arc<Counter>) -> Self {
        Self {
            config,
            audit,
            counter,
        }
    }

    /// The trigger comes from the type in `Ctx<OrderPlaced>`.
    #[inngest::on_event(
        id = "fulfil",
        concurrency = self.config.max_parallel,
        throttle(limit = 5, period = self.config.throttle_period),
        cancel_on(event = OrderVoided, if = "async.data.orderId == event.data.orderId"),
        on_failure = "fulfil_failed",
        on_cancel = "fulfil_cancelled"
    )]
    #[inngest::middleware(self.audit, self.counter)]
    async fn fulfil(&self, ctx: Ctx<OrderPlaced>) -> inngest::Result<Value> {
        let order = ctx.event.data.clone();
        if order.cents == 0 {
            return Err(Error::non_retriable("nothing to fulfil"));
        }
        let packed: Value = ctx
            .step
            .run("pack", || async {
                Ok(json!(format!("box-{}", order.order_id)))
            })
            .await?;
        let shipped = ctx
            .step
            .wait_for_event(
                "wait-shipped",
                WaitFor::<OrderShipped>::new()
                    .timeout("3d")
                    .matching("async.data.orderId == event.data.orderId"),
            )
            .await?;
        let carrier = shipped.map(|event| event.data.carrier);
        // A fan-out of two kinds: a typed payload and a vector of another type.
        let ids = ctx
            .step
            .send_event(
                "notify",
                (
                    OrderShipped {
                        order_id: order.order_id.clone(),
                        carrier: carrier.clone().unwrap_or_default(),
                    },
                    vec![MailRequested {
                        to: "customer@example.com".into(),
                    }],
                ),
            )
            .await?;
        ctx.step
            .sleep_until("until-review", "2030-01-01T09:00:00+01:00")
            .await?;
        Ok(json!({ "packed": packed, "carrier": carrier, "sent": ids.len(), "cents": order.cents }))
    }

    async fn fulfil_failed(&self, ctx: Ctx<FunctionFailed<OrderPlaced>>) -> inngest::Result<Value> {
        let failed = &ctx.event.data;
        Ok(json!({ "order": failed.event.data.order_id, "why": failed.error.message }))
    }

    async fn fulfil_cancelled(
        &self,
        ctx: Ctx<FunctionCancelled<OrderPlaced>>,
    ) -> inngest::Result<String> {
        Ok(ctx.event.data.event.data.order_id.clone())
    }

    /// A trigger named by its type, positionally; the context reads it as JSON.
    #[inngest::on_event(OrderShipped, id = "log-shipment")]
    async fn log_shipment(&self, ctx: Ctx) -> inngest::Result<String> {
        Ok(ctx.event.data["carrier"]
            .as_str()
            .unwrap_or_default()
            .to_string())
    }

    /// A cron schedule from config.
    #[inngest::on_cron(self.config.report_schedule, id = "nightly-report")]
    async fn nightly_report(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

const CONFIG: &str = r#"
[inngest]
app_id = "shop"
[fulfilment]
report_schedule = "TZ=Europe/Paris 30 2 * * *"
max_parallel = 7
throttle_period = "2m"
"#;

fn app_module() -> Module {
    Module::new("app")
        .import(InngestModule::from_config())
        .config::<FulfilmentConfig>("fulfilment")
        .provide::<Audit>()
        .provide::<Counter>()
        .provide::<Fulfilment>()
}

async fn app(config: &str) -> Result<TestApp, framework::Error> {
    TestingModule::new(app_module())
        .config(config)
        .build()
        .await
}

fn placed(order_id: &str, cents: f64) -> Event<Value> {
    event(
        OrderPlaced::NAME,
        json!({ "orderId": order_id, "cents": cents }),
    )
}

#[tokio::test]
async fn types_and_config_values_become_the_registered_triggers_and_flow_control() {
    let app = app(CONFIG).await.unwrap();
    let registry = app.get::<Registry>().unwrap();
    let configs =
        serde_json::to_value(registry.function_configs("http://app/api/inngest")).unwrap();
    let by_id = |id: &str| {
        configs
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["id"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not registered: {configs}"))
    };
    let fulfil = by_id("shop-fulfil");
    assert_eq!(
        fulfil["triggers"],
        json!([{ "event": "shop/order.placed" }])
    );
    assert_eq!(fulfil["concurrency"], json!([{ "limit": 7 }]));
    assert_eq!(fulfil["throttle"], json!({ "limit": 5, "period": "2m" }));
    assert_eq!(
        fulfil["cancel"],
        json!([{ "event": "shop/order.voided", "if": "async.data.orderId == event.data.orderId" }])
    );
    assert_eq!(
        by_id("shop-log-shipment")["triggers"],
        json!([{ "event": "shop/order.shipped" }])
    );
    assert_eq!(
        by_id("shop-nightly-report")["triggers"],
        json!([{ "cron": "TZ=Europe/Paris 30 2 * * *" }])
    );
    for (id, event) in [
        ("shop-fulfil-failure", "inngest/function.failed"),
        ("shop-fulfil-cancelled", "inngest/function.cancelled"),
    ] {
        assert_eq!(
            by_id(id)["triggers"],
            json!([{ "event": event, "expression": "event.data.function_id == 'shop-fulfil'" }])
        );
    }
}

#[tokio::test]
async fn a_bad_value_from_config_is_a_start_up_problem_naming_the_function() {
    let bad = CONFIG
        .replace("max_parallel = 7", "max_parallel = 0")
        .replace("\"2m\"", "\"two minutes\"");
    let error = app(&bad).await.map(|_| ()).unwrap_err().to_string();
    assert!(
        error.contains("function `fulfil` of Fulfilment")
            && error.contains("concurrency limit must be at least 1"),
        "{error}"
    );
    assert!(error.contains("throttle period"), "{error}");
}

#[tokio::test]
async fn middleware_wraps_the_input_the_run_and_each_step_in_the_order_listed() {
    let app = app(CONFIG).await.unwrap();
    let outcome = TestRun::new(placed("o-1", 41.5))
        .step(
            "wait-shipped",
            Event::from(OrderShipped {
                order_id: "o-1".into(),
                carrier: "post".into(),
            }),
        )
        .run_function(&app, "fulfil")
        .await
        .unwrap();
    // The step's output was wrapped by `wrap_step` before it was memoized, and the run's
    // output by `wrap_run`; the input was rounded up by `transform_input`.
    assert_eq!(
        outcome.output(),
        Some(&json!({ "audited": {
            "packed": "BOX-O-1",
            "carrier": "post",
            "sent": 2,
            "cents": 42,
        }}))
    );
    let sent: Vec<String> = outcome
        .sent()
        .iter()
        .map(|e| e["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(sent, ["shop/order.shipped", "mail/requested"]);
    assert!(outcome.slept("until-review"));
    let audit = app.get::<Audit>().unwrap();
    assert_eq!(*audit.steps.lock().unwrap(), ["pack", "notify"]);
    assert_eq!(*audit.runs.lock().unwrap(), ["shop-fulfil"]);
    // One request per step reported or slept, each through both middleware.
    assert!(app.get::<Counter>().unwrap().0.load(Ordering::SeqCst) >= 4);

    // `transform_input` refuses an event without an order id: the run fails for good and
    // the function never ran.
    let refused = TestRun::new(event(OrderPlaced::NAME, json!({ "cents": 1 })))
        .run_function(&app, "fulfil")
        .await
        .unwrap();
    let RunEnd::Failed(error) = &refused.end else {
        panic!("expected a failure: {:?}", refused.end);
    };
    assert!(!error.is_retriable());
    assert!(
        error
            .to_string()
            .contains("audit: the event names no order"),
        "{error}"
    );
    assert!(refused.ran_steps().is_empty());
}

#[tokio::test]
async fn a_typed_wait_stops_the_run_on_its_event_name() {
    let app = app(CONFIG).await.unwrap();
    let outcome = TestRun::new(placed("o-2", 10.0))
        .run_function(&app, "fulfil")
        .await
        .unwrap();
    let reached = outcome.reached().expect("stops at the wait");
    assert_eq!(reached.op, Opcode::WaitForEvent);
    assert_eq!(reached.name.as_deref(), Some("shop/order.shipped"));
}

#[tokio::test]
async fn failure_and_cancellation_handlers_read_the_failed_runs_event_typed() {
    let app = app(CONFIG).await.unwrap();
    let failed = TestRun::new(event(
        "inngest/function.failed",
        json!({
            "function_id": "shop-fulfil",
            "run_id": "r-1",
            "error": { "name": "NonRetriableError", "message": "nothing to fulfil" },
            "event": { "name": OrderPlaced::NAME, "data": { "orderId": "o-3", "cents": 0 } },
        }),
    ))
    .run_function(&app, "fulfil-failure")
    .await
    .unwrap();
    assert_eq!(
        failed.output(),
        Some(&json!({ "order": "o-3", "why": "nothing to fulfil" }))
    );
    let cancelled = TestRun::new(event(
        "inngest/function.cancelled",
        json!({
            "function_id": "shop-fulfil",
            "run_id": "r-2",
            "event": { "name": OrderPlaced::NAME, "data": { "orderId": "o-4", "cents": 5 } },
        }),
    ))
    .run_function(&app, "fulfil-cancelled")
    .await
    .unwrap();
    assert_eq!(cancelled.output(), Some(&json!("o-4")));
}

#[tokio::test]
async fn on_the_embedded_executor_a_typed_send_starts_the_run_and_a_typed_cancel_runs_on_cancel() {
    use inngest_module::executor::RunStatus;

    let app = TestingModule::new(app_module())
        .config(CONFIG)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let executor = TestExecutor::of(app.container()).unwrap();
    let inngest = app.container().get::<InngestService>().unwrap();
    let wait = Duration::from_secs(20);

    // Sent by type: the name comes from `OrderPlaced`.
    let ids = inngest
        .send(OrderPlaced {
            order_id: "o-5".into(),
            cents: 12,
        })
        .await
        .unwrap();
    let run = executor.run_for_event(&ids[0], wait).await.unwrap();
    executor
        .wait_until_step(&run.run_id, "wait-shipped", wait)
        .await
        .unwrap();
    // Cancelled by a typed event; the typed `on_cancel` handler gets the order back.
    inngest
        .send(OrderVoided {
            order_id: "o-5".into(),
        })
        .await
        .unwrap();
    let cancelled = executor
        .wait_until_finished(&run.run_id, wait)
        .await
        .unwrap();
    assert_eq!(cancelled.status, RunStatus::Cancelled);
    let filter = inngest_module::executor::RunFilter {
        function: Some("shop-fulfil-cancelled".into()),
        ..Default::default()
    };
    let handler = tokio::time::timeout(wait, async {
        loop {
            if let Some(run) = executor.executor().runs(&filter).await.unwrap().pop() {
                return run;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the cancellation handler ran");
    let handler = executor
        .wait_until_finished(&handler.run_id, wait)
        .await
        .unwrap();
    assert_eq!(handler.status, RunStatus::Completed);
    assert_eq!(handler.output, Some(json!("o-5")));
    // The middleware saw the steps that ran on the executor too.
    assert_eq!(
        *app.container()
            .get::<Audit>()
            .unwrap()
            .steps
            .lock()
            .unwrap(),
        ["pack"]
    );
    app.shutdown().await.unwrap();
}
