//! `GET` on the serve path: what the app is and how it is configured, saying more only to
//! a signed request.

use axum::http::HeaderMap;

use super::auth::{authenticate, signatures_required};
use super::error::ServeError;
use crate::protocol::introspection::{Authenticated, Introspection};
use crate::protocol::{self, Capabilities};
use crate::registry::Registry;
use crate::signature::{key_hash_without_prefix, sha256_hex};

/// Characters of a signing key's hash that signed introspection shows (as inngest-js): enough
/// to tell keys apart, not enough to use one.
const KEY_HASH_PREFIX: usize = 12;

/// `GET`: the unauthenticated view in dev mode; in cloud mode only to a signed request
/// (with its keys' hash prefixes), `401` otherwise.
pub(super) fn introspect(
    registry: &Registry,
    request_headers: &HeaderMap,
    body: &[u8],
) -> Result<(Introspection, Option<String>), ServeError> {
    let options = &registry.options;
    let embedded = registry.executor_kind() == crate::options::ExecutorKind::Embedded;
    // On the embedded executor, `mode` says whether requests must be signed, and `extra`
    // names the executor; against a server it is the SDK's mode, as inngest-js reports it.
    let dev = if embedded {
        !signatures_required(registry)
    } else {
        options.is_dev()
    };
    let mut value = Introspection {
        extra: embedded.then(|| {
            let mut extra = serde_json::Map::new();
            extra.insert("executor".into(), "embedded".into());
            extra
        }),
        has_event_key: options.event_key.is_some(),
        has_signing_key: options.signing_key.is_some(),
        has_signing_key_fallback: Some(options.signing_key_fallback.is_some()),
        function_count: registry.function_count(),
        mode: if dev { "dev" } else { "cloud" }.into(),
        schema_version: protocol::SCHEMA_VERSION.into(),
        capabilities: Some(Capabilities {
            trust_probe: Some("v1".into()),
            connect: Some("v1".into()),
            in_band_sync: Some("v1".into()),
        }),
        ..Introspection::default()
    };
    if !signatures_required(registry) {
        return Ok((value, None));
    }
    let key = authenticate(registry, request_headers, body)?;
    let hash = |key: &Option<framework::Secret>| {
        key.as_ref().map(|k| {
            let mut hash = key_hash_without_prefix(k.expose());
            hash.truncate(KEY_HASH_PREFIX);
            hash
        })
    };
    value.authentication_succeeded = Some(true);
    value.authenticated = Some(Authenticated {
        api_origin: Some(shown_origin(&options.api_origin())),
        app_id: options.app_id.clone(),
        env: options.environment.clone(),
        event_api_origin: Some(shown_origin(&options.event_api_origin())),
        event_key_hash: options.event_key.as_ref().map(|k| sha256_hex(k.expose())),
        framework: Some(protocol::FRAMEWORK.into()),
        sdk_language: Some(protocol::SDK_LANGUAGE.into()),
        sdk_version: Some(protocol::SDK_VERSION.into()),
        serve_origin: options.serve_origin.as_ref().map(shown_origin),
        serve_path: Some(options.serve_path.clone()),
        signing_key_fallback_hash: hash(&options.signing_key_fallback),
        signing_key_hash: hash(&options.signing_key),
    });
    Ok((value, key))
}

/// An origin as introspection shows it: redacted, without a trailing slash (as inngest-js
/// shows `http://127.0.0.1:8290`, recording 15).
fn shown_origin(url: &url::Url) -> String {
    crate::redact::url(url).trim_end_matches('/').to_string()
}
