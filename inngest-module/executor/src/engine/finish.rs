//! Resolving a pending step (a sleep woke, a wait matched or timed out, a child finished)
//! and finishing a run (completed, failed, cancelled).

use serde_json::{Value, json};

use super::{Transition, error_value};
use crate::error::StoreResult;
use crate::model::{Job, Parent, Run, RunStatus, StepStatus};

impl Transition<'_> {
    /// Memoizes a pending op's value and, once nothing else is pending, queues the next
    /// discovery request.
    pub(crate) fn resolve(
        &self,
        run_id: &str,
        hash: &str,
        memo: Value,
        status: StepStatus,
    ) -> StoreResult<()> {
        let Some(mut run) = self.tx.run(run_id)? else {
            return Ok(());
        };
        if run.status.is_final() {
            return Ok(());
        }
        if self.memoize(run_id, hash, status, &memo)? {
            run.state.stack.push(hash.to_string());
        } else if !run.state.pending.iter().any(|p| p == hash) {
            // Resolved already (e.g. a child finishing after its invoke timed out): the
            // run has moved on, and queueing a discovery now would execute it twice.
            return Ok(());
        }
        run.state.pending.retain(|p| p != hash);
        if run.state.pending.is_empty() {
            run.state.force_plan = false;
            run.state.attempt = 0;
            self.enqueue_execute(&run, None, 0, self.now)?;
        }
        self.save_run(&run)
    }

    /// Finishes a run with its return value.
    pub(crate) fn complete(&self, run: Run, output: Value) -> StoreResult<()> {
        self.finish(run, RunStatus::Completed, Ok(output))
    }

    /// Fails a run for good and emits `inngest/function.failed`.
    pub(crate) fn fail(&self, run: Run, error: Value) -> StoreResult<()> {
        self.finish(run, RunStatus::Failed, Err(error))
    }

    /// Cancels a run and emits `inngest/function.cancelled`.
    pub(crate) fn cancel(&self, run: Run, reason: &str) -> StoreResult<()> {
        if run.status.is_final() {
            return Ok(());
        }
        tracing::info!(run = %run.id, function = %run.function_id, reason, "run cancelled");
        self.finish(
            run,
            RunStatus::Cancelled,
            Err(error_value("Cancelled", reason)),
        )
    }

    /// Ends a run: stores the outcome, drops its jobs (freeing their concurrency slots) and
    /// listeners, resumes an invoking parent, and emits `inngest/function.failed` or
    /// `inngest/function.cancelled`.
    fn finish(
        &self,
        mut run: Run,
        status: RunStatus,
        outcome: Result<Value, Value>,
    ) -> StoreResult<()> {
        run.status = status;
        run.ended_at = Some(self.now);
        let memo = match &outcome {
            Ok(output) => {
                run.output = Some(output.clone());
                json!({ "data": output })
            }
            Err(error) => {
                run.error = Some(error.clone());
                json!({ "error": error })
            }
        };
        self.save_run(&run)?;
        self.forget_run(&run.id);
        self.tx.delete_run_jobs(&run.id)?;
        if run.state.listening {
            self.tx.delete_run_listeners(&run.id)?;
        }
        self.finished();
        if let Some(parent) = &run.state.parent {
            self.resolve_invoke(parent, memo)?;
        }
        let name = match status {
            RunStatus::Failed => "inngest/function.failed",
            RunStatus::Cancelled => "inngest/function.cancelled",
            _ => return Ok(()),
        };
        let events = self.tx.run_events(&run.id)?;
        let mut data = json!({
            "_inngest": { "status": status.as_str() },
            "event": events.first(),
            "events": events,
            "function_id": run.function_id,
            "run_id": run.id,
        });
        if let (RunStatus::Failed, Err(error)) = (status, &outcome) {
            data["error"] = error.clone();
            data["result"] = error.clone();
        }
        let (depth, emitted) = (self.internal_depth.get(), self.internal_emitted.get());
        if depth >= super::MAX_INTERNAL_DEPTH || emitted >= super::MAX_INTERNAL_EVENTS {
            tracing::warn!(
                run = %run.id,
                function = %run.function_id,
                "not emitting {name}: {emitted} inngest/function.* events, chained {depth} deep, already came of one change (functions that start or cancel one another on these events)"
            );
            return Ok(());
        }
        let event = self.internal_event(name, data);
        self.internal_emitted.set(emitted + 1);
        self.internal_depth.set(depth + 1);
        let accepted = self.accept_event(&event);
        self.internal_depth.set(depth);
        accepted
    }

    fn resolve_invoke(&self, parent: &Parent, memo: Value) -> StoreResult<()> {
        let status = if memo.get("error").is_some() {
            StepStatus::Failed
        } else {
            StepStatus::Completed
        };
        let timeout = Job::InvokeTimeout {
            run_id: parent.run_id.clone(),
            hash: parent.hash.clone(),
        };
        if let Some(dedupe) = timeout.dedupe_key() {
            self.tx.delete_job_by_dedupe(&dedupe)?;
        }
        self.resolve(&parent.run_id, &parent.hash, memo, status)
    }
}
