//! Checkpointing: the SDK runs steps eagerly inside one execution request and posts their
//! results to `POST {api}/v1/checkpoint/{run_id}/async` (inngest-js v4's default; see
//! `tests/inngest-reference/recordings-checkpointing`). The server memoizes them at once;
//! the request goes on to the next step and answers only with what the server must do (a
//! sleep, a wait, an invoke, the run's end as [`Opcode::RunComplete`]).
//!
//! ```
//! use inngest_protocol::checkpoint::CheckpointRequest;
//! let body = r#"{"run_id":"01RUN","fn_id":"47392d7b","qi_id":"NWFw","request_id":"01REQ",
//!   "generation_id":1,"request_started_at":1796628779145,"ts":1796628779160,
//!   "steps":[{"id":"e0996a37","op":"StepRun","name":"first","displayName":"first",
//!   "userland":{"id":"first"},"opts":{},"data":{"hello":"rust"},"promise":{}}]}"#;
//! let request: CheckpointRequest = serde_json::from_str(body).unwrap();
//! assert_eq!(request.steps[0].display_name, "first");
//! ```
//!
//! [`Opcode::RunComplete`]: crate::op::Opcode::RunComplete

use serde::{Deserialize, Serialize};

use crate::op::Op;

/// The step id whose hash is the id of a [`RunComplete`](crate::op::Opcode::RunComplete)
/// op (`sha1("complete")`, as inngest-js writes it).
pub const RUN_COMPLETE_STEP_ID: &str = "complete";

/// The body of `POST /v1/checkpoint/{run_id}/async`: which execution request checkpoints
/// (the ids of its `ctx`) and the steps it ran. Fields the JS SDK adds to each step for
/// itself (`promise`, `fulfilled`, `middleware`, …) are ignored when read.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckpointRequest {
    /// The run.
    pub run_id: String,
    /// The function's server-side id (`ctx.fn_id`).
    pub fn_id: String,
    /// The queue item behind the execution request (`ctx.qi_id`): the server answers
    /// `409` when it no longer owns the run (a stale dispatch).
    pub qi_id: String,
    /// The execution request's id (`ctx.request_id`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_id: Option<String>,
    /// `ctx.generation_id`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub generation_id: Option<u64>,
    /// When the SDK started on the request (unix ms).
    #[serde(default)]
    pub request_started_at: i64,
    /// The steps run since the last checkpoint, in order (`StepRun` ops with their data).
    pub steps: Vec<Op>,
    /// When the checkpoint was sent (unix ms).
    #[serde(default)]
    pub ts: i64,
}
