//! The execution request as the SDK reads it: only what it acts on, payloads kept as the
//! JSON text they arrived in.

use serde_json::value::RawValue;

use crate::engine::RawMemo;
use crate::handler::RawEvent;

/// An execution request as the SDK reads it ([`protocol::ExecutionRequest`] is the whole
/// shape). Payloads stay JSON text: an event's data until the handler decodes it into its
/// own type, a memoized value until the run reaches its step. `event` repeats the first of
/// `events`, so it is only checked to be JSON, and read when `events` is empty.
///
/// [`protocol::ExecutionRequest`]: crate::protocol::ExecutionRequest
#[derive(serde::Deserialize)]
pub(super) struct SdkRequest {
    #[serde(default)]
    event: Option<Box<RawValue>>,
    #[serde(default)]
    pub events: Vec<RawEvent>,
    #[serde(default)]
    pub steps: RawMemo,
    #[serde(default)]
    pub ctx: SdkContext,
    /// Deprecated top-level `use_api`.
    #[serde(default)]
    pub use_api: bool,
}

/// The part of `ctx` ([`protocol::RequestContext`]) the SDK acts on; the server's own ids
/// (queue item, job, generation, …) are skipped unread.
///
/// [`protocol::RequestContext`]: crate::protocol::RequestContext
#[derive(serde::Deserialize, Default)]
#[serde(default)]
pub(super) struct SdkContext {
    pub attempt: u32,
    pub disable_immediate_execution: bool,
    pub max_attempts: Option<u32>,
    pub run_id: String,
    pub use_api: bool,
}

impl SdkRequest {
    /// The run's events: `events`, or the lone `event` of a sender that omits `events`.
    pub fn take_events(&mut self) -> Result<Vec<RawEvent>, serde_json::Error> {
        if !self.events.is_empty() {
            return Ok(std::mem::take(&mut self.events));
        }
        let event = match self.event.take() {
            Some(raw) => serde_json::from_str(raw.get())?,
            None => RawEvent::default(),
        };
        Ok(vec![event])
    }
}
