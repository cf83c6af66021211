//! Shared pieces of the Inngest conformance tests: the JS reference peer as a child
//! process, a loopback stand-in for the Inngest server's register and Event API endpoints,
//! the Rust twin app, the recordings, and response normalization.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::{Path as UrlPath, State};
use axum::http::HeaderMap;
use axum::routing::post;
use framework::{Module, RunningApp, TestingModule};
use inngest_module::InngestModule;
use serde_json::{Value, json};

/// The signing key of the recordings (a made-up test key).
pub const KEY: &str =
    "signkey-test-7f3a9c2e5b1d4f6a8e0c2b4d6f8a1c3e5b7d9f0a2c4e6b8d0f1a3c5e7b9d1f2a";

pub fn js_peer_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("js-peer")
}

pub fn recordings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("inngest-reference/recordings")
}

/// The recordings made with the JS peer checkpointing (inngest-js v4's default).
pub fn checkpointing_recordings_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("inngest-reference/recordings-checkpointing")
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// The npm `inngest` SDK app of `tests/js-peer`, as a child process.
pub struct JsPeer {
    child: Child,
    pub base: String,
}

impl JsPeer {
    /// Starts the peer with extra environment variables and waits until it answers.
    pub async fn start(env: &[(&str, &str)]) -> JsPeer {
        let dir = js_peer_dir();
        assert!(
            dir.join("node_modules/inngest").exists(),
            "the JS peer is not installed: run scripts/test (it runs `npm ci` in tests/js-peer)"
        );
        let port = free_port();
        let mut command = Command::new("node");
        command
            .arg("server.js")
            .current_dir(&dir)
            .env("PORT", port.to_string())
            .env("CHECKPOINTING", "0")
            .env_remove("INNGEST_SIGNING_KEY")
            .env_remove("INNGEST_DEV")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit());
        for (name, value) in env {
            command.env(name, value);
        }
        let child = command.spawn().expect("node runs");
        let peer = JsPeer {
            child,
            base: format!("http://127.0.0.1:{port}"),
        };
        let client = reqwest::Client::new();
        for _ in 0..200 {
            if client
                .get(format!("{}/api/inngest", peer.base))
                .send()
                .await
                .is_ok()
            {
                return peer;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("the JS peer did not start on {}", peer.base);
    }
}

impl Drop for JsPeer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// What the stand-in server received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

/// A loopback stand-in for the server endpoints SDKs call: `POST /fn/register`, the Event
/// API `POST /e/{key}` and checkpoints `POST /v1/checkpoint/{run_id}/async`. It records
/// every request and answers like the dev server.
pub struct ServerStandIn {
    pub url: String,
    pub received: Arc<Mutex<Vec<Received>>>,
    _task: tokio::task::JoinHandle<()>,
}

impl ServerStandIn {
    pub async fn start() -> ServerStandIn {
        let received: Arc<Mutex<Vec<Received>>> = Arc::default();
        async fn register(
            State(log): State<Arc<Mutex<Vec<Received>>>>,
            uri: axum::http::Uri,
            headers: HeaderMap,
            body: String,
        ) -> axum::Json<Value> {
            let body = serde_json::from_str(&body).unwrap_or(Value::Null);
            let query = uri.query().map(String::from);
            log.lock().unwrap().push(Received {
                path: "/fn/register".into(),
                query,
                headers,
                body,
            });
            axum::Json(json!({ "ok": true, "modified": true }))
        }
        async fn events(
            State(log): State<Arc<Mutex<Vec<Received>>>>,
            UrlPath(key): UrlPath<String>,
            headers: HeaderMap,
            body: String,
        ) -> axum::Json<Value> {
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            let count = body.as_array().map_or(1, Vec::len);
            let ids: Vec<String> = (0..count).map(|i| format!("01STANDIN{i:017}")).collect();
            log.lock().unwrap().push(Received {
                path: format!("/e/{key}"),
                query: None,
                headers,
                body,
            });
            axum::Json(json!({ "ids": ids, "status": 200 }))
        }
        async fn checkpoint(
            State(log): State<Arc<Mutex<Vec<Received>>>>,
            UrlPath(run_id): UrlPath<String>,
            headers: HeaderMap,
            body: String,
        ) -> axum::http::StatusCode {
            let body: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            log.lock().unwrap().push(Received {
                path: format!("/v1/checkpoint/{run_id}/async"),
                query: None,
                headers,
                body,
            });
            axum::http::StatusCode::OK
        }
        let app = Router::new()
            .route("/fn/register", post(register))
            .route("/e/{key}", post(events))
            .route("/v1/checkpoint/{run_id}/async", post(checkpoint))
            .with_state(Arc::clone(&received));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        ServerStandIn {
            url,
            received,
            _task: task,
        }
    }

    pub fn take(&self) -> Vec<Received> {
        std::mem::take(&mut *self.received.lock().unwrap())
    }
}

/// The Rust twin app (`e2e_tests::peer`) on an ephemeral port, configured with `toml` under
/// `[inngest]` (app id `js-peer`), on the classic protocol (checkpointing off), like the JS
/// peer [`JsPeer::start`] starts and the recordings of `recordings/`.
pub async fn rust_peer(inngest_toml: &str, extra: Module) -> RunningApp {
    rust_peer_checkpointing(false, inngest_toml, extra).await
}

/// [`rust_peer`] with checkpointing on or off.
pub async fn rust_peer_checkpointing(
    checkpointing: bool,
    inngest_toml: &str,
    extra: Module,
) -> RunningApp {
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .import(e2e_tests::peer::module())
        .import(extra);
    TestingModule::new(root)
        .config(format!(
            "[inngest]\napp_id = \"js-peer\"\ncheckpointing = {{ enabled = {checkpointing} }}\n{inngest_toml}"
        ))
        .build()
        .await
        .expect("the Rust peer builds")
        .start()
        .await
        .expect("the Rust peer starts")
}

/// One recorded exchange.
#[derive(Clone, Debug)]
pub struct Exchange {
    pub scenario: String,
    pub method: String,
    pub url: String,
    pub headers: Value,
    pub body: String,
    pub status: u16,
    pub response_headers: Value,
    pub response_body: String,
}

/// Every executor → SDK exchange of every scenario, in order.
pub fn recorded_exchanges() -> Vec<Exchange> {
    recorded_exchanges_in(&recordings_dir())
}

/// Every executor → SDK exchange of every scenario recorded in `dir`, in order.
pub fn recorded_exchanges_in(dir: &Path) -> Vec<Exchange> {
    let mut scenarios: Vec<_> = std::fs::read_dir(dir)
        .expect("the recordings are in tests/inngest-reference")
        .filter_map(|e| e.ok())
        .filter(|e| e.path().is_dir())
        .collect();
    scenarios.sort_by_key(|e| e.file_name());
    let mut exchanges = Vec::new();
    for scenario in scenarios {
        let name = scenario.file_name().to_string_lossy().to_string();
        let text = std::fs::read_to_string(scenario.path().join("executor-to-sdk.jsonl"))
            .unwrap_or_default();
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let record: Value = serde_json::from_str(line).expect("a JSON line");
            let request = &record["request"];
            let response = &record["response"];
            exchanges.push(Exchange {
                scenario: name.clone(),
                method: request["method"].as_str().unwrap_or_default().to_string(),
                url: request["url"].as_str().unwrap_or_default().to_string(),
                headers: request["headers"].clone(),
                body: request["body"].as_str().unwrap_or_default().to_string(),
                status: response["status"].as_u64().unwrap_or_default() as u16,
                response_headers: response["headers"].clone(),
                response_body: response["body"].as_str().unwrap_or_default().to_string(),
            });
        }
    }
    exchanges
}

/// A response reduced to what must match between SDKs: status, retry headers, and the body
/// without volatile or SDK-specific parts (timing, displayName, userland, stacks, event ids).
#[derive(Debug, Clone, PartialEq)]
pub struct Normalized {
    pub status: u16,
    pub no_retry: Option<String>,
    pub retry_after: Option<String>,
    pub body: Value,
}

pub fn normalize_body(value: &Value) -> Value {
    match value {
        Value::Object(map) => {
            let mut out = serde_json::Map::new();
            for (key, value) in map {
                match key.as_str() {
                    "timing" | "displayName" | "userland" | "stack" | "__serialized" => {}
                    "ids" if value.is_array() => {
                        out.insert(key.clone(), json!(value.as_array().map_or(0, Vec::len)));
                    }
                    _ => {
                        out.insert(key.clone(), normalize_body(value));
                    }
                }
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.iter().map(normalize_body).collect()),
        other => other.clone(),
    }
}

pub fn normalize(status: u16, header: impl Fn(&str) -> Option<String>, body: &str) -> Normalized {
    let parsed =
        serde_json::from_str::<Value>(body).unwrap_or_else(|_| Value::String(body.to_string()));
    Normalized {
        status,
        no_retry: header("x-inngest-no-retry"),
        retry_after: header("retry-after"),
        body: normalize_body(&parsed),
    }
}

pub async fn normalize_response(response: reqwest::Response) -> (Normalized, HeaderMap) {
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.text().await.unwrap_or_default();
    let get = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(String::from)
    };
    (normalize(status, get, &body), headers)
}

/// Sends a recorded execution request to `base`.
pub async fn replay(
    client: &reqwest::Client,
    base: &str,
    exchange: &Exchange,
    signature: Option<String>,
) -> reqwest::Response {
    let mut request = client
        .request(
            exchange.method.parse().unwrap(),
            format!("{base}{}", exchange.url),
        )
        .header("content-type", "application/json")
        .body(exchange.body.clone());
    for name in [
        "x-inngest-req-version",
        "x-inngest-step-id",
        "x-inngest-generation-id",
        "x-request-id",
        "traceparent",
        "tracestate",
    ] {
        if let Some(value) = exchange.headers.get(name).and_then(Value::as_str) {
            request = request.header(name, value);
        }
    }
    if let Some(signature) = signature {
        request = request.header("x-inngest-signature", signature);
    }
    request.send().await.expect("the request is answered")
}

/// The JS SDK's own signing code (`tests/js-peer/sign.js`), one call per process.
pub fn js_sign(request: &Value) -> Value {
    use std::io::Write;
    let mut child = Command::new("node")
        .arg("sign.js")
        .current_dir(js_peer_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("node runs");
    let mut stdin = child.stdin.take().unwrap();
    writeln!(stdin, "{request}").unwrap();
    drop(stdin);
    let output = child.wait_with_output().unwrap();
    serde_json::from_slice(&output.stdout).expect("sign.js answers JSON")
}

pub fn now_secs() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
