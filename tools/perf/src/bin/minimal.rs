//! `minimal`: the smallest app on the framework and `inngest-module` (built without the
//! embedded executor) that serves one function: an injectable service whose
//! `#[inngest::function]` sleeps first, so a signed execution request is answered with the
//! same Sleep op as the shop's `process-order` after its first step.
//!
//! Production by default (`APP_ENV` wins), so requests must be signed:
//!
//! ```sh
//! PORT=3000 INNGEST_SIGNING_KEY=signkey-prod-… INNGEST_EVENT_KEY=… \
//!   INNGEST_SERVE_ORIGIN=http://127.0.0.1:3000 minimal
//! ```
//!
//! No config files are read: the defaults below, then the `APP__…` and `INNGEST_*`
//! variables. The function is `minimal-nap` (`POST /api/inngest?fnId=minimal-nap`);
//! `GET /health/live` answers `200`.

use axum::Router;
use axum::routing::get;
use framework::{App, ConfigSources, Environment, Module, injectable};
use inngest_module::{self as inngest, Ctx, InngestModule};
use perf::{SLEEP_DURATION, SLEEP_STEP};
use serde_json::Value;

/// The service with the one function.
pub struct Napper;

#[injectable]
impl Napper {
    fn new() -> Self {
        Napper
    }

    /// Sleeps a minute, then ends.
    #[inngest::function(id = "nap", event = "order.created")]
    async fn nap(&self, ctx: Ctx<Value>) -> inngest::Result<()> {
        ctx.step.sleep(SLEEP_STEP, SLEEP_DURATION).await?;
        Ok(())
    }
}

/// The configuration every run starts from (the variables override it).
fn defaults(port: u16) -> String {
    format!(
        r#"
[server]
host = "127.0.0.1"
port = {port}

[inngest]
app_id = "minimal"
"#
    )
}

/// The defaults plus the process's `APP__…` and `INNGEST_*` variables, and no files.
fn sources(port: u16) -> ConfigSources {
    std::env::vars()
        .filter(|(name, _)| name.starts_with("APP__") || name.starts_with("INNGEST_"))
        .fold(
            ConfigSources::inline().toml(defaults(port)),
            |sources, (name, value)| sources.var(name, value),
        )
}

fn main() -> std::process::ExitCode {
    perf::exit(serve())
}

#[tokio::main]
async fn serve() -> perf::Result<()> {
    let port = perf::port_from_env(3000)?;
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .provide::<Napper>()
        .router(Router::new().route("/health/live", get(|| async { "ok" })));
    let mut app = App::new(root).config_sources(sources(port));
    if std::env::var_os("APP_ENV").is_none() {
        app = app.environment(Environment::Production);
    }
    app.run().await?;
    Ok(())
}
