//! Shared pieces of the `perf` tools (see `scripts/load-test`):
//!
//! | Binary | What it is |
//! |---|---|
//! | `floor` | the bare-axum baseline: parse the JSON body, verify one signature, answer a Sleep op |
//! | `minimal` | a minimal app on the framework and `inngest-module`, answering the same op |
//! | `loadgen` | an HTTP/1.1 keep-alive load generator |
//! | `startup` | cold start: exec → first `200`, over several runs |
//!
//! `requests/shop-process-order.json` is the execution request they are measured with: the
//! shop's `process-order` with its first step (`reserve-stock`) memoized, as the Inngest
//! server sends it (JCS), so the next op is the `cool-off` Sleep.

pub mod args;
pub mod stats;
pub mod target;

/// What the tools' `main`s return on failure.
pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// A result with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

/// The step id of the op every server answers with (the shop's `cool-off`).
pub const SLEEP_STEP: &str = "cool-off";

/// The sleep duration of that op, as it travels (`name` of the Sleep op).
pub const SLEEP_DURATION: &str = "1m";

/// Ends a tool's `main`: prints the error (its `Display`, not its `Debug`) and fails.
pub fn exit(result: Result<()>) -> std::process::ExitCode {
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it), for signatures.
pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

/// The TCP port from the `PORT` variable, or `default` when it is unset.
pub fn port_from_env(default: u16) -> Result<u16> {
    match std::env::var("PORT") {
        Ok(text) => text
            .parse()
            .map_err(|e| format!("PORT={text:?} is not a port: {e}").into()),
        Err(_) => Ok(default),
    }
}
