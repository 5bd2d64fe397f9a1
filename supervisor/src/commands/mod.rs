//! One module per group of commands; each returns the exit code.

pub mod build;
pub mod container;
pub mod context;
pub mod df;
pub mod exec;
pub mod images;
pub mod inspect;
pub mod layers;
pub mod listing;
pub mod network;
pub mod search;
pub mod service;
pub mod system;
pub mod update;
pub mod view;
pub mod volume;
