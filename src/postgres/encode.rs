//! PostgreSQL's binary COPY format, written straight into a reused buffer.
//!
//! Per row: a 16-bit field count; per field a 32-bit length (−1 for NULL)
//! and the value in the type's binary send format. The length is written as
//! a placeholder and patched after the value, so nothing is staged elsewhere.

use bytes::{BufMut, BytesMut};

use crate::mapping::convert::Value;
use crate::mapping::datetime::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_MICROS};
use crate::mapping::numeric;
use crate::mapping::types::PgType;

/// The first 11 bytes of every binary COPY stream (`decode` checks them).
pub const SIGNATURE: &[u8; 11] = b"PGCOPY\n\xff\r\n\0";

pub fn write_header(buf: &mut BytesMut) {
    buf.put_slice(SIGNATURE);
    buf.put_i32(0); // flags: no OIDs
    buf.put_i32(0); // header extension length
}

pub fn write_trailer(buf: &mut BytesMut) {
    buf.put_i16(-1);
}

#[inline]
pub fn begin_row(buf: &mut BytesMut, fields: i16) {
    buf.put_i16(fields);
}

/// Append one field. `pg` is the column's type; `v` was produced by that
/// column's converter, so the pairing is known to be valid.
#[inline]
pub fn write_value(buf: &mut BytesMut, pg: &PgType, v: &Value<'_>) {
    match (pg, v) {
        (_, Value::Null) => buf.extend_from_slice(&(-1i32).to_be_bytes()),
        (PgType::Boolean, Value::Bool(b)) => fixed(buf, [*b as u8]),
        (PgType::SmallInt, Value::Int(i)) => fixed(buf, (*i as i16).to_be_bytes()),
        (PgType::Integer, Value::Int(i)) => fixed(buf, (*i as i32).to_be_bytes()),
        (PgType::BigInt, Value::Int(i)) => fixed(buf, i.to_be_bytes()),
        (PgType::Byte, Value::Int(i)) => fixed(buf, [*i as i8 as u8]),
        (PgType::Real, Value::Float(f)) => fixed(buf, (*f as f32).to_be_bytes()),
        (PgType::Double, Value::Float(f)) => fixed(buf, f.to_be_bytes()),
        (PgType::Timestamp | PgType::Timestamptz, Value::Timestamp(us)) => {
            fixed(buf, (us - PG_EPOCH_OFFSET_MICROS).to_be_bytes())
        }
        (PgType::Date, Value::Date(d)) => fixed(buf, (d - PG_EPOCH_OFFSET_DAYS as i32).to_be_bytes()),
        (PgType::Time, Value::Time(us)) => fixed(buf, us.to_be_bytes()),
        (PgType::Text | PgType::Varchar(_) | PgType::Char(_) | PgType::Enum { .. }, Value::Text(s)) => {
            sized(buf, &[], s.as_bytes())
        }
        (PgType::Interval, Value::Interval(i)) => fixed(buf, crate::mapping::interval::send_bytes(i)),
        (PgType::Inet | PgType::Cidr, Value::Net(b)) => sized(buf, &[], b),
        (PgType::Bytea, Value::Bytes(b)) => sized(buf, &[], b),
        (PgType::Json, Value::Json(s)) => sized(buf, &[], s.as_bytes()),
        // jsonb's binary form: a version byte, then the text.
        (PgType::Jsonb, Value::Json(s)) => sized(buf, &[1], s.as_bytes()),
        (PgType::Uuid, Value::Uuid(u)) => fixed(buf, *u),
        (PgType::TextArray, Value::TextArray(a)) => sized(buf, &[], a),
        (PgType::Numeric { .. }, Value::Numeric(s)) => {
            // Its length is known once written: patched in afterwards.
            let at = buf.len();
            buf.extend_from_slice(&0i32.to_be_bytes());
            numeric::encode_binary(s, buf);
            let len = (buf.len() - at - 4) as i32;
            buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
        }
        (pg, v) => unreachable!("converter produced {v:?} for a {pg} column"),
    }
}

/// A fixed-size field: its length and bytes in one append (the row loop's
/// most frequent case, so one capacity check instead of two).
#[inline(always)]
fn fixed<const N: usize>(buf: &mut BytesMut, bytes: [u8; N]) {
    if N <= 8 {
        let mut field = [0u8; 12];
        field[..4].copy_from_slice(&(N as i32).to_be_bytes());
        field[4..4 + N].copy_from_slice(&bytes);
        buf.extend_from_slice(&field[..4 + N]);
    } else {
        buf.reserve(4 + N);
        buf.extend_from_slice(&(N as i32).to_be_bytes());
        buf.extend_from_slice(&bytes);
    }
}

/// A variable-size field: length, an optional prefix, then the bytes.
#[inline(always)]
fn sized(buf: &mut BytesMut, prefix: &[u8], bytes: &[u8]) {
    let n = prefix.len() + bytes.len();
    buf.reserve(4 + n);
    buf.extend_from_slice(&(n as i32).to_be_bytes());
    buf.extend_from_slice(prefix);
    buf.extend_from_slice(bytes);
}
