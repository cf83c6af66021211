//! The shop in-process, at the protocol level: its Inngest functions driven through the
//! serve endpoint with execution requests shaped like the ones the Inngest executor sends
//! (as in the recordings of a real server, `recordings/*/executor-to-sdk.jsonl`; the rules
//! are in docs/ARCHITECTURE.md, "One execution request"), its HTTP routes, and its
//! production config.
//!
//! These tests run the shop in dev mode (a remote executor) against a loopback stand-in
//! that plays the Inngest server's two endpoints the app calls: the Event API
//! (`POST /e/{key}`) and registration (`POST /fn/register`). `tests/scenarios.rs` runs the
//! same functions end to end on the embedded executor instead.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use framework::{Environment, Provider, RunningApp, TestingModule};
use inngest_module::protocol::hash_step_id;
use inngest_module::{InngestOptions, InngestService};
use serde_json::{Map, Value, json};
use shop::maintenance::CartStore;
use shop::orders::Inventory;
use shop::payments::PaymentGateway;
use shop::users::{Mailer, Signups, UserDirectory};

const DEFAULT_TOML: &str = include_str!("../config/default.toml");
const PRODUCTION_TOML: &str = include_str!("../config/production.toml");
const SIGNING_KEY: &str =
    "signkey-prod-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

// ---------------------------------------------------------------------------------------
// The Inngest server stand-in
// ---------------------------------------------------------------------------------------

/// A request the stand-in received.
#[derive(Clone, Debug)]
struct Received {
    path: String,
    headers: HeaderMap,
    body: Value,
}

type Log = Arc<Mutex<Vec<Received>>>;

/// Answers like the dev server: `POST /e/{key}` → `{"ids":[…],"status":200}` (the key
/// `revoked` gets 401), `POST /fn/register` → `{"ok":true,"modified":true}`.
struct InngestStandIn {
    url: String,
    received: Log,
}

impl InngestStandIn {
    async fn start() -> Self {
        async fn events(
            State(log): State<Log>,
            Path(key): Path<String>,
            headers: HeaderMap,
            Json(body): Json<Value>,
        ) -> (StatusCode, Json<Value>) {
            let mut log = log.lock().unwrap();
            if key == "revoked" {
                let error = json!({ "error": "Event key not found", "status": 401 });
                return (StatusCode::UNAUTHORIZED, Json(error));
            }
            let already: usize = log
                .iter()
                .filter(|r| r.path.starts_with("/e/"))
                .map(|r| r.body.as_array().map_or(1, Vec::len))
                .sum();
            let count = body.as_array().map_or(1, Vec::len);
            let ids: Vec<String> = (already..already + count)
                .map(|n| format!("evt-{n}"))
                .collect();
            log.push(Received {
                path: format!("/e/{key}"),
                headers,
                body,
            });
            (StatusCode::OK, Json(json!({ "ids": ids, "status": 200 })))
        }
        async fn register(
            State(log): State<Log>,
            headers: HeaderMap,
            Json(body): Json<Value>,
        ) -> Json<Value> {
            log.lock().unwrap().push(Received {
                path: "/fn/register".into(),
                headers,
                body,
            });
            Json(json!({ "ok": true, "modified": true }))
        }
        let received = Log::default();
        let app = Router::new()
            .route("/e/{key}", post(events))
            .route("/fn/register", post(register))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self { url, received }
    }

    fn received(&self, prefix: &str) -> Vec<Received> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .filter(|r| r.path.starts_with(prefix))
            .cloned()
            .collect()
    }
}

/// The shop on an ephemeral port: `config/default.toml`, then dev mode against the stand-in
/// (plus `extra` lines in `[inngest]`).
async fn start_shop(stand_in: &InngestStandIn, extra: &str) -> RunningApp {
    TestingModule::new(shop::app_module())
        .config(DEFAULT_TOML)
        .config(format!("[inngest]\ndev = \"{}\"\n{extra}", stand_in.url))
        .build()
        .await
        .expect("the shop builds")
        .start()
        .await
        .expect("the shop starts")
}

// ---------------------------------------------------------------------------------------
// Execution requests
// ---------------------------------------------------------------------------------------

/// An event as the executor delivers it.
fn event(name: &str, id: &str, data: Value) -> Value {
    json!({ "name": name, "id": id, "data": data, "ts": 1_795_424_862_712_i64, "user": {} })
}

/// One run of a function, replayed request after request the way the executor does:
/// every request carries the events and the memo of the steps done so far.
struct Run {
    url: String,
    events: Vec<Value>,
    steps: Map<String, Value>,
    max_attempts: u32,
    version: i64,
}

/// An execution response.
#[derive(Debug)]
struct Reply {
    status: u16,
    headers: reqwest::header::HeaderMap,
    body: Value,
}

impl Reply {
    /// The single op of a 206.
    fn op(&self) -> &Value {
        assert_eq!(self.status, 206, "expected ops, got {self:?}");
        let ops = self.body.as_array().expect("206 carries an array of ops");
        assert_eq!(ops.len(), 1, "expected one op: {ops:?}");
        &ops[0]
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl Run {
    fn new(app: &RunningApp, fn_id: &str, events: Vec<Value>, max_attempts: u32) -> Self {
        Self {
            url: format!(
                "{}/api/inngest?fnId=shop-{fn_id}&stepId=step",
                app.base_url()
            ),
            events,
            steps: Map::new(),
            max_attempts,
            version: -1,
        }
    }

    async fn call(&mut self) -> Reply {
        let body = json!({
            "ctx": {
                "attempt": 0,
                "disable_immediate_execution": false,
                "env": "",
                "fn_id": "47392d7b-e55b-58e4-bc9c-c1ef1a45525e",
                "max_attempts": self.max_attempts,
                "run_id": "01M83TJGJWWVMPC0J6RJ9E7VT3",
                "stack": { "current": self.steps.len(), "stack": self.steps.keys().collect::<Vec<_>>() },
                "step_id": "step",
                "use_api": false,
            },
            "event": self.events[0],
            "events": self.events,
            "steps": self.steps,
            "use_api": false,
            "version": self.version,
        });
        self.version = 2;
        let response = reqwest::Client::new()
            .post(&self.url)
            .json(&body)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response.json().await.unwrap();
        Reply {
            status,
            headers,
            body,
        }
    }

    /// Memoizes a step the way the server does after it ran (`{"data":…}`, `{"error":…}`,
    /// `null` for a sleep or a timed-out wait, the raw event for a matched wait).
    fn memoize(&mut self, step_id: &str, memo: Value) {
        self.steps.insert(hash_step_id(step_id), memo);
    }

    /// Memoizes the result of the step this op executed.
    fn memoize_op(&mut self, op: &Value) {
        let step_id = op["displayName"].as_str().unwrap().to_string();
        let memo = match op["op"].as_str() {
            Some("StepFailed") => json!({ "error": op["error"] }),
            _ => json!({ "data": op["data"] }),
        };
        self.memoize(&step_id, memo);
    }
}

/// Asserts the op is the step `id` executed successfully; returns its data.
fn step_ran<'a>(op: &'a Value, id: &str) -> &'a Value {
    assert_eq!(op["op"], "StepRun", "{op}");
    assert_eq!(op["displayName"], id, "{op}");
    assert_eq!(op["id"], hash_step_id(id), "{op}");
    &op["data"]
}

fn order_event() -> Value {
    event(
        "order.created",
        "01ORDER0000000000000000001",
        json!({
            "orderId": "ord-1",
            "customerId": "cus-7",
            "email": "ada@example.com",
            "items": [
                { "sku": "mug", "quantity": 2, "unitPriceCents": 1250 },
                { "sku": "tea", "quantity": 1, "unitPriceCents": 899 }
            ]
        }),
    )
}

// ---------------------------------------------------------------------------------------
// Functions
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn order_processing_runs_each_step_once_and_returns_the_receipt() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut run = Run::new(&shop, "process-order", vec![order_event()], 4);

    // A new run: the first step runs at once (immediate execution).
    let reply = run.call().await;
    let reservation = step_ran(reply.op(), "reserve-stock");
    assert_eq!(
        reservation,
        &json!({ "reservationId": "res-ord-1", "units": 3 })
    );
    run.memoize_op(reply.op());

    // Replay: reserve-stock comes from the memo; the cool-off is reported for the server
    // to schedule. Nothing is charged before it ends.
    let reply = run.call().await;
    let sleep = reply.op();
    assert_eq!(sleep["op"], "Sleep", "{sleep}");
    assert_eq!(sleep["name"], "1m");
    assert_eq!(sleep["displayName"], "cool-off");
    assert_eq!(sleep["id"], hash_step_id("cool-off"));
    assert!(
        shop.container()
            .get::<PaymentGateway>()
            .unwrap()
            .ledger()
            .is_empty(),
        "nothing charged during the cool-off"
    );
    run.memoize("cool-off", Value::Null);

    // After the cool-off: charge runs.
    let reply = run.call().await;
    let charge = step_ran(reply.op(), "charge").clone();
    assert_eq!(charge["amountCents"], 2 * 1250 + 899);
    run.memoize_op(reply.op());
    assert!(stand_in.received("/e/").is_empty(), "nothing sent yet");

    // Then the fan-out step sends both events through the Event API.
    let reply = run.call().await;
    let sent = step_ran(reply.op(), "notify");
    assert_eq!(sent, &json!({ "ids": ["evt-0", "evt-1"] }));
    let posts = stand_in.received("/e/");
    assert_eq!(posts.len(), 1, "one request for the fan-out");
    assert_eq!(
        posts[0].path, "/e/NO_EVENT_KEY_SET",
        "dev mode sends without a key"
    );
    assert!(posts[0].headers.contains_key("x-inngest-event-id-seed"));
    let events = posts[0].body.as_array().unwrap();
    assert_eq!(events[0]["name"], "order.confirmed");
    assert_eq!(events[0]["id"], "order-confirmed-ord-1");
    assert_eq!(events[0]["data"]["customerId"], "cus-7");
    assert_eq!(events[0]["data"]["chargeId"], charge["chargeId"]);
    assert_eq!(events[1]["name"], "email.requested");
    assert_eq!(
        events[1]["data"],
        json!({ "to": "ada@example.com", "template": "order-confirmation", "orderId": "ord-1" })
    );
    run.memoize_op(reply.op());

    // Everything memoized: the function returns its receipt.
    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({
            "orderId": "ord-1",
            "reservationId": "res-ord-1",
            "chargeId": charge["chargeId"],
            "amountCents": 3399,
            "notificationIds": ["evt-0", "evt-1"],
        })
    );

    // Five requests, yet each side effect happened once.
    let container = shop.container();
    assert_eq!(container.get::<Inventory>().unwrap().reservation_count(), 1);
    assert_eq!(
        container.get::<PaymentGateway>().unwrap().ledger(),
        ["charge ord-1 3399"]
    );
    assert_eq!(stand_in.received("/e/").len(), 1);
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn an_order_without_units_fails_for_good_at_reserve_stock() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut order = order_event();
    order["data"]["items"] = json!([{ "sku": "mug", "quantity": 0, "unitPriceCents": 1250 }]);
    let mut run = Run::new(&shop, "process-order", vec![order], 4);

    let reply = run.call().await;
    let op = reply.op();
    assert_eq!(op["op"], "StepFailed", "{op}");
    assert_eq!(op["displayName"], "reserve-stock");
    assert_eq!(op["error"]["name"], "NonRetriableError");
    assert_eq!(
        op["error"]["message"],
        "order ord-1 has no units to reserve"
    );
    assert_eq!(reply.header("x-inngest-no-retry"), Some("true"));

    // Not caught by the function: the replay fails the run, not retried.
    run.memoize_op(op);
    let reply = run.call().await;
    assert_eq!(reply.status, 400, "{reply:?}");
    assert_eq!(reply.header("x-inngest-no-retry"), Some("true"));
    assert!(
        shop.container()
            .get::<PaymentGateway>()
            .unwrap()
            .ledger()
            .is_empty(),
        "nothing was charged"
    );
    shop.shutdown().await.unwrap();
}

fn signup_event() -> Value {
    event(
        "user.signed_up",
        "01SIGNUP000000000000000001",
        json!({ "userId": "usr-1", "email": "ada@example.com" }),
    )
}

/// Runs onboarding up to the wait and checks the wait op.
async fn onboarding_until_the_wait(shop: &RunningApp) -> Run {
    let mut run = Run::new(shop, "user-onboarding", vec![signup_event()], 6);
    let reply = run.call().await;
    let welcome = step_ran(reply.op(), "send-welcome-email");
    assert_eq!(welcome["to"], "ada@example.com");
    assert_eq!(welcome["template"], "welcome");
    run.memoize_op(reply.op());

    let reply = run.call().await;
    let wait = reply.op();
    assert_eq!(wait["op"], "WaitForEvent", "{wait}");
    assert_eq!(wait["displayName"], "wait-email-verified");
    assert_eq!(wait["id"], hash_step_id("wait-email-verified"));
    assert_eq!(wait["name"], "user.email_verified");
    assert_eq!(
        wait["opts"],
        json!({ "timeout": "3d", "if": "async.data.userId == event.data.userId" })
    );
    run
}

#[tokio::test]
async fn onboarding_sends_a_reminder_when_the_wait_times_out() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut run = onboarding_until_the_wait(&shop).await;

    // Three days passed without `user.email_verified`: the server memoizes `null`.
    run.memoize("wait-email-verified", Value::Null);
    let reply = run.call().await;
    let reminder = step_ran(reply.op(), "send-reminder");
    assert_eq!(reminder["template"], "verify-your-email");
    run.memoize_op(reply.op());

    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({ "status": "reminded", "userId": "usr-1", "messageId": reminder["messageId"] })
    );
    let outbox = shop.container().get::<Mailer>().unwrap().outbox();
    let templates: Vec<_> = outbox.iter().map(|m| m.template.as_str()).collect();
    assert_eq!(templates, ["welcome", "verify-your-email"]);
    assert!(
        !shop
            .container()
            .get::<UserDirectory>()
            .unwrap()
            .is_verified("usr-1")
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn onboarding_marks_the_user_verified_when_the_event_arrives() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut run = onboarding_until_the_wait(&shop).await;

    // The matching event arrived: the server memoizes the raw event.
    run.memoize(
        "wait-email-verified",
        event(
            "user.email_verified",
            "01VERIFIED0000000000000001",
            json!({ "userId": "usr-1" }),
        ),
    );
    let reply = run.call().await;
    assert_eq!(step_ran(reply.op(), "mark-verified"), &json!(true));
    assert!(
        shop.container()
            .get::<UserDirectory>()
            .unwrap()
            .is_verified("usr-1")
    );
    run.memoize_op(reply.op());

    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({ "status": "verified", "userId": "usr-1" })
    );
    let outbox = shop.container().get::<Mailer>().unwrap().outbox();
    assert_eq!(outbox.len(), 1, "no reminder: {outbox:?}");
    shop.shutdown().await.unwrap();
}

fn payment_event(decline_capture: bool) -> Value {
    event(
        "payment.requested",
        "01PAYMENT00000000000000001",
        json!({ "paymentId": "pay-1", "amountCents": 4200, "declineCapture": decline_capture }),
    )
}

#[tokio::test]
async fn payment_saga_refunds_when_the_capture_fails_for_good() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut run = Run::new(&shop, "payment-saga", vec![payment_event(true)], 3);

    let reply = run.call().await;
    let authorization = step_ran(reply.op(), "authorize").clone();
    assert_eq!(authorization["amountCents"], 4200);
    run.memoize_op(reply.op());

    // The capture fails with a non-retriable error: StepFailed, memoized at once.
    let reply = run.call().await;
    let failed = reply.op();
    assert_eq!(failed["op"], "StepFailed", "{failed}");
    assert_eq!(failed["displayName"], "capture");
    assert_eq!(failed["error"]["name"], "NonRetriableError");
    assert_eq!(
        failed["error"]["message"],
        "the card issuer declined the capture"
    );
    assert_eq!(reply.header("x-inngest-no-retry"), Some("true"));
    run.memoize_op(failed);

    // The replay hands the error to the saga as `Error::Step`: it compensates.
    let reply = run.call().await;
    let refund = reply.op();
    assert_eq!(refund["op"], "StepRun", "{refund}");
    assert_eq!(refund["displayName"], "refund");
    run.memoize_op(refund);

    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({
            "status": "refunded",
            "paymentId": "pay-1",
            "refundId": refund["data"]["refundId"],
            "reason": "the card issuer declined the capture",
        })
    );
    let auth_id = authorization["authorizationId"].as_str().unwrap();
    assert_eq!(
        shop.container().get::<PaymentGateway>().unwrap().ledger(),
        [
            "authorize pay-1 4200".to_string(),
            format!("refund {auth_id}")
        ]
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn payment_saga_captures_when_the_issuer_accepts() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let mut run = Run::new(&shop, "payment-saga", vec![payment_event(false)], 3);

    let reply = run.call().await;
    step_ran(reply.op(), "authorize");
    run.memoize_op(reply.op());
    let reply = run.call().await;
    let capture = step_ran(reply.op(), "capture").clone();
    run.memoize_op(reply.op());

    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(
        reply.body,
        json!({ "status": "captured", "paymentId": "pay-1", "captureId": capture["captureId"] })
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn daily_cleanup_purges_the_expired_carts_once() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let carts = shop.container().get::<CartStore>().unwrap();
    let hour = Duration::from_secs(3600);
    carts.park("cart-old-1", SystemTime::now() - hour);
    carts.park("cart-old-2", SystemTime::now() - 24 * hour);
    carts.park("cart-fresh", SystemTime::now() + hour);

    let timer = event(
        "inngest/scheduled.timer",
        "01TIMER0000000000000000001",
        json!({ "cron": "TZ=Europe/Paris 0 3 * * *" }),
    );
    let mut run = Run::new(&shop, "daily-cleanup", vec![timer], 5);
    let reply = run.call().await;
    assert_eq!(step_ran(reply.op(), "purge-expired-carts"), &json!(2));
    assert_eq!(carts.len(), 1);
    run.memoize_op(reply.op());

    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({ "purgedCarts": 2 }));
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn the_batch_consumer_receives_every_event_of_the_batch() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let tracked = |n: u32, user: &str, action: &str| {
        event(
            "analytics.tracked",
            &format!("01TRACKED00000000000000000{n}"),
            json!({ "userId": user, "action": action }),
        )
    };
    let batch = vec![
        tracked(1, "usr-1", "viewed-product"),
        tracked(2, "usr-2", "viewed-product"),
        tracked(3, "usr-1", "added-to-cart"),
    ];
    let mut run = Run::new(&shop, "analytics-batch", batch, 5);

    let reply = run.call().await;
    assert_eq!(step_ran(reply.op(), "store"), &json!(3));
    run.memoize_op(reply.op());
    let reply = run.call().await;
    assert_eq!(reply.status, 200, "{reply:?}");
    assert_eq!(reply.body, json!({ "n": 3, "users": 2, "stored": 3 }));
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn syncing_registers_every_function_with_its_triggers_and_flow_control() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let response = reqwest::Client::new()
        .put(format!("{}/api/inngest", shop.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);

    let registered = stand_in.received("/fn/register");
    assert_eq!(registered.len(), 1);
    let payload = &registered[0].body;
    assert_eq!(payload["appName"], "shop");
    assert_eq!(payload["url"], format!("{}/api/inngest", shop.base_url()));
    let functions = payload["functions"].as_array().unwrap();
    let by_id = |id: &str| {
        functions
            .iter()
            .find(|f| f["id"] == id)
            .unwrap_or_else(|| panic!("{id} is not registered: {payload}"))
    };
    let ids: Vec<_> = functions.iter().map(|f| f["id"].clone()).collect();
    assert_eq!(
        ids,
        [
            "shop-analytics-batch",
            "shop-daily-cleanup",
            "shop-payment-saga",
            "shop-process-order",
            "shop-process-order-failure",
            "shop-process-order-cancelled",
            "shop-user-onboarding"
        ]
    );

    let order = by_id("shop-process-order");
    assert_eq!(order["name"], "Process an order");
    assert_eq!(order["triggers"], json!([{ "event": "order.created" }]));
    assert_eq!(
        order["concurrency"],
        json!([{ "limit": 10, "key": "event.data.customerId" }])
    );
    assert_eq!(order["steps"]["step"]["retries"], json!({ "attempts": 3 }));
    assert_eq!(
        order["cancel"],
        json!([{ "event": "order.cancelled", "if": "async.data.orderId == event.data.orderId" }])
    );
    assert_eq!(
        by_id("shop-process-order-failure")["triggers"],
        json!([{
            "event": "inngest/function.failed",
            "expression": "event.data.function_id == 'shop-process-order'"
        }])
    );
    assert_eq!(
        by_id("shop-process-order-cancelled")["triggers"],
        json!([{
            "event": "inngest/function.cancelled",
            "expression": "event.data.function_id == 'shop-process-order'"
        }])
    );

    let cleanup = by_id("shop-daily-cleanup");
    assert_eq!(
        cleanup["triggers"],
        json!([{ "cron": "TZ=Europe/Paris 0 3 * * *" }])
    );

    let batch = by_id("shop-analytics-batch");
    assert_eq!(batch["triggers"], json!([{ "event": "analytics.tracked" }]));
    assert_eq!(
        batch["batchEvents"],
        json!({ "maxSize": 100, "timeout": "5s" })
    );
    assert_eq!(
        by_id("shop-user-onboarding")["triggers"],
        json!([{ "event": "user.signed_up" }])
    );
    assert_eq!(
        by_id("shop-payment-saga")["triggers"],
        json!([{ "event": "payment.requested" }])
    );
    shop.shutdown().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// HTTP routes
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn post_orders_sends_order_created_and_returns_the_event_ids() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let response = reqwest::Client::new()
        .post(format!("{}/orders", shop.base_url()))
        .json(&json!({
            "customerId": "cus-7",
            "email": "ada@example.com",
            "items": [{ "sku": "mug", "quantity": 2, "unitPriceCents": 1250 }]
        }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    assert_eq!(accepted["eventIds"], json!(["evt-0"]));
    let order_id = accepted["orderId"].as_str().unwrap();
    assert!(order_id.starts_with("ord-"), "{order_id}");

    let posts = stand_in.received("/e/");
    assert_eq!(posts.len(), 1);
    assert_eq!(posts[0].path, "/e/NO_EVENT_KEY_SET");
    let sent = &posts[0].body[0];
    assert_eq!(sent["name"], "order.created");
    assert_eq!(sent["id"], format!("order-created-{order_id}"));
    assert!(sent["ts"].as_i64().unwrap() > 1_700_000_000_000);
    assert_eq!(
        sent["data"],
        json!({
            "orderId": order_id,
            "customerId": "cus-7",
            "email": "ada@example.com",
            "items": [{ "sku": "mug", "quantity": 2, "unitPriceCents": 1250 }]
        })
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn post_orders_refuses_an_empty_order_and_sends_nothing() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let response = reqwest::Client::new()
        .post(format!("{}/orders", shop.base_url()))
        .json(&json!({ "customerId": "cus-7", "email": "ada@example.com", "items": [] }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 422);
    let body: Value = response.json().await.unwrap();
    assert!(
        body["error"].as_str().unwrap().contains("`items`"),
        "{body}"
    );
    assert!(stand_in.received("/e/").is_empty());
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn post_users_sends_user_signed_up() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "").await;
    let response = reqwest::Client::new()
        .post(format!("{}/users", shop.base_url()))
        .json(&json!({ "email": "ada@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 202);
    let accepted: Value = response.json().await.unwrap();
    let user_id = accepted["userId"].as_str().unwrap();
    assert!(user_id.starts_with("usr-"), "{user_id}");
    assert_eq!(accepted["eventIds"], json!(["evt-0"]));

    let posts = stand_in.received("/e/");
    assert_eq!(posts.len(), 1);
    let sent = &posts[0].body[0];
    assert_eq!(sent["name"], "user.signed_up");
    assert_eq!(sent["id"], format!("signup-{user_id}"));
    assert_eq!(
        sent["data"],
        json!({ "userId": user_id, "email": "ada@example.com" })
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn a_refused_event_key_is_a_bad_gateway_not_a_silent_drop() {
    let stand_in = InngestStandIn::start().await;
    let shop = start_shop(&stand_in, "event_key = \"revoked\"").await;
    let response = reqwest::Client::new()
        .post(format!("{}/users", shop.base_url()))
        .json(&json!({ "email": "ada@example.com" }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 502);
    let body: Value = response.json().await.unwrap();
    let error = body["error"].as_str().unwrap();
    assert!(
        error.contains("HTTP 401") && error.contains("Event key not found"),
        "{error}"
    );
    shop.shutdown().await.unwrap();
}

#[tokio::test]
async fn services_send_through_a_recording_inngest_service_in_unit_tests() {
    // No server at all: the recording service keeps what would have been sent. Dev mode, so
    // no embedded executor is started either (nothing would reach it: the recording wins).
    // (With the embedded executor, `close()` right after `build()` would wait out the
    // executor's 10 s shutdown grace: `Executor::shutdown` signals its scheduling loop with
    // `watch::Sender::send`, which drops the value while the loop task, not yet polled, has
    // no receiver.)
    let (recording, sent) = InngestService::recording("shop");
    let app = TestingModule::new(shop::app_module())
        .config(DEFAULT_TOML)
        .config("[inngest]\ndev = true")
        .override_provider(Provider::arc_value(recording))
        .build()
        .await
        .unwrap();
    let signups = app.get::<Signups>().unwrap();
    let accepted = signups.sign_up("ada@example.com".into()).await.unwrap();
    assert_eq!(accepted.event_ids, ["recorded-0"]);
    assert_eq!(sent.names(), ["user.signed_up"]);
    assert_eq!(sent.all()[0]["data"]["userId"], accepted.user_id.as_str());
    app.close().await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Configuration
// ---------------------------------------------------------------------------------------

#[tokio::test]
async fn production_without_keys_refuses_to_start_and_names_them() {
    let error = TestingModule::new(shop::app_module())
        .environment(Environment::Production)
        .config(DEFAULT_TOML)
        .config(PRODUCTION_TOML)
        .build()
        .await
        .expect_err("production needs keys");
    let message = error.to_string();
    assert!(
        message.contains("inngest.signing_key: is required in production: set INNGEST_SIGNING_KEY"),
        "{message}"
    );
    assert!(
        message.contains("inngest.event_key: is required in production: set INNGEST_EVENT_KEY"),
        "{message}"
    );
}

#[tokio::test]
async fn production_takes_its_keys_from_the_inngest_variables_and_verifies_signatures() {
    let shop = TestingModule::new(shop::app_module())
        .environment(Environment::Production)
        .config(DEFAULT_TOML)
        .config(PRODUCTION_TOML)
        .config("[server]\ndrain_delay = \"0s\"") // production drains 5 s on shutdown
        .env_var("INNGEST_SIGNING_KEY", SIGNING_KEY)
        .env_var("INNGEST_EVENT_KEY", "test-event-key")
        .env_var("INNGEST_SERVE_ORIGIN", "https://shop.example.com")
        .build()
        .await
        .expect("the keys and the public origin come from INNGEST_*");
    let options = shop.get::<InngestOptions>().unwrap();
    assert!(!options.is_dev());
    assert_eq!(options.app_id, "shop");
    assert_eq!(
        options.signing_key.as_ref().map(|k| k.expose()),
        Some(SIGNING_KEY)
    );

    // Cloud mode: an unsigned execution request is refused before any function runs.
    let shop = shop.start().await.unwrap();
    let mut run = Run::new(&shop, "process-order", vec![order_event()], 4);
    let reply = run.call().await;
    assert_eq!(reply.status, 401, "{reply:?}");
    assert_eq!(
        shop.container()
            .get::<Inventory>()
            .unwrap()
            .reservation_count(),
        0
    );
    shop.shutdown().await.unwrap();
}
