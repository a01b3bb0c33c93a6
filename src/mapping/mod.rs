//! Mapping: every column resolves once, before any I/O, to a PostgreSQL type
//! and a converter. `file` reads the TOML rules, `resolve` applies them,
//! `convert` runs per value; the remaining modules are the exact value
//! parsers the converters use.

pub mod boolean;
pub mod convert;
pub mod datetime;
pub mod file;
pub mod json;
pub mod numeric;
pub mod resolve;
pub mod types;
pub mod uuid;

/// The built-in mapping file, embedded so the binary needs no files.
pub const DEFAULT_MAPPING: &str = include_str!("../../mappings/default.toml");

/// Mapping files bundled in the binary, usable by name (`--mapping
/// sqlalchemy`) when no file of that name exists.
pub const BUNDLED: &[(&str, &str)] = &[
    ("sqlalchemy", include_str!("../../mappings/sqlalchemy.toml")),
    ("epoch-milliseconds", include_str!("../../mappings/examples/epoch-milliseconds.toml")),
    ("browser-history", include_str!("../../mappings/examples/browser-history.toml")),
];
