// `#[on_event]` with no event and an untyped `Ctx`: nothing to infer the trigger from.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Orders;

#[injectable]
impl Orders {
    fn new() -> Self {
        Orders
    }

    #[inngest::on_event]
    async fn process(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
