//! The `durability` module: a probe function whose every step appends a line to a file, so
//! a test can kill the process mid-run, restart it on the same executor database, and
//! count each side effect.
//!
//! Off unless asked (`[modules.durability] enabled = false` in config/default.toml):
//!
//! ```sh
//! APP__MODULES__DURABILITY__ENABLED=true APP__DURABILITY__LOG_FILE=/tmp/probe.log cargo run -p shop
//! curl -X POST http://127.0.0.1:3000/_inngest/e/local -d '{"name":"durability.probe","data":{"probeId":"p1"}}'
//! ```
//!
//! `durability-probe`: `first` → sleep `nap` → `slow` (writes `slow-started`, waits
//! `slow_step`, writes `slow-done`) → `last`. Each line is `<probeId> <what> <pid>`, and each
//! step returns the id of the process that ran it, so the output shows which steps ran
//! before a restart and which after.
//!
//! `durability-ledger` (event `durability.ledger`): three quick steps, `reserve`, `charge`
//! and `ship`, each appending `<probeId> <step> <pid>`, then a `step.send_event` of
//! `durability.shipped` (event id `shipped-<probeId>`), whose `durability-receipt` run
//! appends `<probeId> receipt <pid>` — for stress tests that start thousands of runs, kill
//! the process mid-flight and count each step's executions, events sent by runs included.

use std::io::Write;
use std::path::PathBuf;

use framework::{Config, ConfigSection, Environment, Module, SectionProblems, injectable};
use inngest_module::{self as inngest, Ctx, Error, Event};
use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::api::check_duration;

/// `[durability]`: where the probe writes and how long it takes.
#[derive(Debug, Clone, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct DurabilityConfig {
    /// The file each step appends its line to.
    pub log_file: PathBuf,
    /// The probe's sleep between `first` and `slow` (default `"2s"`).
    #[serde(default = "default_nap")]
    pub nap: String,
    /// How long the `slow` step works before it writes `slow-done` (default `"3s"`).
    #[serde(default = "default_slow_step")]
    pub slow_step: String,
}

fn default_nap() -> String {
    "2s".into()
}

fn default_slow_step() -> String {
    "3s".into()
}

impl ConfigSection for DurabilityConfig {
    fn check(&self, _env: Environment, problems: &mut SectionProblems) {
        check_duration(problems, "nap", &self.nap);
        check_duration(problems, "slow_step", &self.slow_step);
    }
}

/// `durability.probe`: start one probe run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeRequested {
    /// Tags every line the run writes.
    pub probe_id: String,
}

/// The probe's result: the process that ran each step.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ProbeReport {
    /// The probe.
    pub probe_id: String,
    /// Process id that ran `first`.
    pub first: u32,
    /// Process id that completed `slow`.
    pub slow: u32,
    /// Process id that ran `last`.
    pub last: u32,
}

/// The probe function.
pub struct Probe {
    config: Config<DurabilityConfig>,
}

#[injectable]
impl Probe {
    fn new(config: Config<DurabilityConfig>) -> Self {
        Self { config }
    }

    /// first → nap → slow → last, each step appending `<probeId> <what> <pid>`.
    #[inngest::function(id = "durability-probe", event = "durability.probe", retries = 3)]
    async fn probe(&self, ctx: Ctx<ProbeRequested>) -> inngest::Result<ProbeReport> {
        let probe_id = ctx.event.data.probe_id.as_str();
        let first = ctx
            .step
            .run("first", || async move { self.append(probe_id, "first") })
            .await?;

        ctx.step.sleep("nap", self.config.nap.as_str()).await?;

        let slow = ctx
            .step
            .run("slow", || async move {
                self.append(probe_id, "slow-started")?;
                let work = inngest_module::protocol::parse_duration(&self.config.slow_step)
                    .map_err(|e| Error::non_retriable(e.to_string()))?;
                tokio::time::sleep(work).await;
                self.append(probe_id, "slow-done")
            })
            .await?;

        let last = ctx
            .step
            .run("last", || async move { self.append(probe_id, "last") })
            .await?;

        Ok(ProbeReport {
            probe_id: probe_id.to_string(),
            first,
            slow,
            last,
        })
    }

    /// Three steps, each appending `<probeId> <step> <pid>` (no fsync: a killed process's
    /// writes are in the page cache already; only a machine crash could lose them).
    #[inngest::function(id = "durability-ledger", event = "durability.ledger", retries = 3)]
    async fn ledger(&self, ctx: Ctx<ProbeRequested>) -> inngest::Result<u32> {
        let probe_id = ctx.event.data.probe_id.as_str();
        let mut pid = 0;
        for step in ["reserve", "charge", "ship"] {
            pid = ctx
                .step
                .run(step, || async move { self.record(probe_id, step) })
                .await?;
        }
        // The id makes a re-sent event (a send cut short by a kill) a duplicate the
        // executor drops, so each run starts one receipt.
        let shipped = Event::new(
            "durability.shipped",
            serde_json::json!({ "probeId": probe_id }),
        )
        .with_id(format!("shipped-{probe_id}"));
        ctx.step.send_event("announce", shipped).await?;
        Ok(pid)
    }

    /// What `durability-ledger` sends: one step appending `<probeId> receipt <pid>`.
    #[inngest::function(id = "durability-receipt", event = "durability.shipped", retries = 3)]
    async fn receipt(&self, ctx: Ctx<ProbeRequested>) -> inngest::Result<u32> {
        let probe_id = ctx.event.data.probe_id.as_str();
        ctx.step
            .run(
                "receipt",
                || async move { self.record(probe_id, "receipt") },
            )
            .await
    }
}

impl Probe {
    /// Appends `<probe_id> <what> <pid>` in one write; returns the pid.
    fn record(&self, probe_id: &str, what: &str) -> inngest::Result<u32> {
        let pid = std::process::id();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.log_file)?;
        file.write_all(format!("{probe_id} {what} {pid}\n").as_bytes())?;
        Ok(pid)
    }

    /// Appends `<probe_id> <what> <pid>` to the log file; returns the pid.
    fn append(&self, probe_id: &str, what: &str) -> inngest::Result<u32> {
        let pid = std::process::id();
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.config.log_file)?;
        file.write_all(format!("{probe_id} {what} {pid}\n").as_bytes())?;
        file.sync_data()?;
        tracing::info!(probe = probe_id, what, pid, "durability probe");
        Ok(pid)
    }
}

/// The module (imported with `import_optional`: off unless enabled).
pub fn module() -> Module {
    Module::new("durability")
        .config::<DurabilityConfig>("durability")
        .provide::<Probe>()
}
