//! Applying what an SDK answered to one execution request: `200` completes the run, `206`
//! carries ops (handled per opcode below), an error status retries or fails the unit of
//! work. Applied only while the job's lease holds.

use inngest_protocol::op::decode_ops;
use inngest_protocol::{ErrorBody, Op, OpData, Opcode, headers};
use serde_json::{Map, Value, json};

use super::{Transition, error_value, wake_time};
use crate::error::StoreResult;
use crate::functions::FunctionDef;
use crate::ids::new_id;
use crate::model::{ClaimedJob, Job, Parent, Run, RunStatus, StepStatus};
use crate::store::{ListenerKind, StepUpdate};
use crate::transport::ExecResponse;

/// What one execution request produced.
#[derive(Debug, Clone)]
pub(crate) enum Outcome {
    /// The SDK answered; its body is decoded already (outside the write transaction).
    Answered(ExecResponse, Decoded),
    /// No answer (unreachable, timed out, not registered); the message says why.
    NoAnswer(String),
}

/// An answer's body, by status.
#[derive(Debug, Clone)]
pub(crate) enum Decoded {
    /// `200`: the function's return value (a body that is not JSON, as text).
    Output(Value),
    /// `206`: the ops, or why they could not be read.
    Ops(Result<Vec<Op>, String>),
    /// Any other status: the error body, or a message built from the status and body.
    Error(Value),
}

impl Outcome {
    /// Decodes what the SDK answered.
    pub(crate) fn answered(response: ExecResponse) -> Self {
        let decoded = match response.status {
            200 => Decoded::Output(serde_json::from_slice(&response.body).unwrap_or_else(|_| {
                Value::String(String::from_utf8_lossy(&response.body).into_owned())
            })),
            206 => Decoded::Ops(decode_ops(&response.body).map_err(|e| e.to_string())),
            status => Decoded::Error(match serde_json::from_slice::<Value>(&response.body) {
                Ok(body @ Value::Object(_)) => body,
                _ => error_value(
                    "Error",
                    format!(
                        "HTTP {status}: {}",
                        String::from_utf8_lossy(&response.body)
                            .chars()
                            .take(500)
                            .collect::<String>()
                    ),
                ),
            }),
        };
        Outcome::Answered(response, decoded)
    }
}

/// The execution an outcome belongs to.
pub(crate) struct Executed {
    /// The run.
    pub run_id: String,
    /// The targeted step, if any.
    pub step: Option<String>,
    /// Attempt of the unit of work.
    pub attempt: u32,
}

impl Transition<'_> {
    /// Applies one execution's outcome if the job's lease still holds, and returns the
    /// run's next execution when this worker may take it over (see
    /// [`Transition::settle_job`]). Nothing is applied when the lease no longer
    /// holds — the run was cancelled meanwhile.
    pub(crate) fn apply(
        &self,
        claimed: &ClaimedJob,
        executed: &Executed,
        outcome: Outcome,
    ) -> StoreResult<Option<super::Continuation>> {
        match self.begin_job_for_run(claimed, &executed.run_id)? {
            super::handover::Begun::Lost => return Ok(None),
            super::handover::Begun::Leased(None) => {}
            super::handover::Begun::Leased(Some(run)) => {
                self.apply_answer(*run, executed, outcome)?
            }
        }
        self.settle_job()
    }

    fn apply_answer(&self, mut run: Run, executed: &Executed, outcome: Outcome) -> StoreResult<()> {
        if run.status.is_final() {
            return Ok(());
        }
        // Retries count from the attempt of the job that ran, not from the run's last
        // recorded attempt: parallel steps retry independently, and another step finishing
        // meanwhile resets the run's counter.
        run.state.attempt = executed.attempt;
        let Some(function) = self.catalog.get(&run.function_id).cloned() else {
            let message = format!(
                "function `{}` is no longer registered with the executor",
                run.function_id
            );
            self.fail(run, error_value("FunctionNotFound", message))?;
            return Ok(());
        };
        if run.status == RunStatus::Queued {
            run.status = RunStatus::Running;
            run.started_at = Some(self.now);
            if let Some(finish) = function.finish_timeout_ms {
                let job = Job::FinishTimeout {
                    run_id: run.id.clone(),
                };
                self.enqueue(&job, self.now.saturating_add(finish))?;
            }
        }
        let step = executed.step.clone();
        let (response, decoded) = match outcome {
            Outcome::Answered(response, decoded) => (response, decoded),
            Outcome::NoAnswer(reason) => {
                let error = error_value("ExecutorError", reason);
                self.retry_or_fail(run, &function, step, error, false, None)?;
                return Ok(());
            }
        };
        if let Some(version) = response
            .header(headers::REQ_VERSION)
            .and_then(|v| v.parse::<i64>().ok())
        {
            run.state.version = version;
        }
        if (200..300).contains(&response.status) && response.header(headers::SDK).is_none() {
            let error = error_value(
                "NotAnSdkResponse",
                format!(
                    "the app answered {} without an {} header; is the serve URL right?",
                    response.status,
                    headers::SDK
                ),
            );
            self.retry_or_fail(run, &function, step, error, false, None)?;
            return Ok(());
        }
        match decoded {
            Decoded::Output(output) => self.complete(run, output)?,
            Decoded::Ops(Ok(ops)) => self.apply_ops(run, &function, step, ops, &response)?,
            Decoded::Ops(Err(error)) => {
                let error = error_value("InvalidResponse", error);
                self.retry_or_fail(run, &function, step, error, false, None)?;
            }
            Decoded::Error(error) => {
                let no_retry = response.no_retry().unwrap_or(false);
                let retry_after = response.header(headers::RETRY_AFTER).map(str::to_owned);
                self.retry_or_fail(
                    run,
                    &function,
                    step,
                    error,
                    no_retry,
                    retry_after.as_deref(),
                )?;
            }
        }
        Ok(())
    }

    /// Retries the unit of work if attempts remain; otherwise fails the run.
    fn retry_or_fail(
        &self,
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
            self.enqueue_execute(&run, step, attempt + 1, due)?;
            self.save_run(&run)
        } else {
            self.fail(run, error)
        }
    }

    fn apply_ops(
        &self,
        mut run: Run,
        function: &FunctionDef,
        step: Option<String>,
        ops: Vec<Op>,
        response: &ExecResponse,
    ) -> StoreResult<()> {
        if ops.is_empty() {
            if run.state.pending.is_empty() {
                let error = error_value("NoWork", "the SDK reported no ops and nothing is pending");
                return self.retry_or_fail(run, function, step, error, false, None);
            }
            return self.save_run(&run);
        }
        if ops.len() > 1 {
            run.state.force_plan = true;
        }
        let mut discover = false;
        for op in ops {
            let hash = op.id.clone();
            let name = op.step_name().to_string();
            let input = op_input(&op)?;
            let run_id = run.id.clone();
            let base = StepUpdate {
                run_id: &run_id,
                hash: &hash,
                name: &name,
                op: &op.op,
                status: StepStatus::Planned,
                input: None,
                count_attempt: false,
                now: self.now,
            };
            let update = |status, count_attempt, input| base.with(status, count_attempt, input);
            match &op.op {
                Opcode::StepRun => {
                    self.memoize_step_run(&mut run, &op)?;
                    discover = true;
                }
                Opcode::StepFailed => {
                    let memo = json!({ "error": error_of(&op) });
                    let step = update(StepStatus::Failed, true, input.as_ref());
                    self.memoize_ran(&mut run, &step, &memo)?;
                    discover = true;
                }
                Opcode::StepError => {
                    self.tx
                        .touch_step(&update(StepStatus::Retrying, true, input.as_ref()))?;
                    let attempt = run.state.attempt;
                    let no_retry = response.no_retry() == Some(true);
                    if !no_retry && attempt + 1 < function.max_attempts {
                        run.state.attempt = attempt + 1;
                        let due = self.backoff(attempt, response.header(headers::RETRY_AFTER));
                        self.enqueue_execute(&run, step.clone(), attempt + 1, due)?;
                    } else {
                        let memo = json!({ "error": error_of(&op) });
                        if self.memoize(&run.id, &hash, StepStatus::Failed, &memo)? {
                            run.state.stack.push(hash.clone());
                        }
                        run.state.pending.retain(|p| p != &hash);
                        run.state.attempt = 0;
                        discover = true;
                    }
                }
                Opcode::StepPlanned => {
                    self.tx
                        .touch_step(&update(StepStatus::Planned, false, input.as_ref()))?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        self.enqueue_execute(&run, Some(hash.clone()), 0, self.now)?;
                    }
                }
                Opcode::Sleep => {
                    let spec = op.sleep_spec().unwrap_or_default().to_string();
                    let Some(wake_at) = wake_time(&spec, self.now) else {
                        let error = error_value(
                            "InvalidSleep",
                            format!(
                                "step `{name}`: `{spec}` is neither a duration nor an RFC 3339 time"
                            ),
                        );
                        return self.fail(run, error);
                    };
                    let input = json!({ "duration": spec, "until": wake_at });
                    self.tx
                        .touch_step(&update(StepStatus::Sleeping, true, Some(&input)))?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        let job = Job::SleepWake {
                            run_id: run.id.clone(),
                            hash: hash.clone(),
                        };
                        self.enqueue(&job, wake_at)?;
                    }
                }
                Opcode::WaitForEvent => {
                    let options = op.options();
                    let event = op.wait_event().unwrap_or_default().to_string();
                    let timeout = options.timeout.as_deref().unwrap_or("52w");
                    let condition = options
                        .condition
                        .as_deref()
                        .filter(|c| !c.trim().is_empty());
                    if let Some(source) = condition
                        && self.engine.expression(source).is_none()
                    {
                        let message = match crate::expr::Expression::compile(source) {
                            Err(error) => error.to_string(),
                            Ok(_) => format!("`{source}` cannot be used"),
                        };
                        let error =
                            error_value("InvalidExpression", format!("step `{name}`: {message}"));
                        return self.fail(run, error);
                    }
                    let Some(expires_at) = wake_time(timeout, self.now) else {
                        let error = error_value(
                            "InvalidTimeout",
                            format!("step `{name}`: timeout `{timeout}` is not a duration"),
                        );
                        return self.fail(run, error);
                    };
                    self.tx
                        .touch_step(&update(StepStatus::Waiting, true, input.as_ref()))?;
                    if !run.state.pending.contains(&hash) {
                        run.state.pending.push(hash.clone());
                        let trigger = match self.tx.run_events(&run.id)?.first() {
                            Some(event) => serde_json::to_value(event)?,
                            None => Value::Null,
                        };
                        run.state.listening = true;
                        self.add_listener(
                            ListenerKind::Wait,
                            &event,
                            condition,
                            &run.id,
                            Some(&hash),
                            &trigger,
                            expires_at,
                        )?;
                        let job = Job::WaitTimeout {
                            run_id: run.id.clone(),
                            hash: hash.clone(),
                        };
                        self.enqueue(&job, expires_at)?;
                    }
                }
                Opcode::InvokeFunction => {
                    self.tx
                        .touch_step(&update(StepStatus::Invoking, true, input.as_ref()))?;
                    if run.state.pending.contains(&hash) {
                        continue;
                    }
                    if let Some(error) = self.invoke(&mut run, function, &op, &hash, &name)? {
                        let memo = json!({ "error": error });
                        if self.memoize(&run.id, &hash, StepStatus::Failed, &memo)? {
                            run.state.stack.push(hash.clone());
                        }
                        run.state.attempt = 0;
                        discover = true;
                    }
                }
                Opcode::RunComplete => {
                    return self.complete(run, op.data.to_value());
                }
                Opcode::Other(other) => {
                    let error = error_value(
                        "UnsupportedOp",
                        format!(
                            "the embedded executor does not support the `{other}` op (step `{name}`); use an Inngest server for it"
                        ),
                    );
                    return self.fail(run, error);
                }
            }
        }
        if discover && run.state.pending.is_empty() {
            run.state.force_plan = false;
            self.enqueue_execute(&run, None, run.state.attempt, self.now)?;
        }
        self.save_run(&run)
    }

    /// Memoizes a step that ran (`StepRun`, from an answer or a checkpoint): its data, its
    /// place on the stack; it is no longer pending.
    pub(super) fn memoize_step_run(&self, run: &mut Run, op: &Op) -> StoreResult<()> {
        let input = op_input(op)?;
        let step = StepUpdate {
            run_id: &run.id.clone(),
            hash: &op.id,
            name: op.step_name(),
            op: &op.op,
            status: StepStatus::Completed,
            input: input.as_ref(),
            count_attempt: true,
            now: self.now,
        };
        self.memoize_ran(run, &step, &json!({ "data": op.data.to_value() }))
    }

    /// Memoizes `step` with `memo` unless it is already, and takes it off the pending list.
    fn memoize_ran(&self, run: &mut Run, step: &StepUpdate<'_>, memo: &Value) -> StoreResult<()> {
        if self.memoize_new(step, memo)? {
            run.state.stack.push(step.hash.to_string());
        }
        run.state.pending.retain(|p| p != step.hash);
        run.state.attempt = 0;
        Ok(())
    }

    /// Starts the invoked run; on success the step is pending until it finishes. Returns
    /// the step's error when the invoke cannot start.
    fn invoke(
        &self,
        run: &mut Run,
        function: &FunctionDef,
        op: &Op,
        hash: &str,
        name: &str,
    ) -> StoreResult<Option<Value>> {
        let options = op.options();
        let target_id = options.function_id.clone().unwrap_or_default();
        let Some(target) = self.catalog.get(&target_id).cloned() else {
            return Ok(Some(error_value(
                "FunctionNotFound",
                format!(
                    "step `{name}` invokes `{target_id}`, which is not registered with the executor"
                ),
            )));
        };
        let payload = options.payload.unwrap_or_default();
        let mut data: Map<String, Value> = match payload.data {
            Value::Object(data) => data,
            _ => Map::new(),
        };
        let timeout_ms = options
            .timeout
            .as_deref()
            .and_then(|t| inngest_protocol::parse_duration_ms(t).ok());
        data.insert(
            "_inngest".into(),
            json!({
                "fn_id": target.id,
                "source_fn_id": function.id,
                "source_run_id": run.id,
                "correlation_id": format!("{}.{hash}", run.id),
                "name": name,
                "expire": timeout_ms.map(|t| self.now.saturating_add(t)),
            }),
        );
        let event = inngest_protocol::Event {
            name: "inngest/function.invoked".into(),
            data: Value::Object(data),
            id: Some(new_id(self.now)),
            ts: Some(self.now),
            v: payload.v,
            user: Some(payload.user.unwrap_or_else(|| json!({}))),
        };
        self.store_event(&event)?;
        run.state.pending.push(hash.to_string());
        // Save the pending invoke before the child can resolve it.
        self.save_run(run)?;
        let parent = Parent {
            run_id: run.id.clone(),
            hash: hash.to_string(),
        };
        match self.create_run(&target, vec![event], Some(parent))? {
            Some(_) => {
                if let Some(timeout) = timeout_ms {
                    let job = Job::InvokeTimeout {
                        run_id: run.id.clone(),
                        hash: hash.to_string(),
                    };
                    self.enqueue(&job, self.now.saturating_add(timeout))?;
                }
                Ok(None)
            }
            None => {
                run.state.pending.retain(|p| p != hash);
                Ok(Some(error_value(
                    "InvokeSkipped",
                    format!("flow control of `{target_id}` skipped the invoked run"),
                )))
            }
        }
    }
}

/// An op's options as the step's input on the runs page, unless there are none.
fn op_input(op: &Op) -> StoreResult<Option<Value>> {
    Ok(op
        .opts
        .as_ref()
        .map(serde_json::to_value)
        .transpose()?
        .filter(|o| o.as_object().is_some_and(|o| !o.is_empty())))
}

/// The error an op reported (its `error`, else its `data`), as JSON.
fn error_of(op: &Op) -> Value {
    match (&op.error, &op.data) {
        (Some(error), _) => error.to_value(),
        (None, OpData::Value(value)) => ErrorBody::from_value(value.clone()).to_value(),
        (None, _) => Value::Null,
    }
}
