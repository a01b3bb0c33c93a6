//! PostgreSQL's binary COPY format, written straight into a reused buffer.
//!
//! Per row: a 16-bit field count; per field a 32-bit length (−1 for NULL)
//! and the value in the type's binary send format. The length is written as
//! a placeholder and patched after the value, so nothing is staged elsewhere.

use bytes::{BufMut, BytesMut};

use crate::mapping::convert::Value;
use crate::mapping::datetime::PG_EPOCH_OFFSET_MICROS;
use crate::mapping::numeric;
use crate::mapping::types::PgType;

/// Days between 1970-01-01 and 2000-01-01, PostgreSQL's date epoch.
pub const PG_EPOCH_OFFSET_DAYS: i32 = 10_957;

pub fn write_header(buf: &mut BytesMut) {
    buf.put_slice(b"PGCOPY\n\xff\r\n\0");
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
    if let Value::Null = v {
        buf.put_i32(-1);
        return;
    }
    let at = buf.len();
    buf.put_i32(0);
    match (pg, v) {
        (PgType::Boolean, Value::Bool(b)) => buf.put_u8(*b as u8),
        (PgType::SmallInt, Value::Int(i)) => buf.put_i16(*i as i16),
        (PgType::Integer, Value::Int(i)) => buf.put_i32(*i as i32),
        (PgType::BigInt, Value::Int(i)) => buf.put_i64(*i),
        (PgType::Real, Value::Float(f)) => buf.put_f32(*f as f32),
        (PgType::Double, Value::Float(f)) => buf.put_f64(*f),
        (PgType::Numeric { .. }, Value::Numeric(s)) => numeric::encode_binary(s, buf),
        (PgType::Text | PgType::Varchar(_) | PgType::Enum { .. }, Value::Text(s)) => {
            buf.put_slice(s.as_bytes())
        }
        (PgType::Bytea, Value::Bytes(b)) => buf.put_slice(b),
        (PgType::Timestamp | PgType::Timestamptz, Value::Timestamp(us)) => {
            buf.put_i64(us - PG_EPOCH_OFFSET_MICROS)
        }
        (PgType::Date, Value::Date(d)) => buf.put_i32(d - PG_EPOCH_OFFSET_DAYS),
        (PgType::Time, Value::Time(us)) => buf.put_i64(*us),
        (PgType::Json, Value::Json(s)) => buf.put_slice(s.as_bytes()),
        (PgType::Jsonb, Value::Json(s)) => {
            buf.put_u8(1); // jsonb binary format version
            buf.put_slice(s.as_bytes());
        }
        (PgType::Uuid, Value::Uuid(u)) => buf.put_slice(u),
        (PgType::TextArray, Value::TextArray(a)) => buf.put_slice(a),
        (pg, v) => unreachable!("converter produced {v:?} for a {pg} column"),
    }
    let len = (buf.len() - at - 4) as i32;
    buf[at..at + 4].copy_from_slice(&len.to_be_bytes());
}
