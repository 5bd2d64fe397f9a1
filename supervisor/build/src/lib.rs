//! berth build: a Dockerfile and a context become an image, step by step,
//! through the manager.  Library code shared by the `berth build` command
//! and the Docker API's `POST /build`.
//!
//! - [`parser`]: the Dockerfile's text to instructions; [`lex`]: variable
//!   substitution in words
//! - [`ignore`]: `.dockerignore` patterns; [`context`]: sources, layer tars
//!   and their digests
//! - [`driver`]: stages, the cache, and each step through a [`backend::Backend`]

pub mod backend;
pub mod context;
pub mod driver;
pub mod ignore;
pub mod lex;
pub mod parser;

pub use backend::{
    Backend, BackendError, Captured, Image, MountedImage, NewImage, Output, RunStep,
};
pub use driver::{build, BuildError, Built, Options};
