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
    /// A new connection must deliver its first complete request head within this, or it
    /// is closed (slow or silent clients cannot hold a connection open).
    #[serde(with = "humantime_serde")]
    pub header_read_timeout: Duration,
    /// A connection with no request in flight is closed after this long: the keep-alive
    /// idle limit, and the time allowed for each later request head. Keep it above the
    /// idle timeout of a load balancer in front (AWS ALB: 60s).
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    /// Connections served at once. When all are taken, new connections wait in the
    /// kernel's accept queue until one closes. Lowered at start-up, with a warning, to
    /// what the process's open-file limit allows.
    #[validate(range(min = 1, message = "must be at least 1 (e.g. 4096)"))]
    pub max_connections: usize,
    /// Peers (addresses or CIDR ranges, e.g. `"10.0.0.0/8"`) whose `X-Forwarded-Proto` and
    /// `X-Forwarded-Host` headers are believed. Empty (the default): forwarded headers are
    /// ignored, whoever sends them.
    pub trusted_proxies: Vec<TrustedProxy>,
    /// `[server.cors]`: which other origins browsers may call the app from (off).
    #[validate(nested)]
    pub cors: CorsConfig,
    /// `[server.compression]`: gzip response bodies for clients that accept it (off).
    pub compression: CompressionConfig,
}

/// `[server.cors]`: Cross-Origin Resource Sharing, for a browser app on another origin
/// calling this API. Off by default: browsers then refuse cross-origin reads.
///
/// ```toml
/// [server.cors]
/// enabled = true
/// allowed_origins = ["https://app.example.com"]   # or ["*"]: any origin, no credentials
/// allowed_methods = ["GET", "POST"]               # default: GET, POST, PUT, PATCH, DELETE
/// allowed_headers = ["content-type", "authorization"]
/// allow_credentials = false                       # cookies / Authorization from browsers
/// max_age = "1h"                                  # how long browsers cache a preflight
/// ```
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(default)]
pub struct CorsConfig {
    /// Answer CORS requests and preflights.
    pub enabled: bool,
    /// Origins allowed (`scheme://host[:port]`), or `["*"]` for any.
    pub allowed_origins: Vec<String>,
    /// Methods allowed.
    pub allowed_methods: Vec<String>,
    /// Request headers allowed.
    pub allowed_headers: Vec<String>,
    /// Let browsers send credentials (never with `"*"`).
    pub allow_credentials: bool,
    /// How long browsers may cache a preflight answer.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
}

impl Default for CorsConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            allowed_origins: Vec::new(),
            allowed_methods: ["GET", "POST", "PUT", "PATCH", "DELETE"]
                .map(String::from)
                .to_vec(),
            allowed_headers: ["content-type", "authorization"].map(String::from).to_vec(),
            allow_credentials: false,
            max_age: Duration::from_secs(3600),
        }
    }
}

/// `[server.compression]`: gzip response bodies larger than `min_size` bytes for clients
/// that send `Accept-Encoding: gzip` (feature `compression`). Off by default.
#[derive(Debug, Clone, Deserialize)]
#[serde(default)]
pub struct CompressionConfig {
    /// Compress responses.
    pub enabled: bool,
    /// Smaller bodies are sent as they are.
    pub min_size: u16,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        Self {
            enabled: false,
            min_size: 1024,
        }
    }
}

impl CorsConfig {
    /// What is wrong with these settings, as `(key, message)` under `cors`.
    fn problems(&self) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        if !self.enabled {
            return problems;
        }
        let mut add = |key: &str, message: String| problems.push((format!("cors.{key}"), message));
        if self.allowed_origins.is_empty() {
            add(
                "allowed_origins",
                "is empty: list the origins browsers may call from, e.g. [\"https://app.example.com\"], or set enabled = false".into(),
            );
        }
        let any = self.allowed_origins.iter().any(|origin| origin == "*");
        if any && self.allowed_origins.len() > 1 {
            add(
                "allowed_origins",
                "`*` allows every origin: give it alone, or list origins without it".into(),
            );
        }
        if any && self.allow_credentials {
            add(
                "allow_credentials",
                "cannot be true with allowed_origins = [\"*\"] (browsers refuse it, and it would let any site act as the user): list the origins".into(),
            );
        }
        for origin in self.allowed_origins.iter().filter(|origin| *origin != "*") {
            let valid = url::Url::parse(origin).is_ok_and(|url| {
                matches!(url.scheme(), "http" | "https")
                    && url.host().is_some()
                    && url.path() == "/"
                    && !origin.ends_with('/')
                    && url.query().is_none()
            });
            if !valid {
                add(
                    "allowed_origins",
                    format!(
                        "`{origin}` is not an origin: write scheme://host[:port], e.g. \"https://app.example.com\" (no path, no trailing slash)"
                    ),
                );
            }
        }
        for method in &self.allowed_methods {
            if http::Method::from_bytes(method.as_bytes()).is_err() {
                add(
                    "allowed_methods",
                    format!("`{method}` is not an HTTP method"),
                );
            }
        }
        for header in &self.allowed_headers {
            if http::HeaderName::from_bytes(header.as_bytes()).is_err() {
                add(
                    "allowed_headers",
                    format!("`{header}` is not a header name"),
                );
            }
        }
        problems
    }
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
            header_read_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(75),
            max_connections: 4096,
            trusted_proxies: Vec::new(),
            cors: CorsConfig::default(),
            compression: CompressionConfig::default(),
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
        if self.host.parse::<std::net::IpAddr>().is_err() && self.host != "localhost" {
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
        if self.header_read_timeout.is_zero() {
            problems.add(
                "header_read_timeout",
                "must be greater than 0 (e.g. \"10s\")",
            );
        }
        if self.idle_timeout.is_zero() {
            problems.add("idle_timeout", "must be greater than 0 (e.g. \"75s\")");
        }
        for (key, message) in self.cors.problems() {
            problems.add(&key, message);
        }
        if self.compression.enabled && cfg!(not(feature = "compression")) {
            problems.add(
                "compression.enabled",
                "this build has no compression: turn on the feature `compression` of `framework` (on by default), or set it to false",
            );
        }
    }
}

/// One entry of `server.trusted_proxies`: an IP address (`"10.1.2.3"`) or a CIDR range
/// (`"10.0.0.0/8"`, `"fd00::/8"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy(pub ipnet::IpNet);

impl TrustedProxy {
    /// Whether `address` is in this range.
    pub fn contains(&self, address: &std::net::IpAddr) -> bool {
        self.0.contains(address)
    }
}

impl std::str::FromStr for TrustedProxy {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        text.parse::<ipnet::IpNet>()
            .or_else(|_| text.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
            .map(TrustedProxy)
            .map_err(|_| {
                format!("`{text}` is not an IP address or CIDR range, e.g. \"10.0.0.0/8\" or \"192.168.1.10\"")
            })
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
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
