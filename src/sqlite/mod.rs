//! Source: the SQLite side. Opening read-only, introspection, profiling, and
//! the per-chunk readers.

pub mod affinity;
pub mod introspect;
pub mod open;
pub mod profile;
pub mod snapshot;
pub mod error;

pub use error::Error;
pub mod stats;
pub mod suggest;
pub mod watch;
