//! The executor's notion of now: the system clock in production, tokio's clock in tests
//! (so `tokio::time::pause` and `advance` move sleeps, timeouts and cron along).

use std::time::{SystemTime, UNIX_EPOCH};

/// Where the executor reads the time. Every due time it stores is in milliseconds since the
/// Unix epoch, read from here.
///
/// ```
/// use inngest_executor::Clock;
/// let now = Clock::System.now_ms();
/// assert!(now > 1_700_000_000_000);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub enum Clock {
    /// `SystemTime::now()`.
    #[default]
    System,
    /// Wall time when the clock was made, advanced by tokio's clock since then: with
    /// `tokio::time::pause()` time stands still until the runtime auto-advances it or a test
    /// calls `tokio::time::advance`.
    Tokio {
        /// Wall time (ms) at `started`.
        base_ms: i64,
        /// tokio's instant at creation.
        started: tokio::time::Instant,
    },
}

impl Clock {
    /// A clock that follows tokio's (possibly paused) time, starting from the wall time now.
    /// Call it inside the runtime whose clock it should follow.
    pub fn tokio() -> Self {
        Clock::Tokio {
            base_ms: system_ms(),
            started: tokio::time::Instant::now(),
        }
    }

    /// Now, in milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        match self {
            Clock::System => system_ms(),
            Clock::Tokio { base_ms, started } => {
                let elapsed = i64::try_from(started.elapsed().as_millis()).unwrap_or(i64::MAX);
                base_ms.saturating_add(elapsed)
            }
        }
    }
}

fn system_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test(start_paused = true)]
    async fn the_tokio_clock_moves_with_paused_time() {
        let clock = Clock::tokio();
        let before = clock.now_ms();
        tokio::time::advance(Duration::from_secs(3600)).await;
        assert_eq!(clock.now_ms() - before, 3_600_000);
    }
}
