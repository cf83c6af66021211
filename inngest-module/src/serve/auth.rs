//! Who may call the serve handler: request signatures (cloud mode), the bare `401` every
//! refused request gets, and introspection, which says more only to a signed request.
//!
//! As in inngest-js, a refused request learns nothing: the body is `{"message":
//! "Unauthorized"}` with no SDK headers; the reason is logged for the operator.

use axum::http::{HeaderMap, StatusCode};

use super::{Reply, now_secs};
use crate::protocol::introspection::{Authenticated, Introspection};
use crate::protocol::{self, Capabilities, headers};
use crate::registry::Registry;
use crate::signature::{self, SignatureError, key_hash_without_prefix, sha256_hex};

/// Characters of a signing key's hash that signed introspection shows (as inngest-js): enough
/// to tell keys apart, not enough to use one.
const KEY_HASH_PREFIX: usize = 12;

/// Whether requests must be signed: cloud mode with verification on, unless the app runs
/// on the embedded executor without a signing key.
pub(super) fn signatures_required(registry: &Registry) -> bool {
    let options = &registry.options;
    let embedded_unsigned = registry.executor_kind() == crate::options::ExecutorKind::Embedded
        && options.signing_key.is_none();
    !(options.is_dev() || !options.verify_signatures || embedded_unsigned)
}

/// Verification outcome: `Ok(Some(key))` verified with `key`, `Ok(None)` not required.
pub(super) fn authenticate(
    registry: &Registry,
    request_headers: &HeaderMap,
    body: &[u8],
) -> Result<Option<String>, SignatureError> {
    if !signatures_required(registry) {
        return Ok(None);
    }
    let header = request_headers
        .get(headers::SIGNATURE)
        .and_then(|v| v.to_str().ok());
    let keys = registry.options.signing_keys();
    let index = signature::verify(header, body, &keys, now_secs())?;
    Ok(keys.get(index).map(|key| key.to_string()))
}

/// The reply to a request whose signature is missing or wrong: a bare `401`; the reason
/// goes to the log only.
pub(super) fn unauthorized(error: &SignatureError) -> Reply {
    tracing::warn!(reason = %error, "refused a request to the serve path: its signature is missing or wrong");
    Reply::bare_unauthorized()
}

/// `GET`: the unauthenticated view in dev mode; in cloud mode only to a signed request
/// (with its keys' hash prefixes), `401` otherwise.
pub(super) fn introspect(
    registry: &Registry,
    request_headers: &HeaderMap,
    body: &[u8],
) -> (Reply, Option<String>) {
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
        return (Reply::typed(StatusCode::OK, &value), None);
    }
    let key = match authenticate(registry, request_headers, body) {
        Ok(key) => key,
        Err(error) => return (unauthorized(&error), None),
    };
    let hash = |key: &Option<framework::Secret>| {
        key.as_ref().map(|k| {
            let mut hash = key_hash_without_prefix(k.expose());
            hash.truncate(KEY_HASH_PREFIX);
            hash
        })
    };
    value.authentication_succeeded = Some(true);
    value.authenticated = Some(Authenticated {
        api_origin: Some(crate::redact::url(&options.api_origin())),
        app_id: options.app_id.clone(),
        env: options.environment.clone(),
        event_api_origin: Some(crate::redact::url(&options.event_api_origin())),
        event_key_hash: options.event_key.as_ref().map(|k| sha256_hex(k.expose())),
        framework: Some(protocol::FRAMEWORK.into()),
        sdk_language: Some(protocol::SDK_LANGUAGE.into()),
        sdk_version: Some(protocol::SDK_VERSION.into()),
        serve_origin: options
            .serve_origin
            .as_ref()
            .map(|u| crate::redact::url(u).trim_end_matches('/').to_string()),
        serve_path: Some(options.serve_path.clone()),
        signing_key_fallback_hash: hash(&options.signing_key_fallback),
        signing_key_hash: hash(&options.signing_key),
    });
    (Reply::typed(StatusCode::OK, &value), key)
}
