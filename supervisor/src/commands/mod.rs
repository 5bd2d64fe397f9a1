//! One module per group of commands; each returns the exit code.

pub mod container;
pub mod df;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod system;
pub mod view;
pub mod volume;
