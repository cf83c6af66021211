//! One execution: the function run (or replayed) up to its next op, the hooks and the run's
//! span around it, and the outcome as the protocol's reply.

use std::sync::Arc;
use std::time::Instant;

use axum::http::{HeaderMap, StatusCode};
use serde_json::Value;
use tracing::Instrument;

use super::error::ServeError;
use super::reply::{Echoed, Reply};
use super::request::SdkContext;
use crate::checkpoint::Checkpointer;
use crate::engine::{Execution, RawMemo, SharedState, drive, settle};
use crate::error::Error;
use crate::handler::{RawEvent, RawInput};
use crate::hooks::{RunContext, RunInfo, RunStatus, StepInfo};
use crate::protocol::{self, headers};
use crate::registry::Registry;
use crate::step::Step;

/// What one execution runs: the function, the run's events and memo, and the step
/// `stepId` targets.
pub(super) struct RunRequest<'a> {
    pub fn_id: &'a str,
    pub entry: &'a crate::registry::Entry,
    pub events: Vec<RawEvent>,
    pub memo: RawMemo,
    pub ctx: SdkContext,
    pub target: Option<String>,
}

/// Runs the function once and answers with what it reached.
pub(super) async fn run(
    registry: &Registry,
    request: RunRequest<'_>,
    request_headers: &HeaderMap,
    echoed: &Echoed,
) -> Result<Reply, ServeError> {
    let RunRequest {
        fn_id,
        entry,
        events,
        memo,
        ctx,
        target,
    } = request;
    // Shared with the step tools without a copy per request.
    let context = Arc::new(RunContext {
        info: RunInfo {
            function_id: fn_id.to_string(),
            run_id: ctx.run_id.clone(),
            attempt: ctx.attempt,
        },
        app_id: registry.options.app_id.as_str().into(),
        hooks: registry.hooks(),
        spans: registry.trace().is_some(),
        forwarded: echoed.trace.clone(),
    });
    let info = &context.info;
    let hooks = &context.hooks;
    let span = match registry.trace() {
        Some(settings) => {
            // Decoded here only for the trace context it may carry.
            let data: Value = events
                .first()
                .and_then(|event| serde_json::from_str(event.data.get()).ok())
                .unwrap_or_default();
            crate::trace::run_span(settings, info, &data, request_headers)
        }
        None => tracing::Span::none(),
    };
    hooks.each(|hook| hook.on_run_start(info));
    let started = Instant::now();
    // If this future is dropped before the end (timeout, disconnect), the hooks still
    // hear that the request ended, so in-flight gauges come back down.
    let target_for_span = target.clone();
    let mut end_guard = RunEndGuard {
        hooks,
        info,
        span: &span,
        started,
        armed: true,
    };
    let checkpointer = ctx
        .checkpoint_ids(request_headers)
        .filter(|_| target.is_none())
        .and_then(|ids| {
            Checkpointer::start(Arc::clone(&registry.service), ids, entry.checkpointing)
        });
    let mut state = SharedState::new(
        memo,
        target,
        !ctx.disable_immediate_execution,
        ctx.attempt,
        ctx.max_attempts.unwrap_or(entry.max_attempts),
    );
    if let Some(checkpointer) = &checkpointer {
        state = state.with_checkpointer(Arc::clone(checkpointer));
    }
    let step = Step::new(
        state.clone(),
        Arc::clone(&registry.service),
        Arc::clone(&context),
    );
    let input = RawInput {
        events,
        context_field: Some(Arc::clone(&registry.context_field)),
        step,
        run_id: ctx.run_id,
        attempt: ctx.attempt,
    };
    let mut execution = drive(state, (entry.handler)(input))
        .instrument(span.clone())
        .await;
    if let Some(checkpointer) = &checkpointer {
        execution = settle(checkpointer, execution)
            .instrument(span.clone())
            .await;
    }
    let mut reported_op: Option<&'static str> = None;
    let mut reported_step: Option<(String, String)> = None;

    let (reply, status) = match execution {
        Execution::Complete(value) => (
            Ok(Reply::json(StatusCode::OK, &value)),
            RunStatus::Completed,
        ),
        Execution::Failed(error) => {
            let (reply, status) = failure_reply(&error);
            (Ok(reply), status)
        }
        Execution::Ops(ops) => {
            if let [op] = ops.as_slice() {
                reported_op = op.op.static_name();
                reported_step = Some((op.display_name.clone(), op.id.clone()));
            } else {
                reported_op = Some("StepPlanned");
            }
            (
                Ok(Reply::json(StatusCode::PARTIAL_CONTENT, &ops)),
                RunStatus::Continuing,
            )
        }
        Execution::StepRan(outcome) => {
            let op_name = match &outcome.op.op {
                protocol::Opcode::StepRun => "StepRun",
                protocol::Opcode::StepError => "StepError",
                _ => "StepFailed",
            };
            let step_info = StepInfo {
                id: outcome.op.display_name.clone(),
                op: op_name,
            };
            reported_op = Some(op_name);
            reported_step = Some((outcome.op.display_name.clone(), outcome.op.id.clone()));
            hooks.each(|hook| hook.on_step_end(info, &step_info, outcome.elapsed));
            let mut reply = Reply::json(StatusCode::PARTIAL_CONTENT, &[&outcome.op]);
            if let Some(no_retry) = outcome.no_retry {
                reply
                    .headers
                    .push((headers::NO_RETRY, no_retry.to_string()));
            }
            if let Some(retry_after) = outcome.retry_after {
                reply
                    .headers
                    .push((headers::RETRY_AFTER, retry_after.header_value()));
            }
            (Ok(reply), RunStatus::Continuing)
        }
        Execution::StepNotFound { requested, found } => (
            Err(ServeError::StepNotFound { requested, found }),
            RunStatus::Retrying,
        ),
        Execution::RunComplete(ops) => (
            Ok(Reply::json(StatusCode::PARTIAL_CONTENT, &ops)),
            RunStatus::Completed,
        ),
        Execution::Stale => {
            // What inngest-js answers; the server ignores the answers of a stale dispatch.
            let error = Error::non_retriable(format!(
                "Stale dispatch: checkpoint returned 409 (run {})",
                info.run_id
            ));
            let (reply, _) = failure_reply(&error);
            (Ok(reply), RunStatus::Cancelled)
        }
    };
    end_guard.armed = false;
    let elapsed = started.elapsed();
    hooks.each(|hook| hook.on_run_end(info, status, elapsed));
    if registry.trace().is_some() {
        let op = reported_op.or(match status {
            RunStatus::Completed => Some("RunComplete"),
            _ => None,
        });
        crate::trace::finish_run_span(
            &span,
            op,
            reported_step
                .as_ref()
                .map(|(id, hash)| (id.as_str(), hash.as_str())),
            target_for_span.as_deref(),
            status.as_str(),
        );
    }
    reply
}

/// Calls `on_run_end(Cancelled)` when an execution request is dropped mid-way.
struct RunEndGuard<'a> {
    hooks: &'a crate::hooks::HookList,
    info: &'a RunInfo,
    span: &'a tracing::Span,
    started: Instant,
    armed: bool,
}

impl Drop for RunEndGuard<'_> {
    fn drop(&mut self) {
        if self.armed {
            let elapsed = self.started.elapsed();
            self.hooks
                .each(|hook| hook.on_run_end(self.info, RunStatus::Cancelled, elapsed));
            self.span
                .record("inngest.outcome", RunStatus::Cancelled.as_str());
        }
    }
}

fn failure_reply(error: &Error) -> (Reply, RunStatus) {
    let body = error.to_value();
    if error.is_retriable() {
        let mut reply = Reply::json(StatusCode::INTERNAL_SERVER_ERROR, &body)
            .header(headers::NO_RETRY, "false");
        reply.deliberate = true;
        if let Some(retry_after) = error.retry_after_value() {
            reply
                .headers
                .push((headers::RETRY_AFTER, retry_after.header_value()));
        }
        (reply, RunStatus::Retrying)
    } else {
        (
            Reply::json(StatusCode::BAD_REQUEST, &body).header(headers::NO_RETRY, "true"),
            RunStatus::Failed,
        )
    }
}

#[cfg(test)]
mod tests {
    use axum::response::IntoResponse;

    use super::*;

    #[test]
    fn a_retriable_failure_is_a_deliberate_500_and_a_final_one_a_400() {
        let (retry, status) = failure_reply(&Error::retriable("try again"));
        assert_eq!(retry.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(
            retry.deliberate,
            "the trace layer must not log it as a fault"
        );
        assert_eq!(status, RunStatus::Retrying);
        let (fail, status) = failure_reply(&Error::non_retriable("no"));
        assert_eq!(fail.status, StatusCode::BAD_REQUEST);
        assert!(!fail.deliberate);
        assert_eq!(status, RunStatus::Failed);
        let response = retry.into_response();
        assert!(
            response
                .extensions()
                .get::<framework::http::DeliberateError>()
                .is_some()
        );
    }
}
