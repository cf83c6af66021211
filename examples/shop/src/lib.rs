//! `shop`: an online shop whose back office runs as Inngest durable functions.
//!
//! One feature module per concern, each with `#[injectable]` services:
//!
//! | Module | Functions (`#[inngest::function]`) | Routes |
//! |---|---|---|
//! | [`users`] | `user-onboarding`: welcome email, wait 3 days for verification, remind | `POST /users` |
//! | [`orders`] | `process-order`: reserve stock, charge, cool off, notify; returns a receipt | `POST /orders` |
//! | [`payments`] | `payment-saga`: authorize, capture, refund when the capture fails for good | |
//! | [`maintenance`] | `daily-cleanup`: 03:00 Paris time, purges expired carts | |
//! | [`analytics`] | `analytics-batch`: up to 100 `analytics.tracked` events per run | |
//!
//! [`app_module`] imports them with `InngestModule::from_config()`, which serves every
//! function on `/api/inngest` and provides `InngestService` to every module.
//!
//! ```sh
//! npx inngest-cli@latest dev -u http://127.0.0.1:3000/api/inngest   # the Inngest dev server
//! cargo run -p shop                                                   # dev mode: config/development.toml
//! curl -X POST localhost:3000/orders -H 'content-type: application/json' \
//!   -d '{"customerId":"cus-1","email":"ada@example.com","items":[{"sku":"mug","quantity":2,"unitPriceCents":1250}]}'
//! ```

pub mod analytics;
mod api;
pub mod maintenance;
pub mod orders;
pub mod payments;
pub mod users;

use framework::Module;
use inngest_module::InngestModule;

/// The root module: Inngest (options from `[inngest]` and the `INNGEST_*` variables) and
/// the feature modules.
pub fn app_module() -> Module {
    Module::new("app")
        .import(InngestModule::from_config())
        .import(users::module())
        .import(orders::module())
        .import(payments::module())
        .import(maintenance::module())
        .import(analytics::module())
}
