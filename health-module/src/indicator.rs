//! [`HealthIndicator`], its result [`Check`], and the [`HealthIndicators`] contribution kind.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use serde_json::{Map, Value};

/// A boxed, sendable future, as returned by [`HealthIndicator::check`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// One named health check (a database ping, a queue's lag, a downstream API).
///
/// Indicators are providers that contribute themselves as [`HealthIndicators`]; the health
/// module discovers them in every enabled module. Names must be unique and usable as a
/// path segment (`/health/{name}`).
///
/// ```
/// use std::sync::Arc;
/// use std::sync::atomic::{AtomicBool, Ordering};
/// use framework::{Module, Provider};
/// use health_module::{BoxFuture, Check, HealthIndicator, HealthIndicators};
///
/// /// Down while the database is unreachable.
/// pub struct DbIndicator { reachable: AtomicBool }
///
/// impl HealthIndicator for DbIndicator {
///     fn name(&self) -> &str { "db" }
///
///     fn check(&self) -> BoxFuture<'_, Check> {
///         Box::pin(async move {
///             if self.reachable.load(Ordering::Relaxed) {
///                 Check::up().with("pool_size", 8)
///             } else {
///                 Check::down("db unreachable").with("host", "db.internal")
///             }
///         })
///     }
/// }
///
/// let module = Module::new("db").provider(
///     Provider::value(DbIndicator { reachable: AtomicBool::new(true) })
///         .contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>),
/// );
/// # let _ = module;
/// ```
///
/// `check` runs under the module's `timeout` and concurrently with the other indicators;
/// a panic or a timeout reports the indicator down. Do not block the thread in it (use
/// `tokio::task::spawn_blocking` for blocking work).
pub trait HealthIndicator: Send + Sync + 'static {
    /// The indicator's name: a key in the report and the `{name}` of `/health/{name}`.
    fn name(&self) -> &str;

    /// Whether `/health/ready` includes this indicator (default `true`). Return `false`
    /// for checks whose failure should not take the instance out of the load balancer.
    fn readiness(&self) -> bool {
        true
    }

    /// Runs the check.
    fn check(&self) -> BoxFuture<'_, Check>;
}

/// The contribution kind for health indicators: contribute an `Arc<dyn HealthIndicator>`
/// from a singleton provider with
/// `.contribute::<HealthIndicators, _>(|this| Arc::clone(this) as Arc<dyn HealthIndicator>)`.
pub struct HealthIndicators;

impl framework::ContributionKind for HealthIndicators {
    type Item = Arc<dyn HealthIndicator>;
}

/// The result of one indicator: up or down, with a message when down and free-form details.
///
/// ```
/// use health_module::Check;
/// let up = Check::up().with("rss_mb", 12);
/// assert!(up.is_up());
/// let down = Check::down("db unreachable").with("attempts", 3);
/// assert_eq!(down.message(), Some("db unreachable"));
/// assert_eq!(
///     down.to_json(),
///     serde_json::json!({"status": "down", "message": "db unreachable", "attempts": 3})
/// );
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Check {
    up: bool,
    message: Option<String>,
    details: Map<String, Value>,
}

impl Check {
    /// An up result without details.
    pub fn up() -> Self {
        Self {
            up: true,
            message: None,
            details: Map::new(),
        }
    }

    /// A down result with the reason.
    pub fn down(message: impl Into<String>) -> Self {
        Self {
            up: false,
            message: Some(message.into()),
            details: Map::new(),
        }
    }

    /// Adds one detail. The keys `status` and `message` are reserved: the result's own
    /// status and message win over details with those names.
    pub fn with(mut self, key: impl Into<String>, value: impl Into<Value>) -> Self {
        self.details.insert(key.into(), value.into());
        self
    }

    /// Adds several details.
    pub fn with_details(mut self, details: Map<String, Value>) -> Self {
        self.details.extend(details);
        self
    }

    /// `true` for an up result.
    pub fn is_up(&self) -> bool {
        self.up
    }

    /// The reason of a down result (or a message set on an up one).
    pub fn message(&self) -> Option<&str> {
        self.message.as_deref()
    }

    /// The details.
    pub fn details(&self) -> &Map<String, Value> {
        &self.details
    }

    /// `"up"` or `"down"`.
    pub fn status(&self) -> &'static str {
        if self.up { "up" } else { "down" }
    }

    /// The report entry: `{"status": "up"|"down", "message"?: ..., ...details}`.
    pub fn to_json(&self) -> Value {
        let mut entry = self.details.clone();
        entry.insert("status".into(), Value::from(self.status()));
        match &self.message {
            Some(message) => {
                entry.insert("message".into(), Value::from(message.as_str()));
            }
            None => {
                entry.remove("message");
            }
        }
        Value::Object(entry)
    }
}
