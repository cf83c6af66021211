//! The SDK side of checkpointing ([`Checkpointing`]): one execution request runs
//! consecutive steps, posting their results to the server as it goes.
//!
//! A request checkpoints when the app or the function has checkpointing on and the server
//! allows eager execution: no `stepId` targets a step, `ctx.disable_immediate_execution` is
//! unset, and `ctx` names the function (`fn_id`) and the queue item (`qi_id`) — what
//! inngest-js requires too. Then, per step that ran at attempt 0 ([`Checkpointer::step_ran`]):
//! the step joins the buffer; a full buffer (or one older than `max_interval`) is posted to
//! `POST {api}/v1/checkpoint/{run_id}/async` (signed like every API call; in-process to the
//! embedded executor) and the function goes on. Once `max_runtime` has passed, no further
//! step runs eagerly: the next ones are reported as planned and the server calls again.
//!
//! A post that fails after retries falls back to the classic protocol: the unposted steps
//! are the request's answer (the server memoizes them from the `206` and calls again). A
//! `409` means the dispatch is stale (another request owns the run): the request stops,
//! answering what inngest-js answers.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::Value;

use crate::options::Checkpointing;
use crate::protocol::checkpoint::{CheckpointRequest, RUN_COMPLETE_STEP_ID};
use crate::protocol::{Op, OpData, Opcode, Userland, hash_step_id};
use crate::service::{ApiError, InngestService};

/// Posts of one checkpoint, including the first (inngest-js: 5, from 100 ms, doubling).
const POST_ATTEMPTS: u32 = 5;
const FIRST_BACKOFF: Duration = Duration::from_millis(100);

/// The `ctx` ids a checkpoint names its request by.
#[derive(Debug, Clone)]
pub(crate) struct RequestIds {
    pub run_id: String,
    pub fn_id: String,
    pub qi_id: String,
    pub request_id: Option<String>,
    pub generation_id: Option<u64>,
}

/// Why a checkpointing request cannot go on.
#[derive(Debug)]
pub(crate) enum Interrupted {
    /// The server answered `409`: another request owns the run.
    Stale,
    /// The post failed: these steps were not stored and must be the request's answer.
    Unposted(Vec<Op>),
}

/// The checkpoints of one execution request.
pub(crate) struct Checkpointer {
    service: Arc<InngestService>,
    ids: RequestIds,
    settings: Checkpointing,
    started: Instant,
    started_at_ms: i64,
    buffer: Mutex<Buffer>,
}

struct Buffer {
    steps: Vec<Op>,
    last_post: Instant,
}

fn unix_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl Checkpointer {
    /// A checkpointer for the request named by `ids`, or `None` when `settings` has
    /// checkpointing off.
    pub(crate) fn start(
        service: Arc<InngestService>,
        ids: RequestIds,
        settings: Checkpointing,
    ) -> Option<Arc<Self>> {
        settings.enabled.then(|| {
            let now = Instant::now();
            Arc::new(Self {
                service,
                ids,
                settings,
                started: now,
                started_at_ms: unix_ms(),
                buffer: Mutex::new(Buffer {
                    steps: Vec::new(),
                    last_post: now,
                }),
            })
        })
    }

    /// Whether the request has run steps eagerly for `max_runtime` already.
    pub(crate) fn runtime_exceeded(&self) -> bool {
        !self.settings.max_runtime.is_zero() && self.started.elapsed() >= self.settings.max_runtime
    }

    /// Buffers a step that ran (a `StepRun` op with its data), and posts the buffer when it
    /// is full or `max_interval` has passed since the last post.
    pub(crate) async fn step_ran(&self, op: Op) -> Result<(), Interrupted> {
        let due = {
            let mut buffer = self.buffer.lock();
            buffer.steps.push(op);
            let full = buffer.steps.len() >= self.settings.buffered_steps.max(1) as usize;
            let late = !self.settings.max_interval.is_zero()
                && buffer.last_post.elapsed() >= self.settings.max_interval;
            full || late
        };
        if due { self.flush().await } else { Ok(()) }
    }

    /// Posts what the buffer holds, if anything.
    pub(crate) async fn flush(&self) -> Result<(), Interrupted> {
        let steps = std::mem::take(&mut self.buffer.lock().steps);
        if steps.is_empty() {
            return Ok(());
        }
        let result = self.post(steps).await;
        self.buffer.lock().last_post = Instant::now();
        result
    }

    /// The answer of a function that returned: the steps not posted yet, then
    /// `RunComplete` with its value (inngest-js answers so; the server memoizes the steps
    /// and completes the run from one `206`).
    pub(crate) fn complete(&self, value: Value) -> Vec<Op> {
        let mut ops = std::mem::take(&mut self.buffer.lock().steps);
        ops.push(Op {
            id: hash_step_id(RUN_COMPLETE_STEP_ID),
            op: Opcode::RunComplete,
            name: None,
            display_name: String::new(),
            opts: None,
            userland: Userland::default(),
            data: OpData::Value(value),
            error: None,
            timing: None,
        });
        ops
    }

    /// Posts `steps`, retrying with backoff except on `409`.
    async fn post(&self, steps: Vec<Op>) -> Result<(), Interrupted> {
        let request = CheckpointRequest {
            run_id: self.ids.run_id.clone(),
            fn_id: self.ids.fn_id.clone(),
            qi_id: self.ids.qi_id.clone(),
            request_id: self.ids.request_id.clone(),
            generation_id: self.ids.generation_id,
            request_started_at: self.started_at_ms,
            steps,
            ts: 0,
        };
        let mut backoff = FIRST_BACKOFF;
        for attempt in 1..=POST_ATTEMPTS {
            let request = CheckpointRequest {
                ts: unix_ms(),
                ..request.clone()
            };
            match self.send(request).await {
                Ok(()) => return Ok(()),
                Err(ApiError::Status { status: 409, .. }) => return Err(Interrupted::Stale),
                Err(error) if attempt == POST_ATTEMPTS => {
                    tracing::warn!(
                        run_id = %self.ids.run_id,
                        %error,
                        "checkpoint failed; the steps are reported in the answer instead"
                    );
                }
                Err(error) => {
                    tracing::debug!(run_id = %self.ids.run_id, %error, attempt, "checkpoint failed; retrying");
                    tokio::time::sleep(backoff).await;
                    backoff *= 2;
                }
            }
        }
        Err(Interrupted::Unposted(request.steps))
    }

    /// One post: in-process to the embedded executor, else over HTTP to the API.
    async fn send(&self, request: CheckpointRequest) -> Result<(), ApiError> {
        if let Some(sink) = self.service.local_sink() {
            return sink.checkpoint(request).await;
        }
        // Segments, not `join`: each is percent-encoded, so a run id cannot steer the path.
        let mut url = self.service.options().api_origin();
        url.path_segments_mut()
            .map_err(|()| ApiError::Status {
                what: "checkpointing steps".into(),
                status: 0,
                body: "the API base URL cannot take a path".into(),
            })?
            .pop_if_empty()
            .extend(["v1", "checkpoint", self.ids.run_id.as_str(), "async"]);
        self.service
            .api_request("checkpointing steps", |client| {
                client.post(url.clone()).json(&request)
            })
            .await
            .map(drop)
    }
}
