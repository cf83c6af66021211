// `#[contribute]` outside an `#[injectable]` impl: nothing would discover it.
use framework::contribute;

struct Checks;
struct Check;

impl Checks {
    #[contribute(Check)]
    fn check(&self) -> Check {
        Check
    }
}

fn main() {}
