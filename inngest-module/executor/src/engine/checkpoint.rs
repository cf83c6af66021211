//! Checkpoints: steps an SDK ran inside one execution request and posted
//! (`POST /v1/checkpoint/{run_id}/async`) before answering it. They are memoized at once,
//! if the request still owns the run: its queue item (`ctx.qi_id`, the claimed job and its
//! lease version) is still leased. Otherwise the dispatch is stale (the run was cancelled,
//! or the job's lease lapsed and another execution took it) and nothing is stored.

use inngest_protocol::{Op, Opcode};

use super::Transition;
use crate::error::StoreResult;

/// What a checkpoint did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Checkpointed {
    /// The steps are memoized.
    Stored,
    /// The request no longer owns the run (`409`).
    Stale,
    /// A step is not a `StepRun` (what async checkpoints carry); nothing was stored.
    Unsupported(String),
}

/// The queue item an execution request names in `ctx.qi_id`: `<job id>:<lease version>`.
pub(crate) fn queue_item_id(job_id: i64, lease: i64) -> String {
    format!("{job_id}:{lease}")
}

/// The job id and lease version of a `ctx.qi_id`, if it is one this executor wrote.
pub(crate) fn parse_queue_item_id(text: &str) -> Option<(i64, i64)> {
    let (job, lease) = text.split_once(':')?;
    Some((job.parse().ok()?, lease.parse().ok()?))
}

impl Transition<'_> {
    /// Memoizes `steps` of `run_id` if the job `job_id` is still leased with `lease`.
    pub(crate) fn checkpoint(
        &self,
        run_id: &str,
        (job_id, lease): (i64, i64),
        steps: &[Op],
    ) -> StoreResult<Checkpointed> {
        if let Some(op) = steps.iter().find(|op| op.op != Opcode::StepRun) {
            return Ok(Checkpointed::Unsupported(op.op.as_str().to_string()));
        }
        let Some(mut run) = self
            .tx
            .run_if_leased(run_id, job_id, self.engine.owner, lease)?
        else {
            return Ok(Checkpointed::Stale);
        };
        if run.status.is_final() {
            return Ok(Checkpointed::Stale);
        }
        for op in steps {
            self.memoize_step_run(&mut run, op)?;
        }
        self.save_run(&run)?;
        Ok(Checkpointed::Stored)
    }
}
