//! Localization: when a table's count or hash differs, name the rows.
//!
//! Every row has a *position* in a 64-bit key space, computed the same way
//! on both sides from the converted (source) or decoded (target) key:
//!
//! * a single integer key (the rowid alias, or any one-column integer key):
//!   the integer itself, order-preserving (`k XOR 2^63` as u64; NULL sorts
//!   first). Ranges of positions are ranges of keys, so both sides read a
//!   range with `WHERE k BETWEEN a AND b` (SQLite only for the rowid alias,
//!   where the column *is* the rowid; a plain integer column may hold text
//!   that the converter accepts but SQL would compare as text, so the source
//!   then scans and filters after conversion).
//! * any other key (composite, text, WITHOUT ROWID…): the first 8 bytes of
//!   blake3 over the key's canonical bytes (`digest::write_value` of each key
//!   column), big-endian. Both sides scan the table and keep the rows whose
//!   position falls in a range of interest.
//!
//! The search is breadth-first. A range with many rows is split into
//! buckets (about [`Settings::leaf_rows`]/4 rows each) whose digests (count
//! and sum of row hashes, as for the table) are computed on both sides in
//! one pass; buckets that differ are searched next. A range with few rows
//! is a *leaf*: both sides list (key → row hashes, per-column hashes) and
//! the lists are compared as multisets, which tells rows *missing in
//! target*, *extra in target* (including duplicates) and *different* (same
//! key, other content, naming the columns). Every differing bucket holds at
//! least one difference, so no more than `max_diffs` ranges are ever kept:
//! memory is bounded by `max_diffs × leaf_rows` rows of hashes, whatever the
//! table's size, and the number of passes is the depth of the search
//! (usually two or three).
//!
//! A table without a key (no primary key, no usable unique index) cannot
//! have its rows named; its counts and hash are reported, with the reason.

use std::collections::{BTreeMap, VecDeque};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::diff::{show_key, show_value, Change, DiffKind, Difference};
use super::rows::{choose_key, int_hint, int_pos, pos_int, source_error, Key, Row, SourceRow, TargetRow};
use super::{select_list, Error, TableCheck};
use crate::hash::digest::{hash_value, write_value, TableDigest};
use crate::mapping::convert::{Scratch, Value};
use crate::plan::TablePlan;
use crate::postgres::decode::copy_rows;
use crate::postgres::ident;
use crate::sqlite;


/// Tuning of the search; the defaults suit any table size.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    /// A range with at most this many rows (both sides together) is compared
    /// row by row.
    pub leaf_rows: u64,
    /// Ranges searched per pass (each pass reads both sides once).
    pub ranges_per_pass: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings { leaf_rows: 512, ranges_per_pass: 256 }
    }
}

const MIN_BUCKETS: u64 = 16;
const MAX_BUCKETS: u64 = 16_384;


/// A range of positions `[lo, hi]` to search: split into buckets starting
/// at `starts` (the first is `lo`), or, when `starts` is empty, a leaf.
#[derive(Debug, Clone)]
struct Work {
    lo: u64,
    hi: u64,
    starts: Vec<u64>,
}

impl Work {
    fn new(lo: u64, hi: u64, hint: (u64, u64), rows: u64, s: &Settings) -> Work {
        if rows <= s.leaf_rows || lo == hi {
            return Work { lo, hi, starts: Vec::new() };
        }
        let n = rows.div_ceil((s.leaf_rows / 4).max(1)).clamp(MIN_BUCKETS, MAX_BUCKETS);
        Work { lo, hi, starts: split(lo, hi, hint, n) }
    }

    fn bucket_end(&self, i: usize) -> u64 {
        self.starts.get(i + 1).map_or(self.hi, |s| s - 1)
    }
}

/// Start positions of up to `n` buckets covering `[lo, hi]`, evenly spaced
/// over `hint` (where the keys are) clamped to the range; the first and the
/// last bucket reach the range's ends, so every position has a bucket.
fn split(lo: u64, hi: u64, hint: (u64, u64), n: u64) -> Vec<u64> {
    let (mut a, mut b) = (hint.0.max(lo), hint.1.min(hi));
    if a > b {
        (a, b) = (lo, hi);
    }
    let span = (b - a) as u128 + 1;
    let n = (n as u128).min(span).max(1);
    let mut starts = vec![lo];
    for i in 1..n {
        let s = (a as u128 + span * i / n) as u64;
        if s > *starts.last().expect("not empty") {
            starts.push(s);
        }
    }
    starts
}

/// Rows of one key in a leaf, grouped by content.
#[derive(Debug)]
struct KeyRows {
    text: String,
    values: Vec<serde_json::Value>,
    /// By row hash: each distinct content once, with its count.
    rows: BTreeMap<[u8; 32], LeafRow>,
}

#[derive(Debug)]
struct LeafRow {
    /// Per column: the first 8 bytes of blake3 over its canonical encoding.
    cols: Vec<u64>,
    /// Per column: the value as shown (text, JSON), for `different` rows.
    shown: Vec<(String, serde_json::Value)>,
    n: u64,
}

type Leaf = BTreeMap<(u64, Vec<u8>), KeyRows>;

/// A bucket's digest, and where its keys lie (positions), so that a
/// bucket searched further is split over its data, not over its range.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    digest: TableDigest,
    min: u64,
    max: u64,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket { digest: TableDigest::default(), min: u64::MAX, max: 0 }
    }
}

enum Got {
    Buckets(Vec<Bucket>),
    Leaf(Leaf),
}


/// One side's results for a pass: per work, bucket digests or leaf rows.
struct Collector<'a> {
    tp: &'a TablePlan,
    key: &'a Key,
    key_cols: Vec<usize>,
    works: &'a [Work],
    out: Vec<Got>,
    key_bytes: Vec<u8>,
    scratch: Vec<u8>,
}

impl<'a> Collector<'a> {
    fn new(tp: &'a TablePlan, key: &'a Key, works: &'a [Work]) -> Self {
        let out = works
            .iter()
            .map(|w| {
                if w.starts.is_empty() {
                    Got::Leaf(BTreeMap::new())
                } else {
                    Got::Buckets(vec![Bucket::default(); w.starts.len()])
                }
            })
            .collect();
        Collector { tp, key, key_cols: key.cols(), works, out, key_bytes: Vec::new(), scratch: Vec::new() }
    }

    fn add(&mut self, row: &mut impl Row) -> Result<(), Error> {
        self.key_bytes.clear();
        let pos = match self.key {
            Key::Int { col, .. } => {
                let (kb, sc) = (&mut self.key_bytes, &mut self.scratch);
                let pos = row.with(*col, |pg, v| {
                    write_value(kb, pg, v, sc);
                    match v {
                        Value::Int(i) => int_pos(*i),
                        _ => 0, // NULL: before every integer.
                    }
                })?;
                let Some(pos) = pos else { return Ok(()) };
                pos
            }
            Key::Hashed { cols } => {
                for &c in cols {
                    let (kb, sc) = (&mut self.key_bytes, &mut self.scratch);
                    if row.with(c, |pg, v| write_value(kb, pg, v, sc))?.is_none() {
                        return Ok(());
                    }
                }
                let h = blake3::hash(&self.key_bytes);
                u64::from_be_bytes(h.as_bytes()[..8].try_into().expect("8 bytes"))
            }
        };
        // The work whose range holds `pos`, if any.
        let w = self.works.partition_point(|w| w.lo <= pos);
        if w == 0 || self.works[w - 1].hi < pos {
            return Ok(());
        }
        let w = w - 1;
        let ncols = self.tp.map.columns.len();
        let leaf = matches!(self.out[w], Got::Leaf(_));
        let mut h = blake3::Hasher::new();
        let mut cols = Vec::with_capacity(if leaf { ncols } else { 0 });
        let mut shown = Vec::with_capacity(if leaf { ncols } else { 0 });
        for i in 0..ncols {
            let sc = &mut self.scratch;
            let col_hash = row.with(i, |pg, v| {
                hash_value(&mut h, pg, v, sc);
                leaf.then(|| {
                    let mut ch = blake3::Hasher::new();
                    hash_value(&mut ch, pg, v, sc);
                    (u64::from_le_bytes(ch.finalize().as_bytes()[..8].try_into().expect("8 bytes")), show_value(v))
                })
            })?;
            let Some(col_hash) = col_hash else { return Ok(()) };
            if let Some((c, s)) = col_hash {
                cols.push(c);
                shown.push(s);
            }
        }
        let hash = h.finalize();
        match &mut self.out[w] {
            Got::Buckets(d) => {
                let b = &mut d[self.works[w].starts.partition_point(|s| *s <= pos) - 1];
                b.digest.add_row(&hash);
                b.min = b.min.min(pos);
                b.max = b.max.max(pos);
            }
            Got::Leaf(map) => {
                let entry = match map.entry((pos, self.key_bytes.clone())) {
                    std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
                    std::collections::btree_map::Entry::Vacant(v) => {
                        let (text, values) = show_key(self.tp, &self.key_cols, row)?;
                        v.insert(KeyRows { text, values, rows: BTreeMap::new() })
                    }
                };
                entry.rows.entry(*hash.as_bytes()).or_insert(LeafRow { cols, shown, n: 0 }).n += 1;
            }
        }
        Ok(())
    }
}


/// The source side of a pass, on its own read-only connection.
fn source_pass(path: &Path, tp: &TablePlan, key: &Key, works: &[Work]) -> Result<Vec<Got>, Error> {
    let (conn, _) = sqlite::snapshot::open_in_snapshot(path).map_err(|e| source_error(tp, format!("{e:#}")))?;
    let cols: Vec<String> = tp.map.columns.iter().map(|c| ident::quote(&c.source)).collect();
    let base = format!("SELECT {} FROM {}", cols.join(", "), ident::quote(&tp.source.name));
    let mut coll = Collector::new(tp, key, works);
    let mut scratch = Scratch::default();
    let mut scan = |stmt: &mut rusqlite::Statement<'_>, params: &[i64]| -> Result<(), Error> {
        let mut rows = stmt.query(rusqlite::params_from_iter(params)).map_err(|e| source_error(tp, e))?;
        while let Some(row) = rows.next().map_err(|e| source_error(tp, e))? {
            coll.add(&mut SourceRow { row, tp, scratch: &mut scratch })?;
        }
        Ok(())
    };
    match key {
        Key::Int { col, rowid_alias: true } => {
            let k = ident::quote(&tp.map.columns[*col].source);
            let mut stmt =
                conn.prepare(&format!("{base} WHERE {k} BETWEEN ?1 AND ?2")).map_err(|e| source_error(tp, e))?;
            for w in works {
                scan(&mut stmt, &[pos_int(w.lo), pos_int(w.hi)])?;
            }
        }
        _ => {
            let mut stmt = conn.prepare(&base).map_err(|e| source_error(tp, e))?;
            scan(&mut stmt, &[])?;
        }
    }
    Ok(coll.out)
}

/// The target side of a pass.
async fn target_pass(
    client: &tokio_postgres::Client,
    schema: &str,
    tp: &TablePlan,
    key: &Key,
    works: &[Work],
) -> Result<Vec<Got>, Error> {
    let base = format!("SELECT {} FROM {}", select_list(tp), ident::qualified(schema, &tp.map.target));
    let mut coll = Collector::new(tp, key, works);
    let mut text = String::new();
    match key {
        Key::Int { col, .. } => {
            let k = ident::quote(&tp.map.columns[*col].target);
            for w in works {
                let mut cond = format!("{k} BETWEEN {} AND {}", pos_int(w.lo), pos_int(w.hi));
                if w.lo == 0 {
                    cond = format!("({cond} OR {k} IS NULL)");
                }
                copy_rows(client, &format!("{base} WHERE {cond}"), &tp.map.target, |view| {
                    coll.add(&mut TargetRow { view, tp, text: &mut text })
                })
                .await?;
            }
        }
        Key::Hashed { .. } => {
            copy_rows(client, &base, &tp.map.target, |view| coll.add(&mut TargetRow { view, tp, text: &mut text })).await?;
        }
    }
    Ok(coll.out)
}


/// Compare a leaf's rows: multisets of row hashes per key.
type Found = Vec<((u64, Vec<u8>), Difference)>;

fn compare_leaf(tp: &TablePlan, key_columns: &[String], src: Leaf, mut tgt: Leaf, out: &mut Found, limit: usize) {
    let mut keys: Vec<(u64, Vec<u8>)> = src.keys().cloned().collect();
    keys.extend(tgt.keys().filter(|k| !src.contains_key(*k)).cloned());
    keys.sort();
    let mut src = src;
    for k in keys {
        if out.len() >= limit {
            return;
        }
        let mut s = src.remove(&k);
        let mut t = tgt.remove(&k);
        let (text, values) = match (&s, &t) {
            (Some(r), _) | (None, Some(r)) => (r.text.clone(), r.values.clone()),
            (None, None) => continue,
        };
        let mut s_rows = s.as_mut().map(|r| std::mem::take(&mut r.rows)).unwrap_or_default();
        let mut t_rows = t.as_mut().map(|r| std::mem::take(&mut r.rows)).unwrap_or_default();
        // The same content on both sides cancels, as often as it occurs on both.
        for (h, sr) in &mut s_rows {
            if let Some(tr) = t_rows.get_mut(h) {
                let m = sr.n.min(tr.n);
                sr.n -= m;
                tr.n -= m;
            }
        }
        let mut s_rows: Vec<LeafRow> = s_rows.into_values().filter(|r| r.n > 0).collect();
        let mut t_rows: Vec<LeafRow> = t_rows.into_values().filter(|r| r.n > 0).collect();
        let diff = |kind, columns, changes, rows| Difference {
            table: tp.source.name.clone(),
            kind,
            key: text.clone(),
            key_columns: key_columns.to_vec(),
            key_values: values.clone(),
            columns,
            changes,
            rows,
        };
        // Pair what is left on both sides: same key, other content.
        let (mut si, mut ti) = (0, 0);
        while si < s_rows.len() && ti < t_rows.len() && out.len() < limit {
            let (sr, tr) = (&mut s_rows[si], &mut t_rows[ti]);
            let differing: Vec<usize> = (0..tp.map.columns.len()).filter(|i| sr.cols.get(*i) != tr.cols.get(*i)).collect();
            let cols: Vec<String> = differing.iter().map(|&i| tp.map.columns[i].source.clone()).collect();
            let changes: Vec<Change> = differing
                .iter()
                .filter_map(|&i| {
                    let (s, t) = (sr.shown.get(i)?, tr.shown.get(i)?);
                    Some(Change {
                        column: tp.map.columns[i].source.clone(),
                        source: s.1.clone(),
                        target: t.1.clone(),
                        shown: (s.0.clone(), t.0.clone()),
                    })
                })
                .collect();
            out.push((k.clone(), diff(DiffKind::Different, cols, changes, 1)));
            sr.n -= 1;
            tr.n -= 1;
            if sr.n == 0 {
                si += 1;
            }
            if tr.n == 0 {
                ti += 1;
            }
        }
        let missing: u64 = s_rows[si.min(s_rows.len())..].iter().map(|r| r.n).sum();
        let extra: u64 = t_rows[ti.min(t_rows.len())..].iter().map(|r| r.n).sum();
        if missing > 0 && out.len() < limit {
            out.push((k.clone(), diff(DiffKind::MissingInTarget, Vec::new(), Vec::new(), missing)));
        }
        if extra > 0 && out.len() < limit {
            out.push((k.clone(), diff(DiffKind::ExtraInTarget, Vec::new(), Vec::new(), extra)));
        }
    }
}

/// Name the rows behind a table's count or hash mismatch: fills
/// `check.differences` (at most `max_diffs`), `more_differences`, and
/// `unlocated` when rows cannot be named. Does nothing for a table that
/// matches.
pub async fn localize(
    client: &tokio_postgres::Client,
    source: &Path,
    schema: &str,
    tp: &TablePlan,
    check: &mut TableCheck,
    max_diffs: usize,
) -> Result<(), Error> {
    localize_with(client, source, schema, tp, check, max_diffs, &Settings::default()).await
}

pub async fn localize_with(
    client: &tokio_postgres::Client,
    source: &Path,
    schema: &str,
    tp: &TablePlan,
    check: &mut TableCheck,
    max_diffs: usize,
    settings: &Settings,
) -> Result<(), Error> {
    if check.ok() {
        return Ok(());
    }
    let key = match choose_key(tp) {
        Ok(k) => Arc::new(k),
        Err(why) => {
            check.unlocated = Some(why);
            return Ok(());
        }
    };
    if max_diffs == 0 {
        check.more_differences = true;
        return Ok(());
    }
    let hint = match &*key {
        Key::Int { col, .. } => int_hint(client, source, schema, tp, *col).await?,
        Key::Hashed { .. } => (0, u64::MAX),
    };
    let key_columns: Vec<String> = key.cols().iter().map(|&c| tp.map.columns[c].source.clone()).collect();
    let total = check.source_rows + check.target_rows;
    let mut queue: VecDeque<Work> = VecDeque::from([Work::new(0, u64::MAX, hint, total, settings)]);
    let mut diffs: Found = Vec::new();
    let mut more = false;
    let source: PathBuf = source.to_path_buf();
    let tp_arc = Arc::new(tp.clone());
    while !queue.is_empty() && diffs.len() < max_diffs {
        let n = queue.len().min(settings.ranges_per_pass.max(1));
        let batch: Arc<Vec<Work>> = Arc::new(queue.drain(..n).collect());
        let src_task = {
            let (source, tp, key, batch) = (source.clone(), tp_arc.clone(), key.clone(), batch.clone());
            tokio::task::spawn_blocking(move || source_pass(&source, &tp, &key, &batch))
        };
        let tgt = target_pass(client, schema, tp, &key, &batch).await;
        let src = src_task.await.expect("source pass task")?;
        let tgt = tgt?;
        for ((w, s), t) in batch.iter().zip(src).zip(tgt) {
            match (s, t) {
                (Got::Buckets(s), Got::Buckets(t)) => {
                    for (i, (sb, tb)) in s.iter().zip(&t).enumerate() {
                        if sb.digest != tb.digest {
                            let (lo, hi) = (w.starts[i], w.bucket_end(i));
                            let hint = (sb.min.min(tb.min), sb.max.max(tb.max));
                            queue.push_back(Work::new(lo, hi, hint, sb.digest.rows + tb.digest.rows, settings));
                        }
                    }
                }
                (Got::Leaf(s), Got::Leaf(t)) => compare_leaf(tp, &key_columns, s, t, &mut diffs, max_diffs + 1),
                _ => unreachable!("both sides collect the same shapes"),
            }
        }
        // Every range left to search holds at least one difference: keep
        // no more than can still be reported.
        let room = max_diffs.saturating_sub(diffs.len());
        if queue.len() > room {
            queue.truncate(room);
            more = true;
        }
    }
    if diffs.len() > max_diffs || (!queue.is_empty() && diffs.len() >= max_diffs) {
        more = true;
    }
    diffs.truncate(max_diffs);
    // In key order (integer keys), else in the order of their hashes.
    diffs.sort_by(|a, b| a.0.cmp(&b.0));
    if diffs.is_empty() && !more {
        check.unlocated = Some(
            "the table's content differs but no row could be named (the difference may be in how a key converts)".into(),
        );
    }
    check.differences = diffs.into_iter().map(|(_, d)| d).collect();
    check.more_differences = more;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn int_positions_keep_order() {
        let ks = [i64::MIN, -5, -1, 0, 1, 42, i64::MAX];
        for w in ks.windows(2) {
            assert!(int_pos(w[0]) < int_pos(w[1]));
        }
        for k in ks {
            assert_eq!(pos_int(int_pos(k)), k);
        }
    }

    #[test]
    fn split_covers_the_range_and_follows_the_hint() {
        let s = split(0, u64::MAX, (int_pos(1), int_pos(1000)), 10);
        assert_eq!(s[0], 0, "first bucket reaches the start of the range");
        assert_eq!(s.len(), 10);
        assert!(s.windows(2).all(|w| w[0] < w[1]));
        // Interior boundaries fall inside the data: keys 1..=1000 spread out.
        assert_eq!(pos_int(s[1]), 101);
        assert_eq!(pos_int(s[9]), 901);
        // A small range gets one bucket per value at most.
        let s = split(10, 12, (10, 12), 64);
        assert_eq!(s, vec![10, 11, 12]);
        // A hint outside the range falls back to the range.
        let s = split(100, 199, (0, 5), 4);
        assert_eq!(s, vec![100, 125, 150, 175]);
    }

    #[test]
    fn work_becomes_a_leaf_when_small() {
        let st = Settings { leaf_rows: 100, ranges_per_pass: 8 };
        assert!(Work::new(0, 1000, (0, 1000), 100, &st).starts.is_empty());
        assert!(Work::new(7, 7, (7, 7), 1_000_000, &st).starts.is_empty(), "one position cannot split");
        let w = Work::new(0, 1000, (0, 1000), 10_000, &st);
        assert_eq!(w.starts.len(), 400);
        assert_eq!(w.bucket_end(w.starts.len() - 1), 1000);
        assert_eq!(w.bucket_end(0) + 1, w.starts[1]);
    }
}
