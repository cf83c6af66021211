// A modifier needs the main attribute above it.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Mailer;

#[injectable]
impl Mailer {
    fn new() -> Self {
        Mailer
    }

    #[inngest::retries(3)]
    async fn send_welcome(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
