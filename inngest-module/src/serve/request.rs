//! The execution request as the SDK reads it: only what it acts on, payloads kept as the
//! JSON text they arrived in.

use axum::http::HeaderMap;
use serde_json::value::RawValue;

use super::names;
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

/// The part of `ctx` ([`protocol::RequestContext`]) the SDK acts on: the server's ids a
/// checkpoint names its request by are read, the rest is skipped unread.
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
    pub fn_id: String,
    pub qi_id: Option<String>,
    pub request_id: Option<String>,
    pub generation_id: Option<u64>,
}

impl SdkContext {
    /// The ids a checkpoint of this request carries, when the server allows this request
    /// to checkpoint: it names the function and the queue item and allows eager execution
    /// (`stepId` targeting no step is checked by the caller). The request and generation
    /// ids are read from the headers first, as inngest-js reads them, then from `ctx`.
    pub fn checkpoint_ids(&self, headers: &HeaderMap) -> Option<crate::checkpoint::RequestIds> {
        let qi_id = self.qi_id.clone().filter(|id| !id.is_empty())?;
        if self.fn_id.is_empty() || self.disable_immediate_execution {
            return None;
        }
        let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
        Some(crate::checkpoint::RequestIds {
            run_id: self.run_id.clone(),
            fn_id: self.fn_id.clone(),
            qi_id,
            request_id: header(&names::REQUEST_ID)
                .map(String::from)
                .or_else(|| self.request_id.clone()),
            generation_id: header(&names::GENERATION_ID)
                .and_then(|v| v.parse().ok())
                .or(self.generation_id),
        })
    }
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
