// `#[inngest::function]` on a method of an impl without `#[injectable]`: nothing would
// ever discover it, so it is an error.
use inngest_module::{self as inngest, Ctx};

struct Mailer;

impl Mailer {
    #[inngest::function(id = "send-welcome", event = "user.signed_up")]
    async fn send_welcome(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
