//! How the executor reaches an SDK app: in-process through its serve router, or over HTTP.

use std::time::Duration;

use axum::Router;
use axum::body::Body;
use futures_util::future::BoxFuture;
use http::{HeaderMap, Request};
use tower::ServiceExt;
use url::Url;

use inngest_protocol::headers;

/// One execution request, ready to send.
#[derive(Debug, Clone)]
pub struct ExecRequest {
    /// Composite function id (`fnId` query parameter).
    pub function_id: String,
    /// `"step"` or the hash of the planned step to run (`stepId` query parameter).
    pub step_id: String,
    /// Request headers (signature, run id, request version, trace context, …).
    pub headers: HeaderMap,
    /// JSON body.
    pub body: Vec<u8>,
}

/// What the SDK answered.
#[derive(Debug, Clone)]
pub struct ExecResponse {
    /// HTTP status.
    pub status: u16,
    /// Response headers.
    pub headers: HeaderMap,
    /// Body bytes.
    pub body: Vec<u8>,
}

impl ExecResponse {
    /// A header's value as text.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// `X-Inngest-No-Retry`, when present.
    pub fn no_retry(&self) -> Option<bool> {
        self.header(headers::NO_RETRY)
            .map(|v| v.eq_ignore_ascii_case("true"))
    }
}

/// Why a request got no answer.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    /// The app could not be reached, or the connection broke.
    #[error("the SDK app at {target} could not be reached: {reason}")]
    Unreachable {
        /// URL or "in-process".
        target: String,
        /// Underlying error.
        reason: String,
    },
    /// The app did not answer in time.
    #[error("the SDK app at {target} did not answer within {timeout:?}")]
    Timeout {
        /// URL or "in-process".
        target: String,
        /// The limit.
        timeout: Duration,
    },
}

/// A way to deliver execution requests to one SDK app.
pub trait Transport: Send + Sync + 'static {
    /// Sends one execution request.
    fn execute(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResponse, TransportError>>;

    /// Where requests go, for logs and the runs page.
    fn describe(&self) -> String;
}

/// Calls the app's own serve router without a socket.
#[derive(Clone)]
pub struct InProcess {
    router: Router,
    serve_path: String,
    body_limit: usize,
    timeout: Duration,
}

impl InProcess {
    /// A transport for `router`, serving on `serve_path`; a request that takes longer than
    /// `timeout` is abandoned (and retried as a failed attempt).
    pub fn new(
        router: Router,
        serve_path: impl Into<String>,
        body_limit: usize,
        timeout: Duration,
    ) -> Self {
        Self {
            router,
            serve_path: serve_path.into(),
            body_limit,
            timeout,
        }
    }
}

fn query(function_id: &str, step_id: &str) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .append_pair("fnId", function_id)
        .append_pair("stepId", step_id)
        .finish()
}

impl Transport for InProcess {
    fn execute(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResponse, TransportError>> {
        Box::pin(async move {
            let uri = format!(
                "{}?{}",
                self.serve_path,
                query(&request.function_id, &request.step_id)
            );
            let unreachable = |reason: String| TransportError::Unreachable {
                target: "in-process".into(),
                reason,
            };
            let mut builder = Request::post(uri);
            if let Some(headers) = builder.headers_mut() {
                *headers = request.headers;
                headers.insert(
                    http::header::HOST,
                    http::HeaderValue::from_static("embedded.inngest.local"),
                );
            }
            let http_request = builder
                .body(Body::from(request.body))
                .map_err(|e| unreachable(e.to_string()))?;
            let response =
                tokio::time::timeout(self.timeout, self.router.clone().oneshot(http_request))
                    .await
                    .map_err(|_| TransportError::Timeout {
                        target: "in-process".into(),
                        timeout: self.timeout,
                    })?
                    .map_err(|e| unreachable(e.to_string()))?;
            let (parts, body) = response.into_parts();
            let body = axum::body::to_bytes(body, self.body_limit)
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            Ok(ExecResponse {
                status: parts.status.as_u16(),
                headers: parts.headers,
                body: body.to_vec(),
            })
        })
    }

    fn describe(&self) -> String {
        format!("in-process {}", self.serve_path)
    }
}

/// Drives an SDK app by URL (the JS SDK, another Rust app, …).
#[derive(Clone)]
pub struct Http {
    client: reqwest::Client,
    url: Url,
    timeout: Duration,
}

impl Http {
    /// A transport for the serve endpoint at `url`.
    pub fn new(client: reqwest::Client, url: Url, timeout: Duration) -> Self {
        Self {
            client,
            url,
            timeout,
        }
    }
}

impl Transport for Http {
    fn execute(&self, request: ExecRequest) -> BoxFuture<'_, Result<ExecResponse, TransportError>> {
        Box::pin(async move {
            let mut url = self.url.clone();
            let kept: Vec<(String, String)> = url
                .query_pairs()
                .filter(|(k, _)| k != "fnId" && k != "stepId")
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect();
            url.query_pairs_mut()
                .clear()
                .extend_pairs(kept)
                .append_pair("fnId", &request.function_id)
                .append_pair("stepId", &request.step_id);
            let target = self.url.to_string();
            let response = self
                .client
                .post(url)
                .header(http::header::USER_AGENT, "Inngest")
                .headers(request.headers)
                .body(request.body)
                .timeout(self.timeout)
                .send()
                .await
                .map_err(|e| {
                    if e.is_timeout() {
                        TransportError::Timeout {
                            target: target.clone(),
                            timeout: self.timeout,
                        }
                    } else {
                        TransportError::Unreachable {
                            target: target.clone(),
                            reason: e.to_string(),
                        }
                    }
                })?;
            let status = response.status().as_u16();
            let headers = response.headers().clone();
            let body = response
                .bytes()
                .await
                .map_err(|e| TransportError::Unreachable {
                    target,
                    reason: e.to_string(),
                })?;
            Ok(ExecResponse {
                status,
                headers,
                body: body.to_vec(),
            })
        })
    }

    fn describe(&self) -> String {
        self.url.to_string()
    }
}
