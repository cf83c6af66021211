//! Serve-handler benchmarks: replaying memoized steps through the app's router, request
//! signature verification and the register payload.
//!
//! Run with `cargo bench -p inngest-module --bench serve`. Every group also measures a
//! baseline in the same run, so results can be read as ratios (see `docs/PERFORMANCE.md`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{Request, StatusCode};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use framework::{Module, Provider, TestApp, TestingModule};
use inngest_module::protocol::{ExecutionRequest, hash_step_id, indexed_step_id};
use inngest_module::{
    Ctx, Error, Function, FunctionOptions, Functions, InngestModule, Registry, signature,
};
use serde_json::{Map, Value, json};
use tokio::runtime::Runtime;
use tower::ServiceExt;

/// Memoized step counts of the `execute` group.
const STEP_COUNTS: [usize; 4] = [1, 10, 100, 1_000];
/// Function counts of the `register_payload` group.
const FUNCTION_COUNTS: [usize; 2] = [1, 100];
/// The app id (`[inngest] app_id`); composite function ids are `bench-<id>`.
const APP_ID: &str = "bench";
/// The URL handed to `Registry::register_payload`.
const APP_URL: &str = "https://shop.example.com/api/inngest";
/// A well-formed signing key (the protocol's test vector key).
const KEY: &str = "signkey-test-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";
/// Signature timestamp, and "now" for verification (inside the 5-minute window).
const TS: i64 = 1_700_000_000;

fn runtime() -> Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("tokio runtime")
}

/// Builds `app` (importing the Inngest module from config, dev mode) as a test app.
fn build_app(rt: &Runtime, functions: Module) -> TestApp {
    rt.block_on(
        TestingModule::new(
            Module::new("app")
                .import(InngestModule::from_config())
                .import(functions),
        )
        .config(format!("[inngest]\napp_id = \"{APP_ID}\"\ndev = true"))
        .build(),
    )
    .expect("the bench app builds")
}

// ---------------------------------------------------------------------------------------
// execute
// ---------------------------------------------------------------------------------------

/// The provider declaring the execution functions.
struct ReplayFunctions;

/// `replay` runs `event.data.n` steps named `step` (ids `step`, `step:1`, …) and returns
/// their sum; `noop` runs no step.
fn replay_module() -> Module {
    let provider = Provider::value(ReplayFunctions)
        .contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("replay").event("bench/replay"),
                |ctx: Ctx| async move {
                    let n = ctx.event.data["n"].as_u64().unwrap_or(0);
                    let mut sum = 0_u64;
                    for i in 0..n {
                        sum += ctx.step.run("step", || async move { Ok(i) }).await?;
                    }
                    Ok::<_, Error>(json!({ "steps": n, "sum": sum }))
                },
            )
        })
        .contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("noop").event("bench/noop"),
                |_ctx: Ctx| async move { Ok::<_, Error>(json!({ "steps": 0, "sum": 0 })) },
            )
        });
    Module::new("functions").provider(provider)
}

/// An execution request as the server sends it, with steps `0..n` memoized as `{"data": i}`.
fn execution_body(event_name: &str, n: usize) -> Bytes {
    let hashes: Vec<String> = (0..n)
        .map(|i| hash_step_id(&indexed_step_id("step", i)))
        .collect();
    let steps: Map<String, Value> = hashes
        .iter()
        .enumerate()
        .map(|(i, hash)| (hash.clone(), json!({ "data": i })))
        .collect();
    let event = json!({
        "name": event_name,
        "data": { "n": n },
        "id": "01JD3V7W2Z8N4K5Q6R7S8T9V0W",
        "ts": 1_700_000_000_000_i64,
        "user": {},
        "v": "1",
    });
    let body = json!({
        "event": event,
        "events": [event],
        "steps": steps,
        "ctx": {
            "fn_id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
            "run_id": "01JD3V7W2Z8N4K5Q6R7S8T9V0X",
            "env": "dev",
            "step_id": "step",
            "attempt": 0,
            "max_attempts": 4,
            "stack": { "stack": hashes, "current": n },
            "disable_immediate_execution": false,
            "use_api": false,
        },
        "version": 1,
        "use_api": false,
    });
    Bytes::from(serde_json::to_vec(&body).unwrap())
}

fn execution_request(fn_id: &str, body: &Bytes) -> Request<Body> {
    Request::builder()
        .method("POST")
        .uri(format!("/api/inngest?fnId={APP_ID}-{fn_id}&stepId=step"))
        .header("content-type", "application/json")
        .body(Body::from(body.clone()))
        .unwrap()
}

/// Sends one request through the router; returns the status and the response body.
async fn send(router: &Router, request: Request<Body>) -> (StatusCode, Bytes) {
    let response = router.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .unwrap();
    (status, body)
}

fn execute(c: &mut Criterion) {
    let rt = runtime();
    let app = build_app(&rt, replay_module());
    let router = rt.block_on(app.router()).expect("router");

    let empty = execution_body("bench/noop", 0);
    let bodies: Vec<(usize, Bytes)> = STEP_COUNTS
        .iter()
        .map(|&n| (n, execution_body("bench/replay", n)))
        .collect();
    let body_1000 = bodies.last().map(|(_, body)| body.clone()).unwrap();

    // Sanity: every step is replayed from the memo (200 with the sum, not a 206 plan).
    let (status, body) = rt.block_on(send(&router, execution_request("noop", &empty)));
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    for (n, request_body) in &bodies {
        let (status, body) = rt.block_on(send(&router, execution_request("replay", request_body)));
        assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
        let n = *n as u64;
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value, json!({ "steps": n, "sum": n * (n.max(1) - 1) / 2 }));
    }
    let parsed: ExecutionRequest = serde_json::from_slice(&body_1000).unwrap();
    assert_eq!(parsed.steps.len(), 1_000);
    eprintln!(
        "execute: request body {} bytes at N = 1000, {} bytes with no steps",
        body_1000.len(),
        empty.len()
    );

    let mut group = c.benchmark_group("execute");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
        .sample_size(30);

    // Baseline 1: the whole request path with a function that runs no step.
    group.bench_function("baseline_noop_0_steps", |b| {
        b.iter_batched(
            || execution_request("noop", &empty),
            |request| rt.block_on(send(&router, request)),
            BatchSize::SmallInput,
        );
    });
    // Baseline 2: the N = 1000 body sent to the function with no step (parsing and
    // per-request state, but no replay).
    group.bench_function("baseline_noop_body_1000", |b| {
        b.iter_batched(
            || execution_request("noop", &body_1000),
            |request| rt.block_on(send(&router, request)),
            BatchSize::SmallInput,
        );
    });
    // Baseline 3: deserializing the N = 1000 body alone, as the handler does.
    group.bench_function("baseline_parse_body_1000", |b| {
        b.iter(|| serde_json::from_slice::<ExecutionRequest>(black_box(&body_1000)).unwrap());
    });
    for (n, body) in &bodies {
        group.bench_with_input(BenchmarkId::new("replay", n), body, |b, body| {
            b.iter_batched(
                || execution_request("replay", body),
                |request| rt.block_on(send(&router, request)),
                BatchSize::SmallInput,
            );
        });
    }
    group.finish();
    drop(router);
    drop(app);
}

// ---------------------------------------------------------------------------------------
// signature
// ---------------------------------------------------------------------------------------

/// A realistic execution request of about 2 KB: an order event and three memoized steps.
fn signed_request_value() -> Value {
    let event = json!({
        "name": "shop/order.created",
        "id": "01JD3V7W2Z8N4K5Q6R7S8T9V0W",
        "ts": 1_700_000_000_000_i64,
        "v": "2024-11-01.1",
        "user": {},
        "data": {
            "order_id": "ord_8f3a2c71",
            "customer": { "id": "cus_19d0", "email": "ada@example.com", "tier": "gold" },
            "currency": "EUR",
            "total_cents": 12_345,
            "lines": [
                { "sku": "BOOK-0001", "title": "Structure and Interpretation", "qty": 1, "price_cents": 4_500 },
                { "sku": "MUG-0042", "title": "Coffee mug, blue", "qty": 2, "price_cents": 1_250 },
                { "sku": "PEN-0007", "title": "Fountain pen", "qty": 1, "price_cents": 5_345 },
            ],
            "shipping": { "method": "express", "country": "FR", "postcode": "75011" },
        },
    });
    let steps: Map<String, Value> = [
        (
            "reserve-stock",
            json!({ "data": { "reserved": true, "warehouse": "par-1" } }),
        ),
        (
            "charge",
            json!({ "data": { "charge_id": "ch_3PQ9x2", "amount_cents": 12_345, "captured": true } }),
        ),
        (
            "send-receipt",
            json!({ "data": ["01JD3V8A0B1C2D3E4F5G6H7J8K"] }),
        ),
    ]
    .into_iter()
    .map(|(id, memo)| (hash_step_id(id), memo))
    .collect();
    let stack: Vec<Value> = steps.keys().map(|hash| json!(hash)).collect();
    json!({
        "event": event,
        "events": [event],
        "steps": steps,
        "ctx": {
            "fn_id": "6f1c2d3e-4b5a-4c6d-8e7f-9a0b1c2d3e4f",
            "run_id": "01JD3V7W2Z8N4K5Q6R7S8T9V0X",
            "env": "production",
            "step_id": "step",
            "attempt": 0,
            "max_attempts": 4,
            "stack": { "stack": stack, "current": 3 },
            "disable_immediate_execution": false,
            "use_api": false,
        },
        "version": 1,
        "use_api": false,
    })
}

/// Writes `value` as compact JSON with every object's keys in reverse order.
fn write_reversed(value: &Value, out: &mut String) {
    match value {
        Value::Object(map) => {
            out.push('{');
            for (i, (key, item)) in map.iter().rev().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(key.clone()).to_string());
                out.push(':');
                write_reversed(item, out);
            }
            out.push('}');
        }
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_reversed(item, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

fn signature(c: &mut Criterion) {
    let value = signed_request_value();
    let canonical = signature::canonicalize(&serde_json::to_vec(&value).unwrap()).unwrap();
    let mut reordered = String::new();
    write_reversed(&value, &mut reordered);
    let reordered = reordered.into_bytes();
    let header = signature::signature_header(KEY, &canonical, TS);

    // Sanity: both bodies verify, the reordered one only through its JCS form.
    assert_ne!(reordered, canonical);
    assert_eq!(
        signature::canonicalize(&reordered).as_ref(),
        Some(&canonical)
    );
    assert_eq!(
        signature::verify(Some(&header), &canonical, &[KEY], TS),
        Ok(0)
    );
    assert_eq!(
        signature::verify(Some(&header), &reordered, &[KEY], TS),
        Ok(0)
    );
    assert_eq!(
        signature::verify(Some(&header), b"{\"tampered\":true}", &[KEY], TS),
        Err(signature::SignatureError::Mismatch)
    );
    eprintln!("signature: body {} bytes", canonical.len());

    let mut group = c.benchmark_group("signature");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50);

    // Baseline 1: one HMAC-SHA256 over the body (plus hex encoding), as `sign` does.
    group.bench_function("baseline_sign", |b| {
        b.iter(|| signature::sign(black_box(KEY), black_box(&canonical), TS));
    });
    // Baseline 2: the JCS form alone (parse into a `Value`, serialize canonically).
    group.bench_function("baseline_canonicalize", |b| {
        b.iter(|| signature::canonicalize(black_box(&canonical)));
    });
    group.bench_function("verify_canonical", |b| {
        b.iter(|| signature::verify(Some(black_box(&header)), black_box(&canonical), &[KEY], TS));
    });
    group.bench_function("verify_reordered_jcs", |b| {
        b.iter(|| signature::verify(Some(black_box(&header)), black_box(&reordered), &[KEY], TS));
    });
    group.finish();
}

// ---------------------------------------------------------------------------------------
// register_payload
// ---------------------------------------------------------------------------------------

/// The provider declaring the registered functions.
struct RegisteredFunctions;

/// `count` functions with typical options: name, event trigger, retries, concurrency,
/// throttle.
fn registered_module(count: usize) -> Module {
    let mut provider = Provider::value(RegisteredFunctions);
    for i in 0..count {
        provider = provider.contribute::<Functions, _>(move |_| {
            Function::new(
                FunctionOptions::new(format!("fn-{i}"))
                    .name(format!("Function {i}"))
                    .event(format!("shop/event-{i}"))
                    .retries(3)
                    .concurrency(10)
                    .throttle(5, "1s"),
                |_ctx: Ctx| async move { Ok::<_, Error>(Value::Null) },
            )
        });
    }
    Module::new("functions").provider(provider)
}

fn register_payload(c: &mut Criterion) {
    let rt = runtime();
    let apps: Vec<(usize, TestApp, Arc<Registry>)> = FUNCTION_COUNTS
        .iter()
        .map(|&count| {
            let app = build_app(&rt, registered_module(count));
            let registry = app.get::<Registry>().expect("registry");
            (count, app, registry)
        })
        .collect();

    // Sanity: every function is in the payload.
    for (count, _, registry) in &apps {
        let payload = registry.register_payload(APP_URL);
        assert_eq!(payload.functions.len(), *count);
        eprintln!(
            "register_payload: {count} function(s), {} bytes of JSON",
            serde_json::to_vec(&payload).unwrap().len()
        );
    }

    let mut group = c.benchmark_group("register_payload");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_millis(1500))
        .sample_size(50);
    for (count, _, registry) in &apps {
        group.bench_with_input(BenchmarkId::new("build", count), registry, |b, registry| {
            b.iter(|| registry.register_payload(black_box(APP_URL)));
        });
        // Baseline: serializing the resulting value.
        let payload = registry.register_payload(APP_URL);
        group.bench_with_input(
            BenchmarkId::new("baseline_to_vec", count),
            &payload,
            |b, payload| {
                b.iter(|| serde_json::to_vec(black_box(payload)).unwrap());
            },
        );
    }
    group.finish();
    drop(apps);
}

criterion_group!(benches, execute, signature, register_payload);
criterion_main!(benches);
