//! [`Checkpointing`]: run consecutive `step.run`s inside one execution request and post
//! their results to the server as they finish (inngest-js v4's default), app-wide in
//! `[inngest.checkpointing]` or per function.

use std::time::Duration;

use serde::Deserialize;
use validator::Validate;

/// Checkpointing settings: on by default, like inngest-js v4.
///
/// With checkpointing a run of N `step.run`s costs one execution request instead of N: each
/// step's result is posted to `POST {api}/v1/checkpoint/{run_id}/async` when it finishes,
/// and the request goes on until the function returns (answered as `RunComplete`) or
/// reaches what only the server can do (a sleep, a wait, an invoke, parallel steps). A
/// checkpoint that fails falls back to the classic protocol (the steps are reported in the
/// answer); a `409` means another request owns the run, and this one stops.
///
/// ```toml
/// [inngest.checkpointing]
/// enabled = true          # false: one request per step, as before inngest-js v4
/// max_runtime = "10s"     # stop running steps eagerly after this long in one request
/// buffered_steps = 1      # post after this many steps
/// max_interval = "0s"     # also post when this long passed since the last post (0: off)
/// ```
///
/// Per function, in code: `FunctionOptions::checkpointing(Checkpointing::off())`, or in the
/// attribute: `checkpointing = false`, `checkpointing(buffered_steps = 5, max_runtime = "30s")`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Validate)]
#[serde(default)]
pub struct Checkpointing {
    /// Whether steps are checkpointed at all.
    pub enabled: bool,
    /// How long one request may keep running steps eagerly; then it answers with the next
    /// steps as planned and the server calls again. Keep it below the server's request
    /// timeout (a few seconds behind a load balancer with a short idle timeout).
    #[serde(with = "humantime_serde")]
    pub max_runtime: Duration,
    /// Steps buffered before a checkpoint is posted (1–1000). Buffered steps not yet posted
    /// run again if the request is lost.
    #[validate(range(min = 1, max = 1000))]
    pub buffered_steps: u32,
    /// Post the buffer when this long passed since the last post, even if it is not full;
    /// zero: only when it is full.
    #[serde(with = "humantime_serde")]
    pub max_interval: Duration,
}

impl Default for Checkpointing {
    fn default() -> Self {
        Self {
            enabled: true,
            max_runtime: Duration::from_secs(10),
            buffered_steps: 1,
            max_interval: Duration::ZERO,
        }
    }
}

impl Checkpointing {
    /// Checkpointing off: one execution request per step (the classic protocol).
    pub fn off() -> Self {
        Self {
            enabled: false,
            ..Self::default()
        }
    }

    /// Runs steps eagerly for at most `max_runtime` per request.
    pub fn max_runtime(mut self, max_runtime: Duration) -> Self {
        self.max_runtime = max_runtime;
        self
    }

    /// Posts after `steps` steps (at least 1).
    pub fn buffered_steps(mut self, steps: u32) -> Self {
        self.buffered_steps = steps.max(1);
        self
    }

    /// Also posts when `interval` passed since the last post.
    pub fn max_interval(mut self, interval: Duration) -> Self {
        self.max_interval = interval;
        self
    }
}
