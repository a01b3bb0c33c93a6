//! Verify: row counts first, then the canonical content hash of every table
//! on both sides.
//!
//! The target side is read with `COPY (SELECT …) TO STDOUT (FORMAT binary)`
//! and each field is decoded by its column's type into the same [`Value`]
//! the source side produced, then hashed by `digest::write_value`. Hashing
//! meaning rather than bytes is what makes jsonb key order, numeric scale or
//! the session time zone irrelevant.

pub mod digest;
pub mod localize;

use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::{Buf, BytesMut};
use futures_util::StreamExt;
use serde::Serialize;

use crate::mapping::convert::Value;
use crate::mapping::datetime::PG_EPOCH_OFFSET_MICROS;
use crate::mapping::numeric;
use crate::mapping::types::PgType;
use crate::pipeline::TableLoad;
use crate::plan::{Plan, TablePlan};
use crate::target::encode::PG_EPOCH_OFFSET_DAYS;
use crate::target::{self, ident, Target};
use digest::TableDigest;

pub use localize::{DiffKind, Difference};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Target(#[from] target::Error),
    #[error("table {table:?}, column {column:?}: cannot decode the value PostgreSQL sent: {reason}")]
    Decode { table: String, column: String, reason: String },
    #[error("reading table {table:?} from the source: {message}")]
    Source { table: String, message: String },
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
    /// The rows that differ, by key, when the table differs (at most
    /// `--max-diffs`); see [`localize`].
    pub differences: Vec<Difference>,
    /// More rows differ than `differences` lists.
    pub more_differences: bool,
    /// Why the differing rows could not be named (no key), if so.
    pub unlocated: Option<String>,
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
    /// Counts first: a count mismatch is the status whatever the hashes say.
    pub fn compare(table: &str, source: &TableDigest, target: &TableDigest) -> TableCheck {
        let status = if source.rows != target.rows {
            Status::CountDiffers
        } else if source != target {
            Status::ContentDiffers
        } else {
            Status::Equal
        };
        TableCheck {
            source_hash: Some(source.hex()),
            target_hash: Some(target.hex()),
            ..TableCheck::counts(table, source.rows, target.rows, None, status)
        }
    }

    /// A check from row counts alone.
    pub fn counts(table: &str, source_rows: u64, target_rows: u64, source_hash: Option<String>, status: Status) -> TableCheck {
        TableCheck {
            table: table.to_string(),
            source_rows,
            target_rows,
            source_hash,
            target_hash: None,
            status,
            differences: Vec::new(),
            more_differences: false,
            unlocated: None,
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

/// `SELECT` list of the plan's target columns, in plan order (`1` when the
/// table has no mapped column, so that every row still yields a row).
pub(crate) fn select_list(tp: &TablePlan) -> String {
    if tp.map.columns.is_empty() {
        return "1".to_string();
    }
    tp.map.columns.iter().map(|c| ident::quote(&c.target)).collect::<Vec<_>>().join(", ")
}

/// Read a target table back and hash it canonically.
pub async fn target_digest(client: &tokio_postgres::Client, schema: &str, tp: &TablePlan) -> Result<TableDigest, Error> {
    let sql = format!("SELECT {} FROM {}", select_list(tp), ident::qualified(schema, &tp.map.target));
    let mut digest = TableDigest::default();
    let mut scratch = Vec::new();
    let mut text = String::new();
    let mut row_bytes: Vec<u8> = Vec::with_capacity(256);
    copy_rows(client, &sql, &tp.map.target, |row| {
        row_bytes.clear();
        for (i, cm) in tp.map.columns.iter().enumerate() {
            let value = decode(&cm.pg_type, row.field(i), &mut text).map_err(|r| decode_error(tp, &cm.target, r))?;
            digest::write_value(&mut row_bytes, &cm.pg_type, &value, &mut scratch);
        }
        digest.add_row(&blake3::hash(&row_bytes));
        Ok(())
    })
    .await?;
    Ok(digest)
}

/// Read every table back and hash it, on `connections` connections at once
/// (biggest tables first). Results in the order of `tables`.
pub async fn target_digests(
    target: &Target,
    schema: &str,
    tables: &[TablePlan],
    connections: usize,
) -> Result<Vec<TableDigest>, Error> {
    let mut order: Vec<usize> = (0..tables.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(tables[i].row_count));
    let queue = Arc::new(Mutex::new(order.into_iter()));
    let tables: Arc<Vec<TablePlan>> = Arc::new(tables.to_vec());
    let results: Arc<Mutex<Vec<Option<TableDigest>>>> = Arc::new(Mutex::new(vec![None; tables.len()]));
    let mut tasks = Vec::new();
    for _ in 0..connections.clamp(1, tables.len().max(1)) {
        let (queue, tables, results, target, schema) =
            (queue.clone(), tables.clone(), results.clone(), target.clone(), schema.to_string());
        tasks.push(tokio::spawn(async move {
            let client = target.connect().await?;
            loop {
                let Some(i) = queue.lock().expect("queue lock").next() else { return Ok::<_, Error>(()) };
                let d = target_digest(&client, &schema, &tables[i]).await?;
                results.lock().expect("results lock")[i] = Some(d);
            }
        }));
    }
    let mut first_error = None;
    for t in tasks {
        match t.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => {
                first_error.get_or_insert(e);
            }
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        }
    }
    if let Some(e) = first_error {
        return Err(e);
    }
    let results = std::mem::take(&mut *results.lock().expect("results lock"));
    Ok(results.into_iter().map(|d| d.expect("every table read")).collect())
}

/// Target connections reading tables side by side.
pub const READ_CONNECTIONS: usize = 4;

/// After a load: compare every table of `plan` with what the load sent
/// (`loads`), counts first, then (with `hash`) content hashes read back on
/// a few connections at once; tables that differ are localized against
/// `source` (at most `max_diffs` rows each).
pub async fn check_loaded(
    target: &Target,
    plan: &Plan,
    loads: &[TableLoad],
    hash: bool,
    source: &Path,
    max_diffs: usize,
) -> Result<Vec<TableCheck>, Error> {
    let client = target.connect().await?;
    let load_of = |tp: &TablePlan| -> Result<&TableLoad, Error> {
        loads.iter().find(|l| l.table == tp.source.name).ok_or_else(|| Error::Source {
            table: tp.source.name.clone(),
            message: "the table was not loaded".into(),
        })
    };
    let mut checks = Vec::new();
    if hash {
        let digests = target_digests(target, &plan.pg_schema, &plan.tables, READ_CONNECTIONS).await?;
        for (tp, d) in plan.tables.iter().zip(&digests) {
            let load = load_of(tp)?;
            let mut c = TableCheck::compare(&tp.source.name, &load.digest, d);
            // Rows rejected by the bad-value policy were never sent.
            if load.rows + load.bad.rejected != tp.row_count {
                // The source changed under the load: the count it had first.
                c.source_rows = tp.row_count;
                c.status = Status::CountDiffers;
            }
            checks.push(c);
        }
    } else {
        for tp in &plan.tables {
            let load = load_of(tp)?;
            let count = target_count(&client, &plan.pg_schema, tp).await?;
            let status =
                if count != load.rows || load.rows + load.bad.rejected != tp.row_count { Status::CountDiffers } else { Status::CountEqual };
            let source_rows = if status == Status::CountDiffers { tp.row_count } else { load.rows };
            checks.push(TableCheck::counts(&tp.source.name, source_rows, count, Some(load.hash.clone()), status));
        }
    }
    for (tp, c) in plan.tables.iter().zip(checks.iter_mut()) {
        localize::localize(&client, source, &plan.pg_schema, tp, c, max_diffs).await?;
    }
    Ok(checks)
}

fn decode_error(tp: &TablePlan, column: &str, reason: &str) -> Error {
    Error::Decode { table: tp.map.target.clone(), column: column.to_string(), reason: reason.to_string() }
}

/// One row of a binary COPY stream: its fields, borrowed from the buffer.
pub(crate) struct RowView<'a> {
    buf: &'a [u8],
    /// (offset, length) of each field; length −1 is NULL.
    fields: &'a [(usize, i32)],
}

impl<'a> RowView<'a> {
    #[inline]
    pub(crate) fn field(&self, i: usize) -> Option<&'a [u8]> {
        let (at, len) = *self.fields.get(i)?;
        if len < 0 { None } else { Some(&self.buf[at..at + len as usize]) }
    }
}

/// Run `COPY (select) TO STDOUT (FORMAT binary)` and call `row` with each
/// row as it arrives; memory holds one network chunk and one row.
pub(crate) async fn copy_rows(
    client: &tokio_postgres::Client,
    select: &str,
    table: &str,
    mut row: impl FnMut(&RowView<'_>) -> Result<(), Error>,
) -> Result<(), Error> {
    let sql = format!("COPY ({select}) TO STDOUT (FORMAT binary)");
    let ctx = || format!("reading table {table:?} back");
    let stream = client.copy_out(&sql).await.map_err(|e| target::Error::server(ctx(), &e))?;
    let mut stream = Box::pin(stream);
    let mut buf = BytesMut::new();
    let mut header_done = false;
    let mut fields: Vec<(usize, i32)> = Vec::new();
    let bad_stream = |reason: &str| Error::Decode { table: table.to_string(), column: "*".into(), reason: reason.into() };
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
                return Err(bad_stream("not a binary COPY stream"));
            }
            buf.advance(19 + ext);
            header_done = true;
        }
        // Every complete row in the buffer.
        while let Some(row_len) = complete_row(&buf, &mut fields) {
            if row_len == 2 && fields.is_empty() && i16::from_be_bytes([buf[0], buf[1]]) < 0 {
                // Trailer (-1 field count).
                buf.advance(2);
                break;
            }
            row(&RowView { buf: &buf, fields: &fields })?;
            buf.advance(row_len);
        }
    }
    Ok(())
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
        PgType::Real => Value::Float(f32::from_be_bytes(f.try_into().map_err(|_| "bad length")?) as f64),
        PgType::Double => Value::Float(f64::from_be_bytes(be8(f)?)),
        PgType::Numeric { .. } => {
            text.clear();
            numeric::decode_binary(f, text)?;
            Value::Numeric(text.as_str())
        }
        PgType::Text | PgType::Varchar(_) | PgType::Enum { .. } => Value::Text(crate::mapping::utf8(f).map_err(|_| "text is not UTF-8")?),
        PgType::Bytea => Value::Bytes(f),
        PgType::Timestamp | PgType::Timestamptz => {
            Value::Timestamp(i64::from_be_bytes(be8(f)?).saturating_add(PG_EPOCH_OFFSET_MICROS))
        }
        PgType::Date => {
            Value::Date(i32::from_be_bytes(f.try_into().map_err(|_| "bad length")?).saturating_add(PG_EPOCH_OFFSET_DAYS))
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
