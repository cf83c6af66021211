//! [`InngestModule`]: the dynamic module that provides [`InngestService`], collects every
//! function at start-up and serves them.

use std::future::Future;
use std::sync::Arc;

use framework::{BoxError, Config, Dependencies, Discovery, Environment, Module, Phase, Provider};

use crate::executor::transport::InProcess;
use crate::executor::{Executor, ExecutorSettings};
use crate::options::ExecutorKind;
use framework::config::ServerConfig;
use framework::telemetry::TelemetryConfig;

use crate::function::Functions;
use crate::health::InngestIndicator;
use crate::hooks::{Hooks, InngestHook};
use crate::metrics::InngestMetrics;
use crate::options::{ENV_ALIASES, InngestOptions};
use crate::registry::Registry;
use crate::serve;
use crate::service::InngestService;
use health_module::{HealthIndicator, HealthIndicators, HealthModule};
use monitoring_module::{Metrics, MonitoringModule};

/// The module's name.
pub const MODULE_NAME: &str = "inngest";

/// The Inngest module. Import it once (it is global: every module can inject
/// `Arc<InngestService>`).
///
/// ```no_run
/// use framework::{App, Module};
/// use inngest_module::InngestModule;
///
/// # async fn run() -> framework::Result<()> {
/// let app = Module::new("app").import(InngestModule::from_config());
/// App::new(app).config_dir("config").run().await
/// # }
/// ```
pub struct InngestModule;

impl InngestModule {
    /// Options from the `[inngest]` config section, below which the `INNGEST_*` variables
    /// fill what the files leave unset.
    pub fn from_config() -> Module {
        Self::with_section().provider(Provider::factory(|config: Config<InngestOptions>| {
            config.get()
        }))
    }

    /// Options given in code. Unset keys fall back to the `INNGEST_*` variables (as every
    /// SDK does); the result is validated for the environment at start-up.
    pub fn for_root(options: InngestOptions) -> Module {
        let mut module = Self::base();
        if options.health.enabled {
            module = module.import(HealthModule::new());
        }
        if options.monitoring.enabled {
            module = module.import(MonitoringModule::new());
        }
        module.provider(Provider::try_factory(move |(): ()| {
            options.clone().with_env_fallbacks()
        }))
    }

    /// Options from an injected async factory (which may read `Config<InngestOptions>`, a
    /// secret store, …). The result is validated for the environment at start-up.
    ///
    /// ```
    /// use framework::Config;
    /// use inngest_module::{InngestModule, InngestOptions};
    /// let module = InngestModule::for_root_async(|config: Config<InngestOptions>| async move {
    ///     let mut options = config.get();
    ///     options.app_version = Some("2026.11".into());
    ///     Ok(options)
    /// });
    /// # let _ = module;
    /// ```
    pub fn for_root_async<D, F, Fut>(factory: F) -> Module
    where
        D: Dependencies,
        F: Fn(D) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<InngestOptions, BoxError>> + Send + 'static,
    {
        Self::with_section().provider(Provider::async_factory(factory))
    }

    /// The options come from config: `inngest.health.enabled` and
    /// `inngest.monitoring.enabled` decide the companion modules (an async factory cannot
    /// change the module graph, which is fixed before any provider is built).
    fn with_section() -> Module {
        let mut module = Self::base()
            .config::<InngestOptions>(MODULE_NAME)
            .import_when("inngest.health.enabled", HealthModule::new())
            .import_when("inngest.monitoring.enabled", MonitoringModule::new());
        for (var, path) in ENV_ALIASES {
            module = module.env_alias(var, path);
        }
        module
    }

    fn base() -> Module {
        let registry = Provider::try_factory(
            |(options, env, service, discovery, telemetry): RegistryDeps| {
                let problems = options.problems(*env);
                if problems.is_empty() {
                    let (kind, _) = options.executor_choice(*env);
                    let telemetry = telemetry.is_some_and(|t| t.enabled);
                    Ok(Registry::new(options, service, discovery, kind, telemetry))
                } else {
                    let list: Vec<String> = problems
                        .iter()
                        .map(|(field, message)| format!("  - inngest.{field}: {message}"))
                        .collect();
                    Err(format!(
                        "the Inngest options are invalid in {}:\n{}",
                        *env,
                        list.join("\n")
                    ))
                }
            },
        )
        .hook(Phase::ModuleInit, |registry: Arc<Registry>| async move {
            collect(&registry)
        })
        .hook(
            Phase::ApplicationBootstrap,
            |registry: Arc<Registry>| async move {
                let options = &registry.options;
                tracing::info!(
                    app_id = %options.app_id,
                    mode = if registry.executor_kind() == ExecutorKind::Embedded {
                        "embedded"
                    } else if options.is_dev() {
                        "dev"
                    } else {
                        "cloud"
                    },
                    serve_path = %options.serve_path,
                    functions = ?registry.function_ids(),
                    "Inngest functions served",
                );
            },
        );
        let embedded = Provider::try_factory(
            |(registry, env, server): (
                Arc<Registry>,
                Arc<Environment>,
                Option<Arc<ServerConfig>>,
            )| { EmbeddedExecutor::select(registry, *env, server) },
        )
        .hook(
            Phase::ApplicationBootstrap,
            |this: Arc<EmbeddedExecutor>| async move { this.start() },
        )
        .hook(
            Phase::BeforeApplicationShutdown,
            |this: Arc<EmbeddedExecutor>| async move {
                if let Some(executor) = &this.executor {
                    executor.shutdown(std::time::Duration::from_secs(10)).await;
                }
            },
        );
        // The health indicator is discovered only when a health module is present; the
        // metrics hook disables itself without a metrics registry.
        let indicator = Provider::factory(
            |(registry, embedded): (Arc<Registry>, Arc<EmbeddedExecutor>)| {
                InngestIndicator::new(registry, embedded)
            },
        )
        .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>);
        let metrics = Provider::factory(
            |(metrics, registry): (Option<Arc<Metrics>>, Arc<Registry>)| {
                InngestMetrics::new(metrics, registry)
            },
        )
        .contribute::<Hooks, _>(|this| Arc::clone(this) as Arc<dyn InngestHook>)
        .hook(
            Phase::ApplicationBootstrap,
            |this: Arc<InngestMetrics>| async move { this.describe() },
        );
        // The serve handler makes its own server span per execution request
        // (`inngest.function.run`), parented as `[inngest.tracing]` says.
        let untraced =
            Provider::factory(|options: Arc<InngestOptions>| ServePath(options.serve_path.clone()))
                .contribute::<framework::telemetry::UntracedPaths, _>(|this: &Arc<ServePath>| {
                    vec![this.0.clone()]
                });
        Module::new(MODULE_NAME)
            .global()
            .provider(untraced)
            .provider(indicator)
            .provider(metrics)
            .provider(Provider::factory(|options: Arc<InngestOptions>| {
                InngestService::new(options)
            }))
            .provider(registry)
            .provider(embedded)
            .routes(
                |(registry, embedded): (Arc<Registry>, Arc<EmbeddedExecutor>)| {
                    let serve = serve::router(registry);
                    match &embedded.executor {
                        Some(executor) => serve.merge(crate::executor::router(executor.clone())),
                        None => serve,
                    }
                },
            )
            .export::<InngestService>()
            .export::<InngestOptions>()
            .export::<Registry>()
            .export::<EmbeddedExecutor>()
    }
}

/// The serve path, left out of the framework's server spans.
struct ServePath(String);

/// What the registry's factory is given.
type RegistryDeps = (
    Arc<InngestOptions>,
    Arc<Environment>,
    Arc<InngestService>,
    Arc<Discovery>,
    Option<Arc<TelemetryConfig>>,
);

/// Collects every function and hook from providers of enabled modules.
fn collect(registry: &Registry) -> Result<(), BoxError> {
    let functions = registry.discovery.discover::<Functions>()?;
    let hooks = registry
        .discovery
        .discover::<Hooks>()?
        .into_iter()
        .map(|found| Arc::clone(&*found.item))
        .collect();
    registry.install(functions, hooks)?;
    Ok(())
}

/// Which executor drives this app's functions; holds the embedded one when it is in use.
/// Injectable (`Arc<EmbeddedExecutor>`), e.g. to wait for a run in a test.
pub struct EmbeddedExecutor {
    executor: Option<Executor>,
    registry: Arc<Registry>,
    server: Option<Arc<ServerConfig>>,
    kind: ExecutorKind,
    reason: &'static str,
}

impl std::fmt::Debug for EmbeddedExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedExecutor")
            .field("kind", &self.kind)
            .field("reason", &self.reason)
            .finish()
    }
}

impl EmbeddedExecutor {
    fn select(
        registry: Arc<Registry>,
        env: Environment,
        server: Option<Arc<ServerConfig>>,
    ) -> Result<Self, BoxError> {
        let options = &registry.options;
        let (kind, reason) = options.executor_choice(env);
        let executor = match kind {
            ExecutorKind::Remote => None,
            ExecutorKind::Embedded => {
                let executor = Executor::open(ExecutorSettings {
                    options: options.embedded.clone(),
                    signing_key: options.signing_key.as_ref().map(|k| k.expose().to_string()),
                    event_key: options.event_key.as_ref().map(|k| k.expose().to_string()),
                })?;
                registry.service.deliver_locally(
                    Arc::new(executor.clone()) as Arc<dyn crate::service::EventSink>
                );
                Some(executor)
            }
        };
        Ok(Self {
            executor,
            registry,
            server,
            kind,
            reason,
        })
    }

    /// The embedded executor, when this app runs on it.
    pub fn executor(&self) -> Option<&Executor> {
        self.executor.as_ref()
    }

    /// `embedded` or `remote`.
    pub fn kind(&self) -> ExecutorKind {
        self.kind
    }

    /// Why that executor was chosen.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Registers the app's functions with the embedded executor (in-process transport) and
    /// starts it; logs the choice either way.
    fn start(&self) -> Result<(), BoxError> {
        let registry = &self.registry;
        let server = self.server.as_deref();
        let options = &registry.options;
        let Some(executor) = &self.executor else {
            tracing::info!(
                executor = "remote",
                reason = self.reason,
                "Inngest executor: a remote Inngest server calls this app"
            );
            return Ok(());
        };
        let url = format!("http://embedded.inngest.local{}", options.serve_path);
        let transport = InProcess::new(
            serve::router(Arc::clone(registry)),
            options.serve_path.clone(),
            options.body_limit.max(64 * 1024 * 1024),
        );
        let count = match executor.register_app(
            &options.app_id,
            Arc::new(transport),
            &registry.function_configs(&url),
        ) {
            Ok(count) => {
                registry.record_sync(crate::hooks::SyncKind::Embedded, None);
                count
            }
            Err(error) => {
                registry.record_sync(crate::hooks::SyncKind::Embedded, Some(error.to_string()));
                return Err(error.into());
            }
        };
        executor.start();
        let prefix = server
            .map(|s| {
                format!(
                    "{}{}",
                    s.global_prefix.trim_end_matches('/'),
                    executor.options().prefix
                )
            })
            .unwrap_or_else(|| executor.options().prefix.clone());
        let origin = server
            .map(|s| format!("http://{}:{}", s.host, s.port))
            .unwrap_or_default();
        tracing::info!(
            executor = "embedded",
            reason = self.reason,
            functions = count,
            database = %executor.options().database.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "in memory".into()),
            event_api = %format!("{origin}{prefix}/e/<key>"),
            "Inngest executor: embedded; runs page at {origin}{prefix}/runs",
        );
        Ok(())
    }
}
