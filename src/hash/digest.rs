//! The canonical content hash: the same bytes from a SQLite value converted
//! by ferry and from the PostgreSQL value read back, whatever the server did
//! to its representation (jsonb key order, numeric scale, time zone).
//!
//! Specification (also in `docs/hash.md`): every value is written as a
//! one-byte type tag, its length as u32 little-endian, then the bytes below.
//! A row hash is blake3 over its values in column order; a table hash is the
//! sum of its row hashes as 256-bit little-endian integers modulo 2^256,
//! together with the row count. The sum is order-independent (readers and
//! `COPY TO` need no ORDER BY) and, unlike XOR, duplicate rows do not cancel.

use crate::mapping::convert::Value;
use crate::mapping::json;
use crate::mapping::types::PgType;
use super::lanes::{self, LANES};

pub const TAG_NULL: u8 = 0;
pub const TAG_BOOL: u8 = 1;
pub const TAG_INT: u8 = 2;
pub const TAG_FLOAT: u8 = 3;
pub const TAG_NUMERIC: u8 = 4;
pub const TAG_TEXT: u8 = 5;
pub const TAG_BYTEA: u8 = 6;
pub const TAG_TIMESTAMP: u8 = 7;
pub const TAG_TIMESTAMPTZ: u8 = 8;
pub const TAG_DATE: u8 = 9;
pub const TAG_TIME: u8 = 10;
pub const TAG_JSON: u8 = 11;
pub const TAG_JSONB: u8 = 12;
pub const TAG_UUID: u8 = 13;
pub const TAG_TEXT_ARRAY: u8 = 14;
pub const TAG_INTERVAL: u8 = 15;
pub const TAG_INET: u8 = 16;
pub const TAG_CIDR: u8 = 17;

/// The one NaN bit pattern hashed for every NaN.
const CANONICAL_NAN: u64 = 0x7ff8_0000_0000_0000;

/// Where canonical bytes go: a row hasher, or a buffer (the canonical bytes
/// of a row's key, used by localization).
pub trait Sink {
    fn feed(&mut self, bytes: &[u8]);
}

impl Sink for blake3::Hasher {
    #[inline]
    fn feed(&mut self, bytes: &[u8]) {
        self.update(bytes);
    }
}

impl Sink for Vec<u8> {
    #[inline]
    fn feed(&mut self, bytes: &[u8]) {
        self.extend_from_slice(bytes);
    }
}

/// Where a row's canonical bytes go in a [`DigestBuilder`]: append-only, so
/// that no writer can disturb the rows gathered before it.
pub struct RowBytes(Vec<u8>);

impl Sink for RowBytes {
    #[inline]
    fn feed(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

#[inline]
fn put<S: Sink>(h: &mut S, tag: u8, bytes: &[u8]) {
    let mut head = [0u8; 21];
    head[0] = tag;
    head[1..5].copy_from_slice(&(bytes.len() as u32).to_le_bytes());
    if bytes.len() <= 16 {
        // Numbers, dates, uuids, short texts: one append for the value.
        head[5..5 + bytes.len()].copy_from_slice(bytes);
        h.feed(&head[..5 + bytes.len()]);
    } else {
        h.feed(&head[..5]);
        h.feed(bytes);
    }
}

/// Feed one value's canonical form into the row hasher. `scratch` is
/// reused for the forms that need rewriting (jsonb, numeric without scale).
#[inline]
pub fn hash_value(h: &mut blake3::Hasher, pg: &PgType, v: &Value<'_>, scratch: &mut Vec<u8>) {
    write_value(h, pg, v, scratch)
}

/// Write one value's canonical encoding (tag, length, payload) to `h`.
#[inline]
pub fn write_value<S: Sink>(h: &mut S, pg: &PgType, v: &Value<'_>, scratch: &mut Vec<u8>) {
    match v {
        Value::Null => put(h, TAG_NULL, &[]),
        Value::Bool(b) => put(h, TAG_BOOL, &[*b as u8]),
        Value::Int(i) => put(h, TAG_INT, &i.to_le_bytes()),
        Value::Float(f) => {
            // float4 columns are hashed as the double the float4 widens to,
            // which is what the server stores.
            let f = if matches!(pg, PgType::Real) { (*f as f32) as f64 } else { *f };
            let bits = if f.is_nan() { CANONICAL_NAN } else { f.to_bits() };
            put(h, TAG_FLOAT, &bits.to_le_bytes())
        }
        Value::Numeric(s) => {
            let scaled = matches!(pg, PgType::Numeric { scale: Some(_), .. });
            put(h, TAG_NUMERIC, canonical_numeric(s, scaled).as_bytes())
        }
        // character(n): trailing blanks are padding, not content.
        Value::Text(s) if matches!(pg, PgType::Char(_)) => put(h, TAG_TEXT, bpchar_significant(s.as_bytes())),
        Value::Text(s) => put(h, TAG_TEXT, s.as_bytes()),
        Value::Bytes(b) => put(h, TAG_BYTEA, b),
        Value::Timestamp(us) => {
            let tag = if matches!(pg, PgType::Timestamptz) { TAG_TIMESTAMPTZ } else { TAG_TIMESTAMP };
            put(h, tag, &us.to_le_bytes())
        }
        Value::Date(d) => put(h, TAG_DATE, &d.to_le_bytes()),
        Value::Time(us) => put(h, TAG_TIME, &us.to_le_bytes()),
        Value::Json(s) => {
            if matches!(pg, PgType::Jsonb) {
                scratch.clear();
                match json::canonical(s.as_bytes(), scratch) {
                    Ok(()) => put(h, TAG_JSONB, scratch),
                    // Cannot happen for validated values; hash the text so
                    // a difference still shows rather than panicking.
                    Err(_) => put(h, TAG_JSONB, s.as_bytes()),
                }
            } else {
                put(h, TAG_JSON, s.as_bytes())
            }
        }
        Value::Uuid(u) => put(h, TAG_UUID, u),
        Value::TextArray(a) => put(h, TAG_TEXT_ARRAY, a),
        Value::Interval(i) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&i.months.to_le_bytes());
            b[4..8].copy_from_slice(&i.days.to_le_bytes());
            b[8..].copy_from_slice(&i.micros.to_le_bytes());
            put(h, TAG_INTERVAL, &b)
        }
        Value::Net(b) => put(h, if matches!(pg, PgType::Cidr) { TAG_CIDR } else { TAG_INET }, b),
    }
}

/// A `character(n)` value without its trailing blanks: PostgreSQL pads to
/// `n` and ignores trailing blanks in comparisons, so `'ab'` and `'ab  '`
/// are the same value there, and hash the same here.
#[inline]
pub fn bpchar_significant(b: &[u8]) -> &[u8] {
    let end = b.iter().rposition(|&c| c != b' ').map_or(0, |k| k + 1);
    &b[..end]
}

/// The canonical form of a text value given as bytes: what `write_value`
/// writes for `Value::Text` with these bytes.
#[inline]
pub fn write_text<S: Sink>(h: &mut S, bytes: &[u8]) {
    put(h, TAG_TEXT, bytes)
}

/// Numeric text at the column's scale: with a declared scale the server
/// always prints exactly that many digits, so the text is already canonical;
/// without one, trailing fraction zeros are not significant.
pub fn canonical_numeric(s: &str, scaled: bool) -> &str {
    if scaled || !s.contains('.') {
        return s;
    }
    let t = s.trim_end_matches('0');
    let t = t.strip_suffix('.').unwrap_or(t);
    if t == "-0" { "0" } else { t }
}

/// An order-independent multiset digest of rows: the sum of row hashes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TableDigest {
    pub rows: u64,
    sum: [u64; 4],
}

impl TableDigest {
    #[inline]
    pub fn add_row(&mut self, row_hash: &blake3::Hash) {
        self.add_hash(row_hash.as_bytes())
    }

    #[inline]
    fn add_hash(&mut self, b: &[u8; 32]) {
        let mut carry = 0u128;
        for i in 0..4 {
            let limb = u64::from_le_bytes(b[i * 8..i * 8 + 8].try_into().expect("32-byte hash"));
            let s = self.sum[i] as u128 + limb as u128 + carry;
            self.sum[i] = s as u64;
            carry = s >> 64;
        }
        self.rows += 1;
    }

    pub fn merge(&mut self, other: &TableDigest) {
        let mut carry = 0u128;
        for i in 0..4 {
            let s = self.sum[i] as u128 + other.sum[i] as u128 + carry;
            self.sum[i] = s as u64;
            carry = s >> 64;
        }
        self.rows += other.rows;
    }

    /// The 256-bit sum as 64 hex digits, little-endian byte order.
    pub fn hex(&self) -> String {
        let mut out = String::with_capacity(64);
        for limb in self.sum {
            for byte in limb.to_le_bytes() {
                out.push_str(&format!("{byte:02x}"));
            }
        }
        out
    }
}

/// A table digest being built: each row's canonical bytes are written to
/// [`DigestBuilder::row`], and rows are hashed [`LANES`] at a time
/// ([`lanes`]); [`DigestBuilder::finish`] hashes the rest and is the only
/// way to the digest, so no row is left out. It holds at most a batch of
/// rows of up to 1 kB (longer rows are hashed as they end), so its memory
/// is bounded by the longest row, as with one row at a time.
pub struct DigestBuilder {
    digest: TableDigest,
    /// The canonical bytes of the rows not hashed yet, back to back.
    buf: RowBytes,
    /// Where each of them ends in `buf`.
    ends: [usize; BATCH],
    rows: usize,
}

/// Rows gathered before hashing: several lane-fulls, so that rows of
/// similar length can share a call (a call costs as many compressions as
/// its longest row has blocks).
const BATCH: usize = 4 * LANES;

impl Default for DigestBuilder {
    fn default() -> Self {
        DigestBuilder { digest: TableDigest::default(), buf: RowBytes(Vec::with_capacity(BATCH * 256)), ends: [0; BATCH], rows: 0 }
    }
}

impl DigestBuilder {
    /// Where the current row's canonical bytes are appended.
    #[inline]
    pub fn row(&mut self) -> &mut RowBytes {
        &mut self.buf
    }

    /// Where the current row starts in `buf`.
    #[inline]
    fn row_start(&self) -> usize {
        if self.rows == 0 { 0 } else { self.ends[self.rows - 1] }
    }

    /// Forget what was written of the current row.
    #[inline]
    pub fn discard_row(&mut self) {
        self.buf.0.truncate(self.row_start());
    }

    /// The current row is complete.
    #[inline]
    pub fn end_row(&mut self) {
        let start = self.row_start();
        if self.buf.0.len() - start > lanes::CHUNK_LEN {
            // A row longer than a chunk gains nothing from the lanes (blake3
            // hashes its chunks side by side), and gathering such rows
            // would hold up to a batch of large values: hashed now.
            self.digest.add_hash(blake3::hash(&self.buf.0[start..]).as_bytes());
            self.buf.0.truncate(start);
            return;
        }
        self.ends[self.rows] = self.buf.0.len();
        self.rows += 1;
        if self.rows == BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        let mut rows: [&[u8]; BATCH] = [&[]; BATCH];
        let mut start = 0;
        for (slot, &end) in rows.iter_mut().zip(&self.ends[..self.rows]) {
            *slot = &self.buf.0[start..end];
            start = end;
        }
        let rows = &mut rows[..self.rows];
        // The sum does not depend on the order.
        rows.sort_unstable_by_key(|r| r.len());
        let mut hashes = [[0u8; 32]; LANES];
        for group in rows.chunks(LANES) {
            lanes::hash_rows(group, &mut hashes);
            for h in &hashes[..group.len()] {
                self.digest.add_hash(h);
            }
        }
        self.buf.0.clear();
        self.rows = 0;
    }

    /// The digest of every row ended so far.
    pub fn finish(mut self) -> TableDigest {
        self.flush();
        self.digest
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(vals: &[(&PgType, Value<'_>)]) -> blake3::Hash {
        let mut h = blake3::Hasher::new();
        let mut s = Vec::new();
        for (pg, v) in vals {
            hash_value(&mut h, pg, v, &mut s);
        }
        h.finalize()
    }

    #[test]
    fn builder_equals_one_hash_per_row_with_discarded_rows() {
        // 0..=20 rows: partial batches, a full one, more; some discarded.
        for n in 0..=150usize {
            let mut want = TableDigest::default();
            let mut b = DigestBuilder::default();
            for i in 0..n {
                // Some rows longer than a chunk, hashed as they end.
                let len = if i % 11 == 5 { 3000 + i } else { (i * 41) % 300 };
                let bytes: Vec<u8> = (0..len).map(|k| (k * 7 + i) as u8).collect();
                b.row().feed(&bytes);
                if i % 3 == 2 {
                    b.discard_row();
                    continue;
                }
                b.end_row();
                want.add_row(&blake3::hash(&bytes));
            }
            assert_eq!(b.finish(), want, "{n} rows");
        }
    }

    #[test]
    fn table_digest_is_order_independent_and_counts_duplicates() {
        let t = PgType::Text;
        let a = row(&[(&t, Value::Text("a"))]);
        let b = row(&[(&t, Value::Text("b"))]);
        let mut x = TableDigest::default();
        x.add_row(&a);
        x.add_row(&b);
        let mut y = TableDigest::default();
        y.add_row(&b);
        y.add_row(&a);
        assert_eq!(x, y);
        let mut dup = TableDigest::default();
        dup.add_row(&a);
        dup.add_row(&a);
        let mut single = TableDigest::default();
        single.add_row(&a);
        assert_ne!(dup.hex(), single.hex());
        assert_ne!(dup.hex(), TableDigest::default().hex(), "duplicates must not cancel");
    }

    #[test]
    fn length_prefix_prevents_concatenation_collisions() {
        let t = PgType::Text;
        assert_ne!(
            row(&[(&t, Value::Text("ab")), (&t, Value::Text("c"))]),
            row(&[(&t, Value::Text("a")), (&t, Value::Text("bc"))])
        );
        assert_ne!(row(&[(&t, Value::Null)]), row(&[(&t, Value::Text(""))]));
    }

    #[test]
    fn representation_does_not_matter_meaning_does() {
        let jb = PgType::Jsonb;
        // jsonb: key order, whitespace, repeated keys (the last wins).
        assert_eq!(
            row(&[(&jb, Value::Json(r#"{"b": [1, 2.50], "a": {"y": 1, "x": "\u0041"}}"#))]),
            row(&[(&jb, Value::Json(r#"{"a":{"x":"A","y":1},"b":[1,2.50],"b":[1,2.50]}"#))])
        );
        assert_ne!(row(&[(&jb, Value::Json(r#"{"a": 1}"#))]), row(&[(&jb, Value::Json(r#"{"A": 1}"#))]));
        assert_ne!(row(&[(&jb, Value::Json("[1.5]"))]), row(&[(&jb, Value::Json("[1.50]"))]), "jsonb keeps the scale");
        // json is kept verbatim by the server, so it is hashed verbatim.
        let j = PgType::Json;
        assert_ne!(row(&[(&j, Value::Json(r#"{"a":1}"#))]), row(&[(&j, Value::Json(r#"{"a": 1}"#))]));
        // numeric without a scale: trailing zeros are not significant.
        let n = PgType::Numeric { precision: None, scale: None };
        assert_eq!(row(&[(&n, Value::Numeric("1.5"))]), row(&[(&n, Value::Numeric("1.50000000"))]));
        assert_ne!(row(&[(&n, Value::Numeric("1.5"))]), row(&[(&n, Value::Numeric("1.51"))]));
        // real is hashed as the double it widens to; every NaN alike; -0 is not 0.
        let r = PgType::Real;
        let d = PgType::Double;
        assert_eq!(row(&[(&r, Value::Float(0.1f32 as f64))]), row(&[(&d, Value::Float(0.1f32 as f64))]));
        assert_eq!(row(&[(&d, Value::Float(f64::NAN))]), row(&[(&d, Value::Float(-f64::NAN))]));
        assert_ne!(row(&[(&d, Value::Float(0.0))]), row(&[(&d, Value::Float(-0.0))]));
        let next = f64::from_bits(0.1f64.to_bits() + 1);
        assert_ne!(row(&[(&d, Value::Float(0.1))]), row(&[(&d, Value::Float(next))]), "the last bit counts");
        // timestamp and timestamptz of the same instant differ by tag.
        assert_ne!(
            row(&[(&PgType::Timestamp, Value::Timestamp(0))]),
            row(&[(&PgType::Timestamptz, Value::Timestamp(0))])
        );
    }

    #[test]
    fn canonical_bytes_are_tag_length_payload() {
        let mut out = Vec::new();
        let mut s = Vec::new();
        write_value(&mut out, &PgType::BigInt, &Value::Int(7), &mut s);
        write_value(&mut out, &PgType::Text, &Value::Null, &mut s);
        let mut want = vec![TAG_INT, 8, 0, 0, 0, 7, 0, 0, 0, 0, 0, 0, 0];
        want.extend_from_slice(&[TAG_NULL, 0, 0, 0, 0]);
        assert_eq!(out, want);
        // The row hash is blake3 of exactly these bytes.
        let mut h = blake3::Hasher::new();
        hash_value(&mut h, &PgType::BigInt, &Value::Int(7), &mut s);
        hash_value(&mut h, &PgType::Text, &Value::Null, &mut s);
        assert_eq!(h.finalize(), blake3::hash(&want));
    }

    #[test]
    fn numeric_canonical_form() {
        assert_eq!(canonical_numeric("1.500", false), "1.5");
        assert_eq!(canonical_numeric("1.000", false), "1");
        assert_eq!(canonical_numeric("100", false), "100");
        assert_eq!(canonical_numeric("1.50", true), "1.50");
    }
}
