//! What every boundary error carries: where in the data it happened, and how
//! an outcome maps to an exit code. Each boundary (`source`, `mapping`,
//! `target`, `verify`) has its own error enum naming the object; they all use
//! [`Location`] so a message always says table, column and row.

use std::fmt;
use std::process::ExitCode;

/// A row as a person can find it again: its rowid, or its primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowRef {
    Rowid(i64),
    /// Primary key rendered as `col=value, col=value`.
    Key(String),
}

impl fmt::Display for RowRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RowRef::Rowid(r) => write!(f, "rowid {r}"),
            RowRef::Key(k) => write!(f, "primary key ({k})"),
        }
    }
}

/// Table, and when known column and row, of a failure.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Location {
    pub table: String,
    pub column: Option<String>,
    pub row: Option<RowRef>,
}

impl Location {
    pub fn table(table: impl Into<String>) -> Self {
        Location { table: table.into(), column: None, row: None }
    }
}

impl fmt::Display for Location {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {:?}", self.table)?;
        if let Some(c) = &self.column {
            write!(f, ", column {c:?}")?;
        }
        if let Some(r) = &self.row {
            write!(f, ", {r}")?;
        }
        Ok(())
    }
}

/// The result of a whole command, which decides the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// Everything done and verified.
    Success,
    /// Verification found differences, rows were rejected, or a dry run
    /// found problems.
    Differences,
    /// Interrupted by a signal; the journal says how to resume.
    Interrupted,
}

pub const EXIT_SUCCESS: u8 = 0;
pub const EXIT_DIFFERENCES: u8 = 1;
pub const EXIT_ERROR: u8 = 2;
pub const EXIT_INTERRUPTED: u8 = 130;

impl Outcome {
    pub fn exit_code(self) -> ExitCode {
        ExitCode::from(match self {
            Outcome::Success => EXIT_SUCCESS,
            Outcome::Differences => EXIT_DIFFERENCES,
            Outcome::Interrupted => EXIT_INTERRUPTED,
        })
    }
}
