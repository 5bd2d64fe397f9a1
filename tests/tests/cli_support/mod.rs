//! The CLI tests' helpers live in the fixture crate (`berth_fixture::cli`);
//! this module keeps `mod cli_support;` and `cli_support::…` working in every
//! test file.

#[allow(unused_imports)]
pub use berth_fixture::cli::*;
