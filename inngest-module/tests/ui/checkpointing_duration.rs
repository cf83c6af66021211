// A checkpointing duration that is not one: one error, with the form to write.
use framework::injectable;
use inngest_module::{self as inngest, Ctx};

struct Importer;

#[injectable]
impl Importer {
    fn new() -> Self {
        Importer
    }

    #[inngest::function(id = "import", event = "import.requested", checkpointing(max_runtime = "ten seconds"))]
    async fn import(&self, _ctx: Ctx) -> inngest::Result<()> {
        Ok(())
    }
}

fn main() {}
