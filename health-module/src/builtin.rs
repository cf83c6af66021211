//! The built-in indicators: `memory` (this process's resident set) and `disk` (the used
//! fraction of a filesystem). Neither takes part in readiness: resource pressure should
//! show in `/health`, not pull the instance out of the load balancer.

use procfs::WithCurrentSystemInfo;

use crate::indicator::{BoxFuture, Check, HealthIndicator};

const MIB: u64 = 1024 * 1024;

/// `memory`: down when this process's resident set size (from `/proc/self/stat`) is above
/// the threshold. Details: `rss_mb`, `threshold_mb`. Not a readiness indicator.
#[derive(Debug, Clone)]
pub struct MemoryIndicator {
    threshold_mb: u64,
}

impl MemoryIndicator {
    /// An indicator that is down above `threshold_mb` MiB.
    pub fn new(threshold_mb: u64) -> Self {
        Self { threshold_mb }
    }

    /// Reads the resident set size of this process, in bytes.
    fn rss_bytes() -> Result<u64, procfs::ProcError> {
        Ok(procfs::process::Process::myself()?
            .stat()?
            .rss_bytes()
            .get())
    }

    /// The check, synchronously.
    pub fn check_now(&self) -> Check {
        match Self::rss_bytes() {
            Ok(rss) => {
                let check = if rss > self.threshold_mb.saturating_mul(MIB) {
                    Check::down(format!(
                        "resident set {} MiB is above the threshold of {} MiB",
                        rss / MIB,
                        self.threshold_mb
                    ))
                } else {
                    Check::up()
                };
                check
                    .with("rss_mb", rss / MIB)
                    .with("threshold_mb", self.threshold_mb)
            }
            Err(error) => Check::down(format!("cannot read /proc/self/stat: {error}"))
                .with("threshold_mb", self.threshold_mb),
        }
    }
}

impl HealthIndicator for MemoryIndicator {
    fn name(&self) -> &str {
        "memory"
    }

    fn readiness(&self) -> bool {
        false
    }

    fn check(&self) -> BoxFuture<'_, Check> {
        off_the_runtime(self.clone(), Self::check_now)
    }
}

/// `disk`: down when the used fraction of the filesystem holding `path` (from `statvfs`)
/// is above the threshold. Details: `used_fraction`, `threshold`, `free_bytes`, `path`.
/// Not a readiness indicator.
#[derive(Debug, Clone)]
pub struct DiskIndicator {
    path: String,
    threshold: f64,
}

impl DiskIndicator {
    /// An indicator for the filesystem holding `path`, down above `threshold` (0..=1).
    pub fn new(path: impl Into<String>, threshold: f64) -> Self {
        Self {
            path: path.into(),
            threshold,
        }
    }

    /// The check, synchronously.
    pub fn check_now(&self) -> Check {
        match rustix::fs::statvfs(self.path.as_str()) {
            Ok(stat) => {
                // As `df` does: used / (used + available to unprivileged users).
                let used = stat.f_blocks.saturating_sub(stat.f_bfree);
                let total = used.saturating_add(stat.f_bavail);
                let fraction = if total == 0 {
                    0.0
                } else {
                    used as f64 / total as f64
                };
                let fraction = (fraction * 10_000.0).round() / 10_000.0;
                let free_bytes = stat.f_bavail.saturating_mul(stat.f_frsize);
                let check = if fraction > self.threshold {
                    Check::down(format!(
                        "{:.1}% of the filesystem holding {} is used, above the threshold of {:.1}%",
                        fraction * 100.0,
                        self.path,
                        self.threshold * 100.0
                    ))
                } else {
                    Check::up()
                };
                check
                    .with("used_fraction", fraction)
                    .with("threshold", self.threshold)
                    .with("free_bytes", free_bytes)
                    .with("path", self.path.as_str())
            }
            Err(error) => Check::down(format!(
                "cannot stat the filesystem of {}: {error}",
                self.path
            ))
            .with("threshold", self.threshold)
            .with("path", self.path.as_str()),
        }
    }
}

impl HealthIndicator for DiskIndicator {
    fn name(&self) -> &str {
        "disk"
    }

    fn readiness(&self) -> bool {
        false
    }

    fn check(&self) -> BoxFuture<'_, Check> {
        off_the_runtime(self.clone(), Self::check_now)
    }
}

/// Runs a blocking check (reading /proc or `statvfs` can block on a hung network mount)
/// off the runtime's threads, so the per-indicator timeout can still fire.
fn off_the_runtime<T: Send + 'static>(
    indicator: T,
    check: fn(&T) -> Check,
) -> BoxFuture<'static, Check> {
    Box::pin(async move {
        tokio::task::spawn_blocking(move || check(&indicator))
            .await
            .unwrap_or_else(|error| Check::down(format!("the check failed: {error}")))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn memory_reports_rss() {
        let check = MemoryIndicator::new(u64::MAX / MIB).check_now();
        assert!(check.is_up(), "{check:?}");
        assert!(check.details().contains_key("rss_mb"));
        assert!(!MemoryIndicator::new(1).check_now().is_up());
    }

    #[test]
    fn disk_reports_usage_and_failures() {
        let check = DiskIndicator::new("/", 1.0).check_now();
        assert!(check.is_up(), "{check:?}");
        assert!(check.details().contains_key("free_bytes"));
        let missing = DiskIndicator::new("/no/such/dir/anywhere", 0.9).check_now();
        assert!(!missing.is_up());
        assert!(missing.message().is_some_and(|m| m.contains("cannot stat")));
    }
}
