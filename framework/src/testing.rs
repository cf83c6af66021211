//! [`TestingModule`]: build any module graph with inline config and provider overrides,
//! resolve from it, or serve it on an ephemeral port.

use std::sync::Arc;

use axum::Router;

use crate::app::{Prepared, RunningApp, prepare};
use crate::config::{ConfigSources, Environment};
use crate::container::Container;
use crate::error::{Error, ResolveError};
use crate::module::Module;
use crate::provider::{Provider, ProviderDef};

/// Builds a module graph for a test: environment `test`, no config files and no process
/// environment unless asked, providers overridable.
///
/// ```
/// use std::sync::Arc;
/// use framework::{Module, Provider, TestingModule};
///
/// trait Clock: Send + Sync { fn now(&self) -> u64; }
/// struct Fixed;
/// impl Clock for Fixed { fn now(&self) -> u64 { 42 } }
/// struct System;
/// impl Clock for System { fn now(&self) -> u64 { 7 } }
///
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let app = TestingModule::new(
///     Module::new("app").provider(Provider::<dyn Clock>::arc_value(Arc::new(System))),
/// )
/// .override_provider(Provider::<dyn Clock>::arc_value(Arc::new(Fixed)))
/// .build()
/// .await
/// .unwrap();
/// assert_eq!(app.get::<dyn Clock>().unwrap().now(), 42);
/// # });
/// ```
pub struct TestingModule {
    root: Module,
    sources: ConfigSources,
    environment: Environment,
    overrides: Vec<ProviderDef>,
}

impl TestingModule {
    /// A test build of `root`.
    pub fn new(root: Module) -> Self {
        Self {
            root,
            sources: ConfigSources::inline(),
            environment: Environment::Test,
            overrides: Vec::new(),
        }
    }

    /// Adds inline TOML configuration (layered in order).
    pub fn config(mut self, toml: impl Into<String>) -> Self {
        self.sources = self.sources.toml(toml);
        self
    }

    /// Adds an environment variable (`APP__…`, or one a module aliases with
    /// `Module::env_alias`); the process environment is never read.
    pub fn env_var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.sources = self.sources.var(name, value);
        self
    }

    /// Sets the environment (default `test`).
    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = env;
        self
    }

    /// Replaces the provider with the same key wherever it is declared.
    pub fn override_provider<T: ?Sized>(mut self, provider: Provider<T>) -> Self {
        self.overrides.push(provider.into());
        self
    }

    /// Checks and builds the graph and runs the start-up hooks.
    pub async fn build(self) -> Result<TestApp, Error> {
        let prepared = prepare(
            self.root,
            &self.sources,
            Some(self.environment),
            self.overrides,
            false,
        )
        .await?;
        Ok(TestApp { prepared })
    }
}

/// A built test application.
pub struct TestApp {
    prepared: Prepared,
}

impl std::fmt::Debug for TestApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TestApp")
            .field("container", &self.prepared.container)
            .finish()
    }
}

impl TestApp {
    /// The container.
    pub fn container(&self) -> &Arc<Container> {
        &self.prepared.container
    }

    /// The singleton `T`.
    pub fn get<T: ?Sized + Send + Sync + 'static>(&self) -> Result<Arc<T>, ResolveError> {
        self.prepared.container.get::<T>()
    }

    /// The full application router, for in-process requests (`tower::ServiceExt::oneshot`).
    pub async fn router(&self) -> Result<Router, Error> {
        Ok(Router::new().fallback_service(self.prepared.service().await?))
    }

    /// Serves on `127.0.0.1` with an ephemeral port.
    pub async fn start(mut self) -> Result<RunningApp, Error> {
        self.prepared.server.host = "127.0.0.1".into();
        self.prepared.server.port = 0;
        self.prepared.start().await
    }

    /// Runs the shutdown hooks without serving. Like [`RunningApp::shutdown`], every phase
    /// runs even if one fails; the first error is returned.
    pub async fn close(self) -> Result<(), Error> {
        let timeout = self.prepared.server.hook_timeout;
        crate::app::run_shutdown_hooks(&self.prepared.container, timeout)
            .await
            .map_or(Ok(()), Err)
    }
}
