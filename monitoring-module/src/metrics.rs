//! [`Metrics`]: the injectable metrics API over one app's own Prometheus registry.

use parking_lot::{Mutex, MutexGuard};
use std::collections::HashMap;

use prometheus::core::{Collector, MetricVec, MetricVecBuilder};
use prometheus::proto::MetricFamily;
use prometheus::{CounterVec, GaugeVec, HistogramOpts, HistogramVec, Opts, Registry, TextEncoder};

use crate::error::MetricsError;
use crate::names::check_names;
use crate::options::bucket_problem;

/// The content type of [`Metrics::render`]'s output (Prometheus text format 0.0.4).
pub const TEXT_CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The metrics of one app: a Prometheus [`Registry`] of its own (never the process-global
/// default registry, so two apps in one process never collide) and get-or-register access
/// to counters, gauges and histograms.
///
/// The monitoring module provides it globally: inject `Arc<Metrics>` in any module (or
/// `Option<Arc<Metrics>>` when the module may be switched off).
///
/// ```
/// use monitoring_module::{Metrics, TryLabels};
///
/// let metrics = Metrics::new();
/// let orders = metrics.counter("orders_created_total", "Orders created.", &["channel"])?;
/// orders.try_labels(&["web"])?.inc();
///
/// // Asking again returns the same metric.
/// let again = metrics.counter("orders_created_total", "Orders created.", &["channel"])?;
/// assert_eq!(again.try_labels(&["web"])?.get(), 1.0);
///
/// // A wrong number of label values is an error, not a panic.
/// assert!(orders.try_labels(&["web", "extra"]).is_err());
///
/// assert!(metrics.render()?.contains("orders_created_total{channel=\"web\"} 1"));
/// # Ok::<(), monitoring_module::MetricsError>(())
/// ```
pub struct Metrics {
    registry: Registry,
    registered: Mutex<HashMap<String, Registered>>,
    default_buckets: Vec<f64>,
}

/// What a name was registered as.
struct Registered {
    help: String,
    labels: Vec<String>,
    buckets: Vec<f64>,
    handle: Handle,
}

#[derive(Clone)]
enum Handle {
    Counter(CounterVec),
    Gauge(GaugeVec),
    Histogram(HistogramVec),
    Collector,
}

impl Handle {
    fn kind(&self) -> &'static str {
        match self {
            Handle::Counter(_) => "a counter",
            Handle::Gauge(_) => "a gauge",
            Handle::Histogram(_) => "a histogram",
            Handle::Collector => "part of a collector",
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut names: Vec<String> = self.lock().keys().cloned().collect();
        names.sort();
        f.debug_struct("Metrics")
            .field("registered", &names)
            .field("default_buckets", &self.default_buckets)
            .finish()
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// An empty registry whose histograms default to [`prometheus::DEFAULT_BUCKETS`].
    ///
    /// ```
    /// let metrics = monitoring_module::Metrics::new();
    /// assert!(metrics.gather().is_empty());
    /// ```
    pub fn new() -> Self {
        Self {
            registry: Registry::new(),
            registered: Mutex::new(HashMap::new()),
            default_buckets: prometheus::DEFAULT_BUCKETS.to_vec(),
        }
    }

    /// An empty registry whose histograms default to `buckets` (non-empty, finite,
    /// strictly increasing).
    ///
    /// ```
    /// use monitoring_module::Metrics;
    /// let metrics = Metrics::with_buckets(vec![0.1, 1.0, 10.0])?;
    /// assert_eq!(metrics.default_buckets(), &[0.1, 1.0, 10.0]);
    /// assert!(Metrics::with_buckets(vec![1.0, 0.1]).is_err());
    /// # Ok::<(), monitoring_module::MetricsError>(())
    /// ```
    pub fn with_buckets(buckets: Vec<f64>) -> Result<Self, MetricsError> {
        if let Some(reason) = bucket_problem(&buckets) {
            return Err(MetricsError::Invalid {
                name: "default buckets".into(),
                reason: format!("buckets {reason}"),
            });
        }
        Ok(Self {
            default_buckets: buckets,
            ..Self::new()
        })
    }

    /// The buckets histograms get when none are given.
    pub fn default_buckets(&self) -> &[f64] {
        &self.default_buckets
    }

    /// The counter family `name` with the given label names, registered on first use.
    ///
    /// Asking again with the same help and labels returns the same metric (a clone of the
    /// handle). Another kind, help text or label names under the same name is
    /// [`MetricsError::Conflict`]; a name Prometheus rejects is [`MetricsError::InvalidName`].
    ///
    /// Record with [`TryLabels::try_labels`] (an error on a wrong number of values), or
    /// with prometheus's `get_metric_with_label_values`, never the panicking
    /// `with_label_values`.
    ///
    /// ```
    /// use monitoring_module::{Metrics, MetricsError, TryLabels};
    /// let metrics = Metrics::new();
    /// let jobs = metrics.counter("jobs_total", "Jobs run.", &["queue", "outcome"])?;
    /// jobs.try_labels(&["mail", "ok"])?.inc_by(2.0);
    /// assert!(matches!(
    ///     metrics.gauge("jobs_total", "Jobs run.", &["queue", "outcome"]),
    ///     Err(MetricsError::Conflict { .. })
    /// ));
    /// # Ok::<(), MetricsError>(())
    /// ```
    pub fn counter(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
    ) -> Result<CounterVec, MetricsError> {
        check_names(name, help, labels, false)?;
        let family = Family::new(name, help, labels, None, "a counter");
        self.family(
            family,
            |found| match found {
                Handle::Counter(vec) => Ok(vec),
                other => Err(other),
            },
            Handle::Counter,
            || CounterVec::new(Opts::new(name, help), labels),
        )
    }

    /// The gauge family `name` with the given label names, registered on first use (same
    /// rules as [`Metrics::counter`]).
    ///
    /// ```
    /// use monitoring_module::{Metrics, TryLabels};
    /// let metrics = Metrics::new();
    /// let depth = metrics.gauge("queue_depth", "Jobs waiting.", &["queue"])?;
    /// depth.try_labels(&["mail"])?.set(7.0);
    /// assert!(metrics.render()?.contains("queue_depth{queue=\"mail\"} 7"));
    /// # Ok::<(), monitoring_module::MetricsError>(())
    /// ```
    pub fn gauge(&self, name: &str, help: &str, labels: &[&str]) -> Result<GaugeVec, MetricsError> {
        check_names(name, help, labels, false)?;
        let family = Family::new(name, help, labels, None, "a gauge");
        self.family(
            family,
            |found| match found {
                Handle::Gauge(vec) => Ok(vec),
                other => Err(other),
            },
            Handle::Gauge,
            || GaugeVec::new(Opts::new(name, help), labels),
        )
    }

    /// The histogram family `name` with the given label names and buckets (`None`: the
    /// [default buckets](Metrics::default_buckets)), registered on first use (same rules as
    /// [`Metrics::counter`]; different buckets are a conflict too). The label `le` is
    /// reserved for bucket bounds.
    ///
    /// ```
    /// use monitoring_module::{Metrics, TryLabels};
    /// let metrics = Metrics::new();
    /// let latency = metrics.histogram("db_query_seconds", "Query time.", &["query"], Some(&[0.01, 0.1, 1.0]))?;
    /// latency.try_labels(&["find_order"])?.observe(0.05);
    /// let text = metrics.render()?;
    /// assert!(text.contains("db_query_seconds_bucket{query=\"find_order\",le=\"0.1\"} 1"));
    /// # Ok::<(), monitoring_module::MetricsError>(())
    /// ```
    pub fn histogram(
        &self,
        name: &str,
        help: &str,
        labels: &[&str],
        buckets: Option<&[f64]>,
    ) -> Result<HistogramVec, MetricsError> {
        check_names(name, help, labels, true)?;
        let buckets = buckets.unwrap_or(&self.default_buckets);
        if let Some(reason) = bucket_problem(buckets) {
            return Err(MetricsError::Invalid {
                name: name.into(),
                reason: format!("buckets {reason}"),
            });
        }
        let family = Family::new(name, help, labels, Some(buckets), "a histogram");
        self.family(
            family,
            |found| match found {
                Handle::Histogram(vec) => Ok(vec),
                other => Err(other),
            },
            Handle::Histogram,
            || {
                HistogramVec::new(
                    HistogramOpts::new(name, help).buckets(buckets.to_vec()),
                    labels,
                )
            },
        )
    }

    /// Registers a custom [`Collector`] (its metric names are then taken: asking for one of
    /// them with [`Metrics::counter`] & co. is a conflict).
    ///
    /// ```
    /// use monitoring_module::{Metrics, ProcessCollector};
    /// let metrics = Metrics::new();
    /// metrics.register(Box::new(ProcessCollector::new()?))?;
    /// assert!(metrics.gauge("process_open_fds", "Open fds.", &[]).is_err());
    /// # Ok::<(), monitoring_module::MetricsError>(())
    /// ```
    pub fn register(&self, collector: Box<dyn Collector>) -> Result<(), MetricsError> {
        let mut registered = self.lock();
        let descs: Vec<(String, String, Vec<String>)> = collector
            .desc()
            .into_iter()
            .map(|d| (d.fq_name.clone(), d.help.clone(), d.variable_labels.clone()))
            .collect();
        if let Some((name, _, _)) = descs.iter().find(|(n, _, _)| registered.contains_key(n)) {
            let kind = registered
                .get(name)
                .map_or("registered", |found| found.handle.kind());
            return Err(MetricsError::Conflict {
                name: name.clone(),
                reason: format!("it is already {kind}"),
            });
        }
        self.registry
            .register(collector)
            .map_err(|error| registration_error(descs.first().map_or("", |d| &d.0), error))?;
        for (name, help, labels) in descs {
            registered.insert(
                name,
                Registered {
                    help,
                    labels,
                    buckets: Vec::new(),
                    handle: Handle::Collector,
                },
            );
        }
        Ok(())
    }

    /// The underlying registry (for integrations that take a `prometheus::Registry`).
    /// Prefer [`Metrics::counter`] & co.: they detect conflicts with clear errors.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// A snapshot of every metric family, sorted by name.
    pub fn gather(&self) -> Vec<MetricFamily> {
        self.registry.gather()
    }

    /// Every metric family in the Prometheus text format 0.0.4 (content type
    /// [`TEXT_CONTENT_TYPE`]).
    ///
    /// ```
    /// let metrics = monitoring_module::Metrics::new();
    /// metrics.gauge("temperature_celsius", "Temperature.", &[])?.get_metric_with_label_values::<&str>(&[])?.set(21.5);
    /// let text = metrics.render()?;
    /// assert!(text.contains("# TYPE temperature_celsius gauge\ntemperature_celsius 21.5\n"));
    /// # Ok::<(), monitoring_module::MetricsError>(())
    /// ```
    pub fn render(&self) -> Result<String, MetricsError> {
        Ok(TextEncoder::new().encode_to_string(&self.gather())?)
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, Registered>> {
        self.registered.lock()
    }

    /// The family `spec` names: the one registered under its name if it matches (same kind,
    /// help, labels and buckets; `found` picks it out of its [`Handle`]), else a new one
    /// (`make`), registered and remembered (`wrap`).
    fn family<V>(
        &self,
        spec: Family<'_>,
        found: fn(Handle) -> Result<V, Handle>,
        wrap: fn(V) -> Handle,
        make: impl FnOnce() -> prometheus::Result<V>,
    ) -> Result<V, MetricsError>
    where
        V: Collector + Clone + 'static,
    {
        let Family {
            name,
            help,
            labels,
            buckets,
            kind,
        } = spec;
        let mut registered = self.lock();
        if let Some(handle) = existing(&registered, name, help, labels, buckets, kind)? {
            return found(handle).map_err(|other| kind_conflict(name, &other, kind));
        }
        let vec = make()?;
        self.registry
            .register(Box::new(vec.clone()))
            .map_err(|error| registration_error(name, error))?;
        registered.insert(
            name.to_string(),
            Registered {
                help: help.to_string(),
                labels: labels.iter().map(|l| (*l).to_string()).collect(),
                buckets: buckets.map(<[f64]>::to_vec).unwrap_or_default(),
                handle: wrap(vec.clone()),
            },
        );
        Ok(vec)
    }
}

/// A metric family as asked for: its name, help, label names, buckets (histograms) and
/// kind (`"a counter"`, for messages).
struct Family<'a> {
    name: &'a str,
    help: &'a str,
    labels: &'a [&'a str],
    buckets: Option<&'a [f64]>,
    kind: &'static str,
}

impl<'a> Family<'a> {
    fn new(
        name: &'a str,
        help: &'a str,
        labels: &'a [&'a str],
        buckets: Option<&'a [f64]>,
        kind: &'static str,
    ) -> Self {
        Self {
            name,
            help,
            labels,
            buckets,
            kind,
        }
    }
}

/// Records with a label-values slice, returning an error (never panicking) when the number
/// of values does not match the metric's label names. Implemented for every prometheus
/// metric vec (`CounterVec`, `GaugeVec`, `HistogramVec`, `IntCounterVec`, …).
///
/// ```
/// use monitoring_module::{Metrics, MetricsError, TryLabels};
/// let metrics = Metrics::new();
/// let hits = metrics.counter("cache_hits_total", "Cache hits.", &["cache"])?;
/// hits.try_labels(&["users"])?.inc();
/// assert!(matches!(hits.try_labels(&[]), Err(MetricsError::LabelCount { expected: 1, got: 0 })));
/// # Ok::<(), MetricsError>(())
/// ```
pub trait TryLabels {
    /// The child metric (`Counter`, `Gauge`, `Histogram`, …).
    type Metric;

    /// The child metric for these label values (created on first use).
    fn try_labels(&self, values: &[&str]) -> Result<Self::Metric, MetricsError>;
}

impl<T: MetricVecBuilder> TryLabels for MetricVec<T> {
    type Metric = T::M;

    fn try_labels(&self, values: &[&str]) -> Result<T::M, MetricsError> {
        self.get_metric_with_label_values(values)
            .map_err(MetricsError::from)
    }
}

/// The handle already registered under `name`, if any, after checking that it was
/// registered with the same help, labels and buckets.
fn existing(
    registered: &HashMap<String, Registered>,
    name: &str,
    help: &str,
    labels: &[&str],
    buckets: Option<&[f64]>,
    asked: &str,
) -> Result<Option<Handle>, MetricsError> {
    let Some(found) = registered.get(name) else {
        return Ok(None);
    };
    let conflict = |reason: String| MetricsError::Conflict {
        name: name.to_string(),
        reason,
    };
    let kind = found.handle.kind();
    if kind != asked {
        return Err(conflict(format!("it is {kind}, asked for {asked}")));
    }
    if found.help != help {
        return Err(conflict(format!(
            "its help is {:?}, asked for {help:?}",
            found.help
        )));
    }
    if found
        .labels
        .iter()
        .map(String::as_str)
        .ne(labels.iter().copied())
    {
        return Err(conflict(format!(
            "its labels are {:?}, asked for {labels:?}",
            found.labels
        )));
    }
    if let Some(buckets) = buckets
        && found.buckets != buckets
    {
        return Err(conflict(format!(
            "its buckets are {:?}, asked for {buckets:?}",
            found.buckets
        )));
    }
    Ok(Some(found.handle.clone()))
}

fn kind_conflict(name: &str, found: &Handle, asked: &str) -> MetricsError {
    MetricsError::Conflict {
        name: name.to_string(),
        reason: format!("it is {}, asked for {asked}", found.kind()),
    }
}

/// A registration refused by the registry: a name taken outside this API (through
/// [`Metrics::registry`]) is a conflict.
fn registration_error(name: &str, error: prometheus::Error) -> MetricsError {
    match error {
        prometheus::Error::AlreadyReg => MetricsError::Conflict {
            name: name.to_string(),
            reason: "the registry already holds it".into(),
        },
        prometheus::Error::Msg(message) if message.contains("previously registered") => {
            MetricsError::Conflict {
                name: name.to_string(),
                reason: message,
            }
        }
        other => other.into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicate_and_reserved_labels() {
        let metrics = Metrics::new();
        assert!(matches!(
            metrics.counter("x_total", "X.", &["a", "a"]),
            Err(MetricsError::InvalidName { .. })
        ));
        assert!(matches!(
            metrics.histogram("x_seconds", "X.", &["le"], None),
            Err(MetricsError::InvalidName { .. })
        ));
        assert!(matches!(
            metrics.counter("x_total", "", &[]),
            Err(MetricsError::Invalid { .. })
        ));
    }

    #[test]
    fn registry_conflict_outside_the_api() {
        let metrics = Metrics::new();
        let other = prometheus::Gauge::new("taken", "Taken.").unwrap();
        metrics.registry().register(Box::new(other)).unwrap();
        assert!(matches!(
            metrics.gauge("taken", "Taken.", &[]),
            Err(MetricsError::Conflict { .. })
        ));
    }
}
