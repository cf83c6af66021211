//! [`HealthModule`]: provides [`HealthService`], the built-in indicators and the routes.

use std::sync::Arc;

use framework::{Discovery, Module, Phase, Provider, Readiness};

use crate::builtin::{DiskIndicator, MemoryIndicator};
use crate::indicator::{HealthIndicator, HealthIndicators};
use crate::options::HealthOptions;
use crate::routes;
use crate::service::HealthService;

/// The module's name: `modules.health.enabled = false` switches it off.
pub const MODULE_NAME: &str = "health";

/// The health module. It provides and exports [`HealthService`] and [`HealthOptions`],
/// contributes the `memory` and `disk` indicators, collects every other
/// [`HealthIndicator`] contributed by enabled modules at `on_module_init`, and serves
/// the health routes.
///
/// ```no_run
/// use framework::{App, Module};
/// use health_module::HealthModule;
///
/// # async fn run() -> framework::Result<()> {
/// // `import_optional` lets `modules.health.enabled = false` switch it off.
/// let app = Module::new("app").import_optional(HealthModule::new());
/// App::new(app).config_dir("config").run().await
/// # }
/// ```
#[derive(Debug)]
pub struct HealthModule;

impl HealthModule {
    /// The module with its options read from the `[health]` config section (every key
    /// optional; problems are reported path-qualified, e.g. `health.path`, at start-up).
    #[allow(clippy::new_ret_no_self)] // a dynamic module: a function returning a `Module`
    pub fn new() -> Module {
        Self::base().options::<HealthOptions>(MODULE_NAME, None)
    }

    /// The module with options given in code (no `[health]` section is read). Invalid
    /// options stop start-up with every problem named (`health.path: ...`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use health_module::{HealthModule, HealthOptions};
    /// let module = HealthModule::for_root(HealthOptions {
    ///     path: "/status".into(),
    ///     timeout: Duration::from_secs(1),
    ///     ..HealthOptions::default()
    /// });
    /// # let _ = module;
    /// ```
    pub fn for_root(options: HealthOptions) -> Module {
        Self::base().options(MODULE_NAME, Some(options))
    }

    fn base() -> Module {
        let service = Provider::factory(
            |(options, discovery, readiness): (
                Arc<HealthOptions>,
                Arc<Discovery>,
                Arc<Readiness>,
            )| HealthService::new(options, discovery, readiness),
        )
        .hook(
            Phase::ModuleInit,
            |service: Arc<HealthService>| async move { service.collect() },
        )
        // Probes get no trace spans: they would drown the traces.
        .contribute::<framework::telemetry::UntracedPaths, _>(|service: &Arc<HealthService>| {
            let options = service.options();
            let mut paths = vec![options.path.clone()];
            if options.aliases {
                paths.extend(["/livez".to_string(), "/readyz".to_string()]);
            }
            paths
        });
        let memory = Provider::factory(|options: Arc<HealthOptions>| {
            MemoryIndicator::new(options.memory_rss_threshold_mb)
        })
        .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>);
        let disk = Provider::factory(|options: Arc<HealthOptions>| {
            DiskIndicator::new(options.disk_path.clone(), options.disk_threshold)
        })
        .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>);
        // Global like the monitoring module: any module may inject `Arc<HealthService>`
        // (e.g. to report its own checks) without importing this one.
        Module::new(MODULE_NAME)
            .global()
            .provider(service)
            .provider(memory)
            .provider(disk)
            .routes(routes::router)
            .export::<HealthService>()
            .export::<HealthOptions>()
    }
}
