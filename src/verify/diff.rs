//! The differences localization names: a row missing, extra or different,
//! by key, with the differing columns' values as a person reads them and as
//! JSON. Kept apart from the search (`localize`) so that the search and
//! `sync` share the rendering without sharing the bucket descent.

use std::fmt;

use serde::Serialize;

use super::rows::Row;
use super::Error;
use crate::mapping::convert::Value;
use crate::mapping::{datetime, uuid};
use crate::plan::TablePlan;

/// What kind of difference a row shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum DiffKind {
    /// In the source, not in the target.
    MissingInTarget,
    /// In the target, not in the source (or there more often: duplicates).
    ExtraInTarget,
    /// The same key on both sides with other content.
    Different,
}

impl fmt::Display for DiffKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            DiffKind::MissingInTarget => "missing in target",
            DiffKind::ExtraInTarget => "extra in target",
            DiffKind::Different => "different",
        })
    }
}

/// One differing row (or several rows with one key), named by its key.
#[derive(Debug, Clone, Serialize)]
pub struct Difference {
    /// Source table name.
    pub table: String,
    pub kind: DiffKind,
    /// The key as `column=value, …` (source column names).
    pub key: String,
    /// The key's columns (source names) and values, for machines.
    pub key_columns: Vec<String>,
    pub key_values: Vec<serde_json::Value>,
    /// For `different`: the columns (source names) whose values differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub columns: Vec<String>,
    /// For `different`: each of those columns with the value the source
    /// means and the value the target holds (bounded renderings).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub changes: Vec<Change>,
    /// Rows with this key and this kind of difference (more than one for
    /// duplicates).
    pub rows: u64,
}

/// One differing column of a row: what the source means, what the target has.
#[derive(Debug, Clone, Serialize)]
pub struct Change {
    pub column: String,
    pub source: serde_json::Value,
    pub target: serde_json::Value,
    /// The two values as a person reads them (`source → target`).
    #[serde(skip)]
    pub shown: (String, String),
}

impl fmt::Display for Difference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "table {:?}: {} ({})", self.table, self.key, self.kind)?;
        if self.rows > 1 {
            write!(f, ", {} rows", self.rows)?;
        }
        if !self.changes.is_empty() {
            let shown: Vec<String> =
                self.changes.iter().map(|c| format!("{}: {} → {}", c.column, c.shown.0, c.shown.1)).collect();
            write!(f, ", {}", shown.join("; "))?;
        } else if !self.columns.is_empty() {
            write!(f, ", columns {}", self.columns.join(", "))?;
        }
        Ok(())
    }
}

/// `col=value, …` and the values as JSON.
pub fn show_key(tp: &TablePlan, cols: &[usize], row: &mut impl Row) -> Result<(String, Vec<serde_json::Value>), Error> {
    let mut text = String::new();
    let mut values = Vec::new();
    for &c in cols {
        let (t, j) = row.with(c, |_, v| show_value(v))?.unwrap_or_else(|| ("?".into(), serde_json::Value::Null));
        if !text.is_empty() {
            text.push_str(", ");
        }
        text.push_str(&tp.map.columns[c].source);
        text.push('=');
        text.push_str(&t);
        values.push(j);
    }
    Ok((text, values))
}

/// A value as a person reads it (bounded) and as JSON.
pub fn show_value(v: &Value<'_>) -> (String, serde_json::Value) {
    const MAX: usize = 100;
    let clip = |s: &str| -> String {
        if s.chars().count() > MAX { format!("{}…", s.chars().take(MAX).collect::<String>()) } else { s.to_string() }
    };
    use serde_json::Value as J;
    match v {
        Value::Null => ("NULL".into(), J::Null),
        Value::Bool(b) => (b.to_string(), J::Bool(*b)),
        Value::Int(i) => (i.to_string(), J::from(*i)),
        Value::Float(f) => {
            let s = format!("{f:?}");
            (s.clone(), serde_json::Number::from_f64(*f).map_or(J::String(s), J::Number))
        }
        Value::Numeric(s) => (s.to_string(), J::String(s.to_string())),
        Value::Text(s) => (format!("'{}'", clip(&s.replace('\'', "''"))), J::String(clip(s))),
        Value::TextArray(a) => (format!("text[] ({} bytes)", a.len()), J::String(format!("text[] ({} bytes)", a.len()))),
        Value::Bytes(b) => {
            let mut hex = String::from("\\x");
            for byte in b.iter().take(MAX / 2) {
                hex.push_str(&format!("{byte:02x}"));
            }
            if b.len() > MAX / 2 {
                hex.push('…');
            }
            (hex.clone(), J::String(hex))
        }
        Value::Timestamp(us) => {
            let mut s = String::new();
            datetime::format_micros(*us, &mut s);
            (format!("'{s}'"), J::String(s))
        }
        Value::Date(d) => {
            let (y, m, dd) = datetime::civil_from_days(i64::from(*d));
            let s = format!("{y:04}-{m:02}-{dd:02}");
            (format!("'{s}'"), J::String(s))
        }
        Value::Time(us) => {
            let secs = us / 1_000_000;
            let mut s = format!("{:02}:{:02}:{:02}", secs / 3600, secs / 60 % 60, secs % 60);
            if us % 1_000_000 != 0 {
                s.push_str(&format!(".{:06}", us % 1_000_000));
            }
            (format!("'{s}'"), J::String(s))
        }
        Value::Json(s) => (format!("'{}'", clip(s)), J::String(clip(s))),
        Value::Interval(i) => {
            let s = crate::mapping::interval::display(i);
            (format!("'{s}'"), J::String(s))
        }
        Value::Net(b) => {
            let s = crate::mapping::inet::display(b);
            (format!("'{s}'"), J::String(s))
        }
        Value::Uuid(u) => {
            let mut s = String::new();
            uuid::format(u, &mut s);
            (format!("'{s}'"), J::String(s))
        }
    }
}
