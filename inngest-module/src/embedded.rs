//! [`EmbeddedExecutor`]: which executor drives this app's functions, and the embedded one
//! when it is in use (feature `embedded`, on by default).
//!
//! The embedded executor is opened when the container is built (a database another process
//! owns fails start-up there, before anything runs), and started only once the app's port
//! is bound (`on_application_listening`): a second instance that cannot serve never runs a
//! step.

use std::sync::Arc;

use framework::config::ServerConfig;
use framework::{BoxError, Environment};

use crate::options::ExecutorKind;
use crate::registry::Registry;

#[cfg(feature = "embedded")]
pub use inngest_executor::{Clock as ExecutorClock, Executor};

/// Which executor drives this app's functions; holds the embedded one when it is in use.
/// Injectable (`Arc<EmbeddedExecutor>`), e.g. to wait for a run in a test.
pub struct EmbeddedExecutor {
    #[cfg(feature = "embedded")]
    executor: Option<Executor>,
    #[cfg(feature = "embedded")]
    registry: Arc<Registry>,
    #[cfg(feature = "embedded")]
    server: Option<Arc<ServerConfig>>,
    kind: ExecutorKind,
    reason: &'static str,
}

impl std::fmt::Debug for EmbeddedExecutor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedExecutor")
            .field("kind", &self.kind)
            .field("reason", &self.reason)
            .finish()
    }
}

/// What choosing the executor needs.
pub(crate) struct Selection {
    pub registry: Arc<Registry>,
    pub env: Environment,
    pub server: Option<Arc<ServerConfig>>,
    #[cfg(feature = "embedded")]
    pub clock: ExecutorClock,
}

impl EmbeddedExecutor {
    /// Chooses the executor for this environment and opens the embedded one if chosen.
    pub(crate) fn select(selection: Selection) -> Result<Self, BoxError> {
        let Selection {
            registry,
            env,
            server,
            ..
        } = selection;
        let (kind, reason) = registry.options.executor_choice(env);
        #[cfg(feature = "embedded")]
        let executor = match kind {
            ExecutorKind::Remote => None,
            ExecutorKind::Embedded => {
                let options = &registry.options;
                let executor = Executor::open(inngest_executor::Settings {
                    options: options.embedded.to_executor_options(),
                    signing_key: options.signing_key.as_ref().map(|k| k.expose().to_string()),
                    event_key: options.event_key.as_ref().map(|k| k.expose().to_string()),
                    access: options.embedded.to_access(env, &options.signing_keys()),
                    clock: selection.clock,
                })?;
                // Weak: the executor holds the app (its in-process transport), and the app's
                // service must not keep the executor (and its database lock) alive.
                registry
                    .service
                    .deliver_locally(Arc::new(LocalSink(executor.downgrade())));
                Some(executor)
            }
        };
        #[cfg(not(feature = "embedded"))]
        let _ = server;
        Ok(Self {
            #[cfg(feature = "embedded")]
            executor,
            #[cfg(feature = "embedded")]
            registry,
            #[cfg(feature = "embedded")]
            server,
            kind,
            reason,
        })
    }

    /// The embedded executor, when this app runs on it.
    #[cfg(feature = "embedded")]
    pub fn executor(&self) -> Option<&Executor> {
        self.executor.as_ref()
    }

    /// `embedded` or `remote`.
    pub fn kind(&self) -> ExecutorKind {
        self.kind
    }

    /// Why that executor was chosen.
    pub fn reason(&self) -> &'static str {
        self.reason
    }

    /// Registers the app's functions with the embedded executor (in-process transport) and
    /// starts it; logs the choice either way. Runs once the port is bound.
    pub(crate) async fn start(&self) -> Result<(), BoxError> {
        #[cfg(feature = "embedded")]
        if let Some(executor) = &self.executor {
            return self.start_embedded(executor).await;
        }
        tracing::info!(
            executor = "remote",
            reason = self.reason,
            "Inngest executor: a remote Inngest server calls this app"
        );
        Ok(())
    }

    /// Stops the embedded executor, letting executions in flight finish within `grace`.
    pub(crate) async fn stop(&self, grace: std::time::Duration) {
        #[cfg(feature = "embedded")]
        if let Some(executor) = &self.executor {
            executor.shutdown(grace).await;
        }
        let _ = grace;
    }

    /// Whether the embedded executor runs and its store answers a read and a write within
    /// `timeout`; `None` on a remote executor.
    #[cfg(feature = "health")]
    pub(crate) async fn store_check(
        &self,
        timeout: std::time::Duration,
    ) -> Option<Result<(), String>> {
        #[cfg(feature = "embedded")]
        if let Some(executor) = &self.executor {
            if !executor.is_running() {
                return Some(Err("the embedded executor is not running".into()));
            }
            return Some(
                executor
                    .check_store(timeout)
                    .await
                    .map_err(|error| error.to_string()),
            );
        }
        let _ = timeout;
        None
    }

    #[cfg(feature = "embedded")]
    async fn start_embedded(&self, executor: &Executor) -> Result<(), BoxError> {
        let registry = &self.registry;
        let options = &registry.options;
        let url = format!("http://embedded.inngest.local{}", options.serve_path);
        let transport = inngest_executor::transport::InProcess::new(
            crate::serve::router(Arc::clone(registry)),
            options.serve_path.clone(),
            options.body_limit.max(64 * 1024 * 1024),
            options.embedded.request_timeout,
        );
        let registered = executor
            .register_app(
                &options.app_id,
                Arc::new(transport),
                &registry.function_configs(&url),
            )
            .await;
        let count = match registered {
            Ok(count) => {
                registry.record_sync(crate::hooks::SyncKind::Embedded, None);
                count
            }
            Err(error) => {
                registry.record_sync(crate::hooks::SyncKind::Embedded, Some(error.to_string()));
                return Err(error.into());
            }
        };
        executor.start();
        let server = self.server.as_deref();
        if let Some(server) = server {
            let access = executor.access();
            let loopback = server.host == "localhost"
                || server
                    .host
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback());
            if access.console_enabled && access.console_credentials.is_empty() && !loopback {
                tracing::warn!(
                    host = %server.host,
                    "the executor console (runs page and APIs, with event data and step outputs) is open to anyone who reaches {}:{}; set inngest.embedded.console_token, or bind to 127.0.0.1",
                    server.host,
                    server.port
                );
            }
        }
        let prefix = server
            .map(|s| {
                format!(
                    "{}{}",
                    s.global_prefix.trim_end_matches('/'),
                    executor.options().prefix
                )
            })
            .unwrap_or_else(|| executor.options().prefix.clone());
        let origin = server
            .map(|s| format!("http://{}:{}", s.host, s.port))
            .unwrap_or_default();
        tracing::info!(
            executor = "embedded",
            reason = self.reason,
            functions = count,
            database = %executor.options().database.as_ref().map(|p| p.display().to_string()).unwrap_or_else(|| "in memory".into()),
            event_api = %format!("{origin}{prefix}/e/<key>"),
            "Inngest executor: embedded; runs page at {origin}{prefix}/runs",
        );
        Ok(())
    }
}

/// Sends the app's events straight into the embedded executor.
#[cfg(feature = "embedded")]
struct LocalSink(inngest_executor::WeakExecutor);

#[cfg(feature = "embedded")]
impl crate::service::EventSink for LocalSink {
    fn accept(
        &self,
        events: Vec<serde_json::Value>,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, crate::service::SendError>> {
        self.accept_traced(events, None)
    }

    fn accept_traced(
        &self,
        events: Vec<serde_json::Value>,
        traceparent: Option<String>,
    ) -> futures_util::future::BoxFuture<'_, Result<Vec<String>, crate::service::SendError>> {
        Box::pin(async move {
            let Some(executor) = self.0.upgrade() else {
                return Err(crate::service::SendError::Rejected {
                    status: 503,
                    message: "the embedded executor has stopped".into(),
                });
            };
            let sent = executor.send_traced(events, traceparent.as_deref()).await;
            sent.map_err(|error| match error {
                inngest_executor::ExecutorError::InvalidEvent { .. } => {
                    crate::service::SendError::Rejected {
                        status: 400,
                        message: error.to_string(),
                    }
                }
                other => crate::service::SendError::Rejected {
                    status: 503,
                    message: other.to_string(),
                },
            })
        })
    }

    fn checkpoint(
        &self,
        request: crate::protocol::checkpoint::CheckpointRequest,
    ) -> futures_util::future::BoxFuture<'_, Result<(), crate::service::ApiError>> {
        Box::pin(async move {
            let refused = |status: u16, body: String| crate::service::ApiError::Status {
                what: "checkpointing steps".into(),
                status,
                body,
            };
            let Some(executor) = self.0.upgrade() else {
                return Err(refused(503, "the embedded executor has stopped".into()));
            };
            executor.checkpoint(request).await.map_err(|error| {
                let status = match &error {
                    inngest_executor::CheckpointError::Stale { .. } => 409,
                    inngest_executor::CheckpointError::Invalid(_) => 400,
                    inngest_executor::CheckpointError::Store(_) => 503,
                };
                refused(status, error.to_string())
            })
        })
    }
}
