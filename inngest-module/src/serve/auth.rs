//! Who may call the serve handler: request signatures (cloud mode).
//!
//! As in inngest-js, a refused request learns nothing: the body is `{"message":
//! "Unauthorized"}` with no SDK headers ([`ServeError::Unauthorized`]); the reason is
//! logged for the operator.

use axum::http::HeaderMap;

use super::error::ServeError;
use super::reply::now_secs;
use crate::protocol::headers;
use crate::registry::Registry;
use crate::signature;

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
) -> Result<Option<String>, ServeError> {
    if !signatures_required(registry) {
        return Ok(None);
    }
    let header = request_headers
        .get(headers::SIGNATURE)
        .and_then(|v| v.to_str().ok());
    let keys = registry.options.signing_keys();
    let index =
        signature::verify(header, body, &keys, now_secs()).map_err(ServeError::Unauthorized)?;
    Ok(keys.get(index).map(|key| key.to_string()))
}
