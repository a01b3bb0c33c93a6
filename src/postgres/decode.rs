//! PostgreSQL's binary COPY format read back: a `COPY … TO STDOUT (FORMAT
//! binary)` stream cut into rows whatever its chunking, and each field
//! decoded by its column's type into the same [`Value`] the SQLite side's
//! converters produce. The reverse of `encode`, beside it.

use futures_util::StreamExt;

use super::encode::SIGNATURE;
use super::Error;
use crate::mapping::convert::Value;
use crate::mapping::datetime::{PG_EPOCH_OFFSET_DAYS, PG_EPOCH_OFFSET_MICROS};
use crate::mapping::numeric;
use crate::mapping::types::PgType;

/// The stream did not start with the binary COPY signature.
#[derive(Debug, thiserror::Error)]
#[error("table {table:?}: not a binary COPY stream")]
pub struct NotCopy {
    pub table: String,
}

/// One row of a binary COPY stream: its fields, borrowed from the buffer.
pub struct RowView<'a> {
    buf: &'a [u8],
    /// (offset, length) of each field; length −1 is NULL.
    fields: &'a [(usize, i32)],
}

impl<'a> RowView<'a> {
    #[inline]
    pub fn field(&self, i: usize) -> Option<&'a [u8]> {
        let (at, len) = *self.fields.get(i)?;
        if len < 0 { None } else { Some(&self.buf[at..at + len as usize]) }
    }
}

/// Run `COPY (select) TO STDOUT (FORMAT binary)` and call `row` with each
/// row as it arrives; memory holds one network chunk and one row.
pub async fn copy_rows<E: From<Error> + From<NotCopy>>(
    client: &tokio_postgres::Client,
    select: &str,
    table: &str,
    mut row: impl FnMut(&RowView<'_>) -> Result<(), E>,
) -> Result<(), E> {
    let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let ctx = || format!("reading table {table:?} back");
    let stream = client.copy_out(&sql).await.map_err(|e| Error::server(ctx(), &e))?;
    let mut stream = Box::pin(stream);
    let mut parser = CopyParser::default();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::server(ctx(), &e))?;
        parser.feed(&chunk, table, &mut row)?;
    }
    Ok(())
}

/// The rows of a binary COPY stream, whatever its chunking. The server
/// sends one row per `CopyData` message, so rows are read in place from the
/// message; only what a message leaves unfinished (a header or a row split
/// across messages) is kept in `pending` until the rest arrives.
#[derive(Default)]
struct CopyParser {
    pending: Vec<u8>,
    header_done: bool,
    fields: Vec<(usize, i32)>,
}

impl CopyParser {
    fn feed<E: From<NotCopy>>(
        &mut self,
        chunk: &[u8],
        table: &str,
        row: &mut impl FnMut(&RowView<'_>) -> Result<(), E>,
    ) -> Result<(), E> {
        let gathered = !self.pending.is_empty();
        if gathered {
            self.pending.extend_from_slice(chunk);
        }
        let data: &[u8] = if gathered { &self.pending } else { chunk };
        let mut pos = 0;
        if !self.header_done {
            let ext = data.get(15..19).map(|b| u32::from_be_bytes(b.try_into().expect("4 bytes")) as usize);
            match ext {
                Some(ext) if data.len() >= 19 + ext => {
                    if &data[..11] != SIGNATURE {
                        return Err(NotCopy { table: table.to_string() }.into());
                    }
                    pos = 19 + ext;
                    self.header_done = true;
                }
                _ => {
                    if !gathered {
                        self.pending.extend_from_slice(chunk);
                    }
                    return Ok(());
                }
            }
        }
        // Every complete row.
        while let Some(row_len) = complete_row(&data[pos..], &mut self.fields) {
            if row_len == 2 && self.fields.is_empty() && i16::from_be_bytes([data[pos], data[pos + 1]]) < 0 {
                // Trailer (-1 field count).
                pos += 2;
                break;
            }
            row(&RowView { buf: &data[pos..], fields: &self.fields })?;
            pos += row_len;
        }
        // Keep what belongs to the next row.
        if gathered {
            self.pending.drain(..pos);
        } else {
            self.pending.extend_from_slice(&chunk[pos..]);
        }
        Ok(())
    }
}

/// If `buf` starts with a complete row (or the trailer), its length, with
/// the fields' offsets in `fields`.
fn complete_row(buf: &[u8], fields: &mut Vec<(usize, i32)>) -> Option<usize> {
    fields.clear();
    if buf.len() < 2 {
        return None;
    }
    let n = i16::from_be_bytes([buf[0], buf[1]]);
    if n < 0 {
        return Some(2);
    }
    let mut pos = 2;
    for _ in 0..n {
        if buf.len() < pos + 4 {
            return None;
        }
        let len = i32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes"));
        pos += 4;
        fields.push((pos, len));
        if len > 0 {
            pos += len as usize;
        }
        if buf.len() < pos {
            return None;
        }
    }
    Some(pos)
}

/// One field of the binary COPY output as a [`Value`].
pub fn decode<'a>(pg: &PgType, field: Option<&'a [u8]>, text: &'a mut String) -> Result<Value<'a>, &'static str> {
    let Some(f) = field else { return Ok(Value::Null) };
    let be8 = |f: &[u8]| -> Result<[u8; 8], &'static str> { f.try_into().map_err(|_| "bad length") };
    Ok(match pg {
        PgType::Boolean => Value::Bool(*f.first().ok_or("empty boolean")? != 0),
        PgType::SmallInt => Value::Int(i16::from_be_bytes(f.try_into().map_err(|_| "bad length")?) as i64),
        PgType::Integer => Value::Int(i32::from_be_bytes(f.try_into().map_err(|_| "bad length")?) as i64),
        PgType::BigInt => Value::Int(i64::from_be_bytes(be8(f)?)),
        PgType::Byte => Value::Int(i64::from(i8::from_be_bytes(f.try_into().map_err(|_| "bad length")?))),
        PgType::Real => Value::Float(f32::from_be_bytes(f.try_into().map_err(|_| "bad length")?) as f64),
        PgType::Double => Value::Float(f64::from_be_bytes(be8(f)?)),
        PgType::Numeric { .. } => {
            text.clear();
            numeric::decode_binary(f, text)?;
            Value::Numeric(text.as_str())
        }
        PgType::Text | PgType::Varchar(_) | PgType::Char(_) | PgType::Enum { .. } => {
            Value::Text(crate::mapping::utf8(f).map_err(|_| "text is not UTF-8")?)
        }
        PgType::Interval => Value::Interval(crate::mapping::interval::from_send_bytes(f)?),
        PgType::Inet | PgType::Cidr => {
            crate::mapping::inet::check_send_bytes(f)?;
            Value::Net(f)
        }
        PgType::Bytea => Value::Bytes(f),
        PgType::Timestamp | PgType::Timestamptz => {
            Value::Timestamp(i64::from_be_bytes(be8(f)?).saturating_add(PG_EPOCH_OFFSET_MICROS))
        }
        PgType::Date => {
            Value::Date(i32::from_be_bytes(f.try_into().map_err(|_| "bad length")?).saturating_add(PG_EPOCH_OFFSET_DAYS as i32))
        }
        PgType::Time => Value::Time(i64::from_be_bytes(be8(f)?)),
        PgType::Json => Value::Json(crate::mapping::utf8(f).map_err(|_| "json is not UTF-8")?),
        PgType::Jsonb => {
            let (ver, rest) = f.split_first().ok_or("empty jsonb")?;
            if *ver != 1 {
                return Err("unknown jsonb binary version");
            }
            Value::Json(crate::mapping::utf8(rest).map_err(|_| "jsonb is not UTF-8")?)
        }
        PgType::Uuid => Value::Uuid(f.try_into().map_err(|_| "bad uuid length")?),
        // array_send's output is the canonical form ferry encodes.
        PgType::TextArray => Value::TextArray(f),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A binary COPY stream: header (with a 4-byte extension), `rows` of
    /// fields (None is NULL), trailer.
    fn copy_stream(rows: &[Vec<Option<Vec<u8>>>]) -> Vec<u8> {
        let mut s = SIGNATURE.to_vec();
        s.extend_from_slice(&0u32.to_be_bytes());
        s.extend_from_slice(&4u32.to_be_bytes());
        s.extend_from_slice(b"ext!");
        for r in rows {
            s.extend_from_slice(&(r.len() as i16).to_be_bytes());
            for f in r {
                match f {
                    Some(b) => {
                        s.extend_from_slice(&(b.len() as i32).to_be_bytes());
                        s.extend_from_slice(b);
                    }
                    None => s.extend_from_slice(&(-1i32).to_be_bytes()),
                }
            }
        }
        s.extend_from_slice(&(-1i16).to_be_bytes());
        s
    }

    #[test]
    fn copy_rows_are_the_same_whatever_the_chunking() {
        let rows: Vec<Vec<Option<Vec<u8>>>> = (0..50u8)
            .map(|i| vec![Some(vec![i; i as usize % 7]), None, Some((0..i).collect()), Some(Vec::new())])
            .collect();
        let stream = copy_stream(&rows);
        for size in [1, 2, 3, 5, 18, 19, 20, 23, 64, 1000, stream.len()] {
            let mut parser = CopyParser::default();
            let mut seen: Vec<Vec<Option<Vec<u8>>>> = Vec::new();
            let mut collect = |r: &RowView<'_>| -> Result<(), NotCopy> {
                seen.push((0..4).map(|i| r.field(i).map(<[u8]>::to_vec)).collect());
                Ok(())
            };
            for chunk in stream.chunks(size) {
                parser.feed(chunk, "t", &mut collect).unwrap();
            }
            assert_eq!(seen, rows, "chunks of {size} bytes");
            assert!(parser.pending.is_empty(), "chunks of {size} bytes: {} bytes left", parser.pending.len());
        }
        let mut parser = CopyParser::default();
        let err = parser.feed(b"PGCOPZ\n\xff\r\n\0\0\0\0\0\0\0\0\0", "t", &mut |_| Ok::<(), NotCopy>(())).unwrap_err();
        assert!(err.to_string().contains("not a binary COPY stream"), "{err}");
    }
}
