//! The ttrpc services: thin adapters from wire messages to [`Manager`]
//! calls.
//!
//! [`Manager`]: crate::manager::Manager

pub mod auth;
pub mod containers;
pub mod event_history;
pub mod events;
pub mod forward;
pub mod health;
pub mod images;
pub mod layers;
pub mod networks;
pub mod system;
pub mod tasks;
pub mod volumes;
