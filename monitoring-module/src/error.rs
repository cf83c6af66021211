//! [`MetricsError`]: what the metrics API reports instead of panicking.

/// An error of the metrics API ([`Metrics`](crate::Metrics), [`TryLabels`](crate::TryLabels)).
///
/// ```
/// use monitoring_module::{Metrics, MetricsError};
///
/// let metrics = Metrics::new();
/// let error = metrics.counter("orders-created", "Orders.", &[]).unwrap_err();
/// assert!(matches!(error, MetricsError::InvalidName { .. }));
/// assert!(error.to_string().contains("[a-zA-Z_:][a-zA-Z0-9_:]*"));
/// ```
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    /// A metric or label name that Prometheus does not accept.
    #[error("invalid name `{name}`: {reason}")]
    InvalidName {
        /// The rejected name.
        name: String,
        /// What is allowed.
        reason: String,
    },
    /// The name is already registered in this app's registry as something else (another
    /// kind, help text, label names or buckets, or by a collector).
    #[error("metric `{name}` is already registered differently: {reason}")]
    Conflict {
        /// The metric name.
        name: String,
        /// What differs.
        reason: String,
    },
    /// A metric asked for with unusable settings (empty help text, bad buckets).
    #[error("metric `{name}`: {reason}")]
    Invalid {
        /// The metric name.
        name: String,
        /// What is wrong.
        reason: String,
    },
    /// A sample recorded with the wrong number of label values.
    #[error("wrong number of label values: the metric has {expected} label(s), got {got}")]
    LabelCount {
        /// How many label names the metric declares.
        expected: usize,
        /// How many values were given.
        got: usize,
    },
    /// Any other error of the `prometheus` crate (encoding, registration).
    #[error("prometheus: {0}")]
    Prometheus(prometheus::Error),
}

impl From<prometheus::Error> for MetricsError {
    fn from(error: prometheus::Error) -> Self {
        match error {
            prometheus::Error::InconsistentCardinality { expect, got } => Self::LabelCount {
                expected: expect,
                got,
            },
            other => Self::Prometheus(other),
        }
    }
}
