// Positional arguments where named ones are expected: one error, with the names.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Mailer;

#[injectable]
impl Mailer {
    fn new() -> Self {
        Mailer
    }

    #[inngest::function(id = "send-welcome", event = "user.signed_up", throttle(100, "1m"))]
    async fn send_welcome(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
