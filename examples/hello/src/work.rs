//! The `work` module: a deliberately slow route, to show that shutdown lets in-flight
//! requests finish.

use std::time::Duration;

use axum::{Router, extract::Query, routing::get};
use framework::Module;
use serde::Deserialize;

#[derive(Deserialize)]
struct SlowParams {
    /// How long to work, in milliseconds (at most 10 s).
    ms: u64,
}

async fn slow(Query(params): Query<SlowParams>) -> String {
    let ms = params.ms.min(10_000);
    tokio::time::sleep(Duration::from_millis(ms)).await;
    format!("worked {ms} ms")
}

/// The module.
pub fn module() -> Module {
    Module::new("work").router(Router::new().route("/slow", get(slow)))
}
