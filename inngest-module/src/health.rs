//! The `inngest` health indicator: options valid, functions registered, the last sync, and
//! whether the executor is reachable. Served at `/health/inngest` when the health module is
//! mounted (`[inngest.health] enabled = true`) or imported by the app. It never sends an event.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use health_module::{BoxFuture, Check, HealthIndicator};
use serde_json::{Value, json};

use crate::embedded::EmbeddedExecutor;
use crate::hooks::SyncKind;
use crate::options::ExecutorKind;
use crate::registry::Registry;

/// How long the reachability request may take (the health module's own per-indicator
/// timeout applies on top).
const REACH_TIMEOUT: Duration = Duration::from_secs(2);
/// How long the embedded executor's store may take to answer a read and a write.
const STORE_TIMEOUT: Duration = Duration::from_secs(2);

/// The Inngest health indicator (name `inngest`). Not a readiness indicator: an Inngest
/// server that is briefly unreachable must not take every replica out of the load balancer
/// (the server retries its calls); watch `/health/inngest` or `/health` instead.
pub struct InngestIndicator {
    registry: Arc<Registry>,
    embedded: Arc<EmbeddedExecutor>,
}

impl std::fmt::Debug for InngestIndicator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("InngestIndicator").finish_non_exhaustive()
    }
}

impl InngestIndicator {
    pub(crate) fn new(registry: Arc<Registry>, embedded: Arc<EmbeddedExecutor>) -> Self {
        Self { registry, embedded }
    }

    async fn run(&self) -> Check {
        let registry = &self.registry;
        let options = &registry.options;
        let functions = registry.function_count();
        let mut problems: Vec<String> = Vec::new();
        // Invalid options stop start-up, so a running app's options are valid.
        let mut check = Check::up()
            .with("app_id", options.app_id.clone())
            .with("options_valid", true)
            .with("functions", functions);
        if functions == 0 {
            problems.push("no Inngest functions are registered".into());
        }
        let sync = registry.last_sync();
        check = check.with(
            "last_sync",
            sync.as_ref().map_or(Value::Null, |sync| {
                json!({
                    "kind": sync.kind.as_str(),
                    "ok": sync.ok,
                    "at_unix_ms": unix_ms(sync.at),
                    "error": sync.error,
                })
            }),
        );
        // On the embedded executor, its registration is the sync that matters; a failed
        // PUT to an absent remote server does not make it unhealthy.
        let embedded = self.embedded.kind() == ExecutorKind::Embedded;
        if let Some(sync) = sync
            .as_ref()
            .filter(|sync| !sync.ok && (!embedded || sync.kind == SyncKind::Embedded))
        {
            problems.push(format!(
                "the last sync failed: {}",
                sync.error.as_deref().unwrap_or("unknown error")
            ));
        }
        match self.embedded.kind() {
            ExecutorKind::Embedded => {
                let store = self.embedded.store_check(STORE_TIMEOUT).await;
                let healthy = matches!(store, Some(Ok(())));
                check = check
                    .with("executor", "embedded")
                    .with("executor_running", healthy);
                match store {
                    Some(Ok(())) => {}
                    Some(Err(problem)) => {
                        check = check.with("store_error", problem.clone());
                        problems.push(format!("the embedded executor's store: {problem}"));
                    }
                    None => problems.push("the embedded executor is not running".into()),
                }
            }
            ExecutorKind::Remote => {
                let (reach, problem) = self.reach_server().await;
                check = check.with("executor", "remote").with("server", reach);
                problems.extend(problem);
            }
        }
        if problems.is_empty() {
            check
        } else {
            Check::down(problems.join("; ")).with_details(check.details().clone())
        }
    }

    /// A timed GET that proves the server answers: the dev server's `GET /dev` (must be
    /// 2xx), or the API origin (any HTTP answer counts: it is reachable).
    async fn reach_server(&self) -> (Value, Option<String>) {
        let options = &self.registry.options;
        let origin = options.api_origin();
        let (url, need_success) = if options.is_dev() {
            (origin.join("dev").unwrap_or(origin), true)
        } else {
            (origin, false)
        };
        let started = Instant::now();
        let response = self
            .registry
            .service
            .http_client()
            .get(url.clone())
            .timeout(REACH_TIMEOUT)
            .send()
            .await;
        let latency_ms = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        // Shown without the credentials a base URL may carry.
        let shown = crate::redact::url(&url);
        match response {
            Ok(response) => {
                let status = response.status();
                let reachable = !need_success || status.is_success();
                let value = json!({
                    "url": shown,
                    "reachable": reachable,
                    "status": status.as_u16(),
                    "latency_ms": latency_ms,
                });
                let problem = (!reachable)
                    .then(|| format!("the Inngest dev server at {shown} answered {status}"));
                (value, problem)
            }
            Err(error) => {
                let reason = if error.is_timeout() {
                    format!("timed out after {}ms", REACH_TIMEOUT.as_millis())
                } else {
                    // Without its URL, which may carry credentials.
                    error.without_url().to_string()
                };
                let value = json!({
                    "url": shown,
                    "reachable": false,
                    "error": reason,
                    "latency_ms": latency_ms,
                });
                (
                    value,
                    Some(format!(
                        "the Inngest server at {shown} is unreachable: {reason}"
                    )),
                )
            }
        }
    }
}

fn unix_ms(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

impl HealthIndicator for InngestIndicator {
    fn name(&self) -> &str {
        "inngest"
    }

    fn readiness(&self) -> bool {
        false
    }

    fn check(&self) -> BoxFuture<'_, Check> {
        Box::pin(self.run())
    }
}
