//! What a test run did: its steps, how it ended, what it sent.

use serde_json::Value;

use crate::error::Error;
use crate::protocol::{Op, OpData};
use crate::service::SentEvents;

/// What a test run did. See [`TestRun`].
#[derive(Debug)]
pub struct TestOutcome {
    /// Every step the run executed, retried, failed or slept through, in order. Stubbed
    /// steps are not here: their bodies never ran.
    pub steps: Vec<StepReport>,
    /// How the run ended.
    pub end: RunEnd,
    pub(super) sent: SentEvents,
    pub(super) unused_stubs: Vec<String>,
}

impl TestOutcome {
    /// What the function returned, if it completed.
    pub fn output(&self) -> Option<&Value> {
        match &self.end {
            RunEnd::Completed(value) => Some(value),
            _ => None,
        }
    }

    /// The function's error, if it failed.
    pub fn error(&self) -> Option<&Error> {
        match &self.end {
            RunEnd::Failed(error) => Some(error),
            _ => None,
        }
    }

    /// The op the run stopped at (a wait or invoke without a stub, or a
    /// [`TestRun::stop_at`] step), if it stopped.
    pub fn reached(&self) -> Option<&Op> {
        match &self.end {
            RunEnd::Reached(op) => Some(op),
            _ => None,
        }
    }

    /// Whether step `id`'s body ran (and succeeded, at any attempt).
    pub fn ran(&self, id: &str) -> bool {
        self.steps
            .iter()
            .any(|step| step.id == id && step.done == StepDone::Ran)
    }

    /// Whether the run slept through step `id`.
    pub fn slept(&self, id: &str) -> bool {
        self.steps
            .iter()
            .any(|step| step.id == id && step.done == StepDone::Slept)
    }

    /// The ids of the steps that ran, in order.
    pub fn ran_steps(&self) -> Vec<&str> {
        self.steps
            .iter()
            .filter(|step| step.done == StepDone::Ran)
            .map(|step| step.id.as_str())
            .collect()
    }

    /// The result step `id` returned when it ran.
    pub fn step_output(&self, id: &str) -> Option<&Value> {
        self.steps
            .iter()
            .find(|step| step.id == id && step.done == StepDone::Ran)
            .map(|step| &step.data)
    }

    /// The events `step.send_event` sent (recorded, not sent), as JSON.
    pub fn sent(&self) -> Vec<Value> {
        self.sent.all()
    }

    /// Stubbed step ids the run never asked for: usually a typo, or a step the function
    /// no longer has.
    pub fn unused_stubs(&self) -> &[String] {
        &self.unused_stubs
    }
}

/// How a test run ended.
#[derive(Debug)]
pub enum RunEnd {
    /// The function returned this (as JSON).
    Completed(Value),
    /// The function failed (a step failed for good and the function did not catch it, or
    /// its body returned an error; the executor would retry a retriable one).
    Failed(Error),
    /// The run reached this op and cannot go on without a stub for it.
    Reached(Box<Op>),
}

/// One step of a test run.
#[derive(Debug, Clone)]
pub struct StepReport {
    /// The step's id, as written in the function (`"charge"`, or `"charge:1"` on reuse).
    pub id: String,
    /// What happened to it.
    pub done: StepDone,
    /// Its result when it ran, its error when it failed, else `null`.
    pub data: Value,
}

impl StepReport {
    /// The id as the function wrote it, with `:n` for the n-th reuse.
    pub(super) fn id_of(op: &Op) -> String {
        match op.userland.index {
            Some(index) if index > 0 => format!("{}:{index}", op.display_name),
            _ => op.display_name.clone(),
        }
    }

    pub(super) fn of(op: &Op, done: StepDone) -> Self {
        let id = Self::id_of(op);
        let data = match done {
            StepDone::Retried => op
                .error
                .as_ref()
                .and_then(|error| serde_json::to_value(error).ok())
                .unwrap_or(Value::Null),
            _ => data_of(op),
        };
        Self { id, done, data }
    }
}

/// What happened to a step in a test run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StepDone {
    /// Its body ran and returned.
    Ran,
    /// Its body failed and will be retried.
    Retried,
    /// Its body failed for good.
    Failed,
    /// A sleep, completed at once.
    Slept,
}

/// The data an op carries (its result, or its final error).
pub(super) fn data_of(op: &Op) -> Value {
    match &op.data {
        OpData::Value(value) => value.clone(),
        _ => Value::Null,
    }
}
