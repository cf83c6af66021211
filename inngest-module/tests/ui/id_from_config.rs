// The function id read from the provider: refused, ids are written in the attribute.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Orders {
    id: String,
}

#[injectable]
impl Orders {
    fn new() -> Self {
        Orders { id: "x".into() }
    }

    #[inngest::function(id = self.id, event = "order.created")]
    async fn process(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
