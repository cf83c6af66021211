//! `{json_prefix}/functions`: per-Inngest-function figures computed from the registry's
//! families **by name**. This crate does not depend on Inngest; whatever records these
//! families (an Inngest hook) only has to use these names, types and labels:
//!
//! | Family | Type | Labels |
//! |---|---|---|
//! | [`FUNCTION_RUNS_TOTAL`] | counter | `function_id`, `status` (`completed`, `failed`, `retrying`, …) |
//! | [`FUNCTION_DURATION_SECONDS`] | histogram | `function_id` |
//! | [`FUNCTION_LAST_RUN_TIMESTAMP_SECONDS`] | gauge (Unix seconds) | `function_id` |

use std::collections::BTreeMap;

use prometheus::proto::{Metric, MetricFamily, MetricType};
use serde::Serialize;

/// Runs by function and outcome (counter; labels `function_id`, `status`).
pub const FUNCTION_RUNS_TOTAL: &str = "inngest_function_runs_total";
/// Run durations by function, in seconds (histogram; label `function_id`).
pub const FUNCTION_DURATION_SECONDS: &str = "inngest_function_duration_seconds";
/// When each function last ran, in Unix seconds (gauge; label `function_id`).
pub const FUNCTION_LAST_RUN_TIMESTAMP_SECONDS: &str = "inngest_function_last_run_timestamp_seconds";

/// The `{json_prefix}/functions` view: `{"functions": []}` when no function has metrics.
///
/// ```
/// use monitoring_module::{Metrics, TryLabels, functions::functions_view};
/// let metrics = Metrics::new();
/// let runs = metrics.counter("inngest_function_runs_total", "Runs.", &["function_id", "status"])?;
/// runs.try_labels(&["send-mail", "completed"])?.inc_by(3.0);
/// runs.try_labels(&["send-mail", "failed"])?.inc();
/// let view = functions_view(&metrics.gather());
/// assert_eq!(view.functions[0].function_id, "send-mail");
/// assert_eq!(view.functions[0].runs, 4);
/// assert_eq!(view.functions[0].success_rate, Some(0.75));
/// # Ok::<(), monitoring_module::MetricsError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct FunctionsView {
    /// One entry per `function_id` seen in any of the three families, sorted by id.
    pub functions: Vec<FunctionView>,
}

/// The figures of one function.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FunctionView {
    /// The `function_id` label.
    pub function_id: String,
    /// Finished runs: the counter summed over every status except `retrying` (an attempt
    /// that will be retried is not a finished run).
    pub runs: u64,
    /// `status="completed"`.
    pub completed: u64,
    /// `status="failed"`.
    pub failed: u64,
    /// `status="retrying"`.
    pub retrying: u64,
    /// `completed / (completed + failed)`; `null` when both are 0.
    pub success_rate: Option<f64>,
    /// `failed + retrying`.
    pub errors: u64,
    /// Median duration estimated from the histogram buckets (see [`histogram_quantile`]);
    /// `null` without observations.
    pub p50_seconds: Option<f64>,
    /// 95th percentile duration, estimated the same way.
    pub p95_seconds: Option<f64>,
    /// The last-run gauge as RFC 3339 (UTC, milliseconds); `null` when unset or 0.
    pub last_run: Option<String>,
}

#[derive(Default)]
struct Acc {
    statuses: BTreeMap<String, f64>,
    /// Cumulative buckets by upper bound (finite bounds only), summed over series.
    buckets: Vec<(f64, u64)>,
    count: u64,
    last_run: Option<f64>,
}

/// Builds the view from gathered families (see the module docs for the names read).
pub fn functions_view(families: &[MetricFamily]) -> FunctionsView {
    let mut functions: BTreeMap<String, Acc> = BTreeMap::new();
    for family in families {
        let name = family.name();
        if name != FUNCTION_RUNS_TOTAL
            && name != FUNCTION_DURATION_SECONDS
            && name != FUNCTION_LAST_RUN_TIMESTAMP_SECONDS
        {
            continue;
        }
        let kind = family.get_field_type();
        for metric in family.get_metric() {
            let Some(id) = label(metric, "function_id") else {
                continue;
            };
            let acc = functions.entry(id.to_string()).or_default();
            match name {
                FUNCTION_RUNS_TOTAL => {
                    let status = label(metric, "status").unwrap_or("").to_string();
                    if let Some(value) = scalar(kind, metric) {
                        *acc.statuses.entry(status).or_default() += value;
                    }
                }
                FUNCTION_DURATION_SECONDS if kind == MetricType::HISTOGRAM => {
                    let histogram = metric.get_histogram();
                    acc.count += histogram.get_sample_count();
                    for bucket in histogram.get_bucket() {
                        let bound = bucket.upper_bound();
                        if !bound.is_finite() {
                            continue;
                        }
                        match acc.buckets.iter_mut().find(|(b, _)| *b == bound) {
                            Some((_, count)) => *count += bucket.cumulative_count(),
                            None => acc.buckets.push((bound, bucket.cumulative_count())),
                        }
                    }
                }
                FUNCTION_LAST_RUN_TIMESTAMP_SECONDS => {
                    if let Some(value) = scalar(kind, metric) {
                        acc.last_run = Some(acc.last_run.map_or(value, |last| last.max(value)));
                    }
                }
                _ => {}
            }
        }
    }
    FunctionsView {
        functions: functions
            .into_iter()
            .map(|(function_id, acc)| function_view(function_id, acc))
            .collect(),
    }
}

fn function_view(function_id: String, mut acc: Acc) -> FunctionView {
    let status = |name: &str| acc.statuses.get(name).copied().map_or(0, count);
    let completed = status("completed");
    let failed = status("failed");
    let retrying = status("retrying");
    let runs = acc
        .statuses
        .iter()
        .filter(|(name, _)| name.as_str() != "retrying")
        .map(|(_, value)| count(*value))
        .sum();
    let finished = completed + failed;
    acc.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
    FunctionView {
        function_id,
        runs,
        completed,
        failed,
        retrying,
        success_rate: (finished > 0).then(|| completed as f64 / finished as f64),
        errors: failed + retrying,
        p50_seconds: histogram_quantile(0.5, &acc.buckets, acc.count),
        p95_seconds: histogram_quantile(0.95, &acc.buckets, acc.count),
        last_run: acc.last_run.and_then(rfc3339),
    }
}

fn label<'a>(metric: &'a Metric, name: &str) -> Option<&'a str> {
    metric
        .get_label()
        .iter()
        .find(|pair| pair.name() == name)
        .map(|pair| pair.value())
}

fn scalar(kind: MetricType, metric: &Metric) -> Option<f64> {
    match kind {
        MetricType::COUNTER => Some(metric.get_counter().get_value()),
        MetricType::GAUGE => Some(metric.get_gauge().get_value()),
        // Untyped values only come from protobuf sources, which this registry has none of.
        MetricType::UNTYPED | MetricType::HISTOGRAM | MetricType::SUMMARY => None,
    }
}

/// A counter value as a whole count.
fn count(value: f64) -> u64 {
    if value.is_finite() && value > 0.0 {
        value.round() as u64
    } else {
        0
    }
}

/// Estimates the `q` quantile (0 ≤ q ≤ 1) of a histogram the way PromQL's
/// `histogram_quantile` does: find the bucket holding rank `q × count` and interpolate
/// linearly inside it (the lowest bucket starts at 0 when its bound is positive; a rank in
/// the `+Inf` bucket gives the highest finite bound).
///
/// `buckets` are the cumulative `(upper bound, count)` pairs with finite bounds; `count`
/// is the total (the `+Inf` bucket). `None` without observations or finite buckets, or for
/// `q` outside 0..=1.
///
/// ```
/// use monitoring_module::functions::histogram_quantile;
/// // 10 observations: 4 ≤ 0.1, 8 ≤ 0.5, 10 ≤ 1.0.
/// let buckets = [(0.1, 4), (0.5, 8), (1.0, 10)];
/// // rank 5 is the 1st of the 4 in (0.1, 0.5]: 0.1 + 0.4 × 1/4.
/// assert!((histogram_quantile(0.5, &buckets, 10).unwrap() - 0.2).abs() < 1e-12);
/// assert_eq!(histogram_quantile(0.5, &buckets, 0), None);
/// ```
pub fn histogram_quantile(q: f64, buckets: &[(f64, u64)], count: u64) -> Option<f64> {
    if !(0.0..=1.0).contains(&q) || count == 0 {
        return None;
    }
    let mut all: Vec<(f64, f64)> = buckets
        .iter()
        .filter(|(bound, _)| bound.is_finite())
        .map(|(bound, n)| (*bound, *n as f64))
        .collect();
    all.sort_by(|a, b| a.0.total_cmp(&b.0));
    if all.is_empty() {
        return None;
    }
    all.push((f64::INFINITY, count as f64));
    // Cumulative counts never decrease (PromQL's ensureMonotonic).
    let mut max = 0.0_f64;
    for bucket in &mut all {
        max = max.max(bucket.1);
        bucket.1 = max;
    }
    let total = max;
    let rank = q * total;
    let last = all.len() - 1;
    let b = all[..last]
        .iter()
        .position(|(_, n)| *n >= rank)
        .unwrap_or(last);
    if b == last {
        return Some(all[last - 1].0);
    }
    if b == 0 && all[0].0 <= 0.0 {
        return Some(all[0].0);
    }
    let (start, below) = if b > 0 { all[b - 1] } else { (0.0, 0.0) };
    let (end, upto) = all[b];
    let inside = upto - below;
    if inside <= 0.0 {
        return Some(start);
    }
    Some(start + (end - start) * ((rank - below) / inside))
}

/// Unix seconds as RFC 3339 in UTC with milliseconds (`2023-11-14T22:13:20.000Z`); `None`
/// for 0, negative or non-finite values and years past 9999.
pub(crate) fn rfc3339(seconds: f64) -> Option<String> {
    if !seconds.is_finite() || seconds <= 0.0 || seconds >= 253_402_300_800.0 {
        return None;
    }
    let mut whole = seconds.floor() as i64;
    let mut millis = ((seconds - seconds.floor()) * 1000.0).round() as i64;
    if millis >= 1000 {
        whole += 1;
        millis -= 1000;
    }
    let days = whole.div_euclid(86_400);
    let of_day = whole.rem_euclid(86_400);
    let (year, month, day) = civil_from_days(days);
    if year > 9999 {
        return None;
    }
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        of_day / 3600,
        of_day % 3600 / 60,
        of_day % 60
    ))
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timestamps() {
        assert_eq!(
            rfc3339(1_700_000_000.0).as_deref(),
            Some("2023-11-14T22:13:20.000Z")
        );
        assert_eq!(
            rfc3339(951_782_400.25).as_deref(),
            Some("2000-02-29T00:00:00.250Z")
        );
        assert_eq!(rfc3339(1.9996).as_deref(), Some("1970-01-01T00:00:02.000Z"));
        assert_eq!(rfc3339(0.0), None);
        assert_eq!(rfc3339(f64::NAN), None);
    }

    #[test]
    fn quantiles_like_promql() {
        let buckets = [(0.1, 4), (0.5, 8), (1.0, 10)];
        // rank 9.5 in (0.5, 1.0]: 0.5 + 0.5 × 1.5/2
        let p95 = histogram_quantile(0.95, &buckets, 10).unwrap();
        assert!((p95 - 0.875).abs() < 1e-12);
        // rank in the first bucket interpolates from 0.
        let p10 = histogram_quantile(0.1, &buckets, 10).unwrap();
        assert!((p10 - 0.025).abs() < 1e-12);
        // rank in +Inf: the highest finite bound.
        assert_eq!(histogram_quantile(0.99, &[(0.1, 1)], 10), Some(0.1));
        assert_eq!(histogram_quantile(0.5, &[], 10), None);
        assert_eq!(histogram_quantile(1.5, &buckets, 10), None);
    }
}
