//! The `analytics` module: a batch consumer that receives up to 100 `analytics.tracked`
//! events per run (or what arrived within 5 seconds) and stores them in one write.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx};
use serde::{Deserialize, Serialize};

/// `analytics.tracked`: something a user did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Tracked {
    /// Who.
    pub user_id: String,
    /// What (`viewed-product`, `added-to-cart`, …).
    pub action: String,
}

/// Pretend analytics storage: rows appended in batches.
///
/// **Per process**: each replica holds the batches it stored, until it restarts; a real
/// app writes them to a warehouse every replica shares.
#[derive(Debug, Default)]
pub struct AnalyticsStore {
    rows: Mutex<Vec<Tracked>>,
}

#[injectable]
impl AnalyticsStore {
    fn new() -> Self {
        Self::default()
    }

    /// Appends rows in one write; returns how many were written.
    pub fn append(&self, rows: &[Tracked]) -> usize {
        self.rows
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .extend_from_slice(rows);
        rows.len()
    }

    /// How many rows are stored.
    pub fn len(&self) -> usize {
        self.rows.lock().map(|rows| rows.len()).unwrap_or(0)
    }

    /// `true` when nothing is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// What one batch contained (the function's result).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchSummary {
    /// Events in the batch.
    pub n: usize,
    /// Distinct users among them.
    pub users: usize,
    /// Rows written.
    pub stored: usize,
}

/// The batch consumer.
pub struct AnalyticsIngest {
    store: Arc<AnalyticsStore>,
}

#[injectable]
impl AnalyticsIngest {
    fn new(store: Arc<AnalyticsStore>) -> Self {
        Self { store }
    }

    /// `ctx.events()` decodes the whole batch (`ctx.event` is its first event).
    #[inngest::on_event("analytics.tracked", id = "analytics-batch")]
    #[inngest::batch(max_size = 100, timeout = "5s")]
    async fn ingest(&self, ctx: Ctx<Tracked>) -> inngest::Result<BatchSummary> {
        let rows: Vec<Tracked> = ctx.events()?.into_iter().map(|event| event.data).collect();
        let users: BTreeSet<&str> = rows.iter().map(|row| row.user_id.as_str()).collect();
        let store = &self.store;
        let rows_ref = &rows;
        let stored = ctx
            .step
            .run("store", || async move { Ok(store.append(rows_ref)) })
            .await?;
        Ok(BatchSummary {
            n: rows.len(),
            users: users.len(),
            stored,
        })
    }
}

/// The module: exports the store.
pub fn module() -> Module {
    Module::new("analytics")
        .provide::<AnalyticsStore>()
        .provide::<AnalyticsIngest>()
        .export::<AnalyticsStore>()
}
