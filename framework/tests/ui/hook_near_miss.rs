// A lifecycle hook one typo away from its name would silently never run: an error.
use framework::injectable;

struct Cache;

#[injectable]
impl Cache {
    fn new() -> Self {
        Cache
    }

    async fn on_modul_init(&self) {}
}

fn main() {}
