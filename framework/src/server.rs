//! The HTTP server under [`App::run`](crate::App::run): accepts connections up to
//! `server.max_connections`, serves each with hyper (HTTP/1.1 and HTTP/2), closes the ones
//! that are slow to send a request or sit idle, and stops gracefully.
//!
//! A connection is *idle* while no request on it is in flight (a request is in flight
//! from its complete head until its response body has been sent or dropped). An idle
//! connection is closed once it has been idle for `server.header_read_timeout` if it never
//! delivered a request (a silent or slowloris client), or for `server.idle_timeout`
//! afterwards (keep-alive). Closing an idle connection loses nothing: no request is being
//! handled on it.
//!
//! When every connection slot is taken, the loop stops accepting: new connections wait in
//! the kernel's accept queue (no CPU is spent) until a slot frees.

use parking_lot::Mutex;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, oneshot};
use tokio::time::Instant;
use tower::ServiceExt;

use crate::config::ServerConfig;
use crate::http::AppService;

/// File descriptors kept for everything but client connections (logs, databases, outgoing
/// requests): at least this many, or an eighth of the limit.
const RESERVED_DESCRIPTORS: u64 = 64;

/// The connection limits the server enforces.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    /// Time a new connection has to deliver its first request head.
    pub header_read_timeout: Duration,
    /// Time a connection may sit with no request in flight after its first.
    pub idle_timeout: Duration,
    /// Connections served at once.
    pub max_connections: usize,
}

impl Limits {
    /// The limits of `[server]`, with `max_connections` lowered to what the open-file limit
    /// allows (after raising the soft limit to the hard one).
    pub(crate) fn from_config(config: &ServerConfig) -> Self {
        let budget = descriptor_budget();
        let max_connections = match budget {
            Some(budget) if budget < config.max_connections => {
                tracing::warn!(
                    configured = config.max_connections,
                    allowed = budget,
                    "server.max_connections is lowered to what the open-file limit allows; raise the limit (`ulimit -n`, LimitNOFILE=) to serve more connections"
                );
                budget.max(1)
            }
            _ => config.max_connections,
        };
        Self {
            header_read_timeout: config.header_read_timeout,
            idle_timeout: config.idle_timeout,
            max_connections,
        }
    }
}

/// Connections the open-file limit leaves room for, after raising the soft limit to the
/// hard one; `None` when the limit is unknown or unlimited.
fn descriptor_budget() -> Option<usize> {
    use rustix::process::{Resource, Rlimit, getrlimit, setrlimit};
    let limit = getrlimit(Resource::Nofile);
    let mut soft = limit.current?;
    if let Some(hard) = limit.maximum
        && hard > soft
    {
        let raised = Rlimit {
            current: Some(hard),
            maximum: Some(hard),
        };
        if setrlimit(Resource::Nofile, raised).is_ok() {
            soft = hard;
        }
    }
    let reserve = RESERVED_DESCRIPTORS.max(soft / 8);
    usize::try_from(soft.saturating_sub(reserve)).ok()
}

/// Serves `router` on `listener` until `stop` fires, then waits for the open connections to
/// finish their requests (the caller bounds that wait).
pub(crate) async fn serve(
    listener: TcpListener,
    router: AppService,
    limits: Limits,
    mut stop: oneshot::Receiver<()>,
) -> io::Result<()> {
    let slots = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut builder = Builder::new(TokioExecutor::new());
    builder.http2().enable_connect_protocol();
    let mut saturated = false;
    let mut backoff = Duration::from_millis(10);
    loop {
        if slots.available_permits() == 0 && !saturated {
            saturated = true;
            tracing::warn!(
                max_connections = limits.max_connections,
                "every connection slot is taken; new connections wait until one closes"
            );
        }
        let permit = tokio::select! {
            permit = Arc::clone(&slots).acquire_owned() => match permit {
                Ok(permit) => permit,
                Err(_) => break,
            },
            _ = &mut stop => break,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = &mut stop => break,
        };
        match accepted {
            Ok((stream, peer)) => {
                saturated = false;
                backoff = Duration::from_millis(10);
                let _ = stream.set_nodelay(true);
                let connection = Connection {
                    stream,
                    peer,
                    permit,
                    router: router.clone(),
                    limits,
                };
                tokio::spawn(connection.serve(builder.clone(), graceful.watcher()));
            }
            Err(error) if is_connection_error(&error) => {}
            Err(error) => {
                // Out of file descriptors, most likely: wait instead of spinning on accept.
                tracing::warn!(%error, retry_in = ?backoff, "accepting a connection failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
            }
        }
    }
    drop(listener);
    graceful.shutdown().await;
    Ok(())
}

/// Errors of one connection that was reset before it was accepted: not the server's.
fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One accepted connection and what serving it needs.
struct Connection {
    stream: TcpStream,
    peer: SocketAddr,
    permit: OwnedSemaphorePermit,
    router: AppService,
    limits: Limits,
}

impl Connection {
    /// Serves the connection until the client closes it, it stays idle too long, or the
    /// server shuts down; then frees its slot.
    async fn serve(
        self,
        builder: Builder<TokioExecutor>,
        graceful: hyper_util::server::graceful::Watcher,
    ) {
        let Connection {
            stream,
            peer,
            permit,
            router,
            limits,
        } = self;
        let activity = Arc::new(Activity::new());
        let service = {
            let activity = Arc::clone(&activity);
            hyper::service::service_fn(move |mut request: http::Request<Incoming>| {
                let guard = InFlight::begin(&activity);
                request.extensions_mut().insert(ConnectInfo(peer));
                let router = router.clone();
                async move {
                    let response = router.oneshot(request.map(Body::new)).await;
                    response.map(|response| {
                        response.map(|body| {
                            Body::new(TrackedBody {
                                inner: body,
                                _in_flight: guard,
                            })
                        })
                    })
                }
            })
        };
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .into_owned(),
        );
        tokio::select! {
            result = connection => {
                if let Err(error) = result {
                    tracing::debug!(%peer, %error, "connection ended with an error");
                }
            }
            () = activity.idle_expired(limits) => {
                tracing::debug!(%peer, "closing an idle connection");
            }
        }
        drop(permit);
    }
}

/// What the idle watch of one connection knows: requests in flight, and since when none is.
struct Activity {
    in_flight: AtomicUsize,
    served: AtomicBool,
    idle_since: Mutex<Instant>,
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            in_flight: AtomicUsize::new(0),
            served: AtomicBool::new(false),
            idle_since: Mutex::new(Instant::now()),
            changed: Notify::new(),
        }
    }

    /// Resolves once the connection has had no request in flight for its limit.
    async fn idle_expired(&self, limits: Limits) {
        loop {
            if self.in_flight.load(Ordering::Acquire) > 0 {
                self.changed.notified().await;
                continue;
            }
            let limit = if self.served.load(Ordering::Acquire) {
                limits.idle_timeout
            } else {
                limits.header_read_timeout
            };
            let since = *self.idle_since.lock();
            // A limit too large for the clock (`"18446744073709551615s"`) never expires.
            let Some(deadline) = since.checked_add(limit) else {
                self.changed.notified().await;
                continue;
            };
            if Instant::now() >= deadline {
                return;
            }
            // Requests that come and go meanwhile only move `idle_since`: the watch looks
            // again when this deadline passes, so a request costs no timer of its own.
            tokio::time::sleep_until(deadline).await;
        }
    }
}

/// One request in flight on a connection, from its complete head until its response body
/// is sent or dropped.
struct InFlight(Arc<Activity>);

impl InFlight {
    fn begin(activity: &Arc<Activity>) -> Self {
        activity.served.store(true, Ordering::Release);
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        Self(Arc::clone(activity))
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        *activity.idle_since.lock() = Instant::now();
        if activity.in_flight.fetch_sub(1, Ordering::AcqRel) == 1 {
            // `notify_one` keeps a permit if the watch is not waiting yet: no lost wake-up.
            activity.changed.notify_one();
        }
    }
}

/// A response body that ends its request's [`InFlight`] when it is finished or dropped.
struct TrackedBody {
    inner: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}
