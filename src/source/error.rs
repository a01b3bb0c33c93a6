//! `source::Error`: everything that can go wrong on the SQLite side, each
//! variant naming the object (the file, or the table via [`Location`]).
//!
//! Display is a lowercase phrase without the cause; the cause (an
//! `io::Error` or `rusqlite::Error`) is only in `#[source]`, so `main`'s
//! `{:#}` chain prints it exactly once. Files that are not SQLite databases
//! are caught before SQLite sees them where we can tell (zero bytes, a text
//! file, no SQLite header), because SQLite's own words ("file is not a
//! database", or worse, silently opening a zero-byte file as an empty
//! database) do not tell a user what to fix.

use std::path::PathBuf;

use crate::error::Location;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{path:?} does not exist")]
    NotFound { path: PathBuf },

    #[error("{path:?} is a directory, not a SQLite database")]
    IsDirectory { path: PathBuf },

    #[error("{path:?} is not a regular file, so not a SQLite database")]
    NotAFile { path: PathBuf },

    #[error("permission denied reading {path:?}")]
    PermissionDenied {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("cannot read {path:?}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite would open a zero-byte file as a new, empty database; for a
    /// migration source that is always a mistake (a wrong path, a failed copy).
    #[error("{path:?} is empty (0 bytes), not a SQLite database")]
    Empty { path: PathBuf },

    /// Recognised before SQLite opens the file: `reason` says what it is.
    #[error("{path:?} is not a SQLite database ({reason})")]
    NotADatabase { path: PathBuf, reason: &'static str },

    /// The header says SQLite, but SQLite refuses the file.
    #[error("{path:?} is encrypted or in an unsupported SQLite format")]
    Unsupported {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("{path:?} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    #[error("cannot open {path:?} read-only")]
    Open {
        path: PathBuf,
        #[source]
        source: rusqlite::Error,
    },

    /// Corruption found while reading one table (the file opened fine).
    #[error("cannot read {location}: the database file is corrupt")]
    CorruptTable {
        location: Location,
        #[source]
        source: rusqlite::Error,
    },

    /// A query about one object failed; `what` names what we were reading
    /// ("columns", "foreign keys", "row count", ...).
    #[error("cannot read the {what} of {location}")]
    Query {
        what: &'static str,
        location: Location,
        #[source]
        source: rusqlite::Error,
    },
}

impl Error {
    /// Wrap a failed query about `table`, telling corruption apart.
    pub fn query(what: &'static str, table: &str, source: rusqlite::Error) -> Self {
        let location = Location::table(table);
        if is_corrupt(&source) {
            Error::CorruptTable { location, source }
        } else {
            Error::Query { what, location, source }
        }
    }
}

/// `SQLITE_CORRUPT` (any extended code).
pub(crate) fn is_corrupt(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseCorrupt)
}

/// `SQLITE_NOTADB`: SQLite's "file is not a database".
pub(crate) fn is_not_a_database(e: &rusqlite::Error) -> bool {
    e.sqlite_error_code() == Some(rusqlite::ErrorCode::NotADatabase)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_object_without_the_cause() {
        let e = Error::Empty { path: "x/y.db".into() };
        assert_eq!(e.to_string(), r#""x/y.db" is empty (0 bytes), not a SQLite database"#);
        let e = Error::query(
            "row count",
            "my table",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CORRUPT),
                Some("database disk image is malformed".into()),
            ),
        );
        assert_eq!(
            e.to_string(),
            r#"cannot read table "my table": the database file is corrupt"#
        );
        let e = Error::query(
            "columns",
            "t",
            rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_ERROR),
                Some("boom".into()),
            ),
        );
        assert_eq!(e.to_string(), r#"cannot read the columns of table "t""#);
    }
}
