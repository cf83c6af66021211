//! What the crate's property tests share.

use proptest::test_runner::{Config, RngAlgorithm};

/// `cases` cases, no failure persistence (nothing written under the repo), and the XorShift
/// generator (ChaCha, the default, is slow in an unoptimized test build).
pub(crate) fn proptest_config(cases: u32) -> Config {
    Config {
        cases,
        failure_persistence: None,
        rng_algorithm: RngAlgorithm::XorShift,
        ..Config::default()
    }
}
