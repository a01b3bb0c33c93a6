//! Rejected rows coming back (`ferry replay`): the rows a run's reject file
//! names, read again from the source by rowid through a plan of the migrated
//! target, converted and encoded by the load's own reader
//! (`reader::read_chunk`, one single-row chunk per key), then copied into
//! the target on one connection, parents before children, inside the
//! caller's transaction.
//!
//! Reading is separate from writing so that a row still bad is found before
//! anything is sent: the caller writes only when [`Read::still_bad`] is
//! empty. Under `on_bad_value = "reject"` a still-bad row is kept in memory
//! ([`BadValues::keeping`]), under `abort` it is the reader's error; both
//! become one line each, naming table, column, row and value.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::sync::atomic::AtomicBool;

use bytes::{Bytes, BytesMut};
use futures_util::SinkExt;

use super::rejects::BadValues;
use super::{Error, Msg, reader};
use crate::plan::{Plan, TablePlan};
use crate::postgres::{self, encode, ident};
use crate::sqlite::pool::{Chunk, rowid_name};

/// Rowids to replay, per source table, from a reject file.
pub type Wanted = BTreeMap<String, BTreeSet<i64>>;

/// The reject file's rows, by table and rowid. Every line must be a record
/// as `rejects` writes it; a table whose rows are named by primary key
/// (`WITHOUT ROWID`) is refused by name, since rows are found by rowid.
pub fn read_reject_file(path: &Path) -> Result<Wanted, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the reject file {}: {e}", path.display()))?;
    let mut wanted = Wanted::new();
    for (i, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let at = || format!("{}, line {}", path.display(), i + 1);
        let rec: serde_json::Value = serde_json::from_str(line)
            .map_err(|e| format!("{}: not a reject record ({e})", at()))?;
        let table = rec["table"]
            .as_str()
            .ok_or_else(|| format!("{}: no \"table\"", at()))?;
        let key = rec["key"]
            .as_object()
            .ok_or_else(|| format!("{}: no \"key\"", at()))?;
        let rowid = match key.get("rowid").and_then(serde_json::Value::as_i64) {
            Some(r) if key.len() == 1 => r,
            _ => {
                return Err(format!(
                    "{}: table {table:?} names its rows by primary key {} (a WITHOUT ROWID table); `ferry replay` finds rows by rowid and cannot replay them: load them with SQL, or run the migration again",
                    at(),
                    serde_json::Value::Object(key.clone())
                ));
            }
        };
        wanted.entry(table.to_string()).or_default().insert(rowid);
    }
    Ok(wanted)
}

/// One table's rows, read and encoded.
#[derive(Debug)]
pub struct TableRows {
    /// Index into the plan's tables.
    pub table: usize,
    /// Rows encoded in `data`.
    pub rows: u64,
    /// Binary COPY rows (no header or trailer).
    pub data: Vec<Bytes>,
    /// Rowids that are no longer in the source (deleted since the run).
    pub gone: Vec<i64>,
}

/// What reading the wanted rows found.
#[derive(Debug, Default)]
pub struct Read {
    /// In plan order (foreign-key order: parents first).
    pub tables: Vec<TableRows>,
    /// One line per row whose value still does not convert.
    pub still_bad: Vec<String>,
}

/// Read every wanted row through `plan`, one row per chunk, in plan order.
/// A table of `wanted` that the plan does not hold is an error naming it.
pub fn read(source: &Path, plan: &Plan, wanted: &Wanted) -> Result<Read, Error> {
    for t in wanted.keys() {
        if !plan.tables.iter().any(|tp| &tp.source.name == t) {
            return Err(Error::Source {
                location: crate::error::Location::table(t),
                message: "the reject file names this table, but it is not in the plan (not in the source, excluded, or a view); give the same --tables/--exclude/--mapping as the migration".into(),
            });
        }
    }
    let cancel = AtomicBool::new(false);
    let mut out = Read::default();
    for (ti, tp) in plan.tables.iter().enumerate() {
        let Some(rowids) = wanted.get(&tp.source.name) else {
            continue;
        };
        if rowid_name(&tp.source).is_none() {
            return Err(Error::Source {
                location: crate::error::Location::table(&tp.source.name),
                message: "a WITHOUT ROWID table: `ferry replay` finds rows by rowid".into(),
            });
        }
        // The whole-table orderings of a load do not apply to single rows.
        let tp = TablePlan {
            parent_first: None,
            sample: None,
            ..tp.clone()
        };
        let bad = BadValues::keeping();
        let mut rows = TableRows {
            table: ti,
            rows: 0,
            data: Vec::new(),
            gone: Vec::new(),
        };
        for &r in rowids {
            let (tx, rx) = crossbeam_channel::unbounded::<Msg>();
            let before = bad.kept().len();
            match reader::read_chunk(
                source,
                &tp,
                &Chunk {
                    range: Some((r, r)),
                },
                Some(1 << 20),
                &tx,
                &cancel,
                &bad,
                None,
            ) {
                Ok(d) => {
                    let kept = bad.kept();
                    if let Some(rec) = kept.get(before) {
                        out.still_bad.push(still_bad_line(rec));
                    } else if d.rows == 0 {
                        rows.gone.push(r);
                    }
                    rows.rows += d.rows;
                }
                Err(Error::BadValue {
                    location,
                    value,
                    reason,
                }) => {
                    out.still_bad.push(format!("{location}: {value}: {reason}"));
                }
                Err(e) => return Err(e),
            }
            drop(tx);
            rows.data.extend(rx.try_iter().filter_map(|m| match m {
                Msg::Data(b, _) => Some(b),
                _ => None,
            }));
        }
        out.tables.push(rows);
    }
    Ok(out)
}

/// A kept reject record as one line: table, column, row, value, reason.
fn still_bad_line(rec: &serde_json::Value) -> String {
    let key: Vec<String> = rec["key"]
        .as_object()
        .into_iter()
        .flatten()
        .map(|(k, v)| {
            if k == "rowid" {
                format!("rowid {v}")
            } else {
                format!("{k}={v}")
            }
        })
        .collect();
    format!(
        "table {}, column {}, {}: value {} ({}): {}",
        rec["table"],
        rec["column"],
        key.join(", "),
        rec["value"],
        rec["class"].as_str().unwrap_or("?"),
        rec["reason"].as_str().unwrap_or("")
    )
}

/// Load the rows read, in one transaction on `client`: each table's rows
/// with binary COPY (no `FREEZE`: the tables hold rows), in plan order
/// (parents first; deferrable constraints are checked at commit), then the
/// sequences of `sequences` (target name, floor, as `keys::set_sequences`)
/// set past the new largest keys. The rows the server stored per table must
/// be the rows sent; any error rolls everything back.
pub async fn write(
    client: &tokio_postgres::Client,
    plan: &Plan,
    read: &Read,
    catalog: &crate::postgres::catalog::Catalog,
    sequences: &[(String, Option<(String, i64)>)],
) -> Result<(), postgres::Error> {
    client
        .batch_execute("BEGIN; SET CONSTRAINTS ALL DEFERRED")
        .await
        .map_err(|e| postgres::Error::server("starting the replay's transaction", &e))?;
    let done = async {
        copy_rows(client, plan, read).await?;
        postgres::keys::set_sequences(client, &plan.pg_schema, catalog, sequences).await?;
        client
            .batch_execute("COMMIT")
            .await
            .map_err(|e| postgres::Error::server("committing the replay", &e))
    }
    .await;
    if done.is_err() {
        let _ = client.batch_execute("ROLLBACK").await;
    }
    done
}

async fn copy_rows(
    client: &tokio_postgres::Client,
    plan: &Plan,
    read: &Read,
) -> Result<(), postgres::Error> {
    for t in read.tables.iter().filter(|t| t.rows > 0) {
        let tp = &plan.tables[t.table];
        let table = ident::qualified(&plan.pg_schema, &tp.map.target);
        let cols: Vec<String> = tp
            .map
            .columns
            .iter()
            .map(|c| ident::quote(&c.target))
            .collect();
        let ctx = format!("replaying rows into table {:?}", tp.map.target);
        let sql = format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            cols.join(", ")
        );
        let sink = client
            .copy_in::<_, Bytes>(&sql)
            .await
            .map_err(|e| postgres::Error::server(&ctx, &e))?;
        let mut sink = Box::pin(sink);
        let mut header = BytesMut::with_capacity(32);
        encode::write_header(&mut header);
        sink.send(header.freeze())
            .await
            .map_err(|e| postgres::Error::server(&ctx, &e))?;
        for b in &t.data {
            sink.send(b.clone())
                .await
                .map_err(|e| postgres::Error::server(&ctx, &e))?;
        }
        let mut trailer = BytesMut::with_capacity(2);
        encode::write_trailer(&mut trailer);
        sink.send(trailer.freeze())
            .await
            .map_err(|e| postgres::Error::server(&ctx, &e))?;
        let stored = sink
            .as_mut()
            .finish()
            .await
            .map_err(|e| postgres::Error::server(&ctx, &e))?;
        if stored != t.rows {
            return Err(postgres::Error::Server {
                context: ctx,
                message: format!("PostgreSQL stored {stored} rows, ferry sent {}", t.rows),
            });
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::rejects::Reject;
    use rusqlite::types::ValueRef;

    #[test]
    fn reject_file_by_table_and_rowid() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.jsonl");
        let bv = BadValues::to_file(&path, 10).unwrap();
        for (t, r) in [("b", 7), ("a", 2), ("b", 3), ("b", 7)] {
            let rec = Reject::by_rowid(t, r, "c", ValueRef::Blob(b"\xff"), "bad");
            bv.reject(&rec).unwrap();
        }
        bv.flush().unwrap();
        let w = read_reject_file(&path).unwrap();
        assert_eq!(w.len(), 2);
        assert_eq!(w["a"].iter().copied().collect::<Vec<_>>(), [2]);
        assert_eq!(
            w["b"].iter().copied().collect::<Vec<_>>(),
            [3, 7],
            "sorted, once each"
        );

        // A WITHOUT ROWID table's rows are named by primary key: refused by name.
        std::fs::write(
            &path,
            "{\"table\":\"k\",\"key\":{\"a\":\"x\"},\"row\":{}}\n",
        )
        .unwrap();
        let e = read_reject_file(&path).unwrap_err();
        assert!(
            e.contains("\"k\"") && e.contains("WITHOUT ROWID") && e.contains("line 1"),
            "{e}"
        );
        std::fs::write(&path, "\n{\"table\":\"k\"\n").unwrap();
        let e = read_reject_file(&path).unwrap_err();
        assert!(
            e.contains("line 2") && e.contains("not a reject record"),
            "{e}"
        );
    }

    #[test]
    fn keeping_holds_the_records_and_writes_no_file() {
        let bv = BadValues::keeping();
        let rec = Reject::by_rowid("t", 4, "title", ValueRef::Text(b"H\xe9z"), "not UTF-8");
        bv.reject(&rec).unwrap();
        assert!(bv.path().is_none());
        let kept = bv.kept();
        assert_eq!(kept.len(), 1);
        assert_eq!(
            still_bad_line(&kept[0]),
            "table \"t\", column \"title\", rowid 4: value {\"base64\":\"SOl6\"} (text): not UTF-8"
        );
    }
}
