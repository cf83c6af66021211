//! The summary printed at the end of a load run.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use perf::stats::percentile;

use crate::worker::Tally;

/// Everything the connections saw, merged.
pub struct Report {
    url: String,
    connections: usize,
    elapsed: Duration,
    latencies_us: Vec<u32>,
    statuses: BTreeMap<u16, u64>,
    unexpected: u64,
    errors: u64,
    messages: Vec<String>,
    expect: Option<u16>,
    cpu: Option<Duration>,
}

/// The CPU time (user + system) this process used so far.
pub fn cpu_used() -> Option<Duration> {
    use nix::sys::resource::{UsageWho, getrusage};
    let usage = getrusage(UsageWho::RUSAGE_SELF).ok()?;
    let micros = |t: nix::sys::time::TimeVal| {
        u64::try_from(t.tv_sec()).unwrap_or(0) * 1_000_000 + u64::try_from(t.tv_usec()).unwrap_or(0)
    };
    Some(Duration::from_micros(
        micros(usage.user_time()) + micros(usage.system_time()),
    ))
}

impl Report {
    /// Merges the connections' tallies.
    pub fn new(
        url: &str,
        connections: usize,
        elapsed: Duration,
        tallies: Vec<Tally>,
        expect: Option<u16>,
    ) -> Self {
        let mut report = Report {
            url: url.to_string(),
            connections,
            elapsed,
            latencies_us: Vec::new(),
            statuses: BTreeMap::new(),
            unexpected: 0,
            errors: 0,
            messages: Vec::new(),
            expect,
            cpu: cpu_used(),
        };
        for tally in tallies {
            report.latencies_us.extend(tally.latencies_us);
            for (status, count) in tally.statuses {
                *report.statuses.entry(status).or_default() += count;
            }
            report.unexpected += tally.unexpected;
            report.errors += tally.errors;
            report.messages.extend(tally.messages);
        }
        report.latencies_us.sort_unstable();
        report
    }

    /// Whether every request got the expected answer (and at least one was sent).
    pub fn ok(&self) -> bool {
        self.errors == 0 && self.unexpected == 0 && !self.latencies_us.is_empty()
    }

    fn requests_per_second(&self) -> f64 {
        let seconds = self.elapsed.as_secs_f64();
        if seconds > 0.0 {
            self.latencies_us.len() as f64 / seconds
        } else {
            0.0
        }
    }
}

fn millis(micros: Option<u32>) -> String {
    micros.map_or_else(
        || "-".into(),
        |us| format!("{:.3} ms", f64::from(us) / 1000.0),
    )
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sorted = &self.latencies_us;
        writeln!(f, "url          {}", self.url)?;
        writeln!(
            f,
            "connections  {} for {:.2} s, {} responses",
            self.connections,
            self.elapsed.as_secs_f64(),
            sorted.len()
        )?;
        writeln!(f, "requests/s   {:.1}", self.requests_per_second())?;
        let statuses: Vec<String> = self
            .statuses
            .iter()
            .map(|(status, count)| format!("{status}: {count}"))
            .collect();
        writeln!(f, "statuses     {}", statuses.join(", "))?;
        writeln!(
            f,
            "latency      p50 {}, p99 {}, max {}",
            millis(percentile(sorted, 50.0)),
            millis(percentile(sorted, 99.0)),
            millis(sorted.last().copied())
        )?;
        let expected = self
            .expect
            .map_or_else(|| "2xx".to_string(), |status| status.to_string());
        writeln!(f, "unexpected   {} (expected {expected})", self.unexpected)?;
        writeln!(f, "errors       {}", self.errors)?;
        if let Some(cpu) = self.cpu {
            writeln!(f, "loadgen cpu  {:.2} s", cpu.as_secs_f64())?;
        }
        for message in &self.messages {
            writeln!(f, "  {message}")?;
        }
        Ok(())
    }
}
