//! Creating a run under flow control: idempotency, rate limit, singleton, priority,
//! concurrency keys and throttle; then its first execution and its cancellation listeners.

use inngest_protocol::Event;
use serde_json::{Value, json};

use super::{DAY_MS, Transition};
use crate::error::StoreResult;
use crate::functions::FunctionDef;
use crate::ids::new_id;
use crate::matching::EqualityIndex;
use crate::model::{ConcurrencyKey, Job, Parent, Run, RunState, RunStatus};
use crate::store::{ListenerKind, NewJob, NewListener};

/// Priority is clamped to ±12 hours, like the server.
const MAX_PRIORITY_MS: i64 = 12 * 60 * 60 * 1000;

impl Transition<'_> {
    /// Creates a run of `function` for `events`, unless flow control skips it. Returns the
    /// run id.
    pub(crate) fn create_run(
        &self,
        function: &FunctionDef,
        events: Vec<Event>,
        parent: Option<Parent>,
    ) -> StoreResult<Option<String>> {
        let first = match events.first() {
            Some(event) => serde_json::to_value(event)?,
            None => Value::Null,
        };
        if let Some(expression) = &function.idempotency
            && let Ok(Some(key)) = expression.key(&[("event", &first)])
        {
            let kv = format!("idempotency:{}:{key}", function.id);
            if self.tx.kv_get(&kv, self.now)?.is_some() {
                tracing::debug!(function = %function.id, %key, "skipped: idempotency key seen");
                return Ok(None);
            }
            self.tx
                .kv_set(&kv, &json!(self.now), Some(self.now.saturating_add(DAY_MS)))?;
        }
        if let Some(rate) = &function.rate_limit {
            let key = format!(
                "{}:{}",
                function.id,
                FunctionDef::key_of(rate.key.as_ref(), &first)
            );
            let mut limits = self.engine.limits.lock();
            let window = limits.rate.entry(key).or_default();
            while window
                .front()
                .is_some_and(|t| *t <= self.now.saturating_sub(rate.period_ms))
            {
                window.pop_front();
            }
            if window.len() >= rate.limit as usize {
                tracing::debug!(function = %function.id, "skipped: rate limit");
                return Ok(None);
            }
            window.push_back(self.now);
        }
        let mut singleton_key = None;
        if let Some(singleton) = &function.singleton {
            let key = FunctionDef::key_of(singleton.key.as_ref(), &first);
            for run in self.tx.active_singletons(&function.id, &key)? {
                if singleton.cancel {
                    // Read again: cancelling the previous one may have ended this one (its
                    // `inngest/function.cancelled` can start and cancel runs).
                    if let Some(current) = self.tx.run(&run.id)? {
                        self.cancel(current, "cancelled by a newer singleton run")?;
                    }
                } else {
                    tracing::debug!(function = %function.id, "skipped: singleton running");
                    return Ok(None);
                }
            }
            singleton_key = Some(key);
        }
        let priority_ms = function
            .priority
            .as_ref()
            .and_then(|p| p.evaluate(&[("event", &first)]).ok())
            .and_then(|v| v.as_f64())
            .filter(|seconds| seconds.is_finite())
            // Clamped first, so the cast cannot overflow.
            .map(|seconds| (seconds.clamp(-43_200.0, 43_200.0) * 1000.0) as i64)
            .map_or(0, |ms| ms.clamp(-MAX_PRIORITY_MS, MAX_PRIORITY_MS));
        let concurrency = function
            .concurrency
            .iter()
            .take(2)
            .map(|c| {
                let value = FunctionDef::key_of(c.key.as_ref(), &first);
                let scope = match c.scope {
                    "fn" => function.id.as_str(),
                    other => other,
                };
                let expression = c.key.as_ref().map(|k| k.source()).unwrap_or_default();
                ConcurrencyKey {
                    key: format!("{scope}|{expression}|{value}"),
                    limit: c.limit,
                }
            })
            .collect();
        let mut start_at = self.now;
        if let Some(throttle) = &function.throttle {
            let key = format!(
                "{}:{}",
                function.id,
                FunctionDef::key_of(throttle.key.as_ref(), &first)
            );
            let interval = throttle.period_ms / i64::from(throttle.limit.max(1));
            let tolerance = interval.saturating_mul(i64::from(throttle.burst));
            let mut limits = self.engine.limits.lock();
            let tat = limits.throttle.entry(key).or_insert(self.now);
            let next = (*tat).max(self.now).saturating_add(interval);
            start_at = self
                .now
                .max(next.saturating_sub(interval).saturating_sub(tolerance));
            *tat = next;
        }
        let run = Run {
            id: new_id(self.now),
            function_id: function.id.clone(),
            status: RunStatus::Queued,
            created_at: self.now,
            started_at: None,
            ended_at: None,
            singleton_key,
            state: RunState {
                version: -1,
                parent,
                concurrency,
                priority_ms,
                listening: !function.cancel.is_empty(),
                ..RunState::default()
            },
            output: None,
            error: None,
        };
        self.tx.insert_run(&run, &events)?;
        self.created();
        self.enqueue_execute(&run, None, 0, start_at)?;
        for rule in &function.cancel {
            let expires_at = rule
                .timeout_ms
                .map_or(i64::MAX, |timeout| self.now.saturating_add(timeout));
            self.add_listener(
                ListenerKind::Cancel,
                &rule.event,
                rule.condition.as_deref(),
                &run.id,
                None,
                &first,
                expires_at,
            )?;
        }
        Ok(Some(run.id))
    }

    /// Queues an execution of `run`, targeted at `step` when given.
    pub(crate) fn enqueue_execute(
        &self,
        run: &Run,
        step: Option<String>,
        attempt: u32,
        due_at: i64,
    ) -> StoreResult<()> {
        let job = Job::Execute {
            run_id: run.id.clone(),
            step,
            attempt,
        };
        let keyed = !run.state.concurrency.is_empty();
        if self.hold_execution(&run.id, &job, due_at, run.state.priority_ms, keyed) {
            return Ok(());
        }
        self.tx.enqueue(&NewJob {
            job: &job,
            due_at,
            priority_ms: run.state.priority_ms,
            concurrency: &run.state.concurrency,
        })?;
        self.queued();
        Ok(())
    }

    /// Stores a wait or cancellation listener, indexed by its condition's equality when it
    /// has one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn add_listener(
        &self,
        kind: ListenerKind,
        event: &str,
        condition: Option<&str>,
        run_id: &str,
        hash: Option<&str>,
        trigger: &Value,
        expires_at: i64,
    ) -> StoreResult<()> {
        let matching = condition
            .and_then(|source| self.engine.expression(source))
            .and_then(|expression| EqualityIndex::of(&expression))
            .and_then(|index| Some((index.path_text(), index.value_for(trigger)?)));
        if let Some((path, _)) = &matching {
            self.engine.add_path(event, path);
        }
        self.tx.insert_listener(&NewListener {
            kind,
            event,
            matching,
            condition,
            run_id,
            hash,
            trigger,
            expires_at,
        })
    }
}
