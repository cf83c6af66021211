//! Metric and label name rules (Prometheus's data model).

use crate::error::MetricsError;

/// What is allowed in a metric name.
const METRIC_NAME_RULE: &str = "metric names must match [a-zA-Z_:][a-zA-Z0-9_:]*";
/// What is allowed in a label name.
const LABEL_NAME_RULE: &str = "label names must match [a-zA-Z_][a-zA-Z0-9_]* and must not start with `__` (reserved by Prometheus)";

/// Checks a metric name, its help and its label names.
pub(crate) fn check_names(
    name: &str,
    help: &str,
    labels: &[&str],
    histogram: bool,
) -> Result<(), MetricsError> {
    if !is_metric_name(name) {
        return Err(MetricsError::InvalidName {
            name: name.to_string(),
            reason: METRIC_NAME_RULE.into(),
        });
    }
    if help.is_empty() {
        return Err(MetricsError::Invalid {
            name: name.to_string(),
            reason: "the help text must not be empty".into(),
        });
    }
    for (index, label) in labels.iter().enumerate() {
        if !is_label_name(label) {
            return Err(MetricsError::InvalidName {
                name: (*label).to_string(),
                reason: LABEL_NAME_RULE.into(),
            });
        }
        if histogram && *label == "le" {
            return Err(MetricsError::InvalidName {
                name: "le".into(),
                reason: "`le` is reserved for histogram bucket bounds".into(),
            });
        }
        if labels[..index].contains(label) {
            return Err(MetricsError::InvalidName {
                name: (*label).to_string(),
                reason: "a label name may be listed once".into(),
            });
        }
    }
    Ok(())
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
pub(crate) fn is_metric_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__`.
pub(crate) fn is_label_name(name: &str) -> bool {
    let mut chars = name.chars();
    !name.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(is_metric_name("http_requests_total"));
        assert!(is_metric_name(":recording:rule"));
        assert!(!is_metric_name("1abc"));
        assert!(!is_metric_name(""));
        assert!(!is_metric_name("a-b"));
        assert!(is_label_name("_x1"));
        assert!(!is_label_name("__name"));
        assert!(!is_label_name("a:b"));
        assert!(!is_label_name(""));
    }
}
