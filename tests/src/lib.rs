//! Workspace-level end-to-end tests live in `tests/tests/`; [`peer`] is the Rust twin of the
//! JS reference peer they compare against.
//!
//! The Rust snippets of the README and of the user guide are compiled as doctests of this
//! crate, so the documentation cannot drift from the API.

#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;

#[doc = include_str!("../../docs/framework.md")]
#[cfg(doctest)]
pub struct GuideDoctests;

pub mod peer;
