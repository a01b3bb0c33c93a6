//! Verify: row counts first, then the canonical content hash of every table
//! on both sides.
//!
//! The target side is read with `COPY (SELECT …) TO STDOUT (FORMAT binary)`
//! and each field is decoded by its column's type into the same [`Value`]
//! the source side produced, then hashed by `digest::write_value`. Hashing
//! meaning rather than bytes is what makes jsonb key order, numeric scale or
//! the session time zone irrelevant.

pub mod diff;
pub mod localize;
pub mod rows;

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::mapping::types::PgType;
use crate::plan::{Plan, TablePlan};
use crate::postgres::decode::{copy_rows, decode, NotCopy};
use crate::postgres::{self, ident, Target};
use crate::hash::digest::{DigestBuilder, TableDigest};

pub use diff::{DiffKind, Difference};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Target(#[from] postgres::Error),
    #[error("table {table:?}, column {column:?}: cannot decode the value PostgreSQL sent: {reason}")]
    Decode { table: String, column: String, reason: String },
    #[error("reading table {table:?} from the source: {message}")]
    Source { table: String, message: String },
}

impl From<NotCopy> for Error {
    fn from(e: NotCopy) -> Error {
        Error::Decode { table: e.table, column: "*".into(), reason: "not a binary COPY stream".into() }
    }
}

/// The outcome for one table.
#[derive(Debug, Clone, Serialize)]
pub struct TableCheck {
    pub table: String,
    pub source_rows: u64,
    pub target_rows: u64,
    pub source_hash: Option<String>,
    pub target_hash: Option<String>,
    pub status: Status,
    /// The rows that differ, by key, when the table differs (at most
    /// `--max-diffs`); see [`localize`].
    pub differences: Vec<Difference>,
    /// More rows differ than `differences` lists.
    pub more_differences: bool,
    /// Why the differing rows could not be named (no key), if so.
    pub unlocated: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Equal,
    CountDiffers,
    ContentDiffers,
    /// Counts only (content hash not computed, e.g. `--no-verify`).
    CountEqual,
    /// A migration-history table with the same revisions on both sides:
    /// compared, not loaded (`plan::history`).
    SameRevisions,
    /// A migration-history table whose revisions differ.
    RevisionsDiffer,
    /// A framework's own state table: the target's rows are kept.
    Kept,
}

impl TableCheck {
    /// Counts first: a count mismatch is the status whatever the hashes say.
    pub fn compare(table: &str, source: &TableDigest, target: &TableDigest) -> TableCheck {
        let status = if source.rows != target.rows {
            Status::CountDiffers
        } else if source != target {
            Status::ContentDiffers
        } else {
            Status::Equal
        };
        TableCheck {
            source_hash: Some(source.hex()),
            target_hash: Some(target.hex()),
            ..TableCheck::counts(table, source.rows, target.rows, None, status)
        }
    }

    /// A check from row counts alone.
    pub fn counts(table: &str, source_rows: u64, target_rows: u64, source_hash: Option<String>, status: Status) -> TableCheck {
        TableCheck {
            table: table.to_string(),
            source_rows,
            target_rows,
            source_hash,
            target_hash: None,
            status,
            differences: Vec::new(),
            more_differences: false,
            unlocated: None,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Equal | Status::CountEqual | Status::SameRevisions | Status::Kept)
    }
}

/// `SELECT count(*)` of a target table.
pub async fn target_count(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan) -> Result<u64, Error> {
    let sql = format!("SELECT count(*) FROM {}", ident::qualified(schema, &tp.map.target));
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| postgres::Error::server(format!("counting rows of table {:?}", tp.map.target), &e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// `SELECT` list of the plan's target columns, in plan order (`1` when the
/// table has no mapped column, so that every row still yields a row).
pub(crate) fn select_list(tp: &TablePlan) -> String {
    if tp.map.columns.is_empty() {
        return "1".to_string();
    }
    tp.map.columns.iter().map(|c| ident::quote(&c.target)).collect::<Vec<_>>().join(", ")
}

/// The transactions whose row versions a table holds (their 32-bit
/// `xmin`s), as a verification read them; `too_many` past [`MAX_WRITERS`].
#[derive(Debug, Clone, Default)]
pub struct Writers {
    pub xids: std::collections::BTreeSet<u32>,
    pub too_many: bool,
}

/// Distinct writing transactions a table's [`Writers`] names at most.
pub const MAX_WRITERS: usize = 64;

impl Writers {
    pub fn add(&mut self, xid: u32) {
        if !self.too_many && !self.xids.contains(&xid) {
            self.xids.insert(xid);
            self.too_many = self.xids.len() > MAX_WRITERS;
        }
    }

    pub fn merge(&mut self, other: &Writers) {
        self.too_many |= other.too_many;
        other.xids.iter().for_each(|&x| self.add(x));
    }

    /// Note a row's binary `xmin` field (an unreadable one: too many to
    /// name).
    pub fn note(&mut self, field: Option<&[u8]>) {
        match field.and_then(|b| b.try_into().ok()).map(u32::from_be_bytes) {
            Some(x) => self.add(x),
            None => self.too_many = true,
        }
    }

    /// The transactions as 64-bit ids, given the `xmax` of the snapshot
    /// they were read in: the largest id below it with the same low 32
    /// bits. None when they cannot name the rows' writers: too many, or a
    /// special id (frozen, bootstrap).
    pub fn widened(&self, xmax: i64) -> Option<Vec<i64>> {
        if self.too_many || self.xids.iter().any(|&x| x < 3) {
            return None;
        }
        Some(self.xids.iter().map(|&x| xmax - i64::from((xmax as u32).wrapping_sub(x))).collect())
    }
}

/// What a verification read of the target found besides the digests: per
/// table, the transactions that wrote its rows, and the snapshot's `xmax`
/// (64-bit), above every one of them.
#[derive(Debug, Clone, Default)]
pub struct Written {
    pub writers: Vec<Writers>,
    pub xmax: Option<i64>,
}

/// Read one piece of a target table back and hash it canonically (with
/// `writers`, also note the rows' `xmin`s).
async fn piece_digest(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan, blocks: &Blocks, writers: Option<&mut Writers>) -> Result<TableDigest, Error> {
    let xmin = if writers.is_some() { ", xmin" } else { "" };
    let mut sql = format!("SELECT {}{xmin} FROM {}", select_list(tp), ident::qualified(schema, &tp.map.target));
    sql.push_str(&blocks.condition());
    let mut digest = DigestBuilder::default();
    let mut scratch = Vec::new();
    let mut text = String::new();
    let ncols = if tp.map.columns.is_empty() { 1 } else { tp.map.columns.len() };
    let mut writers = writers;
    copy_rows(client, &sql, &tp.map.target, |row| {
        if let Some(w) = writers.as_deref_mut() {
            w.note(row.field(ncols));
        }
        let row_bytes = digest.row();
        for (i, cm) in tp.map.columns.iter().enumerate() {
            match (&cm.pg_type, row.field(i)) {
                // Text hashes as its bytes, unchecked: bytes that are not
                // UTF-8 cannot equal the source's, which are.
                (PgType::Text | PgType::Varchar(_) | PgType::Enum { .. }, Some(f)) => crate::hash::digest::write_text(row_bytes, f),
                (PgType::Char(_), Some(f)) => {
                    crate::hash::digest::write_text(row_bytes, crate::hash::digest::bpchar_significant(f))
                }
                (pg, field) => {
                    let value = decode(pg, field, &mut text).map_err(|r| decode_error(tp, &cm.target, r))?;
                    crate::hash::digest::write_value(row_bytes, pg, &value, &mut scratch);
                }
            }
        }
        digest.end_row();
        Ok::<(), Error>(())
    })
    .await?;
    Ok(digest.finish())
}

/// Which heap blocks of a table a piece reads: `[from, to)`, open-ended
/// when `to` is None (rows written past the size measured still count).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Blocks {
    from: u64,
    to: Option<u64>,
}

impl Blocks {
    const WHOLE: Blocks = Blocks { from: 0, to: None };

    /// The `WHERE` clause (PostgreSQL 14's TID range scan reads only those
    /// blocks); empty for the whole table.
    fn condition(&self) -> String {
        match (self.from, self.to) {
            (0, None) => String::new(),
            (0, Some(to)) => format!(" WHERE ctid < '({to},0)'::tid"),
            (from, None) => format!(" WHERE ctid >= '({from},0)'::tid"),
            (from, Some(to)) => format!(" WHERE ctid >= '({from},0)'::tid AND ctid < '({to},0)'::tid"),
        }
    }
}

/// Cut tables into pieces of about `piece_blocks` heap blocks (tables whose
/// size is unknown, or that are not plain tables, stay whole). Pieces come
/// biggest first, so that the last ones to finish are small.
fn pieces(sizes: &[Option<u64>], piece_blocks: u64) -> Vec<(usize, Blocks)> {
    let mut out: Vec<(u64, usize, Blocks)> = Vec::new();
    for (t, size) in sizes.iter().enumerate() {
        let Some(blocks) = *size else {
            out.push((u64::MAX, t, Blocks::WHOLE));
            continue;
        };
        let n = blocks.div_ceil(piece_blocks.max(1)).max(1);
        let step = blocks.div_ceil(n).max(1);
        for k in 0..n {
            let from = k * step;
            let to = if k + 1 == n { None } else { Some((k + 1) * step) };
            out.push((step.min(blocks.saturating_sub(from)), t, Blocks { from, to }));
        }
    }
    out.sort_by_key(|&(weight, t, b)| (std::cmp::Reverse(weight), t, b.from));
    out.into_iter().map(|(_, t, b)| (t, b)).collect()
}

/// Pieces are at least this many blocks (8 MiB of 8 kB blocks): smaller
/// ones cost more in queries than they gain in balance.
const MIN_PIECE_BLOCKS: u64 = 1024;

/// Each table's size in heap blocks, when it is a plain table on a server
/// with TID range scans (PostgreSQL 14); None otherwise.
async fn table_blocks(client: &tokio_postgres::Client, schema: &str, tables: &[TablePlan]) -> Result<Vec<Option<u64>>, Error> {
    let ctx = "measuring the target tables";
    let version: i32 = client
        .query_one("SELECT current_setting('server_version_num')::int", &[])
        .await
        .map_err(|e| postgres::Error::server(ctx, &e))?
        .get(0);
    if version < 140_000 {
        return Ok(vec![None; tables.len()]);
    }
    let names: Vec<String> = tables.iter().map(|tp| ident::qualified(schema, &tp.map.target)).collect();
    let rows = client
        .query(
            "SELECT (SELECT pg_relation_size(c.oid) / current_setting('block_size')::bigint
                       FROM pg_class c WHERE c.oid = to_regclass(n) AND c.relkind = 'r')
               FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i",
            &[&names],
        )
        .await
        .map_err(|e| postgres::Error::server(ctx, &e))?;
    Ok(rows.iter().map(|r| r.get::<_, Option<i64>>(0).map(|b| b as u64)).collect())
}

/// Read every table back and hash it, on `connections` connections at once.
/// Big tables are read in pieces (ranges of heap blocks), so that one big
/// table does not leave the other connections idle; every connection reads
/// in the snapshot a lead connection exports, so that the pieces and the
/// tables are one moment of the target even while it is written to.
/// Results in the order of `tables`.
/// With `writers`, also the transactions that wrote each table's rows
/// ([`Written`]).
pub async fn target_digests(
    target: &Target,
    schema: &str,
    tables: &[TablePlan],
    connections: usize,
    writers: bool,
) -> Result<(Vec<TableDigest>, Written), Error> {
    let lead = target.connect().await?;
    // The moment first: sizes are measured inside it (a table's last piece
    // is open-ended, so rows in blocks added since still count).
    let snapshot = export_snapshot(&lead).await?;
    let mut written = Written { writers: vec![Writers::default(); tables.len()], xmax: None };
    if writers && snapshot.is_some() {
        written.xmax = crate::postgres::catalog::snapshot_xmax(&lead).await.ok();
    }
    let written = Arc::new(Mutex::new(written));
    let sizes = table_blocks(&lead, schema, tables).await?;
    let total: u64 = sizes.iter().flatten().sum();
    let work = pieces(&sizes, (total / (connections.max(1) as u64 * 4)).max(MIN_PIECE_BLOCKS));
    let connections = connections.clamp(1, work.len().max(1));
    let queue = Arc::new(Mutex::new(work.into_iter()));
    let tables: Arc<Vec<TablePlan>> = Arc::new(tables.to_vec());
    let results: Arc<Mutex<Vec<TableDigest>>> = Arc::new(Mutex::new(vec![TableDigest::default(); tables.len()]));
    let mut tasks = Vec::new();
    for _ in 0..connections {
        let (queue, tables, results, target, schema, snapshot, written) =
            (queue.clone(), tables.clone(), results.clone(), target.clone(), schema.to_string(), snapshot.clone(), written.clone());
        tasks.push(tokio::spawn(async move {
            let client = target.connect().await?;
            if let Some(id) = &snapshot {
                let sql = format!(
                    "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
                    ident::literal(id)
                );
                client.batch_execute(&sql).await.map_err(|e| postgres::Error::server("importing the lead's snapshot", &e))?;
            }
            loop {
                let Some((t, blocks)) = queue.lock().expect("queue lock").next() else { return Ok::<_, Error>(()) };
                let mut w = writers.then(Writers::default);
                match piece_digest(&client, &schema, &tables[t], &blocks, w.as_mut()).await {
                    Ok(d) => {
                        results.lock().expect("results lock")[t].merge(&d);
                        if let Some(w) = w {
                            written.lock().expect("writers lock").writers[t].merge(&w);
                        }
                    }
                    Err(e) => {
                        // The others stop after their current piece.
                        queue.lock().expect("queue lock").by_ref().for_each(drop);
                        return Err(e);
                    }
                }
            }
        }));
    }
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
    // The lead's transaction held the snapshot until every reader was done.
    drop(lead);
    if let Some(e) = first_error {
        return Err(e);
    }
    let written = std::mem::take(&mut *written.lock().expect("writers lock"));
    Ok((std::mem::take(&mut *results.lock().expect("results lock")), written))
}

/// Open a read-only repeatable-read transaction on `lead` and export its
/// snapshot for the readers; None where the server cannot export one (a
/// standby before PostgreSQL 10, a pooler in transaction mode): the readers
/// then each see the target as it is when they start.
async fn export_snapshot(lead: &tokio_postgres::Client) -> Result<Option<String>, Error> {
    let begin = "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY";
    lead.batch_execute(begin).await.map_err(|e| postgres::Error::server("starting the verification snapshot", &e))?;
    match lead.query_one("SELECT pg_export_snapshot()", &[]).await {
        Ok(row) => Ok(Some(row.get(0))),
        Err(_) => {
            lead.batch_execute("ROLLBACK").await.map_err(|e| postgres::Error::server("starting the verification snapshot", &e))?;
            Ok(None)
        }
    }
}

/// What the load says it sent for one table (the caller takes it from the
/// load's record): verification compares the target with this, and never
/// looks at the code that loaded.
#[derive(Debug, Clone, Copy)]
pub struct Sent<'a> {
    pub table: &'a str,
    /// Rows sent.
    pub rows: u64,
    /// Rows a bad-value policy rejected (not sent).
    pub rejected: u64,
    /// The canonical digest of the rows sent, and its hex form.
    pub digest: &'a TableDigest,
    pub hash: &'a str,
}

/// Target connections reading tables side by side.
pub const READ_CONNECTIONS: usize = 4;

/// After a load: compare every table of `plan` with what the load sent
/// (`loads`), counts first, then (with `hash`) content hashes read back on
/// a few connections at once; tables that differ are localized against
/// `source` (at most `max_diffs` rows each). With the hashes, also which
/// transactions wrote each table's rows (the ledger's `xids`).
pub async fn check_loaded(
    target: &Target,
    plan: &Plan,
    loads: &[Sent<'_>],
    hash: bool,
    source: &Path,
    max_diffs: usize,
) -> Result<(Vec<TableCheck>, Written), Error> {
    let client = target.connect().await?;
    let load_of = |tp: &TablePlan| -> Result<&Sent<'_>, Error> {
        loads.iter().find(|l| l.table == tp.source.name).ok_or_else(|| Error::Source {
            table: tp.source.name.clone(),
            message: "the table was not loaded".into(),
        })
    };
    let mut checks = Vec::new();
    let mut written = Written::default();
    if hash {
        let (digests, w) = target_digests(target, &plan.pg_schema, &plan.tables, READ_CONNECTIONS, true).await?;
        written = w;
        for (tp, d) in plan.tables.iter().zip(&digests) {
            let load = load_of(tp)?;
            let mut c = TableCheck::compare(&tp.source.name, load.digest, d);
            // Rows rejected by the bad-value policy were never sent.
            if load.rows + load.rejected != tp.row_count {
                // The source changed under the load: the count it had first.
                c.source_rows = tp.row_count;
                c.status = Status::CountDiffers;
            }
            checks.push(c);
        }
    } else {
        for tp in &plan.tables {
            let load = load_of(tp)?;
            let count = target_count(&client, &plan.pg_schema, tp).await?;
            let status =
                if count != load.rows || load.rows + load.rejected != tp.row_count { Status::CountDiffers } else { Status::CountEqual };
            let source_rows = if status == Status::CountDiffers { tp.row_count } else { load.rows };
            checks.push(TableCheck::counts(&tp.source.name, source_rows, count, Some(load.hash.to_string()), status));
        }
    }
    for (tp, c) in plan.tables.iter().zip(checks.iter_mut()) {
        localize::localize(&client, source, &plan.pg_schema, tp, c, max_diffs).await?;
    }
    Ok((checks, written))
}

fn decode_error(tp: &TablePlan, column: &str, reason: &str) -> Error {
    Error::Decode { table: tp.map.target.clone(), column: column.to_string(), reason: reason.to_string() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writers_widen_below_the_horizon() {
        let w = |xs: &[u32]| Writers { xids: xs.iter().copied().collect(), too_many: false };
        assert_eq!(w(&[100]).widened(200), Some(vec![100]));
        assert_eq!(w(&[200]).widened((1 << 32) + 300), Some(vec![(1 << 32) + 200]));
        // Across an epoch: an xmin from before the wrap.
        assert_eq!(w(&[u32::MAX - 5]).widened((1 << 32) + 10), Some(vec![(1 << 32) - 6]));
        // A frozen or special id, or too many: no names.
        assert_eq!(w(&[2, 100]).widened(200), None);
        assert_eq!(Writers { too_many: true, ..w(&[100]) }.widened(200), None);
        let mut n = Writers::default();
        n.note(Some(&[0, 0, 1, 0]));
        n.note(Some(&[0, 0, 1, 0]));
        assert_eq!(n.xids.iter().copied().collect::<Vec<_>>(), vec![256]);
        n.note(None);
        assert!(n.too_many);
    }

    #[test]
    fn pieces_cover_each_table_once_biggest_first() {
        let sizes = [Some(0), Some(5000), None, Some(1000), Some(2049)];
        let work = pieces(&sizes, 1024);
        for (t, size) in sizes.iter().enumerate() {
            let mut mine: Vec<Blocks> = work.iter().filter(|(i, _)| *i == t).map(|(_, b)| *b).collect();
            mine.sort_by_key(|b| b.from);
            // Contiguous from block 0, the last one open-ended.
            assert_eq!(mine[0].from, 0, "table {t}");
            assert_eq!(mine.last().unwrap().to, None, "table {t}");
            for w in mine.windows(2) {
                assert_eq!(w[0].to, Some(w[1].from), "table {t}");
            }
            let want = match size {
                Some(b) if *b > 1024 => b.div_ceil(1024) as usize,
                _ => 1,
            };
            assert_eq!(mine.len(), want, "table {t}: {mine:?}");
        }
        // The table of unknown size first, then the 1000-block pieces, the
        // 683-block ones, the empty table last.
        assert_eq!(work[0], (2, Blocks::WHOLE));
        assert_eq!(work[1], (1, Blocks { from: 0, to: Some(1000) }));
        assert_eq!(work[7], (4, Blocks { from: 0, to: Some(683) }));
        assert_eq!(work.last(), Some(&(0, Blocks::WHOLE)));
        assert_eq!(Blocks::WHOLE.condition(), "");
        assert_eq!(Blocks { from: 0, to: Some(7) }.condition(), " WHERE ctid < '(7,0)'::tid");
        assert_eq!(Blocks { from: 7, to: None }.condition(), " WHERE ctid >= '(7,0)'::tid");
        assert_eq!(Blocks { from: 7, to: Some(9) }.condition(), " WHERE ctid >= '(7,0)'::tid AND ctid < '(9,0)'::tid");
    }
}
