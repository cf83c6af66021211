//! What the executor runs with.

use std::path::PathBuf;
use std::time::Duration;

use crate::clock::Clock;

/// The executor's options. `inngest-module` fills them from `[inngest.embedded]`.
#[derive(Debug, Clone)]
pub struct Options {
    /// Path prefix of the Event API (`{prefix}/e/{key}`), the runs API and the runs page.
    pub prefix: String,
    /// SQLite file holding events, runs, step results and the queue. `None`: in memory.
    pub database: Option<PathBuf>,
    /// Executions in flight at once.
    pub max_parallel: usize,
    /// Delay before the first retry of a failed step or run; doubles per attempt.
    pub retry_backoff: Duration,
    /// Longest delay between retries.
    pub retry_max_backoff: Duration,
    /// Timeout of one execution request (in-process or over HTTP).
    pub request_timeout: Duration,
    /// Finished runs, their steps and events older than this are deleted; zero keeps
    /// everything.
    pub retention: Duration,
    /// Drain: accept no new events and fire no crons, and finish the runs in flight (see
    /// [`DrainStatus`](crate::DrainStatus)), before the app moves to an Inngest server.
    pub drain: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            prefix: "/_inngest".into(),
            database: None,
            max_parallel: 32,
            retry_backoff: Duration::from_secs(1),
            retry_max_backoff: Duration::from_secs(600),
            request_timeout: Duration::from_secs(300),
            retention: Duration::from_secs(7 * 86_400),
            drain: false,
        }
    }
}

/// Options plus the keys, who may reach the HTTP surface, and the clock.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The options.
    pub options: Options,
    /// Signs execution requests when set (and is required on `/fn/register`).
    pub signing_key: Option<String>,
    /// Required on the Event API when set.
    pub event_key: Option<String>,
    /// Who may reach the console and register apps.
    pub access: Access,
    /// Where the executor reads the time.
    pub clock: Clock,
}

/// Who may reach the executor's HTTP surface (see `docs/SECURITY.md`).
///
/// The *console* is the runs page and every read API (`/api/*`, `/v1/*`, `/dev`). The
/// Event API is guarded by the event key and `/fn/register` by the signing key, when they
/// are set. Whatever no credential guards answers only to a loopback name, an IP address or
/// one of [`allowed_hosts`](Self::allowed_hosts) in the `Host` header, so a web page cannot
/// reach it through DNS rebinding.
#[derive(Debug, Clone)]
pub struct Access {
    /// Serve the console; off, its routes answer 404.
    pub console_enabled: bool,
    /// Credentials that open the console, sent as `Authorization: Bearer <credential>` or
    /// as the password of HTTP Basic auth. Empty: the console needs none.
    pub console_credentials: Vec<String>,
    /// Host names, besides loopback names and IP addresses, that unguarded routes answer to
    /// (e.g. a Docker service name).
    pub allowed_hosts: Vec<String>,
    /// Origins (`scheme://host[:port]`) of SDK apps that may register, besides loopback ones.
    pub app_origins: Vec<url::Url>,
}

impl Default for Access {
    /// The console on with no credential; apps only from loopback.
    fn default() -> Self {
        Self {
            console_enabled: true,
            console_credentials: Vec::new(),
            allowed_hosts: Vec::new(),
            app_origins: Vec::new(),
        }
    }
}
