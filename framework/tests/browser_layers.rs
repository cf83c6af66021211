//! `[server.cors]` and `[server.compression]`: off by default, on from config, checked at
//! start-up. Against the real server on loopback.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use axum::Router;
use axum::routing::get;
use framework::{Module, RunningApp, TestingModule};

/// A body well above the compression threshold.
fn big() -> String {
    "order ".repeat(1000)
}

async fn start(config: &str) -> RunningApp {
    let routes = Router::new()
        .route("/big", get(|| async { big() }))
        .route("/small", get(|| async { "ok" }));
    TestingModule::new(Module::new("app").router(routes))
        .config(format!("[server]\nport = 0\n{config}"))
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

#[tokio::test]
async fn cors_is_off_by_default_and_answers_only_the_listed_origins_when_on() {
    let http = reqwest::Client::new();
    let off = start("").await;
    let response = http
        .get(format!("{}/small", off.base_url()))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert!(
        response
            .headers()
            .get("access-control-allow-origin")
            .is_none()
    );
    off.shutdown().await.unwrap();

    let on = start(
        "[server.cors]\nenabled = true\nallowed_origins = [\"https://app.example.com\"]\nallowed_methods = [\"GET\", \"POST\"]",
    )
    .await;
    let preflight = http
        .request(reqwest::Method::OPTIONS, format!("{}/small", on.base_url()))
        .header("origin", "https://app.example.com")
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .unwrap();
    assert_eq!(preflight.status(), 200);
    let headers = preflight.headers();
    assert_eq!(
        headers["access-control-allow-origin"],
        "https://app.example.com"
    );
    assert_eq!(headers["access-control-allow-methods"], "GET,POST");
    assert_eq!(headers["access-control-max-age"], "3600");
    let simple = http
        .get(format!("{}/small", on.base_url()))
        .header("origin", "https://app.example.com")
        .send()
        .await
        .unwrap();
    assert_eq!(
        simple.headers()["access-control-allow-origin"],
        "https://app.example.com"
    );
    // Another origin gets no permission (the browser then refuses the read).
    let other = http
        .get(format!("{}/small", on.base_url()))
        .header("origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(other.headers().get("access-control-allow-origin").is_none());
    on.shutdown().await.unwrap();
}

#[tokio::test]
async fn compression_is_off_by_default_and_gzips_large_bodies_when_on() {
    let http = reqwest::Client::new();
    let off = start("").await;
    let plain = http
        .get(format!("{}/big", off.base_url()))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(plain.headers().get("content-encoding").is_none());
    assert_eq!(plain.bytes().await.unwrap().len(), big().len());
    off.shutdown().await.unwrap();

    let on = start("[server.compression]\nenabled = true").await;
    let gzipped = http
        .get(format!("{}/big", on.base_url()))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(gzipped.headers()["content-encoding"], "gzip");
    let body = gzipped.bytes().await.unwrap();
    assert_eq!(&body[..2], [0x1f, 0x8b], "a gzip stream");
    assert!(body.len() < big().len() / 10, "{} bytes", body.len());
    // Small bodies, and clients that do not accept gzip, get the body as it is.
    let small = http
        .get(format!("{}/small", on.base_url()))
        .header("accept-encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert!(small.headers().get("content-encoding").is_none());
    let identity = http
        .get(format!("{}/big", on.base_url()))
        .send()
        .await
        .unwrap();
    assert!(identity.headers().get("content-encoding").is_none());
    on.shutdown().await.unwrap();
}

#[tokio::test]
async fn wrong_cors_settings_stop_start_up_with_every_problem() {
    let error = TestingModule::new(Module::new("app"))
        .config(
            "[server.cors]\nenabled = true\nallowed_origins = [\"*\", \"https://app.example.com/\"]\nallow_credentials = true\nallowed_methods = [\"GE T\"]",
        )
        .build()
        .await
        .expect_err("refused");
    let message = format!("{error:?}");
    for expected in [
        "server.cors.allowed_origins: `*` allows every origin: give it alone",
        "server.cors.allow_credentials: cannot be true with allowed_origins = [\"*\"]",
        "server.cors.allowed_origins: `https://app.example.com/` is not an origin",
        "server.cors.allowed_methods: `GE T` is not an HTTP method",
    ] {
        assert!(
            message.contains(expected),
            "{expected}\n  not in\n{message}"
        );
    }
    let error = TestingModule::new(Module::new("app"))
        .config("[server.cors]\nenabled = true")
        .build()
        .await
        .expect_err("refused");
    assert!(
        format!("{error:?}").contains("server.cors.allowed_origins: is empty"),
        "{error:?}"
    );
}
