//! Conformance: every body recorded between the real Inngest server and the official JS SDK
//! (`tests/inngest-reference/recordings`) decodes into this crate's types and re-encodes to
//! the same JSON (compared structurally: key order and whitespace aside, equal values).
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::collections::BTreeMap;
use std::path::PathBuf;

use inngest_protocol::op::decode_ops;
use inngest_protocol::{
    ErrorBody, Event, ExecutionRequest, InBandSync, Introspection, Op, RegisterRequest,
    RegisterResponse, SendEventsResponse, SyncReply,
};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

fn recordings() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/inngest-reference/recordings")
}

/// Decodes `body` as `T`, re-encodes it, and checks that nothing was lost or added.
fn round_trip<T: DeserializeOwned + Serialize>(what: &str, body: &str) {
    let original: Value = serde_json::from_str(body).unwrap();
    let typed: T = serde_json::from_str(body)
        .unwrap_or_else(|e| panic!("{what}: does not decode: {e}\n{body}"));
    let again = serde_json::to_value(&typed).unwrap();
    assert_eq!(again, original, "{what}: re-encoded differently");
}

#[test]
fn every_recorded_body_decodes_and_re_encodes_unchanged() {
    let mut checked: BTreeMap<&str, usize> = BTreeMap::new();
    let mut dirs: Vec<_> = std::fs::read_dir(recordings())
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.is_dir())
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 18, "the recordings are missing: {dirs:?}");
    for dir in dirs {
        for file in ["executor-to-sdk.jsonl", "sdk-to-server.jsonl"] {
            let Ok(text) = std::fs::read_to_string(dir.join(file)) else {
                continue;
            };
            for (line_no, line) in text.lines().enumerate() {
                let exchange: Value = serde_json::from_str(line).unwrap();
                let request = &exchange["request"];
                let response = &exchange["response"];
                let method = request["method"].as_str().unwrap();
                let url = request["url"].as_str().unwrap();
                let path = url.split('?').next().unwrap();
                let status = response["status"].as_u64().unwrap();
                let request_body = request["body"].as_str().unwrap_or_default();
                let response_body = response["body"].as_str().unwrap_or_default();
                let at = format!("{}/{file}:{}", dir.display(), line_no + 1);
                let mut check = |kind: &'static str, body: &str, decode: fn(&str, &str)| {
                    decode(&format!("{at} {kind}"), body);
                    *checked.entry(kind).or_default() += 1;
                };
                match (method, path) {
                    ("POST", "/api/inngest") if url.contains("fnId=") => {
                        check(
                            "execution request",
                            request_body,
                            round_trip::<ExecutionRequest>,
                        );
                        match status {
                            206 => check("ops", response_body, |what, body| {
                                let ops = decode_ops(body.as_bytes()).unwrap();
                                let original: Value = serde_json::from_str(body).unwrap();
                                assert_eq!(serde_json::to_value(&ops).unwrap(), original, "{what}");
                                round_trip::<Vec<Op>>(what, body);
                            }),
                            400 | 500 => {
                                check("error body", response_body, round_trip::<ErrorBody>)
                            }
                            _ => {}
                        }
                    }
                    ("GET", "/api/inngest") if status == 200 => {
                        check("introspection", response_body, round_trip::<Introspection>);
                    }
                    ("PUT", "/api/inngest") if status == 200 => {
                        let body: Value = serde_json::from_str(response_body).unwrap();
                        if body.get("inspection").is_some() {
                            check("in-band sync", response_body, round_trip::<InBandSync>);
                        } else {
                            check("sync reply", response_body, round_trip::<SyncReply>);
                        }
                    }
                    ("POST", "/fn/register") => {
                        check(
                            "register request",
                            request_body,
                            round_trip::<RegisterRequest>,
                        );
                        check(
                            "register response",
                            response_body,
                            round_trip::<RegisterResponse>,
                        );
                    }
                    ("POST", p) if p.starts_with("/e/") => {
                        check("events", request_body, round_trip::<Vec<Event>>);
                        check(
                            "event api response",
                            response_body,
                            round_trip::<SendEventsResponse>,
                        );
                    }
                    _ => {}
                }
            }
        }
    }
    for kind in [
        "execution request",
        "ops",
        "error body",
        "introspection",
        "in-band sync",
        "sync reply",
        "register request",
        "register response",
        "events",
        "event api response",
    ] {
        assert!(
            checked.get(kind).copied().unwrap_or(0) > 0,
            "no {kind} was checked: {checked:?}"
        );
    }
    println!("checked: {checked:?}");
}
