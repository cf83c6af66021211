//! `floor`: the bare-axum baseline the load test compares against. One route,
//! `POST /api/inngest`, that does the least an SDK must: read the body, parse it as JSON,
//! verify its `X-Inngest-Signature` with one HMAC-SHA256, and answer `206` with the one
//! Sleep op the SDK answers for the load test's request. `GET /health/live` answers `200`.
//!
//! ```sh
//! PORT=3000 INNGEST_SIGNING_KEY=signkey-prod-… floor
//! ```

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use inngest_protocol::op::{Op, OpData, OpOptions, Opcode, Userland};
use inngest_protocol::signature;
use perf::{SLEEP_DURATION, SLEEP_STEP};

/// What every request shares.
struct Floor {
    signing_key: String,
    ops: Vec<Op>,
}

/// The Sleep op the SDK answers when the run reaches `step.sleep("cool-off", "1m")`.
fn sleep_op() -> Op {
    Op {
        id: inngest_protocol::hash_step_id(SLEEP_STEP),
        op: Opcode::Sleep,
        name: Some(SLEEP_DURATION.to_string()),
        display_name: SLEEP_STEP.to_string(),
        opts: Some(OpOptions::default()),
        userland: Userland {
            id: SLEEP_STEP.to_string(),
            index: None,
        },
        data: OpData::Null,
        error: None,
        timing: None,
    }
}

async fn execute(State(floor): State<Arc<Floor>>, headers: HeaderMap, body: Bytes) -> Response {
    if serde_json::from_slice::<serde_json::Value>(&body).is_err() {
        return (StatusCode::BAD_REQUEST, "the body is not JSON").into_response();
    }
    let header = headers
        .get(inngest_protocol::headers::SIGNATURE)
        .and_then(|v| v.to_str().ok());
    let keys = [floor.signing_key.as_str()];
    if signature::verify(header, &body, &keys, perf::now_secs()).is_err() {
        return (StatusCode::UNAUTHORIZED, r#"{"message":"Unauthorized"}"#).into_response();
    }
    match serde_json::to_vec(&floor.ops) {
        Ok(json) => (
            StatusCode::PARTIAL_CONTENT,
            [(header::CONTENT_TYPE, "application/json")],
            json,
        )
            .into_response(),
        Err(_) => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
    }
}

fn main() -> std::process::ExitCode {
    perf::exit(serve())
}

#[tokio::main]
async fn serve() -> perf::Result<()> {
    let signing_key = std::env::var("INNGEST_SIGNING_KEY")
        .map_err(|_| "set INNGEST_SIGNING_KEY (signkey-<env>-<hex>)")?;
    let port = perf::port_from_env(3000)?;
    let floor = Arc::new(Floor {
        signing_key,
        ops: vec![sleep_op()],
    });
    let app = Router::new()
        .route("/api/inngest", post(execute))
        .route("/health/live", get(|| async { "ok" }))
        .with_state(floor);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("floor listening on http://{}", listener.local_addr()?);
    axum::serve(listener, app).await?;
    Ok(())
}
