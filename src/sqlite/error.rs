//! `sqlite::Error`: everything that can go wrong on the SQLite side, each
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

    /// The OS error is kept for `Debug` only: its text ("Permission denied
    /// (os error 13)") would repeat the message.
    #[error("permission denied reading {path:?}")]
    PermissionDenied { path: PathBuf, io: std::io::Error },

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

    /// The SQLite header is there but the file is shorter than it says.
    #[error("{path:?} is truncated: {detail}")]
    Truncated { path: PathBuf, detail: String },

    /// A WAL-mode database whose write-ahead log cannot be read: the
    /// latest committed data may be in it, so reading without it is wrong.
    #[error("{path:?} is in WAL mode and its write-ahead log {wal:?} cannot be read")]
    WalUnreadable {
        path: PathBuf,
        wal: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite must create `-shm` beside a WAL-mode database, even to read it.
    #[error(
        "{path:?} is in WAL mode and SQLite must create its shared-memory file beside it, but {dir:?} is not writable; copy the database with its -wal file to a writable directory"
    )]
    WalNeedsShm { path: PathBuf, dir: PathBuf },

    /// The header says SQLite, but SQLite refuses the file.
    #[error("{path:?} is encrypted or in an unsupported SQLite format")]
    Unsupported {
        path: PathBuf,
        #[source]
        source: Sqlite,
    },

    #[error("{path:?} is corrupt")]
    Corrupt {
        path: PathBuf,
        #[source]
        source: Sqlite,
    },

    #[error("cannot open {path:?} read-only")]
    Open {
        path: PathBuf,
        #[source]
        source: Sqlite,
    },

    /// Corruption found while reading one table (the file opened fine).
    #[error("cannot read {location}: the database file is corrupt")]
    CorruptTable {
        location: Location,
        #[source]
        source: Sqlite,
    },

    /// A query about one object failed; `what` names what we were reading
    /// ("columns", "foreign keys", "row count", ...).
    #[error("cannot read the {what} of {location}")]
    Query {
        what: &'static str,
        location: Location,
        #[source]
        source: Sqlite,
    },

    /// Reading rows of one table failed (or opening the connection that
    /// reads them, then the location is `*`); `message` is the cause.
    #[error("reading {location}: {message}")]
    Read { location: Location, message: String },
}

impl Error {
    /// Wrap a failed query about `table`, telling corruption apart.
    pub fn query(what: &'static str, table: &str, source: rusqlite::Error) -> Self {
        let location = Location::table(table);
        if is_corrupt(&source) {
            Error::CorruptTable {
                location,
                source: Sqlite(Box::new(source)),
            }
        } else {
            Error::Query {
                what,
                location,
                source: Sqlite(Box::new(source)),
            }
        }
    }

    /// The SQLite error underneath, if any (e.g. to read its error code).
    pub fn sqlite(&self) -> Option<&rusqlite::Error> {
        match self {
            Error::Unsupported { source, .. }
            | Error::Corrupt { source, .. }
            | Error::Open { source, .. }
            | Error::CorruptTable { source, .. }
            | Error::Query { source, .. } => Some(&*source.0),
            _ => None,
        }
    }
}

/// A SQLite failure as the end of an error chain: displays SQLite's own
/// message once. (`rusqlite::Error` reports its `ffi::Error` as its source,
/// whose Display repeats the message as "Error code 11: database disk image
/// is malformed", so a `{:#}` chain would say everything twice.)
#[derive(Debug)]
pub struct Sqlite(pub Box<rusqlite::Error>);

impl std::fmt::Display for Sqlite {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &*self.0 {
            rusqlite::Error::SqliteFailure(_, Some(msg)) => f.write_str(msg),
            // SQLite's words for the code, without the "Error code N: " prefix.
            rusqlite::Error::SqliteFailure(e, None) => {
                f.write_str(rusqlite::ffi::code_to_str(e.extended_code))
            }
            other => other.fmt(f),
        }
    }
}

impl std::error::Error for Sqlite {}

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
        let e = Error::Empty {
            path: "x/y.db".into(),
        };
        assert_eq!(
            e.to_string(),
            r#""x/y.db" is empty (0 bytes), not a SQLite database"#
        );
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
        let chain = format!("{:#}", anyhow::Error::new(e));
        assert_eq!(chain, r#"cannot read the columns of table "t": boom"#);
    }
}
