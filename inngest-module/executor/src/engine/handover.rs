//! Settling the claimed job a transition applies, and handing its run's next execution to
//! the same worker.
//!
//! A transition that applies a job's result first checks that the job is still leased to
//! this process ([`Transition::begin_job`]); only then is anything applied. When it ends
//! ([`Transition::settle_job`]), the job's row goes — unless the run goes on right away:
//! when the transition queued exactly one execution of the same run, due now and outside any
//! concurrency limit, that execution *takes over the row*, still leased (with a new lease
//! version), and the worker runs it next. No queue round trip, no index churn: a run that
//! keeps going keeps its execution slot until it sleeps, waits or ends.

use std::cell::RefCell;

use serde_json::Value;

use super::Transition;
use crate::error::StoreResult;
use crate::model::{ClaimedJob, Job, Run, StepStatus};
use crate::store::{NewJob, StepUpdate};

/// A run's next execution, handed to the worker that applied the previous one, with what
/// the transaction knows of the run, so the worker need not read it back.
pub(crate) struct Continuation {
    /// The execution, leased to this process.
    pub job: ClaimedJob,
    /// The run as the transaction left it.
    pub run: Option<Run>,
    /// Steps this transaction memoized for the run: hash and memo as JSON text.
    pub memoized: Vec<(String, String)>,
}

/// The job being settled and the executions of its run held back for the handover.
pub(crate) struct Handover {
    /// Queue row id of the claimed job.
    job_id: i64,
    /// Its lease version.
    lease: i64,
    /// The run it belongs to, if any.
    run_id: Option<String>,
    /// Executions of that run queued by this transition, due now and unkeyed.
    pending: Vec<Pending>,
    /// Steps of that run this transition memoized (hash, memo JSON).
    memoized: Vec<(String, String)>,
    /// That run as this transition last saved it.
    saved: Option<Run>,
    /// The job's row is gone already (its run finished in this transition).
    deleted: bool,
}

/// An execution held back until the transition settles.
struct Pending {
    job: Job,
    due_at: i64,
    priority_ms: i64,
}

/// Whether the job being settled is still leased, and its run.
pub(crate) enum Begun {
    /// The lease no longer holds: apply nothing.
    Lost,
    /// Leased; the run, unless it is gone.
    Leased(Option<Box<Run>>),
}

impl Transition<'_> {
    /// [`Transition::begin_job`] for an execution, reading its run in the same statement.
    pub(crate) fn begin_job_for_run(
        &self,
        claimed: &ClaimedJob,
        run_id: &str,
    ) -> StoreResult<Begun> {
        let run = self
            .tx
            .run_if_leased(run_id, claimed.id, self.engine.owner, claimed.lease)?
            .map(Box::new);
        let leased = match run {
            Some(_) => {
                self.hold(claimed);
                true
            }
            None => self.begin_job(claimed)?,
        };
        Ok(if leased {
            Begun::Leased(run)
        } else {
            Begun::Lost
        })
    }

    fn hold(&self, claimed: &ClaimedJob) {
        *self.handover.borrow_mut() = Some(Handover {
            job_id: claimed.id,
            lease: claimed.lease,
            run_id: claimed.job.run_id().map(str::to_string),
            pending: Vec::new(),
            memoized: Vec::new(),
            saved: None,
            deleted: false,
        });
    }

    /// Starts settling a claimed job: `false` when its lease no longer holds (the job was
    /// deleted by a cancellation, or claimed again), and nothing must be applied.
    pub(crate) fn begin_job(&self, claimed: &ClaimedJob) -> StoreResult<bool> {
        if !self
            .tx
            .job_leased(claimed.id, self.engine.owner, claimed.lease)?
        {
            return Ok(false);
        }
        self.hold(claimed);
        Ok(true)
    }

    /// Holds back an execution of the settled job's run (due now, unkeyed) for the
    /// handover; `false` when it does not qualify and must be queued as usual.
    pub(super) fn hold_execution(
        &self,
        run_id: &str,
        job: &Job,
        due_at: i64,
        priority_ms: i64,
        keyed: bool,
    ) -> bool {
        let mut handover = self.handover.borrow_mut();
        let Some(handover) = handover.as_mut() else {
            return false;
        };
        if keyed || due_at > self.now || handover.run_id.as_deref() != Some(run_id) {
            return false;
        }
        handover.pending.push(Pending {
            job: job.clone(),
            due_at,
            priority_ms,
        });
        true
    }

    /// Memoizes a new step's final value (see [`crate::store::Tx::finish_new_step`]),
    /// noting it for the handover.
    pub(crate) fn memoize_new(&self, step: &StepUpdate<'_>, memo: &Value) -> StoreResult<bool> {
        let stored = self.tx.finish_new_step(step, memo)?;
        if stored {
            self.note_memo(step.run_id, step.hash, memo)?;
        }
        Ok(stored)
    }

    /// Memoizes a known step's final value (see [`crate::store::Tx::finish_step`]),
    /// noting it for the handover.
    pub(crate) fn memoize(
        &self,
        run_id: &str,
        hash: &str,
        status: StepStatus,
        memo: &Value,
    ) -> StoreResult<bool> {
        let stored = self.tx.finish_step(run_id, hash, status, memo, self.now)?;
        if stored {
            self.note_memo(run_id, hash, memo)?;
        }
        Ok(stored)
    }

    fn note_memo(&self, run_id: &str, hash: &str, memo: &Value) -> StoreResult<()> {
        if let Some(handover) = self.handover.borrow_mut().as_mut()
            && handover.run_id.as_deref() == Some(run_id)
        {
            handover
                .memoized
                .push((hash.to_string(), serde_json::to_string(memo)?));
        }
        Ok(())
    }

    /// Saves a run's state (see [`crate::store::Tx::update_run`]), keeping a copy for the
    /// handover when it is the settled job's run.
    pub(crate) fn save_run(&self, run: &Run) -> StoreResult<()> {
        self.tx.update_run(run)?;
        if let Some(handover) = self.handover.borrow_mut().as_mut()
            && handover.run_id.as_deref() == Some(run.id.as_str())
        {
            handover.saved = Some(run.clone());
        }
        Ok(())
    }

    /// Drops what was held back for a run that just finished (its jobs, the settled one
    /// included, are deleted with it).
    pub(super) fn forget_run(&self, run_id: &str) {
        if let Some(handover) = self.handover.borrow_mut().as_mut()
            && handover.run_id.as_deref() == Some(run_id)
        {
            handover.pending.clear();
            handover.deleted = true;
        }
    }

    /// Ends the settled job: hands its row to the run's one next execution (returned,
    /// leased to this worker), or deletes it (freeing its concurrency slots) and queues
    /// whatever was held back.
    pub(crate) fn settle_job(&self) -> StoreResult<Option<Continuation>> {
        let Some(handover) = RefCell::take(&self.handover) else {
            return Ok(None);
        };
        let mut pending = handover.pending;
        if let [next] = pending.as_slice()
            && let Some(job) = self.tx.hand_over_job(
                handover.job_id,
                self.engine.owner,
                handover.lease,
                &NewJob {
                    job: &next.job,
                    due_at: next.due_at,
                    priority_ms: next.priority_ms,
                    concurrency: &[],
                },
            )?
        {
            return Ok(Some(Continuation {
                job,
                run: handover.saved,
                memoized: handover.memoized,
            }));
        }
        // Deleting a job may free a concurrency slot: the scheduler should look.
        if !handover.deleted {
            self.tx
                .complete_job(handover.job_id, self.engine.owner, handover.lease)?;
        }
        self.queued();
        for held in pending.drain(..) {
            self.tx.enqueue(&NewJob {
                job: &held.job,
                due_at: held.due_at,
                priority_ms: held.priority_ms,
                concurrency: &[],
            })?;
            self.queued();
        }
        Ok(None)
    }
}
