//! Checkpointing per function from the attribute: `checkpointing = false`, the fields of
//! `checkpointing(...)`, a value read from the provider, and none (the app's setting).

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::time::Duration;

use framework::injectable;
use inngest_module::{self as inngest, Checkpointing, Ctx};

struct Jobs {
    tuned: Checkpointing,
}

#[injectable]
impl Jobs {
    fn new() -> Self {
        Jobs {
            tuned: Checkpointing::default().buffered_steps(3),
        }
    }

    #[inngest::function(id = "classic", event = "jobs.classic", checkpointing = false)]
    async fn classic(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }

    #[inngest::function(
        id = "batched",
        event = "jobs.batched",
        checkpointing(buffered_steps = 5, max_runtime = "30s", max_interval = "500ms")
    )]
    async fn batched(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }

    #[inngest::function(id = "tuned", event = "jobs.tuned", checkpointing = self.tuned)]
    async fn tuned(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }

    #[inngest::function(id = "plain", event = "jobs.plain")]
    #[inngest::checkpointing(max_runtime = "2m")]
    async fn plain(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }

    #[inngest::function(id = "default", event = "jobs.default")]
    async fn default(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

#[test]
fn the_attribute_sets_checkpointing_per_function() {
    let jobs = Arc::new(Jobs::new());
    let of = |function: inngest::Function| function.options().checkpointing;
    assert_eq!(
        of(jobs.__inngest_function_classic()),
        Some(Checkpointing::off())
    );
    assert_eq!(
        of(jobs.__inngest_function_batched()),
        Some(Checkpointing {
            enabled: true,
            buffered_steps: 5,
            max_runtime: Duration::from_secs(30),
            max_interval: Duration::from_millis(500),
        })
    );
    assert_eq!(
        of(jobs.__inngest_function_tuned()),
        Some(Checkpointing::default().buffered_steps(3))
    );
    assert_eq!(
        of(jobs.__inngest_function_plain()),
        Some(Checkpointing::default().max_runtime(Duration::from_secs(120)))
    );
    assert_eq!(of(jobs.__inngest_function_default()), None);
}
