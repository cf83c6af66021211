//! State transitions, each inside one store transaction: routing an event (triggers, flow
//! control, waits, cancellation), creating runs, and applying what an SDK answered.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

use serde_json::{Map, Value, json};

use super::Job;
use super::functions::{FunctionDef, event_name_matches};
use super::store::{Parent, Run, RunState, RunStatus, StoreResult, Tx, Wait};
use super::transport::ExecResponse;
use crate::protocol::{headers, parse_duration};

/// Idempotency keys and event ids are remembered for 24 hours.
const DAY_MS: i64 = 24 * 60 * 60 * 1000;
/// Priority is clamped to ±12 hours, like the server.
const MAX_PRIORITY_MS: i64 = 12 * 60 * 60 * 1000;

/// In-memory flow-control state (rate-limit windows and throttle schedules). It is rebuilt
/// from nothing after a restart: at worst a restart admits one more window of events.
#[derive(Default)]
pub struct Limits {
    rate: HashMap<String, VecDeque<i64>>,
    throttle: HashMap<String, i64>,
    /// Compiled `wait_for_event` expressions (compiling is far dearer than evaluating).
    expressions: HashMap<String, Option<Arc<super::expr::Expression>>>,
}

/// What transitions need besides the transaction.
pub struct Context<'a> {
    /// Functions by composite id.
    pub functions: &'a HashMap<String, Arc<FunctionDef>>,
    /// Flow-control state.
    pub limits: &'a Mutex<Limits>,
    /// Now (ms).
    pub now: i64,
    /// Retry backoff: first delay and ceiling, ms.
    pub backoff: (i64, i64),
}

/// A new ULID: the current time in ms and 80 random bits from the OS.
pub fn new_id() -> String {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX));
    let mut random = [0u8; 16];
    // The OS generator does not fail on supported platforms; a failure leaves zeros,
    // and the timestamp still orders the id.
    let _ = getrandom::fill(&mut random);
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

fn error_value(name: &str, message: impl Into<String>) -> Value {
    json!({ "name": name, "message": message.into() })
}

impl Context<'_> {
    fn limits(&self) -> std::sync::MutexGuard<'_, Limits> {
        self.limits
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Stores and routes one event: starts the runs it triggers, resolves the waits it
    /// matches, cancels the runs it cancels. `event` already has `id`, `ts`, `data`, `user`.
    pub fn accept_event(&self, tx: &Tx<'_>, event: &Value) -> StoreResult<()> {
        let id = event.get("id").and_then(Value::as_str).unwrap_or_default();
        let name = event
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or_default();
        let duplicate = tx.event_seen(id, self.now - DAY_MS)?;
        tx.insert_event(id, name, event, self.now)?;
        if duplicate {
            tracing::debug!(event = %id, "duplicate event id within 24 h; no runs started");
            return Ok(());
        }
        self.route(tx, event, name, id)
    }

    fn route(&self, tx: &Tx<'_>, event: &Value, name: &str, id: &str) -> StoreResult<()> {
        let mut functions: Vec<&Arc<FunctionDef>> = self.functions.values().collect();
        functions.sort_by(|a, b| a.id.cmp(&b.id));
        for function in &functions {
            if function.triggered_by(event) {
                self.schedule(tx, function, event)?;
            }
        }
        for wait in tx.waits_for(name)? {
            if wait.expires_at < self.now || !self.wait_matches(&wait, event) {
                continue;
            }
            if tx.delete_wait(&wait.run_id, &wait.hash)? {
                self.resolve(tx, &wait.run_id, &wait.hash, event.clone(), "Completed")?;
            }
        }
        for function in &functions {
            for rule in &function.cancel {
                if !event_name_matches(&rule.event, name) {
                    continue;
                }
                for run in tx.active_runs(&function.id)? {
                    let trigger = run.state.events.first().cloned().unwrap_or(Value::Null);
                    if run
                        .state
                        .events
                        .iter()
                        .any(|e| e.get("id") == Some(&json!(id)))
                    {
                        continue;
                    }
                    if rule
                        .timeout_ms
                        .is_some_and(|t| self.now - run.created_at > t)
                    {
                        continue;
                    }
                    let matched = match &rule.expression {
                        None => true,
                        Some(expression) => expression
                            .matches(&[("event", &trigger), ("async", event)])
                            .unwrap_or(false),
                    };
                    if matched {
                        self.cancel(tx, run, &format!("cancelled by event {name} ({id})"))?;
                    }
                }
            }
        }
        Ok(())
    }

    fn wait_matches(&self, wait: &Wait, event: &Value) -> bool {
        let Some(source) = &wait.expression else {
            return true;
        };
        match self.expression(source) {
            Some(expression) => expression
                .matches(&[("event", &wait.trigger), ("async", event)])
                .unwrap_or(false),
            None => false,
        }
    }

    /// A compiled expression from the cache, compiling it on first use.
    fn expression(&self, source: &str) -> Option<Arc<super::expr::Expression>> {
        if let Some(cached) = self.limits().expressions.get(source) {
            return cached.clone();
        }
        let compiled = super::expr::Expression::compile(source).ok().map(Arc::new);
        let mut limits = self.limits();
        if limits.expressions.len() > 10_000 {
            limits.expressions.clear();
        }
        limits
            .expressions
            .insert(source.to_string(), compiled.clone());
        compiled
    }

    /// Applies batching and debounce, then creates the run.
    fn schedule(&self, tx: &Tx<'_>, function: &FunctionDef, event: &Value) -> StoreResult<()> {
        if let Some(batch) = &function.batch {
            let eligible = batch
                .condition
                .as_ref()
                .is_none_or(|c| c.matches(&[("event", event)]).unwrap_or(false));
            if eligible && batch.max_size > 1 {
                let key = FunctionDef::key_of(batch.key.as_ref(), event);
                let kv = format!("batch:{}:{key}", function.id);
                let mut events = match tx.kv_get(&kv, self.now)? {
                    Some(Value::Array(events)) => events,
                    _ => Vec::new(),
                };
                events.push(event.clone());
                let flush = Job::BatchFlush {
                    function_id: function.id.clone(),
                    key: key.clone(),
                };
                if events.len() >= batch.max_size {
                    tx.kv_delete(&kv)?;
                    tx.delete_jobs_like(&flush)?;
                    self.create_run(tx, function, events, None)?;
                } else {
                    if events.len() == 1 {
                        tx.enqueue(None, self.now + batch.timeout_ms, 0, &flush)?;
                    }
                    tx.kv_set(&kv, &Value::Array(events), None)?;
                }
                return Ok(());
            }
        }
        if let Some(debounce) = &function.debounce {
            let key = FunctionDef::key_of(debounce.key.as_ref(), event);
            let kv = format!("debounce:{}:{key}", function.id);
            let first_at = tx
                .kv_get(&kv, self.now)?
                .and_then(|v| v.get("first_at").and_then(Value::as_i64))
                .unwrap_or(self.now);
            let job = Job::Debounce {
                function_id: function.id.clone(),
                key,
            };
            tx.delete_jobs_like(&job)?;
            let mut due = self.now + debounce.period_ms;
            if let Some(timeout) = debounce.timeout_ms {
                due = due.min(first_at + timeout);
            }
            tx.kv_set(&kv, &json!({"event": event, "first_at": first_at}), None)?;
            tx.enqueue(None, due, 0, &job)?;
            return Ok(());
        }
        self.create_run(tx, function, vec![event.clone()], None)?;
        Ok(())
    }

    /// Creates a run after idempotency, rate limit, singleton, priority and throttle.
    /// Returns the run id, or `None` when flow control skipped it.
    pub fn create_run(
        &self,
        tx: &Tx<'_>,
        function: &FunctionDef,
        events: Vec<Value>,
        parent: Option<Parent>,
    ) -> StoreResult<Option<String>> {
        let event = events.first().cloned().unwrap_or(Value::Null);
        if let Some(expression) = &function.idempotency
            && let Ok(Some(key)) = expression.key(&[("event", &event)])
        {
            let kv = format!("idempotency:{}:{key}", function.id);
            if tx.kv_get(&kv, self.now)?.is_some() {
                tracing::debug!(function = %function.id, %key, "skipped: idempotency key seen");
                return Ok(None);
            }
            tx.kv_set(&kv, &json!(self.now), Some(self.now + DAY_MS))?;
        }
        if let Some(rate) = &function.rate_limit {
            let key = format!(
                "{}:{}",
                function.id,
                FunctionDef::key_of(rate.key.as_ref(), &event)
            );
            let mut limits = self.limits();
            let window = limits.rate.entry(key).or_default();
            while window
                .front()
                .is_some_and(|t| *t <= self.now - rate.period_ms)
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
            let key = FunctionDef::key_of(singleton.key.as_ref(), &event);
            for run in tx.active_runs(&function.id)? {
                if run.state.singleton_key.as_deref() == Some(key.as_str()) {
                    if singleton.cancel {
                        self.cancel(tx, run, "cancelled by a newer singleton run")?;
                    } else {
                        tracing::debug!(function = %function.id, "skipped: singleton running");
                        return Ok(None);
                    }
                }
            }
            singleton_key = Some(key);
        }
        let priority_ms = function
            .priority
            .as_ref()
            .and_then(|p| p.evaluate(&[("event", &event)]).ok())
            .and_then(|v| v.as_f64())
            .map(|seconds| ((seconds * 1000.0) as i64).clamp(-MAX_PRIORITY_MS, MAX_PRIORITY_MS))
            .unwrap_or(0);
        let concurrency_keys = function
            .concurrency
            .iter()
            .map(|c| {
                let value = FunctionDef::key_of(c.key.as_ref(), &event);
                let scope = match c.scope.as_str() {
                    "fn" => function.id.clone(),
                    other => other.to_string(),
                };
                let expression = c.key.as_ref().map(|k| k.source()).unwrap_or_default();
                (format!("{scope}|{expression}|{value}"), c.limit)
            })
            .collect();
        let mut start_at = self.now;
        if let Some(throttle) = &function.throttle {
            let key = format!(
                "{}:{}",
                function.id,
                FunctionDef::key_of(throttle.key.as_ref(), &event)
            );
            let interval = throttle.period_ms / i64::from(throttle.limit.max(1));
            let tolerance = interval * i64::from(throttle.burst);
            let mut limits = self.limits();
            let tat = limits.throttle.entry(key).or_insert(self.now);
            let next = (*tat).max(self.now) + interval;
            start_at = self.now.max(next - interval - tolerance);
            *tat = next;
        }
        let run = Run {
            id: new_id(),
            function_id: function.id.clone(),
            status: RunStatus::Queued,
            created_at: self.now,
            started_at: None,
            ended_at: None,
            state: RunState {
                events,
                version: -1,
                parent,
                concurrency_keys,
                singleton_key,
                priority_ms,
                ..RunState::default()
            },
            output: None,
            error: None,
        };
        tx.insert_run(&run)?;
        self.enqueue_execute(tx, &run, None, 0, start_at)?;
        Ok(Some(run.id))
    }

    /// Queues an execution of `run`, targeted at `step` when given.
    pub fn enqueue_execute(
        &self,
        tx: &Tx<'_>,
        run: &Run,
        step: Option<String>,
        attempt: u32,
        due_at: i64,
    ) -> StoreResult<()> {
        let job = Job::Execute {
            run_id: run.id.clone(),
            step,
            attempt,
            limits: run.state.concurrency_keys.clone(),
        };
        tx.enqueue(Some(&run.id), due_at, run.state.priority_ms, &job)?;
        Ok(())
    }

    /// Memoizes an op's value and, once nothing else is pending, queues the next discovery.
    pub fn resolve(
        &self,
        tx: &Tx<'_>,
        run_id: &str,
        hash: &str,
        memo: Value,
        status: &str,
    ) -> StoreResult<()> {
        let Some(mut run) = tx.run(run_id)? else {
            return Ok(());
        };
        if run.status.is_final() {
            return Ok(());
        }
        if tx.finish_step(run_id, hash, status, &memo, self.now)? {
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
            self.enqueue_execute(tx, &run, None, 0, self.now)?;
        }
        tx.update_run(&run)
    }

    /// Finishes a run with its return value.
    pub fn complete(&self, tx: &Tx<'_>, run: Run, output: Value) -> StoreResult<()> {
        self.finish(tx, run, RunStatus::Completed, Ok(output))
    }

    /// Fails a run for good and emits `inngest/function.failed`.
    pub fn fail(&self, tx: &Tx<'_>, run: Run, error: Value) -> StoreResult<()> {
        self.finish(tx, run, RunStatus::Failed, Err(error))
    }

    /// Cancels a run and emits `inngest/function.cancelled`.
    pub fn cancel(&self, tx: &Tx<'_>, run: Run, reason: &str) -> StoreResult<()> {
        if run.status.is_final() {
            return Ok(());
        }
        tracing::info!(run = %run.id, function = %run.function_id, reason, "run cancelled");
        let error = error_value("Cancelled", reason);
        self.finish(tx, run, RunStatus::Cancelled, Err(error))
    }

    /// Ends a run: stores the outcome, drops its jobs and waits, resumes an invoking parent,
    /// and emits `inngest/function.failed` or `inngest/function.cancelled`.
    fn finish(
        &self,
        tx: &Tx<'_>,
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
        tx.update_run(&run)?;
        tx.delete_run_jobs(&run.id)?;
        if let Some(parent) = &run.state.parent {
            self.resolve_invoke(tx, parent, memo)?;
        }
        let name = match status {
            RunStatus::Failed => "inngest/function.failed",
            RunStatus::Cancelled => "inngest/function.cancelled",
            _ => return Ok(()),
        };
        let events = run.state.events.clone();
        let mut data = json!({
            "_inngest": { "status": status.as_str() },
            "event": events.first().cloned().unwrap_or(Value::Null),
            "events": events,
            "function_id": run.function_id,
            "run_id": run.id,
        });
        if let (RunStatus::Failed, Err(error)) = (status, &outcome) {
            data["error"] = error.clone();
            data["result"] = error.clone();
        }
        let event = self.internal_event(name, data);
        self.accept_event(tx, &event)
    }

    fn resolve_invoke(&self, tx: &Tx<'_>, parent: &Parent, memo: Value) -> StoreResult<()> {
        let status = if memo.get("error").is_some() {
            "Failed"
        } else {
            "Completed"
        };
        tx.delete_jobs_like(&Job::InvokeTimeout {
            run_id: parent.run_id.clone(),
            hash: parent.hash.clone(),
        })?;
        self.resolve(tx, &parent.run_id, &parent.hash, memo, status)
    }

    /// An event produced by the executor itself.
    pub fn internal_event(&self, name: &str, data: Value) -> Value {
        json!({ "id": new_id(), "name": name, "data": data, "ts": self.now, "user": {} })
    }

    fn backoff(&self, attempt: u32, retry_after: Option<&str>) -> i64 {
        if let Some(at) = retry_after.and_then(|v| retry_after_ms(v, self.now)) {
            return at;
        }
        let (initial, max) = self.backoff;
        let factor = 1_i64.checked_shl(attempt.min(30)).unwrap_or(i64::MAX);
        self.now + initial.saturating_mul(factor).min(max)
    }

    /// Retries the unit of work if attempts remain; otherwise fails the run.
    #[allow(clippy::too_many_arguments)]
    fn retry_or_fail(
        &self,
        tx: &Tx<'_>,
        mut run: Run,
        function: &FunctionDef,
        step: Option<String>,
        error: Value,
        no_retry: bool,
        retry_after: Option<&str>,
    ) -> StoreResult<()> {
        let attempt = run.state.attempt;
        if !no_retry && attempt + 1 < function.max_attempts {
            run.state.attempt = attempt + 1;
            let due = self.backoff(attempt, retry_after);
            self.enqueue_execute(tx, &run, step, attempt + 1, due)?;
            tx.update_run(&run)
        } else {
            self.fail(tx, run, error)
        }
    }

    /// Applies one execution's outcome. `job_id` is the job that ran, `attempt` its attempt;
    /// if the job is gone (the run was cancelled meanwhile), the outcome is dropped.
    pub fn apply(
        &self,
        tx: &Tx<'_>,
        job_id: i64,
        run_id: &str,
        step: Option<String>,
        attempt: u32,
        outcome: Result<ExecResponse, String>,
    ) -> StoreResult<()> {
        if !tx.delete_job(job_id)? {
            return Ok(());
        }
        let Some(mut run) = tx.run(run_id)? else {
            return Ok(());
        };
        if run.status.is_final() {
            return Ok(());
        }
        // Retries count from the attempt of the job that ran, not from the run's last
        // recorded attempt: parallel steps retry independently, and another step finishing
        // meanwhile resets the run's counter.
        run.state.attempt = attempt;
        let Some(function) = self.functions.get(&run.function_id).cloned() else {
            let message = format!(
                "function `{}` is no longer registered with the executor",
                run.function_id
            );
            return self.fail(tx, run, error_value("FunctionNotFound", message));
        };
        if run.status == RunStatus::Queued {
            run.status = RunStatus::Running;
            run.started_at = Some(self.now);
            if let Some(finish) = function.finish_timeout_ms {
                tx.enqueue(
                    Some(&run.id),
                    self.now + finish,
                    0,
                    &Job::FinishTimeout {
                        run_id: run.id.clone(),
                    },
                )?;
            }
        }
        let response = match outcome {
            Ok(response) => response,
            Err(reason) => {
                let error = error_value("ExecutorError", reason);
                return self.retry_or_fail(tx, run, &function, step, error, false, None);
            }
        };
        if let Some(version) = response
            .header(headers::REQ_VERSION)
            .and_then(|v| v.parse::<i64>().ok())
        {
            run.state.version = version;
        }
        let body: Value = serde_json::from_slice(&response.body).unwrap_or_else(|_| {
            Value::String(String::from_utf8_lossy(&response.body).into_owned())
        });
        if (200..300).contains(&response.status) && response.header(headers::SDK).is_none() {
            let error = error_value(
                "NotAnSdkResponse",
                format!(
                    "the app answered {} without an {} header; is the serve URL right?",
                    response.status,
                    headers::SDK
                ),
            );
            return self.retry_or_fail(tx, run, &function, step, error, false, None);
        }
        match response.status {
            200 => self.complete(tx, run, body),
            206 => {
                let ops = match body {
                    Value::Array(ops) => ops,
                    op @ Value::Object(_) => vec![op],
                    other => {
                        let error = error_value(
                            "InvalidResponse",
                            format!("a 206 must carry an array of ops, got {other}"),
                        );
                        return self.retry_or_fail(tx, run, &function, step, error, false, None);
                    }
                };
                self.apply_ops(tx, run, &function, step, ops, &response)
            }
            status => {
                let error = if body.is_object() {
                    body
                } else {
                    error_value("Error", format!("HTTP {status}: {body}"))
                };
                let no_retry = response.no_retry().unwrap_or(false);
                let retry_after = response.header(headers::RETRY_AFTER).map(str::to_owned);
                self.retry_or_fail(
                    tx,
                    run,
                    &function,
                    step,
                    error,
                    no_retry,
                    retry_after.as_deref(),
                )
            }
        }
    }

    fn apply_ops(
        &self,
        tx: &Tx<'_>,
        mut run: Run,
        function: &FunctionDef,
        step: Option<String>,
        ops: Vec<Value>,
        response: &ExecResponse,
    ) -> StoreResult<()> {
        if ops.is_empty() {
            if run.state.pending.is_empty() {
                let error = error_value("NoWork", "the SDK reported no ops and nothing is pending");
                return self.retry_or_fail(tx, run, function, step, error, false, None);
            }
            return tx.update_run(&run);
        }
        if ops.len() > 1 {
            run.state.force_plan = true;
        }
        let mut discover = false;
        let run_id = run.id.clone();
        for op in ops {
            let hash = op
                .get("id")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string();
            let kind = op.get("op").and_then(Value::as_str).unwrap_or_default();
            let name = op
                .get("displayName")
                .or_else(|| op.pointer("/userland/id"))
                .or_else(|| op.get("name"))
                .and_then(Value::as_str)
                .unwrap_or(&hash)
                .to_string();
            let opts = op.get("opts").filter(|o| !o.is_null());
            let finished = |tx: &Tx<'_>, run: &mut Run, status: &str, memo: Value| {
                if tx.finish_step(&run_id, &hash, status, &memo, self.now)? {
                    run.state.stack.push(hash.clone());
                }
                run.state.pending.retain(|p| p != &hash);
                run.state.attempt = 0;
                StoreResult::Ok(())
            };
            match kind {
                "StepRun" => {
                    tx.touch_step(&run_id, &hash, &name, kind, "Running", opts, true, self.now)?;
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    finished(tx, &mut run, "Completed", json!({ "data": data }))?;
                    discover = true;
                }
                "StepFailed" => {
                    tx.touch_step(&run_id, &hash, &name, kind, "Running", opts, true, self.now)?;
                    let error = op.get("error").cloned().unwrap_or(Value::Null);
                    finished(tx, &mut run, "Failed", json!({ "error": error }))?;
                    discover = true;
                }
                "StepError" => {
                    tx.touch_step(
                        &run_id, &hash, &name, kind, "Retrying", opts, true, self.now,
                    )?;
                    let error = op.get("error").cloned().unwrap_or(Value::Null);
                    let attempt = run.state.attempt;
                    let no_retry = response.no_retry() == Some(true);
                    if !no_retry && attempt + 1 < function.max_attempts {
                        run.state.attempt = attempt + 1;
                        let due = self.backoff(attempt, response.header(headers::RETRY_AFTER));
                        self.enqueue_execute(tx, &run, step.clone(), attempt + 1, due)?;
                    } else {
                        finished(tx, &mut run, "Failed", json!({ "error": error }))?;
                        discover = true;
                    }
                }
                "StepPlanned" => {
                    tx.touch_step(
                        &run_id, &hash, &name, kind, "Planned", opts, false, self.now,
                    )?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        self.enqueue_execute(tx, &run, Some(hash.clone()), 0, self.now)?;
                    }
                }
                "Sleep" => {
                    let spec = opts
                        .and_then(|o| o.get("duration"))
                        .or_else(|| op.get("name"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(wake_at) = wake_time(spec, self.now) else {
                        let error = error_value(
                            "InvalidSleep",
                            format!(
                                "step `{name}`: `{spec}` is neither a duration nor an RFC 3339 time"
                            ),
                        );
                        return self.fail(tx, run, error);
                    };
                    let input = json!({ "duration": spec, "until": wake_at });
                    tx.touch_step(
                        &run_id,
                        &hash,
                        &name,
                        kind,
                        "Sleeping",
                        Some(&input),
                        true,
                        self.now,
                    )?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        tx.enqueue(
                            Some(&run_id),
                            wake_at,
                            0,
                            &Job::SleepWake {
                                run_id: run_id.clone(),
                                hash: hash.clone(),
                            },
                        )?;
                    }
                }
                "WaitForEvent" => {
                    let event = opts
                        .and_then(|o| o.get("event"))
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                        .or_else(|| op.get("name").and_then(Value::as_str))
                        .unwrap_or_default()
                        .to_string();
                    let timeout = opts
                        .and_then(|o| o.get("timeout"))
                        .and_then(Value::as_str)
                        .unwrap_or("52w");
                    let expression = opts
                        .and_then(|o| o.get("if"))
                        .and_then(Value::as_str)
                        .filter(|e| !e.is_empty())
                        .map(str::to_owned);
                    if let Some(source) = &expression
                        && self.expression(source).is_none()
                        && let Err(error) = super::expr::Expression::compile(source)
                    {
                        let error =
                            error_value("InvalidExpression", format!("step `{name}`: {error}"));
                        return self.fail(tx, run, error);
                    }
                    let Some(expires_at) = wake_time(timeout, self.now) else {
                        let error = error_value(
                            "InvalidTimeout",
                            format!("step `{name}`: timeout `{timeout}` is not a duration"),
                        );
                        return self.fail(tx, run, error);
                    };
                    tx.touch_step(&run_id, &hash, &name, kind, "Waiting", opts, true, self.now)?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        let wait = Wait {
                            run_id: run_id.clone(),
                            hash: hash.clone(),
                            expression,
                            trigger: run.state.events.first().cloned().unwrap_or(Value::Null),
                            expires_at,
                        };
                        tx.insert_wait(&wait, &event)?;
                        tx.enqueue(
                            Some(&run_id),
                            expires_at,
                            0,
                            &Job::WaitTimeout {
                                run_id: run_id.clone(),
                                hash: hash.clone(),
                            },
                        )?;
                    }
                }
                "InvokeFunction" => {
                    tx.touch_step(
                        &run_id, &hash, &name, kind, "Invoking", opts, true, self.now,
                    )?;
                    if run.state.pending.contains(&hash) {
                        continue;
                    }
                    let target_id = opts
                        .and_then(|o| o.get("function_id"))
                        .and_then(Value::as_str)
                        .unwrap_or_default();
                    let Some(target) = self.functions.get(target_id).cloned() else {
                        let error = error_value(
                            "FunctionNotFound",
                            format!(
                                "step `{name}` invokes `{target_id}`, which is not registered with the executor"
                            ),
                        );
                        finished(tx, &mut run, "Failed", json!({ "error": error }))?;
                        discover = true;
                        continue;
                    };
                    let payload = opts.and_then(|o| o.get("payload"));
                    let mut data = payload
                        .and_then(|p| p.get("data"))
                        .and_then(Value::as_object)
                        .cloned()
                        .unwrap_or_default();
                    let timeout_ms = opts
                        .and_then(|o| o.get("timeout"))
                        .and_then(Value::as_str)
                        .and_then(|t| parse_duration(t).ok())
                        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
                    data.insert(
                        "_inngest".into(),
                        json!({
                            "fn_id": target.id,
                            "source_fn_id": function.id,
                            "source_run_id": run_id,
                            "correlation_id": format!("{run_id}.{hash}"),
                            "name": name,
                            "expire": timeout_ms.map(|t| self.now.saturating_add(t)),
                        }),
                    );
                    let mut event = Map::new();
                    event.insert("id".into(), json!(new_id()));
                    event.insert("name".into(), json!("inngest/function.invoked"));
                    event.insert("data".into(), Value::Object(data));
                    event.insert("ts".into(), json!(self.now));
                    event.insert(
                        "user".into(),
                        payload
                            .and_then(|p| p.get("user"))
                            .cloned()
                            .unwrap_or(json!({})),
                    );
                    let event = Value::Object(event);
                    tx.insert_event(
                        event["id"].as_str().unwrap_or_default(),
                        "inngest/function.invoked",
                        &event,
                        self.now,
                    )?;
                    run.state.pending.push(hash.clone());
                    // Save the pending invoke before the child can resolve it.
                    tx.update_run(&run)?;
                    let parent = Parent {
                        run_id: run_id.clone(),
                        hash: hash.clone(),
                    };
                    match self.create_run(tx, &target, vec![event], Some(parent))? {
                        Some(_) => {
                            if let Some(timeout) = timeout_ms {
                                tx.enqueue(
                                    Some(&run_id),
                                    self.now.saturating_add(timeout),
                                    0,
                                    &Job::InvokeTimeout {
                                        run_id: run_id.clone(),
                                        hash: hash.clone(),
                                    },
                                )?;
                            }
                        }
                        None => {
                            let error = error_value(
                                "InvokeSkipped",
                                format!("flow control of `{target_id}` skipped the invoked run"),
                            );
                            finished(tx, &mut run, "Failed", json!({ "error": error }))?;
                            discover = true;
                        }
                    }
                }
                "RunComplete" => {
                    let data = op.get("data").cloned().unwrap_or(Value::Null);
                    return self.complete(tx, run, data);
                }
                other => {
                    let error = error_value(
                        "UnsupportedOp",
                        format!(
                            "the embedded executor does not support the `{other}` op (step `{name}`); use an Inngest server for it"
                        ),
                    );
                    return self.fail(tx, run, error);
                }
            }
        }
        if discover && run.state.pending.is_empty() {
            run.state.force_plan = false;
            self.enqueue_execute(tx, &run, None, run.state.attempt, self.now)?;
        }
        tx.update_run(&run)
    }
}

/// A sleep or timeout spec as an absolute time (ms): an RFC 3339 time (tried first for 10+
/// characters, like the server) or a duration from `now`.
pub fn wake_time(spec: &str, now: i64) -> Option<i64> {
    if spec.len() >= 10
        && let Ok(at) = chrono::DateTime::parse_from_rfc3339(spec)
    {
        return Some(at.timestamp_millis());
    }
    parse_duration(spec)
        .ok()
        .map(|d| now.saturating_add(i64::try_from(d.as_millis()).unwrap_or(i64::MAX)))
}

/// `Retry-After` as an absolute time: integer seconds or a date, clamped to 1 s..24 h.
fn retry_after_ms(value: &str, now: i64) -> Option<i64> {
    let value = value.trim();
    let delay = if let Ok(seconds) = value.parse::<i64>() {
        seconds.saturating_mul(1000)
    } else if let Ok(at) = chrono::DateTime::parse_from_rfc3339(value) {
        at.timestamp_millis() - now
    } else if let Ok(at) = chrono::DateTime::parse_from_rfc2822(value) {
        at.timestamp_millis() - now
    } else {
        return None;
    };
    Some(now + delay.clamp(1_000, DAY_MS))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_reads_seconds_and_dates_and_clamps() {
        assert_eq!(retry_after_ms("3", 0), Some(3_000));
        assert_eq!(retry_after_ms("0", 0), Some(1_000));
        assert_eq!(retry_after_ms("999999999", 0), Some(DAY_MS));
        assert_eq!(
            retry_after_ms("2026-11-23T09:08:56.330Z", 1_795_424_930_000),
            Some(1_795_424_936_330)
        );
        assert_eq!(retry_after_ms("soon", 0), None);
    }

    #[test]
    fn sleeps_take_durations_or_times() {
        assert_eq!(wake_time("2s", 1_000), Some(3_000));
        assert_eq!(wake_time("1h30m", 0), Some(5_400_000));
        assert_eq!(
            wake_time("2026-11-23T09:08:56Z", 0),
            Some(1_795_424_936_000)
        );
        assert_eq!(wake_time("tomorrow", 0), None);
    }
}
