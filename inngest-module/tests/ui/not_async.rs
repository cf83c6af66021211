// An Inngest function is an async method: one error saying so.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Mailer;

#[injectable]
impl Mailer {
    fn new() -> Self {
        Mailer
    }

    #[inngest::on_event("user.signed_up", id = "send-welcome")]
    fn send_welcome(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
