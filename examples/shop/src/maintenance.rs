//! The `maintenance` module: a daily cron function that purges expired carts at 03:00,
//! Paris time. The schedule comes from `[maintenance] cleanup_schedule`: the attribute reads
//! it from the provider (`#[inngest::on_cron(self.schedule)]`), once, at start-up.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use framework::{Config, ConfigSection, Environment, Module, SectionProblems, injectable};
use inngest_module::{self as inngest, Ctx};
use serde::{Deserialize, Serialize};
use validator::Validate;

/// `[maintenance]`: when the cleanup runs.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct MaintenanceConfig {
    /// The cleanup's cron schedule: 5 fields, optionally after `TZ=Area/City ` (default
    /// `"TZ=Europe/Paris 0 3 * * *"`). The embedded executor also takes 6 fields with a
    /// leading seconds field (`"*/1 * * * * *"`, every second), which the Inngest server
    /// rejects: use those in tests only.
    pub cleanup_schedule: String,
}

impl Default for MaintenanceConfig {
    fn default() -> Self {
        Self {
            cleanup_schedule: "TZ=Europe/Paris 0 3 * * *".into(),
        }
    }
}

impl ConfigSection for MaintenanceConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        if self.cleanup_schedule.trim().is_empty() {
            problems.add(
                "cleanup_schedule",
                "must not be empty, e.g. \"TZ=Europe/Paris 0 3 * * *\"",
            );
        }
    }
}

/// Carts parked by shoppers, each with an expiry (filled by the storefront).
///
/// **Per process**: with N replicas the daily clean-up runs once, on one of them, and
/// purges only that replica's carts; a real app keeps carts in a shared database.
#[derive(Debug, Default)]
pub struct CartStore {
    carts: Mutex<Vec<(String, SystemTime)>>,
}

#[injectable]
impl CartStore {
    fn new() -> Self {
        Self::default()
    }

    /// Parks a cart until `expires_at`.
    pub fn park(&self, cart_id: impl Into<String>, expires_at: SystemTime) {
        self.carts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push((cart_id.into(), expires_at));
    }

    /// Removes every cart expired at `now`; returns how many.
    pub fn purge_expired(&self, now: SystemTime) -> usize {
        let mut carts = self
            .carts
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = carts.len();
        carts.retain(|(_, expires_at)| *expires_at > now);
        before - carts.len()
    }

    /// How many carts are parked.
    pub fn len(&self) -> usize {
        self.carts.lock().map(|carts| carts.len()).unwrap_or(0)
    }

    /// `true` when no cart is parked.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What the cleanup did (the function's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CleanupReport {
    /// Carts purged.
    pub purged_carts: usize,
}

/// The daily cleanup.
pub struct Janitor {
    carts: Arc<CartStore>,
    schedule: String,
}

#[injectable]
impl Janitor {
    fn new(carts: Arc<CartStore>, config: Config<MaintenanceConfig>) -> Self {
        Self {
            carts,
            schedule: config.cleanup_schedule.clone(),
        }
    }

    /// The `daily-cleanup` function, on the configured schedule (the server handles
    /// daylight saving time): purges every expired cart in one step.
    #[inngest::on_cron(self.schedule, id = "daily-cleanup")]
    async fn daily_cleanup(&self, ctx: Ctx) -> inngest::Result<CleanupReport> {
        let carts = &self.carts;
        let purged_carts = ctx
            .step
            .run("purge-expired-carts", || async move {
                Ok(carts.purge_expired(SystemTime::now()))
            })
            .await?;
        Ok(CleanupReport { purged_carts })
    }
}

/// The module: exports the cart store.
pub fn module() -> Module {
    Module::new("maintenance")
        .config::<MaintenanceConfig>("maintenance")
        .provide::<CartStore>()
        .provide::<Janitor>()
        .export::<CartStore>()
}
