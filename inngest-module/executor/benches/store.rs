//! Placeholder until the store bench lands.
fn main() {}
