//! Verify: row counts first, then the canonical content hash of every table
//! on both sides.
//!
//! The target side is read with `COPY (SELECT …) TO STDOUT (FORMAT binary)`
//! and each field is decoded by its column's type into the same [`Value`]
//! the source side produced, then hashed by `digest::hash_value`. Hashing
//! meaning rather than bytes is what makes jsonb key order, numeric scale or
//! the session time zone irrelevant.

pub mod digest;

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;

use crate::mapping::convert::Value;
use crate::mapping::datetime::PG_EPOCH_OFFSET_MICROS;
use crate::mapping::numeric;
use crate::mapping::types::PgType;
use crate::plan::TablePlan;
use crate::target::encode::PG_EPOCH_OFFSET_DAYS;
use crate::target::{self, ident};
use digest::{hash_value, TableDigest};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Target(#[from] target::Error),
    #[error("table {table:?}, column {column:?}: cannot decode the value PostgreSQL sent: {reason}")]
    Decode { table: String, column: String, reason: String },
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
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Status {
    Equal,
    CountDiffers,
    ContentDiffers,
    /// Counts only (content hash not computed, e.g. `--no-verify`).
    CountEqual,
}

impl TableCheck {
    pub fn compare(table: &str, source: &TableDigest, target: &TableDigest) -> TableCheck {
        let status = if source.rows != target.rows {
            Status::CountDiffers
        } else if source != target {
            Status::ContentDiffers
        } else {
            Status::Equal
        };
        TableCheck {
            table: table.to_string(),
            source_rows: source.rows,
            target_rows: target.rows,
            source_hash: Some(source.hex()),
            target_hash: Some(target.hex()),
            status,
        }
    }

    pub fn ok(&self) -> bool {
        matches!(self.status, Status::Equal | Status::CountEqual)
    }
}

/// `SELECT count(*)` of a target table.
pub async fn target_count(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan) -> Result<u64, Error> {
    let sql = format!("SELECT count(*) FROM {}", ident::qualified(schema, &tp.map.target));
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| target::Error::server(format!("counting rows of table {:?}", tp.map.target), &e))?;
    Ok(row.get::<_, i64>(0) as u64)
}

/// Read a target table back and hash it canonically.
pub async fn target_digest(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan) -> Result<TableDigest, Error> {
    let cols: Vec<String> = tp.map.columns.iter().map(|c| ident::quote(&c.target)).collect();
    let sql = format!(
        "COPY (SELECT {} FROM {}) TO STDOUT (FORMAT binary)",
        if cols.is_empty() { "1".to_string() } else { cols.join(", ") },
        ident::qualified(schema, &tp.map.target)
    );
    let ctx = || format!("reading table {:?} back", tp.map.target);
    let stream = client.copy_out(&sql).await.map_err(|e| target::Error::server(ctx(), &e))?;
    let mut stream = Box::pin(stream);
    let mut buf = BytesMut::new();
    let mut digest = TableDigest::default();
    let mut header_done = false;
    let mut scratch = Vec::new();
    let mut text = String::new();
    let decode_err = |column: &str, reason: &str| Error::Decode {
        table: tp.map.target.clone(),
        column: column.to_string(),
        reason: reason.to_string(),
    };
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| target::Error::server(ctx(), &e))?;
        buf.extend_from_slice(&chunk);
        if !header_done {
            if buf.len() < 19 {
                continue;
            }
            let ext = u32::from_be_bytes(buf[15..19].try_into().expect("4 bytes")) as usize;
            if buf.len() < 19 + ext {
                continue;
            }
            if &buf[..11] != b"PGCOPY\n\xff\r\n\0" {
                return Err(decode_err("*", "not a binary COPY stream"));
            }
            buf.advance(19 + ext);
            header_done = true;
        }
        // Parse every complete row in the buffer.
        loop {
            let Some(row_len) = complete_row_len(&buf) else { break };
            if row_len == 2 {
                // Trailer (-1 field count).
                buf.advance(2);
                break;
            }
            let mut pos = 2;
            let mut h = blake3::Hasher::new();
            for cm in &tp.map.columns {
                let len = i32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes"));
                pos += 4;
                let field = if len < 0 {
                    None
                } else {
                    let f = &buf[pos..pos + len as usize];
                    pos += len as usize;
                    Some(f)
                };
                let value = decode(&cm.pg_type, field, &mut text).map_err(|r| decode_err(&cm.target, r))?;
                hash_value(&mut h, &cm.pg_type, &value, &mut scratch);
            }
            if tp.map.columns.is_empty() {
                // SELECT 1: one field to skip.
                pos += 4 + 4;
            }
            digest.add_row(&h.finalize());
            buf.advance(pos);
        }
    }
    Ok(digest)
}

/// Length of the first complete row (or trailer) in `buf`, if complete.
fn complete_row_len(buf: &[u8]) -> Option<usize> {
    if buf.len() < 2 {
        return None;
    }
    let fields = i16::from_be_bytes([buf[0], buf[1]]);
    if fields < 0 {
        return Some(2);
    }
    let mut pos = 2;
    for _ in 0..fields {
        if buf.len() < pos + 4 {
            return None;
        }
        let len = i32::from_be_bytes(buf[pos..pos + 4].try_into().expect("4 bytes"));
        pos += 4;
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
        PgType::Real => Value::Float(f32::from_be_bytes(f.try_into().map_err(|_| "bad length")?) as f64),
        PgType::Double => Value::Float(f64::from_be_bytes(be8(f)?)),
        PgType::Numeric { .. } => {
            text.clear();
            numeric::decode_binary(f, text)?;
            Value::Numeric(text.as_str())
        }
        PgType::Text | PgType::Varchar(_) | PgType::Enum { .. } => Value::Text(std::str::from_utf8(f).map_err(|_| "text is not UTF-8")?),
        PgType::Bytea => Value::Bytes(f),
        PgType::Timestamp | PgType::Timestamptz => {
            Value::Timestamp(i64::from_be_bytes(be8(f)?).saturating_add(PG_EPOCH_OFFSET_MICROS))
        }
        PgType::Date => {
            Value::Date(i32::from_be_bytes(f.try_into().map_err(|_| "bad length")?).saturating_add(PG_EPOCH_OFFSET_DAYS))
        }
        PgType::Time => Value::Time(i64::from_be_bytes(be8(f)?)),
        PgType::Json => Value::Json(std::str::from_utf8(f).map_err(|_| "json is not UTF-8")?),
        PgType::Jsonb => {
            let (ver, rest) = f.split_first().ok_or("empty jsonb")?;
            if *ver != 1 {
                return Err("unknown jsonb binary version");
            }
            Value::Json(std::str::from_utf8(rest).map_err(|_| "jsonb is not UTF-8")?)
        }
        PgType::Uuid => Value::Uuid(f.try_into().map_err(|_| "bad uuid length")?),
    })
}
