//! Errors user functions return, and how each is reported to the server.

use std::fmt;
use std::time::{Duration, SystemTime};

use serde_json::Value;

use crate::protocol::ErrorBody;

/// An error kept as it was converted, with its source chain.
pub type BoxedError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The result of an Inngest function or step body.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// When the server should try again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RetryAfter {
    /// After this long (sent as whole seconds, rounded up).
    Delay(Duration),
    /// At this time (sent as an RFC 3339 date with milliseconds).
    At(SystemTime),
}

impl RetryAfter {
    /// The `Retry-After` header value.
    pub fn header_value(&self) -> String {
        match self {
            RetryAfter::Delay(delay) => {
                let millis = delay.as_millis();
                millis.div_ceil(1000).max(1).to_string()
            }
            RetryAfter::At(at) => humantime::format_rfc3339_millis(*at).to_string(),
        }
    }
}

/// A step that failed for good, as user code sees it when the step is replayed: catch it
/// to compensate, or return it to fail the run.
#[derive(Debug, Clone, PartialEq)]
pub struct StepError {
    /// The error's name (e.g. `Error`, `NonRetriableError`).
    pub name: String,
    /// The message.
    pub message: String,
    /// The error exactly as memoized.
    pub raw: Value,
}

impl StepError {
    pub(crate) fn from_memo(raw: Value) -> Self {
        let text = |key: &str| {
            raw.get(key)
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string()
        };
        Self {
            name: text("name"),
            message: text("message"),
            raw,
        }
    }
}

impl fmt::Display for StepError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.name, self.message)
    }
}

/// An error from a function or a step body.
///
/// Any `std::error::Error` converts into a retriable error with `?`, and is kept: its
/// source chain stays reachable ([`Error::source`], [`Error::chain`],
/// [`Error::downcast_ref`]) and `{:#}` prints it, as anyhow does. (Like `anyhow::Error`,
/// this type does not implement `std::error::Error` itself: that is what lets `?` convert
/// any error into it.) Use [`Error::non_retriable`] to stop retrying and
/// [`Error::retry_after`] to choose when the next attempt happens. A step that failed for
/// good comes back as [`Error::Step`].
///
/// ```
/// use std::time::Duration;
/// use inngest_module::Error;
/// let fatal = Error::non_retriable("card declined");
/// let later = Error::retry_after("rate limited", Duration::from_secs(30));
/// assert!(!fatal.is_retriable() && later.is_retriable());
///
/// // An error converted with `?` keeps what it wraps.
/// fn parse(text: &str) -> inngest_module::Result<u32> {
///     Ok(text.parse::<u32>()?)
/// }
/// let error = parse("seven").unwrap_err();
/// assert!(error.downcast_ref::<std::num::ParseIntError>().is_some());
/// assert_eq!(error.to_string(), "Error: invalid digit found in string");
/// ```
#[derive(Debug)]
pub enum Error {
    /// The server retries (up to the function's `retries`).
    Retriable {
        /// Error name reported to the server.
        name: String,
        /// Message.
        message: String,
        /// When to retry, if it matters.
        retry_after: Option<RetryAfter>,
        /// The error this one was converted from (`?`), with its own source chain.
        source: Option<BoxedError>,
    },
    /// The run (or step) fails at once, without retries.
    NonRetriable {
        /// Message.
        message: String,
        /// What caused it, if known.
        cause: Option<String>,
    },
    /// A step failed for good; returning this fails the run.
    Step(StepError),
}

impl Error {
    /// A retriable error.
    pub fn retriable(message: impl Into<String>) -> Self {
        Error::Retriable {
            name: "Error".into(),
            message: message.into(),
            retry_after: None,
            source: None,
        }
    }

    /// An error that stops retries (`NonRetriableError`).
    pub fn non_retriable(message: impl Into<String>) -> Self {
        Error::NonRetriable {
            message: message.into(),
            cause: None,
        }
    }

    /// A non-retriable error with the error that caused it.
    pub fn non_retriable_caused_by(message: impl Into<String>, cause: impl fmt::Display) -> Self {
        Error::NonRetriable {
            message: message.into(),
            cause: Some(cause.to_string()),
        }
    }

    /// A retriable error asking for the next attempt after `delay` (`RetryAfterError`).
    pub fn retry_after(message: impl Into<String>, delay: Duration) -> Self {
        Error::Retriable {
            name: "RetryAfterError".into(),
            message: message.into(),
            retry_after: Some(RetryAfter::Delay(delay)),
            source: None,
        }
    }

    /// A retriable error asking for the next attempt at `at` (`RetryAfterError`).
    pub fn retry_at(message: impl Into<String>, at: SystemTime) -> Self {
        Error::Retriable {
            name: "RetryAfterError".into(),
            message: message.into(),
            retry_after: Some(RetryAfter::At(at)),
            source: None,
        }
    }

    /// The error this one was converted from with `?`, if any; its own `source()` goes on
    /// down the chain.
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Retriable {
                source: Some(source),
                ..
            } => Some(source.as_ref()),
            _ => None,
        }
    }

    /// The chain of errors under this one: the converted error, its source, and so on.
    pub fn chain(&self) -> impl Iterator<Item = &(dyn std::error::Error + 'static)> {
        std::iter::successors(self.source(), |error| error.source())
    }

    /// The converted error as `E`, if it is one (as `anyhow::Error::downcast_ref`).
    pub fn downcast_ref<E: std::error::Error + 'static>(&self) -> Option<&E> {
        self.source().and_then(|error| error.downcast_ref::<E>())
    }

    /// `false` for non-retriable errors and failed steps.
    pub fn is_retriable(&self) -> bool {
        matches!(self, Error::Retriable { .. })
    }

    /// The requested retry time, if any.
    pub fn retry_after_value(&self) -> Option<RetryAfter> {
        match self {
            Error::Retriable { retry_after, .. } => *retry_after,
            _ => None,
        }
    }

    /// The error in the protocol's `{name, message, stack}` shape.
    pub fn to_error_body(&self) -> ErrorBody {
        match self {
            Error::Retriable { name, message, .. } => {
                ErrorBody::new(name.as_str(), message.as_str())
            }
            Error::NonRetriable { message, cause } => {
                let body = ErrorBody::new("NonRetriableError", message.as_str());
                match cause {
                    Some(cause) => body.with_cause(ErrorBody::new("Error", cause.as_str())),
                    None => body,
                }
            }
            Error::Step(step) => ErrorBody::from_value(step.raw.clone()),
        }
    }

    /// The error as JSON (a failed step's error exactly as it was memoized).
    pub fn to_value(&self) -> Value {
        match self {
            Error::Step(step) => step.raw.clone(),
            _ => self.to_error_body().to_value(),
        }
    }

    pub(crate) fn panic(payload: &(dyn std::any::Any + Send)) -> Self {
        let message = payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "panic with a non-string payload".into());
        Error::Retriable {
            name: "Panic".into(),
            message,
            retry_after: None,
            source: None,
        }
    }
}

/// `{}` prints the error as the server sees it; `{:#}` adds the chain of what it wraps
/// (`Error: loading the order: connection refused`), each source once.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Retriable { name, message, .. } => write!(f, "{name}: {message}")?,
            Error::NonRetriable { message, .. } => write!(f, "NonRetriableError: {message}")?,
            Error::Step(step) => write!(f, "step failed: {step}")?,
        }
        if f.alternate() {
            // The converted error's own text is the message; its sources follow.
            for cause in self.chain().skip(1) {
                write!(f, ": {cause}")?;
            }
        }
        Ok(())
    }
}

impl<E: std::error::Error + Send + Sync + 'static> From<E> for Error {
    fn from(error: E) -> Self {
        Error::Retriable {
            name: "Error".into(),
            message: error.to_string(),
            retry_after: None,
            source: Some(Box::new(error)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_header_values() {
        assert_eq!(
            RetryAfter::Delay(Duration::from_millis(2500)).header_value(),
            "3"
        );
        assert_eq!(
            RetryAfter::Delay(Duration::from_millis(10)).header_value(),
            "1"
        );
        let at = SystemTime::UNIX_EPOCH + Duration::from_millis(1_795_424_936_330);
        assert_eq!(
            RetryAfter::At(at).header_value(),
            "2026-11-23T09:08:56.330Z"
        );
    }

    #[test]
    fn errors_serialize_like_the_js_sdk() {
        let value = Error::non_retriable_caused_by("fatal", "root cause").to_value();
        assert_eq!(value["name"], "NonRetriableError");
        assert_eq!(value["message"], "fatal");
        assert_eq!(value["cause"]["message"], "root cause");
        let io: Error = std::io::Error::other("disk").into();
        assert!(io.is_retriable());
        assert_eq!(io.to_value()["message"], "disk");
    }

    /// An error with a source, as libraries wrap theirs.
    #[derive(Debug, thiserror::Error)]
    #[error("loading order 7")]
    struct LoadError(#[source] std::io::Error);

    #[test]
    fn a_converted_error_keeps_its_source_chain_and_the_wire_keeps_its_message() {
        let error: Error = LoadError(std::io::Error::other("connection refused")).into();
        // Reachable and typed, as anyhow keeps it.
        assert!(error.downcast_ref::<LoadError>().is_some());
        let chain: Vec<String> = error.chain().map(ToString::to_string).collect();
        assert_eq!(chain, ["loading order 7", "connection refused"]);
        // Printed: the message, and with `{:#}` the chain under it.
        assert_eq!(error.to_string(), "Error: loading order 7");
        assert_eq!(
            format!("{error:#}"),
            "Error: loading order 7: connection refused"
        );
        // What the server receives is unchanged: the message.
        let body = error.to_value();
        assert_eq!(body["message"], "loading order 7");
        assert!(body.get("cause").is_none());
        // Errors made by hand have no chain.
        assert_eq!(Error::retriable("x").chain().count(), 0);
    }
}
