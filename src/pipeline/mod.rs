//! The load: readers convert and encode rows in parallel, writers stream
//! them into PostgreSQL with binary COPY, and bounded channels between them
//! keep memory flat.
//!
//! ```text
//!   rayon pool (-j readers)                     writer threads (--writers)
//!   chunk: rowid range of a table               one PostgreSQL connection each
//!   read → convert → encode → hash  ──Bytes──▶  BEGIN; TRUNCATE; COPY … FREEZE
//!   (one read-only SQLite connection            … chunks of the table …
//!    and cached statement per thread)           trailer; COMMIT
//! ```
//!
//! A table goes through exactly one connection, in one transaction, so a
//! failure at any point leaves it empty, never half loaded; `FREEZE` lets
//! the server skip WAL at `wal_level=minimal`. Several tables load side by
//! side, the biggest first. Buffers are about 1 MiB and each table's channel
//! holds a few of them, so peak memory is bounded by
//! `writers × (queue depth + readers) × buffer size` whatever the database size.

pub mod dry_run;
pub mod reader;
pub mod replay;
pub mod rejects;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use bytes::{Bytes, BytesMut};
use crossbeam_channel::{bounded, Receiver};
use futures_util::SinkExt;
use serde::Serialize;

use crate::error::Location;
use crate::plan::{Plan, TablePlan};
use crate::progress::TableBar;
use crate::postgres::{self, encode, ident, Target};
use crate::hash::digest::TableDigest;

pub use crate::sqlite::pool::Chunk;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("{location}: bad value {value}: {reason}")]
    BadValue { location: Location, value: String, reason: String },
    #[error("reading {location}: {message}")]
    Source { location: Location, message: String },
    #[error(transparent)]
    Target(#[from] postgres::Error),
    #[error(transparent)]
    Sqlite(#[from] crate::sqlite::Error),
    #[error("{location}: {value} does not fit the column's declared type; the type is chosen from the data instead")]
    NeedsWidening { location: Location, value: String },
    #[error("stopped: another table failed first")]
    Cancelled,
    #[error("interrupted; the tables in flight were rolled back")]
    Interrupted,
}

#[derive(Debug, Clone)]
pub struct Options {
    pub jobs: usize,
    pub writers: usize,
    pub chunk_rows: u64,
    pub buffer_bytes: usize,
    pub queue_depth: usize,
    /// `TRUNCATE` each table in its loading transaction, which also allows
    /// `COPY … FREEZE`. Off when foreign keys stay in place (PostgreSQL
    /// refuses to truncate a referenced table).
    pub truncate: bool,
    /// Load level by level in foreign-key order (keys kept in place).
    pub ordered: bool,
    pub progress: Option<crate::progress::Progress>,
    /// Called after each table's transaction committed (the run journal).
    pub on_commit: Option<OnCommit>,
    /// Reject file and counts of the `reject`/`null` bad-value policies.
    pub bad_values: Arc<rejects::BadValues>,
    /// Where readers write the ledger's segments (`ledger::Store::pending`),
    /// for the tables that can have one.
    pub ledger: Option<PathBuf>,
}

/// A callback run after each table commits.
#[derive(Clone)]
pub struct OnCommit(pub Arc<dyn Fn(&TableLoad) + Send + Sync>);

impl std::fmt::Debug for OnCommit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnCommit")
    }
}

impl Options {
    pub fn new(jobs: Option<usize>, writers: Option<usize>, chunk_rows: u64) -> Options {
        let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(2);
        Options {
            jobs: jobs.unwrap_or(cores).max(1),
            writers: writers.unwrap_or(cores).max(1),
            chunk_rows: chunk_rows.max(1),
            buffer_bytes: 1 << 20,
            queue_depth: 4,
            truncate: true,
            ordered: false,
            progress: None,
            on_commit: None,
            bad_values: Arc::new(rejects::BadValues::default()),
            ledger: None,
        }
    }
}

/// What one table's load did.
#[derive(Debug, Clone, Serialize)]
pub struct TableLoad {
    pub table: String,
    pub target: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    /// Offset of the start from the start of the load, for the timeline.
    pub started_at: f64,
    pub writer: usize,
    #[serde(skip)]
    pub digest: TableDigest,
    pub hash: String,
    /// Rows rejected, values NULLed or altered by the bad-value policies.
    pub bad: rejects::Counts,
}

pub enum Msg {
    /// Encoded rows, and how many.
    Data(Bytes, u64),
    ChunkDone(TableDigest),
    Failed(Error),
}

/// Load the tables `done` (the run journal) does not record as committed;
/// for the others, hash the source afresh so the final verification covers them.
pub fn load_remaining<V>(
    source: &Path,
    plan: &Plan,
    target: &Target,
    opts: &Options,
    done: &std::collections::BTreeMap<String, V>,
) -> Result<Vec<TableLoad>, Error> {
    let (skipped, todo): (Vec<TablePlan>, Vec<TablePlan>) =
        plan.tables.iter().cloned().partition(|t| done.contains_key(&t.source.name));
    let mut loads = Vec::new();
    if !todo.is_empty() {
        let sub = Plan { tables: todo, ..plan.clone() };
        loads = load(source, &sub, target, opts)?;
    }
    if !skipped.is_empty() {
        let sub = Plan { tables: skipped, ..plan.clone() };
        let digests = source_digests(source, &sub, opts)?;
        for (tp, d) in sub.tables.iter().zip(digests) {
            loads.push(TableLoad {
                table: tp.source.name.clone(),
                target: tp.map.target.clone(),
                rows: d.rows,
                bytes: 0,
                seconds: 0.0,
                started_at: 0.0,
                writer: 0,
                hash: d.hex(),
                digest: d,
                bad: opts.bad_values.counts(&tp.source.name),
            });
        }
    }
    Ok(loads)
}

/// Load every table of the plan. Tables are assumed created and empty.
pub fn load(source: &Path, plan: &Plan, target: &Target, opts: &Options) -> Result<Vec<TableLoad>, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .thread_name(|i| format!("ferry-reader-{i}"))
        .build()
        .map_err(|e| Error::Source { location: Location::table("*"), message: e.to_string() })?;
    let pool = Arc::new(pool);
    let groups = load_groups(plan, opts.ordered);
    let pending = Arc::new(tables_per_level(plan));
    let queue = Arc::new(Mutex::new(groups.into_iter()));
    let cancel = Arc::new(AtomicBool::new(false));
    let results = Arc::new(Mutex::new(Vec::new()));
    let first_error: Arc<Mutex<Option<Error>>> = Arc::new(Mutex::new(None));
    let start = Instant::now();
    let source: PathBuf = source.to_path_buf();
    let rt = postgres::runtime(2).map_err(|e| Error::Source { location: Location::table("*"), message: e.to_string() })?;
    let rt = &rt;

    std::thread::scope(|scope| {
        for w in 0..opts.writers.min(plan.tables.len()) {
            let (queue, cancel, results, first_error, pool, source, pending) = (
                queue.clone(),
                cancel.clone(),
                results.clone(),
                first_error.clone(),
                pool.clone(),
                source.clone(),
                pending.clone(),
            );
            std::thread::Builder::new()
                .name(format!("ferry-writer-{w}"))
                .spawn_scoped(scope, move || {
                    let client = match rt.block_on(target.connect()) {
                        Ok(c) => c,
                        Err(e) => {
                            record(&first_error, &cancel, e.into());
                            return;
                        }
                    };
                    loop {
                        if cancel.load(Ordering::SeqCst) {
                            return;
                        }
                        let Some(group) = queue.lock().expect("queue lock").next() else { return };
                        let level = group.iter().map(|&i| plan.tables[i].level).min().unwrap_or(0);
                        while opts.ordered && pending[..level].iter().any(|p| p.load(Ordering::SeqCst) > 0) {
                            if cancel.load(Ordering::SeqCst) {
                                return;
                            }
                            std::thread::sleep(std::time::Duration::from_millis(5));
                        }
                        let shared = Shared { source: &source, plan, opts, pool: &pool, cancel: &cancel, start };
                        let res = rt.block_on(load_group(&client, &shared, &group, w));
                        match res {
                            Ok(loads) => {
                                for &i in &group {
                                    pending[plan.tables[i].level].fetch_sub(1, Ordering::SeqCst);
                                }
                                results.lock().expect("results lock").extend(loads);
                            }
                            Err(e) => {
                                record(&first_error, &cancel, e);
                                return;
                            }
                        }
                    }
                })
                .expect("spawning a writer thread");
        }
    });

    if let Some(e) = first_error.lock().expect("error lock").take() {
        return Err(e);
    }
    let mut out = std::mem::take(&mut *results.lock().expect("results lock"));
    // Report in plan (load) order.
    out.sort_by_key(|r| plan.tables.iter().position(|t| t.source.name == r.table));
    Ok(out)
}

/// The tables in the order writers take them, in groups that load in one
/// transaction each.
fn load_groups(plan: &Plan, ordered: bool) -> Vec<Vec<usize>> {
    // Biggest tables first: the longest job starts earliest.
    // With keys in place, parents first: level by level, a level starting
    // only when every table of the levels before it is loaded.
    let mut queue: Vec<usize> = (0..plan.tables.len()).collect();
    if ordered {
        queue.sort_by_key(|&i| (plan.tables[i].level, std::cmp::Reverse(plan.tables[i].row_count)));
    } else {
        queue.sort_by_key(|&i| std::cmp::Reverse(plan.tables[i].row_count));
    }
    // With keys in place, the tables of a foreign-key cycle load in one
    // transaction, so that deferrable constraints are checked at its commit
    // with every table of the cycle loaded.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for i in queue {
        let name = &plan.tables[i].source.name;
        let cycle = plan.cycles.iter().find(|c| c.contains(name));
        match cycle {
            Some(c) if ordered => {
                if let Some(g) = groups.iter_mut().find(|g| c.contains(&plan.tables[g[0]].source.name)) {
                    g.push(i);
                } else {
                    groups.push(vec![i]);
                }
            }
            _ => groups.push(vec![i]),
        }
    }
    groups
}

/// Per FK level, how many tables are still to load (a level starts only
/// when every level before it is loaded).
fn tables_per_level(plan: &Plan) -> Vec<std::sync::atomic::AtomicUsize> {
    let max_level = plan.tables.iter().map(|t| t.level).max().unwrap_or(0);
    (0..=max_level)
        .map(|l| std::sync::atomic::AtomicUsize::new(plan.tables.iter().filter(|t| t.level == l).count()))
        .collect()
}

fn record(slot: &Mutex<Option<Error>>, cancel: &AtomicBool, e: Error) {
    let mut s = slot.lock().expect("error lock");
    // Keep the first real error, not the cancellations it caused.
    let e = if crate::interrupt::requested() { Error::Interrupted } else { e };
    if s.is_none() || matches!(*s, Some(Error::Cancelled)) && !matches!(e, Error::Cancelled) {
        *s = Some(e);
    }
    cancel.store(true, Ordering::SeqCst);
}

/// What the writers of one load share.
struct Shared<'a> {
    source: &'a Path,
    plan: &'a Plan,
    opts: &'a Options,
    pool: &'a rayon::ThreadPool,
    cancel: &'a Arc<AtomicBool>,
    /// When the load started (for each table's offset in the timeline).
    start: Instant,
}

/// Load a group of tables (usually one) in one transaction on `client`.
async fn load_group(client: &tokio_postgres::Client, shared: &Shared<'_>, group: &[usize], writer: usize) -> Result<Vec<TableLoad>, Error> {
    let (plan, opts, start) = (shared.plan, shared.opts, shared.start);
    let first = &plan.tables[group[0]].source.name;
    let begin = if opts.truncate {
        "BEGIN"
    } else {
        // Keys in place: deferrable constraints (cycles) are checked at commit.
        "BEGIN; SET CONSTRAINTS ALL DEFERRED"
    };
    client
        .batch_execute(begin)
        .await
        .map_err(|e| postgres::Error::server(format!("starting to load table {first:?}"), &e))?;
    let mut loads = Vec::new();
    // The tables' progress bars, whose rows stay counted once they commit.
    let mut bars = Vec::new();
    for &i in group {
        let tp = &plan.tables[i];
        let t0 = Instant::now();
        let bar = opts.progress.as_ref().map(|p| p.table(&tp.source.name, tp.row_count));
        let loaded = load_table(client, shared, tp, bar.as_ref()).await;
        bars.extend(bar);
        match loaded {
            Ok((rows, bytes, digest)) => loads.push(TableLoad {
                table: tp.source.name.clone(),
                target: tp.map.target.clone(),
                rows,
                bytes,
                seconds: t0.elapsed().as_secs_f64(),
                started_at: (t0 - start).as_secs_f64(),
                writer,
                hash: digest.hex(),
                digest,
                bad: opts.bad_values.counts(&tp.source.name),
            }),
            Err(e) => {
                // Every table of the group stays as it was: empty.
                let _ = client.batch_execute("ROLLBACK").await;
                return Err(e);
            }
        }
    }
    if let Err(e) = client.batch_execute("COMMIT").await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(postgres::Error::server(format!("committing table {first:?}"), &e).into());
    }
    bars.into_iter().for_each(TableBar::loaded);
    if let Some(f) = &opts.on_commit {
        loads.iter().for_each(|l| (f.0)(l));
    }
    Ok(loads)
}

/// Inside the group's transaction: empty the table if asked, then COPY the
/// readers' buffers in; the rows the server stored, the bytes sent and the
/// table's digest.
async fn load_table(
    client: &tokio_postgres::Client,
    shared: &Shared<'_>,
    tp: &TablePlan,
    bar: Option<&TableBar>,
) -> Result<(u64, u64, TableDigest), Error> {
    let (source, opts, pool, cancel) = (shared.source, shared.opts, shared.pool, shared.cancel);
    let table = ident::qualified(&shared.plan.pg_schema, &tp.map.target);
    let cols: Vec<String> = tp.map.columns.iter().map(|c| ident::quote(&c.target)).collect();
    if opts.truncate {
        client
            .batch_execute(&format!("TRUNCATE {table}"))
            .await
            .map_err(|e| postgres::Error::server(format!("emptying table {:?}", tp.source.name), &e))?;
    }
    let freeze = if opts.truncate { ", FREEZE" } else { "" };
    let copy_sql = format!("COPY {table} ({}) FROM STDIN (FORMAT binary{freeze})", cols.join(", "));
    let ctx = format!("loading table {:?}", tp.source.name);
    let sink = client.copy_in::<_, Bytes>(&copy_sql).await.map_err(|e| postgres::Error::server(&ctx, &e))?;
    let mut sink = Box::pin(sink);

    let chunks = tp.read_chunks(source, opts.chunk_rows)?;
    let n_chunks = chunks.len();
    let rx = spawn_readers(pool, source, tp, chunks, opts, cancel, opts.queue_depth + n_chunks.min(opts.jobs));

    let mut header = BytesMut::with_capacity(32);
    encode::write_header(&mut header);
    let mut bytes = header.len() as u64;
    sink.send(header.freeze()).await.map_err(|e| postgres::Error::server(&ctx, &e))?;
    let mut digest = TableDigest::default();
    let mut done = 0;
    while done < n_chunks {
        match recv(&rx).await {
            Some(Msg::Data(b, rows)) => {
                bytes += b.len() as u64;
                if let Some(bar) = &bar {
                    bar.inc(rows);
                }
                sink.send(b).await.map_err(|e| postgres::Error::server(&ctx, &e))?;
            }
            Some(Msg::ChunkDone(d)) => {
                digest.merge(&d);
                done += 1;
            }
            Some(Msg::Failed(e)) => {
                cancel.store(true, Ordering::SeqCst);
                return Err(e);
            }
            None => return Err(Error::Cancelled),
        }
    }
    let mut trailer = BytesMut::with_capacity(2);
    encode::write_trailer(&mut trailer);
    bytes += 2;
    sink.send(trailer.freeze()).await.map_err(|e| postgres::Error::server(&ctx, &e))?;
    let rows = sink.as_mut().finish().await.map_err(|e| postgres::Error::server(&ctx, &e))?;
    if rows != digest.rows {
        return Err(postgres::Error::Server {
            context: ctx,
            message: format!("PostgreSQL stored {rows} rows, ferry sent {}", digest.rows),
        }
        .into());
    }
    Ok((rows, bytes, digest))
}

/// Blocking receive. The writer thread runs its future with `block_on` on
/// the shared multi-threaded runtime, where the connection task lives on a
/// worker thread: blocking here holds back nobody but this table's COPY,
/// which has nothing to send until a reader delivers.
async fn recv(rx: &Receiver<Msg>) -> Option<Msg> {
    rx.recv().ok()
}

/// The folder of `tp`'s ledger segments, when the run keeps a ledger and
/// the table can have one.
fn ledger_dir(opts: &Options, tp: &TablePlan) -> Option<PathBuf> {
    let base = opts.ledger.as_ref()?;
    crate::ledger::eligible(tp).map(|_| crate::ledger::Store::table(base, &tp.source.name))
}

/// Put one reader job per chunk on the pool; each sends its buffers, then
/// `ChunkDone` (or `Failed`) on the returned bounded channel.
fn spawn_readers(
    pool: &rayon::ThreadPool,
    source: &Path,
    tp: &TablePlan,
    chunks: Vec<Chunk>,
    opts: &Options,
    cancel: &Arc<AtomicBool>,
    depth: usize,
) -> Receiver<Msg> {
    let (tx, rx) = bounded::<Msg>(depth);
    for chunk in chunks {
        let (tx, cancel, source, tp) = (tx.clone(), cancel.clone(), source.to_path_buf(), tp.clone());
        let (buffer_bytes, bad_values) = (opts.buffer_bytes, opts.bad_values.clone());
        let ledger = ledger_dir(opts, &tp);
        pool.spawn(move || {
            let msg = match reader::read_chunk(&source, &tp, &chunk, Some(buffer_bytes), &tx, &cancel, &bad_values, ledger.as_deref()) {
                Ok(digest) => Msg::ChunkDone(digest),
                Err(e) => Msg::Failed(e),
            };
            let _ = tx.send(msg);
        });
    }
    rx
}

/// The canonical digest of every planned table, read from the source with
/// the same readers and conversions the load uses, without encoding: the
/// rows are only hashed. Every table's chunks go into the pool at once,
/// biggest tables first, so no reader waits at a table's end. In plan order.
pub fn source_digests(source: &Path, plan: &Plan, opts: &Options) -> Result<Vec<TableDigest>, Error> {
    let pool = rayon::ThreadPoolBuilder::new()
        .num_threads(opts.jobs)
        .build()
        .map_err(|e| Error::Source { location: Location::table("*"), message: e.to_string() })?;
    let cancel = Arc::new(AtomicBool::new(false));
    let mut order: Vec<usize> = (0..plan.tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(plan.tables[i].row_count));
    // Only digests travel on this channel (a few per table): unbounded.
    let (tx, rx) = crossbeam_channel::unbounded::<(usize, Result<TableDigest, Error>)>();
    let mut left = 0usize;
    for &ti in &order {
        let tp = &plan.tables[ti];
        let chunks = if tp.chunks.is_empty() { crate::sqlite::pool::chunks(source, &tp.source, opts.chunk_rows)? } else { tp.chunks.clone() };
        left += chunks.len();
        for chunk in chunks {
            let (tx, cancel, source, tp) = (tx.clone(), cancel.clone(), source.to_path_buf(), tp.clone());
            let bad_values = opts.bad_values.clone();
            let ledger = ledger_dir(opts, &tp);
            pool.spawn(move || {
                if cancel.load(Ordering::Relaxed) {
                    let _ = tx.send((ti, Err(Error::Cancelled)));
                    return;
                }
                // No COPY data is made, so nothing is sent on this one.
                let (data_tx, _data_rx) = bounded::<Msg>(1);
                let r = reader::read_chunk(&source, &tp, &chunk, None, &data_tx, &cancel, &bad_values, ledger.as_deref());
                let _ = tx.send((ti, r));
            });
        }
    }
    drop(tx);
    let mut out = vec![TableDigest::default(); plan.tables.len()];
    while left > 0 {
        let Ok((ti, r)) = rx.recv() else { return Err(Error::Cancelled) };
        match r {
            Ok(d) => out[ti].merge(&d),
            Err(e) => {
                cancel.store(true, Ordering::SeqCst);
                return Err(e);
            }
        }
        left -= 1;
    }
    Ok(out)
}
