//! berth-runtime library
