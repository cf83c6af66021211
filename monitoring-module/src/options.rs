//! [`MonitoringOptions`]: the `[monitoring]` config section.

use framework::{ConfigSection, Environment, SectionProblems};
use serde::Deserialize;
use validator::{Validate, ValidationError};

/// `[monitoring]`: where the metrics are served and what is measured.
///
/// Every key is optional:
///
/// ```toml
/// [monitoring]
/// metrics_path = "/metrics"        # Prometheus text format
/// json_prefix = "/monitoring"      # JSON views: {prefix}/metrics, /functions, /system
/// http_metrics = true              # http_requests_total, http_request_duration_seconds
/// process_metrics = true           # process_* (read from /proc/self)
/// buckets = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0]
/// ```
///
/// ```
/// use framework::Environment;
/// use framework::config::check_options;
/// use monitoring_module::MonitoringOptions;
///
/// let options = MonitoringOptions {
///     buckets: vec![0.01, 0.1, 1.0],
///     ..MonitoringOptions::default()
/// };
/// assert_eq!(options.metrics_path, "/metrics");
/// // Checked as the `[monitoring]` section would be (what `MonitoringModule::for_root` does).
/// assert!(check_options("monitoring", &options, Environment::Production).is_ok());
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Validate)]
#[serde(default)]
pub struct MonitoringOptions {
    /// Path of the Prometheus text endpoint (default `/metrics`).
    pub metrics_path: String,
    /// Prefix of the JSON views (default `/monitoring`): `{json_prefix}/metrics`,
    /// `{json_prefix}/functions` and `{json_prefix}/system`.
    pub json_prefix: String,
    /// Record `http_requests_total` and `http_request_duration_seconds` for every request
    /// of the app (default `true`).
    pub http_metrics: bool,
    /// Export the `process_*` metrics read from `/proc/self` (default `true`).
    pub process_metrics: bool,
    /// Histogram buckets (upper bounds, in seconds for durations) used by
    /// `http_request_duration_seconds` and by [`Metrics::histogram`](crate::Metrics::histogram)
    /// when no buckets are given. Non-empty, finite, strictly increasing. Default:
    /// [`prometheus::DEFAULT_BUCKETS`].
    #[validate(custom(function = "validate_buckets"))]
    pub buckets: Vec<f64>,
}

impl Default for MonitoringOptions {
    fn default() -> Self {
        Self {
            metrics_path: "/metrics".into(),
            json_prefix: "/monitoring".into(),
            http_metrics: true,
            process_metrics: true,
            buckets: prometheus::DEFAULT_BUCKETS.to_vec(),
        }
    }
}

impl MonitoringOptions {
    /// Checks of the two paths (beyond what `validator` expresses).
    fn path_problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if !self.metrics_path.starts_with('/') || self.metrics_path.len() < 2 {
            problems.push((
                "metrics_path",
                "must start with `/` and name a path, e.g. `/metrics`",
            ));
        }
        if !self.json_prefix.starts_with('/')
            || self.json_prefix.ends_with('/')
            || self.json_prefix.len() < 2
        {
            problems.push((
                "json_prefix",
                "must start with `/` and not end with one, e.g. `/monitoring`",
            ));
        }
        problems
    }
}

impl ConfigSection for MonitoringOptions {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        for (field, message) in self.path_problems() {
            problems.add(field, message);
        }
    }
}

/// Buckets must be non-empty, finite and strictly increasing.
pub(crate) fn validate_buckets(buckets: &[f64]) -> Result<(), ValidationError> {
    bucket_problem(buckets).map_or(Ok(()), |message| {
        Err(ValidationError::new("buckets").with_message(message.into()))
    })
}

/// Why `buckets` cannot be used as histogram bounds, if they cannot.
pub(crate) fn bucket_problem(buckets: &[f64]) -> Option<String> {
    if buckets.is_empty() {
        return Some("must not be empty (e.g. [0.005, 0.05, 0.5, 5.0])".into());
    }
    if let Some(bad) = buckets.iter().find(|b| !b.is_finite()) {
        return Some(format!(
            "must all be finite numbers ({bad} is not; the +Inf bucket is implicit)"
        ));
    }
    buckets.windows(2).find(|w| w[0] >= w[1]).map(|w| {
        format!(
            "must be strictly increasing ({} is followed by {})",
            w[0], w[1]
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys `check_options` names, as the config path would.
    fn problem_keys(options: &MonitoringOptions) -> Vec<String> {
        framework::config::check_options("monitoring", options, Environment::Production)
            .err()
            .map(|error| error.paths().into_iter().map(String::from).collect())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problem_keys(&MonitoringOptions::default()).is_empty());
    }

    #[test]
    fn bucket_rules() {
        assert!(bucket_problem(&[]).is_some());
        assert!(bucket_problem(&[0.1, f64::INFINITY]).is_some());
        assert!(bucket_problem(&[0.1, f64::NAN]).is_some());
        assert!(bucket_problem(&[0.1, 0.1]).is_some());
        assert!(bucket_problem(&[0.2, 0.1]).is_some());
        assert!(bucket_problem(&[-1.0, 0.0, 0.1]).is_none());
    }

    #[test]
    fn paths() {
        let options = MonitoringOptions {
            metrics_path: "metrics".into(),
            json_prefix: "/monitoring/".into(),
            ..MonitoringOptions::default()
        };
        assert_eq!(
            problem_keys(&options),
            ["monitoring.json_prefix", "monitoring.metrics_path"]
        );
    }
}
