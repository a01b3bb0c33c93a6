//! The SQLite side, and the only code that talks to SQLite: opening
//! read-only, the run's snapshot, introspection, profiling, the per-thread
//! connections and rowid chunks every reader uses (`pool`), with
//! [`Error`] naming the file or table.

pub mod affinity;
mod create_table;
pub mod introspect;
pub mod open;
pub mod pool;
pub mod profile;
pub mod snapshot;
pub mod spill;
pub mod error;

pub use error::Error;
pub mod stats;
pub mod watch;
