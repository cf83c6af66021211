//! Draining: moving an app off the embedded executor without losing runs
//! ([`Options::drain`](crate::Options::drain), `docs/deploy.md`). A draining executor
//! accepts no new events (the Event API answers `503`, in-process sends fail with
//! [`ExecutorError::Draining`](crate::ExecutorError::Draining)), fires no crons, and keeps
//! executing the runs it has — their steps, retries, sleeps, waits and invokes — until none
//! is left, which it logs once and reports on `GET {prefix}/api/drain`.

use serde::Serialize;
use tokio::sync::watch;

use crate::executor::Executor;

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

    /// Logs that the executor drains, then — once — that it drained; returns when it has
    /// drained or stops.
    pub(crate) async fn drain_watch(self, mut stop: watch::Receiver<bool>) {
        let mut finished = self.inner.finished.subscribe();
        tracing::warn!(
            runs_in_flight = self.active_count(),
            "embedded executor draining: new events are refused and crons do not fire; the runs in flight go on"
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
