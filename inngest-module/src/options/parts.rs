//! The parts of [`InngestOptions`](super::InngestOptions): dev mode, the executor choice,
//! the embedded executor, sends, tracing and the companion modules' toggles.

use std::fmt;
use std::time::Duration;

use framework::Secret;
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use url::Url;
use validator::Validate;

/// Dev mode: `INNGEST_DEV=1|true` (dev server at the default URL), `0|false` (cloud), or a
/// URL (dev server there).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum DevMode {
    /// Cloud mode: requests are signed and verified (the default, as in every SDK).
    #[default]
    Off,
    /// Dev mode against the dev server at `http://localhost:8288`.
    On,
    /// Dev mode against the dev server at this URL.
    At(Url),
}

impl DevMode {
    /// `true` unless off.
    pub fn is_dev(&self) -> bool {
        !matches!(self, DevMode::Off)
    }
}

impl<'de> Deserialize<'de> for DevMode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct DevVisitor;
        impl Visitor<'_> for DevVisitor {
            type Value = DevMode;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("true, false, 1, 0 or the dev server's URL")
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<DevMode, E> {
                Ok(if v { DevMode::On } else { DevMode::Off })
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<DevMode, E> {
                match v {
                    0 => Ok(DevMode::Off),
                    1 => Ok(DevMode::On),
                    _ => Err(E::custom(format!(
                        "`{v}` is not a dev mode: use true, false, 1, 0 or a URL"
                    ))),
                }
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<DevMode, E> {
                self.visit_i64(i64::try_from(v).unwrap_or(i64::MAX))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<DevMode, E> {
                match v.trim() {
                    "" | "0" | "false" => Ok(DevMode::Off),
                    "1" | "true" => Ok(DevMode::On),
                    url => Url::parse(url).map(DevMode::At).map_err(|e| {
                        E::custom(format!("`{url}` is not a dev mode: use true, false, 1, 0 or the dev server's URL ({e})"))
                    }),
                }
            }
        }
        deserializer.deserialize_any(DevVisitor)
    }
}

/// Retry policy for [`InngestService::send`](crate::InngestService::send).
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct SendOptions {
    /// Attempts per request, including the first (1–20).
    #[validate(range(min = 1, max = 20))]
    pub max_attempts: u32,
    /// Delay before the first retry; doubles each time, with jitter.
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    /// Largest delay between attempts.
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// Events per request (1–5000; larger sends are split).
    #[validate(range(min = 1, max = 5000))]
    pub batch_size: usize,
}

impl Default for SendOptions {
    fn default() -> Self {
        Self {
            max_attempts: 5,
            initial_backoff: Duration::from_millis(100),
            max_backoff: Duration::from_secs(5),
            batch_size: 5000,
        }
    }
}

/// Which executor drives the functions (`inngest.executor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorKind {
    /// The in-process executor: no Inngest server needed.
    Embedded,
    /// An Inngest server (dev server, self-hosted or Cloud) calls the app.
    Remote,
}

impl ExecutorKind {
    /// `"embedded"` or `"remote"`.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutorKind::Embedded => "embedded",
            ExecutorKind::Remote => "remote",
        }
    }
}

/// Options of the embedded executor (`[inngest.embedded]`).
///
/// ```toml
/// [inngest.embedded]
/// prefix = "/_inngest"                 # Event API, runs API and runs page
/// database = "data/inngest.sqlite3"    # unset: in memory, gone at exit
/// retention = "7d"                     # finished runs and events kept this long
/// # console = true                     # runs page and read APIs (default: not in production)
/// # console_token = "…"                # or APP__INNGEST__EMBEDDED__CONSOLE_TOKEN
/// ```
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct EmbeddedOptions {
    /// Path prefix of the Event API (`{prefix}/e/{key}`), the runs API and the runs page.
    pub prefix: String,
    /// SQLite file holding events, runs, step results and the queue. Unset: in memory.
    pub database: Option<std::path::PathBuf>,
    /// Executions in flight at once (1–4096).
    #[validate(range(min = 1, max = 4096))]
    pub max_parallel: usize,
    /// Delay before the first retry of a failed step or run; doubles per attempt.
    #[serde(with = "humantime_serde")]
    pub retry_backoff: Duration,
    /// Longest delay between retries.
    #[serde(with = "humantime_serde")]
    pub retry_max_backoff: Duration,
    /// Timeout of one execution request (in-process, or to an app driven over HTTP).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Finished runs (with their steps) and events older than this are deleted in the
    /// background; `"0s"` keeps everything.
    #[serde(with = "humantime_serde")]
    pub retention: Duration,
    /// Serve the console: the runs page and the read APIs (`/api/*`, `/v1/*`, `/dev`).
    /// Unset: on in development and test, off in production and staging.
    pub console: Option<bool>,
    /// The console's credential (`Authorization: Bearer <token>`, or the password of HTTP
    /// Basic auth); the hashed signing key is accepted too. Needed in production and
    /// staging; when set in development, the console needs it there too.
    pub console_token: Option<Secret>,
    /// Host names (besides `localhost`, `*.localhost` and IP addresses) that routes no key
    /// guards answer to, e.g. a Docker service name: `["shop"]`.
    pub allowed_hosts: Vec<String>,
    /// Origins of SDK apps, besides loopback ones, that may register with this executor
    /// over HTTP: `["http://worker:3000"]`.
    pub app_origins: Vec<Url>,
    /// Drain before moving to an Inngest server: accept no new events (the Event API and
    /// `InngestService::send` answer 503 naming the server) but those the runs in flight
    /// send with `step.send_event`, fire no crons, and finish the
    /// runs in flight; `GET {prefix}/api/drain` reports progress and the app logs
    /// `embedded executor drained` when none is left (docs/deploy.md).
    pub drain: bool,
}

impl Default for EmbeddedOptions {
    fn default() -> Self {
        Self {
            prefix: "/_inngest".into(),
            database: None,
            max_parallel: 32,
            retry_backoff: Duration::from_secs(1),
            retry_max_backoff: Duration::from_secs(600),
            request_timeout: Duration::from_secs(300),
            retention: Duration::from_secs(7 * 86_400),
            console: None,
            console_token: None,
            allowed_hosts: Vec::new(),
            app_origins: Vec::new(),
            drain: false,
        }
    }
}

#[cfg(feature = "embedded")]
impl EmbeddedOptions {
    /// The executor's options.
    pub(crate) fn to_executor_options(&self) -> inngest_executor::Options {
        inngest_executor::Options {
            prefix: self.prefix.clone(),
            database: self.database.clone(),
            max_parallel: self.max_parallel,
            retry_backoff: self.retry_backoff,
            retry_max_backoff: self.retry_max_backoff,
            request_timeout: self.request_timeout,
            retention: self.retention,
            drain: self.drain,
        }
    }

    /// Who may reach the executor's routes in `env`: the console on unless production-like
    /// (or as set), behind `console_token` and the hashed signing key when one is needed.
    pub(crate) fn to_access(
        &self,
        env: framework::Environment,
        signing_keys: &[&str],
    ) -> inngest_executor::Access {
        let guarded = env.is_production_like() || self.console_token.is_some();
        let console_credentials = if guarded {
            self.console_token
                .iter()
                .map(|token| token.expose().to_string())
                .chain(
                    signing_keys
                        .iter()
                        .map(|key| crate::signature::hashed_key(key)),
                )
                .collect()
        } else {
            Vec::new()
        };
        inngest_executor::Access {
            console_enabled: self.console.unwrap_or(!env.is_production_like()),
            console_credentials,
            allowed_hosts: self.allowed_hosts.clone(),
            app_origins: self.app_origins.clone(),
        }
    }
}

/// `[inngest.tracing]`: spans per run and step, and W3C context carried in events. Takes
/// effect only when `[telemetry] enabled = true`.
///
/// ```toml
/// [inngest.tracing]
/// context_field = "traceContext"     # data.traceContext = {traceparent, tracestate}
/// inject = true                      # write it into sent events
/// executor_traceparent = "parent"    # or "link"
/// ```
#[derive(Debug, Clone, Deserialize, Serialize, Validate)]
#[serde(default)]
pub struct TracingOptions {
    /// Create run and step spans and propagate context (default: yes, when telemetry is on).
    pub enabled: bool,
    /// The event-data field that carries the producer's trace context (default
    /// `traceContext`). Read in both the W3C shape `{traceparent, tracestate}` and the
    /// nestjs-inngest shape `{traceId, spanId, traceFlags}`.
    #[validate(length(min = 1, message = "must not be empty, e.g. \"traceContext\""))]
    pub context_field: String,
    /// Write the current context into events sent by `InngestService::send` and
    /// `step.send_event` (never over a value the event already has). Default: yes.
    pub inject: bool,
    /// What the executor's `traceparent` header becomes for a run whose event carries no
    /// context: `parent` (default: the run joins the executor's trace) or `link` (the run
    /// starts its own trace, linked to the executor's). When the event carries a context,
    /// that is the parent and the header is always a link.
    pub executor_traceparent: ExecutorTraceparent,
}

impl Default for TracingOptions {
    fn default() -> Self {
        Self {
            enabled: true,
            context_field: "traceContext".into(),
            inject: true,
            executor_traceparent: ExecutorTraceparent::Parent,
        }
    }
}

/// See [`TracingOptions::executor_traceparent`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum ExecutorTraceparent {
    /// The executor's context is the run span's parent when the event carries none.
    #[default]
    Parent,
    /// The executor's context is only ever a link.
    Link,
}

/// Whether [`InngestModule`](crate::InngestModule) mounts a companion module.
///
/// ```toml
/// [inngest.health]
/// enabled = true
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, Serialize)]
#[serde(default)]
pub struct MountOption {
    /// Mount the module (default: no).
    pub enabled: bool,
}
