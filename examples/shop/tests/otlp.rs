//! Traces over the wire: the real shop binary exports OTLP/HTTP (protobuf) to a receiver on
//! loopback built on the `opentelemetry-proto` crate. An order placed with a `traceparent`
//! header yields one trace: the HTTP request, the function runs its event started, their
//! steps — with the right parents — flushed at SIGTERM.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::routing::post;
use common::{ShopProcess, place_order, shop, wait_for_run};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

/// Every span received, with its resource's `service.name`.
type Received = Arc<Mutex<Vec<(String, Span)>>>;

async fn export(State(received): State<Received>, body: Bytes) -> &'static str {
    let request = ExportTraceServiceRequest::decode(body).expect("an OTLP protobuf body");
    let mut received = received.lock().unwrap();
    for resource_spans in request.resource_spans {
        let service = resource_spans
            .resource
            .as_ref()
            .and_then(|r| r.attributes.iter().find(|kv| kv.key == "service.name"))
            .and_then(|kv| kv.value.as_ref()?.value.as_ref())
            .map(|v| match v {
                AnyValue::StringValue(s) => s.clone(),
                other => format!("{other:?}"),
            })
            .unwrap_or_default();
        for scope in resource_spans.scope_spans {
            for span in scope.spans {
                received.push((service.clone(), span));
            }
        }
    }
    ""
}

fn attribute(span: &Span, key: &str) -> Option<String> {
    span.attributes
        .iter()
        .find(|kv| kv.key == key)
        .and_then(|kv| kv.value.as_ref()?.value.as_ref())
        .map(|v| match v {
            AnyValue::StringValue(s) => s.clone(),
            AnyValue::IntValue(i) => i.to_string(),
            other => format!("{other:?}"),
        })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shop_exports_one_trace_from_request_to_steps_over_otlp_http() {
    let received: Received = Arc::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let receiver = format!("http://{}", listener.local_addr().unwrap());
    let paths = Arc::new(Mutex::new(Vec::<String>::new()));
    let app = Router::new()
        .route("/v1/traces", post(export))
        .with_state(Arc::clone(&received));
    let seen_paths = Arc::clone(&paths);
    let app = app.fallback(move |uri: axum::http::Uri| {
        seen_paths.lock().unwrap().push(uri.to_string());
        async { axum::http::StatusCode::NOT_FOUND }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });

    let process = ShopProcess::start({
        let mut command = shop();
        command
            .env("APP_ENV", "test")
            .env("APP__TELEMETRY__ENABLED", "true")
            // The classic protocol: one execution request (one run span) per step.
            .env("APP__INNGEST__CHECKPOINTING__ENABLED", "false")
            .env("OTEL_EXPORTER_OTLP_ENDPOINT", &receiver)
            .env("OTEL_SERVICE_NAME", "shop-under-test");
        command
    });
    let base = process.base.clone();
    let http = reqwest::Client::new();
    let caller_trace = "4bf92f3577b34da6a3ce929d0e0e4736";
    let caller_span = "00f067aa0ba902b7";
    let traceparent = format!("00-{caller_trace}-{caller_span}-01");
    let accepted = place_order(&http, &base, 1, 900, Some(&traceparent)).await;
    let run = wait_for_run(&http, &process, accepted["eventIds"][0].as_str().unwrap()).await;
    assert_eq!(run["status"], "Completed", "{run}");
    // Probes produce no spans.
    assert_eq!(
        http.get(format!("{base}/health/live"))
            .send()
            .await
            .unwrap()
            .status(),
        200
    );
    // SIGTERM: the app flushes its spans before exiting.
    let output_before = process.output();
    assert_eq!(process.terminate(), Some(0), "{output_before}");

    let spans = received.lock().unwrap().clone();
    assert!(
        paths.lock().unwrap().is_empty(),
        "{:?}",
        paths.lock().unwrap()
    );
    assert!(!spans.is_empty(), "no span arrived");
    assert!(
        spans
            .iter()
            .all(|(service, _)| service == "shop-under-test")
    );
    let hex = |bytes: &[u8]| bytes.iter().map(|b| format!("{b:02x}")).collect::<String>();

    let request = spans
        .iter()
        .map(|(_, s)| s)
        .find(|s| s.name == "POST" && attribute(s, "url.path").as_deref() == Some("/orders"))
        .expect("the HTTP server span");
    assert_eq!(attribute(request, "http.route").as_deref(), Some("/orders"));
    assert_eq!(hex(&request.trace_id), caller_trace);
    assert_eq!(hex(&request.parent_span_id), caller_span);
    assert!(
        spans
            .iter()
            .all(|(_, s)| attribute(s, "url.path").is_none_or(|p| !p.starts_with("/health"))),
        "a probe produced a span"
    );

    let runs: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| attribute(s, "inngest.function.id").as_deref() == Some("shop-process-order"))
        .collect();
    assert!(runs.len() >= 3, "{} process-order requests", runs.len());
    for run in &runs {
        assert_eq!(hex(&run.trace_id), caller_trace, "{}", run.name);
        assert_eq!(
            run.parent_span_id, request.span_id,
            "a run continues the request"
        );
        assert_eq!(run.links.len(), 1, "the executor's traceparent is a link");
    }
    let steps: Vec<&Span> = spans
        .iter()
        .map(|(_, s)| s)
        .filter(|s| s.name.starts_with("inngest.step "))
        .collect();
    let charge = steps
        .iter()
        .find(|s| attribute(s, "inngest.step.id").as_deref() == Some("charge"))
        .expect("the charge step's span");
    assert!(
        runs.iter().any(|r| r.span_id == charge.parent_span_id
            && attribute(r, "inngest.step.id").as_deref() == Some("charge")),
        "the step's parent is the request that ran it"
    );
    assert_eq!(hex(&charge.trace_id), caller_trace);
}
