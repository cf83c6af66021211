//! [`MonitoringModule`]: the global module that owns the app's [`Metrics`], adds the HTTP
//! metrics layer and serves the endpoints.

use std::sync::Arc;

use framework::http::{HttpLayer, HttpLayers};
use framework::{Module, Provider};

use crate::http_layer::HttpMetricsLayer;
use crate::metrics::Metrics;
use crate::options::MonitoringOptions;
use crate::process::ProcessCollector;
use crate::routes;

/// The module's name (and its toggle: `modules.monitoring.enabled`).
pub const MODULE_NAME: &str = "monitoring";

/// The monitoring module. It is global: once imported (anywhere), every module can inject
/// `Arc<Metrics>` (or `Option<Arc<Metrics>>` when it must also run without monitoring).
///
/// It provides [`Metrics`] (a registry per app) and [`MonitoringOptions`], registers the
/// process collector (`process_metrics`), wraps the whole app router in the
/// [`HttpMetricsLayer`] (`http_metrics`, through `framework::http::HttpLayers`) and serves
/// `GET {metrics_path}` and `GET {json_prefix}/{metrics,functions,system}`.
///
/// With `modules.monitoring.enabled = false` none of this exists: no routes, no layer, no
/// registry.
///
/// ```no_run
/// use framework::{App, Module};
/// use monitoring_module::MonitoringModule;
///
/// # async fn run() -> framework::Result<()> {
/// let app = Module::new("app").import(MonitoringModule::new());
/// App::new(app).config_dir("config").run().await
/// # }
/// ```
#[derive(Debug)]
pub struct MonitoringModule;

impl MonitoringModule {
    /// The module with its options read from the `[monitoring]` config section (every key
    /// optional; see [`MonitoringOptions`]).
    #[allow(clippy::new_ret_no_self)]
    pub fn new() -> Module {
        Self::base().options::<MonitoringOptions>(MODULE_NAME, None)
    }

    /// The module with options given in code (no `[monitoring]` section is read). Invalid
    /// options stop start-up with every problem listed.
    ///
    /// ```
    /// use monitoring_module::{MonitoringModule, MonitoringOptions};
    /// let module = MonitoringModule::for_root(MonitoringOptions {
    ///     metrics_path: "/internal/metrics".into(),
    ///     process_metrics: false,
    ///     ..MonitoringOptions::default()
    /// });
    /// assert_eq!(module.name(), "monitoring");
    /// ```
    pub fn for_root(options: MonitoringOptions) -> Module {
        Self::base().options(MODULE_NAME, Some(options))
    }

    fn base() -> Module {
        let metrics = Provider::try_factory(|options: Arc<MonitoringOptions>| {
            let metrics = Metrics::with_buckets(options.buckets.clone())?;
            if options.process_metrics {
                metrics.register(Box::new(ProcessCollector::new()?))?;
            }
            Ok::<_, crate::MetricsError>(metrics)
        });
        let http = Provider::try_factory(
            |(metrics, options): (Arc<Metrics>, Arc<MonitoringOptions>)| {
                let layer = if options.http_metrics {
                    Some(HttpMetricsLayer::new(&metrics)?)
                } else {
                    None
                };
                Ok::<_, crate::MetricsError>(HttpMetricsContribution { layer })
            },
        )
        .contribute::<HttpLayers, _>(|this: &Arc<HttpMetricsContribution>| {
            match this.layer.clone() {
                Some(layer) => HttpLayer::new(move |router| router.layer(layer.clone())),
                None => HttpLayer::new(|router| router),
            }
        });
        // Scrapes get no trace spans.
        let untraced = Provider::factory(|options: Arc<MonitoringOptions>| {
            ScrapePaths(vec![
                options.metrics_path.clone(),
                options.json_prefix.clone(),
            ])
        })
        .contribute::<framework::telemetry::UntracedPaths, _>(
            |this: &Arc<ScrapePaths>| this.0.clone(),
        );
        Module::new(MODULE_NAME)
            .global()
            .provider(metrics)
            .provider(http)
            .provider(untraced)
            .routes(
                |(metrics, options): (Arc<Metrics>, Arc<MonitoringOptions>)| {
                    routes::router(metrics, &options)
                },
            )
            .export::<Metrics>()
            .export::<MonitoringOptions>()
    }
}

/// The paths the module serves, left out of traces.
struct ScrapePaths(Vec<String>);

/// The HTTP metrics layer the module contributes (`None` with `http_metrics = false`).
struct HttpMetricsContribution {
    layer: Option<HttpMetricsLayer>,
}
