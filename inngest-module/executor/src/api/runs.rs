//! The runs API (JSON, in this executor's shape and in the dev server's `/v1` shape) and
//! the runs page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{internal, json_reply};
use crate::bounded::Bound;
use crate::executor::Executor;
use crate::model::{RunCursor, RunFilter, RunStatus, RunView};
use crate::page;

/// Query of the runs list.
#[derive(Debug, Default, Deserialize)]
pub(super) struct RunsQuery {
    function: Option<String>,
    status: Option<String>,
    since: Option<i64>,
    until: Option<i64>,
    event: Option<String>,
    limit: Option<u32>,
    before: Option<String>,
}

/// Runs per page of the runs API and page: 50 unless `limit` says otherwise, at most 100.
const MAX_PAGE: u32 = 100;

fn bad_request(message: String) -> Box<Response> {
    Box::new(json_reply(
        StatusCode::BAD_REQUEST,
        &json!({ "error": message }),
    ))
}

impl RunsQuery {
    /// The filter, or a 400 saying which parameter is wrong.
    fn filter(self) -> Result<RunFilter, Box<Response>> {
        let status = match self.status.filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(RunStatus::parse(&text).ok_or_else(|| {
                bad_request(format!(
                    "`status` must be Queued, Running, Completed, Failed or Cancelled, not `{text}`"
                ))
            })?),
        };
        let before = match self.before.filter(|b| !b.is_empty()) {
            None => None,
            Some(text) => Some(text.parse::<RunCursor>().map_err(bad_request)?),
        };
        Ok(RunFilter {
            function: self.function.filter(|s| !s.is_empty()),
            status,
            since: self.since,
            until: self.until,
            event: self.event.filter(|s| !s.is_empty()),
            limit: Some(self.limit.unwrap_or(50).clamp(1, MAX_PAGE)),
            before,
        })
    }
}

/// The cursor of the page after `runs`, if it was full.
fn next_page(filter: &RunFilter, runs: &[RunView]) -> Option<String> {
    let full = filter
        .limit
        .is_some_and(|limit| runs.len() == limit as usize);
    full.then(|| runs.last().map(|run| RunCursor::after(run).to_string()))
        .flatten()
}

pub(super) async fn list(
    State(executor): State<Executor>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reply) => return *reply,
    };
    match executor.bounded_runs(&filter, Bound::LIST).await {
        Ok(runs) => {
            let next = next_page(&filter, &runs);
            json_reply(StatusCode::OK, &json!({ "data": runs, "next": next }))
        }
        Err(error) => internal(&error),
    }
}

fn no_run(id: &str) -> Response {
    json_reply(
        StatusCode::NOT_FOUND,
        &json!({"error": format!("no run with id `{id}`")}),
    )
}

pub(super) async fn one(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.bounded_run(&id, Bound::DETAIL).await {
        Ok(Some(run)) => json_reply(StatusCode::OK, &json!({ "data": run })),
        Ok(None) => no_run(&id),
        Err(error) => internal(&error),
    }
}

/// A run as the dev server's `/v1` routes report it: the run view plus `event_id` (the
/// triggering event), and `output` as the dev server fills it when the function returned
/// nothing — a failed run's error, `{}` for a cancelled run (recordings 08 and 13).
fn dev_shape(run: RunView) -> Value {
    let event_id = run.event_ids.first().cloned();
    let output = match (&run.output, run.status) {
        (None, RunStatus::Failed) => run.error.clone(),
        (None, RunStatus::Cancelled) => Some(json!({})),
        _ => None,
    };
    let mut value = serde_json::to_value(run).unwrap_or(Value::Null);
    if let Value::Object(map) = &mut value {
        map.insert("event_id".into(), json!(event_id));
        if let Some(output) = output {
            map.insert("output".into(), output);
        }
    }
    value
}

pub(super) async fn one_v1(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.bounded_run(&id, Bound::DETAIL).await {
        Ok(Some(run)) => json_reply(StatusCode::OK, &json!({ "data": dev_shape(run) })),
        Ok(None) => no_run(&id),
        Err(error) => internal(&error),
    }
}

pub(super) async fn event_runs(
    State(executor): State<Executor>,
    Path(id): Path<String>,
) -> Response {
    let filter = RunFilter {
        event: Some(id),
        limit: Some(MAX_PAGE),
        ..RunFilter::default()
    };
    match executor.bounded_runs(&filter, Bound::LIST).await {
        Ok(runs) => {
            let runs: Vec<Value> = runs.into_iter().map(dev_shape).collect();
            json_reply(StatusCode::OK, &json!({ "data": runs }))
        }
        Err(error) => internal(&error),
    }
}

pub(super) async fn index(State(executor): State<Executor>) -> Redirect {
    Redirect::to(&format!("{}/runs", executor.options().prefix))
}

pub(super) async fn page(
    State(executor): State<Executor>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reply) => return *reply,
    };
    let runs = executor.bounded_runs(&filter, Bound::LIST).await;
    let events = executor.bounded_events(20, None, None, Bound::LIST).await;
    match (runs, events) {
        (Ok(runs), Ok(events)) => {
            let next = next_page(&filter, &runs);
            let events: Vec<Value> = events.into_iter().map(|(_, event)| event).collect();
            Html(page::runs(
                &executor.options().prefix,
                &executor.apps(),
                &filter,
                &runs,
                &events,
                next.as_deref(),
            ))
            .into_response()
        }
        (Err(error), _) | (_, Err(error)) => internal(&error),
    }
}

pub(super) async fn run_page(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.bounded_run(&id, Bound::PAGE).await {
        Ok(Some(run)) => Html(page::run(&executor.options().prefix, &run)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(page::not_found(&executor.options().prefix, &id)),
        )
            .into_response(),
        Err(error) => internal(&error),
    }
}
