//! Lifecycle phases, hook results, and the readiness flag.

use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::watch;

use crate::error::BoxError;

/// A lifecycle phase. Start-up phases run in dependency order (a module's imports first);
/// shutdown phases run in reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Phase {
    /// After every provider is built, before anything is served.
    ModuleInit,
    /// After every `on_module_init`, before the server starts listening.
    ApplicationBootstrap,
    /// Once the listener is bound (the port is this process's), just before it accepts
    /// connections. Start background work that must not run in a process that cannot serve
    /// (a second instance on the same port fails before this phase). Not run by
    /// `TestingModule::build` alone, which binds nothing; `TestApp::start` runs it.
    ApplicationListening,
    /// After a shutdown signal, once in-flight requests have finished.
    BeforeApplicationShutdown,
    /// After `before_application_shutdown`.
    ModuleDestroy,
    /// Last, after `on_module_destroy`.
    ApplicationShutdown,
}

impl Phase {
    /// The start-up phases, in order.
    pub const STARTUP: [Phase; 2] = [Phase::ModuleInit, Phase::ApplicationBootstrap];
    /// The shutdown phases, in order.
    pub const SHUTDOWN: [Phase; 3] = [
        Phase::BeforeApplicationShutdown,
        Phase::ModuleDestroy,
        Phase::ApplicationShutdown,
    ];

    /// The method name `#[injectable]` recognises for this phase.
    pub fn method_name(self) -> &'static str {
        match self {
            Phase::ModuleInit => "on_module_init",
            Phase::ApplicationBootstrap => "on_application_bootstrap",
            Phase::ApplicationListening => "on_application_listening",
            Phase::BeforeApplicationShutdown => "before_application_shutdown",
            Phase::ModuleDestroy => "on_module_destroy",
            Phase::ApplicationShutdown => "on_application_shutdown",
        }
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.method_name())
    }
}

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
