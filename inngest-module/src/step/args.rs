//! What the step tools take: what to wait for ([`WaitFor`]), which function to invoke
//! ([`Invoke`]), how long to sleep ([`StepDuration`]) and until when ([`SleepUntil`]).

use std::marker::PhantomData;
use std::time::{Duration, SystemTime};

use serde::Serialize;
use serde_json::{Value, json};

use crate::event::EventPayload;
use crate::protocol::format_duration;

/// What to wait for in [`Step::wait_for_event`]: an event by name, or by its payload type
/// `T` (an [`EventPayload`]), which is also the type the step returns.
///
/// ```
/// use inngest_module::{EventPayload, WaitFor};
/// use serde::{Deserialize, Serialize};
///
/// #[derive(Serialize, Deserialize, EventPayload)]
/// #[event(name = "order.shipped")]
/// struct OrderShipped { order_id: String }
///
/// // By type: the name comes from the type.
/// let typed = WaitFor::<OrderShipped>::new()
///     .timeout("7d")
///     .matching("async.data.order_id == event.data.order_id");
/// // By name, with any payload type.
/// let named: WaitFor<serde_json::Value> = WaitFor::event("order.shipped").timeout("7d");
/// # let _ = (typed, named);
/// ```
#[derive(Debug)]
pub struct WaitFor<T = Value> {
    pub(super) event: String,
    pub(super) timeout: String,
    pub(super) expression: Option<String>,
    payload: PhantomData<fn() -> T>,
}

impl<T> Clone for WaitFor<T> {
    fn clone(&self) -> Self {
        Self {
            event: self.event.clone(),
            timeout: self.timeout.clone(),
            expression: self.expression.clone(),
            payload: PhantomData,
        }
    }
}

impl<T: EventPayload> WaitFor<T> {
    /// Waits for the event `T` is tied to (timeout one day unless set).
    pub fn new() -> Self {
        Self::event(T::NAME)
    }
}

impl<T: EventPayload> Default for WaitFor<T> {
    fn default() -> Self {
        Self::new()
    }
}

impl<T> WaitFor<T> {
    /// Waits for an event with this name (timeout one day unless set); its payload is
    /// decoded as `T`.
    pub fn event(name: impl Into<String>) -> Self {
        Self {
            event: name.into(),
            timeout: "1d".into(),
            expression: None,
            payload: PhantomData,
        }
    }

    /// How long to wait (`"30s"`, `"7d"`); after that the step returns `None`.
    pub fn timeout(mut self, timeout: impl Into<String>) -> Self {
        self.timeout = timeout.into();
        self
    }

    /// A CEL expression the event must match; `event` is the run's trigger, `async` the
    /// candidate (e.g. `"async.data.orderId == event.data.orderId"`).
    pub fn matching(mut self, expression: impl Into<String>) -> Self {
        self.expression = Some(expression.into());
        self
    }
}

/// Which function [`Step::invoke`] calls, and with what.
#[derive(Debug, Clone)]
pub struct Invoke {
    pub(super) function_id: String,
    pub(super) data: Value,
    pub(super) timeout: Option<String>,
    pub(super) qualified: bool,
}

impl Invoke {
    /// Invokes the function with this id in the same app (`"send-receipt"`), or with a full
    /// composite id when given through [`Invoke::composite`].
    pub fn function(id: impl Into<String>) -> Self {
        Self {
            function_id: id.into(),
            data: json!({}),
            timeout: None,
            qualified: false,
        }
    }

    /// Invokes a function by its composite id (`"<app_id>-<fn_id>"`), e.g. in another app.
    pub fn composite(id: impl Into<String>) -> Self {
        Self {
            qualified: true,
            ..Self::function(id)
        }
    }

    /// The invoked function's event data.
    pub fn data(mut self, data: impl Serialize) -> Self {
        self.data = serde_json::to_value(data).unwrap_or_else(|_| json!({}));
        self
    }

    /// Gives up after this long (the step then fails).
    pub fn timeout(mut self, timeout: impl Into<String>) -> Self {
        self.timeout = Some(timeout.into());
        self
    }
}

/// A sleep duration: a string (`"10m"`) or a [`Duration`].
#[derive(Debug, Clone)]
pub enum StepDuration {
    /// As written (`"1h30m"`); checked before it is sent.
    Text(String),
    /// A Rust duration; sent in `w/d/h/m/s` units.
    Duration(Duration),
}

impl StepDuration {
    pub(super) fn to_wire(&self) -> Result<String, String> {
        match self {
            StepDuration::Text(text) => crate::protocol::parse_duration(text)
                .map(|_| text.clone())
                .map_err(|e| e.to_string()),
            StepDuration::Duration(duration) => Ok(format_duration(*duration)),
        }
    }
}

impl From<&str> for StepDuration {
    fn from(text: &str) -> Self {
        StepDuration::Text(text.to_string())
    }
}

impl From<String> for StepDuration {
    fn from(text: String) -> Self {
        StepDuration::Text(text)
    }
}

impl From<Duration> for StepDuration {
    fn from(duration: Duration) -> Self {
        StepDuration::Duration(duration)
    }
}

/// When [`Step::sleep_until`] wakes the run: a [`SystemTime`], a `chrono::DateTime` or an
/// RFC 3339 text.
#[derive(Debug, Clone)]
pub enum SleepUntil {
    /// A point in time.
    Time(SystemTime),
    /// An RFC 3339 text (`"2026-12-24T18:00:00+01:00"`); checked before it is sent.
    Text(String),
}

impl SleepUntil {
    /// The wire form: RFC 3339 in UTC with milliseconds, as the JS SDK sends it.
    pub(super) fn to_wire(&self) -> Result<String, String> {
        let at = match self {
            SleepUntil::Time(at) => *at,
            SleepUntil::Text(text) => chrono::DateTime::parse_from_rfc3339(text)
                .map(SystemTime::from)
                .map_err(|error| {
                    format!(
                        "`{text}` is not an RFC 3339 time ({error}); write e.g. \"2026-12-24T18:00:00+01:00\""
                    )
                })?,
        };
        Ok(humantime::format_rfc3339_millis(at).to_string())
    }
}

impl From<SystemTime> for SleepUntil {
    fn from(at: SystemTime) -> Self {
        SleepUntil::Time(at)
    }
}

impl<Tz: chrono::TimeZone> From<chrono::DateTime<Tz>> for SleepUntil {
    fn from(at: chrono::DateTime<Tz>) -> Self {
        SleepUntil::Time(at.into())
    }
}

impl From<&str> for SleepUntil {
    fn from(text: &str) -> Self {
        SleepUntil::Text(text.to_string())
    }
}

impl From<String> for SleepUntil {
    fn from(text: String) -> Self {
        SleepUntil::Text(text)
    }
}

#[cfg(test)]
mod sleep_until_tests {
    use super::*;

    #[test]
    fn every_form_of_a_time_is_sent_as_utc_rfc3339_with_milliseconds() {
        let expected = "2026-12-24T17:00:00.000Z";
        let text = SleepUntil::from("2026-12-24T18:00:00+01:00");
        assert_eq!(text.to_wire().unwrap(), expected);
        let paris = chrono::FixedOffset::east_opt(3600).unwrap();
        let chrono_time = chrono::DateTime::parse_from_rfc3339("2026-12-24T18:00:00+01:00")
            .unwrap()
            .with_timezone(&paris);
        assert_eq!(SleepUntil::from(chrono_time).to_wire().unwrap(), expected);
        let system: SystemTime = chrono_time.into();
        assert_eq!(SleepUntil::from(system).to_wire().unwrap(), expected);
    }

    #[test]
    fn a_text_that_is_not_rfc3339_says_what_to_write() {
        let problem = SleepUntil::from("next tuesday").to_wire().unwrap_err();
        assert!(
            problem.contains("`next tuesday` is not an RFC 3339 time"),
            "{problem}"
        );
        assert!(problem.contains("2026-12-24T18:00:00+01:00"), "{problem}");
    }
}
