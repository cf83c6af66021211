//! Small wire details seen on the real server, each checked against a recording of
//! inngest-js: the expected server kind echoed (12, 15), origins without a trailing slash
//! (15), the execution request's trace context forwarded on a step's Event API request (05),
//! and error bodies marked `__serialized` with no made-up stack (07, 08, 09).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use framework::Module;
use serde_json::Value;
use support::*;

fn exchanges(scenario: &str) -> Vec<Exchange> {
    recorded_exchanges()
        .into_iter()
        .filter(|e| e.scenario == scenario)
        .collect()
}

fn recorded_header(exchange: &Exchange, name: &str) -> Option<String> {
    exchange.response_headers[name].as_str().map(String::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_server_kind_is_echoed_on_introspection_sync_and_execution() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();
    let url = format!("{}/api/inngest", rust.base_url());
    // 15: a GET with `X-Inngest-Server-Kind: dev`; 12: the same on a PUT.
    for (scenario, method) in [
        ("15-introspection", "GET"),
        ("12-flow-control-register", "PUT"),
    ] {
        let recorded = exchanges(scenario)
            .into_iter()
            .find(|e| e.method == method && e.headers["x-inngest-server-kind"] == "dev")
            .unwrap();
        let expected = recorded_header(&recorded, "x-inngest-expected-server-kind");
        assert_eq!(expected.as_deref(), Some("dev"), "{scenario}");
        let response = client
            .request(method.parse().unwrap(), &url)
            .header("x-inngest-server-kind", "dev")
            .send()
            .await
            .unwrap();
        let echoed = response
            .headers()
            .get("x-inngest-expected-server-kind")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(echoed, expected, "{scenario} {method}");
        // Without the request header, nothing is echoed (15's first GET).
        let plain = client
            .request(method.parse().unwrap(), &url)
            .send()
            .await
            .unwrap();
        assert!(
            !plain
                .headers()
                .contains_key("x-inngest-expected-server-kind")
        );
    }
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn introspection_shows_origins_without_a_trailing_slash() {
    let recorded = exchanges("15-introspection")
        .into_iter()
        .find(|e| e.status == 200 && e.response_body.contains("api_origin"))
        .unwrap();
    let body: Value = serde_json::from_str(&recorded.response_body).unwrap();
    let origin = body["api_origin"].as_str().unwrap().to_string();
    assert!(!origin.ends_with('/'), "{origin}");
    let rust = rust_peer(
        &format!("signing_key = \"{KEY}\"\nbase_url = \"{origin}\""),
        Module::new("extra"),
    )
    .await;
    let signature = inngest_module::signature::signature_header(KEY, b"", now_secs());
    let answer: Value = reqwest::Client::new()
        .get(format!("{}/api/inngest", rust.base_url()))
        .header("x-inngest-signature", signature)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(answer["api_origin"], body["api_origin"], "{answer}");
    assert_eq!(
        answer["event_api_origin"], body["event_api_origin"],
        "{answer}"
    );
    rust.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_event_step_forwards_the_trace_context_of_its_request() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();
    let request = exchanges("05-send-event")
        .into_iter()
        .find(|e| e.url.contains("fnId=") && e.response_body.contains("sendEvent"))
        .unwrap();
    // What inngest-js sent to the Event API: the execution request's own trace headers.
    let recorded_send: Value =
        std::fs::read_to_string(recordings_dir().join("05-send-event/sdk-to-server.jsonl"))
            .unwrap()
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .find(|r| r["request"]["url"].as_str().unwrap().starts_with("/e/"))
            .unwrap();
    for name in ["traceparent", "tracestate"] {
        assert_eq!(
            recorded_send["request"]["headers"][name], request.headers[name],
            "inngest-js forwards {name} as it came"
        );
    }
    let response = replay(&client, &rust.base_url(), &request, None).await;
    assert_eq!(response.status(), 206);
    let sent: Vec<Received> = server
        .take()
        .into_iter()
        .filter(|r| r.path.starts_with("/e/"))
        .collect();
    assert_eq!(sent.len(), 1);
    for name in ["traceparent", "tracestate"] {
        assert_eq!(
            sent[0].headers[name].to_str().unwrap(),
            request.headers[name].as_str().unwrap(),
            "{name} forwarded"
        );
    }
    rust.shutdown().await.unwrap();
}

/// Every error object of an answer: the body itself, its ops' `error`, and their `cause`.
fn errors(value: &Value, into: &mut Vec<Value>) {
    match value {
        Value::Object(map) => {
            if map.contains_key("message") && map.contains_key("name") {
                into.push(value.clone());
            }
            for (key, inner) in map {
                if key == "error" || key == "cause" {
                    errors(inner, into);
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|item| errors(item, into)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_bodies_are_marked_serialized_without_a_made_up_stack() {
    let server = ServerStandIn::start().await;
    let rust = rust_peer(&format!("dev = \"{}\"", server.url), Module::new("extra")).await;
    let client = reqwest::Client::new();
    let mut compared = 0;
    for scenario in [
        "07-step-error-then-success",
        "08-non-retriable-error",
        "09-retry-after-error",
    ] {
        for exchange in exchanges(scenario) {
            if !exchange.url.contains("fnId=") {
                continue;
            }
            let mut recorded = Vec::new();
            errors(
                &serde_json::from_str(&exchange.response_body).unwrap_or(Value::Null),
                &mut recorded,
            );
            if recorded.is_empty() {
                continue;
            }
            let response = replay(&client, &rust.base_url(), &exchange, None).await;
            let body: Value = response.json().await.unwrap();
            let mut ours = Vec::new();
            errors(&body, &mut ours);
            assert_eq!(ours.len(), recorded.len(), "{scenario}: {body}");
            for (ours, theirs) in ours.iter().zip(&recorded) {
                assert_eq!(theirs["__serialized"], true, "{scenario}: {theirs}");
                assert_eq!(ours["__serialized"], true, "{scenario}: {ours}");
                assert_eq!(ours["name"], theirs["name"], "{scenario}");
                assert_eq!(ours["message"], theirs["message"], "{scenario}");
                assert!(ours.get("stack").is_none(), "{scenario}: {ours}");
                compared += 1;
            }
        }
    }
    assert!(compared >= 4, "error bodies compared: {compared}");
    rust.shutdown().await.unwrap();
}
