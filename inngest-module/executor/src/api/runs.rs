//! The runs API (JSON, in this executor's shape and in the dev server's `/v1` shape) and
//! the runs page.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Redirect, Response};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{internal, json_reply};
use crate::executor::Executor;
use crate::model::{RunFilter, RunStatus, RunView};
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
}

impl RunsQuery {
    /// The filter, or a 400 saying which parameter is wrong.
    fn filter(self) -> Result<RunFilter, Box<Response>> {
        let status = match self.status.filter(|s| !s.is_empty()) {
            None => None,
            Some(text) => Some(RunStatus::parse(&text).ok_or_else(|| {
                Box::new(json_reply(
                    StatusCode::BAD_REQUEST,
                    &json!({"error": format!("`status` must be Queued, Running, Completed, Failed or Cancelled, not `{text}`")}),
                ))
            })?),
        };
        Ok(RunFilter {
            function: self.function.filter(|s| !s.is_empty()),
            status,
            since: self.since,
            until: self.until,
            event: self.event.filter(|s| !s.is_empty()),
            limit: self.limit,
        })
    }
}

pub(super) async fn list(
    State(executor): State<Executor>,
    Query(query): Query<RunsQuery>,
) -> Response {
    let filter = match query.filter() {
        Ok(filter) => filter,
        Err(reply) => return *reply,
    };
    match executor.runs(&filter).await {
        Ok(runs) => json_reply(StatusCode::OK, &json!({ "data": runs })),
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
    match executor.run(&id).await {
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
    match executor.run(&id).await {
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
        ..RunFilter::default()
    };
    match executor.runs(&filter).await {
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
    let runs = executor.runs(&filter).await;
    let events = executor.events(20, None).await;
    match (runs, events) {
        (Ok(runs), Ok(events)) => Html(page::runs(
            &executor.options().prefix,
            &executor.apps(),
            &filter,
            &runs,
            &events,
        ))
        .into_response(),
        (Err(error), _) | (_, Err(error)) => internal(&error),
    }
}

pub(super) async fn run_page(State(executor): State<Executor>, Path(id): Path<String>) -> Response {
    match executor.run(&id).await {
        Ok(Some(run)) => Html(page::run(&executor.options().prefix, &run)).into_response(),
        Ok(None) => (
            StatusCode::NOT_FOUND,
            Html(page::not_found(&executor.options().prefix, &id)),
        )
            .into_response(),
        Err(error) => internal(&error),
    }
}
