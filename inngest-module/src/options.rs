//! [`InngestOptions`]: the `inngest` config section, the `INNGEST_*` variables, validation
//! per environment, and the resolved URLs and mode.
//!
//! Precedence, highest first: `APP__INNGEST__…` variables, `config/local.toml`,
//! `config/{APP_ENV}.toml`, `config/default.toml`, then the `INNGEST_*` variables every
//! Inngest SDK honours, then defaults.

use std::fmt;
use std::sync::LazyLock;
use std::time::Duration;

use framework::{ConfigSection, Environment, Secret, SectionProblems};
use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};
use url::Url;
use validator::Validate;

use crate::signature::is_well_formed_key;

/// The `INNGEST_*` variables read into the `inngest` section, below every explicit layer.
pub const ENV_ALIASES: [(&str, &str); 13] = [
    ("INNGEST_EVENT_KEY", "inngest.event_key"),
    ("INNGEST_SIGNING_KEY", "inngest.signing_key"),
    (
        "INNGEST_SIGNING_KEY_FALLBACK",
        "inngest.signing_key_fallback",
    ),
    ("INNGEST_ENV", "inngest.environment"),
    ("INNGEST_DEV", "inngest.dev"),
    ("INNGEST_BASE_URL", "inngest.base_url"),
    ("INNGEST_API_BASE_URL", "inngest.api_base_url"),
    ("INNGEST_EVENT_API_BASE_URL", "inngest.event_api_base_url"),
    ("INNGEST_SERVE_ORIGIN", "inngest.serve_origin"),
    ("INNGEST_SERVE_PATH", "inngest.serve_path"),
    ("INNGEST_SERVE_HOST", "inngest.serve_host"),
    ("INNGEST_SERVE_PORT", "inngest.serve_port"),
    ("INNGEST_ALLOW_IN_BAND_SYNC", "inngest.allow_in_band_sync"),
];

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
        }
    }

    /// Who may reach the executor's routes in `env`: the console on unless production-like
    /// (or as set), behind `console_token` and the hashed signing key when one is needed.
    pub(crate) fn to_access(
        &self,
        env: Environment,
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

/// Options of the Inngest module: the `[inngest]` config section.
///
/// ```toml
/// [inngest]
/// app_id = "shop"
/// dev = true                  # or INNGEST_DEV=1
/// # signing_key = "signkey-prod-…"   (or INNGEST_SIGNING_KEY)
/// ```
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct InngestOptions {
    /// The app id: a slug (`shop`, `billing-api`); function ids are `<app_id>-<fn_id>`.
    pub app_id: String,
    /// The app version reported on sync.
    pub app_version: Option<String>,
    /// The Inngest environment (branch) name, sent as `X-Inngest-Env` (`INNGEST_ENV`).
    pub environment: Option<String>,
    /// Dev mode (`INNGEST_DEV`).
    pub dev: DevMode,
    /// Key for sending events (`INNGEST_EVENT_KEY`).
    pub event_key: Option<Secret>,
    /// Key that signs requests (`INNGEST_SIGNING_KEY`), `signkey-<env>-<hex>`.
    pub signing_key: Option<Secret>,
    /// Key accepted while rotating (`INNGEST_SIGNING_KEY_FALLBACK`).
    pub signing_key_fallback: Option<Secret>,
    /// Sets both the API and the Event API base (`INNGEST_BASE_URL`).
    pub base_url: Option<Url>,
    /// The API base (`INNGEST_API_BASE_URL`); wins over `base_url`.
    pub api_base_url: Option<Url>,
    /// The Event API base (`INNGEST_EVENT_API_BASE_URL`); wins over `base_url`.
    pub event_api_base_url: Option<Url>,
    /// The path functions are served on (`INNGEST_SERVE_PATH`).
    pub serve_path: String,
    /// The public origin registered with the server (`INNGEST_SERVE_ORIGIN`), when it differs
    /// from the request's `Host` (proxies, containers).
    pub serve_origin: Option<Url>,
    /// The public host name registered with the server (`INNGEST_SERVE_HOST`), replacing
    /// only the host of the request's URL (scheme and port are kept). `serve_origin` wins.
    pub serve_host: Option<String>,
    /// The public port registered with the server (`INNGEST_SERVE_PORT`), replacing only the
    /// port of the request's URL. `serve_origin` wins.
    pub serve_port: Option<u16>,
    /// Verify request signatures. Only dev and test may turn this off.
    pub verify_signatures: bool,
    /// Accept in-band sync (`INNGEST_ALLOW_IN_BAND_SYNC`).
    pub allow_in_band_sync: bool,
    /// Largest execution request body, in bytes (1 KiB – 64 MiB); larger gets 413.
    #[validate(range(min = 1024, max = 67_108_864))]
    pub body_limit: usize,
    /// Timeout of each outgoing request (register, event sends, API reads).
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Retry policy for event sends.
    #[validate(nested)]
    pub send: SendOptions,
    /// `embedded` or `remote`; unset: embedded in development and test when no Inngest
    /// server is configured, remote otherwise. See [`InngestOptions::executor_choice`].
    pub executor: Option<ExecutorKind>,
    /// The embedded executor's options.
    #[validate(nested)]
    pub embedded: EmbeddedOptions,
    /// Trace propagation (active when `[telemetry] enabled = true`).
    #[validate(nested)]
    pub tracing: TracingOptions,
    /// `[inngest.health] enabled = true` mounts the health module (its own settings are
    /// in `[health]`); the Inngest indicator is served at `/health/inngest`.
    pub health: MountOption,
    /// `[inngest.monitoring] enabled = true` mounts the monitoring module (its own
    /// settings are in `[monitoring]`) and records the `inngest_*` metrics.
    pub monitoring: MountOption,
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

impl Default for InngestOptions {
    fn default() -> Self {
        Self {
            app_id: String::new(),
            app_version: None,
            environment: None,
            dev: DevMode::Off,
            event_key: None,
            signing_key: None,
            signing_key_fallback: None,
            base_url: None,
            api_base_url: None,
            event_api_base_url: None,
            serve_path: "/api/inngest".into(),
            serve_origin: None,
            serve_host: None,
            serve_port: None,
            verify_signatures: true,
            allow_in_band_sync: true,
            body_limit: 4 * 1024 * 1024,
            request_timeout: Duration::from_secs(10),
            send: SendOptions::default(),
            executor: None,
            embedded: EmbeddedOptions::default(),
            tracing: TracingOptions::default(),
            health: MountOption::default(),
            monitoring: MountOption::default(),
        }
    }
}

/// Parses a constant URL. Provably safe: the three callers pass literals that parse.
#[allow(clippy::expect_used)]
fn constant_url(text: &str) -> Url {
    Url::parse(text).expect("constant URL")
}

static DEV_SERVER: LazyLock<Url> = LazyLock::new(|| constant_url("http://localhost:8288/"));
static CLOUD_API: LazyLock<Url> = LazyLock::new(|| constant_url("https://api.inngest.com/"));
static CLOUD_EVENTS: LazyLock<Url> = LazyLock::new(|| constant_url("https://inn.gs/"));

impl InngestOptions {
    /// Options for an app id, everything else default.
    pub fn new(app_id: impl Into<String>) -> Self {
        Self {
            app_id: app_id.into(),
            ..Self::default()
        }
    }

    /// Dev mode on (no signatures; dev server at the default URL).
    pub fn dev(mut self) -> Self {
        self.dev = DevMode::On;
        self
    }

    /// Sets the signing key.
    pub fn signing_key(mut self, key: impl Into<String>) -> Self {
        self.signing_key = Some(Secret::new(key));
        self
    }

    /// Sets the event key.
    pub fn event_key(mut self, key: impl Into<String>) -> Self {
        self.event_key = Some(Secret::new(key));
        self
    }

    /// Sets both base URLs.
    pub fn base_url(mut self, url: Url) -> Self {
        self.base_url = Some(url);
        self
    }

    /// Fills every unset option from the `INNGEST_*` variables (explicit values win), the way
    /// [`InngestModule::for_root`](crate::InngestModule::for_root) does.
    pub fn with_env_fallbacks(mut self) -> Result<Self, EnvFallbackError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let url = |name: &'static str| -> Result<Option<Url>, EnvFallbackError> {
            var(name)
                .map(|value| {
                    Url::parse(&value).map_err(|source| EnvFallbackError::NotAUrl {
                        variable: name,
                        value,
                        source,
                    })
                })
                .transpose()
        };
        self.event_key = self
            .event_key
            .or_else(|| var("INNGEST_EVENT_KEY").map(Secret::new));
        self.signing_key = self
            .signing_key
            .or_else(|| var("INNGEST_SIGNING_KEY").map(Secret::new));
        self.signing_key_fallback = self
            .signing_key_fallback
            .or_else(|| var("INNGEST_SIGNING_KEY_FALLBACK").map(Secret::new));
        self.environment = self.environment.or_else(|| var("INNGEST_ENV"));
        if self.dev == DevMode::Off
            && let Some(value) = var("INNGEST_DEV")
        {
            self.dev = DevMode::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new(&value))
            .map_err(|source| EnvFallbackError::Dev { source })?;
        }
        if self.base_url.is_none() {
            self.base_url = url("INNGEST_BASE_URL")?;
        }
        if self.api_base_url.is_none() {
            self.api_base_url = url("INNGEST_API_BASE_URL")?;
        }
        if self.event_api_base_url.is_none() {
            self.event_api_base_url = url("INNGEST_EVENT_API_BASE_URL")?;
        }
        if self.serve_origin.is_none() {
            self.serve_origin = url("INNGEST_SERVE_ORIGIN")?;
        }
        if let Some(path) = var("INNGEST_SERVE_PATH")
            && self.serve_path == "/api/inngest"
        {
            self.serve_path = path;
        }
        if self.serve_host.is_none() {
            self.serve_host = var("INNGEST_SERVE_HOST");
        }
        if self.serve_port.is_none()
            && let Some(port) = var("INNGEST_SERVE_PORT")
        {
            self.serve_port = Some(
                port.parse()
                    .map_err(|_| EnvFallbackError::NotAPort { value: port })?,
            );
        }
        Ok(self)
    }

    /// `true` in dev mode.
    pub fn is_dev(&self) -> bool {
        self.dev.is_dev()
    }

    fn dev_origin(&self) -> Option<Url> {
        match &self.dev {
            DevMode::Off => None,
            DevMode::On => Some(DEV_SERVER.clone()),
            DevMode::At(url) => Some(url.clone()),
        }
    }

    /// Where the SDK registers and reads run data: `api_base_url`, else `base_url`, else the
    /// dev server (dev mode), else Inngest Cloud.
    pub fn api_origin(&self) -> Url {
        self.api_base_url
            .clone()
            .or_else(|| self.base_url.clone())
            .or_else(|| self.dev_origin())
            .unwrap_or_else(|| CLOUD_API.clone())
    }

    /// Where events are sent: `event_api_base_url`, else `base_url`, else the dev server
    /// (dev mode), else Inngest Cloud.
    pub fn event_api_origin(&self) -> Url {
        self.event_api_base_url
            .clone()
            .or_else(|| self.base_url.clone())
            .or_else(|| self.dev_origin())
            .unwrap_or_else(|| CLOUD_EVENTS.clone())
    }

    /// The signing keys to try, in order.
    pub(crate) fn signing_keys(&self) -> Vec<&str> {
        [&self.signing_key, &self.signing_key_fallback]
            .into_iter()
            .flatten()
            .filter(|key| !key.is_blank())
            .map(Secret::expose)
            .collect()
    }

    /// Which executor runs the functions in `env`, and why.
    ///
    /// An explicit `executor` wins. Otherwise development and test use the embedded one
    /// unless an Inngest server is configured (`dev`/`INNGEST_DEV`, `base_url`,
    /// `api_base_url`, `event_api_base_url`); production and staging use a remote server.
    pub fn executor_choice(&self, env: Environment) -> (ExecutorKind, &'static str) {
        if let Some(kind) = self.executor {
            return (kind, "set by inngest.executor");
        }
        if env.is_production_like() {
            return (
                ExecutorKind::Remote,
                "production and staging use an Inngest server unless inngest.executor = \"embedded\"",
            );
        }
        let server_configured = self.is_dev()
            || self.base_url.is_some()
            || self.api_base_url.is_some()
            || self.event_api_base_url.is_some();
        if server_configured {
            (
                ExecutorKind::Remote,
                "an Inngest server is configured (dev mode or a base URL)",
            )
        } else {
            (
                ExecutorKind::Embedded,
                "no Inngest server is configured (no INNGEST_DEV, no base URL)",
            )
        }
    }

    /// Every problem with these options in `env`, as `(field, message)` pairs.
    pub fn problems(&self, env: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.health.enabled && cfg!(not(feature = "health")) {
            problems.push((
                "health.enabled",
                "this build has no health module: turn on the feature `health` of `inngest-module` (on by default), or set it to false".to_string(),
            ));
        }
        if self.monitoring.enabled && cfg!(not(feature = "monitoring")) {
            problems.push((
                "monitoring.enabled",
                "this build has no monitoring module: turn on the feature `monitoring` of `inngest-module` (on by default), or set it to false".to_string(),
            ));
        }
        // The HTTP client is built on first use; a wrong private-CA file is reported now.
        #[cfg(feature = "tls")]
        if let Err(error) = crate::protocol::client::cert_file_roots() {
            problems.push(("tls", error.to_string()));
        }
        if self.app_id.trim().is_empty() {
            problems.push((
                "app_id",
                "is required: set it to your app's id, e.g. app_id = \"shop\"".to_string(),
            ));
        } else if !is_slug(&self.app_id) {
            problems.push((
                "app_id",
                format!("`{}` is not a slug: use lowercase letters, digits and single hyphens, e.g. \"shop-api\"", self.app_id),
            ));
        }
        if let Some(host) = &self.serve_host
            && (host.is_empty()
                || url::Host::parse(host).is_err()
                || host.contains(['/', ':', '@']))
        {
            problems.push((
                "serve_host",
                format!("`{host}` is not a host name: give only the host, e.g. \"shop.example.com\" (use serve_origin for a scheme or port)"),
            ));
        }
        if self.serve_port == Some(0) {
            problems.push(("serve_port", "must be between 1 and 65535".to_string()));
        }
        if !self.serve_path.starts_with('/') {
            problems.push((
                "serve_path",
                format!(
                    "`{}` must start with `/`, e.g. \"/api/inngest\"",
                    self.serve_path
                ),
            ));
        }
        for (field, key) in [
            ("signing_key", &self.signing_key),
            ("signing_key_fallback", &self.signing_key_fallback),
        ] {
            if let Some(key) = key
                && !is_well_formed_key(key.expose())
            {
                problems.push((field, "is not a signing key: expected `signkey-<env>-<hex>` as shown in the Inngest dashboard (value not shown)".to_string()));
            }
        }
        if self.signing_key_fallback.is_some() && self.signing_key.is_none() {
            problems.push((
                "signing_key_fallback",
                "is set without signing_key: set INNGEST_SIGNING_KEY too".to_string(),
            ));
        }
        if self.event_key.as_ref().is_some_and(Secret::is_blank) {
            problems.push((
                "event_key",
                "is empty: remove it or set INNGEST_EVENT_KEY".to_string(),
            ));
        }
        if self.request_timeout.is_zero() {
            problems.push((
                "request_timeout",
                "must be more than 0, e.g. \"10s\"".to_string(),
            ));
        }
        if !self.embedded.prefix.starts_with('/') || self.embedded.prefix.ends_with('/') {
            problems.push((
                "embedded.prefix",
                format!(
                    "`{}` must start with `/` and not end with one, e.g. \"/_inngest\"",
                    self.embedded.prefix
                ),
            ));
        }
        if self.embedded.request_timeout.is_zero() {
            problems.push((
                "embedded.request_timeout",
                "must be more than 0, e.g. \"5m\"".to_string(),
            ));
        }
        if !self.embedded.retention.is_zero() && self.embedded.retention < Duration::from_secs(60) {
            problems.push((
                "embedded.retention",
                "must be at least 1m (or \"0s\" to keep everything)".to_string(),
            ));
        }
        #[cfg(not(feature = "embedded"))]
        if self.executor_choice(env).0 == ExecutorKind::Embedded {
            problems.push((
                "executor",
                format!("the embedded executor is chosen ({}), but inngest-module was built without its `embedded` feature: enable the feature, or configure an Inngest server (INNGEST_DEV=1, INNGEST_BASE_URL)", self.executor_choice(env).1),
            ));
        }
        if self.embedded.retry_backoff > self.embedded.retry_max_backoff {
            problems.push((
                "embedded.retry_backoff",
                "must not exceed embedded.retry_max_backoff".to_string(),
            ));
        }
        if self.send.initial_backoff > self.send.max_backoff {
            problems.push((
                "send.initial_backoff",
                "must not exceed send.max_backoff".to_string(),
            ));
        }
        if env.is_production_like() {
            if self.signing_key.is_none() {
                problems.push((
                    "signing_key",
                    format!("is required in {env}: set INNGEST_SIGNING_KEY"),
                ));
            }
            if self.event_key.is_none() {
                problems.push((
                    "event_key",
                    format!("is required in {env}: set INNGEST_EVENT_KEY"),
                ));
            }
            if self.is_dev() {
                problems.push((
                    "dev",
                    format!("dev mode is not allowed in {env}: unset INNGEST_DEV or set it to 0"),
                ));
            }
            if !self.verify_signatures {
                problems.push((
                    "verify_signatures",
                    format!("cannot be turned off in {env}"),
                ));
            }
            if self.executor_choice(env).0 == ExecutorKind::Remote && self.serve_origin.is_none() {
                problems.push((
                    "serve_origin",
                    format!("is required in {env}: set INNGEST_SERVE_ORIGIN to the public URL the Inngest server calls, e.g. https://shop.example.com (in {env} the URL registered is never taken from a request's Host header)"),
                ));
            }
            if self.executor == Some(ExecutorKind::Embedded) && self.embedded.database.is_none() {
                problems.push((
                    "embedded.database",
                    format!("is required for the embedded executor in {env}: runs must survive a restart, e.g. database = \"/var/lib/app/inngest.sqlite3\""),
                ));
            }
        } else if self.executor_choice(env).0 == ExecutorKind::Remote
            && !self.is_dev()
            && self.verify_signatures
            && self.signing_key.is_none()
        {
            problems.push((
                "signing_key",
                format!("is required in cloud mode: set INNGEST_SIGNING_KEY, or INNGEST_DEV=1 to use the dev server in {env}"),
            ));
        }
        problems
    }
}

/// `true` for `a-z0-9` words joined by single hyphens.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}

impl ConfigSection for InngestOptions {
    fn check(&self, env: Environment, problems: &mut SectionProblems) {
        for (field, message) in self.problems(env) {
            problems.add(field, message);
        }
    }
}

/// An `INNGEST_*` variable that [`InngestOptions::with_env_fallbacks`] cannot use.
#[derive(Debug, thiserror::Error)]
pub enum EnvFallbackError {
    /// A URL variable (`INNGEST_BASE_URL`, `INNGEST_SERVE_ORIGIN`, …) is not a URL.
    #[error("{variable}=`{value}` is not a URL: {source}")]
    NotAUrl {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why it is not a URL.
        #[source]
        source: url::ParseError,
    },
    /// `INNGEST_DEV` is neither a boolean nor a URL.
    #[error("INNGEST_DEV: {source}")]
    Dev {
        /// Why it was refused.
        #[source]
        source: serde::de::value::Error,
    },
    /// `INNGEST_SERVE_PORT` is not a port number.
    #[error("INNGEST_SERVE_PORT: `{value}` is not a port number (1-65535)")]
    NotAPort {
        /// Its value.
        value: String,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str =
        "signkey-prod-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

    #[test]
    fn production_lists_every_problem() {
        let mut options = InngestOptions::new("Shop App");
        options.dev = DevMode::On;
        options.verify_signatures = false;
        options.serve_path = "api".into();
        let fields: Vec<_> = options
            .problems(Environment::Production)
            .into_iter()
            .map(|(f, _)| f)
            .collect();
        assert_eq!(
            fields,
            [
                "app_id",
                "serve_path",
                "signing_key",
                "event_key",
                "dev",
                "verify_signatures",
                "serve_origin"
            ]
        );
    }

    #[test]
    fn companions_left_out_of_the_build_are_refused() {
        let mut options = InngestOptions::new("shop").dev();
        options.health.enabled = true;
        options.monitoring.enabled = true;
        let problems = options.problems(Environment::Development);
        let refused = |field: &str| problems.iter().find(|(f, _)| *f == field);
        // `scripts/test` runs this with and without the default features.
        assert_eq!(
            refused("health.enabled").is_some(),
            cfg!(not(feature = "health"))
        );
        assert_eq!(
            refused("monitoring.enabled").is_some(),
            cfg!(not(feature = "monitoring"))
        );
        if let Some((_, message)) = refused("health.enabled") {
            assert!(
                message.contains("feature `health` of `inngest-module`"),
                "{message}"
            );
        }
    }

    #[test]
    fn valid_production_options_pass() {
        let mut options = InngestOptions::new("shop")
            .signing_key(KEY)
            .event_key("evt");
        options.serve_origin = Url::parse("https://shop.example.com").ok();
        assert!(options.problems(Environment::Production).is_empty());
        assert!(
            InngestOptions::new("shop")
                .dev()
                .problems(Environment::Development)
                .is_empty()
        );
    }

    #[test]
    fn malformed_keys_are_reported_without_their_value() {
        let mut options = InngestOptions::new("shop")
            .signing_key("not-a-key-secret")
            .event_key("e");
        options.serve_origin = Url::parse("https://shop.example.com").ok();
        let problems = options.problems(Environment::Production);
        assert_eq!(problems.len(), 1);
        assert!(!problems[0].1.contains("not-a-key-secret"));
    }

    #[test]
    fn urls_resolve_with_the_documented_precedence() {
        let mut options = InngestOptions::new("shop");
        assert_eq!(options.api_origin().as_str(), "https://api.inngest.com/");
        assert_eq!(options.event_api_origin().as_str(), "https://inn.gs/");
        options.dev = DevMode::On;
        assert_eq!(options.api_origin().as_str(), "http://localhost:8288/");
        options.base_url = Url::parse("http://10.0.0.1:9000").ok();
        assert_eq!(options.event_api_origin().as_str(), "http://10.0.0.1:9000/");
        options.event_api_base_url = Url::parse("http://events:1").ok();
        assert_eq!(options.event_api_origin().as_str(), "http://events:1/");
        assert_eq!(options.api_origin().as_str(), "http://10.0.0.1:9000/");
    }

    #[test]
    fn slugs() {
        assert!(is_slug("shop") && is_slug("shop-api-2"));
        assert!(
            !is_slug("")
                && !is_slug("Shop")
                && !is_slug("a--b")
                && !is_slug("-a")
                && !is_slug("a_b")
        );
    }
}
