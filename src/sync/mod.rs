//! `sync`: bring a target that `migrate` filled from this source to the
//! source's current state, writing only the rows that differ.
//!
//! [`compare`] reads both sides once, partition by partition ([`scan`]), on
//! `jobs` workers that each hold a source connection in the run's snapshot
//! and a target connection in the snapshot the writing transaction
//! exported, so the comparison sees exactly the target the writes start
//! from. [`apply`] then writes the differences in that one transaction and
//! checks what it wrote by reading it back.
//!
//! The key that names rows is `verify::rows::choose_key` (the one
//! localization names rows by); a table without one is compared by its
//! digest and reloaded whole when it differs.

pub mod apply;
pub mod ledger;
pub mod stream;
pub mod scan;

use std::path::Path;
use std::sync::{Arc, Mutex};

use serde::Serialize;

use crate::plan::{Plan, TablePlan};
use crate::postgres::{self, Target, ident};
use crate::sqlite;
use crate::verify::rows::{Key, choose_key, int_hint, pos_int};
use scan::Part;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Verify(#[from] crate::verify::Error),
    #[error(transparent)]
    Target(#[from] postgres::Error),
    #[error(transparent)]
    Source(#[from] sqlite::Error),
    #[error(transparent)]
    Interrupted(#[from] crate::interrupt::Interrupted),
    #[error("{0}")]
    Other(String),
    /// Failed after the sync's transaction wrote (it is rolled back).
    #[error(transparent)]
    Write(Box<Error>),
}

impl From<crate::postgres::decode::NotCopy> for Error {
    fn from(e: crate::postgres::decode::NotCopy) -> Error {
        Error::Verify(e.into())
    }
}

/// What one table needs: the sum of its partitions' deltas (the same
/// fields, reached through `Deref`), and why a table without a key is
/// compared whole.
#[derive(Debug, Default)]
pub struct Delta {
    pub rows: scan::PartDelta,
    /// Why the table is compared whole and reloaded when it differs.
    pub keyless: Option<String>,
    /// Compared with the ledger: `delete` holds keys, not `ctid`s.
    pub by_key: bool,
    /// Rows a bad-value policy rejected when they were staged (their
    /// records in the next ledger become absent).
    pub rejected: Vec<i64>,
    /// Compared both sides whole and every partition wrote the source's
    /// records to the next ledger (with `rows.writers`, a new ledger).
    pub fresh: bool,
}

impl std::ops::Deref for Delta {
    type Target = scan::PartDelta;
    fn deref(&self) -> &scan::PartDelta {
        &self.rows
    }
}

/// How one table is compared.
#[derive(Debug, Clone, Copy)]
pub enum Mode<'a> {
    /// Its source rows against its ledger (the target is not read).
    Ledger(&'a crate::ledger::TableLedger),
    /// Both sides whole.
    Whole,
    /// Not at all (an empty delta).
    Skip,
}

/// Where the ledger is read (`current/`; None without one) and the next
/// one written (None in a dry run).
#[derive(Debug, Clone, Copy)]
pub struct LedgerIo<'a> {
    pub root: Option<&'a Path>,
    pub next: Option<&'a Path>,
}

impl Delta {
    /// The table is reloaded whole (no key, and its content differs).
    pub fn reload(&self) -> bool {
        self.keyless.is_some() && self.source != self.target
    }

    /// Anything to write.
    pub fn writes(&self) -> bool {
        self.reload()
            || !self.write.is_empty()
            || !self.write_keys.is_empty()
            || !self.delete.is_empty()
    }

    fn add(&mut self, d: scan::PartDelta) {
        self.rows.add(d);
    }

    /// The report line: what was (or, in a dry run, would be) written.
    pub fn summary(&self, table: &str, verified: Option<bool>) -> TableSync {
        let reload = self.reload();
        TableSync {
            table: table.to_string(),
            inserted: if reload {
                self.source.rows
            } else {
                self.inserted
            },
            deleted: if reload {
                self.target.rows
            } else {
                self.delete.len() as u64
            },
            replaced: if reload { 0 } else { self.replaced },
            reloaded: reload,
            ledger: self.by_key,
            rows: self.source.rows,
            verified,
            reason: if reload { self.keyless.clone() } else { None },
        }
    }
}

/// One table's line of the report (`--json`).
#[derive(Debug, Clone, Serialize)]
pub struct TableSync {
    pub table: String,
    pub inserted: u64,
    pub deleted: u64,
    pub replaced: u64,
    /// Reloaded whole: no usable key (`reason`).
    pub reloaded: bool,
    /// Compared with the ledger (the source read alone), not both sides.
    pub ledger: bool,
    /// Rows in the source (and, once synced, in the target).
    pub rows: u64,
    /// The final check of the target (None in a dry run).
    pub verified: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// Rows per partition of an integer key range (both sides' maps together
/// stay under ~10 MB per worker).
const RANGE_ROWS: u64 = 65_536;
/// Rows per partition of key hashes: each such partition scans the whole
/// table on both sides, so they are few and large (~60 MB per side).
const HASH_ROWS: u64 = 1_000_000;

/// The partitions of one table.
async fn parts(
    client: &tokio_postgres::Client,
    source: &Path,
    schema: &str,
    tp: &TablePlan,
    key: Option<&Key>,
    mode: Mode<'_>,
) -> Result<Vec<Part>, Error> {
    let rows = tp.row_count.max(1);
    match mode {
        Mode::Skip => return Ok(Vec::new()),
        // The last range first: new rows (keys past the old ones) are
        // there, and their inserts are the longest writes of a partition.
        Mode::Ledger(tl) if !tl.segments.is_empty() => return Ok((0..tl.segments.len()).rev().map(Part::Ledger).collect()),
        _ => {}
    }
    match key {
        None => Ok(vec![Part::Whole]),
        Some(Key::Int {
            col,
            rowid_alias: true,
        }) => {
            if rows <= RANGE_ROWS {
                return Ok(vec![Part::Range(i64::MIN, i64::MAX)]);
            }
            let sample = key_sample(client, schema, tp, *col, rows).await?;
            if sample.len() >= 2 {
                return Ok(sampled_ranges(&sample, rows));
            }
            let (lo, hi) = int_hint(client, source, schema, tp, *col).await?;
            Ok(int_ranges(pos_int(lo), pos_int(hi), rows))
        }
        Some(_) => {
            let n = u128::from(rows.div_ceil(HASH_ROWS).max(1));
            let span = u128::from(u64::MAX) + 1;
            Ok((0..n)
                .map(|k| Part::Hashed((span * k / n) as u64, (span * (k + 1) / n - 1) as u64))
                .collect())
        }
    }
}

/// Keys of a sample of the target's blocks (`TABLESAMPLE SYSTEM`, about a
/// hundred keys per range to come), sorted: where the keys are dense, so
/// that ranges hold about as many rows each however the keys are spread.
async fn key_sample(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan, col: usize, rows: u64) -> Result<Vec<i64>, Error> {
    let pct = (100.0 * 100.0 * rows.div_ceil(RANGE_ROWS) as f64 / rows as f64).min(100.0);
    let k = ident::quote(&tp.map.columns[col].target);
    let sql = format!(
        "SELECT {k}::int8 FROM {} TABLESAMPLE SYSTEM ({pct:.6}) WHERE {k} IS NOT NULL ORDER BY 1",
        ident::qualified(schema, &tp.map.target)
    );
    let found = client
        .query(&sql, &[])
        .await
        .map_err(|e| postgres::Error::server(format!("sampling the keys of table {:?}", tp.map.target), &e))?;
    Ok(found.iter().map(|r| r.get::<_, i64>(0)).collect())
}

/// Ranges cut at the sample's quantiles, the first from `i64::MIN` and the
/// last to `i64::MAX`, so that every key is in exactly one range.
fn sampled_ranges(sample: &[i64], rows: u64) -> Vec<Part> {
    let n = rows.div_ceil(RANGE_ROWS).max(1) as usize;
    let mut out = Vec::new();
    let mut a = i64::MIN;
    for i in 1..n {
        let cut = sample[sample.len() * i / n];
        if cut > a {
            out.push(Part::Range(a, cut - 1));
            a = cut;
        }
    }
    out.push(Part::Range(a, i64::MAX));
    out
}

/// Key ranges of about `RANGE_ROWS` rows over the keys `[lo, hi]` (both
/// sides' smallest and largest), the first from `i64::MIN` and the last to
/// `i64::MAX`, so that every key is in exactly one range.
fn int_ranges(lo: i64, hi: i64, rows: u64) -> Vec<Part> {
    let (lo, hi) = (i128::from(lo), i128::from(hi.max(lo)));
    let n = i128::from(rows.div_ceil(RANGE_ROWS).max(1));
    let step = ((hi - lo + 1) / n).max(1);
    let mut out = Vec::new();
    let mut a = i128::from(i64::MIN);
    for k in 1..=n {
        let b = if k == n { i128::from(i64::MAX) } else { (lo + step * k - 1).min(i128::from(i64::MAX)) };
        if b >= a {
            out.push(Part::Range(a as i64, b as i64));
            a = b + 1;
        }
    }
    out
}

/// Open a target connection reading in the exported snapshot (if any).
pub async fn reader(target: &Target, snapshot: Option<&str>) -> Result<tokio_postgres::Client, Error> {
    let client = target.connect().await?;
    if let Some(id) = snapshot {
        let sql = format!(
            "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY; SET TRANSACTION SNAPSHOT {}",
            ident::literal(id)
        );
        client
            .batch_execute(&sql)
            .await
            .map_err(|e| postgres::Error::server("importing the sync's snapshot", &e))?;
    }
    Ok(client)
}

/// Start the sync's transaction on `lead` and export its snapshot for the
/// comparing workers (None where the server cannot export one). A dry run
/// reads only; a real run first locks every table of the plan against other
/// writers (readers go on), so the rows compared are the rows written over.
pub async fn begin(
    lead: &tokio_postgres::Client,
    plan: &Plan,
    dry_run: bool,
) -> Result<Option<String>, Error> {
    let sql = if dry_run {
        "BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY".to_string()
    } else {
        apply::begin_sql(plan)
    };
    lead.batch_execute(&sql).await.map_err(|e| {
        postgres::Error::server("starting the sync's transaction (locking its tables)", &e)
    })?;
    Ok(lead
        .query_one("SELECT pg_export_snapshot()", &[])
        .await
        .ok()
        .map(|r| r.get(0)))
}

/// Commit (or, `commit` false, roll back) the sync's transaction.
pub async fn end(lead: &tokio_postgres::Client, commit: bool) -> Result<(), Error> {
    let sql = if commit { "COMMIT" } else { "ROLLBACK" };
    lead.batch_execute(sql)
        .await
        .map_err(|e| postgres::Error::server("ending the sync's transaction", &e))?;
    Ok(())
}

/// Compare every table of `plan` as `modes` says: per table, the rows to
/// write and delete. Results in the order of `plan.tables`.
#[allow(clippy::too_many_arguments)]
pub fn compare(
    rt: &tokio::runtime::Runtime,
    source: &Path,
    target: &Target,
    plan: &Plan,
    snapshot: Option<&str>,
    jobs: usize,
    modes: &[Mode<'_>],
    io: Option<LedgerIo<'_>>,
    sink: Option<&crossbeam_channel::Sender<stream::Streamed>>,
) -> Result<Vec<Delta>, Error> {
    let tables: Vec<Arc<TablePlan>> = plan.tables.iter().cloned().map(Arc::new).collect();
    let keys: Vec<Result<Key, String>> = tables.iter().map(|tp| choose_key(tp)).collect();
    // A table compared whole whose rows are named by rowid gets a ledger
    // on the way (its source records, its target's writers), so that the
    // next sync reads the source alone again.
    let next = io.and_then(|i| i.next);
    let heal: Vec<bool> = tables
        .iter()
        .zip(&keys)
        .zip(modes)
        .map(|((tp, k), m)| {
            matches!(m, Mode::Whole)
                && next.is_some()
                && crate::ledger::eligible(tp).is_some()
                && matches!(k, Ok(Key::Int { rowid_alias: true, .. }))
        })
        .collect();
    let mut deltas: Vec<Delta> = keys
        .iter()
        .zip(modes)
        .zip(&heal)
        .map(|((k, m), &fresh)| Delta {
            keyless: k.as_ref().err().cloned(),
            by_key: matches!(m, Mode::Ledger(tl) if !tl.segments.is_empty()),
            fresh,
            ..Delta::default()
        })
        .collect();
    let work: Vec<(usize, Part)> = rt.block_on(async {
        let client = reader(target, snapshot).await?;
        let mut work = Vec::new();
        for (t, (tp, key)) in tables.iter().zip(&keys).enumerate() {
            for p in parts(&client, source, &plan.pg_schema, tp, key.as_ref().ok(), modes[t]).await? {
                work.push((t, p));
            }
        }
        Ok::<_, Error>(work)
    })?;
    if let Some(sink) = sink {
        let mut counts = vec![0; tables.len()];
        work.iter().filter(|(_, p)| matches!(p, Part::Ledger(_))).for_each(|(t, _)| counts[*t] += 1);
        sink.send(stream::Streamed::Parts(counts)).map_err(|_| Error::Other("the writer stopped".into()))?;
    }
    let keys: Vec<Option<Arc<Key>>> = keys.into_iter().map(|k| k.ok().map(Arc::new)).collect();
    let queue = Mutex::new(work.into_iter());
    let results = Mutex::new(&mut deltas);
    let first_error: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                if let Err(e) = worker(
                    rt,
                    source,
                    target,
                    &plan.pg_schema,
                    snapshot,
                    &tables,
                    &keys,
                    Ways { modes, io, sink, heal: &heal },
                    &queue,
                    &results,
                ) {
                    queue.lock().expect("queue lock").by_ref().for_each(drop);
                    first_error.lock().expect("error lock").get_or_insert(e);
                }
            });
        }
    });
    if let Some(e) = first_error.into_inner().expect("error lock") {
        return Err(e);
    }
    Ok(deltas)
}

/// How a worker compares each table and where its results go.
struct Ways<'a> {
    modes: &'a [Mode<'a>],
    io: Option<LedgerIo<'a>>,
    /// Ledger partitions go to the writer (else into the results).
    sink: Option<&'a crossbeam_channel::Sender<stream::Streamed>>,
    /// Per table: compared whole, also making its next ledger.
    heal: &'a [bool],
}

/// One worker: partitions from the queue until it is empty, the target
/// side on the runtime while the source side reads on this thread.
#[allow(clippy::too_many_arguments)]
fn worker(
    rt: &tokio::runtime::Runtime,
    source: &Path,
    target: &Target,
    schema: &str,
    snapshot: Option<&str>,
    tables: &[Arc<TablePlan>],
    keys: &[Option<Arc<Key>>],
    Ways { modes, io, sink, heal }: Ways<'_>,
    queue: &Mutex<std::vec::IntoIter<(usize, Part)>>,
    results: &Mutex<&mut Vec<Delta>>,
) -> Result<(), Error> {
    let (conn, _) = sqlite::snapshot::open_in_snapshot(source)?;
    let mut client = None;
    loop {
        crate::interrupt::check()?;
        let Some((t, part)) = queue.lock().expect("queue lock").next() else {
            return Ok(());
        };
        if let (Part::Ledger(seg), Mode::Ledger(tl), Some(LedgerIo { root: Some(root), next })) = (part, modes[t], io) {
            let d = ledger::scan(&conn, &tables[t], tl, root, seg, next)?;
            match sink {
                Some(sink) => sink.send(stream::Streamed::Part(t, Box::new(d))).map_err(|_| Error::Other("the writer stopped".into()))?,
                None => results.lock().expect("results lock")[t].add(d),
            }
            continue;
        }
        // A target connection only for the partitions that read the target.
        let client = match &client {
            Some(c) => Arc::clone(c),
            None => client.insert(Arc::new(rt.block_on(reader(target, snapshot))?)).clone(),
        };
        let (tp, key) = (tables[t].clone(), keys[t].clone());
        let target_task = {
            let (client, tp, key, schema) =
                (client.clone(), tp.clone(), key.clone(), schema.to_string());
            let heal = heal[t];
            rt.spawn(
                async move { scan::target_side(&client, &schema, &tp, key.as_deref(), part, heal).await },
            )
        };
        let src = scan::source_side(&conn, &tp, key.as_deref(), part, heal[t]);
        let tgt = match rt.block_on(target_task) {
            Ok(r) => r,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        let mut src = src?;
        let mut written = true;
        if let (true, Part::Range(lo, _), Some(next)) = (heal[t], part, io.and_then(|i| i.next)) {
            let dir = crate::ledger::Store::table(next, &tp.source.name);
            written = crate::ledger::write_segments(&dir, lo, &std::mem::take(&mut src.records)).is_ok();
        }
        let d = scan::delta(src, tgt?, sqlite::pool::rowid_name(&tp.source).is_some());
        let mut results = results.lock().expect("results lock");
        results[t].add(d);
        results[t].fresh &= written;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_ranges_cover_every_key_once() {
        let parts = int_ranges(1, 1_000_000, 300_000);
        assert_eq!(parts.len(), 5);
        let mut next = i64::MIN;
        for p in &parts {
            let Part::Range(a, b) = *p else { panic!("{p:?}") };
            assert_eq!(a, next, "contiguous");
            assert!(b >= a);
            next = b.wrapping_add(1);
        }
        assert_eq!(parts.last(), Some(&Part::Range(800_001, i64::MAX)));
        assert_eq!(parts[0], Part::Range(i64::MIN, 200_000));
        // Extreme keys and one row: one range over everything.
        assert_eq!(int_ranges(i64::MIN, i64::MAX, 1), vec![Part::Range(i64::MIN, i64::MAX)]);
        assert_eq!(int_ranges(5, 5, 10_000_000).first(), Some(&Part::Range(i64::MIN, 5)));
    }

    #[test]
    fn sampled_ranges_follow_the_dense_keys() {
        // Keys 1..=1000 dense and one far away: four ranges of the dense ones.
        let mut sample: Vec<i64> = (1..=1000).collect();
        sample.push(1_000_000_000);
        let parts = sampled_ranges(&sample, 4 * RANGE_ROWS);
        assert_eq!(parts.len(), 4);
        assert_eq!(parts[0], Part::Range(i64::MIN, 250));
        assert_eq!(parts[1], Part::Range(251, 500));
        assert_eq!(parts[3], Part::Range(751, i64::MAX));
        // Repeated cuts collapse; coverage stays whole.
        let parts = sampled_ranges(&[7, 7, 7, 7], 4 * RANGE_ROWS);
        assert_eq!(parts, vec![Part::Range(i64::MIN, 6), Part::Range(7, i64::MAX)]);
    }
}
