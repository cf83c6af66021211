//! Lifecycle order and failures, and HTTP over a real loopback server: request scope,
//! `Inject<T>`, global prefix, request ids, body limit, timeout, readiness.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::{Router, routing::get, routing::post};
use framework::http::{Inject, RequestInfo};
use framework::{Error, Module, Phase, Provider, Readiness, TestingModule};

type Journal = Arc<Mutex<Vec<String>>>;

fn recording_module(name: &'static str, journal: &Journal) -> Module {
    struct Marker;
    let mut provider = Provider::value(Marker);
    for phase in Phase::STARTUP.into_iter().chain(Phase::SHUTDOWN) {
        let journal = Arc::clone(journal);
        provider = provider.hook(phase, move |_: Arc<Marker>| {
            let journal = Arc::clone(&journal);
            async move { journal.lock().unwrap().push(format!("{phase}:{name}")) }
        });
    }
    // Each module needs its own provider type; name the marker by the module.
    Module::new(name).provider(provider.named(name))
}

#[tokio::test]
async fn hooks_run_in_dependency_order_and_reverse_at_shutdown() {
    let journal: Journal = Arc::default();
    let db = recording_module("db", &journal);
    let users = recording_module("users", &journal).import(db);
    let root = recording_module("app", &journal).import(users);
    let app = TestingModule::new(root).build().await.unwrap();
    let running = app.start().await.unwrap();
    running.shutdown().await.unwrap();
    let seen = journal.lock().unwrap().clone();
    assert_eq!(
        seen,
        [
            "on_module_init:db",
            "on_module_init:users",
            "on_module_init:app",
            "on_application_bootstrap:db",
            "on_application_bootstrap:users",
            "on_application_bootstrap:app",
            "before_application_shutdown:app",
            "before_application_shutdown:users",
            "before_application_shutdown:db",
            "on_module_destroy:app",
            "on_module_destroy:users",
            "on_module_destroy:db",
            "on_application_shutdown:app",
            "on_application_shutdown:users",
            "on_application_shutdown:db",
        ]
    );
}

#[tokio::test]
async fn a_failing_start_hook_aborts_with_the_module_name() {
    struct Broker;
    let module = Module::new("queue").provider(
        Provider::value(Broker).hook(Phase::ModuleInit, |_: Arc<Broker>| async {
            Err::<(), _>(std::io::Error::other("broker unreachable"))
        }),
    );
    let error = TestingModule::new(Module::new("app").import(module))
        .build()
        .await
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "module `queue`: on_module_init hook of `Broker` failed: broker unreachable"
    );
}

#[tokio::test]
async fn a_hanging_hook_times_out() {
    struct Slow;
    let module = Module::new("slow").provider(Provider::value(Slow).hook(
        Phase::ApplicationBootstrap,
        |_: Arc<Slow>| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
        },
    ));
    let error = TestingModule::new(module)
        .config("[server]\nhook_timeout = \"50ms\"")
        .build()
        .await
        .unwrap_err();
    assert!(matches!(error, Error::HookTimeout { .. }), "{error}");
    assert_eq!(
        error.to_string(),
        "module `slow`: on_application_bootstrap hook of `Slow` did not finish within 50ms"
    );
}

/// Request-scoped: counts how many were built.
struct RequestCtx {
    id: usize,
    path: String,
}
static BUILT: AtomicUsize = AtomicUsize::new(0);

async fn twice(a: Inject<RequestCtx>, b: Inject<RequestCtx>) -> String {
    format!("{} {} {}", a.id, b.id, a.path)
}

fn http_module() -> Module {
    Module::new("web")
        .provider(
            Provider::factory(|info: Arc<RequestInfo>| RequestCtx {
                id: BUILT.fetch_add(1, Ordering::SeqCst),
                path: info.uri.path().to_string(),
            })
            .request_scoped(),
        )
        .router(
            Router::new()
                .route("/twice", get(twice))
                .route(
                    "/echo",
                    post(|body: String| async move { body.len().to_string() }),
                )
                .route(
                    "/sleep",
                    get(|| async {
                        tokio::time::sleep(Duration::from_secs(5)).await;
                        "late"
                    }),
                )
                .route(
                    "/ready",
                    get(|r: Inject<Readiness>| async move { r.is_ready().to_string() }),
                ),
        )
}

#[tokio::test]
async fn request_scope_builds_once_per_request_over_real_http() {
    let running = TestingModule::new(http_module())
        .config("[server]\nglobal_prefix = \"/api\"\nbody_limit = 64\nrequest_timeout = \"200ms\"")
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let base = running.base_url();
    let client = reqwest::Client::new();

    let first = client
        .get(format!("{base}/api/twice"))
        .send()
        .await
        .unwrap();
    assert_eq!(first.status(), 200);
    let first_id = first.headers()["x-request-id"].clone();
    assert_eq!(
        first_id.len(),
        32,
        "request id is set and propagated: {first_id:?}"
    );
    let body = first.text().await.unwrap();
    let parts: Vec<&str> = body.split(' ').collect();
    assert_eq!(parts[0], parts[1], "one instance per request: {body}");
    assert_eq!(parts[2], "/api/twice");
    let second = client
        .get(format!("{base}/api/twice"))
        .send()
        .await
        .unwrap();
    assert_ne!(
        second.headers()["x-request-id"],
        first_id,
        "a new id per request"
    );
    let second = second.text().await.unwrap();
    assert_ne!(
        second.split(' ').next(),
        Some(parts[0]),
        "a new request gets a new instance"
    );

    // Without the prefix: 404.
    assert_eq!(
        client
            .get(format!("{base}/twice"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
    // Body limit: 413.
    let big = client
        .post(format!("{base}/api/echo"))
        .body("x".repeat(65))
        .send()
        .await
        .unwrap();
    assert_eq!(big.status(), 413);
    let ok = client
        .post(format!("{base}/api/echo"))
        .body("x".repeat(64))
        .send()
        .await
        .unwrap();
    assert_eq!(ok.text().await.unwrap(), "64");
    // Timeout: 408.
    assert_eq!(
        client
            .get(format!("{base}/api/sleep"))
            .send()
            .await
            .unwrap()
            .status(),
        408
    );
    // Readiness is injectable and true while serving.
    assert_eq!(
        client
            .get(format!("{base}/api/ready"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap(),
        "true"
    );
    // An incoming request id is kept.
    let echoed = client
        .get(format!("{base}/api/ready"))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "abc-123");

    let readiness = Arc::clone(running.readiness());
    running.shutdown().await.unwrap();
    assert!(!readiness.is_ready() && readiness.is_shutting_down());
}

#[tokio::test]
async fn routes_cannot_depend_on_request_scoped_providers() {
    struct Tenant;
    let module = Module::new("web")
        .provider(Provider::factory(|(): ()| Tenant).request_scoped())
        .routes(|_: Arc<Tenant>| Router::new());
    let messages = match TestingModule::new(module).build().await {
        Err(Error::Invalid(report)) => report.messages(),
        other => panic!("expected a report, got {other:?}"),
    };
    assert_eq!(
        messages,
        [
            "module `web`: its routes are built once at start-up but needs `Tenant`, which is request-scoped and only exists inside a request: resolve it per request in a handler with the `Inject<T>` extractor instead"
        ]
    );
}

#[tokio::test]
async fn in_flight_requests_finish_during_shutdown() {
    // The handler signals when it has started, so shutdown begins with the request in flight
    // (a fixed sleep could start it before a loaded machine accepted the connection).
    let started = Arc::new(tokio::sync::Notify::new());
    let entered = Arc::clone(&started);
    let module = Module::new("web").router(Router::new().route(
        "/work",
        get(move || {
            let entered = Arc::clone(&entered);
            async move {
                entered.notify_one();
                tokio::time::sleep(Duration::from_millis(300)).await;
                "done"
            }
        }),
    ));
    let running = TestingModule::new(module)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let url = format!("{}/work", running.base_url());
    let request =
        tokio::spawn(async move { reqwest::get(url).await.unwrap().text().await.unwrap() });
    started.notified().await;
    let addr = running.local_addr();
    running.shutdown().await.unwrap();
    assert_eq!(request.await.unwrap(), "done");
    assert!(
        tokio::net::TcpStream::connect(addr).await.is_err(),
        "listener is closed"
    );
}

#[tokio::test]
async fn overlapping_routes_are_an_error_naming_the_module_and_cleanup_hooks_run() {
    let journal: Journal = Arc::default();
    let a = Module::new("a").router(Router::new().route("/same", get(|| async { "a" })));
    let b =
        recording_module("b", &journal).router(Router::new().route("/same", get(|| async { "b" })));
    let error = TestingModule::new(Module::new("app").import(a).import(b))
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("module `b`: its routes cannot be merged with the others:")
            && text.contains("/same"),
        "{text}"
    );
    let seen = journal.lock().unwrap().clone();
    assert!(
        seen.contains(&"on_application_shutdown:b".to_string()),
        "shutdown hooks ran after the failed start: {seen:?}"
    );
}

#[tokio::test]
async fn a_route_builder_that_panics_is_an_error_naming_the_module() {
    // e.g. a path read from config in axum's old `/:id` syntax.
    let module = Module::new("reports")
        .routes(|(): ()| Router::new().route("/reports/:id", get(|| async { "report" })));
    let error = TestingModule::new(Module::new("app").import(module))
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap_err();
    let text = error.to_string();
    assert!(
        text.starts_with("module `reports`: its routes cannot be built:")
            && text.contains("must not start with `:`"),
        "{text}"
    );
}

#[tokio::test]
async fn config_sections_are_resolvable_and_injectable_in_handlers() {
    #[derive(Debug, Clone, serde::Deserialize, validator::Validate)]
    struct Shop {
        name: String,
    }
    impl framework::ConfigSection for Shop {}
    let module = Module::new("shop")
        .config::<Shop>("shop")
        .router(Router::new().route(
            "/name",
            get(|shop: Inject<framework::Config<Shop>>| async move { shop.name.clone() }),
        ));
    let app = TestingModule::new(module)
        .config("[shop]\nname = \"corner\"")
        .build()
        .await
        .unwrap();
    assert_eq!(
        app.container()
            .get::<framework::Config<Shop>>()
            .unwrap()
            .name,
        "corner"
    );
    let running = app.start().await.unwrap();
    let body = reqwest::get(format!("{}/name", running.base_url()))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(body, "corner");
    running.shutdown().await.unwrap();
}

#[tokio::test]
async fn discovery_is_injectable_and_refuses_use_inside_factories() {
    struct Kind;
    impl framework::ContributionKind for Kind {
        type Item = u8;
    }
    struct Early(String);
    let module = Module::new("app")
        .provider(Provider::value(1_u8).contribute::<Kind, _>(|v: &Arc<u8>| **v))
        .provider(Provider::factory(|d: Arc<framework::Discovery>| {
            Early(d.discover::<Kind>().unwrap_err().to_string())
        }));
    let app = TestingModule::new(module).build().await.unwrap();
    assert!(
        app.get::<Early>()
            .unwrap()
            .0
            .starts_with("discovery is not available yet")
    );
    let later = app
        .get::<framework::Discovery>()
        .unwrap()
        .discover::<Kind>()
        .unwrap();
    assert_eq!(*later[0].item, 1);
}

#[tokio::test]
async fn http_layers_from_enabled_modules_wrap_every_route_and_see_the_route_template() {
    use axum::extract::MatchedPath;
    use framework::http::{HttpLayer, HttpLayers};

    type Seen = Arc<Mutex<Vec<String>>>;
    struct Recorder(Seen);
    let seen: Seen = Arc::default();
    let recorder = {
        let seen = Arc::clone(&seen);
        Provider::value(Recorder(seen)).contribute::<HttpLayers, _>(|this: &Arc<Recorder>| {
            let seen = Arc::clone(&this.0);
            HttpLayer::new(move |router: Router| {
                let seen = Arc::clone(&seen);
                router.layer(axum::middleware::from_fn(
                    move |request: axum::extract::Request, next: axum::middleware::Next| {
                        let route = request
                            .extensions()
                            .get::<MatchedPath>()
                            .map_or("unmatched".to_string(), |p| p.as_str().to_string());
                        seen.lock().unwrap().push(route);
                        next.run(request)
                    },
                ))
            })
        })
    };
    let orders = Module::new("orders")
        .router(Router::new().route("/orders/{id}", get(|| async { "order" })));
    let root = Module::new("app")
        .import(orders)
        .import_optional(Module::new("metrics").provider(recorder));
    let running = TestingModule::new(root)
        .config("[server]\nglobal_prefix = \"/api\"")
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let client = reqwest::Client::new();
    for id in [1, 2] {
        let response = client
            .get(format!("{}/api/orders/{id}", running.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.text().await.unwrap(), "order");
    }
    running.shutdown().await.unwrap();
    assert_eq!(
        *seen.lock().unwrap(),
        ["/api/orders/{id}", "/api/orders/{id}"]
    );

    // The module switched off: no layer.
    let seen_before = seen.lock().unwrap().len();
    let recorder_off = Provider::value(Recorder(Arc::clone(&seen))).contribute::<HttpLayers, _>(
        |_: &Arc<Recorder>| {
            HttpLayer::new(|_router: Router| panic!("a disabled module's layer must not apply"))
        },
    );
    let root = Module::new("app")
        .import(
            Module::new("orders")
                .router(Router::new().route("/orders/{id}", get(|| async { "order" }))),
        )
        .import_optional(Module::new("metrics").provider(recorder_off));
    let running = TestingModule::new(root)
        .config("[modules.metrics]\nenabled = false")
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap();
    let response = reqwest::get(format!("{}/orders/1", running.base_url()))
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    running.shutdown().await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), seen_before);
}
