//! One partition of one table compared: both sides read once, each row
//! keyed and hashed canonically, and the two sides matched by key.
//!
//! A partition is what both sides can read independently and that fits in
//! memory: a range of an integer rowid-alias key (`WHERE k BETWEEN a AND b`
//! on both sides, an index range scan each), or, for any other key, a range
//! of the key's *hash* (the first 8 bytes of blake3 over the key's canonical
//! bytes): both sides then scan the table and keep the rows whose key hash
//! falls in the range. Matching by hash in a map, not by merging two ordered
//! streams, is what makes the comparison independent of the two engines'
//! orders (SQLite's BINARY collation, PostgreSQL's collations, uuid's byte
//! order against its source text): only equality of the canonical key bytes
//! matters, and that is the definition `verify` uses. Memory is one
//! partition's keys and row hashes (about 60 bytes a row) per side.
//!
//! The row hash is the canonical one (`hash::digest::write_value` of every
//! column, then blake3), so the partition's sums are the table's digests as
//! `verify` computes them.

use std::collections::HashMap;
use std::collections::hash_map::Entry;

use rusqlite::Connection;

use super::Error;
use crate::hash::lanes::{LANES, hash_packed};
use crate::hash::digest::{TableDigest, write_value};
use crate::mapping::convert::Scratch;
use crate::plan::TablePlan;
use crate::postgres::decode::copy_rows;
use crate::postgres::ident;
use crate::sqlite::pool::rowid_name;
use crate::verify::rows::{Key, Row, SourceRow, TargetRow, source_error};

/// Which rows of a table a partition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    /// An integer rowid-alias key between the two values (inclusive).
    Range(i64, i64),
    /// Keys whose hash position is in `[lo, hi]` (every other key).
    Hashed(u64, u64),
    /// The whole table, compared by its digest only (no usable key).
    Whole,
    /// Segment `i` of the table's ledger (its rowid range; `sync::ledger`).
    Ledger(usize),
}

/// A row of one side: its canonical hash and where it is (the source's
/// rowid, or the target's `ctid` packed as `block << 16 | offset`).
#[derive(Debug, Clone, Copy)]
pub struct Seen {
    pub hash: [u8; 32],
    pub at: i64,
}

/// Key ids are integers or bytes of a blake3 hash already: a
/// multiply-xorshift mix is all the map needs, for less than SipHash.
#[derive(Default, Clone, Copy)]
pub struct IdHash(u64);

impl std::hash::Hasher for IdHash {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0.rotate_left(8) ^ u64::from(b)).wrapping_mul(0x9e37_79b9_7f4a_7c15);
        }
    }

    fn write_u128(&mut self, v: u128) {
        let x = ((v as u64) ^ ((v >> 64) as u64)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        self.0 = x ^ (x >> 31);
    }
}

/// One side of a partition: rows by key id, and the digest of them all;
/// when the partition also makes the table's next ledger, the source's
/// records (in rowid order) and the target's writing transactions.
#[derive(Debug, Default)]
pub struct Side {
    pub rows: HashMap<u128, Seen, std::hash::BuildHasherDefault<IdHash>>,
    pub digest: TableDigest,
    pub records: Vec<crate::ledger::Record>,
    pub writers: crate::verify::Writers,
}

/// What a partition needs done to the target.
#[derive(Debug, Default)]
pub struct PartDelta {
    /// Source rows to write (rowids), or with no rowid, their key ids.
    pub write: Vec<i64>,
    pub write_keys: Vec<u128>,
    /// Of those, the rows whose key the target has (to update, not insert).
    pub changed: Vec<i64>,
    pub changed_keys: Vec<u128>,
    /// Target rows to delete (`ctid`s).
    pub delete: Vec<i64>,
    pub inserted: u64,
    pub replaced: u64,
    pub source: TableDigest,
    pub target: TableDigest,
    /// The target's writing transactions (a partition that makes the
    /// table's next ledger).
    pub writers: crate::verify::Writers,
}

impl PartDelta {
    /// Adds another partition's delta to this one (a table's sum).
    pub fn add(&mut self, d: PartDelta) {
        self.write.extend(d.write);
        self.write_keys.extend(d.write_keys);
        self.changed.extend(d.changed);
        self.changed_keys.extend(d.changed_keys);
        self.delete.extend(d.delete);
        self.inserted += d.inserted;
        self.replaced += d.replaced;
        self.source.merge(&d.source);
        self.target.merge(&d.target);
        self.writers.merge(&d.writers);
    }
}

/// Per-row work shared by both sides (and the staging of rows without a
/// rowid): the key's id and hash position, and the row's canonical hash,
/// in one pass over the values, with buffers reused from row to row.
pub struct RowHasher {
    /// Key columns in key order, and whether the key is one integer.
    key_cols: Vec<usize>,
    int_key: bool,
    /// The position is needed (hash partitions), not only the id.
    need_pos: bool,
    /// Per column: its place in the key, if it is a key column.
    key_place: Vec<Option<usize>>,
    key_parts: Vec<(usize, usize)>,
    key_bytes: Vec<u8>,
    row_bytes: Vec<u8>,
    scratch: Vec<u8>,
}

/// A row keyed and hashed: key id, hash position, row hash.
pub type Keyed = (u128, u64, [u8; 32]);

impl RowHasher {
    /// `key` None: rows are only hashed (a table without a key).
    pub fn new(ncols: usize, key: Option<&Key>, need_pos: bool) -> Self {
        let key_cols = key.map(Key::cols).unwrap_or_default();
        let mut key_place = vec![None; ncols];
        for (k, &c) in key_cols.iter().enumerate() {
            key_place[c] = Some(k);
        }
        RowHasher {
            int_key: matches!(key, Some(Key::Int { .. })),
            key_parts: vec![(0, 0); key_cols.len()],
            key_cols,
            need_pos,
            key_place,
            key_bytes: Vec::new(),
            row_bytes: Vec::new(),
            scratch: Vec::new(),
        }
    }

    /// None: the row is left out (a bad-value policy rejects it). The key
    /// id of an integer key is the integer; of any other key, the first 16
    /// bytes of blake3 over the key columns' canonical bytes (in key
    /// order), whose first 8 bytes are the position.
    pub fn row(&mut self, row: &mut impl Row) -> Result<Option<(u128, u64)>, Error> {
        self.row_bytes.clear();
        let mut int = None;
        for i in 0..self.key_place.len() {
            let start = self.row_bytes.len();
            let (rb, sc) = (&mut self.row_bytes, &mut self.scratch);
            let v = row.with(i, |pg, v| {
                write_value(rb, pg, v, sc);
                match v {
                    crate::mapping::convert::Value::Int(n) => Some(*n),
                    _ => None,
                }
            })?;
            let Some(v) = v else { return Ok(None) };
            if let Some(k) = self.key_place[i] {
                self.key_parts[k] = (start, self.row_bytes.len());
                int = v;
            }
        }
        if self.key_cols.is_empty() {
            return Ok(Some((0, 0)));
        }
        if let (true, Some(i), false) = (self.int_key, int, self.need_pos) {
            return Ok(Some((i as u128, 0)));
        }
        self.key_bytes.clear();
        for &(a, b) in &self.key_parts {
            self.key_bytes.extend_from_slice(&self.row_bytes[a..b]);
        }
        let h = blake3::hash(&self.key_bytes);
        let b = h.as_bytes();
        let pos = u64::from_be_bytes(b[..8].try_into().expect("8 bytes"));
        let id = match (self.int_key, int) {
            (true, Some(i)) => i as u128,
            _ => u128::from_be_bytes(b[..16].try_into().expect("16 bytes")),
        };
        Ok(Some((id, pos)))
    }

    /// The canonical bytes of the row last passed to [`RowHasher::row`].
    pub fn row_bytes(&self) -> &[u8] {
        &self.row_bytes
    }
}

/// Rows waiting to be hashed sixteen at a time (`hash::lanes`, as the load
/// and verify hash), with their key ids and places.
#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    ends: Vec<usize>,
    meta: Vec<(u128, i64)>,
}

impl Batch {
    fn push(&mut self, side: &mut Side, tp: &TablePlan, what: &str, keyed: bool, bytes: &[u8], id: u128, at: i64) -> Result<(), Error> {
        self.buf.extend_from_slice(bytes);
        self.ends.push(self.buf.len());
        self.meta.push((id, at));
        if self.meta.len() == LANES {
            self.flush(side, tp, what, keyed)?;
        }
        Ok(())
    }

    fn flush(&mut self, side: &mut Side, tp: &TablePlan, what: &str, keyed: bool) -> Result<(), Error> {
        let hashes = hash_packed(&self.buf, &self.ends);
        for (&(id, at), hash) in self.meta.iter().zip(&hashes) {
            if keyed {
                keep(side, tp, what, (id, 0, *hash), at)?;
            } else {
                side.digest.add_row(&blake3::Hash::from(*hash));
            }
        }
        self.buf.clear();
        self.ends.clear();
        self.meta.clear();
        Ok(())
    }
}

/// Keep a row of one side, or fail on a second row with its key.
fn keep(
    side: &mut Side,
    tp: &TablePlan,
    what: &str,
    (id, _, hash): Keyed,
    at: i64,
) -> Result<(), Error> {
    side.digest.add_row(&blake3::Hash::from(hash));
    match side.rows.entry(id) {
        Entry::Vacant(v) => {
            v.insert(Seen { hash, at });
            Ok(())
        }
        Entry::Occupied(_) => Err(Error::Other(format!(
            "table {:?}: two rows of the {what} have the same key after conversion, so the rows cannot be matched by key",
            tp.source.name
        ))),
    }
}

fn in_part(part: Part, pos: u64) -> bool {
    match part {
        Part::Hashed(lo, hi) => (lo..=hi).contains(&pos),
        _ => true,
    }
}

/// The source side of a partition, on a connection inside the run's
/// snapshot.
/// With `ledger`, also each row's ledger record (rows in rowid order).
pub fn source_side(
    conn: &Connection,
    tp: &TablePlan,
    key: Option<&Key>,
    part: Part,
    ledger: bool,
) -> Result<Side, Error> {
    let ncols = tp.map.columns.len();
    let rowid = rowid_name(&tp.source);
    let mut cols: Vec<String> = tp
        .map
        .columns
        .iter()
        .map(|c| ident::quote(&c.source))
        .collect();
    if let Some(r) = &rowid {
        cols.push(r.clone());
    }
    let mut sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        ident::quote(&tp.source.name)
    );
    let mut params: Vec<i64> = Vec::new();
    if let (Part::Range(a, b), Some(Key::Int { col, .. })) = (part, key) {
        sql.push_str(&format!(
            " WHERE {} BETWEEN ?1 AND ?2",
            ident::quote(&tp.map.columns[*col].source)
        ));
        params = vec![a, b];
    }
    let ledger = ledger && rowid.is_some();
    if let (true, Some(r)) = (ledger, &rowid) {
        sql.push_str(&format!(" ORDER BY {r}"));
    }
    let mut fps = ledger.then(crate::ledger::Fingerprints::default);
    let mut stmt = conn.prepare_cached(&sql).map_err(|e| source_error(tp, e))?;
    let mut rows = stmt
        .query(rusqlite::params_from_iter(params))
        .map_err(|e| source_error(tp, e))?;
    let mut hasher = RowHasher::new(ncols, key, matches!(part, Part::Hashed(..)));
    let mut scratch = Scratch::default();
    let mut side = Side::default();
    let mut batch = Batch::default();
    while let Some(row) = rows.next().map_err(|e| source_error(tp, e))? {
        let at: i64 = if rowid.is_some() {
            row.get(ncols).map_err(|e| source_error(tp, e))?
        } else {
            0
        };
        let keyed = hasher.row(&mut SourceRow {
                row,
                tp,
                scratch: &mut scratch,
            })?;
        if let Some(f) = &mut fps {
            for i in 0..ncols {
                f.value(row.get_ref(i).map_err(|e| source_error(tp, e))?);
            }
            // A row the bad-value policy leaves out is absent from the target.
            f.end_row(at, keyed.is_none());
        }
        let Some((id, pos)) = keyed else { continue };
        if !in_part(part, pos) {
            continue;
        }
        batch.push(&mut side, tp, "source", key.is_some(), hasher.row_bytes(), id, at)?;
    }
    batch.flush(&mut side, tp, "source", key.is_some())?;
    if let Some(f) = &mut fps {
        f.flush();
        side.records = f.take();
    }
    Ok(side)
}

/// The target side of a partition, read with `COPY (SELECT …, ctid)`.
/// With `ledger`, also the rows' writing transactions (`xmin`).
pub async fn target_side(
    client: &tokio_postgres::Client,
    schema: &str,
    tp: &TablePlan,
    key: Option<&Key>,
    part: Part,
    ledger: bool,
) -> Result<Side, Error> {
    let ncols = tp.map.columns.len();
    let mut cols: Vec<String> = tp
        .map
        .columns
        .iter()
        .map(|c| ident::quote(&c.target))
        .collect();
    cols.push("ctid".into());
    if ledger {
        cols.push("xmin".into());
    }
    let mut sql = format!(
        "SELECT {} FROM {}",
        cols.join(", "),
        ident::qualified(schema, &tp.map.target)
    );
    if let (Part::Range(a, b), Some(Key::Int { col, .. })) = (part, key) {
        sql.push_str(&format!(
            " WHERE {} BETWEEN {a} AND {b}",
            ident::quote(&tp.map.columns[*col].target)
        ));
    }
    let mut hasher = RowHasher::new(ncols, key, matches!(part, Part::Hashed(..)));
    let mut text = String::new();
    let mut side = Side::default();
    let mut batch = Batch::default();
    copy_rows(client, &sql, &tp.map.target, |view| {
        let at = view.field(ncols).map_or(0, ctid);
        if ledger {
            side.writers.note(view.field(ncols + 1));
        }
        let keyed = hasher.row(&mut TargetRow {
                view,
                tp,
                text: &mut text,
            })?;
        let Some((id, pos)) = keyed else { return Ok(()) };
        if !in_part(part, pos) {
            return Ok(());
        }
        batch.push(&mut side, tp, "target", key.is_some(), hasher.row_bytes(), id, at)
    })
    .await?;
    batch.flush(&mut side, tp, "target", key.is_some())?;
    Ok(side)
}

/// A binary `tid` (block u32, offset u16, big-endian) packed in an i64.
fn ctid(b: &[u8]) -> i64 {
    if b.len() != 6 {
        return 0;
    }
    let block = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
    let offset = u16::from_be_bytes([b[4], b[5]]);
    (i64::from(block) << 16) | i64::from(offset)
}

/// A packed `ctid` as PostgreSQL's text form, `(block,offset)`.
pub fn ctid_text(at: i64) -> String {
    format!("({},{})", at >> 16, at & 0xffff)
}

/// Match the two sides by key: source rows missing in the target or with
/// other content are to be written, target rows without a source row are
/// to be deleted. `rowid`: the source rows are named by rowid (else by key).
pub fn delta(source: Side, mut target: Side, rowid: bool) -> PartDelta {
    let mut d = PartDelta {
        source: source.digest,
        target: target.digest,
        writers: std::mem::take(&mut target.writers),
        ..PartDelta::default()
    };
    for (id, s) in source.rows {
        match target.rows.remove(&id) {
            Some(t) if t.hash == s.hash => continue,
            Some(_) => {
                d.replaced += 1;
                if rowid {
                    d.changed.push(s.at);
                } else {
                    d.changed_keys.push(id);
                }
            }
            None => d.inserted += 1,
        }
        if rowid {
            d.write.push(s.at);
        } else {
            d.write_keys.push(id);
        }
    }
    d.delete = target.rows.into_values().map(|t| t.at).collect();
    d.write.sort_unstable();
    d.delete.sort_unstable();
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn side(rows: &[(u128, u8, i64)]) -> Side {
        let mut s = Side::default();
        for &(id, h, at) in rows {
            let hash = [h; 32];
            s.digest.add_row(&blake3::Hash::from(hash));
            s.rows.insert(id, Seen { hash, at });
        }
        s
    }

    #[test]
    fn delta_names_missing_changed_and_extra_rows() {
        let src = side(&[(1, 1, 10), (2, 2, 20), (3, 3, 30)]);
        let tgt = side(&[(1, 1, 100), (2, 9, 200), (4, 4, 400)]);
        let d = delta(src, tgt, true);
        assert_eq!((d.inserted, d.replaced), (1, 1));
        assert_eq!(
            d.write,
            vec![20, 30],
            "changed row 2 and missing row 3, by source rowid"
        );
        assert_eq!(d.delete, vec![400], "extra row 4, by target ctid");
        assert_eq!(d.changed, vec![20], "row 2 is in the target: updated, not inserted");
        let same = delta(side(&[(1, 1, 1)]), side(&[(1, 1, 7)]), true);
        assert!(same.write.is_empty() && same.delete.is_empty());
        assert_eq!(same.source, same.target);
    }

    #[test]
    fn ctid_round_trips_to_text() {
        let at = ctid(&[0, 0, 1, 2, 0, 7]);
        assert_eq!(ctid_text(at), "(258,7)");
        assert_eq!(
            ctid_text(ctid(&[255, 255, 255, 255, 255, 255])),
            "(4294967295,65535)"
        );
    }
}
