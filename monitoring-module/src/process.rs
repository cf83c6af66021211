//! Process metrics read from `/proc/self` (procfs), with client_golang's names and types.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use prometheus::core::{Collector, Desc};
use prometheus::proto::{Counter, Gauge, Metric, MetricFamily, MetricType};

use crate::error::MetricsError;

/// One reading of `/proc/self`. A value that could not be read is `None`.
///
/// ```
/// let snapshot = monitoring_module::ProcessSnapshot::read();
/// assert_eq!(snapshot.pid, std::process::id());
/// # #[cfg(target_os = "linux")]
/// assert!(snapshot.rss_bytes.unwrap_or(0) > 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ProcessSnapshot {
    /// This process's id.
    pub pid: u32,
    /// User plus system CPU time, in seconds.
    pub cpu_seconds: Option<f64>,
    /// Resident set size, in bytes.
    pub rss_bytes: Option<u64>,
    /// Virtual memory size, in bytes.
    pub virtual_memory_bytes: Option<u64>,
    /// Open file descriptors.
    pub open_fds: Option<u64>,
    /// The soft limit on open file descriptors (`None` when unlimited).
    pub max_fds: Option<u64>,
    /// Start time of the process, in seconds since the Unix epoch.
    pub start_time_seconds: Option<f64>,
    /// Number of OS threads.
    pub threads: Option<u64>,
}

impl ProcessSnapshot {
    /// Reads `/proc/self`. Never fails: what cannot be read is left `None` (on systems
    /// without `/proc`, everything but `pid`).
    pub fn read() -> Self {
        let mut snapshot = Self {
            pid: std::process::id(),
            ..Self::default()
        };
        let Ok(process) = procfs::process::Process::myself() else {
            return snapshot;
        };
        if let Ok(stat) = process.stat() {
            let ticks = procfs::ticks_per_second();
            if ticks > 0 {
                snapshot.cpu_seconds =
                    Some(stat.utime.saturating_add(stat.stime) as f64 / ticks as f64);
                snapshot.start_time_seconds = procfs::boot_time_secs()
                    .ok()
                    .map(|boot| boot as f64 + stat.starttime as f64 / ticks as f64);
            }
            snapshot.rss_bytes = Some(stat.rss.saturating_mul(procfs::page_size()));
            snapshot.virtual_memory_bytes = Some(stat.vsize);
            snapshot.threads = u64::try_from(stat.num_threads).ok();
        }
        snapshot.open_fds = process.fd_count().ok().map(|n| n as u64);
        if let Ok(limits) = process.limits() {
            snapshot.max_fds = match limits.max_open_files.soft_limit {
                procfs::process::LimitValue::Value(n) => Some(n),
                procfs::process::LimitValue::Unlimited => None,
            };
        }
        snapshot
    }

    /// Seconds since the process started, from [`ProcessSnapshot::start_time_seconds`].
    pub fn uptime_seconds(&self) -> Option<f64> {
        let now = SystemTime::now().duration_since(UNIX_EPOCH).ok()?;
        self.start_time_seconds
            .map(|start| (now.as_secs_f64() - start).max(0.0))
    }
}

/// The metrics the collector exports: name, help, counter (else gauge), value.
type Reading = fn(&ProcessSnapshot) -> Option<f64>;

const FAMILIES: [(&str, &str, bool, Reading); 7] = [
    (
        "process_cpu_seconds_total",
        "Total user and system CPU time spent in seconds.",
        true,
        |s| s.cpu_seconds,
    ),
    (
        "process_max_fds",
        "Maximum number of open file descriptors.",
        false,
        |s| s.max_fds.map(|n| n as f64),
    ),
    (
        "process_open_fds",
        "Number of open file descriptors.",
        false,
        |s| s.open_fds.map(|n| n as f64),
    ),
    (
        "process_resident_memory_bytes",
        "Resident memory size in bytes.",
        false,
        |s| s.rss_bytes.map(|n| n as f64),
    ),
    (
        "process_start_time_seconds",
        "Start time of the process since unix epoch in seconds.",
        false,
        |s| s.start_time_seconds,
    ),
    (
        "process_threads",
        "Number of OS threads in the process.",
        false,
        |s| s.threads.map(|n| n as f64),
    ),
    (
        "process_virtual_memory_bytes",
        "Virtual memory size in bytes.",
        false,
        |s| s.virtual_memory_bytes.map(|n| n as f64),
    ),
];

/// A [`Collector`] of this process's `process_*` metrics, read from `/proc/self` on every
/// scrape, with the names and types of the Go client:
///
/// | Metric | Type |
/// |---|---|
/// | `process_cpu_seconds_total` | counter |
/// | `process_resident_memory_bytes` | gauge |
/// | `process_virtual_memory_bytes` | gauge |
/// | `process_open_fds` | gauge |
/// | `process_max_fds` | gauge |
/// | `process_start_time_seconds` | gauge |
/// | `process_threads` | gauge |
///
/// A value that cannot be read is left out of the scrape (never a panic).
///
/// ```
/// use monitoring_module::{Metrics, ProcessCollector};
/// let metrics = Metrics::new();
/// metrics.register(Box::new(ProcessCollector::new()?))?;
/// # #[cfg(target_os = "linux")]
/// assert!(metrics.render()?.contains("# TYPE process_cpu_seconds_total counter"));
/// # Ok::<(), monitoring_module::MetricsError>(())
/// ```
#[derive(Debug)]
pub struct ProcessCollector {
    descs: Vec<Desc>,
}

impl ProcessCollector {
    /// The collector (building its descriptors cannot fail in practice; the error is the
    /// prometheus crate's).
    pub fn new() -> Result<Self, MetricsError> {
        let descs = FAMILIES
            .iter()
            .map(|(name, help, _, _)| {
                Desc::new(
                    (*name).to_string(),
                    (*help).to_string(),
                    Vec::new(),
                    HashMap::new(),
                )
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self { descs })
    }
}

impl Collector for ProcessCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.descs.iter().collect()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let snapshot = ProcessSnapshot::read();
        FAMILIES
            .iter()
            .filter_map(|(name, help, counter, read)| {
                let value = read(&snapshot)?;
                let mut metric = Metric::default();
                let mut family = MetricFamily::default();
                if *counter {
                    let mut c = Counter::default();
                    c.set_value(value);
                    metric.set_counter(c);
                    family.set_field_type(MetricType::COUNTER);
                } else {
                    let mut g = Gauge::default();
                    g.set_value(value);
                    metric.set_gauge(g);
                    family.set_field_type(MetricType::GAUGE);
                }
                family.set_name((*name).to_string());
                family.set_help((*help).to_string());
                family.set_metric(vec![metric]);
                Some(family)
            })
            .collect()
    }
}
