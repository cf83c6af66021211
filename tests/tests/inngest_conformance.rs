//! Conformance of `inngest-module` with the Inngest protocol, against real peers:
//! - the npm `inngest` SDK (`tests/js-peer`, the app that produced the recordings), sent the
//!   same execution requests as the Rust twin app, answers compared op for op;
//! - the recordings of a real Inngest server talking to that SDK, replayed against Rust;
//! - the JS SDK's own signing code, for signatures both ways;
//! - a corpus of forged requests, all refused before any user code runs.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use framework::{Environment, Module, Provider, TestingModule};
use inngest_module::signature::{sign, signature_header};
use inngest_module::{Hooks, InngestHook, InngestModule, RunInfo};
use serde_json::{Value, json};
use support::*;

fn header(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn execution_requests_match_the_js_sdk_and_the_recordings() {
    let server = ServerStandIn::start().await;
    let js = JsPeer::start(&[("INNGEST_DEV", &server.url)]).await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();

    let mut compared = BTreeMap::<String, usize>::new();
    for exchange in recorded_exchanges() {
        if exchange.method != "POST" || !exchange.url.contains("fnId=") {
            continue;
        }
        let context = format!("{} {}", exchange.scenario, exchange.url);
        let (from_rust, rust_headers) =
            normalize_response(replay(&client, &rust.base_url(), &exchange, None).await).await;
        let (from_js, _) =
            normalize_response(replay(&client, &js.base, &exchange, None).await).await;
        let recorded = normalize(
            exchange.status,
            |name| header(&exchange.response_headers, name),
            &exchange.response_body,
        );

        assert_eq!(
            from_rust, from_js,
            "Rust and the JS SDK differ on {context}"
        );
        // 14a recorded a cloud-mode peer refusing the dev server's unsigned requests; the
        // replay here is in dev mode on both sides, so only the live comparison applies.
        if !exchange.scenario.starts_with("14a") {
            assert_eq!(
                from_rust, recorded,
                "Rust differs from what the real server received on {context}"
            );
        }
        assert!(
            rust_headers.contains_key("x-inngest-sdk"),
            "{context}: no X-Inngest-SDK"
        );
        assert_eq!(rust_headers["x-inngest-req-version"], "2", "{context}");
        *compared.entry(exchange.scenario.clone()).or_default() += 1;
    }
    // Every step kind, error kind and parallelism case was exercised.
    for scenario in [
        "01-run-sleep",
        "02-sleep-until",
        "03-wait-for-event-matched",
        "04-wait-for-event-timeout",
        "05-send-event",
        "06-invoke",
        "07-step-error-then-success",
        "08-non-retriable-error",
        "09-retry-after-error",
        "10-parallel-steps",
        "11-repeated-step-ids",
        "13-cancellation",
        "14b-signed-cloud-peer-vs-inngest-start",
        "14c-signature-jcs-edge-u2028",
    ] {
        assert!(
            compared.get(scenario).copied().unwrap_or(0) >= 1,
            "no request replayed from {scenario}: {compared:?}"
        );
    }
    assert!(compared.values().sum::<usize>() >= 35, "{compared:?}");

    // The send-event step sent its two events through the Event API, with a seed header.
    let sent: Vec<_> = server
        .take()
        .into_iter()
        .filter(|r| r.path.starts_with("/e/"))
        .collect();
    assert!(sent.len() >= 2, "both SDKs sent events");
    for request in &sent {
        assert_eq!(request.path, "/e/NO_EVENT_KEY_SET");
        let seed = request.headers["x-inngest-event-id-seed"].to_str().unwrap();
        assert!(
            seed.split_once(',')
                .is_some_and(|(ms, _)| ms.parse::<u64>().is_ok()),
            "{seed}"
        );
        let names: Vec<_> = request
            .body
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["name"].clone())
            .collect();
        assert_eq!(names, [json!("test/child"), json!("test/child")]);
        assert!(request.body[0]["ts"].as_i64().unwrap() > 0);
    }
    rust.shutdown().await.unwrap();
}

/// Requests the recordings do not cover, built from them: a planned step run by stepId with
/// memo, a step failing on its last attempt, a memoized step error caught or not, a missing
/// targeted step, disable_immediate_execution with one step.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn synthesized_requests_match_the_js_sdk() {
    let server = ServerStandIn::start().await;
    let js = JsPeer::start(&[("INNGEST_DEV", &server.url)]).await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();
    let base = recorded_exchanges()
        .into_iter()
        .find(|e| e.scenario == "07-step-error-then-success" && e.method == "POST")
        .unwrap();
    let body: Value = serde_json::from_str(&base.body).unwrap();
    let flaky = inngest_module::protocol::hash_step_id("flaky");
    let parallel = recorded_exchanges()
        .into_iter()
        .find(|e| e.scenario == "10-parallel-steps" && e.method == "POST")
        .unwrap();
    let parallel_body: Value = serde_json::from_str(&parallel.body).unwrap();
    let a = inngest_module::protocol::hash_step_id("a");
    let b = inngest_module::protocol::hash_step_id("b");

    let mut cases: Vec<(&str, String, Value)> = Vec::new();
    // The last attempt of a failing step: StepFailed, no retry.
    let mut last = body.clone();
    last["ctx"]["attempt"] = json!(0);
    last["ctx"]["max_attempts"] = json!(1);
    cases.push(("step fails on its last attempt", base.url.clone(), last));
    // A memoized step error that user code does not catch: the run fails, not retried.
    let mut memo_error = body.clone();
    memo_error["steps"] =
        json!({ flaky.clone(): { "error": { "name": "Error", "message": "boom", "stack": "s" } } });
    memo_error["ctx"]["stack"] = json!({ "stack": [flaky], "current": 1 });
    cases.push(("memoized step error", base.url.clone(), memo_error));
    // disable_immediate_execution: the single step is planned, not run.
    let mut planned = body.clone();
    planned["ctx"]["disable_immediate_execution"] = json!(true);
    cases.push(("immediate execution disabled", base.url.clone(), planned));
    // Parallel: target `a` while `b` is memoized.
    let mut target = parallel_body.clone();
    target["steps"] = json!({ b.clone(): { "data": "B" } });
    target["ctx"]["disable_immediate_execution"] = json!(true);
    cases.push((
        "targeted step with a sibling memoized",
        parallel.url.replace("stepId=step", &format!("stepId={a}")),
        target,
    ));
    // Parallel: both memoized, the function returns.
    let mut done = parallel_body.clone();
    done["steps"] = json!({ a.clone(): { "data": "A" }, b.clone(): { "data": "B" } });
    cases.push(("both parallel steps memoized", parallel.url.clone(), done));
    // Parallel: one memoized, the other found alone: it runs at once.
    let mut one = parallel_body.clone();
    one["steps"] = json!({ a.clone(): { "data": "A" } });
    cases.push(("one of two parallel steps left", parallel.url.clone(), one));

    for (what, url, body) in cases {
        let exchange = Exchange {
            url,
            body: body.to_string(),
            ..base.clone()
        };
        let (from_rust, _) =
            normalize_response(replay(&client, &rust.base_url(), &exchange, None).await).await;
        let (from_js, _) =
            normalize_response(replay(&client, &js.base, &exchange, None).await).await;
        assert_eq!(from_rust, from_js, "Rust and the JS SDK differ: {what}");
    }
    // A targeted step that does not exist: both answer 500, retriable.
    let mut missing = parallel_body.clone();
    missing["ctx"]["disable_immediate_execution"] = json!(true);
    let exchange = Exchange {
        url: parallel.url.replace("stepId=step", "stepId=ffff"),
        body: missing.to_string(),
        ..base.clone()
    };
    let (from_rust, _) =
        normalize_response(replay(&client, &rust.base_url(), &exchange, None).await).await;
    let (from_js, _) = normalize_response(replay(&client, &js.base, &exchange, None).await).await;
    assert_eq!(
        (from_rust.status, &from_rust.no_retry),
        (from_js.status, &from_js.no_retry)
    );
    assert_eq!(from_rust.body["requestedStep"], "ffff");
    rust.shutdown().await.unwrap();
}

fn by_id(functions: &Value) -> BTreeMap<String, Value> {
    functions
        .as_array()
        .unwrap()
        .iter()
        .map(|f| (f["id"].as_str().unwrap().to_string(), f.clone()))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_payload_matches_the_js_sdk() {
    let server = ServerStandIn::start().await;
    let js = JsPeer::start(&[("INNGEST_DEV", &server.url)]).await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();

    let put = |base: String| {
        let client = client.clone();
        async move {
            client
                .put(format!("{base}/api/inngest"))
                .header("x-inngest-server-kind", "dev")
                .send()
                .await
                .unwrap()
        }
    };
    let rust_reply = put(rust.base_url()).await;
    assert_eq!(rust_reply.status(), 200);
    assert_eq!(rust_reply.headers()["x-inngest-sync-kind"], "out_of_band");
    assert_eq!(
        rust_reply.headers()["x-inngest-expected-server-kind"],
        "dev"
    );
    let reply: Value = rust_reply.json().await.unwrap();
    assert_eq!(
        reply,
        json!({ "message": "Successfully synced.", "modified": true })
    );
    let rust_register = server.take().pop().expect("Rust registered");
    assert_eq!(put(js.base.clone()).await.status(), 200);
    let js_register = server.take().pop().expect("JS registered");

    for register in [&rust_register, &js_register] {
        assert_eq!(register.path, "/fn/register");
        assert_eq!(register.headers["x-inngest-sync-kind"], "out_of_band");
        assert_eq!(register.headers["x-inngest-expected-server-kind"], "dev");
    }
    let (rust_body, js_body) = (&rust_register.body, &js_register.body);
    for key in ["v", "deployType", "appName", "capabilities"] {
        assert_eq!(rust_body[key], js_body[key], "register `{key}`");
    }
    assert_eq!(
        rust_body["sdk"],
        format!("inngest-rs:v{}", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(rust_body["url"], format!("{}/api/inngest", rust.base_url()));

    // Field for field, with each SDK's own URL swapped out.
    let rust_functions = rust_body["functions"]
        .to_string()
        .replace(&rust.base_url(), "<app>");
    let js_functions = js_body["functions"].to_string().replace(&js.base, "<app>");
    let rust_functions = by_id(&serde_json::from_str(&rust_functions).unwrap());
    let js_functions = by_id(&serde_json::from_str(&js_functions).unwrap());
    assert_eq!(
        rust_functions.keys().collect::<Vec<_>>(),
        js_functions.keys().collect::<Vec<_>>()
    );
    for (id, js_function) in &js_functions {
        let mut js_function = js_function.clone();
        if id == "js-peer-flow-control" {
            // The JS peer also batches here; the server rejects batching with cancel, debounce
            // or priority (recording 12), and the Rust module refuses it at start-up instead
            // (see `invalid_combinations_fail_at_start_up`), so the twin leaves it out.
            js_function.as_object_mut().unwrap().remove("batchEvents");
        }
        assert_eq!(rust_functions[id], js_function, "function `{id}`");
    }
    // The all-options function uses every option the recordings cover.
    let flow = &rust_functions["js-peer-flow-control"];
    for key in [
        "idempotency",
        "rateLimit",
        "throttle",
        "concurrency",
        "debounce",
        "priority",
        "timeouts",
        "cancel",
    ] {
        assert!(flow.get(key).is_some(), "flow-control registers `{key}`");
    }

    // `deployId` goes on the register URL, never into the registered URLs.
    let reply = client
        .put(format!("{}/api/inngest?deployId=d-1", rust.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let register = server.take().pop().expect("Rust registered again");
    assert_eq!(register.query.as_deref(), Some("deployId=d-1"));
    assert!(!register.body.to_string().contains("d-1"));
    rust.shutdown().await.unwrap();
}

/// Counts execution requests that reached user code.
#[derive(Default)]
struct RunCounter(AtomicUsize);

impl InngestHook for RunCounter {
    fn on_run_start(&self, _run: &RunInfo) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

fn counter_module(counter: Arc<RunCounter>) -> Module {
    Module::new("counter").provider(
        Provider::arc_value(counter)
            .contribute::<Hooks, _>(|this| Arc::clone(this) as Arc<dyn InngestHook>),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signatures_interoperate_with_the_js_sdk() {
    // The protocol's test vector is checked in the unit tests; here the two SDKs check each other.
    let server = ServerStandIn::start().await;
    let js = JsPeer::start(&[
        ("PEER_CLOUD", "1"),
        ("INNGEST_SIGNING_KEY", KEY),
        ("INNGEST_BASE_URL", &server.url),
    ])
    .await;
    let counter = Arc::new(RunCounter::default());
    let rust = rust_peer(
        &format!("signing_key = \"{KEY}\"\nbase_url = \"{}\"", server.url),
        counter_module(Arc::clone(&counter)),
    )
    .await;
    let client = reqwest::Client::new();

    let signed: Vec<_> = recorded_exchanges()
        .into_iter()
        .filter(|e| e.scenario.starts_with("14b") && e.method == "POST" && e.url.contains("fnId="))
        .collect();
    assert!(signed.len() >= 3);
    for exchange in &signed {
        // The recorded signature is the server's (verified here, though expired by now).
        let recorded = header(&exchange.headers, "x-inngest-signature").unwrap();
        let t: i64 = recorded
            .split('&')
            .next()
            .unwrap()
            .trim_start_matches("t=")
            .parse()
            .unwrap();
        assert_eq!(
            format!("t={t}&s={}", sign(KEY, exchange.body.as_bytes(), t)),
            recorded,
            "Rust signs like the server"
        );

        // Signed now by Rust: the JS SDK accepts it and so does Rust.
        let now = now_secs();
        let by_rust = signature_header(KEY, exchange.body.as_bytes(), now);
        let js_reply = replay(&client, &js.base, exchange, Some(by_rust.clone())).await;
        assert_ne!(
            js_reply.status(),
            401,
            "the JS SDK accepts a Rust-signed request"
        );
        // Signed now by the JS SDK's code: Rust accepts it.
        let by_js = js_sign(
            &json!({ "op": "sign", "data": exchange.body, "key": KEY, "ts": now.to_string() }),
        );
        let by_js = format!("t={now}&s={}", by_js["signature"].as_str().unwrap());
        assert_eq!(by_js, by_rust);
        let rust_reply = replay(&client, &rust.base_url(), exchange, Some(by_js)).await;
        assert_ne!(rust_reply.status(), 401, "Rust accepts a JS-signed request");
        // The Rust response is signed; the JS SDK's code verifies it.
        let response_signature = rust_reply.headers()["x-inngest-signature"]
            .to_str()
            .unwrap()
            .to_string();
        let response_body = rust_reply.text().await.unwrap();
        let verdict = js_sign(
            &json!({ "op": "verify", "header": response_signature, "body": response_body, "key": KEY }),
        );
        assert_eq!(verdict["ok"], true, "{verdict}");
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), signed.len());
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forged_requests_are_rejected_before_user_code() {
    let counter = Arc::new(RunCounter::default());
    let fallback = "signkey-test-00112233445566778899aabbccddeeff";
    let rust = rust_peer(
        &format!("signing_key = \"{KEY}\"\nsigning_key_fallback = \"{fallback}\"\nevent_key = \"evt-secret-key\""),
        counter_module(Arc::clone(&counter)),
    )
    .await;
    let client = reqwest::Client::new();
    let exchange = recorded_exchanges()
        .into_iter()
        .find(|e| e.scenario.starts_with("01") && e.method == "POST")
        .unwrap();
    let body = exchange.body.clone();
    let now = now_secs();
    let wrong_key =
        "signkey-test-aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    // (what, body, signature header); sent as the recorded POST unless noted below.
    let mut corpus: Vec<(String, String, Option<String>)> = Vec::new();
    corpus.push(("unsigned".into(), body.clone(), None));
    corpus.push(("empty header".into(), body.clone(), Some(String::new())));
    for malformed in [
        "t=",
        "s=",
        "t=abc&s=00",
        "s=00&t=",
        &format!("t={now}"),
        &format!("s={}", sign(KEY, body.as_bytes(), now)),
        &format!("t={now}&s=zz"),
        &format!("t={now}&s="),
        "garbage",
        "t=1.5&s=00",
    ] {
        corpus.push((
            format!("malformed `{malformed}`"),
            body.clone(),
            Some(malformed.to_string()),
        ));
    }
    for key in [
        wrong_key,
        "signkey-prod-7f3a9c2e",
        "signkey-test-",
        "7f3a9c2e",
        &KEY.to_uppercase(),
    ] {
        corpus.push((
            format!("wrong key {}", &key[..12.min(key.len())]),
            body.clone(),
            Some(signature_header(key, body.as_bytes(), now)),
        ));
    }
    // The corpus is signed now and sent over the next seconds: a past timestamp only ages,
    // but a future one shrinks towards the window, so future offsets keep a 30 s margin.
    for offset in [
        -86_400, -3_601, -601, -302, -301, 331, 360, 601, 3_601, 86_400,
    ] {
        corpus.push((
            format!("timestamp {offset:+}s"),
            body.clone(),
            Some(signature_header(KEY, body.as_bytes(), now + offset)),
        ));
    }
    for position in [
        0,
        1,
        10,
        50,
        100,
        200,
        300,
        400,
        body.len() / 2,
        body.len() - 2,
    ] {
        let mut tampered = body.clone().into_bytes();
        tampered[position] = if tampered[position] == b'1' {
            b'2'
        } else {
            b'1'
        };
        let tampered = String::from_utf8_lossy(&tampered).to_string();
        corpus.push((
            format!("tampered at byte {position}"),
            tampered,
            Some(signature_header(KEY, body.as_bytes(), now)),
        ));
    }
    let other: Value = {
        let mut v: Value = serde_json::from_str(&body).unwrap();
        v["event"]["data"]["name"] = json!("mallory");
        v
    };
    corpus.push((
        "signature of another body".into(),
        other.to_string(),
        Some(signature_header(KEY, body.as_bytes(), now)),
    ));
    corpus.push((
        "timestamp swapped after signing".into(),
        body.clone(),
        Some(signature_header(KEY, body.as_bytes(), now).replacen(
            &format!("t={now}"),
            &format!("t={}", now - 1),
            1,
        )),
    ));
    let valid = signature_header(KEY, body.as_bytes(), now);
    let (_, s) = valid.split_once("&s=").unwrap();
    corpus.push((
        "truncated signature".into(),
        body.clone(),
        Some(format!("t={now}&s={}", &s[..32])),
    ));
    corpus.push((
        "signature with a flipped digit".into(),
        body.clone(),
        Some(format!(
            "t={now}&s={}{}",
            if s.starts_with('0') { "1" } else { "0" },
            &s[1..]
        )),
    ));
    corpus.push((
        "signature over the body with a trailing newline".into(),
        body.clone(),
        Some(signature_header(KEY, format!("{body}\n").as_bytes(), now)),
    ));
    corpus.push((
        "signature over the key".into(),
        body.clone(),
        Some(format!(
            "t={now}&s={}",
            KEY.trim_start_matches("signkey-test-")
        )),
    ));
    for extreme in [
        "-9223372036854775808",
        "9223372036854775807",
        "-1",
        "99999999999999999999",
    ] {
        corpus.push((
            format!("timestamp {extreme}"),
            body.clone(),
            Some(format!("t={extreme}&s={}", "0".repeat(64))),
        ));
    }
    corpus.push((
        "signature of an empty body".into(),
        body.clone(),
        Some(signature_header(KEY, b"", now)),
    ));
    corpus.push((
        "empty body".into(),
        String::new(),
        Some(signature_header(KEY, body.as_bytes(), now)),
    ));
    corpus.push((
        "sha1 instead of sha256".into(),
        body.clone(),
        Some(format!(
            "t={now}&s={}",
            inngest_module::protocol::hash_step_id(&body)
        )),
    ));

    let mut requests: Vec<(String, &str, String, String, Option<String>)> = corpus
        .into_iter()
        .map(|(what, body, signature)| (what, "POST", exchange.url.clone(), body, signature))
        .collect();
    let forged = Some(signature_header(wrong_key, b"{}", now));
    let sync_body = r#"{"url":"http://evil.example"}"#.to_string();
    requests.push((
        "in-band sync signed with a wrong key".into(),
        "PUT",
        "/api/inngest".into(),
        sync_body.clone(),
        forged.clone(),
    ));
    requests.push((
        "in-band sync unsigned".into(),
        "PUT",
        "/api/inngest".into(),
        sync_body,
        None,
    ));
    requests.push((
        "trust probe signed with a wrong key".into(),
        "POST",
        "/api/inngest?probe=trust".into(),
        String::new(),
        forged.clone(),
    ));
    requests.push((
        "trust probe unsigned".into(),
        "POST",
        "/api/inngest?probe=trust".into(),
        String::new(),
        None,
    ));
    requests.push((
        "introspection signed with a wrong key".into(),
        "GET",
        "/api/inngest".into(),
        String::new(),
        forged,
    ));
    assert!(requests.len() >= 50, "{} forged requests", requests.len());

    for (what, method, url, body, signature) in &requests {
        let mut request = client
            .request(method.parse().unwrap(), format!("{}{url}", rust.base_url()))
            .body(body.clone());
        if *method == "PUT" {
            request = request.header("x-inngest-sync-kind", "in_band");
        }
        if let Some(signature) = signature {
            request = request.header("x-inngest-signature", signature);
        }
        let reply = request.send().await.unwrap();
        // As inngest-js answers (recording 15): a bare 401 that says nothing of the SDK.
        assert_eq!(reply.status(), 401, "{what}");
        assert!(!reply.headers().contains_key("x-inngest-sdk"), "{what}");
        assert!(
            !reply.headers().contains_key("x-inngest-req-version"),
            "{what}"
        );
        assert_eq!(reply.headers()["x-inngest-sdk-handled"], "true", "{what}");
        let text = reply.text().await.unwrap();
        assert_eq!(text, r#"{"message":"Unauthorized"}"#, "{what}");
        for secret in [
            KEY.trim_start_matches("signkey-test-"),
            fallback.trim_start_matches("signkey-test-"),
            "evt-secret-key",
        ] {
            assert!(
                !text.contains(secret),
                "{what}: the response leaks a secret"
            );
        }
    }
    assert_eq!(
        counter.0.load(Ordering::SeqCst),
        0,
        "no forged request reached user code"
    );

    // The same request, correctly signed (and with the fallback key), runs.
    for key in [KEY, fallback] {
        let reply = client
            .post(format!("{}{}", rust.base_url(), exchange.url))
            .header(
                "x-inngest-signature",
                signature_header(key, body.as_bytes(), now_secs()),
            )
            .body(body.clone())
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 206);
    }
    assert_eq!(counter.0.load(Ordering::SeqCst), 2);
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_probe_in_band_sync_and_bad_input() {
    let event_key = "evtkey-test-0123456789";
    let rust = rust_peer(
        &format!("signing_key = \"{KEY}\"\nevent_key = \"{event_key}\""),
        Module::new("extra"),
    )
    .await;
    let client = reqwest::Client::new();
    let base = format!("{}/api/inngest", rust.base_url());

    // Unsigned GET in cloud mode: refused, exactly as the recorded JS SDK refuses it.
    let recorded_refusal = recorded_exchanges()
        .into_iter()
        .find(|e| e.scenario.starts_with("15") && e.status == 401)
        .unwrap();
    let reply = client.get(&base).send().await.unwrap();
    assert_eq!(reply.status().as_u16(), recorded_refusal.status);
    for name in [
        "x-inngest-sdk",
        "x-inngest-req-version",
        "x-inngest-framework",
    ] {
        assert_eq!(
            reply.headers().contains_key(name),
            recorded_refusal.response_headers.get(name).is_some(),
            "{name}"
        );
    }
    let refusal: Value = reply.json().await.unwrap();
    let recorded_body: Value = serde_json::from_str(&recorded_refusal.response_body).unwrap();
    assert_eq!(refusal, recorded_body);

    // Signed GET: the authenticated body, as the recorded JS SDK answered.
    let recorded: Value = recorded_exchanges()
        .into_iter()
        .filter(|e| e.scenario.starts_with("15") && e.status == 200)
        .filter_map(|e| serde_json::from_str::<Value>(&e.response_body).ok())
        .find(|b| b["authentication_succeeded"] == true)
        .unwrap();
    let reply = client
        .get(&base)
        .header(
            "x-inngest-signature",
            signature_header(KEY, b"", now_secs()),
        )
        .send()
        .await
        .unwrap();
    assert!(
        reply.headers().contains_key("x-inngest-signature"),
        "the response is signed"
    );
    let reply: Value = reply.json().await.unwrap();
    assert_eq!(reply["authentication_succeeded"], true);
    // Only a prefix of the key's hash (the whole hash is an API credential).
    assert_eq!(reply["signing_key_hash"], recorded["signing_key_hash"]);
    assert_eq!(reply["signing_key_hash"].as_str().unwrap().len(), 12);
    assert_eq!(
        reply["event_key_hash"],
        inngest_module::signature::sha256_hex(event_key)
    );
    let mut rust_keys: Vec<_> = reply.as_object().unwrap().keys().cloned().collect();
    // Both carry `extra`: the JS SDK's runtime notes, this app's executor (embedded here).
    let mut js_keys: Vec<_> = recorded.as_object().unwrap().keys().cloned().collect();
    rust_keys.retain(|k| {
        k != "has_signing_key_fallback"
            && k != "function_count"
            && k != "has_event_key"
            && k != "has_signing_key"
            && k != "mode"
            && k != "schema_version"
    });
    js_keys.retain(|k| {
        k != "has_signing_key_fallback"
            && k != "function_count"
            && k != "has_event_key"
            && k != "has_signing_key"
            && k != "mode"
            && k != "schema_version"
    });
    rust_keys.sort();
    js_keys.sort();
    assert_eq!(rust_keys, js_keys);

    // Trust probe: 200 with an empty body once signed.
    let probe = client
        .post(format!("{base}?probe=trust"))
        .header(
            "x-inngest-signature",
            signature_header(KEY, b"", now_secs()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 200);
    assert_eq!(probe.text().await.unwrap(), "");

    // In-band sync: the signed {url} body gets the app's config.
    let sync_body = json!({ "url": "https://shop.example.com/api/inngest" }).to_string();
    let sync = client
        .put(&base)
        .header("x-inngest-sync-kind", "in_band")
        .header(
            "x-inngest-signature",
            signature_header(KEY, sync_body.as_bytes(), now_secs()),
        )
        .body(sync_body)
        .send()
        .await
        .unwrap();
    assert_eq!(sync.status(), 200);
    assert_eq!(sync.headers()["x-inngest-sync-kind"], "in_band");
    let sync: Value = sync.json().await.unwrap();
    assert_eq!(sync["app_id"], "js-peer");
    assert_eq!(sync["url"], "https://shop.example.com/api/inngest");
    assert_eq!(sync["sdk_language"], "rust");
    assert_eq!(sync["inspection"]["authentication_succeeded"], true);
    assert!(sync["functions"].as_array().unwrap().len() >= 20);
    let step_url = sync["functions"][0]["steps"]["step"]["runtime"]["url"]
        .as_str()
        .unwrap();
    assert!(
        step_url.starts_with("https://shop.example.com/api/inngest?fnId=js-peer-"),
        "{step_url}"
    );
    // A signed body that is not exactly {url}: 400.
    let bad = json!({ "url": "x", "more": 1 }).to_string();
    let bad = client
        .put(&base)
        .header("x-inngest-sync-kind", "in_band")
        .header(
            "x-inngest-signature",
            signature_header(KEY, bad.as_bytes(), now_secs()),
        )
        .body(bad)
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // Bad input, correctly signed: malformed JSON, unknown function, no fnId, other methods.
    let signed_post = |url: String, body: &'static str| {
        client
            .post(url)
            .header(
                "x-inngest-signature",
                signature_header(KEY, body.as_bytes(), now_secs()),
            )
            .body(body)
    };
    let malformed = signed_post(
        format!("{base}?fnId=js-peer-step-sleep&stepId=step"),
        "{not json",
    )
    .send()
    .await
    .unwrap();
    assert_eq!(malformed.status(), 400);
    assert_eq!(malformed.headers()["x-inngest-no-retry"], "true");
    let text = malformed.text().await.unwrap();
    assert!(text.contains("not valid JSON"), "{text}");
    let unknown = signed_post(format!("{base}?fnId=js-peer-nope&stepId=step"), "{}")
        .send()
        .await
        .unwrap();
    assert_eq!(unknown.status(), 500);
    let text = unknown.text().await.unwrap();
    assert!(text.contains("no function `js-peer-nope`"), "{text}");
    assert_eq!(
        signed_post(base.clone(), "{}")
            .send()
            .await
            .unwrap()
            .status(),
        400
    );
    let delete = client.delete(&base).send().await.unwrap();
    assert_eq!(delete.status(), 405);
    assert!(delete.headers().contains_key("x-inngest-sdk"));

    // Bad payload type: a typed function whose event does not fit fails without retries.
    // Body over the limit: 413 with SDK headers.
    let big = "x".repeat(5 * 1024 * 1024);
    let too_big = client
        .post(format!("{base}?fnId=js-peer-step-sleep"))
        .body(big)
        .send()
        .await
        .unwrap();
    assert_eq!(too_big.status(), 413);
    assert!(too_big.headers().contains_key("x-inngest-sdk"));
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_host_and_serve_port_replace_the_registered_host_and_port() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(
        &format!(
            "dev = \"{}\"\nserve_host = \"public.example.com\"\nserve_port = 8443\n[server]\ntrusted_proxies = [\"127.0.0.1\"]",
            server.url
        ),
        Module::new("extra"),
    )
    .await;
    let reply = reqwest::Client::new()
        .put(format!("{}/api/inngest", rust.base_url()))
        .header("x-forwarded-proto", "https")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let register = server.take().pop().expect("registered");
    assert_eq!(
        register.body["url"],
        "https://public.example.com:8443/api/inngest"
    );
    let step_url = register.body["functions"][0]["steps"]["step"]["runtime"]["url"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        step_url.starts_with("https://public.example.com:8443/api/inngest?fnId="),
        "{step_url}"
    );
}

/// Forwarded headers are believed only from `server.trusted_proxies`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarded_headers_from_an_untrusted_peer_are_ignored() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let reply = reqwest::Client::new()
        .put(format!("{}/api/inngest", rust.base_url()))
        .header("x-forwarded-proto", "https")
        .header("x-forwarded-host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let register = server.take().pop().expect("registered");
    assert_eq!(
        register.body["url"],
        format!("{}/api/inngest", rust.base_url()),
        "the request's own Host and plain http"
    );
}

/// Cloud mode (production): an unsigned `PUT` with a forged `Host`, forwarded headers, a
/// `deployId` and a server kind registers the configured origin and forwards none of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unsigned_sync_in_cloud_mode_forwards_nothing_from_the_request() {
    let server = ServerStandIn::start().await;
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .import(e2e_tests::peer::module());
    let rust = TestingModule::new(root)
        .environment(Environment::Production)
        .config(format!(
            "[server]\nport = 0\n[inngest]\napp_id = \"js-peer\"\nsigning_key = \"{KEY}\"\nevent_key = \"evt\"\nbase_url = \"{}\"\nserve_origin = \"https://shop.example.com\"",
            server.url
        ))
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    let forged = |request: reqwest::RequestBuilder| {
        request
            .header("host", "attacker.example")
            .header("x-forwarded-proto", "https")
            .header("x-forwarded-host", "attacker.example")
            .header("x-inngest-server-kind", "dev")
    };
    let reply = forged(client.put(format!(
        "{}/api/inngest?deployId=attacker-deploy",
        rust.base_url()
    )))
    .send()
    .await
    .unwrap();
    assert_eq!(reply.status(), 200);
    let register = server.take().pop().expect("registered");
    assert_eq!(register.body["url"], "https://shop.example.com/api/inngest");
    assert_eq!(register.query, None, "no deployId");
    assert!(
        !register
            .headers
            .contains_key("x-inngest-expected-server-kind")
    );
    assert!(
        register.headers["authorization"]
            .to_str()
            .unwrap()
            .starts_with("Bearer signkey-test-"),
        "the app authenticates its own sync"
    );

    // A signed PUT (as Inngest Cloud sends) does pass its deployId on.
    let reply = client
        .put(format!("{}/api/inngest?deployId=d-123", rust.base_url()))
        .header(
            "x-inngest-signature",
            signature_header(KEY, b"", now_secs()),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), 200);
    let register = server.take().pop().expect("registered");
    assert_eq!(register.query.as_deref(), Some("deployId=d-123"));
    rust.shutdown().await.unwrap();
}

/// `use_api` loads a run's data from the API with the app's key: a run id that is not a run
/// id (a path, a query) never becomes part of that URL.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_use_api_run_id_cannot_steer_the_api_request() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(
        &format!("signing_key = \"{KEY}\"\nbase_url = \"{}\"", server.url),
        Module::new("extra"),
    )
    .await;
    let exchange = recorded_exchanges()
        .into_iter()
        .find(|e| e.scenario.starts_with("01") && e.method == "POST")
        .unwrap();
    let client = reqwest::Client::new();
    for run_id in ["../../fn/register", "x?deployId=1", "a/b", "", "%2e%2e"] {
        let mut body: Value = serde_json::from_str(&exchange.body).unwrap();
        body["ctx"]["use_api"] = json!(true);
        body["ctx"]["run_id"] = json!(run_id);
        let body = body.to_string();
        let reply = client
            .post(format!("{}{}", rust.base_url(), exchange.url))
            .header(
                "x-inngest-signature",
                signature_header(KEY, body.as_bytes(), now_secs()),
            )
            .body(body)
            .send()
            .await
            .unwrap();
        assert_eq!(reply.status(), 500, "{run_id}");
        let reply: Value = reply.json().await.unwrap();
        assert!(
            reply["message"]
                .as_str()
                .unwrap()
                .contains("is not a run id"),
            "{run_id}: {reply}"
        );
    }
    assert!(server.take().is_empty(), "no request reached the API");
    rust.shutdown().await.unwrap();
}
