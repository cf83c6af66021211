// A payload type derived without its event name: one error saying how to name it.
use inngest_module::EventPayload;
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, EventPayload)]
struct OrderCreated {
    id: u64,
}

fn main() {}
