//! `hello`: the smallest complete app. Two feature modules (`audit`, `greetings`) and a
//! `work` module with a slow route, composed into an `AppModule`; a service injected into
//! route handlers; configuration per environment; graceful shutdown with lifecycle hooks.
//!
//! ```sh
//! cargo run -p hello            # then: curl localhost:3000/hello/ada
//! APP_ENV=production cargo run -p hello   # fails: greetings.api_key is required in production
//! ```

mod audit;
mod greetings;
mod work;

use axum::{Router, extract::Path, routing::get};
use framework::{App, Module, http::Inject};

use crate::greetings::GreetingService;

/// GET /hello/{name}: a greeting from the injected `GreetingService`.
async fn hello(Path(name): Path<String>, greetings: Inject<GreetingService>) -> String {
    greetings.greet(&name)
}

/// The root module: imports the feature modules and adds its own route.
fn app_module() -> Module {
    Module::new("app")
        .import(greetings::module())
        .import(work::module())
        .router(Router::new().route("/hello/{name}", get(hello)))
}

#[tokio::main]
async fn main() -> framework::Result<()> {
    App::new(app_module())
        .config_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/config"))
        .run()
        .await
}
