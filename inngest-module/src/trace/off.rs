//! Without the feature `telemetry`: no trace settings exist (the framework refuses
//! `[telemetry] enabled = true`), so these are never reached.

use axum::http::HeaderMap;
use serde_json::Value;
use tracing::Span;

use super::TraceSettings;
use crate::hooks::RunInfo;

/// No span: there is no export to send it to.
pub(crate) fn run_span(
    _settings: &TraceSettings,
    _run: &RunInfo,
    _event_data: &Value,
    _headers: &HeaderMap,
) -> Span {
    Span::none()
}

/// Nothing to inject.
pub(crate) fn inject(_settings: &TraceSettings, _events: &mut [Value]) {}
