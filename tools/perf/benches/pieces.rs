//! The pieces of the serve path timed alone, on the load test's request
//! (`requests/shop-process-order.json`), with hot caches: what the floor does (parse the
//! whole body as a `Value`, one HMAC) beside what the SDK does (decode the request with
//! payloads kept as JSON text, verify, decode the event's data, sign the response, hash a
//! step id). See docs/PERFORMANCE.md, "Where the rest goes".
//!
//! ```sh
//! cargo bench -p perf --bench pieces
//! ```

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use inngest_protocol::{Event, ExecutionRequest, signature};
use serde_json::Value;
use serde_json::value::RawValue;

const KEY: &str = "signkey-prod-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";

/// The request with its payloads (event data, memoized values) as JSON text, as the SDK
/// reads it.
type RawRequest = ExecutionRequest<Event<Box<RawValue>>, Box<RawValue>>;

fn pieces(c: &mut Criterion) {
    let body = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/requests/shop-process-order.json"
    ))
    .unwrap();
    let now = perf::now_secs();
    let header = signature::signature_header(KEY, &body, now);
    let reply = serde_json::to_vec(&serde_json::json!([{
        "id": inngest_protocol::hash_step_id("cool-off"), "op": "Sleep", "name": "1m",
        "displayName": "cool-off", "opts": {}, "userland": {"id": "cool-off"}, "data": null
    }]))
    .unwrap();
    let request: RawRequest = serde_json::from_slice(&body).unwrap();
    let data = request.events[0].data.get().to_string();

    let mut group = c.benchmark_group("pieces");
    group.warm_up_time(Duration::from_millis(300));
    group.measurement_time(Duration::from_secs(1));
    group.bench_function("baseline_floor_parse_value", |b| {
        b.iter(|| serde_json::from_slice::<Value>(black_box(&body)).unwrap())
    });
    group.bench_function("decode_request_raw_payloads", |b| {
        b.iter(|| serde_json::from_slice::<RawRequest>(black_box(&body)).unwrap())
    });
    group.bench_function("verify_signature", |b| {
        b.iter(|| signature::verify(Some(&header), black_box(&body), &[KEY], now).unwrap())
    });
    group.bench_function("decode_event_data_value", |b| {
        b.iter(|| serde_json::from_str::<Value>(black_box(&data)).unwrap())
    });
    group.bench_function("sign_response", |b| {
        b.iter(|| signature::signature_header(KEY, black_box(&reply), now))
    });
    group.bench_function("hash_step_id", |b| {
        b.iter(|| inngest_protocol::hash_step_id(black_box("cool-off")))
    });
    group.finish();
}

criterion_group!(benches, pieces);
criterion_main!(benches);
