//! What an event that matches nothing costs the embedded executor when thousands of runs
//! listen for its name: 3,000 runs waiting (`wait_for_event` on `order.shipped`,
//! `async.data.orderId == event.data.orderId`) and 3,000 cancellable on `order.cancelled`
//! (same condition), against the same send with nobody listening (the baseline), in the
//! same run. Listeners are found through the (event name, match path, match value) index,
//! so a non-matching event costs index probes, not 3,000 expression evaluations; the
//! `unindexed` case (a `>` condition, which cannot be indexed) shows what the index saves.
//!
//! `cargo bench -p inngest-module --bench matching` (target ≤ 1 ms per non-matching event
//! with 3,000 active runs; figures in `docs/PERFORMANCE.md`).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use framework::{Module, Provider, RunningApp, TestingModule};
use inngest_module::{
    Ctx, EmbeddedExecutor, Error, Executor, Function, FunctionOptions, Functions, InngestModule,
    WaitFor,
};
use serde_json::{Value, json};

/// Runs listening on each event name.
const LISTENERS: usize = 3_000;

struct Listeners;

fn functions() -> Module {
    let provider = Provider::value(Listeners)
        .contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("waiter").event("order.created"),
                |ctx: Ctx| async move {
                    let wait = WaitFor::event("order.shipped")
                        .matching("async.data.orderId == event.data.orderId")
                        .timeout("1h");
                    ctx.step.wait_for_event::<Value>("shipped", wait).await?;
                    Ok::<_, Error>(json!("shipped"))
                },
            )
        })
        .contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("cancellable")
                    .event("order.placed")
                    .cancel_on(
                        "order.cancelled",
                        Some("async.data.orderId == event.data.orderId"),
                        None,
                    ),
                |ctx: Ctx| async move {
                    ctx.step.sleep("cool-off", "1h").await?;
                    Ok::<_, Error>(json!("kept"))
                },
            )
        })
        .contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("threshold").event("order.audited"),
                |ctx: Ctx| async move {
                    let wait = WaitFor::event("order.flagged")
                        .matching("async.data.total > event.data.limit")
                        .timeout("1h");
                    ctx.step.wait_for_event::<Value>("flagged", wait).await?;
                    Ok::<_, Error>(json!("flagged"))
                },
            )
        });
    Module::new("functions").provider(provider)
}

fn executor(app: &RunningApp) -> Executor {
    app.container()
        .get::<EmbeddedExecutor>()
        .unwrap()
        .executor()
        .cloned()
        .unwrap()
}

fn event(name: &str, data: Value) -> Vec<Value> {
    vec![json!({ "name": name, "data": data })]
}

fn matching(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let config = format!(
        "[log]\nlevel = \"warn\"\n[inngest]\napp_id = \"bench\"\n[inngest.embedded]\nmax_parallel = 256\ndatabase = \"{}\"\n",
        dir.path().join("matching.sqlite3").display()
    );
    let app = rt.block_on(async {
        TestingModule::new(
            Module::new("app")
                .import(InngestModule::from_config())
                .import(functions()),
        )
        .config(config)
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
    });
    let executor = executor(&app);
    rt.block_on(async {
        for (name, amount) in [("order.created", LISTENERS), ("order.placed", LISTENERS), ("order.audited", LISTENERS)] {
            let events = (0..amount)
                .map(|n| json!({ "name": name, "data": { "orderId": format!("o-{n}"), "limit": 1_000_000 } }))
                .collect();
            executor.send(events).await.unwrap();
        }
        // Every run parked on its wait or sleep: nothing left to execute.
        loop {
            let steps = executor.events(1, Some("order.created")).await.unwrap();
            assert!(!steps.is_empty());
            if executor.active_runs().await.unwrap() == 3 * LISTENERS && idle(&executor).await {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    });
    let mut group = c.benchmark_group("matching");
    group
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .sample_size(50);
    group.bench_function("baseline_no_listeners", |b| {
        b.iter(|| {
            rt.block_on(executor.send(black_box(event("order.noise", json!({"orderId": "x"})))))
                .unwrap()
        });
    });
    group.bench_function("wait_non_matching_3000", |b| {
        b.iter(|| {
            rt.block_on(executor.send(black_box(event(
                "order.shipped",
                json!({"orderId": "nobody"}),
            ))))
            .unwrap()
        });
    });
    group.bench_function("cancel_non_matching_3000", |b| {
        b.iter(|| {
            rt.block_on(executor.send(black_box(event(
                "order.cancelled",
                json!({"orderId": "nobody"}),
            ))))
            .unwrap()
        });
    });
    group.bench_function("unindexed_non_matching_3000", |b| {
        b.iter(|| {
            rt.block_on(executor.send(black_box(event("order.flagged", json!({"total": 1})))))
                .unwrap()
        });
    });
    group.finish();
    // Nothing was resumed or cancelled by the noise.
    let active = rt.block_on(executor.active_runs()).unwrap();
    assert_eq!(active, 3 * LISTENERS, "a non-matching event changed a run");
    rt.block_on(app.shutdown()).unwrap();
}

/// `true` once no run has work queued to execute (all wait or sleep).
async fn idle(executor: &Executor) -> bool {
    let runs = executor
        .runs(&inngest_module::executor::RunFilter {
            status: Some(inngest_module::executor::RunStatus::Queued),
            limit: Some(1),
            ..Default::default()
        })
        .await
        .unwrap();
    runs.is_empty()
}

criterion_group!(benches, matching);
criterion_main!(benches);
