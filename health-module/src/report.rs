//! [`HealthReport`]: the @nestjs/terminus response shape.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::indicator::Check;

/// The overall status of a report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum HealthStatus {
    /// Every indicator is up (HTTP 200).
    Ok,
    /// At least one indicator is down (HTTP 503).
    Error,
    /// The application is shutting down (readiness only; HTTP 503).
    ShuttingDown,
    /// The application has not finished starting (readiness only; HTTP 503).
    Starting,
}

/// A health report, serialized in the @nestjs/terminus shape:
///
/// ```json
/// {
///   "status": "error",
///   "info":    { "memory": { "status": "up", "rss_mb": 42, "threshold_mb": 1024 } },
///   "error":   { "db": { "status": "down", "message": "db unreachable" } },
///   "details": { "memory": { ... }, "db": { ... } }
/// }
/// ```
///
/// `info` holds the indicators that are up, `error` those that are down, `details` all of
/// them. With `show_details = false`, `details` is left out and every entry is only
/// `{"status": ...}`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct HealthReport {
    /// `ok`, `error`, `shutting_down` or `starting`.
    pub status: HealthStatus,
    /// Indicators that are up, by name.
    pub info: Map<String, Value>,
    /// Indicators that are down, by name.
    pub error: Map<String, Value>,
    /// Every indicator, by name (absent with `show_details = false`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<Map<String, Value>>,
}

impl HealthReport {
    /// A report of these results: `ok` when every one is up (or there are none).
    pub fn from_checks<'a>(
        checks: impl IntoIterator<Item = (&'a str, &'a Check)>,
        show_details: bool,
    ) -> Self {
        let mut info = Map::new();
        let mut error = Map::new();
        let mut details = Map::new();
        for (name, check) in checks {
            let entry = if show_details {
                check.to_json()
            } else {
                serde_json::json!({ "status": check.status() })
            };
            if check.is_up() {
                info.insert(name.to_string(), entry.clone());
            } else {
                error.insert(name.to_string(), entry.clone());
            }
            details.insert(name.to_string(), entry);
        }
        Self {
            status: if error.is_empty() {
                HealthStatus::Ok
            } else {
                HealthStatus::Error
            },
            info,
            error,
            details: show_details.then_some(details),
        }
    }

    /// The liveness report: `ok` with no entries.
    pub fn live(show_details: bool) -> Self {
        Self::from_checks([], show_details)
    }

    /// A report for an application that cannot serve traffic (`starting` or
    /// `shutting_down`), with the reason as a down `app` entry.
    pub fn app_down(status: HealthStatus, message: &str, show_details: bool) -> Self {
        let check = Check::down(message);
        let mut report = Self::from_checks([("app", &check)], show_details);
        report.status = status;
        report
    }

    /// `true` when the status is `ok`.
    pub fn is_ok(&self) -> bool {
        self.status == HealthStatus::Ok
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn shape_with_and_without_details() {
        let up = Check::up().with("n", 1);
        let down = Check::down("no").with("n", 2);
        let report = HealthReport::from_checks([("a", &up), ("b", &down)], true);
        assert_eq!(
            serde_json::to_value(&report).ok(),
            Some(json!({
                "status": "error",
                "info": {"a": {"status": "up", "n": 1}},
                "error": {"b": {"status": "down", "message": "no", "n": 2}},
                "details": {"a": {"status": "up", "n": 1}, "b": {"status": "down", "message": "no", "n": 2}},
            }))
        );
        let bare = HealthReport::from_checks([("a", &up), ("b", &down)], false);
        assert_eq!(
            serde_json::to_value(&bare).ok(),
            Some(json!({
                "status": "error",
                "info": {"a": {"status": "up"}},
                "error": {"b": {"status": "down"}},
            }))
        );
    }
}
