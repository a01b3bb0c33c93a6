//! Value statistics per column for the existing-schema fit check: the
//! numeric range, the longest text, so that "will not fit" is known before
//! the first row moves (one aggregate query per table).

use std::path::Path;

use rusqlite::Connection;

use super::Error;
use crate::error::Location;
use crate::model::Table;
use crate::sql::quote_ident as quote;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct ColumnStats {
    /// Smallest and largest integer or real value (as f64; the integers
    /// exactly as i64 too, for range checks).
    pub min_int: Option<i64>,
    pub max_int: Option<i64>,
    pub min_real: Option<f64>,
    pub max_real: Option<f64>,
    /// Longest text value, in characters.
    pub max_text_chars: Option<i64>,
}

/// [`column_stats_for`] on this thread's connection to `source` (in the
/// run's snapshot).
pub fn value_stats(source: &Path, table: &Table, wanted: &[usize]) -> Result<Vec<ColumnStats>, Error> {
    super::pool::with_connection(source, |c| {
        column_stats_for(c, table, wanted).map_err(|e| Error::Read {
            location: Location::table(&table.name),
            message: format!("reading value statistics: {e}"),
        })
    })
}

/// Does some row of `table` have every one of `columns` (source names) set?
/// (Rows that would point through a foreign key on those columns.)
pub fn any_row_with_all_set(source: &Path, table: &str, columns: &[String], what: &str) -> Result<bool, Error> {
    let cond: Vec<String> = columns.iter().map(|c| format!("{} IS NOT NULL", quote(c))).collect();
    let sql = format!("SELECT EXISTS (SELECT 1 FROM {} WHERE {})", quote(table), cond.join(" AND "));
    super::pool::with_connection(source, |conn| {
        conn.query_row(&sql, [], |r| r.get::<_, bool>(0))
            .map_err(|e| Error::Read { location: Location::table(table), message: format!("{what}: {e}") })
    })
}

pub fn column_stats(conn: &Connection, table: &Table) -> Result<Vec<ColumnStats>, rusqlite::Error> {
    let all: Vec<usize> = (0..table.columns.len()).collect();
    column_stats_for(conn, table, &all)
}

/// Statistics of the columns at `wanted` only (the others stay empty): a
/// check needs them for a few target types, and every column in the
/// query costs on every row.
pub fn column_stats_for(conn: &Connection, table: &Table, wanted: &[usize]) -> Result<Vec<ColumnStats>, rusqlite::Error> {
    let mut out = vec![ColumnStats::default(); table.columns.len()];
    if wanted.is_empty() {
        return Ok(out);
    }
    let mut parts = Vec::new();
    for c in wanted.iter().map(|&i| &table.columns[i]) {
        let q = quote(&c.name);
        parts.push(format!(
            "min(CASE WHEN typeof({q}) = 'integer' THEN {q} END), max(CASE WHEN typeof({q}) = 'integer' THEN {q} END), \
             min(CASE WHEN typeof({q}) = 'real' THEN {q} END), max(CASE WHEN typeof({q}) = 'real' THEN {q} END), \
             max(CASE WHEN typeof({q}) = 'text' THEN length({q}) END)"
        ));
    }
    let sql = format!("SELECT {} FROM {}", parts.join(", "), quote(&table.name));
    conn.query_row(&sql, [], |r| {
        for (k, &i) in wanted.iter().enumerate() {
            let b = k * 5;
            out[i] = ColumnStats {
                min_int: r.get(b)?,
                max_int: r.get(b + 1)?,
                min_real: r.get(b + 2)?,
                max_real: r.get(b + 3)?,
                max_text_chars: r.get(b + 4)?,
            };
        }
        Ok(out)
    })
}
