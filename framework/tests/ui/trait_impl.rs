// `#[injectable]` goes on the type's own impl block.
use framework::injectable;

struct Cache;

#[injectable]
impl Default for Cache {
    fn default() -> Self {
        Cache
    }
}

fn main() {}
