// The trigger inferred from `Ctx<OrderCreated>`, whose type is not tied to an event name.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};
use serde::Deserialize;

#[derive(Deserialize)]
struct OrderCreated {
    id: u64,
}

struct Orders;

#[injectable]
impl Orders {
    fn new() -> Self {
        Orders
    }

    #[inngest::on_event]
    async fn process(&self, ctx: Ctx<OrderCreated>) -> inngest::Result<u64> {
        Ok(ctx.event.data.id)
    }
}

fn main() {}
