//! Middleware hooks: the seam monitoring, tracing and users' own code plug into.
//!
//! Implement [`InngestHook`] on a provider and contribute it as [`Hooks`]; the module
//! discovers every hook of enabled modules at start-up.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU64, Ordering};
//! use inngest_module::{Hooks, InngestHook, RunInfo, RunStatus};
//! use framework::Provider;
//!
//! #[derive(Default)]
//! struct CountRuns(AtomicU64);
//! impl InngestHook for CountRuns {
//!     fn on_run_end(&self, _run: &RunInfo, _status: RunStatus, _elapsed: std::time::Duration) {
//!         self.0.fetch_add(1, Ordering::Relaxed);
//!     }
//! }
//! let provider = Provider::value(CountRuns::default())
//!     .contribute::<Hooks, _>(|this| Arc::clone(this) as Arc<dyn InngestHook>);
//! # let _ = provider;
//! ```

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

/// The run an execution request belongs to.
#[derive(Debug, Clone)]
pub struct RunInfo {
    /// Composite function id (`<app_id>-<fn_id>`).
    pub function_id: String,
    /// Run id.
    pub run_id: String,
    /// Attempt, from 0.
    pub attempt: u32,
}

/// What everything running in one execution request shares, passed from the serve handler
/// (or the testing kit) to the step tools: the run, the app, the hooks to call and whether
/// step spans are recorded.
#[derive(Clone)]
pub(crate) struct RunContext {
    /// The run.
    pub info: RunInfo,
    /// The app id, for composite function ids (`invoke`).
    pub app_id: Arc<str>,
    /// The hooks to call around steps.
    pub hooks: HookList,
    /// Whether steps get spans (tracing on).
    pub spans: bool,
    /// The execution request's `traceparent` and `tracestate`, forwarded on the Event API
    /// requests of `send_event` steps.
    pub forwarded: Vec<(&'static str, String)>,
}

/// How one execution request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunStatus {
    /// The function returned: the run is complete.
    Completed,
    /// The function failed and will be retried.
    Retrying,
    /// The function failed for good.
    Failed,
    /// Steps were reported or run: the run continues in a later request.
    Continuing,
    /// The request was dropped before it ended (the caller's timeout or disconnect, a
    /// server shutdown): nothing was answered; the executor will retry it.
    Cancelled,
}

impl RunStatus {
    /// A low-cardinality label.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Completed => "completed",
            RunStatus::Retrying => "retrying",
            RunStatus::Failed => "failed",
            RunStatus::Continuing => "continuing",
            RunStatus::Cancelled => "cancelled",
        }
    }
}

/// A step executed in this request.
#[derive(Debug, Clone)]
pub struct StepInfo {
    /// The user's step id.
    pub id: String,
    /// The op reported (`StepRun`, `StepError`, `StepFailed`).
    pub op: &'static str,
}

/// How the app's functions were last synced (registered) with an executor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncKind {
    /// The app registered itself with `POST {api}/fn/register` (a `PUT` on the serve path).
    OutOfBand,
    /// The server asked with a signed `PUT` and the app answered with its functions.
    InBand,
    /// The functions were registered with the embedded executor at start-up.
    Embedded,
}

impl SyncKind {
    /// A low-cardinality label.
    pub fn as_str(self) -> &'static str {
        match self {
            SyncKind::OutOfBand => "out_of_band",
            SyncKind::InBand => "in_band",
            SyncKind::Embedded => "embedded",
        }
    }
}

/// One sync and its outcome.
#[derive(Debug, Clone)]
pub struct SyncInfo {
    /// How the sync happened.
    pub kind: SyncKind,
    /// Whether it succeeded.
    pub ok: bool,
    /// When it finished.
    pub at: std::time::SystemTime,
    /// Why it failed (`None` when it succeeded).
    pub error: Option<String>,
    /// How many functions were registered.
    pub functions: usize,
}

/// Hooks called around runs, steps, syncs and event sends. Every method has an empty
/// default. Hooks are called inline: keep them fast and never block.
pub trait InngestHook: Send + Sync + 'static {
    /// Whether this hook takes part. Checked once at start-up: a hook that returns `false`
    /// (e.g. the metrics hook when the app has no metrics registry) is left out and costs
    /// nothing per run.
    fn enabled(&self) -> bool {
        true
    }
    /// A step body is about to run in this request.
    fn on_step_start(&self, run: &RunInfo, step_id: &str) {
        let _ = (run, step_id);
    }
    /// A sync finished.
    fn on_sync(&self, sync: &SyncInfo) {
        let _ = sync;
    }
    /// An execution request for `run` is about to run user code.
    fn on_run_start(&self, run: &RunInfo) {
        let _ = run;
    }
    /// The execution request ended.
    fn on_run_end(&self, run: &RunInfo, status: RunStatus, elapsed: Duration) {
        let _ = (run, status, elapsed);
    }
    /// A step body ran in this request.
    fn on_step_end(&self, run: &RunInfo, step: &StepInfo, elapsed: Duration) {
        let _ = (run, step, elapsed);
    }
    /// Events are about to be sent; a hook may change them (add fields, trace context).
    fn before_send(&self, events: &mut Vec<Value>) {
        let _ = events;
    }
    /// A send finished: how many events, and whether it succeeded.
    fn on_send_end(&self, count: usize, ok: bool) {
        let _ = (count, ok);
    }
    /// A request to the serve path was refused for its signature; `reason` is
    /// [`SignatureError::reason`](crate::signature::SignatureError::reason) (`missing`,
    /// `malformed`, `expired`, `mismatch`, `no_key`).
    fn on_request_refused(&self, reason: &'static str) {
        let _ = reason;
    }
}

/// The contribution kind for hooks.
pub struct Hooks;

impl framework::ContributionKind for Hooks {
    type Item = Arc<dyn InngestHook>;
}

/// The discovered hooks, called in order.
#[derive(Clone, Default)]
pub(crate) struct HookList(pub Arc<[Arc<dyn InngestHook>]>);

impl HookList {
    /// The hooks that are [`InngestHook::enabled`].
    pub(crate) fn new(hooks: Vec<Arc<dyn InngestHook>>) -> Self {
        Self(hooks.into_iter().filter(|hook| hook.enabled()).collect())
    }

    pub(crate) fn each(&self, mut call: impl FnMut(&dyn InngestHook)) {
        for hook in self.0.iter() {
            call(hook.as_ref());
        }
    }
}
