//! The Rust twin of `tests/js-peer/server.js`: the same app id (`js-peer`), the same function
//! ids, step ids and results, so both SDKs can be sent the same execution requests and their
//! answers compared op for op.

use std::time::{Duration, SystemTime};

use framework::{Module, injectable};
use inngest_module::{self as inngest, Ctx, Error, Event, FunctionFailed, Invoke, WaitFor};
use serde_json::{Value, json};

/// The functions of the JS peer, one per recorded scenario.
pub struct Peer;

fn text(value: &Value, key: &str) -> String {
    value
        .get(key)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn date(value: &Value, key: &str) -> Result<SystemTime, Error> {
    let raw = text(value, key);
    humantime::parse_rfc3339_weak(&raw)
        .map_err(|e| Error::non_retriable(format!("`{key}` = `{raw}` is not a date: {e}")))
}

#[injectable]
impl Peer {
    fn new() -> Self {
        Peer
    }

    /// 01: run then sleep.
    #[inngest::function(id = "step-sleep", event = "test/hello", retries = 0)]
    async fn step_sleep(&self, ctx: Ctx) -> inngest::Result<Value> {
        let name = ctx.event.data.get("name").cloned();
        let greeting: Value = ctx
            .step
            .run("first", || async move { Ok(json!({ "hello": name })) })
            .await?;
        ctx.step.sleep("nap", "1s").await?;
        Ok(json!({ "done": true, "greeting": greeting }))
    }

    /// 02: sleep until a time from the event.
    #[inngest::function(id = "sleep-until", event = "test/sleep-until", retries = 0)]
    async fn sleep_until(&self, ctx: Ctx) -> inngest::Result<Value> {
        let until = date(&ctx.event.data, "until")?;
        ctx.step.sleep_until("wake", until).await?;
        Ok(json!({ "woke": true, "until": ctx.event.data["until"] }))
    }

    /// 03: wait for a matching event.
    #[inngest::function(id = "wait-approval", event = "test/request", retries = 0)]
    async fn wait_approval(&self, ctx: Ctx) -> inngest::Result<Value> {
        let wait = WaitFor::event("test/approved")
            .timeout("30s")
            .matching("async.data.id == event.data.id");
        let approval = ctx
            .step
            .wait_for_event::<Value>("wait-approval", wait)
            .await?;
        Ok(json!({ "approval": approval }))
    }

    /// 04: a wait that times out.
    #[inngest::function(
        id = "wait-approval-timeout",
        event = "test/request-short",
        retries = 0
    )]
    async fn wait_approval_timeout(&self, ctx: Ctx) -> inngest::Result<Value> {
        let wait = WaitFor::event("test/approved")
            .timeout("2s")
            .matching("async.data.id == event.data.id");
        let approval = ctx
            .step
            .wait_for_event::<Value>("wait-approval", wait)
            .await?;
        Ok(json!({ "timedOut": approval.is_none(), "approval": approval }))
    }

    /// 05: send events as a step.
    #[inngest::function(id = "send-event", event = "test/fanout", retries = 0)]
    async fn send_event(&self, ctx: Ctx) -> inngest::Result<Value> {
        let events = vec![
            Event::new("test/child", json!({"n": 1})),
            Event::new("test/child", json!({"n": 2})),
        ];
        let ids = ctx.step.send_event("fan-out", events).await?;
        Ok(json!({ "sent": { "ids": ids } }))
    }

    /// 06: the invoked child (no trigger).
    #[inngest::function(id = "invoke-child", retries = 0)]
    async fn invoke_child(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "y": 2 }))
    }

    /// 06: invoke the child.
    #[inngest::function(id = "invoke-parent", event = "test/invoke", retries = 0)]
    async fn invoke_parent(&self, ctx: Ctx) -> inngest::Result<Value> {
        let child: Value = ctx
            .step
            .invoke(
                "call-child",
                Invoke::function("invoke-child").data(json!({"x": 1})),
            )
            .await?;
        Ok(json!({ "child": child }))
    }

    /// 07: a step that fails on attempt 0.
    #[inngest::function(id = "step-retry", event = "test/step-retry", retries = 2)]
    async fn step_retry(&self, ctx: Ctx) -> inngest::Result<Value> {
        let attempt = ctx.attempt;
        let v: Value = ctx
            .step
            .run("flaky", || async move {
                if attempt == 0 {
                    return Err(Error::retriable("boom on attempt 0"));
                }
                Ok(json!({ "ok": true, "attempt": attempt }))
            })
            .await?;
        Ok(json!({ "v": v }))
    }

    /// 08: a non-retriable error from the body, with a failure handler.
    #[inngest::function(
        id = "non-retriable",
        event = "test/non-retriable",
        retries = 2,
        on_failure = "non_retriable_failed"
    )]
    async fn non_retriable(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Err(Error::non_retriable_caused_by(
            "fatal: do not retry",
            "root cause",
        ))
    }

    async fn non_retriable_failed(&self, ctx: Ctx<FunctionFailed>) -> inngest::Result<Value> {
        Ok(
            json!({ "handled": true, "failedEvent": ctx.event.name, "message": ctx.event.data.error.message }),
        )
    }

    /// 09a: a step asks to be retried after 3 s.
    #[inngest::function(id = "retry-after", event = "test/retry-after", retries = 1)]
    async fn retry_after(&self, ctx: Ctx) -> inngest::Result<Value> {
        let attempt = ctx.attempt;
        let v: Value = ctx
            .step
            .run("rate-limited", || async move {
                if attempt == 0 {
                    return Err(Error::retry_after("slow down", Duration::from_secs(3)));
                }
                Ok(json!({ "ok": true, "attempt": attempt }))
            })
            .await?;
        Ok(json!({ "v": v }))
    }

    /// 09b: the body asks to be retried at a date.
    #[inngest::function(id = "retry-after-body", event = "test/retry-after-body", retries = 1)]
    async fn retry_after_body(&self, ctx: Ctx) -> inngest::Result<Value> {
        if ctx.attempt == 0 {
            return Err(Error::retry_at(
                "come back later",
                date(&ctx.event.data, "retryAt")?,
            ));
        }
        Ok(json!({ "ok": true, "attempt": ctx.attempt }))
    }

    /// 10: two steps in parallel.
    #[inngest::function(id = "parallel", event = "test/parallel", retries = 0)]
    async fn parallel(&self, ctx: Ctx) -> inngest::Result<Value> {
        let (a, b) = futures_util::future::join(
            ctx.step.run("a", || async { Ok("A".to_string()) }),
            ctx.step.run("b", || async { Ok("B".to_string()) }),
        )
        .await;
        Ok(json!({ "a": a?, "b": b? }))
    }

    /// 11: the same step id three times.
    #[inngest::function(id = "repeated-ids", event = "test/repeat", retries = 0)]
    async fn repeated_ids(&self, ctx: Ctx) -> inngest::Result<Value> {
        let mut out = Vec::new();
        for i in 0..3 {
            out.push(ctx.step.run("same", || async move { Ok(i) }).await?);
        }
        Ok(json!({ "out": out }))
    }

    /// 12: every flow-control option on one function (the server rejects the combination).
    #[inngest::function(
        id = "flow-control",
        name = "Flow control (all options)",
        event = "test/flow",
        if = "event.data.enabled == true",
        concurrency(limit = 2, key = "event.data.user"),
        rate_limit(limit = 10, period = "1m"),
        throttle(limit = 5, period = "1s", burst = 2),
        debounce(period = "5s", key = "event.data.id"),
        priority = "event.data.priority",
        idempotency = "event.data.id",
        timeouts(start = "10s", finish = "1m"),
        cancel_on(
            event = "test/cancel",
            if = "async.data.id == event.data.id",
            timeout = "1h"
        ),
        retries = 3,
        on_failure = "flow_control_failed"
    )]
    async fn flow_control(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "ok": true }))
    }

    async fn flow_control_failed(&self, ctx: Ctx<FunctionFailed>) -> inngest::Result<Value> {
        Ok(json!({ "failed": ctx.event.data.error.message }))
    }

    /// 12: cron with a time zone.
    #[inngest::on_cron("TZ=Europe/Paris 0 9 * * *", id = "cron-paris")]
    async fn cron_paris(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "ok": true }))
    }

    /// 12: concurrency, throttle, priority, timeouts, cancel (modifier attributes).
    #[inngest::function(
        id = "fc-concurrency-throttle",
        event = "test/fc-a",
        if = "event.data.enabled == true",
        on_failure = "fc_failed"
    )]
    #[inngest::concurrency(limit = 2, key = "event.data.user")]
    #[inngest::throttle(limit = 5, period = "1s", burst = 2)]
    #[inngest::priority("event.data.priority")]
    #[inngest::timeouts(start = "10s", finish = "1m")]
    #[inngest::cancel_on(
        event = "test/cancel",
        if = "async.data.id == event.data.id",
        timeout = "1h"
    )]
    async fn fc_concurrency_throttle(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "ok": true }))
    }

    async fn fc_failed(&self, ctx: Ctx<FunctionFailed>) -> inngest::Result<Value> {
        Ok(json!({ "failed": ctx.event.data.error.message }))
    }

    /// 12: rate limit and idempotency.
    #[inngest::on_event("test/fc-b", id = "fc-ratelimit-idempotency")]
    #[inngest::rate_limit(limit = 10, period = "1m")]
    #[inngest::idempotency("event.data.id")]
    async fn fc_ratelimit_idempotency(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "ok": true }))
    }

    /// 12: debounce.
    #[inngest::on_event("test/fc-c", id = "fc-debounce")]
    #[inngest::debounce(period = "5s", key = "event.data.id")]
    async fn fc_debounce(&self, _ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "ok": true }))
    }

    /// 12: batches; the handler receives every event.
    #[inngest::on_event("test/fc-d", id = "fc-batch")]
    #[inngest::batch(max_size = 10, timeout = "2s")]
    async fn fc_batch(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "n": ctx.event_count() }))
    }

    /// 13: cancellable by `test/cancel`.
    #[inngest::function(
        id = "cancellable",
        event = "test/cancellable",
        retries = 0,
        cancel_on(
            event = "test/cancel",
            if = "async.data.id == event.data.id",
            timeout = "1h"
        )
    )]
    async fn cancellable(&self, ctx: Ctx) -> inngest::Result<Value> {
        let id = ctx.event.data.get("id").cloned();
        ctx.step
            .run("start", || async move { Ok(json!({ "started": id })) })
            .await?;
        ctx.step.sleep("long-nap", "30s").await?;
        Ok(json!({ "finished": true }))
    }

    /// 13: listens to cancellations.
    #[inngest::function(
        id = "on-cancelled",
        event = "inngest/function.cancelled",
        if = "event.data.function_id == 'js-peer-cancellable'",
        retries = 0
    )]
    async fn on_cancelled(&self, ctx: Ctx) -> inngest::Result<Value> {
        Ok(json!({ "sawCancel": true, "run_id": ctx.event.data["run_id"] }))
    }
}

/// The peer module (import [`inngest_module::InngestModule`] next to it).
pub fn module() -> Module {
    Module::new("peer").provide::<Peer>()
}
