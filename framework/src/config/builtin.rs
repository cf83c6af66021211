//! The framework's own sections: `server`, `log` and `modules`.

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use validator::Validate;

use super::{ConfigSection, Environment, SectionProblems};

/// `[server]`: where and how the HTTP server listens and stops.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct ServerConfig {
    /// Interface to bind (default `127.0.0.1`; `0.0.0.0` in containers).
    #[validate(length(min = 1, message = "must not be empty (e.g. 127.0.0.1 or 0.0.0.0)"))]
    pub host: String,
    /// Port to bind; `0` picks a free port (the bound address is logged).
    #[validate(range(
        max = 65535,
        message = "must be between 0 and 65535 (0 picks a free port)"
    ))]
    pub port: u32,
    /// Prefix for every route, e.g. `/api` (empty for none).
    pub global_prefix: String,
    /// A request that takes longer gets 408 Request Timeout.
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Largest request body body extractors accept, in bytes (larger gets 413). Routes may
    /// set their own limit (`axum::extract::DefaultBodyLimit`).
    #[validate(range(min = 1, message = "must be at least 1 byte"))]
    pub body_limit: usize,
    /// After a shutdown signal: time between turning not-ready and closing the listener,
    /// so load balancers stop sending traffic first (5s suits Kubernetes).
    #[serde(with = "humantime_serde")]
    pub drain_delay: Duration,
    /// How long in-flight requests may take to finish once the listener is closed.
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    /// Upper bound for each lifecycle hook.
    #[serde(with = "humantime_serde")]
    pub hook_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            host: "127.0.0.1".into(),
            port: 3000,
            global_prefix: String::new(),
            request_timeout: Duration::from_secs(30),
            body_limit: 2 * 1024 * 1024,
            drain_delay: Duration::ZERO,
            shutdown_timeout: Duration::from_secs(30),
            hook_timeout: Duration::from_secs(10),
        }
    }
}

impl ConfigSection for ServerConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        if !self.global_prefix.is_empty()
            && (!self.global_prefix.starts_with('/') || self.global_prefix.ends_with('/'))
        {
            problems.add(
                "global_prefix",
                "must start with `/` and not end with one, e.g. `/api`",
            );
        }
        if format!("{}:0", self.host)
            .parse::<std::net::SocketAddr>()
            .is_err()
            && self.host != "localhost"
        {
            problems.add(
                "host",
                "must be an IP address (e.g. 127.0.0.1, 0.0.0.0, ::) or localhost",
            );
        }
        if self.request_timeout.is_zero() {
            problems.add("request_timeout", "must be greater than 0 (e.g. \"30s\")");
        }
        if self.hook_timeout.is_zero() {
            problems.add("hook_timeout", "must be greater than 0 (e.g. \"10s\")");
        }
    }
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    /// One human-readable line per event.
    #[default]
    Text,
    /// Multi-line, coloured, for development.
    Pretty,
    /// One JSON object per line, for log collectors.
    Json,
}

/// `[log]`: the tracing subscriber. `RUST_LOG`, when set, overrides `level`.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct LogConfig {
    /// A `tracing` filter: `info`, or `info,framework=debug`.
    pub level: String,
    /// `text`, `pretty` or `json`.
    pub format: LogFormat,
}

impl Default for LogConfig {
    fn default() -> Self {
        Self {
            level: "info".into(),
            format: LogFormat::Text,
        }
    }
}

impl ConfigSection for LogConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        if let Err(error) = tracing_subscriber::EnvFilter::try_new(&self.level) {
            problems.add(
                "level",
                format!(
                    "is not a valid filter ({error}); e.g. \"info\" or \"info,framework=debug\""
                ),
            );
        }
    }
}

/// One entry of `[modules.<name>]`.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub(crate) struct ModuleToggle {
    pub(crate) enabled: bool,
}

impl Default for ModuleToggle {
    fn default() -> Self {
        Self { enabled: true }
    }
}

/// `[modules]`: `modules.<name>.enabled = false` switches a module off.
pub(crate) type ModuleToggles = BTreeMap<String, ModuleToggle>;
