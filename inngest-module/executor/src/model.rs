//! What the executor stores: runs, steps, queued jobs, and the views the runs API shows.

use inngest_protocol::{Event, Opcode};
use serde::{Deserialize, Serialize};
use serde_json::Value;

/// Status of a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum RunStatus {
    /// Created, waiting for its first execution.
    Queued,
    /// Executing or waiting for a step, sleep, event or child run.
    Running,
    /// Returned a value.
    Completed,
    /// Failed for good.
    Failed,
    /// Cancelled by an event, a timeout or a singleton.
    Cancelled,
}

impl RunStatus {
    /// The name used in the store and the runs API.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Queued => "Queued",
            RunStatus::Running => "Running",
            RunStatus::Completed => "Completed",
            RunStatus::Failed => "Failed",
            RunStatus::Cancelled => "Cancelled",
        }
    }

    /// Parses a stored status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Queued" => RunStatus::Queued,
            "Running" => RunStatus::Running,
            "Completed" => RunStatus::Completed,
            "Failed" => RunStatus::Failed,
            "Cancelled" => RunStatus::Cancelled,
            _ => return None,
        })
    }

    /// `true` once the run can no longer change.
    pub fn is_final(self) -> bool {
        matches!(
            self,
            RunStatus::Completed | RunStatus::Failed | RunStatus::Cancelled
        )
    }
}

impl std::fmt::Display for RunStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Status of a step.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StepStatus {
    /// Reported by a parallel plan, not executed yet.
    Planned,
    /// Being executed.
    Running,
    /// A sleep.
    Sleeping,
    /// A `wait_for_event`.
    Waiting,
    /// Waiting for an invoked run.
    Invoking,
    /// Failed; will be retried.
    Retrying,
    /// Done: its result is memoized.
    Completed,
    /// Failed for good: its error is memoized.
    Failed,
    /// A wait that timed out (memoized as `null`).
    TimedOut,
}

impl StepStatus {
    /// The name used in the store and the runs API.
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Planned => "Planned",
            StepStatus::Running => "Running",
            StepStatus::Sleeping => "Sleeping",
            StepStatus::Waiting => "Waiting",
            StepStatus::Invoking => "Invoking",
            StepStatus::Retrying => "Retrying",
            StepStatus::Completed => "Completed",
            StepStatus::Failed => "Failed",
            StepStatus::TimedOut => "TimedOut",
        }
    }

    /// Parses a stored status name.
    pub fn parse(text: &str) -> Option<Self> {
        Some(match text {
            "Planned" => StepStatus::Planned,
            "Running" => StepStatus::Running,
            "Sleeping" => StepStatus::Sleeping,
            "Waiting" => StepStatus::Waiting,
            "Invoking" => StepStatus::Invoking,
            "Retrying" => StepStatus::Retrying,
            "Completed" => StepStatus::Completed,
            "Failed" => StepStatus::Failed,
            "TimedOut" => StepStatus::TimedOut,
            _ => return None,
        })
    }
}

/// Where an invoked run reports back.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Parent {
    /// The invoking run.
    pub run_id: String,
    /// The invoke step's hash in that run.
    pub hash: String,
}

/// A concurrency key an execution counts against, with its limit.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct ConcurrencyKey {
    /// `<scope>|<key expression>|<key value>`.
    pub key: String,
    /// Executions at once.
    pub limit: u32,
}

/// The part of a run that changes as it goes (stored as one small JSON column).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RunState {
    /// Attempt of the current unit of work (resets after a step succeeds).
    pub attempt: u32,
    /// Memoized step hashes in the order they finished.
    pub stack: Vec<String>,
    /// Ops reported and not resolved yet (planned steps, sleeps, waits, invokes).
    pub pending: Vec<String>,
    /// `disable_immediate_execution` for the next requests (set by parallelism).
    pub force_plan: bool,
    /// The request version the SDK reported (-1 before the first op answer).
    pub version: i64,
    /// Set when this run was invoked by another.
    pub parent: Option<Parent>,
    /// Concurrency keys this run's executions count against (at most two).
    pub concurrency: Vec<ConcurrencyKey>,
    /// Priority in milliseconds (a run is ranked as if enqueued that much earlier).
    pub priority_ms: i64,
    /// Listeners (waits, cancellations) were stored for this run.
    #[serde(default)]
    pub listening: bool,
}

/// One run as stored, without its events (see [`RunEvents`]).
#[derive(Debug, Clone)]
pub struct Run {
    /// Run id (ULID).
    pub id: String,
    /// Composite function id.
    pub function_id: String,
    /// Status.
    pub status: RunStatus,
    /// Creation time (ms).
    pub created_at: i64,
    /// First execution (ms).
    pub started_at: Option<i64>,
    /// End (ms).
    pub ended_at: Option<i64>,
    /// Singleton key, if the function is a singleton.
    pub singleton_key: Option<String>,
    /// Everything else that changes.
    pub state: RunState,
    /// The return value, once completed.
    pub output: Option<Value>,
    /// The error, once failed or cancelled.
    pub error: Option<Value>,
}

/// A run's triggering events (one, or a batch), stored once when the run is created.
pub type RunEvents = Vec<Event>;

/// One step as stored (for memoization and the runs API).
#[derive(Debug, Clone, Serialize)]
pub struct StepRecord {
    /// SHA-1 hash id.
    pub hash: String,
    /// Order of first appearance.
    pub seq: i64,
    /// The user's step id.
    pub name: String,
    /// The op as reported.
    pub op: Opcode,
    /// Where it is.
    pub status: StepStatus,
    /// Memoized value (what the SDK receives), once done.
    pub memo: Option<Value>,
    /// The op's options (sleep duration, wait event, invoke payload, …).
    pub input: Option<Value>,
    /// Executions of this step.
    pub attempts: u32,
    /// First seen (ms).
    pub started_at: i64,
    /// Done (ms).
    pub ended_at: Option<i64>,
}

/// Work in the executor's queue.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// Call the SDK for a run (discovery, or one planned step when `step` is set).
    Execute {
        /// The run.
        run_id: String,
        /// Hash of the planned step to run, or `None` for discovery (`stepId=step`).
        step: Option<String>,
        /// Attempt of this unit of work.
        attempt: u32,
    },
    /// A sleep ended.
    SleepWake {
        /// The run.
        run_id: String,
        /// The sleep step.
        hash: String,
    },
    /// A `wait_for_event` timed out.
    WaitTimeout {
        /// The run.
        run_id: String,
        /// The wait step.
        hash: String,
    },
    /// An `invoke` timed out.
    InvokeTimeout {
        /// The run.
        run_id: String,
        /// The invoke step.
        hash: String,
    },
    /// The run's `timeouts.finish` passed.
    FinishTimeout {
        /// The run.
        run_id: String,
    },
    /// A debounce period ended.
    Debounce {
        /// The function.
        function_id: String,
        /// The debounce key.
        key: String,
    },
    /// A batch timed out before filling.
    BatchFlush {
        /// The function.
        function_id: String,
        /// The batch key.
        key: String,
    },
    /// A cron trigger fires.
    Cron {
        /// The function.
        function_id: String,
        /// The cron spec.
        spec: String,
    },
}

impl Job {
    /// The run this job belongs to, if any.
    pub fn run_id(&self) -> Option<&str> {
        match self {
            Job::Execute { run_id, .. }
            | Job::SleepWake { run_id, .. }
            | Job::WaitTimeout { run_id, .. }
            | Job::InvokeTimeout { run_id, .. }
            | Job::FinishTimeout { run_id } => Some(run_id),
            Job::Debounce { .. } | Job::BatchFlush { .. } | Job::Cron { .. } => None,
        }
    }

    /// The identity of a job there is at most one of (a debounce, a batch flush, a cron
    /// schedule, an invoke timeout), so it can be found and replaced.
    pub fn dedupe_key(&self) -> Option<String> {
        match self {
            Job::Debounce { function_id, key } => Some(format!("debounce:{function_id}:{key}")),
            Job::BatchFlush { function_id, key } => Some(format!("batch:{function_id}:{key}")),
            Job::Cron { function_id, spec } => Some(format!("cron:{function_id}:{spec}")),
            Job::InvokeTimeout { run_id, hash } => Some(format!("invoke:{run_id}:{hash}")),
            _ => None,
        }
    }
}

/// A job the scheduler claimed: the lease (owner and version) that its result must still
/// hold to be applied.
#[derive(Debug, Clone)]
pub struct ClaimedJob {
    /// Queue row id.
    pub id: i64,
    /// What to do.
    pub job: Job,
    /// The lease version this claim holds.
    pub lease: i64,
}

/// A run with its steps, as the runs API shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunView {
    /// Run id.
    pub run_id: String,
    /// Composite function id.
    pub function_id: String,
    /// Status.
    pub status: RunStatus,
    /// Created (ms).
    pub created_at: i64,
    /// First execution (ms).
    pub started_at: Option<i64>,
    /// Finished (ms).
    pub ended_at: Option<i64>,
    /// Triggering event ids.
    pub event_ids: Vec<String>,
    /// Triggering events.
    pub events: Vec<Event>,
    /// Return value.
    pub output: Option<Value>,
    /// Error.
    pub error: Option<Value>,
    /// Attempt of the current unit of work.
    pub attempt: u32,
    /// Steps, in order of appearance (only in single-run views).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub steps: Option<Vec<StepRecord>>,
}

impl RunView {
    pub(crate) fn new(run: Run, events: RunEvents, steps: Option<Vec<StepRecord>>) -> Self {
        Self {
            event_ids: events.iter().filter_map(|e| e.id.clone()).collect(),
            run_id: run.id,
            function_id: run.function_id,
            status: run.status,
            created_at: run.created_at,
            started_at: run.started_at,
            ended_at: run.ended_at,
            events,
            output: run.output,
            error: run.error,
            attempt: run.state.attempt,
            steps,
        }
    }
}

/// Filters for listing runs.
#[derive(Debug, Clone, Default)]
pub struct RunFilter {
    /// Composite function id.
    pub function: Option<String>,
    /// Status.
    pub status: Option<RunStatus>,
    /// Created at or after (ms).
    pub since: Option<i64>,
    /// Created before (ms).
    pub until: Option<i64>,
    /// Only runs triggered by this event id.
    pub event: Option<String>,
    /// At most this many (default 100, at most 1000).
    pub limit: Option<u32>,
    /// Only runs older than this one: the next page after a page that ended with it.
    pub before: Option<RunCursor>,
}

/// Where a page of runs ended (runs are listed newest first): the last run's creation time
/// and id. As text, `<created_at>.<run_id>`, the `next` of the runs API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCursor {
    /// The last run's creation time (ms).
    pub created_at: i64,
    /// The last run's id.
    pub run_id: String,
}

impl RunCursor {
    /// The cursor after `run`.
    pub fn after(run: &RunView) -> Self {
        Self {
            created_at: run.created_at,
            run_id: run.run_id.clone(),
        }
    }
}

impl std::fmt::Display for RunCursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.created_at, self.run_id)
    }
}

impl std::str::FromStr for RunCursor {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        let invalid =
            || format!("`{text}` is not a page cursor: pass the `next` value of a previous page");
        let (at, id) = text.split_once('.').ok_or_else(invalid)?;
        let created_at = at.parse().map_err(|_| invalid())?;
        if id.is_empty() || id.len() > 64 {
            return Err(invalid());
        }
        Ok(Self {
            created_at,
            run_id: id.to_string(),
        })
    }
}

/// An app whose functions the executor drives.
#[derive(Debug, Clone, Serialize)]
pub struct AppInfo {
    /// App id.
    pub app_id: String,
    /// Where it is reached.
    pub target: String,
    /// Its composite function ids.
    pub functions: Vec<String>,
    /// When it (last) registered (ms).
    pub synced_at: i64,
}
