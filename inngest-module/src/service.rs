//! [`InngestService`]: send events (with retries that never duplicate), and the raw HTTP
//! client for the Inngest API. A recording variant serves users' unit tests.

use parking_lot::Mutex;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{Value, json};

use crate::event::{IntoEvents, now_millis};
use crate::hooks::HookList;
use crate::options::InngestOptions;
use crate::protocol::{self, headers};
use crate::signature::hashed_key;

/// Why events were not sent. Nothing is dropped silently: every failure is one of these.
#[derive(Debug, thiserror::Error)]
pub enum SendError {
    /// Cloud mode without an event key.
    #[error(
        "no event key: set INNGEST_EVENT_KEY (or inngest.event_key), or INNGEST_DEV=1 to send to the dev server"
    )]
    NoEventKey,
    /// An event is not valid (no name, payload not an object, …).
    #[error("event {index} is invalid: {reason}")]
    InvalidEvent {
        /// Position in the send.
        index: usize,
        /// What is wrong.
        reason: String,
    },
    /// The Event API refused the events.
    #[error("the Event API rejected the events (HTTP {status}): {message}")]
    Rejected {
        /// HTTP status.
        status: u16,
        /// The server's message.
        message: String,
    },
    /// Every attempt failed with a server or connection error.
    #[error("sending events failed after {attempts} attempts: {last}")]
    RetriesExhausted {
        /// Attempts made.
        attempts: u32,
        /// The last failure.
        #[source]
        last: SendFailure,
    },
}

/// Why one attempt to send events failed in a way worth retrying.
#[derive(Debug, thiserror::Error)]
pub enum SendFailure {
    /// No answer: the connection failed or timed out.
    #[error("connection error: {0}")]
    Connection(#[source] reqwest::Error),
    /// The Event API answered with a server error or 429.
    #[error("HTTP {status}: {message}")]
    Server {
        /// The status.
        status: u16,
        /// What the Event API said.
        message: String,
    },
    /// No attempt was made (`send.max_attempts` is 0).
    #[error("no attempt was made")]
    NotAttempted,
}

/// An error calling the Inngest API (register, run data).
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// The request could not be made or the reply not read.
    #[error("{what}: request failed: {source}")]
    Transport {
        /// What was being done.
        what: String,
        /// The cause.
        source: reqwest::Error,
    },
    /// The server answered with an error.
    #[error("{what}: HTTP {status}: {body}")]
    Status {
        /// What was being done.
        what: String,
        /// HTTP status.
        status: u16,
        /// The server's body.
        body: String,
    },
}

enum Transport {
    Http,
    Recording(Arc<Mutex<Vec<Value>>>),
}

/// Sends events to Inngest. Injectable: take `Arc<InngestService>` in a constructor.
///
/// ```no_run
/// # use std::sync::Arc;
/// # async fn f(inngest: Arc<inngest_module::InngestService>) -> Result<(), inngest_module::SendError> {
/// use inngest_module::Event;
/// use serde_json::json;
/// let ids = inngest.send(Event::new("order.created", json!({"id": 42}))).await?;
/// # Ok(()) }
/// ```
pub struct InngestService {
    options: Arc<InngestOptions>,
    transport: Transport,
    /// Trace context put into sent events (tracing on), fixed at construction.
    trace: Option<crate::trace::TraceSettings>,
    /// The hooks around sends. Discovered at start-up, after the providers that inject this
    /// service were built, so set once then.
    hooks: OnceLock<HookList>,
    /// The embedded executor, once it is chosen and started: sends go to it in-process.
    local: OnceLock<Arc<dyn EventSink>>,
}

/// Where events go when the app runs on the embedded executor: accepted in-process, no
/// HTTP, no event key.
pub trait EventSink: Send + Sync {
    /// Stores the events durably and returns their ids, or says why they were refused.
    fn accept(
        &self,
        events: Vec<Value>,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, SendError>>;

    /// As [`accept`](Self::accept), for the events a run sends (`step.send_event`) with
    /// the `traceparent` of its execution request, which a sink may use to tell them from
    /// other sends (a draining embedded executor takes only these). By default the trace
    /// context is ignored.
    fn accept_traced(
        &self,
        events: Vec<Value>,
        traceparent: Option<String>,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, SendError>> {
        let _ = traceparent;
        self.accept(events)
    }

    /// Stores the steps a checkpointing execution request ran (`POST
    /// /v1/checkpoint/{run_id}/async` without HTTP). `ApiError::Status` with `409` means
    /// the request no longer owns the run. By default: refused, so the SDK answers the
    /// steps in the classic protocol.
    fn checkpoint(
        &self,
        request: crate::protocol::checkpoint::CheckpointRequest,
    ) -> futures_util::future::BoxFuture<'_, Result<(), ApiError>> {
        let _ = request;
        Box::pin(async {
            Err(ApiError::Status {
                what: "checkpointing steps".into(),
                status: 501,
                body: "this event sink does not take checkpoints".into(),
            })
        })
    }
}

impl std::fmt::Debug for InngestService {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InngestService")
            .field("app_id", &self.options.app_id)
            .finish_non_exhaustive()
    }
}

/// What a recording service saw: every event sent, in order.
#[derive(Clone, Debug, Default)]
pub struct SentEvents(Arc<Mutex<Vec<Value>>>);

impl SentEvents {
    /// The events sent so far.
    pub fn all(&self) -> Vec<Value> {
        self.0.lock().clone()
    }

    /// Forgets the events sent so far, e.g. between the steps of a test.
    ///
    /// ```
    /// # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
    /// use inngest_module::{Event, InngestService};
    /// let (service, sent) = InngestService::recording("shop");
    /// service.send(Event::new("a", serde_json::json!({}))).await.unwrap();
    /// sent.clear();
    /// service.send(Event::new("b", serde_json::json!({}))).await.unwrap();
    /// assert_eq!(sent.names(), ["b"]);
    /// # });
    /// ```
    pub fn clear(&self) {
        self.0.lock().clear();
    }

    /// Names of the events sent so far.
    pub fn names(&self) -> Vec<String> {
        self.all()
            .iter()
            .filter_map(|e| e.get("name").and_then(Value::as_str).map(String::from))
            .collect()
    }
}

impl InngestService {
    /// A service sending over HTTP per `options`.
    pub fn new(options: Arc<InngestOptions>) -> Self {
        Self {
            options,
            transport: Transport::Http,
            trace: None,
            hooks: OnceLock::new(),
            local: OnceLock::new(),
        }
    }

    /// A service that records what is sent instead of sending it, for users' unit tests.
    /// Ids are `"recorded-<n>"`.
    ///
    /// ```
    /// # tokio_test_block(async {
    /// use inngest_module::{Event, InngestService};
    /// let (service, sent) = InngestService::recording("shop");
    /// service.send(Event::new("order.created", serde_json::json!({"id": 1}))).await.unwrap();
    /// assert_eq!(sent.names(), ["order.created"]);
    /// # });
    /// # fn tokio_test_block(f: impl std::future::Future<Output = ()>) {
    /// #     tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(f)
    /// # }
    /// ```
    pub fn recording(app_id: &str) -> (Arc<Self>, SentEvents) {
        let sent = SentEvents::default();
        let options = Arc::new(InngestOptions::new(app_id).dev());
        (Arc::new(Self::recording_into(options, &sent)), sent)
    }

    /// A service with `options` that records what is sent into `sent`.
    pub(crate) fn recording_into(options: Arc<InngestOptions>, sent: &SentEvents) -> Self {
        let mut service = Self::new(options);
        service.transport = Transport::Recording(Arc::clone(&sent.0));
        service
    }

    /// The embedded executor's in-process sink, once it is chosen.
    pub(crate) fn local_sink(&self) -> Option<&Arc<dyn EventSink>> {
        self.local.get()
    }

    /// Routes every later send to `sink` (the embedded executor) instead of the Event API.
    #[cfg(feature = "embedded")]
    pub(crate) fn deliver_locally(&self, sink: Arc<dyn EventSink>) {
        let _ = self.local.set(sink);
    }

    /// This service putting trace context into the events it sends, per `trace`.
    pub(crate) fn with_trace(mut self, trace: Option<crate::trace::TraceSettings>) -> Self {
        self.trace = trace;
        self
    }

    /// The trace settings, when tracing is on.
    pub(crate) fn trace_settings(&self) -> Option<&crate::trace::TraceSettings> {
        self.trace.as_ref()
    }

    pub(crate) fn set_hooks(&self, hooks: HookList) {
        let _ = self.hooks.set(hooks);
    }

    /// The options in use.
    pub fn options(&self) -> &InngestOptions {
        &self.options
    }

    /// The process-wide HTTP client Inngest calls share (built on first use); set the
    /// timeout and user agent per request.
    pub fn http_client(&self) -> reqwest::Client {
        inngest_protocol::client::shared()
    }

    /// Sends one event or several; returns their ids in order. Fills `ts`, keeps `id`
    /// (idempotency), splits large sends, and retries server and connection errors with
    /// backoff and jitter. A retried request carries the same event-id seed, so the server
    /// assigns the same ids and never stores an event twice.
    pub async fn send(&self, events: impl IntoEvents) -> Result<Vec<String>, SendError> {
        let values = events
            .into_values()
            .map_err(|(index, error)| SendError::InvalidEvent {
                index,
                reason: error.to_string(),
            })?;
        self.send_values(values).await
    }

    /// Sends events already in JSON form.
    pub async fn send_values(&self, events: Vec<Value>) -> Result<Vec<String>, SendError> {
        self.send_values_with(events, &[]).await
    }

    /// [`InngestService::send_values`], with `forwarded` headers on the Event API request:
    /// a `send_event` step forwards its execution request's `traceparent` and `tracestate`,
    /// as inngest-js does, so the server links the events to the run.
    pub(crate) async fn send_values_with(
        &self,
        mut events: Vec<Value>,
        forwarded: &[(&'static str, String)],
    ) -> Result<Vec<String>, SendError> {
        let now = now_millis();
        for (index, event) in events.iter_mut().enumerate() {
            let Some(object) = event.as_object_mut() else {
                return Err(SendError::InvalidEvent {
                    index,
                    reason: "an event must be a JSON object".into(),
                });
            };
            match object.get("name").and_then(Value::as_str) {
                Some(name) if !name.trim().is_empty() => {}
                _ => {
                    return Err(SendError::InvalidEvent {
                        index,
                        reason: "`name` is required".into(),
                    });
                }
            }
            match object.get("data") {
                None | Some(Value::Null) => {
                    object.insert("data".into(), json!({}));
                }
                Some(Value::Object(_)) => {}
                Some(_) => {
                    return Err(SendError::InvalidEvent {
                        index,
                        reason: "`data` must be a JSON object".into(),
                    });
                }
            }
            object.entry("ts").or_insert_with(|| json!(now));
        }
        if let Some(trace) = &self.trace {
            crate::trace::inject(trace, &mut events);
        }
        if let Some(hooks) = self.hooks.get() {
            hooks.each(|hook| hook.before_send(&mut events));
        }
        let count = events.len();
        let result = self.deliver(events, forwarded).await;
        if let Some(hooks) = self.hooks.get() {
            hooks.each(|hook| hook.on_send_end(count, result.is_ok()));
        }
        result
    }

    async fn deliver(
        &self,
        events: Vec<Value>,
        forwarded: &[(&'static str, String)],
    ) -> Result<Vec<String>, SendError> {
        if let Transport::Recording(sent) = &self.transport {
            let mut sent = sent.lock();
            let start = sent.len();
            let ids = (start..start + events.len())
                .map(|n| format!("recorded-{n}"))
                .collect();
            sent.extend(events);
            return Ok(ids);
        }
        if let Some(sink) = self.local.get() {
            let traceparent = forwarded
                .iter()
                .find(|(name, _)| *name == "traceparent")
                .map(|(_, value)| value.clone());
            return sink.accept_traced(events, traceparent).await;
        }
        let key = match &self.options.event_key {
            Some(key) if !key.is_blank() => key.expose().to_string(),
            _ if self.options.is_dev() => "NO_EVENT_KEY_SET".to_string(),
            _ => return Err(SendError::NoEventKey),
        };
        let url = self
            .options
            .event_api_origin()
            .join(&format!("e/{key}"))
            .map_err(|e| SendError::Rejected {
                status: 0,
                message: format!("the event API URL cannot be built: {e}"),
            })?;
        let mut ids = Vec::with_capacity(events.len());
        for chunk in events.chunks(self.options.send.batch_size.max(1)) {
            ids.extend(self.deliver_chunk(&url, chunk, forwarded).await?);
        }
        Ok(ids)
    }

    async fn deliver_chunk(
        &self,
        url: &url::Url,
        events: &[Value],
        forwarded: &[(&'static str, String)],
    ) -> Result<Vec<String>, SendError> {
        let seed = event_id_seed();
        let policy = &self.options.send;
        let mut last = SendFailure::NotAttempted;
        for attempt in 0..policy.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(policy.initial_backoff, policy.max_backoff, attempt))
                    .await;
            }
            let mut request = self
                .http_client()
                .post(url.clone())
                .timeout(self.options.request_timeout)
                .header(reqwest::header::USER_AGENT, protocol::SDK)
                .header(headers::SDK, protocol::SDK)
                .header(headers::EVENT_ID_SEED, &seed)
                .json(events);
            if let Some(env) = &self.options.environment {
                request = request.header(headers::ENV, env);
            }
            for (name, value) in forwarded {
                request = request.header(*name, value);
            }
            let response = match request.send().await {
                Ok(response) => response,
                Err(error) => {
                    // Without its URL: the Event API's URL carries the event key.
                    last = SendFailure::Connection(error.without_url());
                    continue;
                }
            };
            let status = response.status();
            let body = response.text().await.unwrap_or_default();
            let parsed: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
            if status.is_success() {
                let ids = parsed
                    .get("ids")
                    .and_then(Value::as_array)
                    .map(|ids| {
                        ids.iter()
                            .filter_map(|id| id.as_str().map(String::from))
                            .collect()
                    })
                    .unwrap_or_default();
                return Ok(ids);
            }
            let message = parsed
                .get("error")
                .or_else(|| parsed.get("message"))
                .and_then(Value::as_str)
                .map(String::from)
                .unwrap_or(body);
            if status.is_server_error() || status.as_u16() == 429 {
                last = SendFailure::Server {
                    status: status.as_u16(),
                    message,
                };
                continue;
            }
            return Err(SendError::Rejected {
                status: status.as_u16(),
                message,
            });
        }
        Err(SendError::RetriesExhausted {
            attempts: policy.max_attempts,
            last,
        })
    }

    /// Sends an authenticated request to the API, retrying once with the fallback signing
    /// key on 401/403.
    pub(crate) async fn api_request(
        &self,
        what: &str,
        build: impl Fn(&reqwest::Client) -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, ApiError> {
        let keys = self.options.signing_keys();
        let attempts: Vec<Option<&str>> = if keys.is_empty() {
            vec![None]
        } else {
            keys.into_iter().map(Some).collect()
        };
        let count = attempts.len();
        let client = self.http_client();
        for (index, key) in attempts.into_iter().enumerate() {
            let mut request = build(&client)
                .timeout(self.options.request_timeout)
                .header(reqwest::header::USER_AGENT, protocol::SDK)
                .header(headers::SDK, protocol::SDK);
            if let Some(key) = key {
                request = request.bearer_auth(hashed_key(key));
            }
            if let Some(env) = &self.options.environment {
                request = request.header(headers::ENV, env);
            }
            let response = request.send().await.map_err(|source| ApiError::Transport {
                what: what.into(),
                // The URL may carry credentials (a base URL's user:password).
                source: source.without_url(),
            })?;
            let status = response.status().as_u16();
            if (status == 401 || status == 403) && index + 1 < count {
                continue;
            }
            if !response.status().is_success() {
                let body = response.text().await.unwrap_or_default();
                return Err(ApiError::Status {
                    what: what.into(),
                    status,
                    body,
                });
            }
            return Ok(response);
        }
        Err(ApiError::Status {
            what: what.into(),
            status: 401,
            body: "no key was accepted".into(),
        })
    }
}

/// `"<unix ms>,<base64 of 10 random bytes>"`: the server derives the events' ids from it.
fn event_id_seed() -> String {
    let mut entropy = [0u8; 10];
    if getrandom::fill(&mut entropy).is_err() {
        // No OS randomness: fall back to the clock; ids stay unique per millisecond and call.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos();
        entropy.copy_from_slice(&nanos.to_le_bytes()[..10]);
    }
    format!(
        "{},{}",
        now_millis(),
        base64::engine::general_purpose::STANDARD.encode(entropy)
    )
}

/// Exponential backoff with full jitter in the upper half.
fn backoff(initial: Duration, max: Duration, attempt: u32) -> Duration {
    let base = initial.saturating_mul(1u32 << attempt.min(16)).min(max);
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    // Divided before multiplied: `base / 2 * 255` may not fit in a `Duration`.
    base / 2 + (base / 2 / 255).saturating_mul(u32::from(byte[0]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_of_the_largest_durations_does_not_overflow() {
        let huge = Duration::MAX;
        for attempt in [0, 1, 16, u32::MAX] {
            let delay = backoff(huge, huge, attempt);
            assert!(delay >= huge / 2 - Duration::from_secs(1), "{delay:?}");
        }
        let delay = backoff(Duration::from_millis(100), Duration::from_secs(5), 3);
        assert!(delay >= Duration::from_millis(400) && delay <= Duration::from_millis(800));
    }

    #[test]
    fn seed_has_the_server_format() {
        let seed = event_id_seed();
        let (ms, entropy) = seed.split_once(',').unwrap();
        assert!(ms.parse::<i64>().unwrap() > 1_700_000_000_000);
        assert_eq!(
            base64::engine::general_purpose::STANDARD
                .decode(entropy)
                .unwrap()
                .len(),
            10
        );
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let initial = Duration::from_millis(100);
        let max = Duration::from_secs(1);
        for attempt in 1..10 {
            let delay = backoff(initial, max, attempt);
            let base = (initial * (1 << attempt)).min(max);
            assert!(delay >= base / 2 && delay <= base, "{attempt}: {delay:?}");
        }
    }

    #[tokio::test]
    async fn recording_validates_and_fills_events() {
        let (service, sent) = InngestService::recording("shop");
        let ids = service
            .send_values(vec![
                json!({"name": "a"}),
                json!({"name": "b", "data": {"x": 1}, "ts": 5}),
            ])
            .await
            .unwrap();
        assert_eq!(ids, ["recorded-0", "recorded-1"]);
        let all = sent.all();
        assert_eq!(all[0]["data"], json!({}));
        assert!(all[0]["ts"].as_i64().unwrap() > 0);
        assert_eq!(all[1]["ts"], 5);
        let error = service
            .send_values(vec![json!({"data": {}})])
            .await
            .unwrap_err();
        assert_eq!(error.to_string(), "event 0 is invalid: `name` is required");
    }
}
