//! [`InngestModule`]: the dynamic module that provides [`InngestService`], collects every
//! function at start-up and serves them.

use std::future::Future;
use std::sync::Arc;

use framework::{BoxError, Config, Dependencies, Discovery, Environment, Module, Phase, Provider};

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
        Self::with_section().provider(Provider::factory(|config: Config<InngestOptions>| {
            config.get()
        }))
    }

    /// Options given in code. Unset keys fall back to the `INNGEST_*` variables (as every
    /// SDK does); the result is validated for the environment at start-up.
    pub fn for_root(options: InngestOptions) -> Module {
        Self::base().provider(Provider::try_factory(move |(): ()| {
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

    fn with_section() -> Module {
        let mut module = Self::base().config::<InngestOptions>(MODULE_NAME);
        for (var, path) in ENV_ALIASES {
            module = module.env_alias(var, path);
        }
        module
    }

    fn base() -> Module {
        let registry = Provider::try_factory(
            |(options, env, service, discovery): (
                Arc<InngestOptions>,
                Arc<Environment>,
                Arc<InngestService>,
                Arc<Discovery>,
            )| {
                let problems = options.problems(*env);
                if problems.is_empty() {
                    Ok(Registry::new(options, service, discovery))
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
                    mode = if options.is_dev() { "dev" } else { "cloud" },
                    serve_path = %options.serve_path,
                    functions = ?registry.function_ids(),
                    "Inngest functions served",
                );
            },
        );
        Module::new(MODULE_NAME)
            .global()
            .provider(Provider::factory(|options: Arc<InngestOptions>| {
                InngestService::new(options)
            }))
            .provider(registry)
            .routes(|registry: Arc<Registry>| serve::router(registry))
            .export::<InngestService>()
            .export::<InngestOptions>()
            .export::<Registry>()
    }
}

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
