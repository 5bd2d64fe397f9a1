//! The compose file model of `berth compose`: finds and merges the files,
//! reads `.env`, interpolates variables, applies profiles, and parses the
//! result into one normalised [`Project`]. The orchestration works on that
//! model only; `render_config` prints it back as `compose config` does.

pub mod dotenv;
pub mod error;
pub mod graph;
pub mod hash;
pub mod interpolate;
pub mod lines;
mod load;
pub mod merge;
pub mod model;
pub mod name;
mod normalize;
pub mod ports;
pub mod profiles;
mod raw;
pub mod render;

pub use error::{ComposeError, Location};
pub use graph::{dependencies, start_order, stop_order};
pub use hash::config_hash;
pub use load::{discover, load, load_from_str, LoadOptions, DEFAULT_FILES, OVERRIDE_FILES};
pub use model::*;
pub use render::{network_names, render_config, service_names, volume_names, ConfigFormat};
