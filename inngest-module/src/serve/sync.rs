//! `PUT` on the serve path: out-of-band sync (the app registers itself with the Inngest
//! API) and in-band sync (a signed request answered with the app's configuration), and the
//! URL the app registers.

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{Value, json};
use url::Url;

use super::auth::{authenticate, signatures_required};
use super::error::ServeError;
use super::introspection::introspect;
use super::reply::Reply;
use super::state::{Answer, ServeState};
use crate::protocol::introspection::InBandSync;
use crate::protocol::{self, Capabilities, headers};
use crate::registry::Registry;

/// The URL to register: `serve_origin`, else the URL the request was sent to. Its `Host`
/// is believed as sent (production requires `serve_origin`, so only development gets here);
/// `X-Forwarded-Proto` and `X-Forwarded-Host` only from a peer in `server.trusted_proxies`.
fn app_url(serve: &ServeState, request: &SyncRequest<'_>) -> String {
    let options = &serve.registry.options;
    let path = request.uri.path();
    if let Some(origin) = &options.serve_origin {
        return format!("{}{path}", origin.as_str().trim_end_matches('/'));
    }
    let header = |name: &str| {
        request
            .headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
            .filter(|v| !v.is_empty())
    };
    let trusted = request.peer.is_some_and(|peer| {
        serve
            .trusted_proxies
            .iter()
            .any(|proxy| proxy.contains(&peer.ip()))
    });
    let forwarded = |name: &str| {
        header(name)
            .filter(|_| trusted)
            .map(|value| value.split(',').next().unwrap_or_default().trim())
    };
    let scheme = match forwarded("x-forwarded-proto") {
        Some("https") => "https",
        _ => "http",
    };
    let host = forwarded("x-forwarded-host")
        .or_else(|| header("host"))
        .unwrap_or("localhost");
    let Ok(mut url) = Url::parse(&format!("{scheme}://{host}{path}")) else {
        // A Host that is not a host name: register loopback rather than echo it.
        return format!("{scheme}://localhost{path}");
    };
    if let Some(serve_host) = &options.serve_host {
        let _ = url.set_host(Some(serve_host));
    }
    if let Some(port) = options.serve_port {
        let _ = url.set_port(Some(port));
    }
    url.to_string()
}

/// What a `PUT` brings that the sync may use.
pub(super) struct SyncRequest<'a> {
    pub headers: &'a HeaderMap,
    pub uri: &'a axum::http::Uri,
    pub peer: Option<SocketAddr>,
    pub deploy_id: Option<&'a str>,
    pub body: &'a Bytes,
}

/// `PUT`: an in-band sync (signed; the reply carries the app's configuration), or an
/// out-of-band one (the app registers itself with the Inngest API). In cloud mode nothing
/// an unsigned request says reaches the Inngest API: `deployId` and the expected server
/// kind are forwarded only from a verified request.
pub(super) async fn sync(serve: &ServeState, request: SyncRequest<'_>) -> Answer {
    let registry = &serve.registry;
    let options = &registry.options;
    let in_band = request
        .headers
        .get(headers::SYNC_KIND)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|kind| kind == "in_band" || kind == "in-band")
        && options.allow_in_band_sync;
    let signed = request.headers.contains_key(headers::SIGNATURE);
    let key = if in_band || signed {
        match authenticate(registry, request.headers, request.body) {
            Ok(key) => key,
            Err(error) => return Answer::refused(error),
        }
    } else {
        None
    };
    if in_band {
        let reply = in_band_sync(serve, &request);
        let error = reply
            .as_ref()
            .err()
            .map(|error| format!("the in-band sync request was refused ({})", error.status()));
        registry.record_sync(crate::hooks::SyncKind::InBand, error);
        return Answer { reply, key };
    }
    if registry.executor_kind() == crate::options::ExecutorKind::Embedded {
        // The functions are registered in-process; there is no Inngest server to call (and
        // nothing a request says is sent anywhere).
        let reply = Reply::json(
            StatusCode::OK,
            &json!({ "message": "Nothing to sync: this app's functions run on the embedded executor.", "modified": false }),
        );
        return Answer {
            reply: Ok(reply.header(headers::SYNC_KIND, "out_of_band")),
            key,
        };
    }
    let url = app_url(serve, &request);
    // In cloud mode only a verified request may pass anything on; in dev mode (no keys)
    // the dev server's unsigned PUT is the normal way to sync.
    let forwardable = key.is_some() || !signatures_required(registry);
    let server_kind = request
        .headers
        .get(headers::SERVER_KIND)
        .and_then(|v| v.to_str().ok())
        .filter(|_| forwardable)
        .map(String::from);
    let deploy_id = request.deploy_id.filter(|_| forwardable);
    let reply = match register(registry, &url, deploy_id, server_kind.as_deref()).await {
        Ok(modified) => {
            registry.record_sync(crate::hooks::SyncKind::OutOfBand, None);
            Reply::json(
                StatusCode::OK,
                &json!({ "message": "Successfully synced.", "modified": modified }),
            )
        }
        Err(error) => {
            registry.record_sync(crate::hooks::SyncKind::OutOfBand, Some(error.to_string()));
            Reply::from(error)
        }
    };
    // A failed sync carries the sync headers too: the reply is built here, not refused.
    let reply = reply.header(headers::SYNC_KIND, "out_of_band");
    Answer {
        reply: Ok(reply),
        key,
    }
}

fn in_band_sync(serve: &ServeState, request: &SyncRequest<'_>) -> Result<Reply, ServeError> {
    let registry = &serve.registry;
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct InBandRequest {
        url: String,
    }
    let Ok(InBandRequest { url }) = serde_json::from_slice(request.body) else {
        return Err(ServeError::InvalidInBandSync);
    };
    let options = &registry.options;
    let url = match &options.serve_origin {
        Some(_) => app_url(serve, request),
        None => url,
    };
    let (inspection, _) = introspect(registry, request.headers, request.body)?;
    let value = InBandSync {
        app_id: options.app_id.clone(),
        app_version: options.app_version.clone(),
        capabilities: Some(Capabilities {
            trust_probe: Some("v1".into()),
            connect: Some("v1".into()),
            in_band_sync: None,
        }),
        env: options.environment.clone(),
        feature_observations: None,
        framework: protocol::FRAMEWORK.into(),
        functions: registry.function_configs(&url),
        inspection,
        platform: None,
        sdk_author: "inngest".into(),
        sdk_language: protocol::SDK_LANGUAGE.into(),
        sdk_version: protocol::SDK_VERSION.into(),
        sdk: protocol::SDK.into(),
        url,
    };
    Ok(Reply::json(StatusCode::OK, &value).header(headers::SYNC_KIND, "in_band"))
}

/// `POST {api}/fn/register`. Returns `modified`, or why the sync failed.
async fn register(
    registry: &Registry,
    url: &str,
    deploy_id: Option<&str>,
    server_kind: Option<&str>,
) -> Result<bool, ServeError> {
    let options = &registry.options;
    let mut target =
        options
            .api_origin()
            .join("fn/register")
            .map_err(|e| ServeError::SyncFailed {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: format!("the register URL cannot be built: {e}"),
            })?;
    if let Some(deploy_id) = deploy_id {
        target.query_pairs_mut().append_pair("deployId", deploy_id);
    }
    let payload = registry.register_payload(url);
    let result = registry
        .service
        .api_request("registering the app", |client| {
            let mut request = client
                .post(target.clone())
                .header(headers::SYNC_KIND, "out_of_band")
                .header(headers::FRAMEWORK, protocol::FRAMEWORK)
                .json(&payload);
            if let Some(kind) = server_kind {
                request = request.header(headers::EXPECTED_SERVER_KIND, kind);
            }
            request
        })
        .await;
    match result {
        Ok(response) => {
            let body: Value = response.json().await.unwrap_or(Value::Null);
            tracing::info!(
                url = %crate::redact::url_str(url),
                functions = registry.function_count(),
                "synced with Inngest"
            );
            Ok(body
                .get("modified")
                .and_then(Value::as_bool)
                .unwrap_or(false))
        }
        Err(crate::service::ApiError::Status { status, body, .. })
            if (400..500).contains(&status) =>
        {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.get("error").and_then(Value::as_str).map(String::from))
                .unwrap_or(body);
            tracing::warn!(url = %crate::redact::url_str(url), status, %message, "Inngest rejected the sync");
            Err(ServeError::SyncFailed {
                status: StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
                message,
            })
        }
        Err(error) => {
            tracing::warn!(url = %crate::redact::url_str(url), %error, "sync with Inngest failed");
            Err(ServeError::SyncFailed {
                status: StatusCode::INTERNAL_SERVER_ERROR,
                message: error.to_string(),
            })
        }
    }
}
