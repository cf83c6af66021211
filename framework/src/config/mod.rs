//! Configuration per environment: layered files and environment variables, typed sections
//! validated all at once before anything starts.
//!
//! Layers, later wins: `config/default.toml` → `config/{APP_ENV}.toml` → `config/local.toml`
//! (git-ignored) → environment variables `APP__SECTION__KEY` (double underscores).

mod builtin;
mod environment;
mod secret;
mod section;

use std::collections::HashMap;
use std::path::PathBuf;

pub(crate) use builtin::ModuleToggles;
pub use builtin::{LogConfig, LogFormat, ServerConfig, TrustedProxy};
pub use environment::{Environment, UnknownEnvironment};
pub use secret::Secret;
pub use section::{Config, ConfigSection, SectionProblems};
pub(crate) use section::{SectionDef, parse_section};

use crate::error::Error;

/// Where configuration comes from. [`App`](crate::App) reads files and the process
/// environment; [`TestingModule`](crate::TestingModule) uses inline TOML and explicit variables.
#[derive(Debug, Clone)]
pub struct ConfigSources {
    pub(crate) dir: Option<PathBuf>,
    pub(crate) inline: Vec<String>,
    /// `None`: the process environment; `Some`: exactly these variables.
    pub(crate) vars: Option<HashMap<String, String>>,
}

impl ConfigSources {
    /// Files under `dir` and the process environment.
    pub fn files(dir: impl Into<PathBuf>) -> Self {
        Self {
            dir: Some(dir.into()),
            inline: Vec::new(),
            vars: None,
        }
    }

    /// No files, no process environment: only what is added inline.
    pub fn inline() -> Self {
        Self {
            dir: None,
            inline: Vec::new(),
            vars: Some(HashMap::new()),
        }
    }

    /// Adds a TOML document, layered after the files.
    pub fn toml(mut self, toml: impl Into<String>) -> Self {
        self.inline.push(toml.into());
        self
    }

    /// Adds an `APP__…` variable (switches off reading the process environment).
    pub fn var(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.vars
            .get_or_insert_with(HashMap::new)
            .insert(name.into(), value.into());
        self
    }

    /// The value of an environment variable: from the explicit map when one was given,
    /// otherwise from the process environment. Empty values count as unset.
    fn var_value(&self, name: &str) -> Option<String> {
        let value = match &self.vars {
            Some(map) => map.get(name).cloned(),
            None => std::env::var(name).ok(),
        };
        value.filter(|v| !v.trim().is_empty())
    }

    /// Reads and merges every layer. `aliases` map foreign variables (`INNGEST_DEV`) to
    /// config keys; they sit below every file and `APP__` variable.
    pub(crate) fn load(
        &self,
        env: Environment,
        aliases: &[(&'static str, &'static str)],
    ) -> Result<config::Config, Error> {
        use config::{File, FileFormat};
        let mut builder = config::Config::builder();
        for (var, path) in aliases {
            if let Some(value) = self.var_value(var) {
                builder = builder
                    .set_default(*path, value)
                    .map_err(|e| Error::ConfigLoad(format!("{var} → {path}: {e}")))?;
            }
        }
        if let Some(dir) = &self.dir {
            for name in ["default", env.as_str(), "local"] {
                let path = dir.join(format!("{name}.toml"));
                builder =
                    builder.add_source(File::from(path).format(FileFormat::Toml).required(false));
            }
        }
        for doc in &self.inline {
            builder = builder.add_source(File::from_str(doc, FileFormat::Toml));
        }
        let mut vars = config::Environment::with_prefix("APP")
            .prefix_separator("__")
            .separator("__")
            .try_parsing(true);
        if let Some(map) = &self.vars {
            vars = vars.source(Some(map.clone()));
        }
        builder
            .add_source(vars)
            .build()
            .map_err(|e| Error::ConfigLoad(e.to_string()))
    }
}

/// Looks up a dotted path in the merged configuration.
pub(crate) fn value_at(root: &config::Config, path: &str) -> Option<config::Value> {
    root.get::<config::Value>(path).ok()
}
