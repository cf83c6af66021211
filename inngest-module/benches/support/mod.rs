//! Set-up the executor benches share (`mod support;` in each): the bench app, and an app
//! synced with a standalone executor that drives it over loopback HTTP.
#![allow(dead_code, clippy::expect_used)]

use std::sync::Arc;
use std::time::Duration;

use framework::{Module, RunningApp, TestingModule};
use inngest_module::executor::Executor;
use inngest_module::executor::transport::Http;
use inngest_module::{InngestModule, Registry};

/// Builds and starts an app importing `InngestModule::from_config()` and `functions`,
/// configured by `config` (TOML).
pub async fn start_app(config: String, functions: Module) -> RunningApp {
    TestingModule::new(
        Module::new("app")
            .import(InngestModule::from_config())
            .import(functions),
    )
    .config(config)
    .build()
    .await
    .expect("bench app builds")
    .start()
    .await
    .expect("bench app starts")
}

/// Registers `app` (id `bench`, served on `/api/inngest`) with `executor`, which then calls
/// its functions over HTTP.
pub async fn sync_over_http(executor: &Executor, app: &RunningApp) {
    let url = format!("{}/api/inngest", app.base_url());
    let registry = app
        .container()
        .get::<Registry>()
        .expect("the app provides its registry");
    let transport = Http::new(
        reqwest::Client::new(),
        url.parse().expect("the app's URL parses"),
        Duration::from_secs(30),
    );
    executor
        .register_app(
            "bench",
            Arc::new(transport),
            &registry.function_configs(&url),
        )
        .await
        .expect("the executor takes the app's functions");
}
