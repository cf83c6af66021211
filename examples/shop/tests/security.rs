//! The shop as an attacker and an unlucky operator meet it, each finding of the security
//! review reproduced against the real binary on loopback:
//!
//! 1. production on the embedded executor: the console is off, then behind a credential;
//!    lists and pages stay small whatever the data;
//! 3. slow and idle connections cannot lock the probes out, even at the open-file limit;
//! 4. a browser cannot drive the development executor (CSRF, DNS rebinding, SSRF through
//!    registration);
//! 5. health details and logs never show a URL's credentials;
//! 8. security headers on the runs page.
//!
//! (2, 6 and 7 — the sync URL, introspection and signature edge cases — are tested at the
//! serve handler in `tests/tests/inngest_conformance.rs`.)
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::time::Duration;

use base64::Engine as _;
use common::{ShopProcess, free_port, shop};
use serde_json::{Value, json};
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const SIGNING_KEY: &str =
    "signkey-prod-8ee2262a15e8d3c42d6a840db7af3de2aab08ef632b32a37a687f24b34dba3ff";
const EVENT_KEY: &str = "evt-prod-key";
const CONSOLE_TOKEN: &str = "console-token-for-tests";

/// The shop in production on the embedded executor, with `extra` variables.
fn production_shop(database: &std::path::Path, extra: &[(&str, &str)]) -> ShopProcess {
    let mut command = shop();
    command
        .env("APP_ENV", "production")
        .env("APP__SERVER__HOST", "127.0.0.1")
        .env("APP__SERVER__PORT", "0")
        .env("APP__SERVER__DRAIN_DELAY", "0s")
        .env("APP__LOG__FORMAT", "text")
        .env("APP__INNGEST__EXECUTOR", "embedded")
        .env("APP__INNGEST__EMBEDDED__DATABASE", database)
        .env("INNGEST_SIGNING_KEY", SIGNING_KEY)
        .env("INNGEST_EVENT_KEY", EVENT_KEY);
    for (name, value) in extra {
        command.env(name, value);
    }
    ShopProcess::start(command)
}

const CONSOLE_ROUTES: [&str; 7] = [
    "/_inngest/runs",
    "/_inngest/api/runs",
    "/_inngest/api/events",
    "/_inngest/api/apps",
    "/_inngest/dev",
    "/_inngest/v1/runs/01NOSUCHRUN",
    "/_inngest/v1/events/01NOSUCHEVENT/runs",
];

async fn send_event(http: &reqwest::Client, base: &str, key: &str, event: &Value) -> u16 {
    http.post(format!("{base}/_inngest/e/{key}"))
        .json(event)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn production_on_the_embedded_executor_exposes_nothing_without_credentials() {
    let dir = tempfile::tempdir().unwrap();
    let database = dir.path().join("inngest.sqlite3");
    let http = reqwest::Client::new();

    // Console not enabled: its routes do not exist.
    let process = production_shop(&database, &[]);
    let base = process.base.clone();
    for route in CONSOLE_ROUTES {
        let status = http
            .get(format!("{base}{route}"))
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(status, 404, "{route}");
    }
    // The Event API takes the event key only; registration needs the signing key; the
    // serve path refuses unsigned requests with a bare 401.
    let event = json!({"name": "test/ping", "data": {}});
    assert_eq!(send_event(&http, &base, "guessed-key", &event).await, 401);
    assert_eq!(send_event(&http, &base, EVENT_KEY, &event).await, 200);
    let register = http
        .post(format!("{base}/fn/register"))
        .json(&json!({"url": "http://127.0.0.1:9/api/inngest", "appName": "evil", "functions": []}))
        .send()
        .await
        .unwrap();
    assert_eq!(register.status(), 401);
    let introspection = http
        .get(format!("{base}/api/inngest"))
        .send()
        .await
        .unwrap();
    assert_eq!(introspection.status(), 401);
    assert_eq!(
        introspection.text().await.unwrap(),
        r#"{"message":"Unauthorized"}"#
    );
    // An unsigned sync reaches no server (there is none to reach).
    let sync = http
        .put(format!("{base}/api/inngest?deployId=attacker"))
        .header("host", "attacker.example")
        .send()
        .await
        .unwrap();
    assert_eq!(sync.status(), 200);
    assert_eq!(sync.json::<Value>().await.unwrap()["modified"], false);
    assert_eq!(process.terminate(), Some(0));

    // Console enabled: only with the token (bearer or Basic password) or the hashed
    // signing key.
    let process = production_shop(
        &database,
        &[
            ("APP__INNGEST__EMBEDDED__CONSOLE", "true"),
            ("APP__INNGEST__EMBEDDED__CONSOLE_TOKEN", CONSOLE_TOKEN),
        ],
    );
    let base = process.base.clone();
    for route in CONSOLE_ROUTES {
        let anonymous = http.get(format!("{base}{route}")).send().await.unwrap();
        assert_eq!(anonymous.status(), 401, "{route}");
        assert!(
            anonymous.headers().contains_key("www-authenticate"),
            "{route}"
        );
        let wrong = http
            .get(format!("{base}{route}"))
            .bearer_auth("not-the-token")
            .send()
            .await
            .unwrap();
        assert_eq!(wrong.status(), 401, "{route}");
    }
    let hashed = inngest_module::signature::hashed_key(SIGNING_KEY);
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("admin:{CONSOLE_TOKEN}"));
    for authorization in [
        format!("Bearer {CONSOLE_TOKEN}"),
        format!("Bearer {hashed}"),
        format!("Basic {basic}"),
    ] {
        let page = http
            .get(format!("{base}/_inngest/runs"))
            .header("authorization", &authorization)
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), 200, "{authorization}");
    }

    // 12 events of 1 MB each: no list or page grows with them.
    let blob = "x".repeat(1024 * 1024);
    for n in 0..12 {
        let event = json!({"name": "test/blob", "data": {"n": n, "blob": blob}});
        assert_eq!(send_event(&http, &base, EVENT_KEY, &event).await, 200);
    }
    for route in [
        "/_inngest/runs",
        "/_inngest/api/events?limit=100",
        "/_inngest/api/runs?limit=100",
    ] {
        let response = http
            .get(format!("{base}{route}"))
            .bearer_auth(CONSOLE_TOKEN)
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{route}");
        let body = response.bytes().await.unwrap();
        assert!(body.len() < 256 * 1024, "{route}: {} bytes", body.len());
    }
    let events: Value = http
        .get(format!("{base}/_inngest/api/events?name=test/blob&limit=5"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let page = events["data"].as_array().unwrap();
    assert_eq!(page.len(), 5);
    assert_eq!(page[0]["name"], "test/blob");
    assert_eq!(page[0]["data"]["truncated"], true);
    assert!(page[0]["data"]["bytes"].as_u64().unwrap() > 1024 * 1024);
    // The next page goes on where this one stopped.
    let next = events["next"].as_str().unwrap();
    let older: Value = http
        .get(format!(
            "{base}/_inngest/api/events?name=test/blob&limit=10&before={next}"
        ))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(older["data"].as_array().unwrap().len(), 7);
    assert_eq!(older["next"], Value::Null);

    // Security headers on the page.
    let page = http
        .get(format!("{base}/_inngest/runs"))
        .bearer_auth(CONSOLE_TOKEN)
        .send()
        .await
        .unwrap();
    let headers = page.headers();
    assert!(
        headers["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
    assert_eq!(headers["x-frame-options"], "DENY");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    assert_eq!(process.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_and_half_sent_connections_cannot_lock_out_the_probes() {
    // The test opens more than a thousand sockets itself.
    let (_, hard) =
        nix::sys::resource::getrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE).unwrap();
    nix::sys::resource::setrlimit(nix::sys::resource::Resource::RLIMIT_NOFILE, hard, hard).unwrap();
    // The shop at an open-file limit of 1024, where 1,100 connections used to exhaust it.
    let mut command = std::process::Command::new("sh");
    command
        .arg("-c")
        .arg("ulimit -n 1024 && exec \"$0\"")
        .arg(env!("CARGO_BIN_EXE_shop"))
        .env("APP_ENV", "test")
        .env("APP__SERVER__HEADER_READ_TIMEOUT", "2s")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    for (name, _) in std::env::vars() {
        if name.starts_with("INNGEST_") || name.starts_with("APP__") {
            command.env_remove(name);
        }
    }
    let process = ShopProcess::start(command);
    let addr = process.base.trim_start_matches("http://").to_string();
    let mut attackers = Vec::new();
    for i in 0..1100 {
        let mut stream = TcpStream::connect(&addr).await.unwrap();
        if i % 2 == 1 {
            // Half send part of a request head and stop.
            let _ = stream
                .write_all(b"GET /health/live HTTP/1.1\r\nHost: shop\r\nX-Slow: ")
                .await;
        }
        attackers.push(stream);
    }
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap();
    let live = http
        .get(format!("{}/health/live", process.base))
        .send()
        .await
        .expect("the liveness probe is answered while the attackers hold their connections");
    assert_eq!(live.status(), 200);
    assert!(
        process
            .output()
            .contains("max_connections is lowered to what the open-file limit allows"),
        "{}",
        process.output()
    );
    drop(attackers);
    assert_eq!(process.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_browser_cannot_drive_the_development_executor() {
    let mut command = shop();
    command.env("APP_ENV", "test");
    let process = ShopProcess::start(command);
    let base = process.base.clone();
    let http = reqwest::Client::new();
    let event = json!({"name": "test/csrf", "data": {"forged": true}});
    let stored = |http: reqwest::Client, base: String| async move {
        let events: Value = http
            .get(format!("{base}/_inngest/api/events?name=test/csrf"))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        events["data"].as_array().unwrap().len()
    };

    // What an HTML form or a no-cors fetch can send: text/plain. Refused, nothing stored.
    let form = http
        .post(format!("{base}/_inngest/e/any-key"))
        .header("content-type", "text/plain")
        .header("origin", "http://evil.example")
        .header("sec-fetch-site", "cross-site")
        .body(event.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), 415);
    // JSON, but marked cross-site by the browser, or from another origin.
    for (name, value) in [
        ("sec-fetch-site", "cross-site"),
        ("origin", "http://evil.example"),
    ] {
        let forged = http
            .post(format!("{base}/_inngest/e/any-key"))
            .header(name, value)
            .json(&event)
            .send()
            .await
            .unwrap();
        assert_eq!(forged.status(), 403, "{name}: {value}");
    }
    // DNS rebinding: a name that resolves to loopback, reaching the console and the Event
    // API.
    for request in [
        http.get(format!("{base}/_inngest/api/runs")),
        http.post(format!("{base}/_inngest/e/any-key")).json(&event),
    ] {
        let rebound = request
            .header("host", "rebind.evil.example")
            .send()
            .await
            .unwrap();
        assert_eq!(rebound.status(), 403);
    }
    assert_eq!(
        stored(http.clone(), base.clone()).await,
        0,
        "no forged event was stored"
    );

    // Registering an app at an attacker's URL (where run data would be sent).
    let evil_app = json!({
        "url": "http://evil.example/api/inngest", "appName": "evil",
        "functions": [{"id": "evil-fn", "name": "evil", "triggers": [{"event": "order.created"}], "steps": {}}],
    });
    let no_cors = http
        .post(format!("{base}/fn/register"))
        .header("content-type", "text/plain")
        .body(evil_app.to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(no_cors.status(), 415);
    let json_register = http
        .post(format!("{base}/fn/register"))
        .json(&evil_app)
        .send()
        .await
        .unwrap();
    assert_eq!(json_register.status(), 403);
    let apps: Value = http
        .get(format!("{base}/_inngest/api/apps"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(
        apps["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|app| app["app_id"] != "evil"),
        "{apps}"
    );

    // A server-side client (curl, an SDK) still sends events.
    assert_eq!(send_event(&http, &base, "any-key", &event).await, 200);
    assert_eq!(stored(http.clone(), base.clone()).await, 1);
    assert_eq!(process.terminate(), Some(0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_details_and_logs_never_show_a_urls_credentials() {
    let closed = free_port();
    let mut command = shop();
    command.env("APP_ENV", "test").env(
        "INNGEST_DEV",
        format!("http://inngest-user:s3cret-pass@127.0.0.1:{closed}/"),
    );
    let process = ShopProcess::start(command);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/health/inngest", process.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 503, "the dev server is unreachable");
    let body = health.text().await.unwrap();
    assert!(
        body.contains(&format!("http://127.0.0.1:{closed}/dev")),
        "{body}"
    );
    let all = http
        .get(format!("{}/health", process.base))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let output = process.output();
    for text in [&body, &all, &output] {
        assert!(!text.contains("s3cret-pass"), "{text}");
        assert!(!text.contains("inngest-user"), "{text}");
    }
    assert_eq!(process.terminate(), Some(0));
}
