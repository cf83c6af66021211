//! The lifecycle phases, in the order they run.

use std::fmt;

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
