//! Request signatures and signing-key hashes.
//!
//! - A request is signed `X-Inngest-Signature: t=<unix s>&s=<hex>` with
//!   `HMAC-SHA256(key = ASCII of the key without its "signkey-<env>-" prefix, msg = body ++ t)`,
//!   over the body's JCS (RFC 8785) form.
//! - The bearer token for API calls is `prefix + hex(SHA-256(hex-decoded key))`.

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

use crate::step_id::lower_hex;

type HmacSha256 = Hmac<Sha256>;

/// How far a signature's timestamp may be from now, either way.
pub const SIGNATURE_WINDOW_SECS: i64 = 5 * 60;

/// Why a signature was rejected. None of the variants carries key material.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// No `X-Inngest-Signature` header.
    #[error(
        "the request has no X-Inngest-Signature header; outside dev mode every request must be signed"
    )]
    Missing,
    /// The header is not `t=<unix seconds>&s=<hex>`.
    #[error("the X-Inngest-Signature header is malformed; expected `t=<unix seconds>&s=<hex>`")]
    Malformed,
    /// The timestamp is more than five minutes from now.
    #[error(
        "the signature timestamp is more than 5 minutes from now; the request is stale or the clocks disagree"
    )]
    Expired,
    /// No configured key produced this signature.
    #[error("the signature does not match the signing key (or its fallback)")]
    Mismatch,
    /// No signing key is configured, so nothing can be verified.
    #[error("no signing key is configured; set INNGEST_SIGNING_KEY (or inngest.signing_key)")]
    NoKey,
}

impl SignatureError {
    /// Every reason, as [`SignatureError::reason`] names them.
    pub const REASONS: [&'static str; 5] =
        ["missing", "malformed", "expired", "mismatch", "no_key"];

    /// A short, stable name for the reason (a metric label): `missing`, `malformed`,
    /// `expired`, `mismatch` or `no_key`.
    pub fn reason(&self) -> &'static str {
        match self {
            SignatureError::Missing => "missing",
            SignatureError::Malformed => "malformed",
            SignatureError::Expired => "expired",
            SignatureError::Mismatch => "mismatch",
            SignatureError::NoKey => "no_key",
        }
    }
}

/// The length of the `signkey-<env>-` prefix of `key` (0 when it has none): `signkey-`, a
/// word of ASCII letters, digits or `_`, then `-`.
fn prefix_len(key: &str) -> usize {
    let Some(rest) = key.strip_prefix("signkey-") else {
        return 0;
    };
    let env = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if env > 0 && rest.as_bytes().get(env) == Some(&b'-') {
        "signkey-".len() + env + 1
    } else {
        0
    }
}

/// `true` when `key` has the `signkey-<env>-<hex>` shape.
///
/// ```
/// use inngest_protocol::signature::is_well_formed_key;
/// assert!(is_well_formed_key("signkey-prod-0a1b"));
/// assert!(!is_well_formed_key("signkey-prod-xyz"));
/// ```
pub fn is_well_formed_key(key: &str) -> bool {
    let prefix = prefix_len(key);
    let hex = &key[prefix..];
    prefix > 0 && !hex.is_empty() && hex.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The key without its `signkey-<env>-` prefix.
pub fn strip_prefix(key: &str) -> &str {
    &key[prefix_len(key)..]
}

fn prefix(key: &str) -> &str {
    &key[..prefix_len(key)]
}

/// The bearer token for API calls: the prefix plus the hex SHA-256 of the hex-decoded key
/// (of the raw bytes when the key is not hex).
///
/// ```
/// let key = "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";
/// assert_eq!(
///     inngest_protocol::signature::hashed_key(key),
///     "signkey-test-e4bf4a2e7f55c7eb954b6e72f8f69628fbc409fe7da6d0f6958770987dcf0e02"
/// );
/// ```
pub fn hashed_key(key: &str) -> String {
    let stripped = strip_prefix(key);
    let digest = match hex::decode(stripped) {
        Ok(bytes) => Sha256::digest(&bytes),
        Err(_) => Sha256::digest(stripped.as_bytes()),
    };
    format!("{}{}", prefix(key), lower_hex(&digest))
}

/// The hex SHA-256 of the key without its prefix (introspection's `signing_key_hash`).
pub fn key_hash_without_prefix(key: &str) -> String {
    strip_prefix(&hashed_key(key)).to_string()
}

/// The hex SHA-256 of a string (introspection's `event_key_hash`).
pub fn sha256_hex(text: &str) -> String {
    lower_hex(&Sha256::digest(text.as_bytes()))
}

fn mac(key: &str, body: &[u8], timestamp: &str) -> HmacSha256 {
    // Provably safe: HMAC takes keys of every length (longer ones are hashed first).
    #[allow(clippy::expect_used)]
    let mut mac = HmacSha256::new_from_slice(strip_prefix(key).as_bytes())
        .expect("HMAC accepts keys of any length");
    mac.update(body);
    mac.update(timestamp.as_bytes());
    mac
}

/// The hex signature of `body` at `timestamp` (no canonicalization: used for responses).
pub fn sign(key: &str, body: &[u8], timestamp: i64) -> String {
    lower_hex(
        &mac(key, body, &timestamp.to_string())
            .finalize()
            .into_bytes(),
    )
}

/// The `X-Inngest-Signature` header value for `body` signed now.
pub fn signature_header(key: &str, body: &[u8], timestamp: i64) -> String {
    format!("t={timestamp}&s={}", sign(key, body, timestamp))
}

/// The JCS (RFC 8785) form of a JSON body; `None` when the body is not JSON.
pub fn canonicalize(body: &[u8]) -> Option<Vec<u8>> {
    let value: serde_json::Value = serde_json::from_slice(body).ok()?;
    serde_jcs::to_vec(&value).ok()
}

/// Verifies `header` over `body` against each key in turn (signing key, then fallback).
/// Returns the index of the key that matched. The comparison is constant-time.
pub fn verify(
    header: Option<&str>,
    body: &[u8],
    keys: &[&str],
    now: i64,
) -> Result<usize, SignatureError> {
    if keys.is_empty() {
        return Err(SignatureError::NoKey);
    }
    let header = header.ok_or(SignatureError::Missing)?;
    let mut timestamp = None;
    let mut signature = None;
    for pair in header.split('&') {
        match pair.split_once('=') {
            Some(("t", value)) => timestamp = Some(value),
            Some(("s", value)) => signature = Some(value),
            _ => {}
        }
    }
    let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
        return Err(SignatureError::Malformed);
    };
    let seconds: i64 = timestamp.parse().map_err(|_| SignatureError::Malformed)?;
    let expected = hex::decode(signature).map_err(|_| SignatureError::Malformed)?;
    // Checked: a timestamp near i64::MIN or MAX must not overflow the subtraction.
    let skew = now.checked_sub(seconds).map(i64::unsigned_abs);
    if skew.is_none_or(|skew| skew > SIGNATURE_WINDOW_SECS.unsigned_abs()) {
        return Err(SignatureError::Expired);
    }
    // The server signs canonical JSON, so the raw bytes usually match; the JCS form is
    // computed only when they do not.
    for (index, key) in keys.iter().enumerate() {
        if mac(key, body, timestamp).verify_slice(&expected).is_ok() {
            return Ok(index);
        }
    }
    if let Some(canonical) = canonicalize(body).filter(|c| c.as_slice() != body) {
        for (index, key) in keys.iter().enumerate() {
            if mac(key, &canonical, timestamp)
                .verify_slice(&expected)
                .is_ok()
            {
                return Ok(index);
            }
        }
    }
    Err(SignatureError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const KEY: &str =
        "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

    fn vector_body() -> Vec<u8> {
        let event = json!({"data":{},"id":"","name":"inngest/scheduled.timer","ts":1674082830001_i64,"user":{},"v":"1"});
        let body = json!({"ctx":{"fn_id":"local-testing-local-cron","run_id":"01GQ3HTEZ01M7R8Z9PR1DMHDN1","step_id":"step"},"event":event,"events":[event],"steps":{},"use_api":false});
        serde_jcs::to_vec(&body).unwrap()
    }

    #[test]
    fn protocol_test_vector() {
        assert_eq!(
            sign(KEY, &vector_body(), 1689920619),
            "31df77f5b1b029de4bfce3a77e0517aa4ce0f5e2195a6467fc126a489ca2330b"
        );
        let header =
            "t=1689920619&s=31df77f5b1b029de4bfce3a77e0517aa4ce0f5e2195a6467fc126a489ca2330b";
        assert_eq!(
            verify(Some(header), &vector_body(), &[KEY], 1689920619 + 10),
            Ok(0)
        );
    }

    #[test]
    fn a_reordered_body_still_verifies_through_jcs() {
        let header = signature_header(KEY, &vector_body(), 100);
        let reordered = br#"{"use_api":false,"steps":{},"events":[{"v":"1","user":{},"ts":1674082830001,"name":"inngest/scheduled.timer","id":"","data":{}}],"event":{"data":{},"id":"","name":"inngest/scheduled.timer","ts":1674082830001,"user":{},"v":"1"},"ctx":{"step_id":"step","run_id":"01GQ3HTEZ01M7R8Z9PR1DMHDN1","fn_id":"local-testing-local-cron"}}"#;
        assert_eq!(verify(Some(&header), reordered, &[KEY], 100), Ok(0));
    }

    #[test]
    fn fallback_key_expiry_and_tampering() {
        let other = "signkey-test-00aa";
        let header = signature_header(KEY, b"{}", 1000);
        assert_eq!(verify(Some(&header), b"{}", &[other, KEY], 1000), Ok(1));
        assert_eq!(
            verify(Some(&header), b"{}", &[other], 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), b"{\"a\":1}", &[KEY], 1000),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            verify(Some(&header), b"{}", &[KEY], 1000 + 301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(Some(&header), b"{}", &[KEY], 1000 - 301),
            Err(SignatureError::Expired)
        );
        assert_eq!(
            verify(None, b"{}", &[KEY], 1000),
            Err(SignatureError::Missing)
        );
        assert_eq!(
            verify(Some("s=abc"), b"{}", &[KEY], 1000),
            Err(SignatureError::Malformed)
        );
        assert_eq!(
            verify(Some(&header), b"{}", &[], 1000),
            Err(SignatureError::NoKey)
        );
        for extreme in [i64::MIN, i64::MAX] {
            let header = format!("t={extreme}&s=00");
            assert_eq!(
                verify(Some(&header), b"{}", &[KEY], 1000),
                Err(SignatureError::Expired)
            );
        }
    }

    #[test]
    fn key_shapes_and_hashes() {
        assert!(is_well_formed_key(KEY));
        assert!(!is_well_formed_key("signkey-test-xyz"));
        assert!(!is_well_formed_key("8ee2262a"));
        assert!(!is_well_formed_key("signkey--00"));
        assert!(!is_well_formed_key("signkey-test-"));
        assert_eq!(strip_prefix("plainkey"), "plainkey");
        assert_eq!(strip_prefix(KEY), &KEY["signkey-test-".len()..]);
        assert_eq!(
            hashed_key(KEY),
            "signkey-test-e4bf4a2e7f55c7eb954b6e72f8f69628fbc409fe7da6d0f6958770987dcf0e02"
        );
        assert_eq!(
            key_hash_without_prefix(KEY),
            "e4bf4a2e7f55c7eb954b6e72f8f69628fbc409fe7da6d0f6958770987dcf0e02"
        );
    }
}
