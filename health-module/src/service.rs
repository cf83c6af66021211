//! [`HealthService`]: runs indicators concurrently, each under a timeout, with panics
//! caught and results cached.

use std::any::Any;
use std::panic::AssertUnwindSafe;
use std::sync::{Arc, OnceLock};

use framework::{Discovery, Readiness};
use futures_util::FutureExt;
use tokio::sync::Mutex;
use tokio::time::Instant;

use crate::error::HealthError;
use crate::indicator::{Check, HealthIndicator, HealthIndicators};
use crate::options::HealthOptions;
use crate::report::{HealthReport, HealthStatus};

/// Names that would be shadowed by the fixed routes under the health path.
const RESERVED_NAMES: [&str; 2] = ["live", "ready"];

/// One discovered indicator and its cached result.
struct Entry {
    indicator: Arc<dyn HealthIndicator>,
    name: String,
    readiness: bool,
    cache: Mutex<Option<(Instant, Check)>>,
}

/// Runs the discovered indicators. Injectable (`Arc<HealthService>`, exported by the
/// health module), e.g. to include the health report in an admin page.
///
/// Every indicator runs concurrently with the others, under `timeout` (a hanging one is
/// reported down, it never hangs the probe), with panics caught (reported down), and its
/// result is reused for `cache_ms`. Concurrent probes of a cached indicator share one run.
pub struct HealthService {
    options: Arc<HealthOptions>,
    discovery: Arc<Discovery>,
    readiness: Arc<Readiness>,
    entries: OnceLock<Vec<Entry>>,
}

impl std::fmt::Debug for HealthService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HealthService")
            .field("options", &self.options)
            .field("indicators", &self.names())
            .finish_non_exhaustive()
    }
}

impl HealthService {
    /// A service over the indicators `discovery` finds (collected by
    /// [`HealthService::collect`], or on first use).
    pub fn new(
        options: Arc<HealthOptions>,
        discovery: Arc<Discovery>,
        readiness: Arc<Readiness>,
    ) -> Self {
        Self {
            options,
            discovery,
            readiness,
            entries: OnceLock::new(),
        }
    }

    /// The options in effect.
    pub fn options(&self) -> &HealthOptions {
        &self.options
    }

    /// Collects every indicator contributed as [`HealthIndicators`] by enabled modules and
    /// checks their names (unique, usable as a path segment). The health module calls it in
    /// `on_module_init`, so a problem stops start-up. Calling it again does nothing.
    pub fn collect(&self) -> Result<(), HealthError> {
        if self.entries.get().is_some() {
            return Ok(());
        }
        let found = self.discovery.discover::<HealthIndicators>()?;
        let mut entries: Vec<Entry> = Vec::with_capacity(found.len());
        let mut origins: Vec<(String, String)> = Vec::with_capacity(found.len());
        for discovered in found {
            let indicator = Arc::clone(&*discovered.item);
            let name = indicator.name().to_string();
            let module = discovered.module.to_string();
            let provider = discovered.provider.to_string();
            if let Some(reason) = invalid_name(&name) {
                return Err(HealthError::InvalidName {
                    name,
                    module,
                    provider,
                    reason,
                });
            }
            if let Some(index) = entries.iter().position(|e| e.name == name) {
                let (first_module, first_provider) = origins[index].clone();
                return Err(HealthError::DuplicateName {
                    name,
                    first_module,
                    first_provider,
                    second_module: module,
                    second_provider: provider,
                });
            }
            origins.push((module, provider));
            entries.push(Entry {
                readiness: indicator.readiness(),
                indicator,
                name,
                cache: Mutex::new(None),
            });
        }
        // Losing a race with another caller is fine: both collected the same indicators.
        let _ = self.entries.set(entries);
        Ok(())
    }

    fn entries(&self) -> &[Entry] {
        if self.entries.get().is_none()
            && let Err(error) = self.collect()
        {
            tracing::error!(%error, "health indicators could not be collected");
        }
        self.entries.get().map_or(&[], Vec::as_slice)
    }

    /// Every indicator's name, sorted.
    pub fn names(&self) -> Vec<String> {
        let mut names: Vec<String> = self.entries().iter().map(|e| e.name.clone()).collect();
        names.sort();
        names
    }

    /// The names of the indicators `/health/ready` runs, sorted.
    pub fn readiness_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .entries()
            .iter()
            .filter(|e| e.readiness)
            .map(|e| e.name.clone())
            .collect();
        names.sort();
        names
    }

    /// Runs every indicator (`GET /health`).
    pub async fn check_all(&self) -> HealthReport {
        self.run(|_| true).await
    }

    /// Readiness (`GET /health/ready`): `shutting_down` once a shutdown signal has arrived,
    /// `starting` before the application serves (neither runs any indicator, and neither is
    /// cached), otherwise the readiness indicators.
    pub async fn check_readiness(&self) -> HealthReport {
        let show = self.options.show_details;
        if self.readiness.is_shutting_down() {
            return HealthReport::app_down(
                HealthStatus::ShuttingDown,
                "the application is shutting down",
                show,
            );
        }
        if !self.readiness.is_ready() {
            return HealthReport::app_down(
                HealthStatus::Starting,
                "the application has not finished starting",
                show,
            );
        }
        self.run(|entry| entry.readiness).await
    }

    /// Runs the indicator called `name` (`GET /health/{name}`).
    pub async fn check_one(&self, name: &str) -> Result<HealthReport, HealthError> {
        if !self.entries().iter().any(|e| e.name == name) {
            return Err(HealthError::UnknownIndicator {
                name: name.to_string(),
                known: self.names(),
            });
        }
        Ok(self.run(|entry| entry.name == name).await)
    }

    /// Liveness (`GET /health/live`): always `ok`, no indicator runs.
    pub fn check_live(&self) -> HealthReport {
        HealthReport::live(self.options.show_details)
    }

    /// Runs the selected indicators concurrently and reports them.
    async fn run(&self, select: impl Fn(&Entry) -> bool) -> HealthReport {
        let selected: Vec<&Entry> = self.entries().iter().filter(|e| select(e)).collect();
        let checks =
            futures_util::future::join_all(selected.iter().map(|entry| self.cached(entry))).await;
        HealthReport::from_checks(
            selected.iter().map(|e| e.name.as_str()).zip(checks.iter()),
            self.options.show_details,
        )
    }

    /// The cached result while it is fresh, else a new run (which concurrent callers share).
    async fn cached(&self, entry: &Entry) -> Check {
        let ttl = self.options.cache_ttl();
        if ttl.is_zero() {
            return self.execute(entry).await;
        }
        let mut cache = entry.cache.lock().await;
        if let Some((at, check)) = &*cache
            && at.elapsed() < ttl
        {
            return check.clone();
        }
        let check = self.execute(entry).await;
        *cache = Some((Instant::now(), check.clone()));
        check
    }

    /// One run of an indicator, under the timeout, with panics caught.
    async fn execute(&self, entry: &Entry) -> Check {
        let timeout = self.options.timeout;
        let indicator = &entry.indicator;
        let future = match std::panic::catch_unwind(AssertUnwindSafe(|| indicator.check())) {
            Ok(future) => future,
            Err(panic) => return panicked(&entry.name, &*panic),
        };
        match tokio::time::timeout(timeout, AssertUnwindSafe(future).catch_unwind()).await {
            Ok(Ok(check)) => {
                if !check.is_up() {
                    tracing::debug!(indicator = %entry.name, message = ?check.message(), "health indicator down");
                }
                check
            }
            Ok(Err(panic)) => panicked(&entry.name, &*panic),
            Err(_) => {
                tracing::warn!(indicator = %entry.name, ?timeout, "health indicator timed out");
                Check::down(format!("timed out after {timeout:?}"))
            }
        }
    }
}

/// A down result for an indicator that panicked.
fn panicked(name: &str, panic: &(dyn Any + Send)) -> Check {
    let reason = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown cause".into());
    tracing::error!(indicator = %name, %reason, "health indicator panicked");
    Check::down(format!("the indicator panicked: {reason}"))
}

/// Why a name cannot be served as `/health/{name}`, if it cannot.
fn invalid_name(name: &str) -> Option<&'static str> {
    if name.is_empty() {
        Some("is empty")
    } else if name.contains(['/', '?', '#']) || name.chars().any(char::is_whitespace) {
        Some("contains `/`, `?`, `#` or whitespace")
    } else if RESERVED_NAMES.contains(&name) {
        Some("is reserved for /health/live and /health/ready")
    } else {
        None
    }
}
