//! Identifiers the executor makes: run and event ids (ULIDs), the UUID-shaped function id
//! sent as `ctx.fn_id`, and the `traceparent` of an execution request.

use inngest_protocol::hash_step_id;

/// A new ULID: `now_ms` and 80 random bits from the OS.
pub(crate) fn new_id(now_ms: i64) -> String {
    let mut random = [0u8; 16];
    // The OS generator does not fail on supported platforms; a failure leaves zeros, and
    // the timestamp still orders the id.
    let _ = getrandom::fill(&mut random);
    let millis = u64::try_from(now_ms).unwrap_or_default();
    ulid::Ulid::from_parts(millis, u128::from_be_bytes(random)).to_string()
}

/// A stable UUID-shaped id derived from a composite function id.
pub(crate) fn uuid_for(id: &str) -> String {
    let hash = hash_step_id(id);
    format!(
        "{}-{}-5{}-a{}-{}",
        &hash[0..8],
        &hash[8..12],
        &hash[13..16],
        &hash[17..20],
        &hash[20..32]
    )
}

/// The trace id of every execution request of `run_id`: 32 lowercase hex digits derived
/// from the run id, so every request of a run shares one trace.
pub(crate) fn trace_id(run_id: &str) -> String {
    let mut trace = hash_step_id(run_id);
    trace.truncate(32);
    trace
}

/// A W3C `traceparent` with the run's [`trace_id`] and a fresh span id.
pub(crate) fn traceparent(run_id: &str) -> String {
    let mut span = [0u8; 8];
    let _ = getrandom::fill(&mut span);
    let span: String = span.iter().map(|b| format!("{b:02x}")).collect();
    format!("00-{}-{span}-01", trace_id(run_id))
}

/// The trace id of a W3C `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), lowercased, or
/// `None` when the value is not shaped so.
pub(crate) fn trace_id_of(traceparent: &str) -> Option<String> {
    let mut parts = traceparent.trim().split('-');
    let (_version, trace) = (parts.next()?, parts.next()?);
    (trace.len() == 32 && trace.bytes().all(|b| b.is_ascii_hexdigit()))
        .then(|| trace.to_ascii_lowercase())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_names_its_run_by_trace_id() {
        let sent = traceparent("01RUN");
        assert_eq!(trace_id_of(&sent), Some(trace_id("01RUN")));
        assert_ne!(trace_id("01RUN"), trace_id("01RUM"));
        assert_eq!(
            trace_id_of(&sent.to_ascii_uppercase()),
            Some(trace_id("01RUN"))
        );
        for bad in [
            "",
            "00",
            "00-xyz-00f067aa0ba902b7-01",
            "00-4bf92f3577b34da6a3ce929d0e0e47-01",
        ] {
            assert_eq!(trace_id_of(bad), None, "{bad}");
        }
    }

    #[test]
    fn ids_are_shaped_and_stable_where_they_must_be() {
        assert_eq!(new_id(1_000).len(), 26);
        assert_ne!(new_id(1_000), new_id(1_000));
        let uuid = uuid_for("shop-process-order");
        assert_eq!(uuid, uuid_for("shop-process-order"));
        assert_eq!((uuid.len(), uuid.matches('-').count()), (36, 4));
        let (a, b) = (traceparent("01RUN"), traceparent("01RUN"));
        assert_eq!(a.len(), 55);
        assert_eq!(a[..35], b[..35]);
        assert_ne!(a, b);
    }
}

/// Property tests: ids take any clock reading and any function or run id.
#[cfg(test)]
mod properties {
    use super::*;
    use proptest::prelude::*;

    use crate::test_support::proptest_config as config;

    proptest! {
        #![proptest_config(config(3000))]

        /// Any clock reading and any string: a 26-character ULID, a UUID-shaped id and a
        /// 55-character `traceparent`.
        #[test]
        fn ids_have_their_shape_for_any_input(now in any::<i64>(), id in "\\PC{0,40}") {
            let ulid = new_id(now);
            prop_assert_eq!(ulid.len(), 26);
            prop_assert!(ulid::Ulid::from_string(&ulid).is_ok());
            let uuid = uuid_for(&id);
            prop_assert_eq!((uuid.len(), uuid.matches('-').count()), (36, 4));
            let traceparent = traceparent(&id);
            prop_assert_eq!(traceparent.len(), 55);
            prop_assert!(traceparent.starts_with("00-") && traceparent.ends_with("-01"));
        }
    }
}
