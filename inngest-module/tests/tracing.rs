//! Traces across an HTTP request, the event it sends and the runs that event starts, with
//! an in-memory span exporter: one trace, with the right parent of every span.
//!
//! Each test runs on a current-thread runtime with its own thread-local subscriber, so
//! every span of its app (server tasks and the embedded executor included) lands in its
//! own exporter.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::routing::post;
use framework::{Module, RunningApp, TestingModule, injectable};
use inngest_module::{self as inngest, Ctx, Event, InngestModule, InngestService};
use opentelemetry::trace::{SpanId, TraceId, TracerProvider as _};
use opentelemetry_sdk::trace::{InMemorySpanExporter, SdkTracerProvider, SpanData};
use serde_json::{Value, json};
use std::sync::Arc;
use tracing_subscriber::layer::SubscriberExt;

struct Orders;

#[injectable]
impl Orders {
    fn new() -> Self {
        Orders
    }

    #[inngest::function(id = "process-order", event = "order.created")]
    async fn process(&self, ctx: Ctx) -> inngest::Result<Value> {
        let charged: i32 = ctx.step.run("charge", || async { Ok(42) }).await?;
        ctx.step
            .send_event(
                "notify",
                Event::new("order.charged", json!({ "amount": charged })),
            )
            .await?;
        Ok(json!({ "charged": charged }))
    }

    #[inngest::function(id = "send-receipt", event = "order.charged")]
    async fn receipt(&self, ctx: Ctx) -> inngest::Result<Value> {
        ctx.step.run("email", || async { Ok(()) }).await?;
        Ok(json!("sent"))
    }

    #[inngest::function(id = "echo-context", event = "context.given")]
    async fn echo(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(ctx.event.data.clone())
    }
}

/// `POST /orders` sends `order.created` through `InngestService` and returns the ids.
fn api() -> Module {
    Module::new("api").routes(|service: Arc<InngestService>| {
        Router::new()
            .route(
                "/orders",
                post(|State(service): State<Arc<InngestService>>| async move {
                    let ids = service
                        .send(Event::new("order.created", json!({ "id": "o-1" })))
                        .await
                        .unwrap();
                    axum::Json(json!({ "ids": ids }))
                }),
            )
            .with_state(service)
    })
}

/// On the classic protocol (one execution request per step), so each step's request span
/// is its own; with checkpointing the steps of a request share its span.
const CONFIG: &str = "[telemetry]\nenabled = true\n[inngest]\napp_id = \"shop\"\ncheckpointing = { enabled = false }\n[inngest.health]\nenabled = true\n";

struct Traced {
    exporter: InMemorySpanExporter,
    _guard: tracing::subscriber::DefaultGuard,
    _provider: SdkTracerProvider,
}

fn traced() -> Traced {
    let exporter = InMemorySpanExporter::default();
    let provider = SdkTracerProvider::builder()
        .with_simple_exporter(exporter.clone())
        .build();
    let subscriber = tracing_subscriber::registry()
        .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")));
    let guard = tracing::subscriber::set_default(subscriber);
    Traced {
        exporter,
        _guard: guard,
        _provider: provider,
    }
}

async fn start(config: &str) -> RunningApp {
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .import(api())
        .provide::<Orders>();
    TestingModule::new(root)
        .config(config.to_string())
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn attribute(span: &SpanData, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key.as_str() == key)
        .map(|kv| kv.value.to_string())
}

/// Waits until `count` spans named `name` for function `function` were exported.
async fn spans_of(
    exporter: &InMemorySpanExporter,
    name: &str,
    function: Option<&str>,
    count: usize,
) -> Vec<SpanData> {
    for _ in 0..1000 {
        let found: Vec<SpanData> = exporter
            .get_finished_spans()
            .unwrap()
            .into_iter()
            // The exported name is `otel.name`: "<span name> <subject>" (or the HTTP method).
            .filter(|s| s.name == name || s.name.starts_with(&format!("{name} ")))
            .filter(|s| {
                function.is_none_or(|f| attribute(s, "inngest.function.id").as_deref() == Some(f))
            })
            .collect();
        if found.len() >= count {
            return found;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "fewer than {count} `{name}` spans for {function:?}; exported: {:?}",
        exporter
            .get_finished_spans()
            .unwrap()
            .iter()
            .map(|s| (s.name.to_string(), s.attributes.clone()))
            .collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "current_thread")]
async fn a_request_its_event_and_the_runs_it_starts_share_one_trace() {
    let traced = traced();
    let app = start(CONFIG).await;
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let response = reqwest::Client::new()
        .post(format!("{}/orders", app.base_url()))
        .header("traceparent", format!("00-{caller_trace}-{caller_span}-01"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let trace = TraceId::from_hex(caller_trace).unwrap();

    // The HTTP server span continues the caller's context.
    let http = spans_of(&traced.exporter, "POST", None, 1).await;
    let http = &http[0];
    assert_eq!(attribute(http, "http.route").as_deref(), Some("/orders"));
    assert_eq!(
        attribute(http, "http.response.status_code").as_deref(),
        Some("200")
    );
    assert_eq!(http.span_context.trace_id(), trace);
    assert_eq!(http.parent_span_id, SpanId::from_hex(caller_span).unwrap());

    // process-order: requests for `charge`, `notify` and completion, each a child of the
    // HTTP span (the producer), each linked to the executor's traceparent.
    let runs = spans_of(
        &traced.exporter,
        "inngest.function.run",
        Some("shop-process-order"),
        3,
    )
    .await;
    for run in &runs {
        assert_eq!(run.span_context.trace_id(), trace, "{run:?}");
        assert_eq!(run.parent_span_id, http.span_context.span_id(), "{run:?}");
        assert_eq!(
            run.links.links.len(),
            1,
            "the executor's traceparent is a link"
        );
        assert!(attribute(run, "inngest.run.id").is_some());
        assert_eq!(attribute(run, "inngest.attempt").as_deref(), Some("0"));
    }
    let outcomes: Vec<(Option<String>, Option<String>)> = runs
        .iter()
        .map(|r| (attribute(r, "inngest.op"), attribute(r, "inngest.outcome")))
        .collect();
    assert!(
        outcomes.contains(&(Some("StepRun".into()), Some("continuing".into()))),
        "{outcomes:?}"
    );
    assert!(
        outcomes.contains(&(Some("RunComplete".into()), Some("completed".into()))),
        "{outcomes:?}"
    );

    // Each step body is a child of the request that ran it.
    let steps = spans_of(&traced.exporter, "inngest.step", None, 3).await;
    let charge = steps
        .iter()
        .find(|s| attribute(s, "inngest.step.id").as_deref() == Some("charge"))
        .unwrap();
    let charge_run = runs
        .iter()
        .find(|r| r.span_context.span_id() == charge.parent_span_id)
        .expect("the step's parent is a run span");
    assert_eq!(
        attribute(charge_run, "inngest.step.id").as_deref(),
        Some("charge")
    );
    assert_eq!(
        attribute(charge_run, "inngest.step.hash"),
        attribute(charge, "inngest.step.hash")
    );
    assert_eq!(attribute(charge, "inngest.op").as_deref(), Some("StepRun"));
    assert_eq!(charge.span_context.trace_id(), trace);

    // send-receipt was started by the `notify` step's event: its runs are children of
    // that step's span, in the same trace.
    let notify = steps
        .iter()
        .find(|s| attribute(s, "inngest.step.id").as_deref() == Some("notify"))
        .unwrap();
    let receipts = spans_of(
        &traced.exporter,
        "inngest.function.run",
        Some("shop-send-receipt"),
        2,
    )
    .await;
    for run in &receipts {
        assert_eq!(run.span_context.trace_id(), trace);
        assert_eq!(run.parent_span_id, notify.span_context.span_id());
    }
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn carried_contexts_are_read_in_both_shapes_and_never_overwritten() {
    let traced = traced();
    let app = start(CONFIG).await;
    let service = app.container().get::<InngestService>().unwrap();
    // The nestjs-inngest shape, set by the user: kept as is, and used as the parent.
    let given = json!({ "traceId": "0af7651916cd43dd8448eb211c80319c", "spanId": "b7ad6b7169203331", "traceFlags": 1 });
    service
        .send(Event::new(
            "context.given",
            json!({ "traceContext": given }),
        ))
        .await
        .unwrap();
    let runs = spans_of(
        &traced.exporter,
        "inngest.function.run",
        Some("shop-echo-context"),
        1,
    )
    .await;
    assert_eq!(
        runs[0].span_context.trace_id(),
        TraceId::from_hex("0af7651916cd43dd8448eb211c80319c").unwrap()
    );
    assert_eq!(
        runs[0].parent_span_id,
        SpanId::from_hex("b7ad6b7169203331").unwrap()
    );
    let executor = executor(&app);
    let events = executor.events(10, Some("context.given")).await.unwrap();
    assert_eq!(events[0]["data"]["traceContext"], given, "{events:?}");

    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn probes_and_scrapes_produce_no_spans_wherever_they_are_mounted() {
    let traced = traced();
    // Health moved to /status: the module tells the framework, no list to keep in sync.
    // `disk_threshold = 1.0`: `/status` includes the `disk` indicator, and how full this
    // machine's disk is has nothing to do with tracing.
    let app = start(&format!(
        "{CONFIG}[inngest.monitoring]\nenabled = true\n[health]\npath = \"/status\"\ndisk_threshold = 1.0\n[monitoring]\nmetrics_path = \"/prom\"\n"
    ))
    .await;
    let client = reqwest::Client::new();
    for path in [
        "/status/live",
        "/status",
        "/livez",
        "/prom",
        "/monitoring/system",
    ] {
        let response = client
            .get(format!("{}{path}", app.base_url()))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200, "{path}");
    }
    // A traced request afterwards: once its span is exported, the probes' would be too.
    let response = client
        .post(format!("{}/orders", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    spans_of(&traced.exporter, "POST", None, 1).await;
    let server_spans: Vec<String> = traced
        .exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .filter_map(|s| attribute(s, "url.path"))
        .collect();
    assert_eq!(
        server_spans,
        ["/orders"],
        "only the order request is traced"
    );
    app.shutdown().await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn without_a_carried_context_the_executor_traceparent_is_parent_or_link() {
    for (mode, expect_parent) in [("parent", true), ("link", false)] {
        let traced = traced();
        let app = start(&format!(
            "{CONFIG}[inngest.tracing]\nexecutor_traceparent = \"{mode}\"\ninject = false\n"
        ))
        .await;
        let service = app.container().get::<InngestService>().unwrap();
        // `inject = false`: the event carries no context even inside a span.
        let ids = service
            .send(Event::new("context.given", json!({ "n": 1 })))
            .await
            .unwrap();
        let runs = spans_of(
            &traced.exporter,
            "inngest.function.run",
            Some("shop-echo-context"),
            1,
        )
        .await;
        let run = &runs[0];
        if expect_parent {
            assert_ne!(run.parent_span_id, SpanId::INVALID, "{mode}: {run:?}");
            assert!(run.links.links.is_empty(), "{mode}");
        } else {
            assert_eq!(run.parent_span_id, SpanId::INVALID, "{mode}: a root span");
            assert_eq!(run.links.links.len(), 1, "{mode}");
        }
        let executor = executor(&app);
        let events = executor.events(10, Some("context.given")).await.unwrap();
        assert!(
            events[0]["data"].get("traceContext").is_none(),
            "{ids:?} {events:?}"
        );
        app.shutdown().await.unwrap();
    }
}

#[tokio::test(flavor = "current_thread")]
async fn with_telemetry_off_there_are_no_spans_and_events_carry_nothing() {
    let traced = traced();
    let app = start("[inngest]\napp_id = \"shop\"\n").await;
    let response = reqwest::Client::new()
        .post(format!("{}/orders", app.base_url()))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let executor = executor(&app);
    let events = executor.events(10, Some("order.created")).await.unwrap();
    assert!(events[0]["data"].get("traceContext").is_none());
    let runs = executor
        .runs(&inngest_module::executor::RunFilter {
            function: Some("shop-process-order".into()),
            ..Default::default()
        })
        .await
        .unwrap();
    executor
        .wait_for_run(&runs[0].run_id, Duration::from_secs(20))
        .await
        .unwrap();
    let names: Vec<String> = traced
        .exporter
        .get_finished_spans()
        .unwrap()
        .iter()
        .map(|s| s.name.to_string())
        .filter(|n| n.starts_with("inngest") || n == "POST")
        .collect();
    assert!(names.is_empty(), "{names:?}");
    app.shutdown().await.unwrap();
}

/// An execution request over real HTTP, as a remote executor (dev server, Cloud) sends it.
async fn execute_over_http(app: &RunningApp, traceparent: &str) {
    let body = json!({
        "event": { "name": "context.given", "data": { "n": 1 } },
        "events": [{ "name": "context.given", "data": { "n": 1 } }],
        "steps": {},
        "ctx": { "run_id": "01RUNREMOTE", "attempt": 0, "fn_id": "shop-echo-context" },
        "version": 1
    });
    let response = reqwest::Client::new()
        .post(format!(
            "{}/api/inngest?fnId=shop-echo-context&stepId=step",
            app.base_url()
        ))
        .header("traceparent", traceparent)
        .json(&body)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

#[tokio::test(flavor = "current_thread")]
async fn over_http_the_executor_header_is_the_parent_or_only_a_link() {
    let header_trace = "0af7651916cd43dd8448eb211c80319c";
    let header_span = "b7ad6b7169203331";
    let traceparent = format!("00-{header_trace}-{header_span}-01");
    for mode in ["parent", "link"] {
        let traced = traced();
        let app = start(&format!(
            "[telemetry]\nenabled = true\n[inngest]\napp_id = \"shop\"\ndev = true\nexecutor = \"remote\"\n[inngest.tracing]\nexecutor_traceparent = \"{mode}\"\n"
        ))
        .await;
        execute_over_http(&app, &traceparent).await;
        let runs = spans_of(
            &traced.exporter,
            "inngest.function.run",
            Some("shop-echo-context"),
            1,
        )
        .await;
        let run = &runs[0];
        let header_trace_id = TraceId::from_hex(header_trace).unwrap();
        if mode == "parent" {
            assert_eq!(run.span_context.trace_id(), header_trace_id, "{mode}");
            assert_eq!(
                run.parent_span_id,
                SpanId::from_hex(header_span).unwrap(),
                "{mode}"
            );
            assert!(run.links.links.is_empty(), "{mode}");
        } else {
            assert_ne!(
                run.span_context.trace_id(),
                header_trace_id,
                "{mode}: a new trace"
            );
            assert_eq!(run.parent_span_id, SpanId::INVALID, "{mode}: a root span");
            assert_eq!(
                run.links.links[0].span_context.trace_id(),
                header_trace_id,
                "{mode}: linked to the executor's trace"
            );
        }
        assert_eq!(attribute(run, "inngest.op").as_deref(), Some("RunComplete"));
        // The serve handler's run span is the server span: no second one for the POST.
        let posts = traced
            .exporter
            .get_finished_spans()
            .unwrap()
            .iter()
            .filter(|s| attribute(s, "url.path").as_deref() == Some("/api/inngest"))
            .count();
        assert_eq!(posts, 0, "{mode}");
        app.shutdown().await.unwrap();
    }
}

/// The app's embedded executor.
fn executor(app: &RunningApp) -> inngest_module::Executor {
    app.container()
        .get::<inngest::EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .expect("the app runs on the embedded executor")
}
