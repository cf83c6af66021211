//! The tracing subscriber, from the `log` section (`RUST_LOG` overrides the level), with
//! the OpenTelemetry layer when `[telemetry] enabled = true`.

use tracing_subscriber::filter::LevelFilter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::config::{LogConfig, LogFormat};
use crate::telemetry::TelemetryGuard;

/// Installs the global subscriber once; later calls (e.g. several apps in one test
/// process) keep the first. With `telemetry`, `INFO` and more severe spans also go to
/// OpenTelemetry (the log filter does not apply to them).
pub fn init(config: &LogConfig, telemetry: Option<&TelemetryGuard>) {
    let filter = std::env::var("RUST_LOG")
        .ok()
        .and_then(|v| EnvFilter::try_new(v).ok())
        .or_else(|| EnvFilter::try_new(&config.level).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let fmt = tracing_subscriber::fmt::layer().with_ansi(ansi);
    let fmt = match config.format {
        LogFormat::Text => fmt.boxed(),
        LogFormat::Pretty => fmt.pretty().boxed(),
        LogFormat::Json => fmt.json().boxed(),
    };
    let otel = telemetry.map(|guard| guard.layer().with_filter(LevelFilter::INFO));
    let exporting = otel.is_some();
    // `try_init` fails only when a subscriber is already installed; keep that one.
    let installed = tracing_subscriber::registry()
        .with(fmt.with_filter(filter))
        .with(otel)
        .try_init();
    if installed.is_err() && exporting {
        tracing::warn!(
            "[telemetry] is enabled but a tracing subscriber was already installed, so no span is exported: \
             add `framework::telemetry::layer(&provider)` to your own subscriber, or let the framework install it"
        );
    }
}
