//! The canonical content hash both the load and the verification compute:
//! the load hashes each row as it converts it (`pipeline`), the
//! verification hashes the rows it reads back from PostgreSQL and, when it
//! re-reads the source, the converted SQLite rows (`verify`). Keeping it in
//! its own module, depending only on `mapping`'s values, is what lets the
//! two sides agree without either depending on the other.
//!
//! `digest` is the specification (also in `docs/hash.md`); `lanes` computes
//! sixteen row hashes at once and gives the same bytes as `blake3::hash`.

pub mod digest;
pub mod lanes;
