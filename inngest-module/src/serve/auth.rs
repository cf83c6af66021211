//! Who may call the serve handler: request signatures (cloud mode).
//!
//! As in inngest-js, a refused request learns nothing: the body is `{"message":
//! "Unauthorized"}` with no SDK headers ([`ServeError::Unauthorized`]); the reason is
//! logged for the operator.

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use axum::http::HeaderMap;

use super::error::ServeError;
use super::reply::now_secs;
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
        .get(super::names::SIGNATURE)
        .and_then(|v| v.to_str().ok());
    let keys = registry.options.signing_keys();
    let index =
        signature::verify(header, body, &keys, now_secs()).map_err(ServeError::Unauthorized)?;
    Ok(keys.get(index).map(|key| key.to_string()))
}

/// Seconds between two warnings about refused signatures.
const WARN_EVERY_SECS: i64 = 10;

/// When a refusal was last logged (unix seconds), and how many were not logged since.
static LAST_WARNING: AtomicI64 = AtomicI64::new(i64::MIN);
static SUPPRESSED: AtomicU64 = AtomicU64::new(0);

/// Reports a request refused for its signature: counted by the hooks (the
/// `inngest_signature_rejections_total{reason}` metric) and logged at WARN, at most once
/// every ten seconds with the count of those not logged — a replica with a wrong key is
/// seen, and a flood of forged requests does not flood the log.
pub(super) fn report_refusal(registry: &Registry, error: &signature::SignatureError) {
    let reason = error.reason();
    registry
        .hooks()
        .each(|hook| hook.on_request_refused(reason));
    let now = now_secs();
    let last = LAST_WARNING.load(Ordering::Relaxed);
    if now.saturating_sub(last) < WARN_EVERY_SECS
        || LAST_WARNING
            .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
            .is_err()
    {
        SUPPRESSED.fetch_add(1, Ordering::Relaxed);
        return;
    }
    let suppressed = SUPPRESSED.swap(0, Ordering::Relaxed);
    tracing::warn!(
        reason,
        %error,
        refused_without_a_log_line = suppressed,
        "refused a request to the serve path: its signature is missing or wrong (check INNGEST_SIGNING_KEY against the server's key)"
    );
}
