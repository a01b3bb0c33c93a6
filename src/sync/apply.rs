//! The writes of a sync, in the one transaction the comparison read from,
//! with the target's keys, indexes and foreign keys in place.
//!
//! Per piece (a table, or one partition of it when `sync::stream` writes
//! while comparing), parents first: the source rows of the differing keys
//! go by binary COPY (the load's encoder) into the table's temporary
//! staging table, numbered by piece, then `INSERT … SELECT` adds the rows
//! whose key the target lacks and `UPDATE … FROM` changes the others (one
//! statement each, so a self-reference among new rows is checked at the
//! statement's end; new rows first, so a changed row may point at one).
//! Then children first, the target rows without a source row are deleted:
//! by `ctid` (the rows the comparison read, in the same snapshot, which
//! the transaction's lock keeps from other writers) or, for a table
//! compared by its ledger, by key. A table without a key is emptied and
//! copied whole. Every count a statement reports is checked against the
//! comparison's.
//!
//! Then what was written is read back and hashed canonically, against the
//! hashes of the source rows sent, and every table's count follows from the
//! counts its statements reported: the rest of each table was found equal
//! in this snapshot. That is the final verification; nothing is committed
//! by this module.

use std::path::Path;

use bytes::{BufMut, Bytes, BytesMut};
use futures_util::SinkExt;
use rusqlite::Connection;
use tokio_postgres::Client;

use super::{Delta, Error};
use crate::hash::digest::{TableDigest, write_value};
use crate::mapping::convert::Scratch;
use crate::plan::{Plan, TablePlan};
use crate::postgres::catalog::Catalog;
use crate::postgres::decode::copy_rows;
use crate::postgres::{self, encode, ident, keys};
use crate::sqlite;
use crate::sqlite::pool::rowid_name;
use super::scan::RowHasher;
use crate::verify::rows::{Row, SourceRow, TargetRow, choose_key, source_error};

/// COPY data is sent in buffers of about this size.
const BUFFER: usize = 1 << 20;
/// The staging table's marker of rows whose key the target has.
const MARK: &str = "\"ferry: key in target\"";
/// `ctid`s per DELETE statement.
const DELETE_BATCH: usize = 10_000;

fn server(what: String) -> impl FnOnce(tokio_postgres::Error) -> Error {
    move |e| Error::Target(postgres::Error::server(what, &e))
}

/// The staging table of table number `t` (temporary, dropped at commit).
fn stage_name(t: usize) -> String {
    format!("pg_temp.ferry_sync_{t}")
}

/// The staging table's column numbering the piece a row came in.
const PIECE: &str = "\"ferry: piece\"";

/// The key columns' target names (the table has a key).
fn key_targets(tp: &TablePlan) -> Vec<String> {
    choose_key(tp)
        .map(|k| {
            k.cols()
                .iter()
                .map(|&c| tp.map.columns[c].target.clone())
                .collect()
        })
        .unwrap_or_default()
}

fn join_on(tp: &TablePlan, a: &str, b: &str) -> String {
    let on: Vec<String> = key_targets(tp)
        .iter()
        .map(|k| format!("{a}.{0} = {b}.{0}", ident::quote(k)))
        .collect();
    on.join(" AND ")
}

fn target_cols(tp: &TablePlan, prefix: &str) -> String {
    tp.map
        .columns
        .iter()
        .map(|c| format!("{prefix}{}", ident::quote(&c.target)))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The target keeps the key unique with an index (a primary key, a unique
/// constraint or index on exactly the key's columns).
fn key_indexed(catalog: &Catalog, tp: &TablePlan) -> bool {
    let mut key = key_targets(tp);
    key.sort();
    !key.is_empty()
        && catalog.tables.get(&tp.map.target).is_some_and(|t| {
            t.unique_keys.iter().any(|u| {
                let mut u = u.clone();
                u.sort();
                u == key
            })
        })
}

/// How the statements joining the staged rows to the target are planned.
/// The staging table holds about 1 % of the target's rows: probing the
/// key's index once per staged row reads those rows, where the hash join
/// the planner prefers (it prices each probe as a random read) reads the
/// whole target (measured on FlashCase scale 1: 0.39 s for 5,104 rows of
/// studylog's million). Only where the index exists: without it a nested
/// loop would scan the target once per staged row.
async fn join_by_index(client: &Client, indexed: bool, table: &str) -> Result<(), Error> {
    let on = if indexed { "off" } else { "on" };
    client
        .batch_execute(&format!(
            "SET LOCAL enable_hashjoin = {on}; SET LOCAL enable_mergejoin = {on}"
        ))
        .await
        .map_err(server(format!("planning the writes of table {table:?}")))
}

/// Read the source rows `delta` names (or all, `whole`) and send them as
/// binary COPY data to `copy_sql`; returns the digest of the rows sent.
/// Unless `whole`, each row carries one more field, the staging table's
/// mark: true for a row whose key the target has (the comparison found it
/// there), NULL for a new one.
fn send_rows(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    conn: &Connection,
    tp: &TablePlan,
    delta: &Delta,
    whole: bool,
    (copy_sql, piece): (&str, i32),
) -> Result<(TableDigest, Vec<(i64, bool)>), Error> {
    let ctx = format!("writing the changed rows of table {:?}", tp.source.name);
    let sink = rt
        .block_on(client.copy_in::<_, Bytes>(copy_sql))
        .map_err(server(ctx.clone()))?;
    let mut sink = Box::pin(sink);
    let mut buf = BytesMut::with_capacity(BUFFER + BUFFER / 4);
    encode::write_header(&mut buf);
    let mut digest = TableDigest::default();
    let mut rejected = Vec::new();
    let mut staged = Staged {
        tp,
        buf: &mut buf,
        digest: &mut digest,
        scratch: Scratch::default(),
        bytes: Vec::new(),
        hs: Vec::new(),
        marked: !whole,
        piece,
    };
    let mut flush = |b: &mut BytesMut| -> Result<(), Error> {
        if b.len() >= BUFFER {
            rt.block_on(sink.send(b.split().freeze()))
                .map_err(server(ctx.clone()))?;
        }
        Ok(())
    };
    let cols: Vec<String> = tp
        .map
        .columns
        .iter()
        .map(|c| ident::quote(&c.source))
        .collect();
    let base = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        ident::quote(&tp.source.name)
    );
    match rowid_name(&tp.source) {
        Some(r) if !whole => {
            let changed: std::collections::HashSet<i64> = delta.changed.iter().copied().collect();
            let mut stmt = conn
                .prepare(&format!("{base} WHERE {r} = ?1"))
                .map_err(|e| source_error(tp, e))?;
            for &rowid in &delta.write {
                let mut rows = stmt.query([rowid]).map_err(|e| source_error(tp, e))?;
                if let Some(row) = rows.next().map_err(|e| source_error(tp, e))? {
                    let in_target = changed.contains(&rowid);
                    if !staged.row(row, None, in_target)? {
                        rejected.push((rowid, in_target));
                    }
                    flush(staged.buf)?;
                }
            }
        }
        _ => {
            // The whole table, or a table without rowid: rows picked by key.
            let wanted: std::collections::HashSet<u128> =
                delta.write_keys.iter().copied().collect();
            let changed: std::collections::HashSet<u128> =
                delta.changed_keys.iter().copied().collect();
            let key = if whole { None } else { choose_key(tp).ok() };
            let mut hasher = key.as_ref().map(|k| RowHasher::new(tp.map.columns.len(), Some(k), false));
            let mut stmt = conn.prepare(&base).map_err(|e| source_error(tp, e))?;
            let mut rows = stmt.query([]).map_err(|e| source_error(tp, e))?;
            while let Some(row) = rows.next().map_err(|e| source_error(tp, e))? {
                staged.row(row, hasher.as_mut().map(|h| (h, &wanted, &changed)), false)?;
                flush(staged.buf)?;
            }
        }
    }
    encode::write_trailer(staged.buf);
    rt.block_on(sink.send(buf.split().freeze()))
        .map_err(server(ctx.clone()))?;
    rt.block_on(sink.as_mut().finish()).map_err(server(ctx))?;
    Ok((digest, rejected))
}

/// Rows being encoded for COPY and hashed, with their reused buffers.
struct Staged<'a> {
    tp: &'a TablePlan,
    buf: &'a mut BytesMut,
    digest: &'a mut TableDigest,
    scratch: Scratch,
    bytes: Vec<u8>,
    hs: Vec<u8>,
    /// The rows carry the staging table's mark and piece number.
    marked: bool,
    piece: i32,
}

impl Staged<'_> {
    /// Encode and hash one source row; with `pick`, only a row whose key
    /// id is wanted (and in the target if among `changed`), else
    /// `in_target`. A row a bad-value policy rejects is left out, as the
    /// comparison left it out (false: left out).
    fn row(
        &mut self,
        row: &rusqlite::Row<'_>,
        pick: Option<(&mut RowHasher, &std::collections::HashSet<u128>, &std::collections::HashSet<u128>)>,
        mut in_target: bool,
    ) -> Result<bool, Error> {
        let tp = self.tp;
        let mut src = SourceRow {
            row,
            tp,
            scratch: &mut self.scratch,
        };
        if let Some((hasher, wanted, changed)) = pick {
            match hasher.row(&mut src)? {
                Some((id, _)) if wanted.contains(&id) => in_target = changed.contains(&id),
                _ => return Ok(true),
            }
        }
        let start = self.buf.len();
        encode::begin_row(self.buf, tp.map.columns.len() as i16 + 2 * i16::from(self.marked));
        self.bytes.clear();
        for i in 0..tp.map.columns.len() {
            let (buf, bytes, hs) = (&mut *self.buf, &mut self.bytes, &mut self.hs);
            let kept = src.with(i, |pg, v| {
                encode::write_value(buf, pg, v);
                write_value(bytes, pg, v, hs);
            })?;
            if kept.is_none() {
                self.buf.truncate(start);
                return Ok(false);
            }
        }
        if self.marked {
            // A binary boolean field: length 1, byte 1; or NULL.
            if in_target {
                self.buf.put_i32(1);
                self.buf.put_u8(1);
            } else {
                self.buf.put_i32(-1);
            }
            // The piece: an int4.
            self.buf.put_i32(4);
            self.buf.put_i32(self.piece);
        }
        self.digest.add_row(&blake3::hash(&self.bytes));
        Ok(true)
    }
}

/// The canonical digest of the target rows `select` returns.
async fn read_back(client: &Client, tp: &TablePlan, select: &str) -> Result<TableDigest, Error> {
    let mut digest = TableDigest::default();
    let (mut text, mut bytes, mut hs) = (String::new(), Vec::new(), Vec::new());
    copy_rows(client, select, &tp.map.target, |view| {
        let mut row = TargetRow {
            view,
            tp,
            text: &mut text,
        };
        bytes.clear();
        for i in 0..tp.map.columns.len() {
            row.with(i, |pg, v| write_value(&mut bytes, pg, v, &mut hs))?;
        }
        digest.add_row(&blake3::hash(&bytes));
        Ok::<(), Error>(())
    })
    .await?;
    Ok(digest)
}

async fn count(client: &Client, table: &str) -> Result<u64, Error> {
    let row = client
        .query_one(&format!("SELECT count(*) FROM {table}"), &[])
        .await
        .map_err(server(format!("counting {table}")))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Statement `sql` must change exactly `want` rows.
async fn exactly(client: &Client, sql: &str, want: u64, what: String) -> Result<(), Error> {
    let n = client
        .execute(sql, &[])
        .await
        .map_err(server(what.clone()))?;
    if n != want {
        return Err(Error::Other(format!(
            "{what}: {n} rows changed where the comparison found {want}"
        )));
    }
    Ok(())
}

/// Write one table's inserts and updates (or its reload); returns the
/// digest of the source rows sent.
#[allow(clippy::too_many_arguments)]
fn upsert(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    conn: &Connection,
    plan: &Plan,
    catalog: &Catalog,
    t: usize,
    d: &mut Delta,
    piece: i32,
) -> Result<TableDigest, Error> {
    let tp = &plan.tables[t];
    let table = ident::qualified(&plan.pg_schema, &tp.map.target);
    let what = |verb: &str| format!("{verb} table {:?}", tp.map.target);
    if d.reload() {
        rt.block_on(client.batch_execute(&format!("DELETE FROM {table}")))
            .map_err(server(what("emptying")))?;
        let copy = format!(
            "COPY {table} ({}) FROM STDIN (FORMAT binary)",
            target_cols(tp, "")
        );
        return Ok(send_rows(rt, client, conn, tp, d, true, (&copy, 0))?.0);
    }
    let stage = stage_name(t);
    if piece == 0 {
        let create = format!(
            "CREATE TEMP TABLE {stage} ON COMMIT DROP AS SELECT {}, NULL::boolean AS {MARK}, NULL::int4 AS {PIECE} FROM {table} WITH NO DATA",
            target_cols(tp, "")
        );
        rt.block_on(client.batch_execute(&create)).map_err(server(what("staging the rows of")))?;
    }
    let copy = format!("COPY {stage} ({}, {MARK}, {PIECE}) FROM STDIN (FORMAT binary)", target_cols(tp, ""));
    let (sent, rejected) = send_rows(rt, client, conn, tp, d, false, (&copy, piece))?;
    // Compared by stored values (the ledger), a changed or new row may fail
    // its conversion only now: left out as the load leaves it out, so a row
    // the target has is deleted.
    for (key, in_target) in rejected {
        if !d.by_key {
            return Err(Error::Other(format!(
                "table {:?}: row {key} was rejected by a bad-value policy after the comparison kept it",
                tp.source.name
            )));
        }
        if in_target {
            d.rows.replaced -= 1;
            d.rows.delete.push(key);
        } else {
            d.rows.inserted -= 1;
        }
        d.rows.source.rows -= 1;
        d.rejected.push(key);
    }
    let keys = key_targets(tp);
    let set: Vec<String> = tp
        .map
        .columns
        .iter()
        .filter(|c| !keys.contains(&c.target))
        .map(|c| format!("{0} = s.{0}", ident::quote(&c.target)))
        .collect();
    // The staged rows carry the comparison's mark (key in the target), read
    // in this transaction's snapshot under its lock, so no statement asks
    // the target again. New rows go in before the changed ones are updated,
    // so that an updated row may point at a new one (a self-reference, a
    // moved child) and a new row at any; each statement's count is checked
    // against the comparison's, so a wrong mark cannot pass.
    rt.block_on(async {
        join_by_index(client, key_indexed(catalog, tp), &tp.map.target).await?;
        if d.inserted > 0 {
            let sql = format!(
                "INSERT INTO {table} ({}) OVERRIDING SYSTEM VALUE SELECT {} FROM {stage} AS s WHERE s.{MARK} IS NULL AND s.{PIECE} = {piece}",
                target_cols(tp, ""),
                target_cols(tp, "s.")
            );
            exactly(client, &sql, d.inserted, what("inserting rows into")).await?;
        }
        if d.replaced > 0 && !set.is_empty() {
            let sql = format!(
                "UPDATE {table} AS t SET {} FROM {stage} AS s WHERE s.{MARK} AND s.{PIECE} = {piece} AND {}",
                set.join(", "),
                join_on(tp, "t", "s")
            );
            exactly(client, &sql, d.replaced, what("updating rows of")).await?;
        }
        Ok::<_, Error>(())
    })?;
    Ok(sent)
}

async fn delete(client: &Client, plan: &Plan, t: usize, d: &Delta) -> Result<(), Error> {
    let tp = &plan.tables[t];
    let table = ident::qualified(&plan.pg_schema, &tp.map.target);
    if d.by_key {
        return delete_keys(client, &table, tp, &d.delete).await;
    }
    for batch in d.delete.chunks(DELETE_BATCH) {
        let tids: Vec<String> = batch.iter().map(|&at| super::scan::ctid_text(at)).collect();
        let sql = format!("DELETE FROM {table} WHERE ctid = ANY($1::text[]::tid[])");
        let what = format!("deleting rows of table {:?}", tp.map.target);
        let n = client
            .execute(&sql, &[&tids])
            .await
            .map_err(server(what.clone()))?;
        if n != batch.len() as u64 {
            return Err(Error::Other(format!(
                "{what}: {n} rows deleted where the comparison found {}",
                batch.len()
            )));
        }
    }
    Ok(())
}

/// Delete the rows of a table compared with its ledger, by key (its
/// integer rowid key, the same value in the target).
async fn delete_keys(client: &Client, table: &str, tp: &TablePlan, keys: &[i64]) -> Result<(), Error> {
    let col = crate::ledger::eligible(tp)
        .ok_or_else(|| Error::Other(format!("table {:?}: no integer rowid key to delete by", tp.source.name)))?;
    let sql = format!("DELETE FROM {table} WHERE {} = ANY($1::int8[])", ident::quote(&tp.map.columns[col].target));
    let what = format!("deleting rows of table {:?}", tp.map.target);
    for batch in keys.chunks(DELETE_BATCH) {
        let n = client.execute(&sql, &[&batch]).await.map_err(server(what.clone()))?;
        if n != batch.len() as u64 {
            return Err(Error::Other(format!("{what}: {n} rows deleted where the comparison found {}", batch.len())));
        }
    }
    Ok(())
}

/// Write every table's differences on `client` (inside its transaction):
/// inserts and updates parents first, deletes children first, sequences,
/// then the read-back. Per table: verified (true for a table with nothing
/// to write, which the comparison found equal).
pub fn apply(
    rt: &tokio::runtime::Runtime,
    client: &Client,
    source: &Path,
    plan: &Plan,
    catalog: &Catalog,
    deltas: &mut [Delta],
) -> Result<Vec<bool>, Error> {
    let mut w = Writer::new(rt, client, source, plan, catalog)?;
    let mut order: Vec<usize> = (0..plan.tables.len()).filter(|&t| deltas[t].writes()).collect();
    order.sort_by_key(|&t| plan.tables[t].level);
    for &t in &order {
        w.upsert(t, &mut deltas[t])?;
    }
    for &t in order.iter().rev() {
        w.delete(t, &deltas[t])?;
    }
    w.finish(deltas)
}

/// The writes of one sync on the transaction's connection, in pieces (a
/// table, or one partition of it) that the caller orders: a piece's
/// inserts and updates once its parent tables have all of theirs, its
/// deletes once its child tables have all of theirs.
pub struct Writer<'a> {
    rt: &'a tokio::runtime::Runtime,
    client: &'a Client,
    conn: Connection,
    plan: &'a Plan,
    catalog: &'a Catalog,
    /// Per table: the digest of the source rows sent, and how many pieces
    /// went through its staging table (read back at the end).
    sent: Vec<TableDigest>,
    pieces: Vec<i32>,
}

impl<'a> Writer<'a> {
    pub fn new(rt: &'a tokio::runtime::Runtime, client: &'a Client, source: &Path, plan: &'a Plan, catalog: &'a Catalog) -> Result<Self, Error> {
        let (conn, _) = sqlite::snapshot::open_in_snapshot(source)?;
        let n = plan.tables.len();
        Ok(Writer { rt, client, conn, plan, catalog, sent: vec![TableDigest::default(); n], pieces: vec![0; n] })
    }

    /// The inserts and updates of one piece of table `t` (or its reload).
    /// A row a bad-value policy now rejects is taken out of `d`'s counts
    /// (and, if the target has it, added to its deletes).
    pub fn upsert(&mut self, t: usize, d: &mut Delta) -> Result<(), Error> {
        crate::interrupt::check()?;
        if !(d.reload() || !d.write.is_empty() || !d.write_keys.is_empty()) {
            return Ok(());
        }
        let sent = upsert(self.rt, self.client, &self.conn, self.plan, self.catalog, t, d, self.pieces[t])?;
        self.sent[t].merge(&sent);
        self.pieces[t] += 1;
        Ok(())
    }

    /// The deletes of one piece of table `t`.
    pub fn delete(&mut self, t: usize, d: &Delta) -> Result<(), Error> {
        crate::interrupt::check()?;
        if d.delete.is_empty() {
            return Ok(());
        }
        // A batch of ctids (or keys) is fetched row by row through a TID
        // scan (or the key's index), never by a scan of the whole table,
        // which the planner prefers from a few thousand on (0.29 s for
        // 10,000 of studylog's million rows).
        self.rt.block_on(async {
            self.client.batch_execute("SET LOCAL enable_seqscan = off").await.map_err(server("planning the deletes".to_string()))?;
            delete(self.client, self.plan, t, d).await?;
            self.client.batch_execute("SET LOCAL enable_seqscan = on").await.map_err(server("planning the deletes".to_string()))
        })
    }

    /// Sequences past the new rows, then the final check of every table
    /// (`deltas`: each table's whole delta, pieces summed).
    pub fn finish(self, deltas: &[Delta]) -> Result<Vec<bool>, Error> {
        let plan = self.plan;
        self.rt.block_on(async {
            let floors: Vec<(String, Option<(String, i64)>)> = (0..plan.tables.len())
                .filter(|&t| deltas[t].inserted > 0 || deltas[t].reload())
                .map(|t| (plan.tables[t].map.target.clone(), sequence_floor(&plan.tables[t])))
                .collect();
            keys::set_sequences(self.client, &plan.pg_schema, self.catalog, &floors).await?;
            // Every statement changed the rows the comparison counted
            // (checked as they ran), so a table now holds what it held,
            // plus the rows inserted, minus the rows deleted.
            let mut verified = Vec::with_capacity(plan.tables.len());
            for (t, (d, sent)) in deltas.iter().zip(&self.sent).enumerate() {
                verified.push(check(self.client, plan, self.catalog, t, d, sent).await?);
            }
            Ok(verified)
        })
    }
}

/// The floor of a rowid-alias key's sequence, from `sqlite_sequence`.
fn sequence_floor(tp: &TablePlan) -> Option<(String, i64)> {
    match (&tp.source.row_key, tp.sqlite_sequence) {
        (crate::model::RowKey::RowidAlias { column }, Some(n)) => tp
            .target_column(&tp.source.columns[*column].name)
            .map(|c| (c.to_string(), n)),
        _ => None,
    }
}

/// The final check of one written table: its count is the source's, and
/// the rows written read back as the source rows sent.
async fn check(
    client: &Client,
    plan: &Plan,
    catalog: &Catalog,
    t: usize,
    d: &Delta,
    sent: &TableDigest,
) -> Result<bool, Error> {
    let tp = &plan.tables[t];
    let table = ident::qualified(&plan.pg_schema, &tp.map.target);
    if d.reload() {
        if count(client, &table).await? != d.source.rows {
            return Ok(false);
        }
        let back = read_back(
            client,
            tp,
            &format!("SELECT {} FROM {table}", target_cols(tp, "")),
        )
        .await?;
        return Ok(back == d.source && *sent == d.source);
    }
    let rows_after = (d.target.rows + d.inserted).checked_sub(d.delete.len() as u64);
    if rows_after != Some(d.source.rows) {
        return Ok(false);
    }
    if d.write.is_empty() && d.write_keys.is_empty() {
        return Ok(true);
    }
    join_by_index(client, key_indexed(catalog, tp), &tp.map.target).await?;
    let select = format!("SELECT {} FROM {table} AS t JOIN {} AS s ON {}", target_cols(tp, "t."), stage_name(t), join_on(tp, "t", "s"));
    let back = read_back(client, tp, &select).await?;
    Ok(back == *sent && sent.rows == d.inserted + d.replaced)
}

/// The writing transaction's start: repeatable read, and every table of
/// the plan locked against other writers (readers go on) before the first
/// query takes the snapshot the comparison reads.
pub fn begin_sql(plan: &Plan) -> String {
    let mut sql = "BEGIN ISOLATION LEVEL REPEATABLE READ".to_string();
    if !plan.tables.is_empty() {
        let names: Vec<String> = plan
            .tables
            .iter()
            .map(|tp| ident::qualified(&plan.pg_schema, &tp.map.target))
            .collect();
        sql.push_str(&format!(
            "; LOCK TABLE {} IN EXCLUSIVE MODE",
            names.join(", ")
        ));
    }
    sql
}
