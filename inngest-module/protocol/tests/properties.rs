//! Property tests of every decoder that bytes from a request or an answer reach: the
//! signature header, the execution request, the ops of a `206`, events, durations, step ids,
//! and the register payload with its function configs.
//!
//! Each property feeds a decoder arbitrary input (random bytes, arbitrary JSON, and valid
//! bodies with one part broken or one byte changed) and checks that it never panics and
//! answers a typed error for what it cannot read; where a value has a wire form, a generated
//! valid value also encodes and decodes back equal.
//!
//! Failure persistence is off: a failing case is printed, nothing is written to the repo.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::time::Duration;

use inngest_protocol::signature::{
    SIGNATURE_WINDOW_SECS, SignatureError, hashed_key, is_well_formed_key, key_hash_without_prefix,
    sha256_hex, signature_header, strip_prefix, verify,
};
use inngest_protocol::{
    BatchEvents, Cancel, Capabilities, Concurrency, ConcurrencyLimits, ConcurrencyScope, Debounce,
    ErrorBody, Event, ExecutionRequest, FunctionConfig, InBandSync, Introspection, InvokePayload,
    Memo, Op, OpData, OpOptions, Opcode, OpsError, Priority, RateLimit, RegisterRequest,
    RegisterResponse, RequestContext, SendEventsResponse, Singleton, SingletonMode, Stack,
    StepConfig, StepRetries, StepRuntime, SyncReply, Throttle, Timeouts, Timing, Trigger, Userland,
    decode_ops, format_duration, hash_step_id, indexed_step_id, parse_duration, parse_duration_ms,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::RngAlgorithm;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

/// `cases` cases, no failure persistence (nothing written under the repo), and the XorShift
/// generator: ChaCha, the default, takes most of the time in an unoptimized test build.
fn config(cases: u32) -> ProptestConfig {
    ProptestConfig {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..ProptestConfig::default()
    }
}

// ---------------------------------------------------------------------------------------
// Strategies shared by the properties.
// ---------------------------------------------------------------------------------------

/// Strings a decoder may meet: short and long, ASCII and not, empty, control characters,
/// multi-byte characters straddling every byte offset.
fn text() -> BoxedStrategy<String> {
    prop_oneof![
        6 => "[a-z0-9._/:-]{0,12}",
        2 => "\\PC{0,12}",
        1 => "\\PC{0,300}",
        1 => "[é€𝄞a]{90,130}",
        2 => prop::sample::select(vec![
            "", " ", "\t\n", "\u{0}", "é", "step", "t=1&s=00", "null", "{}", "[]",
            "9223372036854775808", "-9223372036854775809", "1e999", "NaN",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

/// Object keys: mostly short, sometimes arbitrary.
fn key() -> BoxedStrategy<String> {
    prop_oneof![3 => "[a-z_]{1,8}", 1 => text()].boxed()
}

/// Numbers at the edges: extremes of every integer type, big and tiny floats.
fn edge_number() -> BoxedStrategy<Value> {
    prop::sample::select(vec![
        Value::from(0),
        Value::from(-1),
        Value::from(i64::MIN),
        Value::from(i64::MAX),
        Value::from(u64::MAX),
        Value::from(i64::MAX as u64 + 1),
        Value::from(u32::MAX),
        Value::from(u64::from(u32::MAX) + 1),
        Value::from(i32::MIN),
        Value::from(1.5),
        Value::from(-0.5),
        Value::from(1e300),
        Value::from(-1e300),
        Value::from(f64::MIN_POSITIVE),
        Value::from(9.223_372_036_854_776e18),
    ])
    .boxed()
}

/// A JSON scalar.
fn leaf(float: BoxedStrategy<f64>) -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float.prop_map(Value::from),
        edge_number(),
        text().prop_map(Value::String),
    ]
    .boxed()
}

/// Floats that survive a trip through JSON text exactly (for round trips).
fn exact_float() -> BoxedStrategy<f64> {
    any::<i16>().prop_map(|n| f64::from(n) / 4.0).boxed()
}

/// Arbitrary JSON, a few levels deep.
fn json_from(float: BoxedStrategy<f64>) -> BoxedStrategy<Value> {
    leaf(float)
        .prop_recursive(4, 40, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((key(), inner), 0..6)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
            ]
        })
        .boxed()
}

/// Arbitrary JSON (any finite float).
fn json() -> BoxedStrategy<Value> {
    json_from(any::<f64>().boxed())
}

/// Arbitrary JSON whose floats round-trip through text.
fn exact_json() -> BoxedStrategy<Value> {
    json_from(exact_float())
}

/// Arbitrary JSON other than `null` (`Some(null)` decodes as `None`).
fn exact_non_null() -> BoxedStrategy<Value> {
    exact_json()
        .prop_map(|value| {
            if value.is_null() {
                Value::from(0)
            } else {
                value
            }
        })
        .boxed()
}

/// An arbitrary JSON object whose keys are not `reserved`.
fn exact_object_without(reserved: &'static [&'static str]) -> BoxedStrategy<Map<String, Value>> {
    prop::collection::vec((key(), exact_json()), 0..4)
        .prop_map(move |pairs| {
            pairs
                .into_iter()
                .filter(|(key, _)| !reserved.contains(&key.as_str()))
                .collect()
        })
        .boxed()
}

/// Replaces (or removes) the value at a random path of `value` with arbitrary JSON, so
/// that valid bodies get one wrong part anywhere in them.
fn break_somewhere(valid: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    (
        valid,
        prop::collection::vec(any::<Index>(), 1..6),
        json(),
        any::<bool>(),
    )
        .prop_map(|(mut value, path, replacement, remove)| {
            replace_at(&mut value, &path, replacement, remove);
            value
        })
        .boxed()
}

fn replace_at(value: &mut Value, path: &[Index], replacement: Value, remove: bool) {
    let Some((step, rest)) = path.split_first() else {
        *value = replacement;
        return;
    };
    match value {
        Value::Object(map) if !map.is_empty() => {
            let key = step.get(&map.keys().cloned().collect::<Vec<_>>()).clone();
            if rest.is_empty() && remove {
                map.remove(&key);
            } else if let Some(inner) = map.get_mut(&key) {
                replace_at(inner, rest, replacement, remove);
            }
        }
        Value::Array(items) if !items.is_empty() => {
            let index = step.index(items.len());
            if rest.is_empty() && remove {
                items.remove(index);
            } else {
                replace_at(&mut items[index], rest, replacement, remove);
            }
        }
        _ => *value = replacement,
    }
}

/// Bytes a decoder may be sent: random bytes, arbitrary JSON text, and the text of a valid
/// body (`valid`) cut short or with one byte inserted, replaced or removed.
fn body_bytes(valid: BoxedStrategy<Value>) -> BoxedStrategy<Vec<u8>> {
    let mutated =
        (valid, any::<Index>(), any::<u8>(), 0..4u8).prop_map(|(value, at, byte, mutation)| {
            let mut bytes = serde_json::to_vec(&value).unwrap();
            let i = at.index(bytes.len() + 1);
            match mutation {
                0 => bytes.truncate(i),
                1 => bytes.insert(i, byte),
                2 if i < bytes.len() => bytes[i] = byte,
                _ if i < bytes.len() => {
                    bytes.remove(i);
                }
                _ => {}
            }
            bytes
        });
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..64),
        2 => json().prop_map(|value| serde_json::to_vec(&value).unwrap()),
        4 => mutated,
        1 => text().prop_map(String::into_bytes),
    ]
    .boxed()
}

/// A JSON object with each of `fields` present most of the time (with a value from its
/// strategy), plus now and then an unknown field.
fn shaped(fields: Vec<(&'static str, BoxedStrategy<Value>)>) -> BoxedStrategy<Value> {
    let (names, values): (Vec<&'static str>, Vec<_>) = fields
        .into_iter()
        .map(|(name, strategy)| (name, prop::option::weighted(0.8, strategy)))
        .unzip();
    (
        values,
        prop::collection::vec((key(), json()), 0..2),
        any::<bool>(),
    )
        .prop_map(move |(values, extra, with_extra)| {
            let mut map = Map::new();
            for (name, value) in names.iter().zip(values) {
                if let Some(value) = value {
                    map.insert((*name).to_owned(), value);
                }
            }
            if with_extra {
                map.extend(extra);
            }
            Value::Object(map)
        })
        .boxed()
}

/// An integer-ish value: right type most of the time, wrong now and then.
fn int_ish() -> BoxedStrategy<Value> {
    prop_oneof![
        3 => (0..10u32).prop_map(Value::from),
        2 => edge_number(),
        1 => any::<i64>().prop_map(Value::from),
        1 => json(),
    ]
    .boxed()
}

/// A string-ish value.
fn string_ish() -> BoxedStrategy<Value> {
    prop_oneof![4 => text().prop_map(Value::String), 1 => json()].boxed()
}

/// A bool-ish value.
fn bool_ish() -> BoxedStrategy<Value> {
    prop_oneof![4 => any::<bool>().prop_map(Value::Bool), 1 => json()].boxed()
}

/// A list of `item`s, or now and then something else.
fn list_of(item: BoxedStrategy<Value>) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => prop::collection::vec(item, 0..4).prop_map(Value::Array),
        1 => json(),
    ]
    .boxed()
}

// ---------------------------------------------------------------------------------------
// Signatures.
// ---------------------------------------------------------------------------------------

/// The `t=` value of a header: any integer (in range or not) and odd spellings.
fn timestamp_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => any::<i64>().prop_map(|t| t.to_string()),
        1 => any::<i128>().prop_map(|t| t.to_string()),
        2 => prop::sample::select(vec![
            "-9223372036854775808", "9223372036854775807", "9223372036854775808",
            "-9223372036854775809", "99999999999999999999999999", "+1", "-0", "", " 1",
            "1 ", "1e3", "1.5", "0x10", "٣", "１", "--1", "-",
        ])
        .prop_map(str::to_owned),
        1 => text(),
    ]
    .boxed()
}

/// The `s=` value: hex of any length and case, or anything.
fn signature_text() -> BoxedStrategy<String> {
    prop_oneof![
        3 => "[0-9a-f]{0,66}",
        1 => "[0-9a-fA-Fg-z]{0,70}",
        1 => text(),
    ]
    .boxed()
}

/// `X-Inngest-Signature` header values: well-formed, nearly so, and anything at all.
fn header() -> BoxedStrategy<Option<String>> {
    let separator = prop::sample::select(vec!["&", "&&", ";", ",", "& ", " &", "&=", "\u{0}"]);
    let name = prop::sample::select(vec!["t", "s", "T", "S", " t", "t ", "", "x"]);
    let assign = prop::sample::select(vec!["=", "==", ":", ""]);
    let pair = (
        name,
        assign,
        prop_oneof![timestamp_text(), signature_text()],
    )
        .prop_map(|(name, assign, value)| format!("{name}{assign}{value}"));
    let structured = (
        timestamp_text(),
        signature_text(),
        separator.clone(),
        prop::collection::vec((pair, separator), 0..3),
        any::<bool>(),
    )
        .prop_map(|(t, s, separator, extra, swap)| {
            let mut header = if swap {
                format!("s={s}{separator}t={t}")
            } else {
                format!("t={t}{separator}s={s}")
            };
            for (pair, separator) in extra {
                header.push_str(separator);
                header.push_str(&pair);
            }
            header
        });
    prop::option::weighted(
        0.95,
        prop_oneof![
            3 => structured,
            1 => text(),
            1 => prop::sample::select(vec![
                "t=-9223372036854775808&s=00",
                "t=9223372036854775807&s=00",
                "t=9223372036854775808&s=00",
                "t=&s=",
                "t=1&s=0",
                "&",
                "=",
                "t",
                "s=00&t=1&t=2&s=zz",
            ])
            .prop_map(str::to_owned),
        ],
    )
    .boxed()
}

/// Clock readings, with the extremes.
fn now() -> BoxedStrategy<i64> {
    prop_oneof![
        3 => any::<i64>(),
        1 => prop::sample::select(vec![i64::MIN, i64::MIN + 1, -1, 0, 1, i64::MAX - 1, i64::MAX]),
        1 => 1_600_000_000i64..1_900_000_000,
    ]
    .boxed()
}

/// Signing keys: real-looking ones and anything.
fn signing_key() -> BoxedStrategy<String> {
    prop_oneof![
        2 => "signkey-[a-z_]{1,8}-[0-9a-f]{0,64}",
        1 => "signkey-[a-zA-Z0-9_é-]{0,12}",
        2 => text(),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(4000))]

    /// Any header, body, keys and clock: `verify` answers, never panics, and each outcome
    /// is the one its input calls for.
    #[test]
    fn verify_never_panics(
        header in header(),
        body in body_bytes(json()),
        keys in prop::collection::vec(signing_key(), 0..3),
        now in now(),
    ) {
        let keys: Vec<&str> = keys.iter().map(String::as_str).collect();
        match verify(header.as_deref(), &body, &keys, now) {
            Ok(index) => prop_assert!(index < keys.len()),
            Err(SignatureError::NoKey) => prop_assert!(keys.is_empty()),
            Err(SignatureError::Missing) => prop_assert!(header.is_none() && !keys.is_empty()),
            Err(error) => {
                prop_assert!(header.is_some() && !keys.is_empty());
                prop_assert!(!error.to_string().is_empty());
            }
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Round trip: a header signed at any time `t` verifies at any `now` within five
    /// minutes of `t` (with the key first or second), and is expired outside them, even at
    /// the ends of the `i64` range.
    #[test]
    fn signed_headers_verify_within_the_window(
        key in signing_key(),
        other in signing_key(),
        body in prop::collection::vec(any::<u8>(), 0..64),
        timestamp in now(),
        skew in -2 * SIGNATURE_WINDOW_SECS..=2 * SIGNATURE_WINDOW_SECS,
    ) {
        let Some(now) = timestamp.checked_add(skew) else {
            return Err(TestCaseError::reject("now out of range"));
        };
        let header = signature_header(&key, &body, timestamp);
        let result = verify(Some(&header), &body, &[&key], now);
        if skew.abs() <= SIGNATURE_WINDOW_SECS {
            prop_assert_eq!(result, Ok(0));
            let fallback = verify(Some(&header), &body, &[&other, &key], now);
            prop_assert!(fallback.is_ok());
        } else {
            prop_assert_eq!(result, Err(SignatureError::Expired));
        }
    }

    /// Key helpers take any string: the prefix is stripped on a character boundary and
    /// hashes have their documented shape.
    #[test]
    fn key_helpers_take_any_string(key in signing_key()) {
        let stripped = strip_prefix(&key);
        prop_assert!(key.ends_with(stripped));
        let prefix = &key[..key.len() - stripped.len()];
        let hashed = hashed_key(&key);
        prop_assert!(hashed.starts_with(prefix));
        prop_assert_eq!(hashed.len(), prefix.len() + 64);
        let without = key_hash_without_prefix(&key);
        prop_assert_eq!(without.len(), 64);
        prop_assert!(without.bytes().all(|b| b.is_ascii_hexdigit()));
        prop_assert_eq!(sha256_hex(&key).len(), 64);
        if is_well_formed_key(&key) {
            prop_assert!(!prefix.is_empty() && !stripped.is_empty());
        }
    }
}

// ---------------------------------------------------------------------------------------
// Events and execution requests.
// ---------------------------------------------------------------------------------------

/// An event object as an SDK or the Event API may send it, sometimes with wrong types.
fn event_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        ("name", string_ish()),
        ("data", json()),
        ("id", string_ish()),
        (
            "ts",
            prop_oneof![
                3 => any::<i64>().prop_map(Value::from),
                1 => edge_number(),
                1 => any::<f64>().prop_map(Value::from),
                1 => text().prop_map(Value::String),
            ]
            .boxed(),
        ),
        ("v", string_ish()),
        ("user", json()),
    ])
}

/// `ctx` as sent, sometimes with wrong types.
fn ctx_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        ("attempt", int_ish()),
        ("disable_immediate_execution", bool_ish()),
        ("env", string_ish()),
        ("fn_id", string_ish()),
        ("generation_id", int_ish()),
        ("job_id", string_ish()),
        ("max_attempts", int_ish()),
        ("qi_id", string_ish()),
        ("request_id", string_ish()),
        ("run_id", string_ish()),
        (
            "stack",
            shaped(vec![
                ("stack", list_of(string_ish())),
                ("current", int_ish()),
            ]),
        ),
        ("step_id", string_ish()),
        ("use_api", bool_ish()),
    ])
}

/// An execution request as sent, sometimes with wrong types.
fn execution_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        (
            "event",
            prop_oneof![4 => event_shaped(), 1 => json()].boxed(),
        ),
        ("events", list_of(event_shaped())),
        (
            "steps",
            prop_oneof![
                4 => prop::collection::vec(("[0-9a-f]{40}", json()), 0..4)
                    .prop_map(|pairs| Value::Object(pairs.into_iter().collect())),
                1 => json(),
            ]
            .boxed(),
        ),
        ("ctx", prop_oneof![4 => ctx_shaped(), 1 => json()].boxed()),
        ("version", int_ish()),
        ("use_api", bool_ish()),
        ("defers", json()),
    ])
}

/// A valid event.
fn event() -> BoxedStrategy<Event> {
    (
        text(),
        exact_json(),
        prop::option::of(text()),
        prop::option::of(any::<i64>()),
        prop::option::of(text()),
        prop::option::of(exact_non_null()),
    )
        .prop_map(|(name, data, id, ts, v, user)| Event {
            name,
            data,
            id,
            ts,
            v,
            user,
        })
        .boxed()
}

/// A valid `ctx`.
fn request_context() -> BoxedStrategy<RequestContext> {
    (
        (
            any::<u32>(),
            any::<bool>(),
            text(),
            text(),
            prop::option::of(any::<u64>()),
            prop::option::of(text()),
            prop::option::of(any::<u32>()),
        ),
        (
            prop::option::of(text()),
            prop::option::of(text()),
            text(),
            prop::collection::vec("[0-9a-f]{40}", 0..4),
            any::<usize>(),
            text(),
            any::<bool>(),
        ),
    )
        .prop_map(
            |(
                (
                    attempt,
                    disable_immediate_execution,
                    env,
                    fn_id,
                    generation_id,
                    job_id,
                    max_attempts,
                ),
                (qi_id, request_id, run_id, stack, current, step_id, use_api),
            )| RequestContext {
                attempt,
                disable_immediate_execution,
                env,
                fn_id,
                generation_id,
                job_id,
                max_attempts,
                qi_id,
                request_id,
                run_id,
                stack: Stack { stack, current },
                step_id,
                use_api,
            },
        )
        .boxed()
}

/// A valid execution request.
fn execution_request() -> BoxedStrategy<ExecutionRequest> {
    (
        event(),
        prop::collection::vec(event(), 0..3),
        prop::collection::hash_map("[0-9a-f]{40}", exact_json(), 0..3),
        request_context(),
        any::<i64>(),
        any::<bool>(),
        prop::option::of(exact_object_without(&[])),
    )
        .prop_map(
            |(event, events, steps, ctx, version, use_api, defers)| ExecutionRequest {
                event,
                events,
                steps,
                ctx,
                version,
                use_api,
                defers,
            },
        )
        .boxed()
}

/// A memoized step value.
fn memo() -> BoxedStrategy<Memo> {
    prop_oneof![
        exact_json().prop_map(Memo::Data),
        exact_json().prop_map(Memo::Error),
        exact_json().prop_map(Memo::Input),
    ]
    .boxed()
}

/// Every form of execution-request body a decoder may meet.
fn execution_json() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => json(),
        3 => execution_shaped(),
        2 => break_somewhere(execution_request().prop_map(|r| serde_json::to_value(r).unwrap()).boxed()),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any bytes: the execution request decoder answers a request or an error (both event
    /// representations: decoded, and raw JSON text).
    #[test]
    fn execution_request_from_any_bytes(bytes in body_bytes(execution_json())) {
        if let Ok(request) = serde_json::from_slice::<ExecutionRequest>(&bytes) {
            serde_json::to_vec(&request).unwrap();
            for value in request.steps.values() {
                let _ = Memo::parse(value).to_value();
            }
        }
        let _ = serde_json::from_slice::<ExecutionRequest<Box<RawValue>, Box<RawValue>>>(&bytes);
    }

    /// Any JSON value: decoding answers a request or an error, and a decoded request
    /// encodes again.
    #[test]
    fn execution_request_from_any_json(value in execution_json()) {
        let from_value = serde_json::from_value::<ExecutionRequest>(value.clone());
        let text = serde_json::to_string(&value).unwrap();
        let from_text = serde_json::from_str::<ExecutionRequest>(&text);
        prop_assert_eq!(from_value.is_ok(), from_text.is_ok());
        if let Ok(request) = from_value {
            let again = serde_json::to_value(&request).unwrap();
            let decoded = serde_json::from_value::<ExecutionRequest>(again).unwrap();
            prop_assert_eq!(decoded, request);
        }
    }

    /// Round trip: a valid request encodes and decodes back equal, through JSON text and
    /// through the raw-JSON representation.
    #[test]
    fn execution_request_round_trips(request in execution_request()) {
        let bytes = serde_json::to_vec(&request).unwrap();
        let decoded: ExecutionRequest = serde_json::from_slice(&bytes).unwrap();
        prop_assert_eq!(&decoded, &request);
        let raw: ExecutionRequest<Box<RawValue>, Box<RawValue>> =
            serde_json::from_slice(&bytes).unwrap();
        let through_raw: ExecutionRequest =
            serde_json::from_slice(&serde_json::to_vec(&raw).unwrap()).unwrap();
        prop_assert_eq!(&through_raw, &request);
    }

    /// Round trip: a memo encodes to `{data|error|input: X}` and parses back equal.
    #[test]
    fn memos_round_trip(memo in memo(), other in json()) {
        prop_assert_eq!(Memo::parse(&memo.to_value()), memo.clone());
        prop_assert_eq!(Memo::from_value(memo.to_value()), memo);
        // Reading an owned value and reading a borrowed one agree on any JSON.
        prop_assert_eq!(Memo::from_value(other.clone()), Memo::parse(&other));
    }

    /// Any JSON: events and the Event API's answer decode or fail cleanly; a decoded event
    /// renders with `to_value`.
    #[test]
    fn events_from_any_json(value in prop_oneof![json(), event_shaped(), list_of(event_shaped())]) {
        if let Ok(event) = serde_json::from_value::<Event>(value.clone()) {
            let _ = event.id_str();
            let rendered = event.to_value().unwrap();
            prop_assert!(rendered["data"].is_object() || !event.data.is_null());
        }
        let _ = serde_json::from_value::<Vec<Event>>(value.clone());
        let _ = serde_json::from_value::<SendEventsResponse>(value.clone());
        let text = serde_json::to_vec(&value).unwrap();
        let _ = serde_json::from_slice::<Event>(&text);
    }

    /// Round trip: a valid event encodes and decodes back equal.
    #[test]
    fn events_round_trip(event in event()) {
        let bytes = serde_json::to_vec(&event).unwrap();
        prop_assert_eq!(serde_json::from_slice::<Event>(&bytes).unwrap(), event);
    }
}

// ---------------------------------------------------------------------------------------
// Ops.
// ---------------------------------------------------------------------------------------

const KNOWN_OPCODES: [&str; 8] = [
    "StepRun",
    "StepError",
    "StepFailed",
    "StepPlanned",
    "Sleep",
    "WaitForEvent",
    "InvokeFunction",
    "RunComplete",
];

fn opcode() -> BoxedStrategy<Opcode> {
    prop_oneof![
        Just(Opcode::StepRun),
        Just(Opcode::StepError),
        Just(Opcode::StepFailed),
        Just(Opcode::StepPlanned),
        Just(Opcode::Sleep),
        Just(Opcode::WaitForEvent),
        Just(Opcode::InvokeFunction),
        Just(Opcode::RunComplete),
        text().prop_map(|name| {
            if KNOWN_OPCODES.contains(&name.as_str()) {
                Opcode::Other(format!("{name}2"))
            } else {
                Opcode::Other(name)
            }
        }),
    ]
    .boxed()
}

fn error_body() -> BoxedStrategy<ErrorBody> {
    (
        text(),
        text(),
        prop::option::of(text()),
        exact_object_without(&["name", "message", "stack"]),
    )
        .prop_map(|(name, message, stack, extra)| ErrorBody {
            name,
            message,
            stack,
            extra,
        })
        .boxed()
}

fn op_options() -> BoxedStrategy<OpOptions> {
    let payload = (
        exact_json(),
        prop::option::of(exact_non_null()),
        prop::option::of(text()),
    )
        .prop_map(|(data, user, v)| InvokePayload { data, user, v });
    (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(payload),
        exact_object_without(&[
            "type",
            "duration",
            "event",
            "timeout",
            "if",
            "function_id",
            "payload",
        ]),
    )
        .prop_map(
            |(kind, duration, event, timeout, condition, function_id, payload, other)| OpOptions {
                kind,
                duration,
                event,
                timeout,
                condition,
                function_id,
                payload,
                other,
            },
        )
        .boxed()
}

fn op() -> BoxedStrategy<Op> {
    let timing = (any::<u64>(), any::<u64>()).prop_map(|(a, b)| Timing {
        a: u128::from(a),
        b: u128::from(b),
    });
    let data = prop_oneof![
        Just(OpData::Absent),
        Just(OpData::Null),
        exact_non_null().prop_map(OpData::Value),
    ];
    (
        text(),
        opcode(),
        prop::option::of(text()),
        text(),
        prop::option::of(op_options()),
        (text(), prop::option::of(any::<usize>())).prop_map(|(id, index)| Userland { id, index }),
        data,
        prop::option::of(error_body()),
        prop::option::of(timing),
    )
        .prop_map(
            |(id, op, name, display_name, opts, userland, data, error, timing)| Op {
                id,
                op,
                name,
                display_name,
                opts,
                userland,
                data,
                error,
                timing,
            },
        )
        .boxed()
}

/// An op object as an SDK may send it, sometimes with wrong types.
fn op_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        ("id", string_ish()),
        (
            "op",
            prop_oneof![
                3 => prop::sample::select(KNOWN_OPCODES.to_vec()).prop_map(Value::from),
                1 => string_ish(),
            ]
            .boxed(),
        ),
        ("name", string_ish()),
        ("displayName", string_ish()),
        (
            "opts",
            shaped(vec![
                ("type", string_ish()),
                ("duration", string_ish()),
                ("event", string_ish()),
                ("timeout", string_ish()),
                ("if", string_ish()),
                ("function_id", string_ish()),
                (
                    "payload",
                    shaped(vec![
                        ("data", json()),
                        ("user", json()),
                        ("v", string_ish()),
                    ]),
                ),
            ]),
        ),
        (
            "userland",
            shaped(vec![("id", string_ish()), ("index", int_ish())]),
        ),
        ("data", json()),
        ("error", json()),
        ("timing", shaped(vec![("a", int_ish()), ("b", int_ish())])),
    ])
}

fn ops_json() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => json(),
        2 => list_of(op_shaped()),
        1 => op_shaped(),
        2 => break_somewhere(
            prop::collection::vec(op(), 1..4)
                .prop_map(|ops| serde_json::to_value(ops).unwrap())
                .boxed(),
        ),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(3000))]

    /// Any bytes: `decode_ops` answers ops or an error naming what is wrong (the index of
    /// a malformed op is in the array); decoded ops encode again and answer their helpers.
    #[test]
    fn decode_ops_never_panics(bytes in body_bytes(ops_json())) {
        match decode_ops(&bytes) {
            Ok(ops) => {
                for op in &ops {
                    let _ = (op.step_name(), op.sleep_spec(), op.wait_event(), op.options());
                    let _ = (op.op.as_str(), op.op.static_name(), op.data.to_value());
                    serde_json::to_vec(op).unwrap();
                }
            }
            Err(OpsError::Malformed { index, source }) => {
                let len = match serde_json::from_slice::<Value>(&bytes) {
                    Ok(Value::Array(items)) => items.len(),
                    _ => 1,
                };
                prop_assert!(index < len);
                prop_assert!(!source.to_string().is_empty());
            }
            Err(error @ OpsError::NotOps(_)) => {
                prop_assert!(error.to_string().len() < 300, "{}", error);
            }
            Err(error) => prop_assert!(!error.to_string().is_empty()),
        }
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any JSON scalar (strings of multi-byte characters of every length included):
    /// `decode_ops` refuses it with `NotOps`, showing at most 200 bytes of it.
    #[test]
    fn decode_ops_refuses_scalars(
        value in prop_oneof![
            leaf(any::<f64>().boxed()),
            "[é€𝄞a]{0,300}".prop_map(Value::String),
        ],
    ) {
        let bytes = serde_json::to_vec(&value).unwrap();
        match decode_ops(&bytes) {
            Err(OpsError::NotOps(shown)) => {
                prop_assert!(shown.len() <= 200, "{} bytes shown", shown.len());
                prop_assert!(serde_json::to_string(&value).unwrap().starts_with(&shown));
            }
            other => prop_assert!(false, "{:?} gave {:?}", value, other.map(|ops| ops.len())),
        }
    }

    /// Round trip: valid ops encode and decode back equal, as an array and one alone.
    #[test]
    fn ops_round_trip(ops in prop::collection::vec(op(), 0..4)) {
        let bytes = serde_json::to_vec(&ops).unwrap();
        prop_assert_eq!(&decode_ops(&bytes).unwrap(), &ops);
        if let Some(first) = ops.first() {
            let one = serde_json::to_vec(first).unwrap();
            prop_assert_eq!(&decode_ops(&one).unwrap(), &vec![first.clone()]);
        }
    }

    /// Any JSON: an error body decodes from every value (the lenient rule) and encodes again.
    #[test]
    fn error_bodies_from_any_json(value in json(), error in error_body()) {
        let decoded: ErrorBody = serde_json::from_value(value).unwrap();
        let _ = (decoded.to_value(), decoded.to_string());
        prop_assert_eq!(ErrorBody::from_value(error.to_value()), error);
    }
}

// ---------------------------------------------------------------------------------------
// Durations and step ids.
// ---------------------------------------------------------------------------------------

/// Duration strings: valid, overflowing, negative, fractional, odd units, anything.
fn duration_text() -> BoxedStrategy<String> {
    let unit = prop::sample::select(vec![
        "ns", "us", "µs", "ms", "s", "sec", "m", "min", "h", "hr", "d", "day", "w", "week", "M",
        "month", "y", "year", "", "x", " s",
    ]);
    let number = prop_oneof![
        3 => (0..100_000u64).prop_map(|n| n.to_string()),
        2 => any::<u64>().prop_map(|n| n.to_string()),
        1 => any::<u128>().prop_map(|n| n.to_string()),
        1 => any::<i64>().prop_map(|n| n.to_string()),
        1 => any::<f64>().prop_map(|n| n.to_string()),
        1 => prop::sample::select(vec![
            "18446744073709551615", "18446744073709551616", "-1", "0", "1.5", ".5", "5.",
            "1e9", "99999999999999999999999999999999999999",
        ])
        .prop_map(str::to_owned),
    ];
    prop_oneof![
        4 => prop::collection::vec((number, unit, prop::sample::select(vec!["", " ", "  ", "\t"])), 1..4)
            .prop_map(|parts| parts.into_iter().map(|(n, u, s)| format!("{n}{u}{s}")).collect()),
        1 => text(),
        1 => prop::sample::select(vec![
            "18446744073709551615s", "18446744073709551616s", "18446744073709551615w",
            "584942417355y", "9999999999999999999h", "-1s", "1s-1s", "", " ", "1", "s",
        ])
        .prop_map(str::to_owned),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(4000))]

    /// Any text: the duration parser answers a duration or a [`DurationError`] that quotes
    /// the text; the millisecond form agrees and saturates.
    #[test]
    fn durations_parse_or_explain(text in duration_text()) {
        match parse_duration(&text) {
            Ok(duration) => {
                let ms = parse_duration_ms(&text).unwrap();
                prop_assert_eq!(ms, i64::try_from(duration.as_millis()).unwrap_or(i64::MAX));
                let _ = format_duration(duration);
            }
            Err(error) => {
                prop_assert_eq!(&error.text, &text);
                prop_assert!(error.to_string().contains(&text));
                prop_assert!(parse_duration_ms(&text).is_err());
            }
        }
    }

    /// Round trip: a formatted duration parses back to its whole seconds (one second at
    /// least when it was not zero), up to `Duration::MAX`.
    #[test]
    fn durations_round_trip(
        secs in prop_oneof![3 => 0..10_000_000u64, 1 => any::<u64>()],
        nanos in prop_oneof![Just(0u32), 0..1_000_000_000u32],
    ) {
        let duration = Duration::new(secs, nanos);
        let text = format_duration(duration);
        let expected = if secs == 0 && nanos > 0 { 1 } else { secs };
        prop_assert_eq!(parse_duration(&text), Ok(Duration::from_secs(expected)), "{}", text);
    }

    /// Any string and index: step ids hash to 40 lower-case hex digits, the same each time,
    /// and the repeat rule appends `:index`.
    #[test]
    fn step_ids_hash_any_string(id in text(), index in any::<usize>()) {
        let hash = hash_step_id(&id);
        prop_assert_eq!(hash.len(), 40);
        prop_assert!(hash.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
        prop_assert_eq!(&hash, &hash_step_id(&id));
        let indexed = indexed_step_id(&id, index);
        if index == 0 {
            prop_assert_eq!(indexed, id);
        } else {
            prop_assert_eq!(indexed, format!("{id}:{index}"));
        }
    }
}

// ---------------------------------------------------------------------------------------
// The register payload and function configs.
// ---------------------------------------------------------------------------------------

fn trigger() -> BoxedStrategy<Trigger> {
    prop_oneof![
        (text(), prop::option::of(text())).prop_map(|(event, expression)| Trigger::Event {
            event,
            expression: expression.filter(|e| !e.trim().is_empty()),
        }),
        (text(), prop::option::of(text()))
            .prop_map(|(cron, jitter)| Trigger::Cron { cron, jitter }),
    ]
    .boxed()
}

fn concurrency() -> BoxedStrategy<Concurrency> {
    (
        any::<u32>(),
        prop::option::of(text()),
        prop::option::of(prop::sample::select(vec![
            ConcurrencyScope::Fn,
            ConcurrencyScope::Env,
            ConcurrencyScope::Account,
        ])),
    )
        .prop_map(|(limit, key, scope)| Concurrency { limit, key, scope })
        .boxed()
}

fn function_config() -> BoxedStrategy<FunctionConfig> {
    let step = (
        text(),
        text(),
        (text(), text()).prop_map(|(kind, url)| StepRuntime { kind, url }),
        prop::option::of(any::<u32>().prop_map(|attempts| StepRetries { attempts })),
    )
        .prop_map(|(id, name, runtime, retries)| StepConfig {
            id,
            name,
            runtime,
            retries,
        });
    let limits = prop_oneof![
        any::<u32>().prop_map(ConcurrencyLimits::Limit),
        concurrency().prop_map(ConcurrencyLimits::One),
        prop::collection::vec(concurrency(), 0..3).prop_map(ConcurrencyLimits::Many),
    ];
    let flow = (
        prop::option::of(text()),
        prop::option::of(
            (
                any::<u32>(),
                text(),
                prop::option::of(text()),
                prop::option::of(text()),
            )
                .prop_map(|(max_size, timeout, key, condition)| BatchEvents {
                    max_size,
                    timeout,
                    key,
                    condition,
                }),
        ),
        prop::option::of(
            (any::<u32>(), text(), prop::option::of(text()))
                .prop_map(|(limit, period, key)| RateLimit { limit, period, key }),
        ),
        prop::option::of(
            (
                any::<u32>(),
                text(),
                prop::option::of(any::<u32>()),
                prop::option::of(text()),
            )
                .prop_map(|(limit, period, burst, key)| Throttle {
                    limit,
                    period,
                    burst,
                    key,
                }),
        ),
        prop::option::of(
            (
                prop::option::of(text()),
                prop::sample::select(vec![SingletonMode::Skip, SingletonMode::Cancel]),
            )
                .prop_map(|(key, mode)| Singleton { key, mode }),
        ),
        prop::option::of(limits),
    );
    let more = (
        prop::option::of(
            (text(), prop::option::of(text()), prop::option::of(text())).prop_map(
                |(period, key, timeout)| Debounce {
                    period,
                    key,
                    timeout,
                },
            ),
        ),
        prop::option::of(text().prop_map(|run| Priority { run })),
        prop::option::of(
            (prop::option::of(text()), prop::option::of(text()))
                .prop_map(|(start, finish)| Timeouts { start, finish }),
        ),
        prop::collection::vec(
            (text(), prop::option::of(text()), prop::option::of(text())).prop_map(
                |(event, timeout, condition)| Cancel {
                    event,
                    timeout,
                    condition,
                },
            ),
            0..3,
        ),
    );
    (
        text(),
        text(),
        prop::collection::vec(trigger(), 0..3),
        prop::collection::btree_map(text(), step, 0..2),
        flow,
        more,
    )
        .prop_map(
            |(
                id,
                name,
                triggers,
                steps,
                (idempotency, batch_events, rate_limit, throttle, singleton, concurrency),
                (debounce, priority, timeouts, cancel),
            )| FunctionConfig {
                id,
                name,
                triggers,
                steps,
                idempotency,
                batch_events,
                rate_limit,
                throttle,
                singleton,
                concurrency,
                debounce,
                priority,
                timeouts,
                cancel,
            },
        )
        .boxed()
}

fn register_request() -> BoxedStrategy<RegisterRequest> {
    let capabilities = (
        prop::option::of(text()),
        prop::option::of(text()),
        prop::option::of(text()),
    )
        .prop_map(|(trust_probe, connect, in_band_sync)| Capabilities {
            trust_probe,
            connect,
            in_band_sync,
        });
    (
        (text(), text(), text(), text(), text(), text()),
        prop::option::of(text()),
        prop::collection::vec(function_config(), 0..3),
        prop::option::of(capabilities),
        prop::option::of(exact_non_null()),
    )
        .prop_map(
            |(
                (url, v, deploy_type, sdk, framework, app_name),
                app_version,
                functions,
                capabilities,
                feature_observations,
            )| RegisterRequest {
                url,
                v,
                deploy_type,
                sdk,
                framework,
                app_name,
                app_version,
                functions,
                capabilities,
                feature_observations,
            },
        )
        .boxed()
}

/// A trigger object as sent, sometimes with wrong types or both kinds.
fn trigger_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        ("event", string_ish()),
        ("expression", string_ish()),
        ("cron", string_ish()),
        ("jitter", string_ish()),
    ])
}

/// A concurrency value as sent: a number, an object, a list, or something else.
fn concurrency_shaped() -> BoxedStrategy<Value> {
    let one = shaped(vec![
        ("limit", int_ish()),
        ("key", string_ish()),
        (
            "scope",
            prop_oneof![
                3 => prop::sample::select(vec!["fn", "env", "account", "FN", ""]).prop_map(Value::from),
                1 => json(),
            ]
            .boxed(),
        ),
    ]);
    prop_oneof![int_ish(), one.clone(), list_of(one)].boxed()
}

/// A function config object as sent, sometimes with wrong types.
fn function_shaped() -> BoxedStrategy<Value> {
    let period = || {
        shaped(vec![
            ("limit", int_ish()),
            ("period", string_ish()),
            ("key", string_ish()),
            ("burst", int_ish()),
            ("timeout", string_ish()),
        ])
    };
    shaped(vec![
        ("id", string_ish()),
        ("name", string_ish()),
        ("triggers", list_of(trigger_shaped())),
        (
            "steps",
            prop::collection::vec(
                (
                    text(),
                    shaped(vec![
                        ("id", string_ish()),
                        ("name", string_ish()),
                        (
                            "runtime",
                            shaped(vec![("type", string_ish()), ("url", string_ish())]),
                        ),
                        ("retries", shaped(vec![("attempts", int_ish())])),
                    ]),
                ),
                0..2,
            )
            .prop_map(|pairs| Value::Object(pairs.into_iter().collect()))
            .boxed(),
        ),
        ("idempotency", string_ish()),
        (
            "batchEvents",
            shaped(vec![
                ("maxSize", int_ish()),
                ("timeout", string_ish()),
                ("key", string_ish()),
                ("if", string_ish()),
            ]),
        ),
        ("rateLimit", period()),
        ("throttle", period()),
        (
            "singleton",
            shaped(vec![
                ("key", string_ish()),
                (
                    "mode",
                    prop_oneof![
                        3 => prop::sample::select(vec!["skip", "cancel", "Skip"]).prop_map(Value::from),
                        1 => json(),
                    ]
                    .boxed(),
                ),
            ]),
        ),
        ("concurrency", concurrency_shaped()),
        ("debounce", period()),
        ("priority", shaped(vec![("run", string_ish())])),
        (
            "timeouts",
            shaped(vec![("start", string_ish()), ("finish", string_ish())]),
        ),
        (
            "cancel",
            list_of(shaped(vec![
                ("event", string_ish()),
                ("timeout", string_ish()),
                ("if", string_ish()),
            ])),
        ),
    ])
}

/// A register payload as sent, sometimes with wrong types.
fn register_shaped() -> BoxedStrategy<Value> {
    shaped(vec![
        ("url", string_ish()),
        ("v", string_ish()),
        ("deployType", string_ish()),
        ("sdk", string_ish()),
        ("framework", string_ish()),
        ("appName", string_ish()),
        ("app_id", string_ish()),
        ("appVersion", string_ish()),
        ("functions", list_of(function_shaped())),
        (
            "capabilities",
            shaped(vec![
                ("trust_probe", string_ish()),
                ("connect", string_ish()),
                ("in_band_sync", string_ish()),
            ]),
        ),
        ("featureObservations", json()),
    ])
}

fn register_json() -> BoxedStrategy<Value> {
    prop_oneof![
        1 => json(),
        3 => register_shaped(),
        1 => function_shaped(),
        2 => break_somewhere(register_request().prop_map(|r| serde_json::to_value(r).unwrap()).boxed()),
    ]
    .boxed()
}

proptest! {
    #![proptest_config(config(2000))]

    /// Any JSON: the register payload, function configs, triggers, concurrency and the
    /// other sync bodies decode or fail cleanly; decoded configs answer their helpers and
    /// encode again.
    #[test]
    fn register_payload_from_any_json(value in register_json()) {
        if let Ok(request) = serde_json::from_value::<RegisterRequest>(value.clone()) {
            for function in &request.functions {
                let _ = (function.retries(), function.concurrency_limits());
            }
            let again = serde_json::to_value(&request).unwrap();
            prop_assert_eq!(serde_json::from_value::<RegisterRequest>(again).unwrap(), request);
        }
        if let Ok(function) = serde_json::from_value::<FunctionConfig>(value.clone()) {
            let _ = (function.retries(), function.concurrency_limits());
            serde_json::to_value(&function).unwrap();
        }
        for part in [&value["functions"], &value["triggers"], &value["concurrency"], &value] {
            let _ = serde_json::from_value::<Vec<Trigger>>(part.clone());
            let _ = serde_json::from_value::<Trigger>(part.clone());
            if let Ok(limits) = serde_json::from_value::<ConcurrencyLimits>(part.clone()) {
                let _ = limits.to_vec();
            }
        }
        let _ = serde_json::from_value::<RegisterResponse>(value.clone());
        let _ = serde_json::from_value::<Introspection>(value.clone());
        let _ = serde_json::from_value::<InBandSync>(value.clone());
        let _ = serde_json::from_value::<SyncReply>(value.clone());
        let bytes = serde_json::to_vec(&value).unwrap();
        let _ = serde_json::from_slice::<RegisterRequest>(&bytes);
    }

    /// Any bytes: the register payload decoder answers or fails cleanly.
    #[test]
    fn register_payload_from_any_bytes(bytes in body_bytes(register_json())) {
        let _ = serde_json::from_slice::<RegisterRequest>(&bytes);
        let _ = serde_json::from_slice::<RegisterResponse>(&bytes);
        let _ = serde_json::from_slice::<FunctionConfig>(&bytes);
    }

    /// Round trip: a valid register payload (functions, triggers, flow control) encodes
    /// and decodes back equal.
    #[test]
    fn register_payload_round_trips(request in register_request()) {
        let bytes = serde_json::to_vec(&request).unwrap();
        prop_assert_eq!(serde_json::from_slice::<RegisterRequest>(&bytes).unwrap(), request);
    }
}

proptest! {
    #![proptest_config(config(2000))]

    /// Nesting of any depth: every decoder refuses what is too deep with an error (serde's
    /// recursion limit) rather than overflowing the stack.
    #[test]
    fn deep_nesting_is_an_error(
        depth in prop_oneof![1..200usize, 200..3_000usize],
        open in prop::sample::select(vec!["[", "{\"a\":", "{\"event\":", "{\"data\":"]),
        wrapper in prop::sample::select(vec!["{\"event\":{\"data\":%}}", "[{\"id\":\"h\",\"op\":\"Sleep\",\"data\":%}]", "{\"steps\":{\"h\":%}}", "%"]),
    ) {
        let mut inner = open.repeat(depth);
        inner.push('1');
        for _ in 0..depth {
            inner.push(if open == "[" { ']' } else { '}' });
        }
        let body = wrapper.replace('%', &inner);
        let bytes = body.as_bytes();
        let _ = serde_json::from_slice::<ExecutionRequest>(bytes);
        let _ = serde_json::from_slice::<ExecutionRequest<Box<RawValue>, Box<RawValue>>>(bytes);
        let _ = decode_ops(bytes);
        let _ = serde_json::from_slice::<Event>(bytes);
        let _ = serde_json::from_slice::<RegisterRequest>(bytes);
        let _ = serde_json::from_slice::<ErrorBody>(bytes);
        // An op array is read as JSON values first: past serde's limit of 128 levels, that
        // is an error. (Typed decoders skip an unknown field of any depth without recursing.)
        if depth > 200 {
            prop_assert!(decode_ops(bytes).is_err());
        }
    }
}
