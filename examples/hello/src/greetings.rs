//! The `greetings` module: a config section and a service that uses the audit log.

use std::sync::Arc;

use framework::{Config, ConfigSection, Environment, Module, Secret, SectionProblems, injectable};
use serde::Deserialize;
use validator::Validate;

use crate::audit::{self, AuditLog};

/// `[greetings]` in `config/*.toml`, or `APP__GREETINGS__…` variables.
#[derive(Debug, Clone, Deserialize, Validate)]
pub struct GreetingsConfig {
    /// The word to greet with.
    #[validate(length(min = 1, max = 40))]
    pub greeting: String,
    /// A (pretend) key for an upstream translation API; required in staging and production.
    #[serde(default)]
    pub api_key: Option<Secret>,
}

impl ConfigSection for GreetingsConfig {
    fn check(&self, env: Environment, problems: &mut SectionProblems) {
        let missing = self.api_key.as_ref().is_none_or(Secret::is_blank);
        if env.is_production_like() && missing {
            problems.add(
                "api_key",
                format!("required in {env}: set APP__GREETINGS__API_KEY"),
            );
        }
    }
}

/// Builds greetings and records each in the audit log.
pub struct GreetingService {
    config: Config<GreetingsConfig>,
    audit: Arc<AuditLog>,
}

#[injectable]
impl GreetingService {
    fn new(config: Config<GreetingsConfig>, audit: Arc<AuditLog>) -> Self {
        Self { config, audit }
    }

    /// "Hello, ada!"
    pub fn greet(&self, name: &str) -> String {
        self.audit.record(format!("greeted {name}"));
        format!("{}, {name}!", self.config.greeting)
    }

    async fn on_module_init(&self) {
        tracing::info!(module = "greetings", hook = "on_module_init", "lifecycle");
    }
    async fn before_application_shutdown(&self) {
        tracing::info!(
            module = "greetings",
            hook = "before_application_shutdown",
            "lifecycle"
        );
    }
    async fn on_module_destroy(&self) {
        tracing::info!(
            module = "greetings",
            hook = "on_module_destroy",
            "lifecycle"
        );
    }
    async fn on_application_shutdown(&self) {
        tracing::info!(
            module = "greetings",
            hook = "on_application_shutdown",
            "lifecycle"
        );
    }
}

/// The module: imports `audit`, exports the service, reads `[greetings]`.
pub fn module() -> Module {
    Module::new("greetings")
        .import(audit::module())
        .config::<GreetingsConfig>("greetings")
        .provide::<GreetingService>()
        .export::<GreetingService>()
}
