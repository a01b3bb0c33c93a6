//! Value statistics per column for the existing-schema fit check: the
//! numeric range, the longest text, so that "will not fit" is known before
//! the first row moves (one aggregate query per table).

use rusqlite::Connection;

use crate::model::Table;
use crate::target::ident::quote;

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

pub fn column_stats(conn: &Connection, table: &Table) -> Result<Vec<ColumnStats>, rusqlite::Error> {
    if table.columns.is_empty() {
        return Ok(Vec::new());
    }
    let mut parts = Vec::new();
    for c in &table.columns {
        let q = quote(&c.name);
        parts.push(format!(
            "min(CASE WHEN typeof({q}) = 'integer' THEN {q} END), max(CASE WHEN typeof({q}) = 'integer' THEN {q} END), \
             min(CASE WHEN typeof({q}) = 'real' THEN {q} END), max(CASE WHEN typeof({q}) = 'real' THEN {q} END), \
             max(CASE WHEN typeof({q}) = 'text' THEN length({q}) END)"
        ));
    }
    let sql = format!("SELECT {} FROM {}", parts.join(", "), quote(&table.name));
    conn.query_row(&sql, [], |r| {
        let mut out = Vec::with_capacity(table.columns.len());
        for i in 0..table.columns.len() {
            let b = i * 5;
            out.push(ColumnStats {
                min_int: r.get(b)?,
                max_int: r.get(b + 1)?,
                min_real: r.get(b + 2)?,
                max_real: r.get(b + 3)?,
                max_text_chars: r.get(b + 4)?,
            });
        }
        Ok(out)
    })
}
