//! Building an execution request: the typed body the SDK reads and the headers the real
//! server sends (signature, run id, request version, trace context).

use std::collections::HashMap;

use http::{HeaderMap, HeaderValue};
use inngest_protocol::signature::signature_header;
use inngest_protocol::{ExecutionRequest, RequestContext, Stack, headers};
use serde_json::value::RawValue;

use crate::functions::FunctionDef;
use crate::ids::{new_id, traceparent};
use crate::model::Run;
use crate::transport::ExecRequest;

/// What one execution request is made of.
pub(crate) struct RequestParts<'a> {
    pub function: &'a FunctionDef,
    pub run: &'a Run,
    /// The run's events, as stored.
    pub events: &'a [Box<RawValue>],
    /// The memo, as stored.
    pub memo: &'a HashMap<String, Box<RawValue>>,
    pub step: Option<&'a str>,
    pub attempt: u32,
    /// The claimed job behind this request (`ctx.qi_id`): a checkpoint names it, and is
    /// refused once the job is no longer leased.
    pub queue_item: String,
    pub signing_key: Option<&'a str>,
    pub now: i64,
}

/// The request to send, ready for a transport.
pub(crate) fn build(parts: RequestParts<'_>) -> Result<ExecRequest, serde_json::Error> {
    let step_id = parts.step.unwrap_or("step").to_string();
    let request_id = new_id(parts.now);
    let run = parts.run;
    let null = RawValue::from_string("null".into())?;
    let events: Vec<&RawValue> = parts.events.iter().map(AsRef::as_ref).collect();
    let steps: HashMap<String, &RawValue> = parts
        .memo
        .iter()
        .map(|(hash, memo)| (hash.clone(), memo.as_ref()))
        .collect();
    let body: ExecutionRequest<&RawValue, &RawValue> = ExecutionRequest {
        event: events.first().copied().unwrap_or(&null),
        events,
        steps,
        ctx: RequestContext {
            attempt: parts.attempt,
            disable_immediate_execution: run.state.force_plan || parts.step.is_some(),
            env: String::new(),
            fn_id: parts.function.uuid.clone(),
            max_attempts: Some(parts.function.max_attempts),
            qi_id: Some(parts.queue_item),
            request_id: Some(request_id.clone()),
            run_id: run.id.clone(),
            stack: Stack::new(run.state.stack.clone()),
            step_id: step_id.clone(),
            use_api: false,
            ..RequestContext::default()
        },
        version: run.state.version,
        use_api: false,
        defers: None,
    };
    let body = serde_json::to_vec(&body)?;
    let mut map = HeaderMap::new();
    let mut put = |name: &'static str, value: String| {
        if let Ok(value) = HeaderValue::from_str(&value) {
            map.insert(name, value);
        }
    };
    put("content-type", "application/json".into());
    put("user-agent", "Inngest".into());
    put(headers::REQ_VERSION, run.state.version.to_string());
    put(headers::RUN_ID, run.id.clone());
    put(headers::REQUEST_ID, request_id);
    put(headers::STEP_ID, step_id.clone());
    put(headers::SERVER_KIND, "dev".into());
    put("traceparent", traceparent(&run.id));
    if let Some(key) = parts.signing_key {
        put(
            headers::SIGNATURE,
            signature_header(key, &body, parts.now / 1000),
        );
    }
    Ok(ExecRequest {
        function_id: parts.function.id.clone(),
        step_id,
        headers: map,
        body,
    })
}
