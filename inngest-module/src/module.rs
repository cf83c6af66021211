//! [`InngestModule`]: the dynamic module that provides [`InngestService`], collects every
//! function at start-up and serves them.

use std::future::Future;
use std::sync::Arc;

use framework::{BoxError, Config, Dependencies, Discovery, Environment, Module, Phase, Provider};

use crate::embedded::{EmbeddedExecutor, Selection};
use crate::options::ExecutorKind;
use framework::config::ServerConfig;
use framework::telemetry::TelemetryConfig;

use crate::function::Functions;
use crate::hooks::Hooks;
use crate::options::{ENV_ALIASES, InngestOptions};
use crate::registry::Registry;
use crate::serve;
use crate::service::InngestService;

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
        Self::with_section(true).provider(Provider::factory(|config: Config<InngestOptions>| {
            config.get()
        }))
    }

    /// Options given in code. Unset keys fall back to the `INNGEST_*` variables (as every
    /// SDK does); the result is validated for the environment at start-up.
    pub fn for_root(options: InngestOptions) -> Module {
        #[cfg_attr(
            not(any(feature = "health", feature = "monitoring")),
            allow(unused_mut)
        )]
        let mut module = Self::base();
        #[cfg(feature = "health")]
        if options.health.enabled {
            module = module.import(health_module::HealthModule::new());
        }
        #[cfg(feature = "monitoring")]
        if options.monitoring.enabled {
            module = module.import(monitoring_module::MonitoringModule::new());
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
        Self::with_section(false).provider(Provider::async_factory(factory))
    }

    /// A stand-in for `InngestModule` in tests of modules that send events (the
    /// `InngestTestingModule` of nestjs-inngest):
    /// - it reads the `[inngest]` section, so the app's own config files load in a test
    ///   (`inngest.health` / `inngest.monitoring` are read but mount nothing);
    /// - every module injects a recording [`InngestService`]: sends are kept, not sent;
    /// - [`SentEvents`](crate::SentEvents) is a provider, to look at what was sent.
    ///
    /// It serves no functions; run those with [`testing::TestRun`](crate::testing::TestRun).
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
    /// use framework::{Module, TestingModule};
    /// use inngest_module::{Event, InngestModule, InngestService, SentEvents};
    ///
    /// let app = TestingModule::new(Module::new("app").import(InngestModule::for_test()))
    ///     .config("[inngest]\napp_id = \"shop\"\n[inngest.health]\nenabled = true")
    ///     .build()
    ///     .await
    ///     .unwrap();
    /// let service = app.get::<InngestService>().unwrap();
    /// service.send(Event::new("order.created", serde_json::json!({}))).await.unwrap();
    /// assert_eq!(app.get::<SentEvents>().unwrap().names(), ["order.created"]);
    /// # });
    /// ```
    pub fn for_test() -> Module {
        Module::new(MODULE_NAME)
            .global()
            .config::<InngestOptions>(MODULE_NAME)
            .provider(Provider::factory(|config: Config<InngestOptions>| {
                config.get()
            }))
            .provider(Provider::factory(|(): ()| {
                crate::service::SentEvents::default()
            }))
            .provider(Provider::factory(
                |(options, sent): (Arc<InngestOptions>, Arc<crate::service::SentEvents>)| {
                    InngestService::recording_into(options, &sent)
                },
            ))
            .export::<InngestService>()
            .export::<InngestOptions>()
            .export::<crate::service::SentEvents>()
    }

    /// The options come from config: `inngest.health.enabled` and
    /// `inngest.monitoring.enabled` decide the companion modules (an async factory cannot
    /// change the module graph, which is fixed before any provider is built).
    ///
    /// `checked`: the section alone must be complete (`from_config`); otherwise the factory
    /// completes it and the result is checked when the registry is built (`for_root_async`).
    fn with_section(checked: bool) -> Module {
        let mut module = if checked {
            Self::base().config::<InngestOptions>(MODULE_NAME)
        } else {
            Self::base().config_completed_by_factory::<InngestOptions>(MODULE_NAME)
        };
        // Without the feature, `enabled = true` is refused by the options' own check.
        #[cfg(feature = "health")]
        {
            module =
                module.import_when("inngest.health.enabled", health_module::HealthModule::new());
        }
        #[cfg(feature = "monitoring")]
        {
            module = module.import_when(
                "inngest.monitoring.enabled",
                monitoring_module::MonitoringModule::new(),
            );
        }
        for (var, path) in ENV_ALIASES {
            module = module.env_alias(var, path);
        }
        module
    }

    fn base() -> Module {
        let registry = Provider::try_factory(|(options, env, service, discovery): RegistryDeps| {
            // Options from config, from code or from a factory: checked the same way.
            framework::config::check_options(MODULE_NAME, &*options, *env)?;
            let (kind, _) = options.executor_choice(*env);
            Ok::<_, framework::config::InvalidOptions>(Registry::new(
                options, service, discovery, kind,
            ))
        })
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
        let embedded =
            Provider::try_factory(|deps: SelectionDeps| EmbeddedExecutor::select(selection(deps)))
                // Started once the port is bound: a second instance that cannot serve runs nothing.
                .hook(
                    Phase::ApplicationListening,
                    |this: Arc<EmbeddedExecutor>| async move { this.start().await },
                )
                .hook(
                    Phase::BeforeApplicationShutdown,
                    |this: Arc<EmbeddedExecutor>| async move {
                        this.stop(std::time::Duration::from_secs(10)).await;
                    },
                );
        // The serve handler makes its own server span per execution request
        // (`inngest.function.run`), parented as `[inngest.tracing]` says.
        let untraced =
            Provider::factory(|options: Arc<InngestOptions>| ServePath(options.serve_path.clone()))
                .contribute::<framework::telemetry::UntracedPaths, _>(|this: &Arc<ServePath>| {
                    vec![this.0.clone()]
                });
        let module = Module::new(MODULE_NAME);
        // The embedded executor's clock: the system's; tests override it with
        // `ExecutorClock::tokio()` to run on a paused tokio clock.
        #[cfg(feature = "embedded")]
        let module = module
            .provider(Provider::value(crate::embedded::ExecutorClock::System))
            .export::<crate::embedded::ExecutorClock>();
        let module = health_indicator(module);
        let module = metrics_hook(module);
        module
            .global()
            .provider(untraced)
            .provider(Provider::factory(
                |(options, telemetry): (Arc<InngestOptions>, Option<Arc<TelemetryConfig>>)| {
                    let telemetry = telemetry.is_some_and(|t| t.enabled);
                    let trace = crate::trace::TraceSettings::new(&options.tracing, telemetry);
                    InngestService::new(options).with_trace(trace)
                },
            ))
            .provider(registry)
            .provider(embedded)
            .routes(
                |(registry, embedded, server): (
                    Arc<Registry>,
                    Arc<EmbeddedExecutor>,
                    Option<Arc<ServerConfig>>,
                )| {
                    let proxies = server
                        .map(|s| s.trusted_proxies.clone())
                        .unwrap_or_default();
                    let serve = serve::router_behind(registry, proxies);
                    #[cfg(feature = "embedded")]
                    if let Some(executor) = embedded.executor() {
                        return serve.merge(executor.router());
                    }
                    let _ = embedded;
                    serve
                },
            )
            .export::<InngestService>()
            .export::<InngestOptions>()
            .export::<Registry>()
            .export::<EmbeddedExecutor>()
    }
}

/// The `inngest` health indicator (feature `health`), discovered only when a health module
/// is present.
#[cfg(feature = "health")]
fn health_indicator(module: Module) -> Module {
    use crate::health::InngestIndicator;
    use health_module::{HealthIndicator, HealthIndicators};
    module.provider(
        Provider::factory(
            |(registry, embedded): (Arc<Registry>, Arc<EmbeddedExecutor>)| {
                InngestIndicator::new(registry, embedded)
            },
        )
        .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>),
    )
}

#[cfg(not(feature = "health"))]
fn health_indicator(module: Module) -> Module {
    module
}

/// The `inngest_*` metrics hook (feature `monitoring`); it disables itself without a
/// metrics registry.
#[cfg(feature = "monitoring")]
fn metrics_hook(module: Module) -> Module {
    use crate::hooks::InngestHook;
    use crate::metrics::InngestMetrics;
    use monitoring_module::Metrics;
    module.provider(
        Provider::factory(
            |(metrics, registry): (Option<Arc<Metrics>>, Arc<Registry>)| {
                InngestMetrics::new(metrics, registry)
            },
        )
        .contribute::<Hooks, _>(|this| Arc::clone(this) as Arc<dyn InngestHook>)
        .hook(
            Phase::ApplicationBootstrap,
            |this: Arc<InngestMetrics>| async move { this.describe() },
        ),
    )
}

#[cfg(not(feature = "monitoring"))]
fn metrics_hook(module: Module) -> Module {
    module
}

/// The serve path, left out of the framework's server spans.
struct ServePath(String);

/// What the registry's factory is given.
type RegistryDeps = (
    Arc<InngestOptions>,
    Arc<Environment>,
    Arc<InngestService>,
    Arc<Discovery>,
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

/// What choosing the executor is given.
#[cfg(feature = "embedded")]
type SelectionDeps = (
    Arc<Registry>,
    Arc<Environment>,
    Option<Arc<ServerConfig>>,
    Arc<crate::embedded::ExecutorClock>,
);
#[cfg(not(feature = "embedded"))]
type SelectionDeps = (Arc<Registry>, Arc<Environment>, Option<Arc<ServerConfig>>);

#[cfg(feature = "embedded")]
fn selection((registry, env, server, clock): SelectionDeps) -> Selection {
    Selection {
        registry,
        env: *env,
        server,
        clock: *clock,
    }
}

#[cfg(not(feature = "embedded"))]
fn selection((registry, env, server): SelectionDeps) -> Selection {
    Selection {
        registry,
        env: *env,
        server,
    }
}
