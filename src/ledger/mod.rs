//! The ledger: what ferry last wrote into each target table, one record per
//! source row, so that `sync` finds the rows that changed since by reading
//! the source alone.
//!
//! A record is a row's rowid and a fingerprint of its *stored* SQLite
//! values (storage class and bytes, before any conversion: no date parsing,
//! no UTF-8 check, a third of the work of the canonical hash), and whether
//! the row is absent from the target (a bad-value policy rejected it). The
//! load writes the records of each chunk as it reads it (`Segments`, one
//! file per chunk, in rowid order); `migrate` adopts a table's records only
//! once its verification found the target equal to the rows sent, and then
//! notes which transactions wrote the table's rows (their `xmin`s).
//!
//! Why the target need not be read again: a row version carries the id of
//! the transaction that wrote it. If a table holds as many rows as the
//! ledger says and every row's `xmin` is one of the transactions the ledger
//! names, no other transaction inserted or changed a row (it would have
//! left its own id) nor deleted one (the count would be lower), so the
//! table still holds exactly the verified rows. `sync` checks that in its
//! own snapshot before trusting the ledger, and otherwise compares both
//! sides whole. The mapping is part of it too: a table whose plan (columns,
//! types, conversions, policies) differs from the ledger's is compared
//! whole, because the same stored value may now convert differently.
//!
//! Layout, in the state directory: `ledger-<target id>/current/` (the
//! manifest and one folder of segment files per table), `next/` (being
//! written by a run; a sync's manifest names its transaction, adopted at
//! the next start if that transaction committed), `pending/` (the load's
//! segments before verification).

use std::collections::BTreeMap;
use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};

use crate::hash::lanes::{CHUNK_LEN, LANES, hash_packed};
use crate::mapping::convert::Converter;
use crate::model::RowKey;
use crate::plan::TablePlan;

/// Bytes per record: rowid (8), fingerprint (15), flags (1).
pub const RECORD: usize = 24;
/// Records per segment a sync writes (a partition of its next comparison).
pub const SEGMENT_ROWS: usize = 65_536;
const MANIFEST: &str = "manifest.json";
const VERSION: u32 = 1;

/// One source row as the target holds it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Record {
    pub key: i64,
    pub fp: [u8; 15],
    /// The target does not hold the row (a bad-value policy rejected it).
    pub absent: bool,
}

impl Record {
    fn new(key: i64, hash: &[u8; 32], absent: bool) -> Record {
        let mut fp = [0u8; 15];
        fp.copy_from_slice(&hash[..15]);
        Record { key, fp, absent }
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.key.to_le_bytes());
        out.extend_from_slice(&self.fp);
        out.push(u8::from(self.absent));
    }

    fn read(b: &[u8]) -> Record {
        let mut fp = [0u8; 15];
        fp.copy_from_slice(&b[8..23]);
        Record { key: i64::from_le_bytes(b[..8].try_into().expect("8 bytes")), fp, absent: b[23] & 1 == 1 }
    }
}

/// Whether a table can have a ledger: its rows are named by an integer
/// rowid-alias key that reaches the target unchanged (an integer column),
/// read in rowid order (not parents first), and not sampled.
pub fn eligible(tp: &TablePlan) -> Option<usize> {
    let RowKey::RowidAlias { column } = tp.source.row_key else { return None };
    if tp.parent_first.is_some() || tp.sample.is_some() {
        return None;
    }
    let at = tp.map.columns.iter().position(|c| c.source_index == column)?;
    let cm = &tp.map.columns[at];
    (cm.pg_type.is_integer() && matches!(cm.converter, Converter::Int { .. })).then_some(at)
}

/// What the ledger of a table depends on besides the rows: the table's
/// names and every column's names, type, conversion and policies. A
/// different plan reads the same stored values differently.
pub fn plan_print(tp: &TablePlan) -> String {
    let mut s = format!("{}|{}", tp.source.name, tp.map.target);
    for c in &tp.map.columns {
        s.push_str(&format!(
            "|{}>{}:{}:{:?}:{:?}:{}",
            c.source, c.target, c.pg_type, c.converter, c.on_bad_value, c.not_null
        ));
    }
    blake3::hash(s.as_bytes()).to_hex()[..32].to_string()
}

/// One stored value's bytes as fingerprinted: its storage class, then the
/// value (integers and reals as 8 bytes, text and blobs with their length
/// first); `head` gets the class and length, the value's own bytes are
/// returned (borrowed).
#[inline]
fn raw_parts<'v>(v: ValueRef<'v>, head: &mut [u8; 9]) -> (usize, &'v [u8]) {
    match v {
        ValueRef::Null => {
            head[0] = 0;
            (1, &[])
        }
        ValueRef::Integer(i) => {
            head[0] = 1;
            head[1..9].copy_from_slice(&i.to_le_bytes());
            (9, &[])
        }
        ValueRef::Real(f) => {
            head[0] = 2;
            head[1..9].copy_from_slice(&f.to_bits().to_le_bytes());
            (9, &[])
        }
        ValueRef::Text(b) | ValueRef::Blob(b) => {
            head[0] = if matches!(v, ValueRef::Text(_)) { 3 } else { 4 };
            head[1..9].copy_from_slice(&(b.len() as u64).to_le_bytes());
            (9, b)
        }
    }
}

/// Rows' stored bytes gathered and fingerprinted sixteen at a time; a row
/// longer than one BLAKE3 chunk is hashed as it comes instead (its bytes
/// are never held whole: a table of large blobs costs no memory).
#[derive(Default)]
pub struct Fingerprints {
    buf: Vec<u8>,
    ends: Vec<usize>,
    meta: Vec<(i64, bool)>,
    /// The current row, once it is longer than a chunk.
    long: Option<blake3::Hasher>,
    done: Vec<Record>,
}

impl Fingerprints {
    /// Add one stored value to the current row.
    #[inline]
    pub fn value(&mut self, v: ValueRef<'_>) {
        let mut head = [0u8; 9];
        let (n, bytes) = raw_parts(v, &mut head);
        if let Some(h) = &mut self.long {
            h.update(&head[..n]);
            h.update(bytes);
            return;
        }
        let start = self.row_start();
        if self.buf.len() - start + n + bytes.len() > CHUNK_LEN {
            let mut h = blake3::Hasher::new();
            h.update(&self.buf[start..]);
            h.update(&head[..n]);
            h.update(bytes);
            self.buf.truncate(start);
            self.long = Some(h);
            return;
        }
        self.buf.extend_from_slice(&head[..n]);
        self.buf.extend_from_slice(bytes);
    }

    fn row_start(&self) -> usize {
        self.ends.last().copied().unwrap_or(0)
    }

    /// Forget what was added of the current row.
    pub fn discard_row(&mut self) {
        let start = self.row_start();
        self.buf.truncate(start);
        self.long = None;
    }

    /// The current row is complete; it is named `key`.
    #[inline]
    pub fn end_row(&mut self, key: i64, absent: bool) {
        if let Some(h) = self.long.take() {
            // The rows before it first, so that records keep the rows' order.
            self.flush();
            self.done.push(Record::new(key, h.finalize().as_bytes(), absent));
            return;
        }
        self.ends.push(self.buf.len());
        self.meta.push((key, absent));
        if self.meta.len() == LANES {
            self.flush();
        }
    }

    /// Fingerprint the rows gathered; their records are then in `take`.
    pub fn flush(&mut self) {
        let hashes = hash_packed(&self.buf, &self.ends);
        for (&(key, absent), h) in self.meta.iter().zip(&hashes) {
            self.done.push(Record::new(key, h, absent));
        }
        self.buf.clear();
        self.ends.clear();
        self.meta.clear();
    }

    /// The records fingerprinted so far, in the order their rows came.
    pub fn take(&mut self) -> Vec<Record> {
        std::mem::take(&mut self.done)
    }

    /// Records ready to be taken.
    pub fn ready(&self) -> usize {
        self.done.len()
    }
}

/// A table's folder name: its source name hashed (any name is a file name).
pub fn table_dir(table: &str) -> String {
    blake3::hash(table.as_bytes()).to_hex()[..16].to_string()
}

fn seg_name(lo: i64) -> String {
    format!("{:016x}.seg", (lo as u64) ^ (1 << 63))
}

/// Write records as segments of at most [`SEGMENT_ROWS`] (so that a
/// sync's partitions are small enough to share out evenly), the first
/// starting at `lo` (also when there are none: an empty range keeps its
/// segment, which the next sync reads), every other at its first key.
/// Records must come in strictly increasing key order, from `lo` on;
/// otherwise nothing is written (the table then gets no ledger).
pub fn write_segments(dir: &Path, lo: i64, records: &[Record]) -> io::Result<()> {
    if records.windows(2).any(|w| w[0].key >= w[1].key) || records.first().is_some_and(|r| r.key < lo) {
        return Err(io::Error::other("rows did not come in rowid order"));
    }
    fs::create_dir_all(dir)?;
    if records.is_empty() {
        return rewrite_segment(&dir.join(seg_name(lo)), records);
    }
    for (k, part) in records.chunks(SEGMENT_ROWS).enumerate() {
        rewrite_segment(&dir.join(seg_name(if k == 0 { lo } else { part[0].key })), part)?;
    }
    Ok(())
}

/// Write `records` as the segment file `path`.
pub fn rewrite_segment(path: &Path, records: &[Record]) -> io::Result<()> {
    let mut bytes = Vec::with_capacity(records.len() * RECORD);
    for r in records {
        r.write(&mut bytes);
    }
    fs::File::create(path)?.write_all(&bytes)
}

/// Read one segment back.
pub fn read_segment(path: &Path) -> io::Result<Vec<Record>> {
    let bytes = fs::read(path)?;
    if bytes.len() % RECORD != 0 {
        return Err(io::Error::other(format!("{}: not a whole number of records", path.display())));
    }
    Ok(bytes.chunks_exact(RECORD).map(Record::read).collect())
}

/// One segment of a table's ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Segment {
    /// Every record's key is at least this.
    pub lo: i64,
    pub file: String,
    pub records: u64,
}

/// One table's ledger.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TableLedger {
    pub target: String,
    /// `plan_print` of the plan the rows were written with.
    pub plan: String,
    /// The target table's oid (a table dropped and made again is another).
    pub oid: u32,
    /// Rows the target holds (records not absent).
    pub rows: u64,
    /// The transactions whose row versions the table holds (64-bit ids).
    pub xids: Vec<i64>,
    pub dir: String,
    /// In key order.
    pub segments: Vec<Segment>,
}

impl TableLedger {
    /// The records of segment `i`.
    pub fn read(&self, root: &Path, i: usize) -> io::Result<Vec<Record>> {
        read_segment(&root.join(&self.dir).join(&self.segments[i].file))
    }
}

/// The manifest of a ledger folder.
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct Manifest {
    pub version: u32,
    /// By source table name.
    pub tables: BTreeMap<String, TableLedger>,
    /// A sync's `next/`: the transaction that made it true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pending_xid: Option<i64>,
}

/// The ledger folders of one target (and schema) in a state directory.
#[derive(Debug, Clone)]
pub struct Store {
    pub root: PathBuf,
}

impl Store {
    pub fn new(state_dir: &Path, target: &str, schema: &str) -> Store {
        let id = blake3::hash(format!("{target}|{schema}").as_bytes()).to_hex();
        Store { root: state_dir.join(format!("ledger-{}", &id[..16])) }
    }

    pub fn current(&self) -> PathBuf {
        self.root.join("current")
    }

    pub fn next(&self) -> PathBuf {
        self.root.join("next")
    }

    pub fn pending(&self) -> PathBuf {
        self.root.join("pending")
    }

    /// Where a table's segments go under `base` (`pending()` or `next()`).
    pub fn table(base: &Path, table: &str) -> PathBuf {
        base.join(table_dir(table))
    }

    /// Empty `dir` (made anew).
    pub fn clear(dir: &Path) -> io::Result<()> {
        match fs::remove_dir_all(dir) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        fs::create_dir_all(dir)
    }

    /// The manifest under `dir`, if there is a readable one of this version.
    pub fn manifest(dir: &Path) -> Option<Manifest> {
        let bytes = fs::read(dir.join(MANIFEST)).ok()?;
        serde_json::from_slice::<Manifest>(&bytes).ok().filter(|m| m.version == VERSION)
    }

    /// Write `m` into `next/` (durably), then make `next/` the current
    /// ledger. A crash in between leaves `next/` for [`Store::settle`].
    pub fn write_next(&self, m: &Manifest) -> io::Result<()> {
        let mut m = m.clone();
        m.version = VERSION;
        let bytes = serde_json::to_vec_pretty(&m).map_err(io::Error::other)?;
        fs::create_dir_all(self.next())?;
        crate::journal::write_durably(&self.next().join(MANIFEST), &bytes)
    }

    /// `next/` becomes `current/`.
    pub fn promote(&self) -> io::Result<()> {
        let old = self.root.join("old");
        let _ = fs::remove_dir_all(&old);
        if self.current().exists() {
            fs::rename(self.current(), &old)?;
        }
        fs::rename(self.next(), self.current())?;
        let _ = fs::remove_dir_all(&old);
        Ok(())
    }

    /// Forget the ledger (a run that rewrites the target without one).
    pub fn forget(&self) -> io::Result<()> {
        match fs::remove_dir_all(&self.root) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }
}

/// A table a verified load wrote: what its ledger says.
pub struct Loaded<'a> {
    pub tp: &'a TablePlan,
    /// Rows the target holds, and rows a bad-value policy rejected.
    pub rows: u64,
    pub rejected: u64,
    pub oid: u32,
    /// The transactions that wrote its rows.
    pub xids: Vec<i64>,
}

impl Store {
    /// After a verified load: the tables whose segments in `pending/` hold
    /// one record per row read become the ledger (the others get none);
    /// returns how many. Nothing of an earlier ledger is kept: the load
    /// rewrote the tables.
    pub fn adopt(&self, tables: &[Loaded<'_>]) -> io::Result<usize> {
        Store::clear(&self.next())?;
        let mut m = Manifest::default();
        for t in tables {
            let from = Store::table(&self.pending(), &t.tp.source.name);
            let Some(segments) = segments_in(&from)? else { continue };
            if segments.iter().map(|s| s.records).sum::<u64>() != t.rows + t.rejected {
                continue;
            }
            let dir = table_dir(&t.tp.source.name);
            fs::rename(&from, self.next().join(&dir))?;
            m.tables.insert(
                t.tp.source.name.clone(),
                TableLedger {
                    target: t.tp.map.target.clone(),
                    plan: plan_print(t.tp),
                    oid: t.oid,
                    rows: t.rows,
                    xids: t.xids.clone(),
                    dir,
                    segments,
                },
            );
        }
        let _ = fs::remove_dir_all(self.pending());
        if m.tables.is_empty() {
            self.forget()?;
            return Ok(0);
        }
        self.write_next(&m)?;
        self.promote()?;
        Ok(m.tables.len())
    }
}

/// The segment files of a table's folder, in key order (None: no folder).
pub fn segments_in(dir: &Path) -> io::Result<Option<Vec<Segment>>> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let mut out = Vec::new();
    for e in entries {
        let e = e?;
        let file = e.file_name().to_string_lossy().into_owned();
        let Some(hex) = file.strip_suffix(".seg") else { continue };
        let Ok(pos) = u64::from_str_radix(hex, 16) else { continue };
        let len = e.metadata()?.len();
        out.push(Segment { lo: (pos ^ (1 << 63)) as i64, file, records: len / RECORD as u64 });
    }
    out.sort_by_key(|s| s.lo);
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_round_trip_and_refuse_disorder() {
        let dir = std::env::temp_dir().join(format!("ferry-ledger-test-{}", std::process::id()));
        let recs = vec![
            Record { key: -5, fp: [1; 15], absent: false },
            Record { key: 7, fp: [2; 15], absent: true },
        ];
        write_segments(&dir, i64::MIN, &recs).unwrap();
        assert_eq!(read_segment(&dir.join(seg_name(i64::MIN))).unwrap(), recs);
        let back = vec![recs[1], recs[0]];
        assert!(write_segments(&dir, i64::MIN, &back).is_err());
        assert!(write_segments(&dir, 0, &recs).is_err(), "a key below the segment's start");
        let found = segments_in(&dir).unwrap().unwrap();
        assert_eq!((found.len(), found[0].lo, found[0].records), (1, i64::MIN, 2));
        fs::remove_dir_all(&dir).unwrap();
        // Split in segments of SEGMENT_ROWS, each from its first key.
        let many: Vec<Record> = (0..SEGMENT_ROWS as i64 * 2 + 1).map(|k| Record { key: k * 2, fp: [0; 15], absent: false }).collect();
        write_segments(&dir, -10, &many).unwrap();
        let found = segments_in(&dir).unwrap().unwrap();
        let los: Vec<i64> = found.iter().map(|s| s.lo).collect();
        assert_eq!(los, vec![-10, SEGMENT_ROWS as i64 * 2, SEGMENT_ROWS as i64 * 4]);
        assert_eq!(found.iter().map(|s| s.records).sum::<u64>(), many.len() as u64);
        let mut swapped = many.clone();
        swapped.swap(5, SEGMENT_ROWS + 5);
        fs::remove_dir_all(&dir).unwrap();
        assert!(write_segments(&dir, -10, &swapped).is_err(), "out of order across segments");
        assert!(segments_in(&dir).unwrap().is_none(), "nothing written");
        // File names sort as the keys do.
        assert!(seg_name(i64::MIN) < seg_name(-1) && seg_name(-1) < seg_name(0) && seg_name(0) < seg_name(i64::MAX));
    }

    #[test]
    fn fingerprints_follow_stored_values() {
        let mut f = Fingerprints::default();
        for (k, v) in [(1, ValueRef::Integer(1)), (2, ValueRef::Real(1.0)), (3, ValueRef::Text(b"1")), (4, ValueRef::Blob(b"1")), (5, ValueRef::Null), (6, ValueRef::Integer(1))] {
            f.value(v);
            f.end_row(k, false);
        }
        f.flush();
        let r = f.take();
        assert_eq!(r.len(), 6);
        // The same value stored alike: the same fingerprint; any other
        // storage class of "1": another.
        assert_eq!(r[0].fp, r[5].fp);
        for i in 0..5 {
            for j in i + 1..5 {
                assert_ne!(r[i].fp, r[j].fp, "{i} {j}");
            }
        }
        // Column boundaries count: ("ab", "c") is not ("a", "bc").
        let mut g = Fingerprints::default();
        g.value(ValueRef::Text(b"ab"));
        g.value(ValueRef::Text(b"c"));
        g.end_row(1, false);
        g.value(ValueRef::Text(b"a"));
        g.value(ValueRef::Text(b"bc"));
        g.end_row(2, false);
        g.flush();
        let r = g.take();
        assert_ne!(r[0].fp, r[1].fp);
    }

    #[test]
    fn long_rows_hash_as_they_come_and_keep_their_place() {
        // Rows of every length around a chunk, in one stream: each record
        // is blake3 of the row's bytes, in the rows' order, whichever way
        // it was hashed.
        let mut f = Fingerprints::default();
        let mut want = Vec::new();
        for k in 0..60i64 {
            let len = [0usize, 10, 1000, 1014, 1015, 1016, 3000][k as usize % 7] + k as usize;
            let text: Vec<u8> = (0..len).map(|i| (i as u8).wrapping_mul(7).wrapping_add(k as u8)).collect();
            let mut bytes = vec![1];
            bytes.extend_from_slice(&k.to_le_bytes());
            bytes.push(3);
            bytes.extend_from_slice(&(len as u64).to_le_bytes());
            bytes.extend_from_slice(&text);
            want.push(Record::new(k, blake3::hash(&bytes).as_bytes(), k % 5 == 0));
            f.value(ValueRef::Integer(k));
            f.value(ValueRef::Text(&text));
            if k % 9 == 4 {
                // A row abandoned half way leaves no trace.
                f.end_row(k, k % 5 == 0);
                f.value(ValueRef::Blob(&[0; 2000]));
                f.discard_row();
                continue;
            }
            f.end_row(k, k % 5 == 0);
        }
        f.flush();
        assert_eq!(f.take(), want);
    }
}
