//! What is wrong with a set of [`InngestOptions`] in an environment, each problem naming
//! its key and the fix.

use std::time::Duration;

use framework::{Environment, Secret};

use super::{ExecutorKind, InngestOptions};
use crate::signature::is_well_formed_key;

impl InngestOptions {
    /// Every problem with these options in `env`, as `(field, message)` pairs.
    pub fn problems(&self, env: Environment) -> Vec<(&'static str, String)> {
        let mut problems = Vec::new();
        if self.health.enabled && cfg!(not(feature = "health")) {
            problems.push((
                "health.enabled",
                "this build has no health module: turn on the feature `health` of `inngest-module` (on by default), or set it to false".to_string(),
            ));
        }
        if self.monitoring.enabled && cfg!(not(feature = "monitoring")) {
            problems.push((
                "monitoring.enabled",
                "this build has no monitoring module: turn on the feature `monitoring` of `inngest-module` (on by default), or set it to false".to_string(),
            ));
        }
        // The HTTP client is built on first use; a wrong private-CA file is reported now.
        #[cfg(feature = "tls")]
        if let Err(error) = crate::protocol::client::cert_file_roots() {
            problems.push(("tls", error.to_string()));
        }
        if self.app_id.trim().is_empty() {
            problems.push((
                "app_id",
                "is required: set it to your app's id, e.g. app_id = \"shop\"".to_string(),
            ));
        } else if !is_slug(&self.app_id) {
            problems.push((
                "app_id",
                format!("`{}` is not a slug: use lowercase letters, digits and single hyphens, e.g. \"shop-api\"", self.app_id),
            ));
        }
        if let Some(host) = &self.serve_host
            && (host.is_empty()
                || url::Host::parse(host).is_err()
                || host.contains(['/', ':', '@']))
        {
            problems.push((
                "serve_host",
                format!("`{host}` is not a host name: give only the host, e.g. \"shop.example.com\" (use serve_origin for a scheme or port)"),
            ));
        }
        if self.serve_port == Some(0) {
            problems.push(("serve_port", "must be between 1 and 65535".to_string()));
        }
        if !self.serve_path.starts_with('/') {
            problems.push((
                "serve_path",
                format!(
                    "`{}` must start with `/`, e.g. \"/api/inngest\"",
                    self.serve_path
                ),
            ));
        }
        for (field, key) in [
            ("signing_key", &self.signing_key),
            ("signing_key_fallback", &self.signing_key_fallback),
        ] {
            if let Some(key) = key
                && !is_well_formed_key(key.expose())
            {
                problems.push((field, "is not a signing key: expected `signkey-<env>-<hex>` as shown in the Inngest dashboard (value not shown)".to_string()));
            }
        }
        if self.signing_key_fallback.is_some() && self.signing_key.is_none() {
            problems.push((
                "signing_key_fallback",
                "is set without signing_key: set INNGEST_SIGNING_KEY too".to_string(),
            ));
        }
        if self.event_key.as_ref().is_some_and(Secret::is_blank) {
            problems.push((
                "event_key",
                "is empty: remove it or set INNGEST_EVENT_KEY".to_string(),
            ));
        }
        if self.request_timeout.is_zero() {
            problems.push((
                "request_timeout",
                "must be more than 0, e.g. \"10s\"".to_string(),
            ));
        }
        if !self.embedded.prefix.starts_with('/') || self.embedded.prefix.ends_with('/') {
            problems.push((
                "embedded.prefix",
                format!(
                    "`{}` must start with `/` and not end with one, e.g. \"/_inngest\"",
                    self.embedded.prefix
                ),
            ));
        }
        if self.embedded.request_timeout.is_zero() {
            problems.push((
                "embedded.request_timeout",
                "must be more than 0, e.g. \"5m\"".to_string(),
            ));
        }
        if !self.embedded.retention.is_zero() && self.embedded.retention < Duration::from_secs(60) {
            problems.push((
                "embedded.retention",
                "must be at least 1m (or \"0s\" to keep everything)".to_string(),
            ));
        }
        #[cfg(not(feature = "embedded"))]
        if self.executor_choice(env).0 == ExecutorKind::Embedded {
            problems.push((
                "executor",
                format!("the embedded executor is chosen ({}), but inngest-module was built without its `embedded` feature: enable the feature, or configure an Inngest server (INNGEST_DEV=1, INNGEST_BASE_URL)", self.executor_choice(env).1),
            ));
        }
        if self.embedded.retry_backoff > self.embedded.retry_max_backoff {
            problems.push((
                "embedded.retry_backoff",
                "must not exceed embedded.retry_max_backoff".to_string(),
            ));
        }
        if self.send.initial_backoff > self.send.max_backoff {
            problems.push((
                "send.initial_backoff",
                "must not exceed send.max_backoff".to_string(),
            ));
        }
        if env.is_production_like() {
            if self.signing_key.is_none() {
                problems.push((
                    "signing_key",
                    format!("is required in {env}: set INNGEST_SIGNING_KEY"),
                ));
            }
            if self.event_key.is_none() {
                problems.push((
                    "event_key",
                    format!("is required in {env}: set INNGEST_EVENT_KEY"),
                ));
            }
            if self.is_dev() {
                problems.push((
                    "dev",
                    format!("dev mode is not allowed in {env}: unset INNGEST_DEV or set it to 0"),
                ));
            }
            if !self.verify_signatures {
                problems.push((
                    "verify_signatures",
                    format!("cannot be turned off in {env}"),
                ));
            }
            if self.executor_choice(env).0 == ExecutorKind::Remote && self.serve_origin.is_none() {
                problems.push((
                    "serve_origin",
                    format!("is required in {env}: set INNGEST_SERVE_ORIGIN to the public URL the Inngest server calls, e.g. https://shop.example.com (in {env} the URL registered is never taken from a request's Host header)"),
                ));
            }
            if self.executor == Some(ExecutorKind::Embedded) && self.embedded.database.is_none() {
                problems.push((
                    "embedded.database",
                    format!("is required for the embedded executor in {env}: runs must survive a restart, e.g. database = \"/var/lib/app/inngest.sqlite3\""),
                ));
            }
        } else if self.executor_choice(env).0 == ExecutorKind::Remote
            && !self.is_dev()
            && self.verify_signatures
            && self.signing_key.is_none()
        {
            problems.push((
                "signing_key",
                format!("is required in cloud mode: set INNGEST_SIGNING_KEY, or INNGEST_DEV=1 to use the dev server in {env}"),
            ));
        }
        problems
    }
}

/// `true` for `a-z0-9` words joined by single hyphens.
pub fn is_slug(text: &str) -> bool {
    !text.is_empty()
        && text.split('-').all(|part| {
            !part.is_empty()
                && part
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        })
}
