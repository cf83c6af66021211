//! Lifecycle hook results and the readiness flag (the phases are in `phase`).

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::error::BoxError;

/// What a hook may return: `()` or `Result<(), E>`.
pub trait IntoHookResult {
    /// Converts into the framework's hook result.
    fn into_hook_result(self) -> Result<(), BoxError>;
}

impl IntoHookResult for () {
    fn into_hook_result(self) -> Result<(), BoxError> {
        Ok(())
    }
}

impl<E: Into<BoxError>> IntoHookResult for Result<(), E> {
    fn into_hook_result(self) -> Result<(), BoxError> {
        self.map_err(Into::into)
    }
}

/// Whether the application accepts traffic. Injectable (`Arc<Readiness>`); the health
/// module reads it for `/health/ready`.
///
/// It turns ready after `on_application_bootstrap` and not-ready the moment a shutdown
/// signal arrives (before the drain delay), so load balancers stop sending traffic first.
#[derive(Debug)]
pub struct Readiness {
    ready: AtomicBool,
    shutting_down: watch::Sender<bool>,
}

impl Default for Readiness {
    fn default() -> Self {
        Self {
            ready: AtomicBool::new(false),
            shutting_down: watch::channel(false).0,
        }
    }
}

impl Readiness {
    /// `true` between bootstrap and the shutdown signal.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// `true` once a shutdown signal has arrived.
    pub fn is_shutting_down(&self) -> bool {
        *self.shutting_down.borrow()
    }

    /// Resolves when shutdown begins (immediately if it already has). Background tasks can
    /// `select!` on it to stop taking new work.
    pub async fn shutdown_started(&self) {
        let mut receiver = self.shutting_down.subscribe();
        // An error means the sender is gone, which only happens when the app is dropped.
        let _ = receiver.wait_for(|down| *down).await;
    }

    pub(crate) fn mark_ready(&self) {
        self.ready.store(true, Ordering::Release);
    }

    pub(crate) fn begin_shutdown(&self) {
        self.ready.store(false, Ordering::Release);
        self.shutting_down.send_replace(true);
    }
}
