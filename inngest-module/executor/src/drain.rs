//! Draining: moving an app off the embedded executor without losing runs
//! ([`Options::drain`](crate::Options::drain), `docs/deploy.md`). A draining executor
//! accepts no new events (the Event API answers `503`, in-process sends fail with
//! [`ExecutorError::Draining`](crate::ExecutorError::Draining)), fires no crons, and keeps
//! executing the runs it has — their steps, retries, sleeps, waits and invokes — until none
//! is left, which it logs once and reports on `GET {prefix}/api/drain`.
//!
//! The events a run in flight sends (`step.send_event`) are still accepted, and start
//! their runs as ever: otherwise such a run could never finish, and what it sends would be
//! lost. They are recognised by the trace context both SDKs forward unchanged on the send:
//! the `traceparent` of the execution request, whose trace id is derived from the run id
//! ([`Executor::send_traced`]).

use serde::Serialize;
use tokio::sync::watch;

use crate::error::ExecutorError;
use crate::executor::Executor;
use crate::ids::{trace_id, trace_id_of};

/// How far a drain has come (`GET {prefix}/api/drain`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct DrainStatus {
    /// Whether the executor drains (`inngest.embedded.drain`).
    pub draining: bool,
    /// Runs not finished yet (queued, running, sleeping, waiting).
    pub runs_in_flight: usize,
    /// Draining and no run is left: the app may be switched to an Inngest server.
    pub done: bool,
}

impl Executor {
    /// Whether this executor drains.
    pub fn is_draining(&self) -> bool {
        self.options().drain
    }

    /// How far the drain has come.
    pub fn drain_status(&self) -> DrainStatus {
        let runs_in_flight = self.active_count();
        let draining = self.is_draining();
        DrainStatus {
            draining,
            runs_in_flight,
            done: draining && runs_in_flight == 0,
        }
    }

    /// Whether `traceparent` is that of an execution request of a run in flight here,
    /// which is what a run's `step.send_event` forwards.
    pub(crate) async fn sent_by_run_in_flight(
        &self,
        traceparent: Option<&str>,
    ) -> Result<bool, ExecutorError> {
        let Some(trace) = traceparent.and_then(trace_id_of) else {
            return Ok(false);
        };
        let runs = self.inner.store.read(|tx| tx.active_run_ids()).await?;
        Ok(runs.iter().any(|run| trace_id(run) == trace))
    }

    /// Logs that the executor drains, then — once — that it drained; returns when it has
    /// drained or stops.
    pub(crate) async fn drain_watch(self, mut stop: watch::Receiver<bool>) {
        let mut finished = self.inner.finished.subscribe();
        tracing::warn!(
            runs_in_flight = self.active_count(),
            "embedded executor draining: new events are refused (but those the runs in flight send) and crons do not fire; the runs in flight go on"
        );
        loop {
            if self.active_count() == 0 {
                tracing::info!(
                    "embedded executor drained: no run is left; point the app at the Inngest server (docs/deploy.md)"
                );
                return;
            }
            tokio::select! {
                changed = finished.changed() => if changed.is_err() { return },
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}
