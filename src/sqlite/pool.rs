//! The run's SQLite connections: one read-only connection per thread,
//! opened inside the run's snapshot of the source and kept with its
//! statement cache; tables cut into rowid ranges (chunks); and SQLite values
//! described for error messages.
//!
//! Every part of the run that reads rows (the load's readers, the dry run,
//! the profile, the source side of verification) goes through
//! [`with_connection`], so all of them see one state of the database.

use std::cell::RefCell;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use super::error::Error;
use super::introspect::quote_ident;
use super::snapshot;
use crate::error::Location;
use crate::model::Table;

/// A contiguous part of a table: a rowid range, or the whole table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Chunk {
    /// Inclusive rowid bounds; None reads the whole table.
    pub range: Option<(i64, i64)>,
}

thread_local! {
    static CONN: RefCell<Option<(PathBuf, u64, Connection)>> = const { RefCell::new(None) };
}

/// Run `f` with this thread's connection to `path`, opening it once (per
/// snapshot: inside the run's snapshot of the source, when there is one).
pub fn with_connection<T, E: From<Error>>(path: &Path, f: impl FnOnce(&Connection) -> Result<T, E>) -> Result<T, E> {
    CONN.with(|cell| {
        let mut slot = cell.borrow_mut();
        let generation = snapshot::generation(path);
        if slot.as_ref().is_none_or(|(p, g, _)| p != path || *g != generation) {
            // The old connection (and its read transaction) goes first.
            *slot = None;
            let (conn, generation) = snapshot::open_in_snapshot(path)
                .map_err(|e| Error::Read { location: Location::table("*"), message: format!("{e:#}") })?;
            *slot = Some((path.to_path_buf(), generation, conn));
        }
        let (_, _, conn) = slot.as_ref().expect("connection just opened");
        f(conn)
    })
}

/// What reaches the rowid in this table, as SQL: the rowid-alias column,
/// else `rowid` unless a column of that name hides it, then `_rowid_`, then
/// `oid`; None for WITHOUT ROWID. One rule, kept in `sqlite::introspect`.
pub fn rowid_name(t: &Table) -> Option<String> {
    super::introspect::rowid_expr(t)
}

/// Split a table into rowid ranges of about `chunk_rows` rows.
pub fn chunks(source: &Path, t: &Table, chunk_rows: u64) -> Result<Vec<Chunk>, Error> {
    let Some(rowid) = rowid_name(t) else { return Ok(vec![Chunk { range: None }]) };
    if t.row_count <= chunk_rows {
        return Ok(vec![Chunk { range: None }]);
    }
    let sql = bounds_sql(&rowid, &quote_ident(&t.name));
    let (lo, hi): (Option<i64>, Option<i64>) = with_connection(source, |c| {
        c.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?)))
            .map_err(|e| Error::Read { location: Location::table(&t.name), message: e.to_string() })
    })?;
    let (Some(lo), Some(hi)) = (lo, hi) else { return Ok(vec![Chunk { range: None }]) };
    let n = t.row_count.div_ceil(chunk_rows) as i128;
    let span = hi as i128 - lo as i128 + 1;
    let step = (span + n - 1) / n;
    let mut out = Vec::new();
    let mut start = lo as i128;
    while start <= hi as i128 {
        let end = (start + step - 1).min(hi as i128);
        out.push(Chunk { range: Some((start as i64, end as i64)) });
        start = end + 1;
    }
    Ok(out)
}

/// The smallest and largest rowid of `table`, one subquery per bound:
/// SQLite answers a lone `min(rowid)` or `max(rowid)` from one end of the
/// b-tree, but a query holding both aggregates scans the whole table (or
/// its smallest index): 0.26 s for the million rows of FlashCase's study
/// log, and every plan asks.
fn bounds_sql(rowid: &str, table: &str) -> String {
    format!("SELECT (SELECT min({rowid}) FROM {table}), (SELECT max({rowid}) FROM {table})")
}

/// A SQLite value for an error message: its storage class and a readable,
/// bounded rendering (text quoted, blobs in hex).
pub fn describe_value(v: ValueRef<'_>) -> String {
    const MAX: usize = 120;
    match v {
        ValueRef::Null => "NULL".into(),
        ValueRef::Integer(i) => format!("{i} (integer)"),
        ValueRef::Real(f) => format!("{f:?} (real)"),
        ValueRef::Text(t) => {
            let s = String::from_utf8_lossy(t);
            let shown: String = s.chars().take(MAX).collect();
            let more = if s.chars().count() > MAX { "…" } else { "" };
            format!("{shown:?}{more} (text, {} bytes)", t.len())
        }
        ValueRef::Blob(b) => {
            let mut hex = String::new();
            for byte in b.iter().take(MAX / 2) {
                let _ = write!(hex, "{byte:02x}");
            }
            let more = if b.len() > MAX / 2 { "…" } else { "" };
            format!("x'{hex}'{more} (blob, {} bytes)", b.len())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The query plan's steps, as `EXPLAIN QUERY PLAN` words them.
    fn query_plan(c: &Connection, sql: &str) -> Vec<String> {
        let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {sql}")).unwrap();
        stmt.query_map([], |r| r.get::<_, String>(3)).unwrap().map(Result::unwrap).collect()
    }

    #[test]
    fn rowid_bounds_come_from_the_ends_of_the_btree() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, k INTEGER);
             CREATE INDEX t_k ON t (k);
             INSERT INTO t VALUES (5, 1), (9, 2), (-3, 3);
             CREATE TABLE \"no alias\" (k TEXT);
             INSERT INTO \"no alias\" (rowid, k) VALUES (7, 'a'), (2, 'b');",
        )
        .unwrap();
        for (rowid, table, want) in [("id", "t", (-3, 9)), ("rowid", "no alias", (2, 7))] {
            let sql = bounds_sql(rowid, &quote_ident(table));
            let plan = query_plan(&c, &sql);
            // A lone min or max is a SEARCH of the table; a SCAN reads every row.
            assert!(!plan.iter().any(|step| step.starts_with("SCAN") && step != "SCAN CONSTANT ROW"), "{sql}: {plan:?}");
            assert_eq!(plan.iter().filter(|step| step.starts_with("SEARCH")).count(), 2, "{sql}: {plan:?}");
            let got: (i64, i64) = c.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).unwrap();
            assert_eq!(got, want);
        }
        // The form this replaced scans: the check above can fail.
        let both = query_plan(&c, "SELECT min(id), max(id) FROM t");
        assert!(both.iter().any(|step| step.starts_with("SCAN")), "{both:?}");
    }
}
