//! [`HealthError`]: what can go wrong when indicators are collected or looked up.

use framework::ResolveError;

/// A health-module error.
#[derive(Debug, thiserror::Error)]
pub enum HealthError {
    /// Two indicators share a name (a start-up error).
    #[error(
        "two health indicators are named `{name}`: `{first_provider}` in module `{first_module}` and `{second_provider}` in module `{second_module}`: give each a unique name"
    )]
    DuplicateName {
        /// The shared name.
        name: String,
        /// The module of the first indicator.
        first_module: String,
        /// The provider of the first indicator.
        first_provider: String,
        /// The module of the second indicator.
        second_module: String,
        /// The provider of the second indicator.
        second_provider: String,
    },
    /// An indicator's name cannot be served as `/health/{name}` (a start-up error).
    #[error(
        "health indicator `{provider}` in module `{module}` has the name {name:?}, which {reason}: rename it"
    )]
    InvalidName {
        /// The rejected name.
        name: String,
        /// The module of the indicator.
        module: String,
        /// The provider of the indicator.
        provider: String,
        /// Why the name is rejected.
        reason: &'static str,
    },
    /// No indicator has this name.
    #[error("no health indicator is named `{name}` (known: {})", known.join(", "))]
    UnknownIndicator {
        /// The name asked for.
        name: String,
        /// Every indicator's name, sorted.
        known: Vec<String>,
    },
    /// Discovery was not available (called before the container was built).
    #[error(transparent)]
    Discovery(#[from] ResolveError),
}
