//! `shop`: an online shop whose back office runs as Inngest durable functions.
//!
//! One feature module per concern, each with `#[injectable]` services:
//!
//! | Module | Functions (`#[inngest::function]`) | Routes |
//! |---|---|---|
//! | [`users`] | `user-onboarding`: welcome email, wait 3 days for verification, remind | `POST /users`, `POST /users/{id}/verify` |
//! | [`orders`] | `process-order`: reserve stock, cool off, charge, notify; returns a receipt. Cancelled by `order.cancelled`; on failure, `process-order-failure` releases the stock; on cancellation, `process-order-cancelled` does | `POST /orders`, `POST /orders/{id}/cancel` |
//! | [`payments`] | `payment-saga`: authorize, capture (retried), refund when the capture fails for good | |
//! | [`maintenance`] | `daily-cleanup`: 03:00 Paris time (`[maintenance] cleanup_schedule`), purges expired carts | |
//! | [`analytics`] | `analytics-batch`: up to 100 `analytics.tracked` events per run | |
//! | [`durability`] | `durability-probe`: appends a line per step to a file (off unless enabled; for the kill-and-restart tests) | |
//!
//! [`app_module`] imports them with `InngestModule::from_config()`, which serves every
//! function on `/api/inngest` and provides `InngestService` to every module.
//!
//! Every id the shop hands out is a ULID, unique across processes, and the services it
//! keeps in memory (stock reservations, the payment ledger, the outbox, …) are per process:
//! `examples/shop/README.md`, "Running N replicas", says what that means behind a load
//! balancer.
//!
//! In development and test the functions run on the embedded executor, in-process, with no
//! Inngest server; its runs page is at `/_inngest/runs`:
//!
//! ```sh
//! cargo run -p shop         # config/development.toml: runs kept in target/shop-inngest.sqlite3
//! curl -X POST http://127.0.0.1:3000/orders -H 'content-type: application/json' \
//!   -d '{"customerId":"cus-1","email":"ada@example.com","items":[{"sku":"mug","quantity":2,"unitPriceCents":1250}]}'
//! ```

pub mod analytics;
mod api;
pub mod durability;
pub mod maintenance;
pub mod orders;
pub mod payments;
pub mod users;

use framework::Module;
use inngest_module::InngestModule;

/// The root module: Inngest (options from `[inngest]` and the `INNGEST_*` variables), the
/// feature modules, and the durability probe (`[modules.durability] enabled`).
pub fn app_module() -> Module {
    Module::new("app")
        .import(InngestModule::from_config())
        .import(users::module())
        .import(orders::module())
        .import(payments::module())
        .import(maintenance::module())
        .import(analytics::module())
        .import_optional(durability::module())
}
