//! [`HealthOptions`]: the `[health]` config section (or options given in code).

use std::time::Duration;

use framework::{ConfigSection, Environment, SectionProblems};
use serde::Deserialize;
use validator::Validate;

/// The health module's options: the `[health]` config section with
/// [`HealthModule::new`](crate::HealthModule::new), or given in code with
/// [`HealthModule::for_root`](crate::HealthModule::for_root). Every key is optional.
///
/// ```toml
/// [health]
/// path = "/health"              # routes: /health, /health/live, /health/ready, /health/{name}
/// aliases = true                # also /livez and /readyz
/// memory_rss_threshold_mb = 1024
/// disk_path = "/"
/// disk_threshold = 0.9          # used fraction above which `disk` is down
/// timeout = "3s"                # per indicator
/// show_details = true
/// cache_ms = 1000               # 0 = run the indicators on every probe
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Validate)]
#[serde(default)]
pub struct HealthOptions {
    /// Where the routes live (default `/health`): starts with `/`, does not end with one.
    pub path: String,
    /// Also serve `/livez` and `/readyz` (default `true`).
    pub aliases: bool,
    /// The `memory` indicator is down when this process's resident set is larger, in MiB
    /// (default 1024).
    #[validate(range(min = 1, message = "must be at least 1 (MiB)"))]
    pub memory_rss_threshold_mb: u64,
    /// A path on the filesystem the `disk` indicator watches (default `/`).
    pub disk_path: String,
    /// The `disk` indicator is down when the used fraction of that filesystem is larger
    /// (default 0.9).
    #[validate(range(
        min = 0.0,
        max = 1.0,
        message = "must be between 0 and 1 (a used fraction, e.g. 0.9)"
    ))]
    pub disk_threshold: f64,
    /// How long one indicator may take before it is reported down (default 3s).
    #[serde(with = "humantime_serde")]
    pub timeout: Duration,
    /// Include indicator details in responses (default `true`); when `false` each entry is
    /// only `{"status": ...}` and `details` is left out.
    pub show_details: bool,
    /// How long an indicator's result is reused, in milliseconds (default 1000), so a
    /// storm of probes does not hammer dependencies. `0` runs the indicators on every probe.
    pub cache_ms: u64,
}

impl Default for HealthOptions {
    fn default() -> Self {
        Self {
            path: "/health".into(),
            aliases: true,
            memory_rss_threshold_mb: 1024,
            disk_path: "/".into(),
            disk_threshold: 0.9,
            timeout: Duration::from_secs(3),
            show_details: true,
            cache_ms: 1000,
        }
    }
}

impl HealthOptions {
    /// The cache lifetime as a duration.
    pub fn cache_ttl(&self) -> Duration {
        Duration::from_millis(self.cache_ms)
    }

    /// The checks `validator` attributes cannot express.
    fn extra_problems(&self) -> Vec<(&'static str, &'static str)> {
        let mut problems = Vec::new();
        if !self.path.starts_with('/') || self.path.ends_with('/') || self.path.len() < 2 {
            problems.push((
                "path",
                "must start with `/` and not end with one, e.g. `/health`",
            ));
        }
        if self.path.contains(['{', '}', '*']) {
            problems.push(("path", "must not contain `{`, `}` or `*`"));
        }
        if self.aliases && (self.path == "/livez" || self.path == "/readyz") {
            problems.push((
                "path",
                "must not be `/livez` or `/readyz` while `aliases` is on (they serve liveness and readiness)",
            ));
        }
        if self.disk_path.is_empty() {
            problems.push((
                "disk_path",
                "must not be empty (e.g. \"/\" or \"/var/lib/app\")",
            ));
        }
        if self.disk_threshold.is_nan() {
            problems.push((
                "disk_threshold",
                "must be between 0 and 1 (a used fraction, e.g. 0.9)",
            ));
        }
        if self.timeout.is_zero() {
            problems.push(("timeout", "must be greater than 0 (e.g. \"3s\")"));
        }
        problems
    }
}

impl ConfigSection for HealthOptions {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        for (field, message) in self.extra_problems() {
            problems.add(field, message);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The keys `check_options` names, as the config path would.
    fn problem_keys(options: &HealthOptions) -> Vec<String> {
        framework::config::check_options("health", options, Environment::Production)
            .err()
            .map(|error| error.paths().into_iter().map(String::from).collect())
            .unwrap_or_default()
    }

    #[test]
    fn defaults_are_valid() {
        assert!(problem_keys(&HealthOptions::default()).is_empty());
    }

    #[test]
    fn problems_name_their_keys() {
        let options = HealthOptions {
            path: "health/".into(),
            disk_threshold: 1.5,
            timeout: Duration::ZERO,
            memory_rss_threshold_mb: 0,
            ..HealthOptions::default()
        };
        assert_eq!(
            problem_keys(&options),
            [
                "health.disk_threshold",
                "health.memory_rss_threshold_mb",
                "health.path",
                "health.timeout"
            ]
        );
    }

    #[test]
    fn a_bare_slash_is_not_a_path() {
        let options = HealthOptions {
            path: "/".into(),
            ..HealthOptions::default()
        };
        assert_eq!(problem_keys(&options), ["health.path"]);
    }
}
