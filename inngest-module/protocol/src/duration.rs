//! Duration strings as the protocol writes them (`"10m"`, `"1h30m"`, `"7d"`).

use std::time::Duration;

/// A duration string that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{text}` is not a duration ({reason}); write e.g. \"30s\", \"10m\", \"1h30m\" or \"7d\"")]
pub struct DurationError {
    /// The text as given.
    pub text: String,
    /// What the parser found wrong.
    pub reason: String,
}

/// Formats a duration the way the Go, JS and Rust SDKs do: `w/d/h/m/s` units, sub-second
/// parts dropped (rounded up to `1s` when the whole duration is shorter).
///
/// ```
/// use std::time::Duration;
/// use inngest_protocol::format_duration;
/// assert_eq!(format_duration(Duration::from_secs(5400)), "1h30m");
/// assert_eq!(format_duration(Duration::from_millis(2000)), "2s");
/// assert_eq!(format_duration(Duration::from_secs(8 * 86400)), "1w1d");
/// ```
pub fn format_duration(duration: Duration) -> String {
    let mut secs = duration.as_secs();
    if secs == 0 {
        return if duration.is_zero() { "0s" } else { "1s" }.to_string();
    }
    let mut out = String::new();
    for (unit, size) in [
        ("w", 604_800),
        ("d", 86_400),
        ("h", 3_600),
        ("m", 60),
        ("s", 1),
    ] {
        if secs >= size {
            out.push_str(&(secs / size).to_string());
            out.push_str(unit);
            secs %= size;
        }
    }
    out
}

/// Parses a duration string (`"10m"`, `"1h30m"`, `"7d"`, `"2w"`, `"500ms"`).
///
/// ```
/// use std::time::Duration;
/// assert_eq!(inngest_protocol::parse_duration("1h30m"), Ok(Duration::from_secs(5400)));
/// assert!(inngest_protocol::parse_duration("soon").is_err());
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    humantime::parse_duration(text.trim()).map_err(|error| DurationError {
        text: text.to_string(),
        reason: error.to_string(),
    })
}

/// [`parse_duration`] in milliseconds, saturating at `i64::MAX`.
pub fn parse_duration_ms(text: &str) -> Result<i64, DurationError> {
    parse_duration(text).map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_format_and_parse() {
        assert_eq!(format_duration(Duration::from_secs(1)), "1s");
        assert_eq!(format_duration(Duration::from_millis(10)), "1s");
        assert_eq!(format_duration(Duration::ZERO), "0s");
        assert_eq!(format_duration(Duration::from_secs(3600)), "1h");
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(7 * 86400)));
        assert_eq!(parse_duration_ms("1s"), Ok(1000));
        let error = parse_duration("soon").unwrap_err();
        assert!(
            error.to_string().contains("`soon` is not a duration"),
            "{error}"
        );
    }
}
