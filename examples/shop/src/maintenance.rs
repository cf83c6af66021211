//! The `maintenance` module: a daily cron function that purges expired carts at 03:00,
//! Paris time.

use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx};
use serde::{Deserialize, Serialize};

/// Carts parked by shoppers, each with an expiry (filled by the storefront).
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
}

#[injectable]
impl Janitor {
    fn new(carts: Arc<CartStore>) -> Self {
        Self { carts }
    }

    /// Every day at 03:00 in Paris (the server handles daylight saving time).
    #[inngest::on_cron("TZ=Europe/Paris 0 3 * * *", id = "daily-cleanup")]
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
        .provide::<CartStore>()
        .provide::<Janitor>()
        .export::<CartStore>()
}
