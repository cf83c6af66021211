//! Helpers shared by the integration tests: a sample app, and a small parser of the
//! Prometheus text format.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::Router;
use axum::extract::{Path, State};
use axum::routing::get;
use framework::{Module, RunningApp, TestingModule};
use monitoring_module::prometheus::CounterVec;
use monitoring_module::{Metrics, MonitoringModule, TryLabels};

/// The `orders` module: `GET /orders/{id}`, counting views in a custom counter registered
/// through the injected `Metrics` (or not at all when monitoring is switched off).
pub fn orders_module() -> Module {
    Module::new("orders").routes(|metrics: Option<Arc<Metrics>>| {
        let viewed = metrics.map(|metrics| {
            metrics
                .counter("orders_viewed_total", "Orders viewed.", &["kind"])
                .expect("register orders_viewed_total")
        });
        Router::new()
            .route("/orders/{id}", get(order))
            .with_state(viewed)
    })
}

async fn order(State(viewed): State<Option<CounterVec>>, Path(id): Path<u32>) -> String {
    if let Some(viewed) = viewed {
        viewed.try_labels(&["web"]).expect("one label").inc();
    }
    format!("order {id}")
}

/// The app: monitoring (from `[monitoring]`, optional so `modules.monitoring.enabled =
/// false` can switch it off) plus the orders module.
pub fn app() -> Module {
    Module::new("app")
        .import_optional(MonitoringModule::new())
        .import(orders_module())
}

/// Starts `app()` with inline TOML config on an ephemeral loopback port.
pub async fn start(config: &str) -> RunningApp {
    TestingModule::new(app())
        .config(config)
        .build()
        .await
        .expect("the app builds")
        .start()
        .await
        .expect("the app starts")
}

/// GET `path` on `app`, returning the status and body.
pub async fn get_text(app: &RunningApp, path: &str) -> (u16, String) {
    let response = reqwest::get(format!("{}{path}", app.base_url()))
        .await
        .expect("request");
    let status = response.status().as_u16();
    (status, response.text().await.expect("body"))
}

/// GET `path` as JSON.
pub async fn get_json(app: &RunningApp, path: &str) -> serde_json::Value {
    let response = reqwest::get(format!("{}{path}", app.base_url()))
        .await
        .expect("request");
    assert_eq!(response.status().as_u16(), 200, "GET {path}");
    response.json().await.expect("JSON body")
}

/// One sample line of the text format.
#[derive(Debug, Clone, PartialEq)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

/// Parses every sample line (`name{a="x",b="y"} value`); comments are skipped.
pub fn parse(text: &str) -> Vec<Sample> {
    text.lines()
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .map(|line| {
            let (series, value) = line.rsplit_once(' ').expect("`series value`");
            let value = match value {
                "+Inf" => f64::INFINITY,
                "-Inf" => f64::NEG_INFINITY,
                v => v.parse().expect("a number"),
            };
            let (name, labels) = match series.split_once('{') {
                None => (series.to_string(), BTreeMap::new()),
                Some((name, rest)) => {
                    let body = rest.strip_suffix('}').expect("closing brace");
                    let labels = body
                        .split("\",")
                        .filter(|pair| !pair.is_empty())
                        .map(|pair| {
                            let (key, value) = pair.split_once("=\"").expect("label=\"value\"");
                            (key.to_string(), value.trim_end_matches('"').to_string())
                        })
                        .collect();
                    (name.to_string(), labels)
                }
            };
            Sample {
                name,
                labels,
                value,
            }
        })
        .collect()
}

/// The samples named `name` whose labels include every pair of `labels`.
pub fn find(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Vec<Sample> {
    samples
        .iter()
        .filter(|s| {
            s.name == name
                && labels
                    .iter()
                    .all(|(k, v)| s.labels.get(*k).map(String::as_str) == Some(*v))
        })
        .cloned()
        .collect()
}

/// The value of the single sample matching, failing the test otherwise.
pub fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> f64 {
    let found = find(samples, name, labels);
    assert_eq!(
        found.len(),
        1,
        "exactly one {name} {labels:?} in {samples:#?}"
    );
    found[0].value
}
