//! [`InngestOptions`]: the `inngest` config section, the `INNGEST_*` variables, validation
//! per environment, and the resolved URLs and mode.
//!
//! Precedence, highest first: `APP__INNGEST__…` variables, `config/local.toml`,
//! `config/{APP_ENV}.toml`, `config/default.toml`, then the `INNGEST_*` variables every
//! Inngest SDK honours, then defaults.

use std::sync::LazyLock;
use std::time::Duration;

use framework::{ConfigSection, Environment, Secret, SectionProblems};
use serde::Deserialize;
use url::Url;
use validator::Validate;

mod checkpointing;
mod env;
mod parts;
mod problems;

pub use checkpointing::Checkpointing;
pub use env::EnvFallbackError;
pub use parts::{
    DevMode, EmbeddedOptions, ExecutorKind, ExecutorTraceparent, MountOption, SendOptions,
    TracingOptions,
};
pub use problems::is_slug;

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
    /// Checkpointing, for every function that does not set its own (on by default).
    #[validate(nested)]
    pub checkpointing: Checkpointing,
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
            checkpointing: Checkpointing::default(),
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
}

impl ConfigSection for InngestOptions {
    fn check(&self, env: Environment, problems: &mut SectionProblems) {
        for (field, message) in self.problems(env) {
            problems.add(field, message);
        }
    }
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
