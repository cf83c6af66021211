//! JSON views of the registry (`{json_prefix}/metrics`) and of the process
//! (`{json_prefix}/system`).

use std::collections::BTreeMap;

use prometheus::proto::{Metric, MetricFamily, MetricType};
use serde::Serialize;

use crate::process::ProcessSnapshot;

/// `{json_prefix}/metrics`: every family of the registry.
///
/// ```
/// use monitoring_module::{Metrics, TryLabels, views};
/// let metrics = Metrics::new();
/// metrics.counter("jobs_total", "Jobs.", &["queue"])?.try_labels(&["mail"])?.inc();
/// let json = serde_json::to_value(views::metrics_view(&metrics.gather())).unwrap();
/// assert_eq!(json["families"][0]["name"], "jobs_total");
/// assert_eq!(json["families"][0]["type"], "counter");
/// assert_eq!(json["families"][0]["samples"][0]["labels"]["queue"], "mail");
/// assert_eq!(json["families"][0]["samples"][0]["value"], 1.0);
/// # Ok::<(), monitoring_module::MetricsError>(())
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct MetricsView {
    /// The families, sorted by name.
    pub families: Vec<FamilyView>,
}

/// One metric family.
#[derive(Debug, Clone, Serialize)]
pub struct FamilyView {
    /// The metric name.
    pub name: String,
    /// Its help text.
    pub help: String,
    /// `counter`, `gauge`, `histogram`, `summary` or `untyped`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    /// One sample per label set.
    pub samples: Vec<SampleView>,
}

/// One sample (a label set) of a family.
#[derive(Debug, Clone, Serialize)]
pub struct SampleView {
    /// Label names to values.
    pub labels: BTreeMap<String, String>,
    /// The value of a counter or gauge sample.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
    /// A histogram's cumulative buckets, the last one `+Inf`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub buckets: Option<Vec<BucketView>>,
    /// A summary's quantiles.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quantiles: Option<Vec<QuantileView>>,
    /// The sum of a histogram's or summary's observations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sum: Option<f64>,
    /// The number of a histogram's or summary's observations.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub count: Option<u64>,
}

/// One cumulative histogram bucket.
#[derive(Debug, Clone, Serialize)]
pub struct BucketView {
    /// The upper bound as in the text format (`"0.25"`, `"+Inf"`).
    pub le: String,
    /// Observations less than or equal to `le`.
    pub count: u64,
}

/// One summary quantile.
#[derive(Debug, Clone, Serialize)]
pub struct QuantileView {
    /// The quantile (0..1).
    pub quantile: f64,
    /// Its value.
    pub value: f64,
}

/// Builds the `{json_prefix}/metrics` view from gathered families.
pub fn metrics_view(families: &[MetricFamily]) -> MetricsView {
    MetricsView {
        families: families.iter().map(family_view).collect(),
    }
}

fn family_view(family: &MetricFamily) -> FamilyView {
    let kind = family.get_field_type();
    FamilyView {
        name: family.name().to_string(),
        help: family.help().to_string(),
        kind: kind_name(kind),
        samples: family
            .get_metric()
            .iter()
            .map(|metric| sample_view(kind, metric))
            .collect(),
    }
}

/// The text format's name of a metric type.
pub(crate) fn kind_name(kind: MetricType) -> &'static str {
    match kind {
        MetricType::COUNTER => "counter",
        MetricType::GAUGE => "gauge",
        MetricType::HISTOGRAM => "histogram",
        MetricType::SUMMARY => "summary",
        MetricType::UNTYPED => "untyped",
    }
}

/// A metric's labels as a map.
pub(crate) fn labels(metric: &Metric) -> BTreeMap<String, String> {
    metric
        .get_label()
        .iter()
        .map(|pair| (pair.name().to_string(), pair.value().to_string()))
        .collect()
}

fn sample_view(kind: MetricType, metric: &Metric) -> SampleView {
    let mut sample = SampleView {
        labels: labels(metric),
        value: None,
        buckets: None,
        quantiles: None,
        sum: None,
        count: None,
    };
    match kind {
        MetricType::COUNTER => sample.value = Some(metric.get_counter().get_value()),
        MetricType::GAUGE => sample.value = Some(metric.get_gauge().get_value()),
        // Untyped values only come from protobuf sources; the sample keeps its labels.
        MetricType::UNTYPED => {}
        MetricType::HISTOGRAM => {
            let histogram = metric.get_histogram();
            let mut buckets: Vec<BucketView> = histogram
                .get_bucket()
                .iter()
                .map(|b| BucketView {
                    le: format_bound(b.upper_bound()),
                    count: b.cumulative_count(),
                })
                .collect();
            if buckets.last().is_none_or(|b| b.le != "+Inf") {
                buckets.push(BucketView {
                    le: "+Inf".into(),
                    count: histogram.get_sample_count(),
                });
            }
            sample.buckets = Some(buckets);
            sample.sum = Some(histogram.get_sample_sum());
            sample.count = Some(histogram.get_sample_count());
        }
        MetricType::SUMMARY => {
            let summary = metric.get_summary();
            sample.quantiles = Some(
                summary
                    .get_quantile()
                    .iter()
                    .map(|q| QuantileView {
                        quantile: q.quantile(),
                        value: q.value(),
                    })
                    .collect(),
            );
            sample.sum = Some(summary.sample_sum());
            sample.count = Some(summary.sample_count());
        }
    }
    sample
}

/// A bucket bound as the text format writes it.
fn format_bound(bound: f64) -> String {
    if bound == f64::INFINITY {
        "+Inf".into()
    } else if bound == f64::NEG_INFINITY {
        "-Inf".into()
    } else {
        bound.to_string()
    }
}

/// `{json_prefix}/system`: this process right now (`null` for what could not be read).
///
/// ```
/// use monitoring_module::{ProcessSnapshot, views::SystemView};
/// let view = SystemView::from(ProcessSnapshot::read());
/// assert_eq!(view.pid, std::process::id());
/// ```
#[derive(Debug, Clone, Serialize)]
pub struct SystemView {
    /// Resident set size, in bytes.
    pub rss_bytes: Option<u64>,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Seconds since the process started.
    pub uptime_seconds: Option<f64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// Soft limit on open file descriptors (`null` when unlimited).
    pub max_fds: Option<u64>,
    /// OS threads.
    pub threads: Option<u64>,
    /// Process id.
    pub pid: u32,
}

impl From<ProcessSnapshot> for SystemView {
    fn from(snapshot: ProcessSnapshot) -> Self {
        Self {
            rss_bytes: snapshot.rss_bytes,
            virtual_memory_bytes: snapshot.virtual_memory_bytes,
            cpu_seconds: snapshot.cpu_seconds,
            uptime_seconds: snapshot.uptime_seconds(),
            open_fds: snapshot.open_fds,
            max_fds: snapshot.max_fds,
            threads: snapshot.threads,
            pid: snapshot.pid,
        }
    }
}
