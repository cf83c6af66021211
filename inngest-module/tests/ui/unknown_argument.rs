// A misspelt argument: one error naming the arguments there are.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Mailer;

#[injectable]
impl Mailer {
    fn new() -> Self {
        Mailer
    }

    #[inngest::function(id = "send-welcome", evnt = "user.signed_up")]
    async fn send_welcome(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
