//! The embedded executor end to end: a real app on loopback, functions driven in-process over
//! the SDK protocol, events through `InngestService` and the Event API.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test helpers outside #[test] functions

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use framework::{Module, Provider, RunningApp, TestingModule, injectable};
use inngest_module::executor::RunView;
use inngest_module::{
    self as inngest, Ctx, EmbeddedExecutor, Event, InngestModule, InngestService,
};
use serde_json::{Value, json};

#[derive(Default)]
struct Counters {
    charged: AtomicUsize,
}

struct Flows {
    counters: Arc<Counters>,
}

#[injectable]
impl Flows {
    fn new(counters: Arc<Counters>) -> Self {
        Self { counters }
    }

    #[inngest::function(id = "three-steps", event = "test/three")]
    async fn three_steps(&self, ctx: Ctx) -> inngest::Result<Value> {
        let counters = Arc::clone(&self.counters);
        let a = ctx
            .step
            .run("charge", || async move {
                counters.charged.fetch_add(1, Ordering::SeqCst);
                Ok(1)
            })
            .await?;
        ctx.step.sleep("pause", "1s").await?;
        let b: i32 = ctx.step.run("ship", || async move { Ok(a + 1) }).await?;
        Ok(json!({ "a": a, "b": b }))
    }
}

async fn start_app(config: &str) -> RunningApp {
    let root = Module::new("app")
        .import(InngestModule::from_config())
        .provider(Provider::value(Counters::default()))
        .provide::<Flows>();
    TestingModule::new(root)
        .config(config.to_string())
        .build()
        .await
        .unwrap()
        .start()
        .await
        .unwrap()
}

fn executor(app: &RunningApp) -> inngest_module::Executor {
    let embedded = app.container().get::<EmbeddedExecutor>().unwrap();
    embedded.executor().cloned().expect("embedded executor")
}

async fn finished(app: &RunningApp, event_id: &str) -> RunView {
    let executor = executor(app);
    for _ in 0..500 {
        let runs = executor
            .runs(&inngest_module::executor::store::RunFilter {
                event: Some(event_id.to_string()),
                ..Default::default()
            })
            .unwrap();
        if let Some(run) = runs.first() {
            let run = executor
                .wait_for_run(&run.run_id, Duration::from_secs(20))
                .await
                .unwrap()
                .unwrap();
            return run;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("no run for event {event_id}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_three_step_function_with_a_sleep_completes() {
    let app = start_app("[inngest]\napp_id = \"shop\"\n").await;
    let service = app.container().get::<InngestService>().unwrap();
    let ids = service
        .send(Event::new("test/three", json!({"order": 1})))
        .await
        .unwrap();
    let run = finished(&app, &ids[0]).await;
    assert_eq!(run.status, "Completed", "{run:?}");
    assert_eq!(run.output, Some(json!({"a": 1, "b": 2})));
    let steps = run.steps.unwrap();
    let names: Vec<&str> = steps.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(names, ["charge", "pause", "ship"]);
    app.shutdown().await.unwrap();
}
