//! The `inngest_*` Prometheus metrics, recorded by an [`InngestHook`] into the app's
//! metrics registry (the monitoring module's `Arc<Metrics>`). Without that registry the
//! hook is disabled at start-up and costs nothing.
//!
//! | metric | type | labels |
//! |---|---|---|
//! | `inngest_function_runs_total` | counter | `function_id`, `status` (`completed`, `failed`, `retrying`) |
//! | `inngest_function_duration_seconds` | histogram | `function_id` |
//! | `inngest_function_runs_in_flight` | gauge | `function_id` |
//! | `inngest_function_last_run_timestamp_seconds` | gauge | `function_id` |
//! | `inngest_step_runs_total` | counter | `function_id`, `status` (`completed`, `retrying`, `failed`) |
//! | `inngest_step_duration_seconds` | histogram | `function_id` |
//! | `inngest_events_sent_total` | counter | `status` (`ok`, `error`) |
//! | `inngest_registered_functions` | gauge | |
//! | `inngest_syncs_total` | counter | `status` (`ok`, `error`) |
//! | `inngest_signature_rejections_total` | counter | `reason` (`missing`, `malformed`, `expired`, `mismatch`, `no_key`) |
//! | `inngest_build_info` | gauge (1) | `app_id`, `version`, `mode` |

use parking_lot::RwLock;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use monitoring_module::Metrics;
use prometheus::core::Collector;
use prometheus::{
    Counter, CounterVec, Gauge, GaugeVec, Histogram, HistogramOpts, HistogramVec, Opts,
};

use crate::hooks::{InngestHook, RunInfo, RunStatus, StepInfo, SyncInfo};
use crate::options::ExecutorKind;
use crate::registry::Registry;

/// The metrics hook. Injectable as `Arc<InngestMetrics>` (e.g. to check it is active).
pub struct InngestMetrics {
    instruments: Option<Instruments>,
    registry: Arc<Registry>,
}

impl std::fmt::Debug for InngestMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InngestMetrics")
            .field("active", &self.instruments.is_some())
            .finish()
    }
}

struct Instruments {
    runs: CounterVec,
    duration: HistogramVec,
    in_flight: GaugeVec,
    last_run: GaugeVec,
    steps: CounterVec,
    step_duration: HistogramVec,
    events_ok: Counter,
    events_error: Counter,
    registered: Gauge,
    syncs_ok: Counter,
    syncs_error: Counter,
    /// Requests refused for their signature, by reason.
    rejections: CounterVec,
    build_info: GaugeVec,
    /// Label handles per function, so a run costs one map lookup and a few atomics.
    functions: RwLock<HashMap<String, Arc<FunctionInstruments>>>,
}

struct FunctionInstruments {
    completed: Counter,
    failed: Counter,
    retrying: Counter,
    duration: Histogram,
    in_flight: Gauge,
    /// Created when a request first ends (a zero would read as "last ran in 1970").
    last_run: std::sync::OnceLock<Gauge>,
    step_completed: Counter,
    step_retrying: Counter,
    step_failed: Counter,
    step_duration: Histogram,
}

/// Registers `collector`, or fails with the reason.
fn register<C: Collector + Clone + 'static>(
    metrics: &Metrics,
    collector: C,
) -> Result<C, prometheus::Error> {
    metrics.registry().register(Box::new(collector.clone()))?;
    Ok(collector)
}

impl Instruments {
    fn new(metrics: &Metrics) -> Result<Self, prometheus::Error> {
        let buckets = metrics.default_buckets().to_vec();
        let histogram = |name: &str, help: &str| {
            HistogramVec::new(
                HistogramOpts::new(name, help).buckets(buckets.clone()),
                &["function_id"],
            )
        };
        let events = register(
            metrics,
            CounterVec::new(
                Opts::new(
                    "inngest_events_sent_total",
                    "Events sent by InngestService::send and step.send_event, by outcome.",
                ),
                &["status"],
            )?,
        )?;
        let syncs = register(
            metrics,
            CounterVec::new(
                Opts::new(
                    "inngest_syncs_total",
                    "Syncs (registrations of the app's functions with an executor), by outcome.",
                ),
                &["status"],
            )?,
        )?;
        let rejections = register(
            metrics,
            CounterVec::new(
                Opts::new(
                    "inngest_signature_rejections_total",
                    "Requests to the serve path refused for their signature, by reason (a wrong or missing signing key shows here).",
                ),
                &["reason"],
            )?,
        )?;
        // Every reason at zero from start-up, so an alert on an increase sees the first.
        for reason in crate::signature::SignatureError::REASONS {
            rejections.with_label_values(&[reason]);
        }
        Ok(Self {
            rejections,
            runs: register(
                metrics,
                CounterVec::new(
                    Opts::new(
                        "inngest_function_runs_total",
                        "Execution requests that completed the run, failed it for good, or failed and will be retried.",
                    ),
                    &["function_id", "status"],
                )?,
            )?,
            duration: register(
                metrics,
                histogram(
                    "inngest_function_duration_seconds",
                    "Time spent in the function per execution request, in seconds.",
                )?,
            )?,
            in_flight: register(
                metrics,
                GaugeVec::new(
                    Opts::new(
                        "inngest_function_runs_in_flight",
                        "Execution requests running user code now.",
                    ),
                    &["function_id"],
                )?,
            )?,
            last_run: register(
                metrics,
                GaugeVec::new(
                    Opts::new(
                        "inngest_function_last_run_timestamp_seconds",
                        "When an execution request of the function last ended (Unix seconds).",
                    ),
                    &["function_id"],
                )?,
            )?,
            steps: register(
                metrics,
                CounterVec::new(
                    Opts::new(
                        "inngest_step_runs_total",
                        "Step bodies executed, by outcome (completed, retrying, failed).",
                    ),
                    &["function_id", "status"],
                )?,
            )?,
            step_duration: register(
                metrics,
                histogram(
                    "inngest_step_duration_seconds",
                    "Time spent in step bodies, in seconds.",
                )?,
            )?,
            events_ok: events.get_metric_with_label_values(&["ok"])?,
            events_error: events.get_metric_with_label_values(&["error"])?,
            registered: register(
                metrics,
                Gauge::new(
                    "inngest_registered_functions",
                    "Inngest functions this app serves (on_failure handlers included).",
                )?,
            )?,
            syncs_ok: syncs.get_metric_with_label_values(&["ok"])?,
            syncs_error: syncs.get_metric_with_label_values(&["error"])?,
            build_info: register(
                metrics,
                GaugeVec::new(
                    Opts::new(
                        "inngest_build_info",
                        "Always 1: the app id, the inngest-module version and the executor mode.",
                    ),
                    &["app_id", "version", "mode"],
                )?,
            )?,
            functions: RwLock::new(HashMap::new()),
        })
    }

    fn create(&self, function_id: &str) -> Result<FunctionInstruments, prometheus::Error> {
        let id = [function_id];
        let status = |vec: &CounterVec, status: &str| {
            vec.get_metric_with_label_values(&[function_id, status])
        };
        Ok(FunctionInstruments {
            completed: status(&self.runs, "completed")?,
            failed: status(&self.runs, "failed")?,
            retrying: status(&self.runs, "retrying")?,
            duration: self.duration.get_metric_with_label_values(&id)?,
            in_flight: self.in_flight.get_metric_with_label_values(&id)?,
            last_run: std::sync::OnceLock::new(),
            step_completed: status(&self.steps, "completed")?,
            step_retrying: status(&self.steps, "retrying")?,
            step_failed: status(&self.steps, "failed")?,
            step_duration: self.step_duration.get_metric_with_label_values(&id)?,
        })
    }

    /// The handles of one function, created on first use.
    fn function(&self, function_id: &str) -> Option<Arc<FunctionInstruments>> {
        if let Some(found) = self.functions.read().get(function_id) {
            return Some(Arc::clone(found));
        }
        let created = match self.create(function_id) {
            Ok(created) => Arc::new(created),
            Err(error) => {
                tracing::warn!(function_id, %error, "cannot record metrics for this function");
                return None;
            }
        };
        let mut functions = self.functions.write();
        Some(Arc::clone(
            functions.entry(function_id.to_string()).or_insert(created),
        ))
    }
}

impl InngestMetrics {
    /// The hook; active when the app has a metrics registry.
    pub(crate) fn new(metrics: Option<Arc<Metrics>>, registry: Arc<Registry>) -> Self {
        let instruments = metrics.and_then(|metrics| match Instruments::new(&metrics) {
            Ok(instruments) => Some(instruments),
            Err(error) => {
                tracing::error!(%error, "the inngest_* metrics cannot be registered; they are off");
                None
            }
        });
        Self {
            instruments,
            registry,
        }
    }

    /// Whether the metrics are recorded (the app has a metrics registry).
    pub fn is_active(&self) -> bool {
        self.instruments.is_some()
    }

    /// Creates every function's series at zero and sets the gauges that describe the app,
    /// so dashboards see each metric from the first scrape on.
    pub(crate) fn describe(&self) {
        let Some(instruments) = &self.instruments else {
            return;
        };
        let registry = &self.registry;
        for id in registry.function_ids() {
            let _ = instruments.function(&id);
        }
        instruments.registered.set(registry.function_count() as f64);
        let mode = match registry.executor_kind() {
            ExecutorKind::Embedded => "embedded",
            ExecutorKind::Remote if registry.options.is_dev() => "dev",
            ExecutorKind::Remote => "cloud",
        };
        if let Ok(info) = instruments.build_info.get_metric_with_label_values(&[
            registry.options.app_id.as_str(),
            crate::protocol::SDK_VERSION,
            mode,
        ]) {
            info.set(1.0);
        }
    }
}

fn unix_seconds() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |d| d.as_secs_f64())
}

impl InngestHook for InngestMetrics {
    fn enabled(&self) -> bool {
        self.instruments.is_some()
    }

    fn on_run_start(&self, run: &RunInfo) {
        if let Some(function) = self
            .instruments
            .as_ref()
            .and_then(|i| i.function(&run.function_id))
        {
            function.in_flight.inc();
        }
    }

    fn on_run_end(&self, run: &RunInfo, status: RunStatus, elapsed: Duration) {
        let Some(function) = self
            .instruments
            .as_ref()
            .and_then(|i| i.function(&run.function_id))
        else {
            return;
        };
        function.in_flight.dec();
        if status == RunStatus::Cancelled {
            // No answer was given: not a run outcome, not an execution time.
            return;
        }
        function.duration.observe(elapsed.as_secs_f64());
        match status {
            RunStatus::Completed => function.completed.inc(),
            RunStatus::Failed => function.failed.inc(),
            RunStatus::Retrying => function.retrying.inc(),
            RunStatus::Continuing | RunStatus::Cancelled => {}
        }
        let last_run = match function.last_run.get() {
            Some(gauge) => Some(gauge),
            None => self
                .instruments
                .as_ref()
                .and_then(|i| {
                    i.last_run
                        .get_metric_with_label_values(&[&run.function_id])
                        .ok()
                })
                .map(|gauge| function.last_run.get_or_init(|| gauge)),
        };
        if let Some(gauge) = last_run {
            gauge.set(unix_seconds());
        }
    }

    fn on_step_end(&self, run: &RunInfo, step: &StepInfo, elapsed: Duration) {
        let Some(function) = self
            .instruments
            .as_ref()
            .and_then(|i| i.function(&run.function_id))
        else {
            return;
        };
        match step.op {
            "StepRun" => function.step_completed.inc(),
            "StepError" => function.step_retrying.inc(),
            _ => function.step_failed.inc(),
        }
        function.step_duration.observe(elapsed.as_secs_f64());
    }

    fn on_send_end(&self, count: usize, ok: bool) {
        if let Some(instruments) = &self.instruments {
            let counter = if ok {
                &instruments.events_ok
            } else {
                &instruments.events_error
            };
            counter.inc_by(count as f64);
        }
    }

    fn on_request_refused(&self, reason: &'static str) {
        if let Some(instruments) = &self.instruments {
            instruments.rejections.with_label_values(&[reason]).inc();
        }
    }

    fn on_sync(&self, sync: &SyncInfo) {
        if let Some(instruments) = &self.instruments {
            if sync.ok {
                instruments.syncs_ok.inc();
            } else {
                instruments.syncs_error.inc();
            }
            instruments.registered.set(sync.functions as f64);
        }
    }
}
