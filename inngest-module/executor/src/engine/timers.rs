//! Jobs that need no SDK call: a sleep woke, a wait or an invoke timed out, a run's finish
//! timeout passed, a debounce period or a batch timeout ended, a cron schedule fired.

use inngest_protocol::Event;
use serde_json::{Value, json};

use super::{Transition, error_value};
use crate::error::StoreResult;
use crate::functions::TriggerDef;
use crate::model::{ClaimedJob, Job, StepStatus};

impl Transition<'_> {
    /// Fires a claimed timer job if its lease still holds, and returns the run's next
    /// execution when this worker may take it over.
    pub(crate) fn fire(&self, claimed: &ClaimedJob) -> StoreResult<Option<super::Continuation>> {
        if !self.begin_job(claimed)? {
            return Ok(None);
        }
        self.fire_timer(claimed)?;
        self.settle_job()
    }

    fn fire_timer(&self, claimed: &ClaimedJob) -> StoreResult<()> {
        match &claimed.job {
            Job::Execute { .. } => {}
            Job::SleepWake { run_id, hash } => {
                self.resolve(run_id, hash, Value::Null, StepStatus::Completed)?;
            }
            Job::WaitTimeout { run_id, hash } => {
                if self.tx.delete_wait(run_id, hash)? {
                    self.resolve(run_id, hash, Value::Null, StepStatus::TimedOut)?;
                }
            }
            Job::InvokeTimeout { run_id, hash } => {
                let error = json!({ "error": error_value(
                    "InngestInvokeTimeoutError",
                    "Timed out waiting for the invoked function to complete",
                )});
                self.resolve(run_id, hash, error, StepStatus::Failed)?;
            }
            Job::FinishTimeout { run_id } => {
                if let Some(run) = self.tx.run(run_id)?
                    && !run.status.is_final()
                {
                    self.cancel(run, "the run did not finish within its timeouts.finish")?;
                }
            }
            Job::Debounce { function_id, key } => {
                let kv = format!("debounce:{function_id}:{key}");
                let pending = self.tx.kv_get(&kv, self.now)?;
                self.tx.kv_delete(&kv)?;
                if let (Some(function), Some(pending)) = (self.catalog.get(function_id), pending) {
                    let event: Event = serde_json::from_value(
                        pending.get("event").cloned().unwrap_or(Value::Null),
                    )?;
                    self.create_run(function, vec![event], None)?;
                }
            }
            Job::BatchFlush { function_id, key } => {
                let kv = format!("batch:{function_id}:{key}");
                let events = self.tx.kv_get(&kv, self.now)?;
                self.tx.kv_delete(&kv)?;
                if let (Some(function), Some(events)) = (self.catalog.get(function_id), events) {
                    let events: Vec<Event> = serde_json::from_value(events)?;
                    if !events.is_empty() {
                        self.create_run(function, events, None)?;
                    }
                }
            }
            Job::Cron { function_id, spec } => {
                let Some(function) = self.catalog.get(function_id) else {
                    return Ok(());
                };
                // A job left from a schedule the function no longer has (changed or removed
                // since it was queued, e.g. across a restart) is dropped.
                let Some(schedule) = function.triggers.iter().find_map(|t| match t {
                    TriggerDef::Cron(s) if s.source() == spec => Some(s),
                    _ => None,
                }) else {
                    return Ok(());
                };
                // Draining: the schedule goes on (for the server's crons to take over), but
                // starts no run here.
                if !self.engine.draining {
                    let event =
                        self.internal_event("inngest/scheduled.timer", json!({ "cron": spec }));
                    self.store_event(&event)?;
                    self.create_run(function, vec![event], None)?;
                }
                if let Some(next) = schedule.next_after(self.now) {
                    self.enqueue(&claimed.job, next)?;
                }
            }
        }
        Ok(())
    }

    /// Queues the next fire of every cron trigger of the catalog that has none queued.
    pub(crate) fn schedule_crons(&self) -> StoreResult<()> {
        for function in &self.catalog.sorted {
            for trigger in &function.triggers {
                let TriggerDef::Cron(schedule) = trigger else {
                    continue;
                };
                let job = Job::Cron {
                    function_id: function.id.clone(),
                    spec: schedule.source().to_string(),
                };
                let Some(dedupe) = job.dedupe_key() else {
                    continue;
                };
                if self.tx.job_exists(&dedupe)? {
                    continue;
                }
                if let Some(next) = schedule.next_after(self.now) {
                    self.enqueue(&job, next)?;
                }
            }
        }
        Ok(())
    }
}
