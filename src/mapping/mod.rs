//! Mapping: every column resolves once, before any I/O, to a PostgreSQL type
//! and a converter. `file` reads the TOML rules, `resolve` applies them,
//! `convert` runs per value; the remaining modules are the exact value
//! parsers the converters use.

pub mod boolean;
pub mod convert;
pub mod datetime;
pub mod decl;
pub mod file;
pub mod inet;
pub mod interval;
pub mod json;
pub mod json_sqlite;
pub mod numeric;
pub mod reading;
pub mod resolve;
pub mod timeofday;
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

/// UTF-8 validation for the per-value paths (text converters, decoding the
/// target's text): SIMD-accelerated, several times faster than
/// `std::str::from_utf8` on the short-to-medium strings of typical rows,
/// with the same answer (both accept exactly valid UTF-8).
#[inline]
pub fn utf8(bytes: &[u8]) -> Result<&str, simdutf8::basic::Utf8Error> {
    simdutf8::basic::from_utf8(bytes)
}
