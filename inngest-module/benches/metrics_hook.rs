//! Overhead of the `inngest_*` metrics hook per function run: `on_run_start`, one
//! `on_step_end` and `on_run_end`, as the serve handler calls them, against a hook that
//! does nothing (the cost of the dynamic calls alone), in the same run.
//!
//! Run with `cargo bench -p inngest-module --bench metrics_hook` (figures in
//! `docs/PERFORMANCE.md`; target ≤ 1 µs per run).
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used)]

use std::hint::black_box;
use std::sync::Arc;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use framework::{Module, TestingModule};
use inngest_module::metrics::InngestMetrics;
use inngest_module::{
    Ctx, Function, FunctionOptions, Functions, InngestHook, InngestModule, RunInfo, RunStatus,
    StepInfo,
};
use serde_json::Value;

struct Noop;
impl InngestHook for Noop {}

/// One function run as the serve handler reports it.
fn one_run(hook: &dyn InngestHook, run: &RunInfo, step: &StepInfo) {
    hook.on_run_start(run);
    hook.on_step_end(run, step, Duration::from_micros(120));
    hook.on_run_end(run, RunStatus::Completed, Duration::from_micros(250));
}

fn metrics_hook(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    struct Work;
    let functions = Module::new("work").provider(
        framework::Provider::value(Work).contribute::<Functions, _>(|_| {
            Function::new(
                FunctionOptions::new("work").event("bench/work"),
                |_ctx: Ctx<Value>| async move { Ok(Value::Null) },
            )
        }),
    );
    let app = rt
        .block_on(
            TestingModule::new(
                Module::new("app")
                    .import(InngestModule::from_config())
                    .import(functions),
            )
            .config(
                "[inngest]\napp_id = \"bench\"\ndev = true\n[inngest.monitoring]\nenabled = true",
            )
            .build(),
        )
        .unwrap();
    let metrics: Arc<InngestMetrics> = app.get::<InngestMetrics>().unwrap();
    assert!(metrics.is_active());
    let run = RunInfo {
        function_id: "bench-work".into(),
        run_id: "01JBENCHRUN".into(),
        attempt: 0,
    };
    let step = StepInfo {
        id: "charge".into(),
        op: "StepRun",
    };
    let noop: Arc<dyn InngestHook> = Arc::new(Noop);
    let active: Arc<dyn InngestHook> = metrics;

    let mut group = c.benchmark_group("metrics_hook_per_run");
    group.bench_function("baseline_noop_hook", |b| {
        b.iter(|| one_run(black_box(noop.as_ref()), black_box(&run), black_box(&step)));
    });
    group.bench_function("inngest_metrics", |b| {
        b.iter(|| {
            one_run(
                black_box(active.as_ref()),
                black_box(&run),
                black_box(&step),
            )
        });
    });
    group.finish();
}

criterion_group!(benches, metrics_hook);
criterion_main!(benches);
