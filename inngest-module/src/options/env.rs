//! The `INNGEST_*` variables as fallbacks for options given in code.

use framework::Secret;
use serde::Deserialize;
use url::Url;

use super::{DevMode, InngestOptions};

impl InngestOptions {
    /// Fills every unset option from the `INNGEST_*` variables (explicit values win), the way
    /// [`InngestModule::for_root`](crate::InngestModule::for_root) does.
    pub fn with_env_fallbacks(mut self) -> Result<Self, EnvFallbackError> {
        let var = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let url = |name: &'static str| -> Result<Option<Url>, EnvFallbackError> {
            var(name)
                .map(|value| {
                    Url::parse(&value).map_err(|source| EnvFallbackError::NotAUrl {
                        variable: name,
                        value,
                        source,
                    })
                })
                .transpose()
        };
        self.event_key = self
            .event_key
            .or_else(|| var("INNGEST_EVENT_KEY").map(Secret::new));
        self.signing_key = self
            .signing_key
            .or_else(|| var("INNGEST_SIGNING_KEY").map(Secret::new));
        self.signing_key_fallback = self
            .signing_key_fallback
            .or_else(|| var("INNGEST_SIGNING_KEY_FALLBACK").map(Secret::new));
        self.environment = self.environment.or_else(|| var("INNGEST_ENV"));
        if self.dev == DevMode::Off
            && let Some(value) = var("INNGEST_DEV")
        {
            self.dev = DevMode::deserialize(serde::de::value::StrDeserializer::<
                serde::de::value::Error,
            >::new(&value))
            .map_err(|source| EnvFallbackError::Dev { source })?;
        }
        if self.base_url.is_none() {
            self.base_url = url("INNGEST_BASE_URL")?;
        }
        if self.api_base_url.is_none() {
            self.api_base_url = url("INNGEST_API_BASE_URL")?;
        }
        if self.event_api_base_url.is_none() {
            self.event_api_base_url = url("INNGEST_EVENT_API_BASE_URL")?;
        }
        if self.serve_origin.is_none() {
            self.serve_origin = url("INNGEST_SERVE_ORIGIN")?;
        }
        if let Some(path) = var("INNGEST_SERVE_PATH")
            && self.serve_path == "/api/inngest"
        {
            self.serve_path = path;
        }
        if self.serve_host.is_none() {
            self.serve_host = var("INNGEST_SERVE_HOST");
        }
        if self.serve_port.is_none()
            && let Some(port) = var("INNGEST_SERVE_PORT")
        {
            self.serve_port = Some(
                port.parse()
                    .map_err(|_| EnvFallbackError::NotAPort { value: port })?,
            );
        }
        Ok(self)
    }
}

/// An `INNGEST_*` variable that [`InngestOptions::with_env_fallbacks`] cannot use.
#[derive(Debug, thiserror::Error)]
pub enum EnvFallbackError {
    /// A URL variable (`INNGEST_BASE_URL`, `INNGEST_SERVE_ORIGIN`, …) is not a URL.
    #[error("{variable}=`{value}` is not a URL: {source}")]
    NotAUrl {
        /// The variable.
        variable: &'static str,
        /// Its value.
        value: String,
        /// Why it is not a URL.
        #[source]
        source: url::ParseError,
    },
    /// `INNGEST_DEV` is neither a boolean nor a URL.
    #[error("INNGEST_DEV: {source}")]
    Dev {
        /// Why it was refused.
        #[source]
        source: serde::de::value::Error,
    },
    /// `INNGEST_SERVE_PORT` is not a port number.
    #[error("INNGEST_SERVE_PORT: `{value}` is not a port number (1-65535)")]
    NotAPort {
        /// Its value.
        value: String,
    },
}
