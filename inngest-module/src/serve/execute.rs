//! `POST` on the serve path: the trust probe, and the execution request read into what one
//! run of a function needs ([`run`](super::run) runs it).

use super::auth::authenticate;
use super::error::{RunDataError, ServeError};
use super::names;
use super::reply::{Echoed, Reply};
use super::request::SdkRequest;
use super::run::{RunRequest, run};
use super::state::{Answer, ServeQuery};
use crate::registry::Registry;
use axum::body::Bytes;
use axum::http::HeaderMap;

/// `POST`: authenticate, then the trust probe or one execution.
pub(super) async fn execute(
    registry: &Registry,
    request_headers: &HeaderMap,
    echoed: &Echoed,
    query: &ServeQuery,
    body: &Bytes,
) -> Answer {
    let key = match authenticate(registry, request_headers, body) {
        Ok(key) => key,
        Err(error) => return Answer::refused(error),
    };
    let reply = match &query.probe {
        Some(probe) if probe == "trust" => Ok(Reply::empty()),
        Some(probe) => Err(ServeError::UnknownProbe(probe.clone())),
        None => execution(registry, request_headers, echoed, query, body).await,
    };
    Answer { reply, key }
}

/// Reads the execution request and runs the function.
async fn execution(
    registry: &Registry,
    request_headers: &HeaderMap,
    echoed: &Echoed,
    query: &ServeQuery,
    body: &Bytes,
) -> Result<Reply, ServeError> {
    let fn_id = query
        .fn_id
        .as_deref()
        .ok_or(ServeError::MissingFunctionId)?;
    let entry = registry
        .entry(fn_id)
        .ok_or_else(|| ServeError::FunctionNotFound {
            function_id: fn_id.to_string(),
            served: registry.function_ids(),
        })?;
    let mut request: SdkRequest =
        serde_json::from_slice(body).map_err(ServeError::MalformedRequest)?;
    if request.ctx.use_api || request.use_api {
        hydrate(registry, &mut request).await?;
    }
    let target = query
        .step_id
        .clone()
        .or_else(|| {
            request_headers
                .get(names::STEP_ID)
                .and_then(|v| v.to_str().ok())
                .map(String::from)
        })
        .filter(|step| step != "step" && !step.is_empty());
    let events = request
        .take_events()
        .map_err(ServeError::MalformedRequest)?;
    let run_request = RunRequest {
        fn_id,
        entry,
        events,
        memo: request.steps,
        ctx: request.ctx,
        target,
    };
    run(registry, run_request, request_headers, echoed).await
}

/// Fetches events and memoized steps when the payload was too large to send inline.
async fn hydrate(registry: &Registry, request: &mut SdkRequest) -> Result<(), RunDataError> {
    let run_id = request.ctx.run_id.clone();
    if run_id.is_empty()
        || run_id.len() > 128
        || !run_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    {
        return Err(RunDataError::InvalidRunId(run_id));
    }
    let base = registry.options.api_origin();
    let fetch = |last: &'static str| {
        let mut url = base.clone();
        let built = url
            .path_segments_mut()
            .map(|mut segments| {
                segments
                    .pop_if_empty()
                    .extend(["v0", "runs", run_id.as_str(), last]);
            })
            .map_err(|()| RunDataError::ApiUrl);
        async move {
            built?;
            let response = registry
                .service
                .api_request("loading run data (use_api)", |client| {
                    client.get(url.clone())
                })
                .await?;
            response
                .bytes()
                .await
                .map_err(|e| RunDataError::Read(e.without_url()))
        }
    };
    let events = fetch("batch").await?;
    let steps = fetch("actions").await?;
    request.events = serde_json::from_slice(&events).map_err(|source| RunDataError::Decode {
        what: "events",
        source,
    })?;
    request.steps = serde_json::from_slice(&steps).map_err(|source| RunDataError::Decode {
        what: "steps",
        source,
    })?;
    Ok(())
}
