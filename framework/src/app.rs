//! The application: load and check configuration and the module graph, build, run the
//! start-up hooks, serve, and stop gracefully on SIGTERM / SIGINT.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use axum::Router;
use futures_util::FutureExt;
use rustc_hash::FxHashMap;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::config::{
    ConfigSources, Environment, LogConfig, ModuleToggles, SectionDef, ServerConfig, parse_section,
    value_at,
};
use crate::container::{Container, MapSource};
use crate::discovery::Discovery;
use crate::error::{Error, Problem, Report, ResolveError};
use crate::graph::{self, PlannedProvider};
use crate::http::{RequestInfo, app_router};
use crate::inject::{Deps, downcast};
use crate::key::ProviderKey;
use crate::lifecycle::Readiness;
use crate::module::{Module, RouteDef};
use crate::phase::Phase;
use crate::provider::{Provider, ProviderDef};
use crate::telemetry::TelemetryConfig;

/// The name of the framework's built-in global module.
pub(crate) const FRAMEWORK_MODULE: &str = "framework";

/// Sections the framework itself reads.
const FRAMEWORK_SECTIONS: [&str; 4] = ["server", "log", "telemetry", "modules"];

/// An application built from a root module.
///
/// ```no_run
/// use framework::{App, Module};
///
/// #[tokio::main]
/// async fn main() -> framework::Result<()> {
///     App::new(Module::new("app")).config_dir("config").run().await
/// }
/// ```
pub struct App {
    root: Module,
    sources: ConfigSources,
    environment: Option<Environment>,
    overrides: Vec<ProviderDef>,
    logging: bool,
}

impl App {
    /// An application whose configuration comes from `config/` (or `$APP_CONFIG_DIR`) and
    /// the process environment.
    pub fn new(root: Module) -> Self {
        let dir = std::env::var_os("APP_CONFIG_DIR")
            .map_or_else(|| PathBuf::from("config"), PathBuf::from);
        Self {
            root,
            sources: ConfigSources::files(dir),
            environment: None,
            overrides: Vec::new(),
            logging: true,
        }
    }

    /// Reads config files from `dir` (unless `$APP_CONFIG_DIR` is set, which wins).
    pub fn config_dir(mut self, dir: impl Into<PathBuf>) -> Self {
        if std::env::var_os("APP_CONFIG_DIR").is_none() {
            self.sources.dir = Some(dir.into());
        }
        self
    }

    /// Replaces the configuration sources.
    pub fn config_sources(mut self, sources: ConfigSources) -> Self {
        self.sources = sources;
        self
    }

    /// Fixes the environment instead of reading `APP_ENV`.
    pub fn environment(mut self, env: Environment) -> Self {
        self.environment = Some(env);
        self
    }

    /// Replaces a provider wherever it is declared (by key).
    pub fn override_provider<T: ?Sized>(mut self, provider: Provider<T>) -> Self {
        self.overrides.push(provider.into());
        self
    }

    /// Whether to install the tracing subscriber from the `log` section (default: yes).
    pub fn init_logging(mut self, enabled: bool) -> Self {
        self.logging = enabled;
        self
    }

    /// Starts, serves until SIGTERM or SIGINT, then shuts down gracefully.
    pub async fn run(self) -> Result<(), Error> {
        let mut running = self.start().await?;
        let failure = tokio::select! {
            () = wait_for_signal() => None,
            error = running.server_failure() => Some(error),
        };
        match failure {
            None => {
                tracing::info!("shutdown signal received");
                running.shutdown().await
            }
            Some(error) => {
                tracing::error!(%error, "HTTP server failed; shutting down");
                let _ = running.shutdown().await;
                Err(error)
            }
        }
    }

    /// Builds and starts serving; returns a handle to stop it.
    pub async fn start(self) -> Result<RunningApp, Error> {
        let prepared = prepare(
            self.root,
            &self.sources,
            self.environment,
            self.overrides,
            self.logging,
        )
        .await?;
        prepared.start().await
    }
}

/// Waits for SIGTERM or SIGINT (Ctrl-C).
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c().map(|_| ());
    #[cfg(unix)]
    {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = ctrl_c => {}
                    _ = term.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "cannot listen for SIGTERM; only Ctrl-C stops the app");
                ctrl_c.await;
            }
        }
    }
    #[cfg(not(unix))]
    ctrl_c.await;
}

/// A built, checked application that has run its start-up hooks but does not serve yet.
pub(crate) struct Prepared {
    pub(crate) container: Arc<Container>,
    pub(crate) server: ServerConfig,
    pub(crate) telemetry: Arc<TelemetryConfig>,
    pub(crate) telemetry_guard: Option<crate::telemetry::TelemetryGuard>,
    pub(crate) routes: Vec<(Arc<str>, RouteDef)>,
    pub(crate) readiness: Arc<Readiness>,
}

fn load_builtin<T: crate::ConfigSection>(
    raw: &config::Config,
    path: &'static str,
    env: Environment,
    problems: &mut Vec<Problem>,
) -> Option<Arc<T>> {
    match SectionDef::of::<T>(path).load(value_at(raw, path), env) {
        Ok(instance) => downcast::<crate::Config<T>>(&instance).map(|config| config.arc()),
        Err(found) => {
            problems.extend(found);
            None
        }
    }
}

/// Every environment-variable alias declared anywhere in the tree.
fn collect_env_aliases(
    module: &Module,
    out: &mut Vec<(&'static str, &'static str)>,
    seen: &mut Vec<Arc<str>>,
) {
    if seen.contains(&module.name) {
        return;
    }
    seen.push(Arc::clone(&module.name));
    out.extend(module.env_aliases.iter().copied());
    for import in &module.imports {
        collect_env_aliases(&import.module, out, seen);
    }
}

/// Every config section path declared anywhere in the tree, enabled or not.
fn all_section_roots(module: &Module, out: &mut Vec<&'static str>, seen: &mut Vec<Arc<str>>) {
    if seen.contains(&module.name) {
        return;
    }
    seen.push(Arc::clone(&module.name));
    out.extend(
        module
            .sections
            .iter()
            .map(|s| s.path.split('.').next().unwrap_or(s.path)),
    );
    for import in &module.imports {
        all_section_roots(&import.module, out, seen);
    }
}

/// Loads config, checks everything, builds the container and runs the start-up hooks.
pub(crate) async fn prepare(
    root: Module,
    sources: &ConfigSources,
    environment: Option<Environment>,
    overrides: Vec<ProviderDef>,
    logging: bool,
) -> Result<Prepared, Error> {
    let env = match environment {
        Some(env) => env,
        None => Environment::from_process_env().map_err(|e| {
            Error::Invalid(Report::new(vec![Problem::config("APP_ENV", e.to_string())]))
        })?,
    };
    // The variables every OpenTelemetry SDK reads, below explicit config.
    let mut aliases = vec![
        ("OTEL_SERVICE_NAME", "telemetry.service_name"),
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "telemetry.endpoint"),
    ];
    collect_env_aliases(&root, &mut aliases, &mut Vec::new());
    let raw = sources.load(env, &aliases)?;
    let mut problems = Vec::new();

    let server = load_builtin::<ServerConfig>(&raw, "server", env, &mut problems);
    let log = load_builtin::<LogConfig>(&raw, "log", env, &mut problems);
    let telemetry = load_builtin::<TelemetryConfig>(&raw, "telemetry", env, &mut problems);
    // The export pipeline exists only for a real app (`logging`): tests install their own
    // subscriber and exporter.
    let mut telemetry_guard = None;
    if let (true, Some(config)) = (logging, telemetry.as_ref().filter(|t| t.enabled)) {
        match crate::telemetry::start(Arc::clone(config), root.name.to_string()).await {
            Ok(guard) => telemetry_guard = Some(guard),
            Err(error) => problems.push(Problem::config("telemetry", error.to_string())),
        }
    }
    if let (true, Some(log)) = (logging, &log) {
        crate::logging::init(log, telemetry_guard.as_ref());
    }
    let toggles: ModuleToggles = parse_section("modules", value_at(&raw, "modules"))
        .unwrap_or_else(|found| {
            problems.extend(found);
            ModuleToggles::new()
        });

    let switch = |path: &str| -> Result<bool, String> {
        match value_at(&raw, path) {
            None => Ok(false),
            Some(value) => value.into_bool().map_err(|_| {
                format!(
                    "expected `true` or `false` (it decides whether a module is imported); set it in a config file or with APP__{}",
                    path.replace('.', "__").to_uppercase()
                )
            }),
        }
    };
    let mut flat = graph::flatten(&root, &toggles, &switch);
    problems.append(&mut flat.problems);

    // Unknown top-level sections are typos until proven otherwise.
    let mut known: Vec<&'static str> = FRAMEWORK_SECTIONS.to_vec();
    all_section_roots(&root, &mut known, &mut Vec::new());
    if let Ok(top) = raw
        .clone()
        .try_deserialize::<config::Map<String, config::Value>>()
    {
        for key in top.keys() {
            if !known.contains(&key.as_str()) {
                let message = match crate::config::closest(key, known.iter().copied()) {
                    Some(section) => format!(
                        "unknown section: no module reads it (did you mean `{section}`?)"
                    ),
                    None => "unknown section: no module reads it (check the spelling, or import the module that reads it)".to_string(),
                };
                problems.push(Problem::config(key.clone(), message));
            }
        }
    }

    let readiness = Arc::new(Readiness::default());
    let discovery = Arc::new(Discovery::default());
    let everywhere = |module: usize, def: ProviderDef| PlannedProvider {
        module,
        def,
        everywhere: true,
    };
    let mut extra = vec![
        everywhere(0, Provider::value(env).into()),
        everywhere(0, Provider::arc_value(Arc::clone(&readiness)).into()),
        everywhere(0, Provider::arc_value(Arc::clone(&discovery)).into()),
        everywhere(
            0,
            Provider::<RequestInfo>::try_factory(|(): ()| {
                Err::<RequestInfo, _>("RequestInfo exists only inside an HTTP request")
            })
            .request_scoped()
            .into(),
        ),
    ];
    if let Some(server) = &server {
        extra.push(everywhere(
            0,
            Provider::arc_value(Arc::clone(server)).into(),
        ));
    }
    if let Some(telemetry) = &telemetry {
        extra.push(everywhere(
            0,
            Provider::arc_value(Arc::clone(telemetry)).into(),
        ));
    }
    if let Some(log) = &log {
        extra.push(everywhere(0, Provider::arc_value(Arc::clone(log)).into()));
    }

    // Sections of enabled modules: loaded, validated and checked, every problem kept.
    let mut loaded: Vec<(ProviderKey, &'static str)> = Vec::new();
    for (m, module) in flat.modules.iter().enumerate() {
        for section in &module.sections {
            if let Some((_, path)) = loaded.iter().find(|(key, _)| *key == section.key) {
                if *path != section.path {
                    problems.push(Problem::graph(
                        &*module.name,
                        format!(
                            "`{}` is declared at both `{path}` and `{}`: declare each config type at one path",
                            section.key, section.path
                        ),
                    ));
                }
                continue;
            }
            loaded.push((section.key, section.path));
            // A section that failed still registers its key, so its problems are not
            // repeated as "missing provider" problems (nothing is built when any failed).
            let instance = match section.load(value_at(&raw, section.path), env) {
                Ok(instance) => instance,
                Err(found) => {
                    problems.extend(found);
                    Arc::new(())
                }
            };
            extra.push(everywhere(m, ProviderDef::instance(section.key, instance)));
        }
    }

    let config_failed = !problems.is_empty();
    let (plan, graph_problems) = graph::check(&flat, extra, &overrides);
    problems.extend(graph_problems);
    let (Some(plan), false, Some(server), Some(telemetry)) =
        (plan, config_failed, server, telemetry)
    else {
        return Err(Error::Invalid(Report::new(problems)));
    };

    let routes: Vec<(Arc<str>, RouteDef)> = plan
        .modules
        .iter()
        .flat_map(|m| m.routes.iter().map(|r| (Arc::clone(&m.name), r.clone())))
        .collect();
    let container = Arc::new(Container::build(plan).await?);
    discovery.attach(&container);
    for phase in Phase::STARTUP {
        if let Err(error) = container.run_hooks(phase, server.hook_timeout).await {
            run_shutdown_hooks(&container, server.hook_timeout).await;
            return Err(error);
        }
    }
    Ok(Prepared {
        container,
        server: (*server).clone(),
        telemetry,
        telemetry_guard,
        routes,
        readiness,
    })
}

/// Runs every shutdown phase, logging failures; used when start-up fails after some
/// start-up hooks already ran, so resources they opened are released.
pub(crate) async fn run_shutdown_hooks(
    container: &Container,
    timeout: std::time::Duration,
) -> Option<Error> {
    let mut first_error = None;
    for phase in Phase::SHUTDOWN {
        if let Err(error) = container.run_hooks(phase, timeout).await {
            first_error.get_or_insert(error);
        }
    }
    first_error
}

impl Prepared {
    /// Builds every module's router with its injected dependencies, inside the framework's
    /// layers.
    pub(crate) async fn service(&self) -> Result<crate::http::AppService, Error> {
        let mut routers = Vec::with_capacity(self.routes.len());
        for (module, route) in &self.routes {
            let mut values = FxHashMap::default();
            for dep in &route.dependencies {
                if let Some(instance) =
                    self.container
                        .instance(&dep.key)
                        .await
                        .map_err(|error| Error::Build {
                            module: module.to_string(),
                            key: dep.key,
                            source: Box::new(error),
                        })?
                {
                    values.insert(dep.key, instance);
                }
            }
            // axum panics on an invalid route path (`/:id`, overlapping methods, …), e.g. one
            // built from a config value: report it as an error naming the module.
            let built = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                (route.build)(&Deps::new(&MapSource(&values)))
            }))
            .map_err(|panic| Error::RouteBuild {
                module: module.to_string(),
                message: crate::http::panic_message(&*panic),
            })?;
            let router = built.map_err(|error: ResolveError| Error::Build {
                module: module.to_string(),
                key: ProviderKey::of::<Router>(),
                source: Box::new(error),
            })?;
            routers.push((Arc::clone(module), router));
        }
        app_router(&self.container, routers, &self.server, &self.telemetry)
    }

    /// Binds the listener and serves in the background. If that fails after the start-up
    /// hooks ran, the shutdown hooks run too, so resources they opened are released.
    pub(crate) async fn start(self) -> Result<RunningApp, Error> {
        let listened = match self.listen().await {
            Ok(listened) => listened,
            Err(error) => {
                run_shutdown_hooks(&self.container, self.server.hook_timeout).await;
                return Err(error);
            }
        };
        // The port is ours: work that must run only in a process that serves starts now.
        if let Err(error) = self
            .container
            .run_hooks(Phase::ApplicationListening, self.server.hook_timeout)
            .await
        {
            drop(listened);
            run_shutdown_hooks(&self.container, self.server.hook_timeout).await;
            return Err(error);
        }
        let (router, listener, local) = listened;
        Ok(self.serve(router, listener, local))
    }

    async fn listen(&self) -> Result<(crate::http::AppService, TcpListener, SocketAddr), Error> {
        let router = self.service().await?;
        let port = u16::try_from(self.server.port).unwrap_or_default();
        // An IPv6 address is bracketed (`[::]:3000`); `localhost` is resolved.
        let addr = match self.server.host.parse::<std::net::IpAddr>() {
            Ok(ip) => SocketAddr::new(ip, port).to_string(),
            Err(_) => format!("{}:{port}", self.server.host),
        };
        let listener = TcpListener::bind(&addr)
            .await
            .map_err(|source| Error::Bind {
                addr: addr.clone(),
                source,
            })?;
        let local = listener
            .local_addr()
            .map_err(|source| Error::Bind { addr, source })?;
        Ok((router, listener, local))
    }

    fn serve(
        self,
        router: crate::http::AppService,
        listener: TcpListener,
        local: SocketAddr,
    ) -> RunningApp {
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let limits = crate::server::Limits::from_config(&self.server);
        let server = tokio::spawn(crate::server::serve(listener, router, limits, stop_rx));
        self.readiness.mark_ready();
        tracing::info!(address = %local, "listening on http://{local}");
        RunningApp {
            addr: local,
            container: self.container,
            server_config: self.server,
            telemetry: self.telemetry_guard,
            readiness: self.readiness,
            stop: Some(stop_tx),
            server: Some(server),
        }
    }
}

/// A serving application. Stop it with [`RunningApp::shutdown`].
pub struct RunningApp {
    addr: SocketAddr,
    container: Arc<Container>,
    server_config: ServerConfig,
    telemetry: Option<crate::telemetry::TelemetryGuard>,
    readiness: Arc<Readiness>,
    stop: Option<oneshot::Sender<()>>,
    server: Option<JoinHandle<std::io::Result<()>>>,
}

impl std::fmt::Debug for RunningApp {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RunningApp")
            .field("addr", &self.addr)
            .finish_non_exhaustive()
    }
}

impl RunningApp {
    /// The bound address (useful with `server.port = 0`).
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://<bound address>`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The container.
    pub fn container(&self) -> &Arc<Container> {
        &self.container
    }

    /// The readiness flag.
    pub fn readiness(&self) -> &Arc<Readiness> {
        &self.readiness
    }

    /// Graceful shutdown: not-ready, drain delay, stop accepting, finish in-flight requests
    /// (bounded by `server.shutdown_timeout`), then the shutdown hooks in reverse order.
    pub async fn shutdown(mut self) -> Result<(), Error> {
        self.readiness.begin_shutdown();
        let cfg = &self.server_config;
        if !cfg.drain_delay.is_zero() {
            tracing::info!(delay = ?cfg.drain_delay, "not ready; draining before closing the listener");
            tokio::time::sleep(cfg.drain_delay).await;
        }
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(mut server) = self.server.take() {
            match tokio::time::timeout(cfg.shutdown_timeout, &mut server).await {
                Ok(Ok(Ok(()))) => tracing::info!("in-flight requests finished"),
                Ok(Ok(Err(error))) => tracing::error!(%error, "HTTP server failed while stopping"),
                Ok(Err(error)) => tracing::error!(%error, "HTTP server task failed"),
                Err(_) => {
                    tracing::warn!(timeout = ?cfg.shutdown_timeout, "in-flight requests did not finish in time; cancelling them");
                    server.abort();
                }
            }
        }
        let first_error = run_shutdown_hooks(&self.container, cfg.hook_timeout).await;
        if let Some(telemetry) = self.telemetry.take() {
            telemetry.shutdown().await;
        }
        tracing::info!("shutdown complete");
        first_error.map_or(Ok(()), Err)
    }

    /// Resolves if the server stops on its own (an I/O failure), with the error; pending
    /// while it serves normally.
    pub async fn server_failure(&mut self) -> Error {
        let Some(server) = self.server.as_mut() else {
            return std::future::pending().await;
        };
        let error = match server.await {
            Ok(Ok(())) => std::io::Error::other("the HTTP server stopped unexpectedly"),
            Ok(Err(error)) => error,
            Err(join) => std::io::Error::other(join.to_string()),
        };
        self.server = None;
        Error::Serve(error)
    }
}
