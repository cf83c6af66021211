//! The shop's functions and services unit-tested with `inngest_module::testing`: a
//! function run in process with chosen steps stubbed, and a feature module tested with
//! `InngestModule::for_test()` standing in for the real module.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use framework::{Module, TestApp, TestingModule};
use inngest_module::testing::{RunEnd, TestRun, event};
use inngest_module::{InngestModule, SentEvents};
use serde_json::{Value, json};
use shop::orders::{LineItem, NewOrder, OrderIntake};

const DEFAULT_TOML: &str = include_str!("../config/default.toml");

/// The whole shop, in dev mode so no executor starts: its functions are run by `TestRun`.
async fn shop() -> TestApp {
    TestingModule::new(shop::app_module())
        .config(DEFAULT_TOML)
        .config("[inngest]\ndev = true")
        .build()
        .await
        .unwrap()
}

fn order_created() -> inngest_module::Event<Value> {
    event(
        "order.created",
        json!({
            "orderId": "ord-1", "customerId": "cus-1", "email": "ada@example.com",
            "items": [{ "sku": "mug", "quantity": 2, "unitPriceCents": 1250 }]
        }),
    )
}

#[tokio::test]
async fn process_order_reserves_sleeps_charges_and_notifies() {
    let app = shop().await;
    let outcome = TestRun::new(order_created())
        .run_function(&app, "process-order")
        .await
        .unwrap();
    assert_eq!(outcome.ran_steps(), ["reserve-stock", "charge", "notify"]);
    assert!(outcome.slept("cool-off"));
    let receipt = outcome.output().expect("completed");
    assert_eq!(receipt["orderId"], "ord-1");
    assert_eq!(receipt["amountCents"], 2500);
    let sent: Vec<Value> = outcome.sent().iter().map(|e| e["name"].clone()).collect();
    assert_eq!(sent, ["order.confirmed", "email.requested"]);
    assert_eq!(receipt["notificationIds"].as_array().map(Vec::len), Some(2));
}

#[tokio::test]
async fn a_charge_that_fails_for_good_fails_the_order_without_notifying() {
    let app = shop().await;
    let outcome = TestRun::new(order_created())
        .step(
            "reserve-stock",
            json!({ "reservationId": "res-ord-1", "units": 2 }),
        )
        .step_fails("charge", "card declined")
        .run_function(&app, "process-order")
        .await
        .unwrap();
    let RunEnd::Failed(error) = &outcome.end else {
        panic!("expected the order to fail, got {:?}", outcome.end);
    };
    assert!(error.to_string().contains("card declined"), "{error}");
    // Stubbed steps never ran; nothing was sent.
    assert!(outcome.ran_steps().is_empty());
    assert!(outcome.sent().is_empty());
}

#[tokio::test]
async fn stopping_in_the_cool_off_leaves_the_order_uncharged() {
    let app = shop().await;
    let outcome = TestRun::new(order_created())
        .stop_at("cool-off")
        .run_function(&app, "process-order")
        .await
        .unwrap();
    assert_eq!(outcome.ran_steps(), ["reserve-stock"]);
    assert_eq!(
        outcome.reached().map(|op| op.display_name.as_str()),
        Some("cool-off")
    );
}

#[tokio::test]
async fn the_orders_module_alone_sends_through_the_test_inngest_module() {
    // The orders module and the sections of the shop's config it reads; the real
    // InngestModule is replaced by one that records sends.
    let app = TestingModule::new(
        Module::new("app")
            .import(InngestModule::for_test())
            .import(shop::orders::module()),
    )
    .config("[inngest]\napp_id = \"shop\"\n[inngest.health]\nenabled = true\n[orders]\ncool_off = \"1m\"")
    .build()
    .await
    .unwrap();
    let intake = app.get::<OrderIntake>().unwrap();
    let accepted = intake
        .place(NewOrder {
            customer_id: "cus-1".into(),
            email: "ada@example.com".into(),
            items: vec![LineItem {
                sku: "mug".into(),
                quantity: 1,
                unit_price_cents: 1250,
            }],
        })
        .await
        .unwrap();
    let sent = app.get::<SentEvents>().unwrap();
    assert_eq!(sent.names(), ["order.created"]);
    assert_eq!(sent.all()[0]["data"]["orderId"], accepted.order_id.as_str());
    sent.clear();
    intake.cancel(accepted.order_id.clone()).await.unwrap();
    assert_eq!(sent.names(), ["order.cancelled"]);
}
