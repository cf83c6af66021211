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
        }
    }
}

/// Options plus the keys and the clock.
#[derive(Debug, Clone, Default)]
pub struct Settings {
    /// The options.
    pub options: Options,
    /// Signs execution requests when set (and is required on `/fn/register`).
    pub signing_key: Option<String>,
    /// Required on the Event API when set.
    pub event_key: Option<String>,
    /// Where the executor reads the time.
    pub clock: Clock,
}
