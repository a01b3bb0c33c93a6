//! Storage-class profile: how many values of each SQLite storage class
//! (`typeof`) every column actually holds. SQLite lets any column hold any
//! class, so the declared type is a hint and this is the truth the mapping
//! and the dry run check against.
//!
//! One aggregate query per table (`count(CASE typeof(c) WHEN ...)` per
//! column) rather than a row loop in Rust: SQLite answers `typeof(column)`
//! from the record header without loading the value, so large TEXT and BLOB
//! values (overflow pages) are never read, and no row crosses into Rust.
//! Very wide tables are split into several queries to stay under SQLite's
//! limit of 2,000 result columns.

use rusqlite::Connection;

use super::error::Error;
use super::introspect::quote_ident;
use crate::model::{Schema, StorageProfile, Table};

/// Columns per query: 4 result columns each, plus the row count.
const COLUMNS_PER_QUERY: usize = 400;

/// Count storage classes per column of `table` (in `table.columns` order).
pub fn profile_table(conn: &Connection, table: &Table) -> Result<Vec<StorageProfile>, Error> {
    let mut out = Vec::with_capacity(table.columns.len());
    for batch in table.columns.chunks(COLUMNS_PER_QUERY) {
        let mut sql = String::from("SELECT count(*)");
        for c in batch {
            let q = quote_ident(&c.name);
            for class in ["integer", "real", "text", "blob"] {
                sql.push_str(&format!(
                    ", count(CASE typeof({q}) WHEN '{class}' THEN 1 END)"
                ));
            }
        }
        sql.push_str(&format!(" FROM main.{}", quote_ident(&table.name)));
        let err = |e| Error::query("storage classes", &table.name, e);
        let mut stmt = conn.prepare(&sql).map_err(err)?;
        let counts: Vec<u64> = stmt
            .query_row([], |r| {
                (0..1 + 4 * batch.len())
                    .map(|i| r.get::<_, i64>(i).map(|n| n.max(0) as u64))
                    .collect()
            })
            .map_err(err)?;
        let total = counts[0];
        for cls in counts[1..].chunks(4) {
            let (integer, real, text, blob) = (cls[0], cls[1], cls[2], cls[3]);
            out.push(StorageProfile {
                null: total - (integer + real + text + blob),
                integer,
                real,
                text,
                blob,
            });
        }
    }
    Ok(out)
}

/// Profile every table of `schema`, filling `Column::profile`.
pub fn profile_schema(conn: &Connection, schema: &mut Schema) -> Result<(), Error> {
    for table in &mut schema.tables {
        let profiles = profile_table(conn, table)?;
        for (col, p) in table.columns.iter_mut().zip(profiles) {
            col.profile = Some(p);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::introspect::introspect;

    #[test]
    fn counts_each_class() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE TABLE \"we\"\"ird\" (a, \"b c\" INTEGER);
             INSERT INTO \"we\"\"ird\" VALUES (1, 'x'), (1.5, NULL), ('t', 2), (x'00', 3), (NULL, 4);",
        )
        .unwrap();
        let mut s = introspect(&c).unwrap();
        let p = profile_table(&c, &s.tables[0]).unwrap();
        assert_eq!(
            p[0],
            StorageProfile {
                null: 1,
                integer: 1,
                real: 1,
                text: 1,
                blob: 1
            }
        );
        assert_eq!(
            p[1],
            StorageProfile {
                null: 1,
                integer: 3,
                real: 0,
                text: 1,
                blob: 0
            }
        );
        profile_schema(&c, &mut s).unwrap();
        assert_eq!(s.tables[0].columns[1].profile.as_ref(), Some(&p[1]));
    }

    #[test]
    fn wide_and_empty_tables() {
        let c = Connection::open_in_memory().unwrap();
        let cols: Vec<String> = (0..1000).map(|i| format!("c{i}")).collect();
        c.execute_batch(&format!(
            "CREATE TABLE wide ({}); INSERT INTO wide (c999) VALUES (7); CREATE TABLE empty (x);",
            cols.join(", ")
        ))
        .unwrap();
        let s = introspect(&c).unwrap();
        let p = profile_table(&c, s.table("wide").unwrap()).unwrap();
        assert_eq!(p.len(), 1000);
        assert_eq!(p[0].null, 1);
        assert_eq!(p[999].integer, 1);
        let p = profile_table(&c, s.table("empty").unwrap()).unwrap();
        assert_eq!(p, [StorageProfile::default()]);
    }
}
