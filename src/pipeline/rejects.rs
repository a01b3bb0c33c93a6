//! Bad values under the `reject` and `null` policies: the reject file and
//! the counts the report shows.
//!
//! One [`BadValues`] is shared by every reader of a run. A rejected row is
//! written at once, as one JSON line:
//!
//! ```json
//! {"table":"t","key":{"rowid":3},"column":"n","value":"lots-of-it","class":"text",
//!  "reason":"text that is not an integer (column type bigint)","row":{"id":3,"n":"lots-of-it"}}
//! ```
//!
//! `value` and the values in `row` are JSON numbers, strings or `null` as
//! SQLite stored them; a blob, or text that is not valid UTF-8, is
//! `{"base64":"…"}`; a non-finite real is the string `"NaN"`, `"Infinity"`
//! or `"-Infinity"`. `key` is `{"rowid":N}`, or the primary key's columns
//! for a `WITHOUT ROWID` table. Beyond `max_rejects` rejected rows the
//! reader stops with an error, so a mapping that rejects everything does
//! not quietly load nothing. Counts are kept per table, merged once per
//! chunk.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rusqlite::types::ValueRef;
use serde::Serialize;

/// What the policies did to one table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize)]
pub struct Counts {
    /// Rows left out and written to the reject file.
    pub rejected: u64,
    /// Bad values loaded as NULL (`on_bad_value = "null"`).
    pub nulled: u64,
    /// Values changed by `nul = "strip-nul"` or `invalid_utf8 = "replace-invalid"`.
    pub altered: u64,
    /// Values rounded to `real` (float4), as PostgreSQL's assignment cast
    /// rounds them, and the largest relative change among them.
    pub rounded: u64,
    pub max_rounding: f64,
    /// The source value of that largest change.
    pub max_rounding_value: f64,
}

impl Counts {
    pub fn add(&mut self, o: &Counts) {
        self.rejected += o.rejected;
        self.nulled += o.nulled;
        self.altered += o.altered;
        self.add_rounded(o.rounded, o.max_rounding, o.max_rounding_value);
    }

    pub fn add_rounded(&mut self, n: u64, max_relative_change: f64, value: f64) {
        self.rounded += n;
        if max_relative_change > self.max_rounding {
            self.max_rounding = max_relative_change;
            self.max_rounding_value = value;
        }
    }

    pub fn is_zero(&self) -> bool {
        *self == Counts::default()
    }
}

/// What `migrate` and `plan` say about values rounded to float4.
pub fn rounding_warning(table: &str, c: &Counts) -> String {
    format!(
        "table {table:?}: {} value(s) rounded to real (float4), as PostgreSQL's own cast stores them; largest relative change {:.3e} ({:?} stored as {:?}; a double precision column would keep them exact)",
        c.rounded,
        c.max_rounding,
        c.max_rounding_value,
        // As the double it reads back as: float4's own shortest text
        // (`1e-45`) would hide the change.
        f64::from(c.max_rounding_value as f32)
    )
}

/// Shared by the readers of one run.
#[derive(Debug)]
pub struct BadValues {
    path: Option<PathBuf>,
    file: Mutex<Option<BufWriter<File>>>,
    max_rejects: u64,
    rejected: AtomicU64,
    tables: Mutex<BTreeMap<String, Counts>>,
    /// The records, kept in memory (`ferry replay` lists rows still bad).
    kept: Option<Mutex<Vec<serde_json::Value>>>,
}

impl Default for BadValues {
    /// Counts only, no file (the verify pass: rows are left out as in the
    /// load, nothing is written).
    fn default() -> Self {
        BadValues::counting(u64::MAX)
    }
}

/// The default of `--max-rejects`.
pub const DEFAULT_MAX_REJECTS: u64 = 1000;

impl BadValues {
    /// Counts only; rejected rows are left out but not written anywhere.
    pub fn counting(max_rejects: u64) -> BadValues {
        BadValues {
            path: None,
            file: Mutex::new(None),
            max_rejects,
            rejected: AtomicU64::new(0),
            tables: Mutex::new(BTreeMap::new()),
            kept: None,
        }
    }

    /// No file: each rejected row's record is kept in memory, for
    /// [`BadValues::kept`] (`ferry replay`, which writes nothing while
    /// any row is still bad).
    pub fn keeping() -> BadValues {
        BadValues {
            path: None,
            file: Mutex::new(None),
            max_rejects: u64::MAX,
            rejected: AtomicU64::new(0),
            tables: Mutex::new(BTreeMap::new()),
            kept: Some(Mutex::new(Vec::new())),
        }
    }

    /// The records kept so far (`keeping` only; empty otherwise).
    pub fn kept(&self) -> Vec<serde_json::Value> {
        self.kept.as_ref().map(|k| k.lock().expect("kept lock").clone()).unwrap_or_default()
    }

    /// Rejected rows go to `path`, which is created (with its directory) and
    /// emptied now, so that after the run it holds this run's rejects only.
    pub fn to_file(path: &Path, max_rejects: u64) -> std::io::Result<BadValues> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let f = File::create(path)?;
        Ok(BadValues {
            path: Some(path.to_path_buf()),
            file: Mutex::new(Some(BufWriter::new(f))),
            max_rejects,
            rejected: AtomicU64::new(0),
            tables: Mutex::new(BTreeMap::new()),
            kept: None,
        })
    }

    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    pub fn max_rejects(&self) -> u64 {
        self.max_rejects
    }

    /// Record one rejected row. Err(message) once more than `max_rejects`
    /// rows were rejected in this run, or when the file cannot be written.
    pub fn reject(&self, record: &Reject<'_>) -> Result<(), String> {
        let n = self.rejected.fetch_add(1, Ordering::SeqCst) + 1;
        if n > self.max_rejects {
            return Err(format!(
                "more than {} rows rejected (--max-rejects); the run stops",
                self.max_rejects
            ));
        }
        if let Some(k) = &self.kept {
            k.lock().expect("kept lock").push(record.to_json());
        }
        let mut guard = self.file.lock().expect("reject file lock");
        if let Some(w) = guard.as_mut() {
            let line = record.to_json();
            let shown = self.path.as_ref().map(|p| p.display().to_string()).unwrap_or_default();
            serde_json::to_writer(&mut *w, &line)
                .map_err(|e| format!("writing the reject file {shown}: {e}"))?;
            w.write_all(b"\n").map_err(|e| format!("writing the reject file {shown}: {e}"))?;
        }
        Ok(())
    }

    /// Add a chunk's counts to its table.
    pub fn merge(&self, table: &str, counts: &Counts) {
        if counts.is_zero() {
            return;
        }
        let mut t = self.tables.lock().expect("counts lock");
        t.entry(table.to_string()).or_default().add(counts);
    }

    /// Drop a table's counts (its load is about to be redone).
    pub fn forget(&self, table: &str) {
        self.tables.lock().expect("counts lock").remove(table);
    }

    pub fn counts(&self, table: &str) -> Counts {
        self.tables.lock().expect("counts lock").get(table).copied().unwrap_or_default()
    }

    pub fn all_counts(&self) -> BTreeMap<String, Counts> {
        self.tables.lock().expect("counts lock").clone()
    }

    /// Rows rejected in this run, over all tables.
    pub fn total_rejected(&self) -> u64 {
        self.tables.lock().expect("counts lock").values().map(|c| c.rejected).sum()
    }

    /// Write out what is buffered.
    pub fn flush(&self) -> std::io::Result<()> {
        if let Some(w) = self.file.lock().expect("reject file lock").as_mut() {
            w.flush()?;
        }
        Ok(())
    }
}

impl Drop for BadValues {
    fn drop(&mut self) {
        let _ = self.flush();
    }
}

/// One rejected row, borrowed from the reader.
pub struct Reject<'a> {
    pub table: &'a str,
    /// `("rowid", value)` or the primary key's columns.
    pub key: Vec<(&'a str, ValueRef<'a>)>,
    pub column: &'a str,
    pub value: ValueRef<'a>,
    pub reason: &'a str,
    /// Every read column of the row, by source name.
    pub row: Vec<(&'a str, ValueRef<'a>)>,
}

impl<'a> Reject<'a> {
    /// A record keyed by rowid whose row is the one bad column (tests).
    #[cfg(test)]
    pub fn by_rowid(
        table: &'a str,
        rowid: i64,
        column: &'a str,
        value: ValueRef<'a>,
        reason: &'a str,
    ) -> Reject<'a> {
        let key = vec![("rowid", ValueRef::Integer(rowid))];
        Reject { table, key, column, value, reason, row: vec![(column, value)] }
    }
}

impl Reject<'_> {
    pub fn to_json(&self) -> serde_json::Value {
        let obj = |pairs: &[(&str, ValueRef<'_>)]| {
            serde_json::Value::Object(pairs.iter().map(|(k, v)| (k.to_string(), value_json(*v))).collect())
        };
        serde_json::json!({
            "table": self.table,
            "key": obj(&self.key),
            "column": self.column,
            "value": value_json(self.value),
            "class": match self.value {
                ValueRef::Null => "null",
                ValueRef::Integer(_) => "integer",
                ValueRef::Real(_) => "real",
                ValueRef::Text(_) => "text",
                ValueRef::Blob(_) => "blob",
            },
            "reason": self.reason,
            "row": obj(&self.row),
        })
    }
}

/// A SQLite value as JSON, losslessly (see the module docs).
pub fn value_json(v: ValueRef<'_>) -> serde_json::Value {
    use serde_json::Value as J;
    match v {
        ValueRef::Null => J::Null,
        ValueRef::Integer(i) => J::from(i),
        ValueRef::Real(f) if f.is_finite() => J::from(f),
        ValueRef::Real(f) if f.is_nan() => J::from("NaN"),
        ValueRef::Real(f) => J::from(if f > 0.0 { "Infinity" } else { "-Infinity" }),
        ValueRef::Text(t) => match std::str::from_utf8(t) {
            Ok(s) => J::from(s),
            Err(_) => serde_json::json!({ "base64": base64(t) }),
        },
        ValueRef::Blob(b) => serde_json::json!({ "base64": base64(b) }),
    }
}

/// Standard base64 with padding (RFC 4648 §4).
pub fn base64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16) | (u32::from(*c.get(1).unwrap_or(&0)) << 8) | u32::from(*c.get(2).unwrap_or(&0));
        out.push(A[(n >> 18) as usize & 63] as char);
        out.push(A[(n >> 12) as usize & 63] as char);
        out.push(if c.len() > 1 { A[(n >> 6) as usize & 63] as char } else { '=' });
        out.push(if c.len() > 2 { A[n as usize & 63] as char } else { '=' });
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_rfc4648_vectors() {
        for (i, o) in [("", ""), ("f", "Zg=="), ("fo", "Zm8="), ("foo", "Zm9v"), ("foob", "Zm9vYg=="), ("fooba", "Zm9vYmE="), ("foobar", "Zm9vYmFy")] {
            assert_eq!(base64(i.as_bytes()), o);
        }
    }

    #[test]
    fn records_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/rejects.jsonl");
        let bv = BadValues::to_file(&path, 2).unwrap();
        let mut rec = Reject::by_rowid("t", 7, "c", ValueRef::Blob(b"file\x96name"), "not UTF-8");
        rec.row.push(("r", ValueRef::Real(f64::INFINITY)));
        bv.reject(&rec).unwrap();
        bv.reject(&rec).unwrap();
        assert!(bv.reject(&rec).unwrap_err().contains("more than 2"));
        bv.flush().unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["key"]["rowid"], 7);
        assert_eq!(first["value"]["base64"], base64(b"file\x96name"));
        assert_eq!(first["class"], "blob");
        assert_eq!(first["row"]["r"], "Infinity");
        assert_eq!(text.lines().count(), 2);
    }
}
