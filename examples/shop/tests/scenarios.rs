//! Every scenario of the shop, end to end on the embedded executor: the real app on
//! loopback with `config/default.toml` + `config/test.toml` (no Inngest server), HTTP
//! requests to its routes or `InngestService` sends, then the runs as the executor recorded
//! them — through the injected `EmbeddedExecutor`, and through `/_inngest/api/runs` JSON.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use framework::{RunningApp, TestingModule};
use inngest_module::executor::{Executor, RunFilter, RunStatus, RunView, StepRecord};
use inngest_module::protocol::Opcode;
use inngest_module::{EmbeddedExecutor, Event, ExecutorKind, InngestService};
use serde_json::{Value, json};
use shop::maintenance::CartStore;
use shop::orders::Inventory;
use shop::payments::{PaymentGateway, PaymentRequested};
use shop::users::{Mailer, UserDirectory};

const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const TEST_TOML: &str = include_str!("../config/test.toml");
/// Upper bound for anything the executor does here (generous: CI machines are slow).
const PATIENCE: Duration = Duration::from_secs(30);

/// The shop, started as `APP_ENV=test` would start it, plus `extra` TOML.
struct Shop {
    app: RunningApp,
    executor: Executor,
    http: reqwest::Client,
}

async fn start_shop(extra: &str) -> Shop {
    let app = TestingModule::new(shop::app_module())
        .config(DEFAULT_TOML)
        .config(TEST_TOML)
        .config(extra)
        .build()
        .await
        .expect("the shop builds")
        .start()
        .await
        .expect("the shop starts");
    let embedded = app.container().get::<EmbeddedExecutor>().unwrap();
    assert_eq!(embedded.kind(), ExecutorKind::Embedded, "{embedded:?}");
    let executor = embedded
        .executor()
        .expect("the test config selects the embedded executor")
        .clone();
    Shop {
        app,
        executor,
        http: reqwest::Client::new(),
    }
}

impl Shop {
    fn get<T: Send + Sync + 'static>(&self) -> Arc<T> {
        self.app.container().get::<T>().unwrap()
    }

    /// POSTs JSON to a shop route; expects `202 Accepted`.
    async fn post(&self, path: &str, body: &Value) -> Value {
        let response = self
            .http
            .post(format!("{}{path}", self.app.base_url()))
            .json(body)
            .send()
            .await
            .unwrap();
        let status = response.status();
        let body: Value = response.json().await.unwrap();
        assert_eq!(status, 202, "POST {path}: {body}");
        body
    }

    /// GETs JSON from the executor's API (`/_inngest/api/...`).
    async fn api(&self, path: &str) -> Value {
        let response = self
            .http
            .get(format!("{}/_inngest/api/{path}", self.app.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "GET {path}");
        response.json().await.unwrap()
    }

    /// The run of `function` that `event_id` started (waits for it to exist).
    async fn run_started_by(&self, event_id: &str, function: &str) -> RunView {
        let filter = RunFilter {
            event: Some(event_id.to_string()),
            function: Some(function.to_string()),
            ..RunFilter::default()
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut runs = self.executor.runs(&filter).await.unwrap();
            if let Some(run) = runs.pop() {
                assert!(runs.is_empty(), "one run per event: {runs:?}");
                return run;
            }
            assert!(
                Instant::now() < deadline,
                "event {event_id} started no run of {function}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// The first run of `function` whose triggering event matches `pick`.
    async fn run_of(&self, function: &str, pick: impl Fn(&Event) -> bool) -> RunView {
        let filter = RunFilter {
            function: Some(function.to_string()),
            ..RunFilter::default()
        };
        let deadline = Instant::now() + PATIENCE;
        loop {
            let runs = self.executor.runs(&filter).await.unwrap();
            if let Some(run) = runs.into_iter().find(|r| r.events.iter().any(&pick)) {
                return run;
            }
            assert!(Instant::now() < deadline, "no matching run of {function}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Waits until the run is `Completed`, `Failed` or `Cancelled`; returns it with steps.
    async fn finished(&self, run_id: &str) -> RunView {
        let run = self
            .executor
            .wait_for_run(run_id, PATIENCE)
            .await
            .unwrap()
            .expect("the run exists");
        assert!(
            run.status.is_final(),
            "run {run_id} did not finish within {PATIENCE:?}: {run:#?}"
        );
        run
    }

    /// Waits until the run has a step `name` in `status`.
    async fn step_reaches(&self, run_id: &str, name: &str, status: &str) -> StepRecord {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let run = self
                .executor
                .run(run_id)
                .await
                .unwrap()
                .expect("the run exists");
            if let Some(step) = steps(&run).into_iter().find(|s| s.name == name)
                && step.status.as_str() == status
            {
                return step;
            }
            assert!(
                Instant::now() < deadline,
                "step {name} of run {run_id} never reached {status}: {run:#?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Events the executor received with this name, oldest first.
    async fn events(&self, name: &str) -> Vec<Value> {
        let mut events = self.executor.events(1000, Some(name)).await.unwrap();
        events.reverse();
        events
    }
}

/// The one event id a route answered with (`{"eventIds": [id]}`).
fn event_id(accepted: &Value) -> String {
    let ids = accepted["eventIds"].as_array().expect("eventIds");
    assert_eq!(ids.len(), 1, "{accepted}");
    ids[0].as_str().unwrap().to_string()
}

fn steps(run: &RunView) -> Vec<StepRecord> {
    run.steps.clone().expect("single-run views carry steps")
}

/// `(name, op, status)` of every step, in order of appearance.
fn step_summary(run: &RunView) -> Vec<(String, String, String)> {
    steps(run)
        .into_iter()
        .map(|s| {
            (
                s.name,
                s.op.as_str().to_string(),
                s.status.as_str().to_string(),
            )
        })
        .collect()
}

fn summary(expected: &[(&str, &str, &str)]) -> Vec<(String, String, String)> {
    expected
        .iter()
        .map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string()))
        .collect()
}

fn step(run: &RunView, name: &str) -> StepRecord {
    steps(run)
        .into_iter()
        .find(|s| s.name == name)
        .unwrap_or_else(|| panic!("no step {name} in {run:#?}"))
}

fn order_body(unit_price_cents: u64) -> Value {
    json!({
        "customerId": "cus-7",
        "email": "ada@example.com",
        "items": [
            { "sku": "mug", "quantity": 2, "unitPriceCents": unit_price_cents },
            { "sku": "tea", "quantity": 1, "unitPriceCents": 899 }
        ]
    })
}

// ---------------------------------------------------------------------------------------
// Onboarding
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn onboarding_marks_the_user_verified_when_the_verification_arrives() {
    // A long wait, so only the verification can end it.
    let shop = start_shop("[users]\nverification_timeout = \"1m\"").await;
    let accepted = shop
        .post("/users", &json!({ "email": "ada@example.com" }))
        .await;
    let user_id = accepted["userId"].as_str().unwrap();
    let run = shop
        .run_started_by(&event_id(&accepted), "shop-user-onboarding")
        .await;

    // The verification only counts once the run waits for it.
    let wait = shop
        .step_reaches(&run.run_id, "wait-email-verified", "Waiting")
        .await;
    assert_eq!(wait.op, Opcode::WaitForEvent);
    assert_eq!(
        wait.input,
        Some(json!({ "if": "async.data.userId == event.data.userId", "timeout": "1m" }))
    );
    let verified = shop
        .post(&format!("/users/{user_id}/verify"), &json!({}))
        .await;
    let verification_id = event_id(&verified);

    let run = shop.finished(&run.run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
    assert_eq!(
        run.output,
        Some(json!({ "status": "verified", "userId": user_id }))
    );
    assert_eq!(
        step_summary(&run),
        summary(&[
            ("send-welcome-email", "StepRun", "Completed"),
            ("wait-email-verified", "WaitForEvent", "Completed"),
            ("mark-verified", "StepRun", "Completed"),
        ])
    );
    // The wait resolved with the verification event itself.
    let memo = step(&run, "wait-email-verified").memo.unwrap();
    assert_eq!(memo["name"], "user.email_verified");
    assert_eq!(memo["id"], verification_id);
    assert_eq!(memo["data"], json!({ "userId": user_id }));
    assert_eq!(
        step(&run, "mark-verified").memo,
        Some(json!({ "data": true }))
    );

    let templates: Vec<String> = shop
        .get::<Mailer>()
        .outbox()
        .into_iter()
        .map(|m| m.template)
        .collect();
    assert_eq!(templates, ["welcome"], "no reminder");
    assert!(shop.get::<UserDirectory>().is_verified(user_id));
    shop.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn onboarding_sends_a_reminder_when_the_wait_times_out() {
    // config/test.toml: the wait times out after 2 s.
    let shop = start_shop("").await;
    let started = Instant::now();
    let accepted = shop
        .post("/users", &json!({ "email": "ada@example.com" }))
        .await;
    let user_id = accepted["userId"].as_str().unwrap();
    let run = shop
        .run_started_by(&event_id(&accepted), "shop-user-onboarding")
        .await;
    shop.step_reaches(&run.run_id, "wait-email-verified", "Waiting")
        .await;

    // Someone else verifying does not match `async.data.userId == event.data.userId`.
    let other = shop
        .post("/users", &json!({ "email": "grace@example.com" }))
        .await;
    let other_id = other["userId"].as_str().unwrap();
    shop.post(&format!("/users/{other_id}/verify"), &json!({}))
        .await;

    let run = shop.finished(&run.run_id).await;
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "not before the timeout"
    );
    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
    assert_eq!(
        step_summary(&run),
        summary(&[
            ("send-welcome-email", "StepRun", "Completed"),
            ("wait-email-verified", "WaitForEvent", "TimedOut"),
            ("send-reminder", "StepRun", "Completed"),
        ])
    );
    assert_eq!(step(&run, "wait-email-verified").memo, Some(Value::Null));
    let reminder = step(&run, "send-reminder").memo.unwrap();
    assert_eq!(reminder["data"]["template"], "verify-your-email");
    assert_eq!(reminder["data"]["to"], "ada@example.com");
    assert_eq!(
        run.output,
        Some(json!({
            "status": "reminded",
            "userId": user_id,
            "messageId": reminder["data"]["messageId"],
        }))
    );
    assert!(!shop.get::<UserDirectory>().is_verified(user_id));
    let ada: Vec<String> = shop
        .get::<Mailer>()
        .outbox()
        .into_iter()
        .filter(|m| m.to == "ada@example.com")
        .map(|m| m.template)
        .collect();
    assert_eq!(ada, ["welcome", "verify-your-email"]);
    shop.app.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Orders
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn an_order_is_reserved_cooled_off_charged_and_announced() {
    let shop = start_shop("").await;
    let started = Instant::now();
    let accepted = shop.post("/orders", &order_body(1250)).await;
    let order_id = accepted["orderId"].as_str().unwrap();
    let created = event_id(&accepted);

    // Through the runs API, as a browser or script would see it.
    let deadline = Instant::now() + PATIENCE;
    let listed = loop {
        let runs = shop.api(&format!("runs?event={created}")).await;
        let run = &runs["data"][0];
        if run["status"] == "Completed" {
            break run.clone();
        }
        assert!(
            Instant::now() < deadline,
            "the order never completed: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // config/test.toml: a 1 s cool-off.
    assert!(started.elapsed() >= Duration::from_secs(1));
    assert_eq!(listed["function_id"], "shop-process-order");
    assert_eq!(listed["event_ids"], json!([created]));
    let run_id = listed["run_id"].as_str().unwrap();
    let one = shop.api(&format!("runs/{run_id}")).await;
    let run = &one["data"];
    let names: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["reserve-stock", "cool-off", "charge", "notify"]);
    let ops: Vec<&str> = run["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["op"].as_str().unwrap())
        .collect();
    assert_eq!(ops, ["StepRun", "Sleep", "StepRun", "StepRun"]);
    assert!(
        run["steps"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status"] == "Completed"),
        "{run}"
    );
    assert_eq!(run["steps"][1]["input"]["duration"], "1s");

    // The fan-out reached the executor once each, with the charge in it.
    let confirmed = shop.events("order.confirmed").await;
    assert_eq!(confirmed.len(), 1, "{confirmed:?}");
    let emails = shop.events("email.requested").await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    let charge_id = run["output"]["chargeId"].as_str().unwrap();
    assert_eq!(
        run["output"],
        json!({
            "orderId": order_id,
            "reservationId": format!("res-{order_id}"),
            "chargeId": charge_id,
            "amountCents": 2 * 1250 + 899,
            "notificationIds": [confirmed[0]["id"], emails[0]["id"]],
        })
    );
    assert_eq!(
        confirmed[0]["data"],
        json!({ "orderId": order_id, "customerId": "cus-7", "chargeId": charge_id })
    );
    assert_eq!(
        emails[0]["data"],
        json!({ "to": "ada@example.com", "template": "order-confirmation", "orderId": order_id })
    );
    assert_eq!(
        shop.get::<PaymentGateway>().ledger(),
        [format!("charge {order_id} 3399")]
    );
    assert_eq!(shop.get::<Inventory>().reservation_count(), 1);
    shop.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn cancelling_an_order_during_its_cool_off_stops_it_before_the_charge() {
    // A long cool-off: the cancellation arrives while the run sleeps.
    let shop = start_shop("[orders]\ncool_off = \"1m\"").await;
    let accepted = shop.post("/orders", &order_body(1250)).await;
    let order_id = accepted["orderId"].as_str().unwrap();
    let run = shop
        .run_started_by(&event_id(&accepted), "shop-process-order")
        .await;
    shop.step_reaches(&run.run_id, "cool-off", "Sleeping").await;
    assert_eq!(shop.get::<Inventory>().reservation_count(), 1);

    let cancelled = shop
        .post(&format!("/orders/{order_id}/cancel"), &json!({}))
        .await;
    let cancellation_id = event_id(&cancelled);
    let run = shop.finished(&run.run_id).await;
    assert_eq!(run.status, RunStatus::Cancelled, "{run:#?}");
    assert_eq!(
        run.error,
        Some(json!({
            "name": "Cancelled",
            "message": format!("cancelled by event order.cancelled ({cancellation_id})"),
        }))
    );
    assert_eq!(run.output, None);
    let names: Vec<String> = steps(&run).into_iter().map(|s| s.name).collect();
    assert_eq!(names, ["reserve-stock", "cool-off"], "no charge, no notify");

    // `inngest/function.cancelled` starts the clean-up, which releases the stock.
    let cleanup = shop
        .run_of("shop-process-order-cancelled", |event| {
            event.name == "inngest/function.cancelled" && event.data["run_id"] == run.run_id
        })
        .await;
    let cleanup = shop.finished(&cleanup.run_id).await;
    assert_eq!(cleanup.status, RunStatus::Completed, "{cleanup:#?}");
    assert_eq!(
        cleanup.output,
        Some(json!({
            "orderId": order_id,
            "released": true,
            "reason": "cancelled by the customer",
            "notificationIds": [],
        }))
    );
    assert_eq!(shop.get::<Inventory>().reservation_count(), 0);
    assert!(shop.get::<PaymentGateway>().ledger().is_empty());
    assert!(shop.events("order.confirmed").await.is_empty());
    shop.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_free_order_fails_for_good_at_the_charge_and_on_failure_releases_its_stock() {
    let shop = start_shop("").await;
    // Accepted by the route (every line has a quantity), refused by the gateway: nothing
    // to charge is a non-retriable error.
    let accepted = shop
        .post(
            "/orders",
            &json!({
                "customerId": "cus-7",
                "email": "ada@example.com",
                "items": [{ "sku": "sticker", "quantity": 3, "unitPriceCents": 0 }]
            }),
        )
        .await;
    let order_id = accepted["orderId"].as_str().unwrap();
    let run = shop
        .run_started_by(&event_id(&accepted), "shop-process-order")
        .await;
    let run = shop.finished(&run.run_id).await;
    assert_eq!(run.status, RunStatus::Failed, "{run:#?}");
    let error = run.error.clone().unwrap();
    assert_eq!(error["name"], "NonRetriableError", "{error}");
    assert_eq!(
        error["message"],
        format!("nothing to charge for {order_id}"),
        "{error}"
    );
    assert_eq!(
        step_summary(&run),
        summary(&[
            ("reserve-stock", "StepRun", "Completed"),
            ("cool-off", "Sleep", "Completed"),
            ("charge", "StepFailed", "Failed"),
        ])
    );
    assert_eq!(step(&run, "charge").attempts, 1, "not retried");

    // `inngest/function.failed` starts process-order's on_failure handler.
    let failure = shop
        .run_of("shop-process-order-failure", |event| {
            event.name == "inngest/function.failed" && event.data["run_id"] == run.run_id
        })
        .await;
    let failure = shop.finished(&failure.run_id).await;
    assert_eq!(failure.status, RunStatus::Completed, "{failure:#?}");
    let emails = shop.events("email.requested").await;
    assert_eq!(emails.len(), 1, "{emails:?}");
    assert_eq!(
        failure.output,
        Some(json!({
            "orderId": order_id,
            "released": true,
            "reason": format!("nothing to charge for {order_id}"),
            "notificationIds": [emails[0]["id"]],
        }))
    );
    assert_eq!(
        step_summary(&failure),
        summary(&[
            ("release-stock", "StepRun", "Completed"),
            ("notify-customer", "StepRun", "Completed"),
        ])
    );
    assert_eq!(shop.get::<Inventory>().reservation_count(), 0);
    assert_eq!(
        emails[0]["data"],
        json!({ "to": "ada@example.com", "template": "order-failed", "orderId": order_id })
    );
    assert!(shop.get::<PaymentGateway>().ledger().is_empty());
    assert!(shop.events("order.confirmed").await.is_empty());
    shop.app.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Payments
// ---------------------------------------------------------------------------------------

async fn request_payment(shop: &Shop, payment: PaymentRequested) -> RunView {
    let id = format!("payment-{}", payment.payment_id);
    let ids = shop
        .get::<InngestService>()
        .send(Event::new("payment.requested", payment).with_id(id))
        .await
        .unwrap();
    assert_eq!(ids.len(), 1);
    shop.run_started_by(&ids[0], "shop-payment-saga").await
}

#[tokio::test]
async fn the_payment_saga_refunds_when_the_issuer_declines_the_capture() {
    let shop = start_shop("").await;
    let run = request_payment(
        &shop,
        PaymentRequested {
            payment_id: "pay-1".into(),
            amount_cents: 4200,
            decline_capture: true,
            capture_timeouts: 0,
        },
    )
    .await;
    let run = shop.finished(&run.run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
    assert_eq!(
        step_summary(&run),
        summary(&[
            ("authorize", "StepRun", "Completed"),
            ("capture", "StepFailed", "Failed"),
            ("refund", "StepRun", "Completed"),
        ])
    );
    let capture = step(&run, "capture");
    assert_eq!(capture.attempts, 1, "a decline is not retried");
    let memo = capture.memo.unwrap();
    assert_eq!(memo["error"]["name"], "NonRetriableError");
    assert_eq!(
        memo["error"]["message"],
        "the card issuer declined the capture"
    );
    let authorization = step(&run, "authorize").memo.unwrap();
    let auth_id = authorization["data"]["authorizationId"].as_str().unwrap();
    let refund = step(&run, "refund").memo.unwrap();
    assert_eq!(
        run.output,
        Some(json!({
            "status": "refunded",
            "paymentId": "pay-1",
            "refundId": refund["data"]["refundId"],
            "reason": "the card issuer declined the capture",
        }))
    );
    assert_eq!(
        shop.get::<PaymentGateway>().ledger(),
        [
            "authorize pay-1 4200".to_string(),
            format!("refund {auth_id}")
        ]
    );
    shop.app.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_capture_that_times_out_twice_is_retried_with_backoff_and_succeeds() {
    let shop = start_shop("").await;
    let run = request_payment(
        &shop,
        PaymentRequested {
            payment_id: "pay-2".into(),
            amount_cents: 990,
            decline_capture: false,
            capture_timeouts: 2,
        },
    )
    .await;
    let run = shop.finished(&run.run_id).await;
    assert_eq!(run.status, RunStatus::Completed, "{run:#?}");
    assert_eq!(
        step_summary(&run),
        summary(&[
            ("authorize", "StepRun", "Completed"),
            ("capture", "StepRun", "Completed"),
        ])
    );
    // Three executions of the capture: two timeouts, then the answer.
    assert_eq!(step(&run, "capture").attempts, 3);
    let capture = step(&run, "capture").memo.unwrap();
    assert_eq!(
        run.output,
        Some(json!({
            "status": "captured",
            "paymentId": "pay-2",
            "captureId": capture["data"]["captureId"],
        }))
    );
    let auth_id = step(&run, "authorize").memo.unwrap()["data"]["authorizationId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(
        shop.get::<PaymentGateway>().ledger(),
        [
            "authorize pay-2 990".to_string(),
            format!("capture {auth_id} timed out"),
            format!("capture {auth_id} timed out"),
            format!("capture {auth_id}"),
        ]
    );
    // config/test.toml: 50 ms, then 100 ms between the attempts.
    let elapsed = run.ended_at.unwrap() - run.started_at.unwrap();
    assert!(elapsed >= 150, "backoff between attempts: {elapsed} ms");
    shop.app.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Maintenance
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn the_cleanup_cron_fires_within_seconds_and_purges_the_expired_carts() {
    // Every second (the embedded executor's six-field form, seconds first).
    let shop = start_shop("[maintenance]\ncleanup_schedule = \"*/1 * * * * *\"").await;
    let started = SystemTime::now();
    let carts = shop.get::<CartStore>();
    let hour = Duration::from_secs(3600);
    carts.park("cart-old-1", SystemTime::now() - hour);
    carts.park("cart-old-2", SystemTime::now() - 24 * hour);
    carts.park("cart-fresh", SystemTime::now() + hour);

    let filter = RunFilter {
        function: Some("shop-daily-cleanup".into()),
        status: Some(RunStatus::Completed),
        ..RunFilter::default()
    };
    let deadline = Instant::now() + PATIENCE;
    let runs = loop {
        let runs = shop.executor.runs(&filter).await.unwrap();
        // A tick may have fired before the carts were parked (and purged nothing).
        if runs
            .iter()
            .any(|r| r.output == Some(json!({ "purgedCarts": 2 })))
        {
            break runs;
        }
        assert!(Instant::now() < deadline, "no cleanup purged: {runs:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let first_tick = runs.iter().map(|r| r.created_at).min().unwrap();
    let started_ms = i64::try_from(
        started
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_millis(),
    )
    .unwrap();
    assert!(
        first_tick - started_ms < 5_000,
        "first tick {} ms after start",
        first_tick - started_ms
    );
    let purged: u64 = runs
        .iter()
        .map(|r| r.output.as_ref().unwrap()["purgedCarts"].as_u64().unwrap())
        .sum();
    assert_eq!(purged, 2, "each expired cart purged once: {runs:#?}");
    assert_eq!(carts.len(), 1, "the fresh cart stays");
    for run in &runs {
        assert_eq!(run.events.len(), 1);
        assert_eq!(run.events[0].name, "inngest/scheduled.timer");
        assert_eq!(run.events[0].data["cron"], "*/1 * * * * *");
    }
    let run = shop.executor.run(&runs[0].run_id).await.unwrap().unwrap();
    assert_eq!(
        step_summary(&run),
        summary(&[("purge-expired-carts", "StepRun", "Completed")])
    );
    shop.app.shutdown().await.unwrap();
}
