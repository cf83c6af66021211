//! Checkpointing (inngest-js v4's default) on the SDK side, differential: every execution
//! request of `tests/inngest-reference/recordings-checkpointing` (the real Inngest dev server
//! talking to the npm SDK with checkpointing on) is replayed against the Rust peer and the
//! JS peer, both checkpointing to a loopback stand-in server. The answers must match each
//! other and the recording, and so must the steps each posted to
//! `POST /v1/checkpoint/{run_id}/async` (the protocol's fields; the JS SDK's own fields are
//! ignored, as the server ignores them).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::collections::BTreeMap;

use framework::Module;
use serde_json::{Value, json};
use support::*;

fn header(value: &Value, name: &str) -> Option<String> {
    value.get(name).and_then(Value::as_str).map(String::from)
}

/// A checkpoint's protocol fields: the request it names and, per step, what the server
/// memoizes (`ids` of a send-event step reduced to their count).
fn checkpoint_fields(body: &Value) -> Value {
    let steps: Vec<Value> = body["steps"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|step| {
            json!({
                "id": step["id"],
                "op": step["op"],
                "name": step["name"],
                "data": normalize_body(&step["data"]),
            })
        })
        .collect();
    json!({
        "run_id": body["run_id"],
        "fn_id": body["fn_id"],
        "qi_id": body["qi_id"],
        "request_id": body["request_id"],
        "generation_id": body["generation_id"],
        "steps": steps,
    })
}

/// The checkpoints the real SDK posted in each scenario, in order.
fn recorded_checkpoints() -> BTreeMap<String, Vec<Value>> {
    let mut by_scenario = BTreeMap::new();
    for entry in std::fs::read_dir(checkpointing_recordings_dir()).unwrap() {
        let entry = entry.unwrap();
        if !entry.path().is_dir() {
            continue;
        }
        let text =
            std::fs::read_to_string(entry.path().join("sdk-to-server.jsonl")).unwrap_or_default();
        let posts: Vec<Value> = text
            .lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| serde_json::from_str::<Value>(line).unwrap())
            .filter(|record| {
                record["request"]["url"]
                    .as_str()
                    .is_some_and(|url| url.starts_with("/v1/checkpoint/"))
            })
            .map(|record| {
                let body: Value =
                    serde_json::from_str(record["request"]["body"].as_str().unwrap()).unwrap();
                checkpoint_fields(&body)
            })
            .collect();
        by_scenario.insert(entry.file_name().to_string_lossy().into_owned(), posts);
    }
    by_scenario
}

/// The checkpoints a stand-in received, protocol fields only.
fn received_checkpoints(server: &ServerStandIn) -> Vec<Value> {
    server
        .take()
        .into_iter()
        .filter(|r| r.path.starts_with("/v1/checkpoint/"))
        .map(|r| {
            assert_eq!(
                r.path,
                format!(
                    "/v1/checkpoint/{}/async",
                    r.body["run_id"].as_str().unwrap()
                ),
                "the path names the body's run"
            );
            checkpoint_fields(&r.body)
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn checkpointing_requests_match_the_js_sdk_and_the_recordings() {
    let rust_server = ServerStandIn::start().await;
    let js_server = ServerStandIn::start().await;
    let js = JsPeer::start(&[("INNGEST_DEV", &js_server.url), ("CHECKPOINTING", "1")]).await;
    let rust = rust_peer_checkpointing(
        true,
        &format!("dev = \"{}\"", rust_server.url),
        Module::new("extra"),
    )
    .await;
    let client = reqwest::Client::new();
    let recorded = recorded_checkpoints();

    let mut posted = BTreeMap::<String, (Vec<Value>, Vec<Value>)>::new();
    let mut run_complete = 0;
    for exchange in recorded_exchanges_in(&checkpointing_recordings_dir()) {
        if exchange.method != "POST" || !exchange.url.contains("fnId=") {
            continue;
        }
        let context = format!("{} {}", exchange.scenario, exchange.url);
        let (from_rust, _) =
            normalize_response(replay(&client, &rust.base_url(), &exchange, None).await).await;
        let (from_js, _) =
            normalize_response(replay(&client, &js.base, &exchange, None).await).await;
        let expected = normalize(
            exchange.status,
            |name| header(&exchange.response_headers, name),
            &exchange.response_body,
        );
        assert_eq!(
            from_rust, from_js,
            "Rust and the JS SDK differ on {context}"
        );
        assert_eq!(
            from_rust, expected,
            "Rust differs from what the real server received on {context}"
        );
        if exchange.response_body.contains("\"RunComplete\"") {
            run_complete += 1;
        }
        let (rust_posts, js_posts) = posted.entry(exchange.scenario.clone()).or_default();
        rust_posts.extend(received_checkpoints(&rust_server));
        js_posts.extend(received_checkpoints(&js_server));
    }
    assert!(
        run_complete >= 6,
        "runs ended as RunComplete: {run_complete}"
    );
    let mut compared_posts = 0;
    for (scenario, (rust_posts, js_posts)) in &posted {
        assert_eq!(
            rust_posts, js_posts,
            "{scenario}: Rust and the JS SDK checkpointed differently"
        );
        let recorded = &recorded[scenario];
        assert_eq!(
            rust_posts, recorded,
            "{scenario}: Rust checkpointed other steps than the real SDK did"
        );
        compared_posts += rust_posts.len();
    }
    // 01, 05, 11 (three), 13 and 14b (three) checkpoint in the recordings.
    assert!(
        compared_posts >= 9,
        "checkpoints compared: {compared_posts}"
    );
    rust.shutdown().await.unwrap();
}

/// A checkpoint the server refuses falls back to the classic protocol: the step that ran is
/// the answer (its result is not lost), as inngest-js does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_checkpoint_falls_back_to_answering_the_step() {
    // No server at all: every checkpoint post fails to connect.
    let unreachable = "http://127.0.0.1:9";
    let rust = rust_peer_checkpointing(
        true,
        &format!("dev = \"{unreachable}\""),
        Module::new("extra"),
    )
    .await;
    let client = reqwest::Client::new();
    let first = recorded_exchanges_in(&checkpointing_recordings_dir())
        .into_iter()
        .find(|e| e.scenario == "01-run-sleep" && e.url.contains("fnId="))
        .unwrap();
    let (answer, _) =
        normalize_response(replay(&client, &rust.base_url(), &first, None).await).await;
    assert_eq!(answer.status, 206);
    let ops = answer.body.as_array().unwrap();
    assert_eq!(ops.len(), 1, "{ops:?}");
    assert_eq!(ops[0]["op"], "StepRun");
    assert_eq!(ops[0]["name"], "first");
    assert_eq!(ops[0]["data"], json!({"hello": "rust"}));
    rust.shutdown().await.unwrap();
}
