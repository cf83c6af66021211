//! Trace propagation for runs: a span per execution request (`inngest.function.run`) and
//! per step executed (`inngest.step`), the producer's W3C context carried in event data,
//! and the executor's `traceparent` header as a link or a fallback parent.
//!
//! Active only when `[telemetry] enabled = true` and `[inngest.tracing] enabled` (default
//! true); otherwise none of this runs. The propagation itself (`otel.rs`) needs the feature
//! `telemetry`; without it no settings exist and the stubs of `off.rs` are never reached.

use tracing::Span;

use crate::options::{ExecutorTraceparent, TracingOptions};

#[cfg(feature = "telemetry")]
mod otel;
#[cfg(feature = "telemetry")]
pub(crate) use otel::{inject, run_span};

#[cfg(not(feature = "telemetry"))]
mod off;
#[cfg(not(feature = "telemetry"))]
pub(crate) use off::{inject, run_span};

/// What the module does with traces, fixed at start-up.
#[derive(Debug, Clone)]
#[cfg_attr(not(feature = "telemetry"), allow(dead_code))]
pub(crate) struct TraceSettings {
    /// The event-data field holding the trace context.
    pub(crate) field: String,
    /// Write the current context into sent events.
    pub(crate) inject: bool,
    /// What the executor's `traceparent` header becomes.
    pub(crate) executor_traceparent: ExecutorTraceparent,
}

impl TraceSettings {
    /// Settings when telemetry and `inngest.tracing` are both on.
    pub(crate) fn new(options: &TracingOptions, telemetry_enabled: bool) -> Option<Self> {
        (telemetry_enabled && options.enabled).then(|| Self {
            field: options.context_field.clone(),
            inject: options.inject,
            executor_traceparent: options.executor_traceparent,
        })
    }
}

/// Records how the request ended on its span.
pub(crate) fn finish_run_span(
    span: &Span,
    op: Option<&str>,
    step: Option<(&str, &str)>,
    target: Option<&str>,
    outcome: &str,
) {
    if let Some(op) = op {
        span.record("inngest.op", op);
    }
    if let Some((id, _)) = step {
        span.record("inngest.step.id", id);
    }
    // Recorded once: the step reported, else the requested `stepId`.
    if let Some(hash) = step.map(|(_, hash)| hash).or(target) {
        span.record("inngest.step.hash", hash);
    }
    span.record("inngest.outcome", outcome);
    if matches!(outcome, "failed" | "retrying") {
        span.record("otel.status_code", "ERROR");
    }
}

/// The span of one step body.
pub(crate) fn step_span(id: &str, hash: &str) -> Span {
    tracing::info_span!(
        "inngest.step",
        otel.name = %format!("inngest.step {id}"),
        inngest.step.id = %id,
        inngest.step.hash = %hash,
        inngest.op = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    )
}
