//! What the HTTP routes share: the error response and id generation.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use inngest_module::SendError;
use serde_json::json;

/// Why a route failed.
#[derive(Debug)]
pub(crate) enum ApiError {
    /// The request is well-formed JSON but not acceptable (422).
    Invalid(String),
    /// The event could not be handed to Inngest (502): nothing was queued.
    Send(SendError),
}

impl From<SendError> for ApiError {
    fn from(error: SendError) -> Self {
        ApiError::Send(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Invalid(message) => (
                StatusCode::UNPROCESSABLE_ENTITY,
                Json(json!({ "error": message })),
            )
                .into_response(),
            ApiError::Send(error) => {
                tracing::error!(%error, "an event could not be sent to Inngest");
                (
                    StatusCode::BAD_GATEWAY,
                    Json(json!({ "error": format!("the event could not be queued: {error}") })),
                )
                    .into_response()
            }
        }
    }
}

/// A new id, `<prefix>-<ULID>`: the time in milliseconds and 80 random bits from the OS,
/// so ids are unique across processes and replicas (two replicas taking an order in the
/// same millisecond get different order ids, hence different event ids, and the server
/// deduplicates nothing it should not). Ids sort by creation time.
pub(crate) fn new_id(prefix: &str) -> String {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or_default();
    format!("{prefix}-{}", ulid::Ulid::from_parts(millis, random_bits()))
}

/// 128 random bits from the OS (ULID keeps 80). Should the OS generator fail, the process
/// id, a per-process counter and the clock's nanoseconds keep ids apart instead.
fn random_bits() -> u128 {
    let mut random = [0u8; 16];
    if getrandom::fill(&mut random).is_ok() {
        return u128::from_be_bytes(random);
    }
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    (u128::from(std::process::id()) << 64)
        | (u128::from(COUNTER.fetch_add(1, Ordering::Relaxed)) << 32)
        | u128::from(nanos)
}

/// Reports `field` unless `text` is a duration Inngest accepts (`"30s"`, `"1m"`, `"3d"`).
pub(crate) fn check_duration(problems: &mut framework::SectionProblems, field: &str, text: &str) {
    if let Err(error) = inngest_module::protocol::parse_duration(text) {
        problems.add(field, error.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_ulids_unique_across_threads_in_the_same_millisecond() {
        let ids: Vec<String> = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..4)
                .map(|_| scope.spawn(|| (0..25_000).map(|_| new_id("ord")).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|worker| worker.join().unwrap_or_default())
                .collect()
        });
        assert_eq!(ids.len(), 100_000);
        let unique: HashSet<&String> = ids.iter().collect();
        assert_eq!(unique.len(), ids.len(), "every id is new");
        for id in ids.iter().take(10) {
            let ulid = id.strip_prefix("ord-").expect("the prefix");
            assert!(ulid::Ulid::from_string(ulid).is_ok(), "{id}");
        }
    }
}
