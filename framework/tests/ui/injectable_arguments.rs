// Mistakes in #[injectable(...)]'s arguments: each named, with a suggestion; nothing else
// is reported (the impl still becomes injectable).
use framework::injectable;

pub struct Cache;

#[injectable(scop = "transient")]
impl Cache {
    fn new() -> Self {
        Cache
    }
}

pub struct Clock;

#[injectable(scope = "eternal")]
impl Clock {
    fn new() -> Self {
        Clock
    }
}

fn main() {
    let _ = <Cache as framework::Injectable>::provider();
    let _ = <Clock as framework::Injectable>::provider();
}
