//! A reader: one chunk of one table, read with borrowed values, converted,
//! encoded into binary COPY, hashed, in a single pass.
//!
//! Each rayon thread keeps its own read-only SQLite connection and the
//! statement cache that comes with it, so a chunk costs one `prepare_cached`
//! lookup, not a prepare. The buffer is split off and sent when it passes
//! the buffer size; `reserve` then takes the allocation back once the writer
//! has dropped it, so the steady state allocates nothing per row.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};

use bytes::BytesMut;
use crossbeam_channel::Sender;
use rusqlite::types::ValueRef;

use super::{Error, Msg};
use crate::error::{Location, RowRef};
use super::rejects::{BadValues, Counts, Reject};
use crate::mapping::convert::{Change, Scratch, StorageClass, Value};
use crate::mapping::file::BadValuePolicy;
use crate::mapping::resolve::ColumnMap;
use crate::plan::TablePlan;
use crate::sqlite::pool::{describe_value, rowid_name, with_connection, Chunk};
use crate::postgres::{encode, ident};
use crate::hash::digest::{write_value, DigestBuilder, TableDigest};
use crate::ledger::{self, Fingerprints};

/// The SELECT for a chunk: the mapped columns in plan order, then the rowid
/// (when there is one) to name rows in error messages.
fn select_sql(tp: &TablePlan, chunk: &Chunk) -> String {
    let mut cols: Vec<String> = tp.map.columns.iter().map(|c| ident::quote(&c.source)).collect();
    let rowid = rowid_name(&tp.source);
    if let Some(r) = &rowid {
        cols.push(r.clone());
    }
    if let Some((child, parent)) = &tp.parent_first {
        return parent_first_sql(tp, &cols, child, parent);
    }
    let mut sql = format!("SELECT {} FROM {}", cols.join(", "), ident::quote(&tp.source.name));
    if let (Some(r), Some(_)) = (&rowid, chunk.range) {
        sql.push_str(&format!(" WHERE {r} >= ?1 AND {r} <= ?2"));
    }
    if let Some(n) = tp.sample {
        sql.push_str(&format!(" LIMIT {n}"));
    }
    sql
}

/// Rows ordered so that every row comes after the row its self-reference
/// points to: depth in the tree, computed by a recursive query. Roots are
/// rows whose reference is NULL, points to itself, or points nowhere (the
/// server will refuse the last kind, naming the key). The depth is bounded
/// by the row count, so a cycle in the data cannot make it run forever;
/// rows on such a cycle are never reached, and the count check after the
/// COPY then fails the table rather than losing them silently.
fn parent_first_sql(tp: &TablePlan, cols: &[String], child: &str, parent: &str) -> String {
    let t = ident::quote(&tp.source.name);
    let (c, p) = (ident::quote(child), ident::quote(parent));
    let select: Vec<String> = cols.iter().map(|col| format!("s.{col}")).collect();
    // The CTE's name hides any table of that name inside the query.
    let tree = own_name("ferry_tree", &[&tp.source.name]);
    format!(
        "WITH RECURSIVE {tree}(k, depth) AS ( \
           SELECT {p}, 0 FROM {t} WHERE {c} IS NULL OR {c} = {p} \
             OR {c} NOT IN (SELECT {p} FROM {t} WHERE {p} IS NOT NULL) \
           UNION ALL \
           SELECT x.{p}, {tree}.depth + 1 FROM {t} x JOIN {tree} ON x.{c} = {tree}.k \
            WHERE x.{c} <> x.{p} AND {tree}.depth < (SELECT count(*) FROM {t}) \
         ) \
         SELECT {} FROM {t} s JOIN (SELECT k, max(depth) AS d FROM {tree} GROUP BY k) o ON s.{p} = o.k ORDER BY o.d",
        select.join(", ")
    )
}

/// A name for one of ferry's own SQL objects (a CTE) that differs from
/// every user name the query refers to: `base`, with `_` appended while it
/// equals one of `taken` (ignoring ASCII case, as SQLite compares names).
fn own_name(base: &str, taken: &[&str]) -> String {
    let mut name = base.to_string();
    while taken.iter().any(|t| t.eq_ignore_ascii_case(&name)) {
        name.push('_');
    }
    name
}

/// Read, convert and hash one chunk. With `buffer_bytes`, also encode the
/// rows as binary COPY data and send it in buffers of about that size; with
/// None (verification) only the digest is made. With `ledger` (the table's
/// folder of ledger segments), each row's stored values are fingerprinted
/// too and the chunk's records written there (`ledger`).
#[allow(clippy::too_many_arguments)]
pub fn read_chunk(
    source: &Path,
    tp: &TablePlan,
    chunk: &Chunk,
    buffer_bytes: Option<usize>,
    tx: &Sender<Msg>,
    cancel: &AtomicBool,
    bad_values: &BadValues,
    ledger: Option<&Path>,
) -> Result<TableDigest, Error> {
    let sql = select_sql(tp, chunk);
    let loc = |message: String| Error::Source { location: Location::table(&tp.source.name), message };
    with_connection(source, |conn| {
        let mut stmt = conn.prepare_cached(&sql).map_err(|e| loc(e.to_string()))?;
        let mut rows = match chunk.range {
            Some((a, b)) => stmt.query([a, b]),
            None => stmt.query([]),
        }
        .map_err(|e| loc(e.to_string()))?;
        let ncols = tp.map.columns.len();
        let has_rowid = rowid_name(&tp.source).is_some();
        let encode = buffer_bytes.is_some();
        let buffer_bytes = buffer_bytes.unwrap_or(usize::MAX);
        let mut buf = if encode { BytesMut::with_capacity(buffer_bytes + buffer_bytes / 4) } else { BytesMut::new() };
        let mut scratch = Scratch::default();
        let mut hash_scratch = Vec::new();
        let mut digest = DigestBuilder::default();
        let mut n: u64 = 0;
        let mut sent: u64 = 0;
        let mut counts = Counts::default();
        let mut fps = ledger.map(|_| Fingerprints::default());
        while let Some(row) = rows.next().map_err(|e| loc(e.to_string()))? {
            let row_start = buf.len();
            if encode {
                encode::begin_row(&mut buf, ncols as i16);
            }
            // The row's canonical bytes, hashed with the next few rows'.
            let mut rejected = false;
            let mut rounded = Rounded::default();
            let at = RowAt { tp, row, ncols, has_rowid };
            for (i, cm) in tp.map.columns.iter().enumerate() {
                let v = row.get_ref(i).map_err(|e| loc(e.to_string()))?;
                if let Some(f) = &mut fps {
                    f.value(v);
                }
                // Planned without a profile: a storage class that would make
                // the profiled plan widen this column sends the run back to
                // plan from the data (create mode).
                if cm.widen_on != 0 && StorageClass::of(v).is_some_and(|c| cm.widen_on & c.bit() != 0) {
                    return Err(Error::NeedsWidening {
                        location: at.location(cm),
                        value: describe_value(v),
                    });
                }
                let mut change = Change::default();
                let converted = match cm.converter.convert_counted(v, &mut scratch, &mut change) {
                    Ok(Value::Null) if cm.not_null => Err("NULL in a NOT NULL column".to_string()),
                    Ok(value) => Ok(value),
                    Err(bad) => Err(format!("{} (column type {})", bad.reason, cm.pg_type)),
                };
                let value = match converted {
                    Ok(value) => {
                        counts.altered += u64::from(change.altered);
                        rounded.add(&change);
                        value
                    }
                    Err(reason) => match refused(&at, i, v, reason, bad_values, &mut counts)? {
                        Refused::Null => Value::Null,
                        Refused::RowRejected => {
                            rejected = true;
                            break;
                        }
                    },
                };
                if encode {
                    encode::write_value(&mut buf, &cm.pg_type, &value);
                }
                write_value(digest.row(), &cm.pg_type, &value, &mut hash_scratch);
            }
            if let Some(f) = &mut fps {
                // A rejected row is recorded as absent from the target, with
                // every stored value fingerprinted.
                if rejected {
                    f.discard_row();
                    for i in 0..ncols {
                        f.value(row.get_ref(i).map_err(|e| loc(e.to_string()))?);
                    }
                }
                let key: i64 = row.get(ncols).map_err(|e| loc(e.to_string()))?;
                f.end_row(key, rejected);
            }
            if rejected {
                // The row leaves no trace in the COPY data nor in the hash.
                buf.truncate(row_start);
                digest.discard_row();
                counts.rejected += 1;
                continue;
            }
            digest.end_row();
            counts.add_rounded(rounded.count, rounded.max.0, rounded.max.1);
            n += 1;
            if !encode && n.is_multiple_of(16_384) && (crate::interrupt::requested() || cancel.load(Ordering::Relaxed)) {
                return Err(if crate::interrupt::requested() { Error::Interrupted } else { Error::Cancelled });
            }
            if buf.len() >= buffer_bytes {
                send_full(&mut buf, buffer_bytes, n - sent, tx, cancel)?;
                sent = n;
            }
        }
        if !buf.is_empty() && tx.send(Msg::Data(buf.split().freeze(), n - sent)).is_err() {
            return Err(Error::Cancelled);
        }
        let digest = digest.finish();
        debug_assert_eq!(n, digest.rows);
        if let (Some(dir), Some(f)) = (ledger, &mut fps) {
            f.flush();
            // Rows out of rowid order leave the segment unwritten: the
            // table's records then fall short and it gets no ledger.
            let _ = ledger::write_segments(dir, chunk.range.map_or(i64::MIN, |r| r.0), &f.take());
        }
        bad_values.merge(&tp.source.name, &counts);
        Ok(digest)
    })
}

/// Values of one row rounded to float4, counted if the row loads: how
/// many, and the largest relative change with the value it changed.
#[derive(Default)]
struct Rounded {
    count: u64,
    max: (f64, f64),
}

impl Rounded {
    #[inline]
    fn add(&mut self, change: &Change) {
        if let Some(rel) = change.rounded {
            self.count += 1;
            if rel > self.max.0 {
                self.max = (rel, change.rounded_from);
            }
        }
    }
}

/// Send a full buffer to the writer (`rows` rows since the last one) and
/// take its allocation back; stop when asked to.
fn send_full(buf: &mut BytesMut, buffer_bytes: usize, rows: u64, tx: &Sender<Msg>, cancel: &AtomicBool) -> Result<(), Error> {
    if crate::interrupt::requested() {
        return Err(Error::Interrupted);
    }
    if tx.send(Msg::Data(buf.split().freeze(), rows)).is_err() || cancel.load(Ordering::Relaxed) {
        return Err(Error::Cancelled);
    }
    buf.reserve(buffer_bytes);
    Ok(())
}

/// The row a reader is on, as errors and reject records name it.
struct RowAt<'r, 's> {
    tp: &'r TablePlan,
    row: &'r rusqlite::Row<'s>,
    ncols: usize,
    has_rowid: bool,
}

impl RowAt<'_, '_> {
    /// Where a value is, for its error: table, column, row.
    fn location(&self, cm: &ColumnMap) -> Location {
        Location {
            table: self.tp.source.name.clone(),
            column: Some(cm.source.clone()),
            row: Some(row_ref(self.tp, self.row, self.ncols, self.has_rowid)),
        }
    }
}

/// What a value its converter refused becomes.
enum Refused {
    Null,
    /// The row goes to the reject file and leaves no other trace.
    RowRejected,
}

/// The policy of the column's rule chain (or the settings) for the value
/// `v` of column `i` that its converter refused for `reason`: NULL, the row
/// rejected, or the error that stops the load.
#[cold]
fn refused(
    at: &RowAt<'_, '_>,
    i: usize,
    v: ValueRef<'_>,
    reason: String,
    bad_values: &BadValues,
    counts: &mut Counts,
) -> Result<Refused, Error> {
    let cm = &at.tp.map.columns[i];
    match cm.on_bad_value {
        BadValuePolicy::Null if !cm.not_null => {
            counts.nulled += 1;
            Ok(Refused::Null)
        }
        BadValuePolicy::Reject => {
            let record = reject_record(at.tp, at.row, at.ncols, at.has_rowid, i, v, &reason);
            bad_values.reject(&record).map_err(|limit| Error::BadValue {
                location: at.location(cm),
                value: describe_value(v),
                reason: format!("{reason}; {limit}"),
            })?;
            Ok(Refused::RowRejected)
        }
        policy => {
            let reason = if policy == BadValuePolicy::Null {
                format!("{reason}; on_bad_value = \"null\" does not apply: the column is NOT NULL")
            } else {
                reason
            };
            Err(Error::BadValue {
                location: at.location(cm),
                value: describe_value(v),
                reason,
            })
        }
    }
}

/// The reject-file record of a row whose column `bad` has a bad value.
fn reject_record<'a>(
    tp: &'a TablePlan,
    row: &'a rusqlite::Row<'_>,
    ncols: usize,
    has_rowid: bool,
    bad: usize,
    v: ValueRef<'a>,
    reason: &'a str,
) -> Reject<'a> {
    let get = |i: usize| row.get_ref(i).unwrap_or(ValueRef::Null);
    let mut key = Vec::new();
    if has_rowid && let Ok(r @ ValueRef::Integer(_)) = row.get_ref(ncols) {
        key.push(("rowid", r));
    }
    if key.is_empty() {
        for pk in &tp.source.primary_key {
            if let Some(i) = tp.map.columns.iter().position(|c| &c.source == pk) {
                key.push((pk.as_str(), get(i)));
            }
        }
    }
    Reject {
        table: &tp.source.name,
        key,
        column: &tp.map.columns[bad].source,
        value: v,
        reason,
        row: tp.map.columns.iter().enumerate().map(|(i, c)| (c.source.as_str(), get(i))).collect(),
    }
}

/// The row as a person can find it: rowid, else the primary key values.
fn row_ref(tp: &TablePlan, row: &rusqlite::Row<'_>, ncols: usize, has_rowid: bool) -> RowRef {
    if has_rowid && let Ok(ValueRef::Integer(r)) = row.get_ref(ncols) {
        return RowRef::Rowid(r);
    }
    let mut parts = String::new();
    for pk in &tp.source.primary_key {
        if let Some(i) = tp.map.columns.iter().position(|c| &c.source == pk) {
            if !parts.is_empty() {
                parts.push_str(", ");
            }
            let v = row.get_ref(i).map(describe_value).unwrap_or_else(|_| "?".into());
            let _ = write!(parts, "{pk}={v}");
        }
    }
    RowRef::Key(parts)
}
