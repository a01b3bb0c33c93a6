//! Rows grouped by a byte key in bounded memory: a private temporary SQLite
//! database (on disk, deleted when closed, with SQLite's small page cache)
//! holds one row per source row, and SQLite's external sort finds the keys
//! held by more than one row. The dry run's duplicate check uses it so its
//! memory does not grow with the table (a hash map of every key did).

use rusqlite::types::{Value, ValueRef};
use rusqlite::{Connection, Statement};

/// One group of rows sharing a key: how many rows, and the first few, in
/// the order they were added, as the values added with them.
pub struct Group {
    pub rows: u64,
    pub first: Vec<Vec<Value>>,
}

/// The spilled rows: `(key, position, columns…)`.
pub struct KeyGroups {
    conn: Connection,
    columns: usize,
    /// Rows added so far: the next row's position.
    added: std::cell::Cell<i64>,
}

impl KeyGroups {
    /// A new, empty set of rows, each carrying `columns` values besides its
    /// key (how the caller will show it).
    pub fn new(columns: usize) -> Result<KeyGroups, String> {
        // "": a temporary database in a file, removed on close.
        let conn =
            Connection::open("").map_err(|e| format!("opening a temporary database: {e}"))?;
        let cols: String = (0..columns).map(|i| format!(", c{i}")).collect();
        conn.execute_batch(&format!(
            "PRAGMA journal_mode = OFF; PRAGMA synchronous = OFF; PRAGMA temp_store = FILE;
             CREATE TABLE k (key BLOB NOT NULL, n INTEGER NOT NULL{cols}); BEGIN;"
        ))
        .map_err(|e| format!("preparing a temporary database: {e}"))?;
        Ok(KeyGroups {
            conn,
            columns,
            added: std::cell::Cell::new(0),
        })
    }

    /// The statement [`KeyGroups::add`] runs; prepared once per table.
    pub fn inserter(&self) -> Result<Statement<'_>, String> {
        let marks: String = (0..self.columns).map(|i| format!(", ?{}", i + 3)).collect();
        self.conn
            .prepare(&format!("INSERT INTO k VALUES (?1, ?2{marks})"))
            .map_err(|e| format!("preparing a temporary database: {e}"))
    }

    /// Add one row: its key and its `columns` values. No allocation: the
    /// values are bound as they are.
    pub fn add<'v>(
        &self,
        insert: &mut Statement<'_>,
        key: &[u8],
        values: impl Iterator<Item = ValueRef<'v>>,
    ) -> Result<(), String> {
        self.added.set(self.added.get() + 1);
        let e = |e: rusqlite::Error| format!("writing to a temporary database: {e}");
        insert.raw_bind_parameter(1, key).map_err(e)?;
        insert.raw_bind_parameter(2, self.added.get()).map_err(e)?;
        for (i, v) in values.enumerate() {
            insert
                .raw_bind_parameter(i + 3, rusqlite::types::ToSqlOutput::Borrowed(v))
                .map_err(e)?;
        }
        insert.raw_execute().map_err(e)?;
        Ok(())
    }

    /// The keys held by more than one row: how many such keys, and the
    /// first `groups` of them (by first appearance), each with its first
    /// `rows` rows.
    pub fn repeated(self, groups: usize, rows: usize) -> Result<(u64, Vec<Group>), String> {
        let e = |e: rusqlite::Error| format!("reading a temporary database: {e}");
        self.conn
            .execute_batch("COMMIT; CREATE INDEX k_key ON k (key, n);")
            .map_err(e)?;
        let count: i64 = self
            .conn
            .query_row(
                "SELECT count(*) FROM (SELECT 1 FROM k GROUP BY key HAVING count(*) > 1)",
                [],
                |r| r.get(0),
            )
            .map_err(e)?;
        let mut out = Vec::new();
        if count > 0 {
            let mut first = self
                .conn
                .prepare("SELECT key, count(*) AS c, min(n) AS f FROM k GROUP BY key HAVING c > 1 ORDER BY f LIMIT ?1")
                .map_err(e)?;
            let cols: Vec<String> = (0..self.columns).map(|i| format!("c{i}")).collect();
            let mut of_key = self
                .conn
                .prepare(&format!(
                    "SELECT {} FROM k WHERE key = ?1 ORDER BY n LIMIT ?2",
                    cols.join(", ")
                ))
                .map_err(e)?;
            let found: Vec<(Vec<u8>, i64)> = first
                .query_map([groups as i64], |r| {
                    Ok((r.get::<_, Vec<u8>>(0)?, r.get::<_, i64>(1)?))
                })
                .map_err(e)?
                .collect::<Result<_, _>>()
                .map_err(e)?;
            for (key, n) in found {
                let first: Vec<Vec<Value>> = of_key
                    .query_map(rusqlite::params![key, rows as i64], |r| {
                        (0..self.columns).map(|i| r.get::<_, Value>(i)).collect()
                    })
                    .map_err(e)?
                    .collect::<Result<_, _>>()
                    .map_err(e)?;
                out.push(Group {
                    rows: n as u64,
                    first,
                });
            }
        }
        Ok((count as u64, out))
    }
}

#[cfg(test)]
mod tests {
    use super::KeyGroups;
    use rusqlite::types::{Value, ValueRef};

    #[test]
    fn finds_repeated_keys_with_their_first_rows_in_order() {
        let g = KeyGroups::new(1).unwrap();
        let keys: [&[u8]; 6] = [b"a", b"b", b"a", b"c", b"b", b"a"];
        {
            let mut ins = g.inserter().unwrap();
            for (i, k) in keys.iter().enumerate() {
                g.add(
                    &mut ins,
                    k,
                    std::iter::once(ValueRef::Integer(i as i64 + 10)),
                )
                .unwrap();
            }
        }
        let (n, groups) = g.repeated(5, 2).unwrap();
        assert_eq!(n, 2, "two keys repeat");
        assert_eq!(groups.len(), 2);
        // "a" first (first seen at row 1): three rows, the first two shown.
        assert_eq!(groups[0].rows, 3);
        assert_eq!(
            groups[0].first,
            vec![vec![Value::Integer(10)], vec![Value::Integer(12)]]
        );
        assert_eq!(groups[1].rows, 2);
        assert_eq!(
            groups[1].first,
            vec![vec![Value::Integer(11)], vec![Value::Integer(14)]]
        );
        // Only the first group asked for.
        let g = KeyGroups::new(0).unwrap();
        assert_eq!(
            g.repeated(1, 1).unwrap().0,
            0,
            "nothing added, nothing repeats"
        );
    }
}
