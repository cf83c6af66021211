//! The scheduling loop: claims due jobs in the store (leased to this process, see
//! [`crate::store`]) while execution slots are free, hands each to a worker task, and sleeps
//! until the next due time, a wake-up (new work, a freed slot) or shutdown.

use std::sync::atomic::Ordering;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinSet;

use crate::executor::Executor;
use crate::worker;

/// Longest sleep between looks at the queue.
const MAX_IDLE: Duration = Duration::from_secs(30);
/// Pause after the store refused a claim.
const STORE_ERROR_PAUSE: Duration = Duration::from_millis(500);
/// Longest wait for executions in flight when the loop stops.
const DRAIN: Duration = Duration::from_secs(30);

impl Executor {
    /// Starts the scheduling loop and retention (idempotent). Pending work from a previous
    /// process — queued runs, sleeps, waits, and jobs it was executing when it died — resumes.
    pub fn start(&self) {
        let mut tasks = self.tasks();
        if !tasks.is_empty() {
            return;
        }
        // Subscribed here, not in the tasks: a task first polled after a `shutdown` that
        // came right away would otherwise take the stop for its starting value and miss it.
        let scheduler = self.clone();
        let stop = self.inner.stop.subscribe();
        tasks.push(tokio::spawn(
            async move { scheduler.schedule_loop(stop).await },
        ));
        if self.is_draining() {
            let drain = self.clone();
            let stop = self.inner.stop.subscribe();
            tasks.push(tokio::spawn(async move { drain.drain_watch(stop).await }));
        }
        if !self.options().retention.is_zero() {
            let retention = self.clone();
            let stop = self.inner.stop.subscribe();
            tasks.push(tokio::spawn(
                async move { retention.retention_loop(stop).await },
            ));
        }
    }

    /// Whether the scheduling loop is started and alive (not stopped, not crashed).
    pub fn is_running(&self) -> bool {
        self.tasks().first().is_some_and(|task| !task.is_finished()) && !*self.inner.stop.borrow()
    }

    /// Stops taking work and waits (up to `grace`) for executions in flight. Work not
    /// finished stays queued for the next start.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.stop.send_replace(true);
        self.inner.wake.notify_one();
        let tasks = std::mem::take(&mut *self.tasks());
        let all = futures_util::future::join_all(tasks);
        let _ = tokio::time::timeout(grace, all).await;
    }

    async fn schedule_loop(self, mut stop: watch::Receiver<bool>) {
        let mut workers = JoinSet::new();
        let max_parallel = self.options().max_parallel.max(1);
        loop {
            if *stop.borrow() {
                break;
            }
            while workers.try_join_next().is_some() {}
            let free = max_parallel.saturating_sub(workers.len());
            let mut next_due = None;
            if free > 0 {
                let now = self.now_ms();
                let owner = self.inner.engine.owner;
                match self
                    .inner
                    .store
                    .write(move |tx| tx.claim(owner, now, free))
                    .await
                {
                    Ok((jobs, next)) => {
                        // Every slot filled, or due work left that this claim did not reach
                        // (it reads a bounded number of candidates): look again at once.
                        // Each claim leases or parks every candidate it reads, so this
                        // always makes progress.
                        let again = jobs.len() == free || next.is_some_and(|at| at <= now);
                        for job in jobs {
                            self.inner.in_flight.fetch_add(1, Ordering::Relaxed);
                            let executor = self.clone();
                            workers.spawn(async move {
                                worker::run(&executor, job).await;
                                executor.inner.in_flight.fetch_sub(1, Ordering::Relaxed);
                                executor.inner.wake.notify_one();
                            });
                        }
                        if again {
                            tokio::task::yield_now().await;
                            continue;
                        }
                        next_due = next;
                    }
                    Err(error) => {
                        tracing::error!(%error, "the executor cannot claim work from its queue");
                        tokio::time::sleep(STORE_ERROR_PAUSE).await;
                        continue;
                    }
                }
            }
            let now = self.now_ms();
            // Nothing due now: sleep until the next due time. With every slot busy, a
            // finishing job wakes the loop.
            let idle = match next_due {
                Some(at) if at > now => {
                    Duration::from_millis(u64::try_from(at - now).unwrap_or(0)).min(MAX_IDLE)
                }
                _ => MAX_IDLE,
            };
            tokio::select! {
                () = self.inner.wake.notified() => {}
                () = tokio::time::sleep(idle) => {}
                _ = stop.wait_for(|stopped| *stopped) => {}
                Some(_) = workers.join_next(), if !workers.is_empty() => {}
            }
        }
        let drain = async { while workers.join_next().await.is_some() {} };
        let _ = tokio::time::timeout(DRAIN, drain).await;
    }

    async fn retention_loop(self, mut stop: watch::Receiver<bool>) {
        let retention = self.options().retention;
        let every = (retention / 24).clamp(Duration::from_secs(60), Duration::from_secs(3600));
        loop {
            if *stop.borrow() {
                return;
            }
            match self.prune().await {
                Ok(pruned) if !pruned.is_empty() => {
                    tracing::info!(
                        runs = pruned.runs,
                        events = pruned.events,
                        "retention pruned the executor store"
                    );
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(%error, "retention could not prune the executor store")
                }
            }
            tokio::select! {
                () = tokio::time::sleep(every) => {}
                _ = stop.wait_for(|stopped| *stopped) => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use crate::{Executor, Settings};

    /// A stop sent before the loops were first polled (a SIGTERM right after start-up) used
    /// to be missed by the retention loop, so shutdown waited out its whole grace period.
    /// On the test's single thread, nothing spawned runs before `shutdown` is called.
    #[tokio::test]
    async fn a_shutdown_right_after_start_stops_every_loop() {
        let executor = Executor::open(Settings::default()).expect("an in-memory executor");
        executor.start();
        let stopped = tokio::time::timeout(
            Duration::from_secs(30),
            executor.shutdown(Duration::from_secs(3600)),
        )
        .await;
        assert!(stopped.is_ok(), "shutdown waited for its grace period");
        assert!(!executor.is_running());
    }
}
