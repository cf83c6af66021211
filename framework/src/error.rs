//! Error types. Start-up problems are collected into one [`Report`] so that every
//! problem is shown at once.

use std::fmt;
use std::time::Duration;

use crate::key::ProviderKey;

/// A boxed error from user code (factories, hooks).
pub type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The framework's result type; `main` can return it (its `Debug` output is the readable report).
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can stop an application from starting or running.
///
/// `Debug` prints the same readable text as `Display`, so `fn main() -> framework::Result<()>`
/// shows the full report when start-up fails.
#[derive(thiserror::Error)]
pub enum Error {
    /// Configuration or module-graph problems, all of them, found before anything was built.
    #[error("{0}")]
    Invalid(Report),
    /// A configuration source could not be read or parsed.
    #[error("configuration could not be loaded: {0}")]
    ConfigLoad(String),
    /// A provider's factory failed while the container was built.
    #[error("module `{module}`: building provider `{key}` failed: {source}")]
    Build {
        /// The module that declares the provider.
        module: String,
        /// The provider.
        key: ProviderKey,
        /// The factory's error.
        #[source]
        source: BoxError,
    },
    /// A lifecycle hook failed (at start-up this aborts the start).
    #[error("module `{module}`: {phase} hook of `{provider}` failed: {source}")]
    Hook {
        /// The module that declares the provider.
        module: String,
        /// The lifecycle phase.
        phase: crate::phase::Phase,
        /// The provider whose hook failed.
        provider: String,
        /// The hook's error.
        #[source]
        source: BoxError,
    },
    /// A lifecycle hook did not finish within its timeout.
    #[error("module `{module}`: {phase} hook of `{provider}` did not finish within {timeout:?}")]
    HookTimeout {
        /// The module that declares the provider.
        module: String,
        /// The lifecycle phase.
        phase: crate::phase::Phase,
        /// The provider whose hook timed out.
        provider: String,
        /// The configured timeout.
        timeout: Duration,
    },
    /// Two modules' routes overlap.
    #[error("module `{module}`: its routes cannot be merged with the others: {message}")]
    Routes {
        /// The module whose routes were being added.
        module: String,
        /// axum's explanation (usually an overlapping path).
        message: String,
    },
    /// A module's route builder panicked (axum rejects a path such as `/:id`, or two
    /// routes of the module overlap), typically because of a path taken from config.
    #[error("module `{module}`: its routes cannot be built: {message}")]
    RouteBuild {
        /// The module whose routes were being built.
        module: String,
        /// axum's explanation.
        message: String,
    },
    /// The HTTP listener could not be bound.
    #[error("cannot listen on {addr}: {source} (check `server.host` / `server.port`)")]
    Bind {
        /// The address from `server.host` and `server.port`.
        addr: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP server failed while serving.
    #[error("HTTP server error: {0}")]
    Serve(#[source] std::io::Error),
    /// Resolving a provider at run time failed.
    #[error(transparent)]
    Resolve(#[from] ResolveError),
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// A failure to resolve a provider from a built container.
#[derive(Debug, thiserror::Error)]
pub enum ResolveError {
    /// No enabled module provides this key.
    #[error("no provider for `{key}` is registered by an enabled module")]
    NotRegistered {
        /// The key asked for.
        key: ProviderKey,
    },
    /// The key is registered but was not built in this context.
    #[error("`{key}` is not available here (it has not been built in this scope)")]
    NotBuilt {
        /// The key asked for.
        key: ProviderKey,
    },
    /// A request-scoped provider was asked for outside a request.
    #[error(
        "`{key}` is request-scoped and can only be resolved inside an HTTP request (use the `Inject<T>` extractor)"
    )]
    OutsideRequest {
        /// The key asked for.
        key: ProviderKey,
    },
    /// Discovery was used before the container was built.
    #[error(
        "discovery is not available yet: the container is still being built; call `discover` from `on_module_init` or later, not from a factory"
    )]
    DiscoveryNotReady,
    /// A transient or request-scoped factory failed.
    #[error("building `{key}` failed: {source}")]
    Factory {
        /// The key asked for.
        key: ProviderKey,
        /// The factory's error.
        #[source]
        source: BoxError,
    },
}

/// One problem found before start-up. Every problem carries the module, the type and the fix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum Problem {
    /// A configuration value is missing, malformed, unknown or invalid.
    Config {
        /// Dotted path, e.g. `server.port`.
        path: String,
        /// What is wrong and how to fix it.
        message: String,
    },
    /// A module-graph problem (missing provider, cycle, visibility, duplicate, scope).
    Graph {
        /// The module the problem is in.
        module: String,
        /// What is wrong and how to fix it.
        message: String,
    },
}

impl Problem {
    /// A configuration problem at `path`.
    pub fn config(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Config {
            path: path.into(),
            message: message.into(),
        }
    }

    pub(crate) fn graph(module: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Graph {
            module: module.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Problem::Config { path, message } => write!(f, "{path}: {message}"),
            Problem::Graph { module: _, message } => f.write_str(message),
        }
    }
}

/// Every problem found before start-up, sorted: configuration problems by path, then
/// module-graph problems by module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    problems: Vec<Problem>,
}

impl Report {
    /// Builds a sorted, de-duplicated report.
    pub fn new(mut problems: Vec<Problem>) -> Self {
        problems.sort();
        problems.dedup();
        Self { problems }
    }

    /// The problems, sorted.
    pub fn problems(&self) -> &[Problem] {
        &self.problems
    }

    /// `true` when there is nothing to report.
    pub fn is_empty(&self) -> bool {
        self.problems.is_empty()
    }

    /// Each problem's text, in order (handy in tests).
    pub fn messages(&self) -> Vec<String> {
        self.problems.iter().map(ToString::to_string).collect()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        writeln!(
            f,
            "the application cannot start: {n} problem{} found",
            if n == 1 { "" } else { "s" }
        )?;
        for problem in &self.problems {
            writeln!(f, "  - {problem}")?;
        }
        Ok(())
    }
}
