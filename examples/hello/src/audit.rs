//! The `audit` module: an in-memory audit log, exported to importers.

use std::sync::Mutex;

use framework::{Module, injectable};

/// Records what happened, in memory.
#[derive(Debug, Default)]
pub struct AuditLog {
    entries: Mutex<Vec<String>>,
}

#[injectable]
impl AuditLog {
    fn new() -> Self {
        Self::default()
    }

    /// Appends an entry.
    pub fn record(&self, entry: impl Into<String>) {
        if let Ok(mut entries) = self.entries.lock() {
            entries.push(entry.into());
        }
    }

    /// How many entries were recorded.
    pub fn len(&self) -> usize {
        self.entries.lock().map(|e| e.len()).unwrap_or(0)
    }

    async fn on_module_init(&self) {
        tracing::info!(module = "audit", hook = "on_module_init", "lifecycle");
    }
    async fn before_application_shutdown(&self) {
        tracing::info!(
            module = "audit",
            hook = "before_application_shutdown",
            entries = self.len(),
            "lifecycle"
        );
    }
    async fn on_module_destroy(&self) {
        tracing::info!(module = "audit", hook = "on_module_destroy", "lifecycle");
    }
    async fn on_application_shutdown(&self) {
        tracing::info!(
            module = "audit",
            hook = "on_application_shutdown",
            "lifecycle"
        );
    }
}

/// The module.
pub fn module() -> Module {
    Module::new("audit")
        .provide::<AuditLog>()
        .export::<AuditLog>()
}
