//! The deployment environment, from `APP_ENV`.

use std::fmt;
use std::str::FromStr;

/// Where the application runs. Read from `APP_ENV`; `development` when unset.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Environment {
    /// A developer's machine (the default).
    #[default]
    Development,
    /// Automated tests.
    Test,
    /// A pre-production deployment: held to production rules.
    Staging,
    /// Production.
    Production,
}

impl Environment {
    /// Every environment, in the order they are documented.
    pub const ALL: [Environment; 4] = [
        Environment::Development,
        Environment::Test,
        Environment::Staging,
        Environment::Production,
    ];

    /// The lowercase name, also the name of its config file (`config/<name>.toml`).
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Staging => "staging",
            Environment::Production => "production",
        }
    }

    /// `true` for staging and production, where secrets are required and dev shortcuts refused.
    pub fn is_production_like(self) -> bool {
        matches!(self, Environment::Staging | Environment::Production)
    }

    /// Reads `APP_ENV` (development when unset or empty).
    pub fn from_process_env() -> Result<Self, UnknownEnvironment> {
        match std::env::var("APP_ENV") {
            Ok(value) if !value.trim().is_empty() => value.parse(),
            _ => Ok(Environment::Development),
        }
    }
}

impl fmt::Display for Environment {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `APP_ENV` named no known environment.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("APP_ENV=\"{0}\" is not an environment: use development, test, staging or production")]
pub struct UnknownEnvironment(pub String);

impl FromStr for Environment {
    type Err = UnknownEnvironment;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let lower = s.trim().to_ascii_lowercase();
        Environment::ALL
            .into_iter()
            .find(|env| env.as_str() == lower)
            .ok_or_else(|| UnknownEnvironment(s.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_environment_case_insensitively() {
        for env in Environment::ALL {
            assert_eq!(env.as_str().to_uppercase().parse::<Environment>(), Ok(env));
        }
    }

    #[test]
    fn unknown_environment_names_the_choices() {
        let err = "prod".parse::<Environment>().unwrap_err();
        assert_eq!(
            err.to_string(),
            "APP_ENV=\"prod\" is not an environment: use development, test, staging or production"
        );
    }
}
