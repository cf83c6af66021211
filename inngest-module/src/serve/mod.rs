//! The serve handler on `serve_path`: GET introspection, PUT sync (out-of-band and in-band),
//! POST execution and the trust probe; 405 for anything else.
//!
//! A request reads top to bottom in [`handle`]: the body (within `inngest.body_limit`), the
//! query, then one module per method. Each answers with a [`Reply`] or a typed
//! [`ServeError`], and the key that verified the request; [`Reply::finish`] adds the
//! headers every response carries and signs it with that key.
//!
//! - `auth`: signatures;
//! - `introspection`: `GET`;
//! - `sync`: `PUT`, registering the app, and the URL it registers;
//! - `execute`: `POST`, the trust probe and the execution request (`request`);
//! - `run`: one execution and its reply;
//! - `reply`, `error`: what is answered;
//! - `names`: the header names it reads and writes;
//! - `state`: what the handler works with, and what each method answers.

mod auth;
mod error;
mod execute;
mod introspection;
mod names;
mod reply;
mod request;
mod run;
mod state;
mod sync;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::rejection::QueryRejection;
use axum::extract::{ConnectInfo, OriginalUri, Query, Request, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use framework::config::TrustedProxy;

pub use error::{RunDataError, ServeError};
use reply::{Echoed, Reply};
use state::Answer;
pub(crate) use state::{ServeQuery, ServeState};

use crate::registry::Registry;

/// The router serving `serve_path`. Forwarded headers are never believed; see
/// [`router_behind`].
pub fn router(registry: Arc<Registry>) -> Router {
    router_behind(registry, Vec::new())
}

/// The router serving `serve_path`, believing `X-Forwarded-Proto` / `X-Forwarded-Host`
/// from peers in `trusted_proxies` (`server.trusted_proxies`) when it derives the URL it
/// registers.
pub fn router_behind(registry: Arc<Registry>, trusted_proxies: Vec<TrustedProxy>) -> Router {
    let path = registry.options.serve_path.clone();
    Router::new()
        .route(&path, axum::routing::any(handle))
        .layer(axum::extract::DefaultBodyLimit::disable())
        .with_state(Arc::new(ServeState {
            registry,
            trusted_proxies,
        }))
}

async fn handle(
    State(serve): State<Arc<ServeState>>,
    OriginalUri(uri): OriginalUri,
    query: Result<Query<ServeQuery>, QueryRejection>,
    request: Request,
) -> Response {
    let registry = &serve.registry;
    let (parts, body) = request.into_parts();
    let echoed = Echoed::of(&parts.headers);
    let limit = registry.options.body_limit;
    let answer = match (axum::body::to_bytes(body, limit).await, query) {
        (Err(_), _) => Answer::refused(ServeError::BodyTooLarge { limit }),
        (Ok(_), Err(rejection)) => {
            Answer::refused(ServeError::MalformedQuery(rejection.body_text()))
        }
        (Ok(body), Ok(Query(query))) => match parts.method {
            Method::GET => match introspection::introspect(registry, &parts.headers, &body) {
                Ok((introspection, key)) => Answer {
                    reply: Ok(Reply::json(StatusCode::OK, &introspection)),
                    key,
                },
                Err(error) => Answer::refused(error),
            },
            Method::PUT => {
                let peer = parts
                    .extensions
                    .get::<ConnectInfo<SocketAddr>>()
                    .map(|ConnectInfo(peer)| *peer);
                let request = sync::SyncRequest {
                    headers: &parts.headers,
                    uri: &uri,
                    peer,
                    deploy_id: query.deploy_id.as_deref(),
                    body: &body,
                };
                sync::sync(&serve, request).await
            }
            Method::POST => {
                execute::execute(registry, &parts.headers, &echoed, &query, &body).await
            }
            _ => Answer::refused(ServeError::MethodNotAllowed),
        },
    };
    if let Err(ServeError::Unauthorized(error)) = &answer.reply {
        auth::report_refusal(registry, error);
    }
    let reply = answer.reply.unwrap_or_else(Reply::from);
    reply.finish(registry, answer.key.as_deref(), &echoed)
}
