//! Helpers on the embedded executor for integration tests: the run an event started, waiting
//! until a run reaches a step or finishes (on a paused tokio clock too).

use super::TestError;

/// Integration-test helpers on the embedded executor of a started app: the run an event
/// started, waiting until a run reaches a step, waiting until it finishes (feature
/// `embedded`).
///
/// Waits poll the executor every 20 ms by tokio's clock: with the executor on that clock
/// (`.override_provider(Provider::value(ExecutorClock::tokio()))`) and
/// `#[tokio::test(start_paused = true)]`, sleeps, timeouts and these waits take no real
/// time.
///
/// ```no_run
/// # async fn f(app: framework::RunningApp, service: std::sync::Arc<inngest_module::InngestService>) -> Result<(), Box<dyn std::error::Error>> {
/// use std::time::Duration;
/// use inngest_module::Event;
/// use inngest_module::testing::TestExecutor;
///
/// let executor = TestExecutor::of(app.container())?;
/// let ids = service.send(Event::new("user.signed_up", serde_json::json!({"id": "u1"}))).await?;
/// let run = executor.run_for_event(&ids[0], Duration::from_secs(5)).await?;
/// // Send the event a wait expects only once the run waits for it.
/// executor.wait_until_step(&run.run_id, "wait-verified", Duration::from_secs(5)).await?;
/// service.send(Event::new("user.email_verified", serde_json::json!({"id": "u1"}))).await?;
/// let done = executor.wait_until_finished(&run.run_id, Duration::from_secs(60)).await?;
/// assert!(done.status.is_final());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TestExecutor {
    executor: crate::Executor,
}

impl TestExecutor {
    /// The embedded executor of the app whose container this is (`app.container()`).
    pub fn of(container: &framework::Container) -> Result<Self, TestError> {
        let embedded = container
            .get::<crate::EmbeddedExecutor>()
            .map_err(|_| TestError::NoInngestModule)?;
        let executor = embedded
            .executor()
            .cloned()
            .ok_or(TestError::NoEmbeddedExecutor)?;
        Ok(Self { executor })
    }

    /// The executor itself (runs, events, the runs API).
    pub fn executor(&self) -> &crate::Executor {
        &self.executor
    }

    /// The first run `event_id` started. Routing is part of a send, so a run exists once
    /// `send` returns; this waits only for an event sent from elsewhere (a step, a cron).
    pub async fn run_for_event(
        &self,
        event_id: &str,
        timeout: std::time::Duration,
    ) -> Result<crate::executor::RunView, TestError> {
        let filter = crate::executor::RunFilter {
            event: Some(event_id.to_string()),
            ..crate::executor::RunFilter::default()
        };
        self.poll(
            &format!("a run started by event {event_id}"),
            timeout,
            || async {
                let mut runs = self.executor.runs(&filter).await?;
                Ok(runs.pop())
            },
        )
        .await
    }

    /// Waits until run `run_id` has reached step `step` (the step's id as the function
    /// wrote it): it ran, or the run sleeps or waits there. Returns the run with its steps.
    pub async fn wait_until_step(
        &self,
        run_id: &str,
        step: &str,
        timeout: std::time::Duration,
    ) -> Result<crate::executor::RunView, TestError> {
        self.poll(
            &format!("step `{step}` of run {run_id}"),
            timeout,
            || async {
                let run = self.executor.run(run_id).await?;
                Ok(run.filter(|run| {
                    run.steps
                        .as_deref()
                        .unwrap_or_default()
                        .iter()
                        .any(|record| record.name == step)
                }))
            },
        )
        .await
    }

    /// Waits until run `run_id` has finished (completed, failed or cancelled). Returns the
    /// run with its steps.
    pub async fn wait_until_finished(
        &self,
        run_id: &str,
        timeout: std::time::Duration,
    ) -> Result<crate::executor::RunView, TestError> {
        let run = self
            .executor
            .wait_for_run(run_id, timeout)
            .await?
            .ok_or_else(|| TestError::NoSuchRun(run_id.to_string()))?;
        if run.status.is_final() {
            Ok(run)
        } else {
            Err(TestError::Timeout {
                what: format!("run {run_id} to finish (it is {:?})", run.status),
                after: timeout,
            })
        }
    }

    /// Polls `probe` every 20 ms (tokio's clock) until it gives a value or `timeout` passes.
    async fn poll<T, F, Fut>(
        &self,
        what: &str,
        timeout: std::time::Duration,
        mut probe: F,
    ) -> Result<T, TestError>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<Option<T>, crate::executor::ExecutorError>>,
    {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(found) = probe().await? {
                return Ok(found);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(TestError::Timeout {
                    what: what.to_string(),
                    after: timeout,
                });
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }
}
