//! One connection's loop: send the request again and again on the same connection, and
//! tally what came back. A broken connection is opened again.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{HeaderMap, HeaderValue, Method, Request, Uri};
use http_body_util::Full;
use hyper::body::Bytes;

use crate::conn::Conn;

/// How often a connection signs the body again (the server accepts 5 minutes of skew).
const RESIGN_EVERY: Duration = Duration::from_secs(60);
/// The first errors kept word for word.
const KEPT_ERRORS: usize = 5;

/// What every connection sends, and when to stop.
pub struct Plan {
    /// `host:port` to connect to.
    pub authority: String,
    /// The request target (path and query).
    pub uri: Uri,
    /// The method.
    pub method: Method,
    /// Headers sent with every request (`Host` included).
    pub headers: HeaderMap,
    /// The body sent with every request.
    pub body: Bytes,
    /// Signs the body (`X-Inngest-Signature`) with this key when set.
    pub sign_key: Option<String>,
    /// The status every response must have (any 2xx when unset).
    pub expect: Option<u16>,
    /// Text every response body must contain.
    pub expect_body: Option<Bytes>,
    /// No request starts after this.
    pub deadline: Instant,
    /// At most this many requests in all.
    pub limit: u64,
    /// Requests started so far, over every connection.
    pub issued: AtomicU64,
    /// Print the status and body of the first request's answer.
    pub show_first: bool,
}

impl Plan {
    /// Claims the next request, unless the count or the time is up: its index from 0.
    fn claim(&self) -> Option<u64> {
        if Instant::now() >= self.deadline {
            return None;
        }
        let index = self.issued.fetch_add(1, Ordering::Relaxed);
        (index < self.limit).then_some(index)
    }

    /// The headers with a fresh signature when a key is set.
    fn signed_headers(&self) -> HeaderMap {
        let mut headers = self.headers.clone();
        if let Some(key) = &self.sign_key {
            let value =
                inngest_protocol::signature::signature_header(key, &self.body, perf::now_secs());
            if let Ok(value) = HeaderValue::from_str(&value) {
                headers.insert(inngest_protocol::headers::SIGNATURE, value);
            }
        }
        headers
    }
}

/// What one connection saw.
#[derive(Debug, Default)]
pub struct Tally {
    /// Latency of each completed request, in microseconds.
    pub latencies_us: Vec<u32>,
    /// Responses by status code.
    pub statuses: BTreeMap<u16, u64>,
    /// Responses whose status or body was not what `--expect`/`--expect-body` asked for.
    pub unexpected: u64,
    /// Requests that failed (connect, send or read).
    pub errors: u64,
    /// The first errors' messages.
    pub messages: Vec<String>,
}

impl Tally {
    /// A tally of one failure.
    pub fn failed(message: String) -> Self {
        let mut tally = Tally::default();
        tally.error(message);
        tally
    }

    fn error(&mut self, message: String) {
        self.errors += 1;
        if self.messages.len() < KEPT_ERRORS {
            self.messages.push(message);
        }
    }
}

/// Whether `haystack` contains `needle`.
fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Sends until the plan says stop; reconnects after a failure.
pub async fn run(plan: Arc<Plan>) -> Tally {
    let mut tally = Tally::default();
    let mut headers = plan.signed_headers();
    let mut signed_at = Instant::now();
    let mut conn: Option<Conn> = None;
    while let Some(index) = plan.claim() {
        let mut current = match conn.take() {
            Some(current) => current,
            None => match Conn::open(&plan.authority).await {
                Ok(fresh) => fresh,
                Err(message) => {
                    tally.error(message);
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        if signed_at.elapsed() > RESIGN_EVERY {
            headers = plan.signed_headers();
            signed_at = Instant::now();
        }
        let mut request = Request::new(Full::new(plan.body.clone()));
        *request.method_mut() = plan.method.clone();
        *request.headers_mut() = headers.clone();
        *request.uri_mut() = plan.uri.clone();
        let started = Instant::now();
        let (status, body) = match current.exchange(request).await {
            Ok(answer) => answer,
            Err(message) => {
                tally.error(message);
                continue;
            }
        };
        if plan.show_first && index == 0 {
            println!("first answer {status}: {}", String::from_utf8_lossy(&body));
        }
        let micros = u32::try_from(started.elapsed().as_micros()).unwrap_or(u32::MAX);
        tally.latencies_us.push(micros);
        *tally.statuses.entry(status).or_default() += 1;
        let status_ok = plan
            .expect
            .map_or((200..300).contains(&status), |expected| expected == status);
        let body_ok = plan
            .expect_body
            .as_ref()
            .is_none_or(|needle| contains(&body, needle));
        if !(status_ok && body_ok) {
            if tally.unexpected == 0 {
                let text = String::from_utf8_lossy(&body);
                let shown: String = text.chars().take(300).collect();
                tally
                    .messages
                    .push(format!("unexpected answer {status}: {shown}"));
            }
            tally.unexpected += 1;
        }
        conn = Some(current);
    }
    tally
}
