//! The rows both sides of a comparison see, one value at a time: the key
//! that names a table's rows and its 64-bit *position* (see `localize`),
//! and the source (converted, as the load converts) and target (decoded)
//! views of a row behind one trait, so that localization and `sync` read
//! both sides with the same code.

use std::fmt;
use std::path::Path;

use rusqlite::types::ValueRef;

use super::{decode_error, Error};
use crate::mapping::convert::{Scratch, Value};
use crate::mapping::file::BadValuePolicy;
use crate::mapping::types::PgType;
use crate::model::RowKey;
use crate::plan::TablePlan;
use crate::postgres::decode::{decode, RowView};
use crate::postgres::{self, ident};
use crate::sqlite;
use crate::sqlite::pool::describe_value;

/// How rows are positioned (see the module docs). Column indexes are into
/// the plan's mapped columns.
#[derive(Debug, Clone)]
pub enum Key {
    Int { col: usize, rowid_alias: bool },
    Hashed { cols: Vec<usize> },
}

impl Key {
    pub fn cols(&self) -> Vec<usize> {
        match self {
            Key::Int { col, .. } => vec![*col],
            Key::Hashed { cols } => cols.clone(),
        }
    }
}

/// The key that names a table's rows: the primary key, else the first
/// unique index over plain NOT NULL columns (SQLite lets a unique index
/// hold any number of NULLs). `Err` says why there is none.
pub fn choose_key(tp: &TablePlan) -> Result<Key, String> {
    let find = |names: &[Option<String>]| -> Option<Vec<usize>> {
        names
            .iter()
            .map(|n| n.as_ref().and_then(|n| tp.map.columns.iter().position(|c| &c.source == n)))
            .collect()
    };
    let pk: Vec<Option<String>> = tp.source.primary_key.iter().cloned().map(Some).collect();
    let cols = (!pk.is_empty())
        .then(|| find(&pk))
        .flatten()
        .or_else(|| {
            tp.source
                .indexes
                .iter()
                .filter(|ix| ix.unique && !ix.partial && !ix.columns.is_empty())
                .filter(|ix| {
                    ix.columns.iter().all(|c| {
                        c.as_ref().and_then(|c| tp.source.columns.iter().find(|sc| &sc.name == c)).is_some_and(|sc| sc.not_null)
                    })
                })
                .find_map(|ix| find(&ix.columns))
        })
        .ok_or_else(|| {
            if pk.is_empty() {
                "the table has no primary key or unique index, so the differing rows cannot be named; only its counts and hash are compared".to_string()
            } else {
                "the table's primary key columns are not all migrated, so the differing rows cannot be named; only its counts and hash are compared".to_string()
            }
        })?;
    if let [c] = cols[..] {
        let cm = &tp.map.columns[c];
        if cm.pg_type.is_integer() {
            let rowid_alias = matches!(tp.source.row_key, RowKey::RowidAlias { column } if column == cm.source_index);
            return Ok(Key::Int { col: c, rowid_alias });
        }
    }
    Ok(Key::Hashed { cols })
}

#[inline]
pub fn int_pos(k: i64) -> u64 {
    (k as u64) ^ (1 << 63)
}

#[inline]
pub fn pos_int(p: u64) -> i64 {
    (p ^ (1 << 63)) as i64
}

/// A row whose values are converted (source) or decoded (target) one at a
/// time: each borrows a scratch buffer that the next one reuses. `None`: the
/// row is left out, as the load left it out (bad-value policy `reject`).
pub trait Row {
    fn with<T>(&mut self, col: usize, f: impl FnOnce(&PgType, &Value<'_>) -> T) -> Result<Option<T>, Error>;
}

pub struct SourceRow<'a, 'r> {
    pub row: &'a rusqlite::Row<'r>,
    pub tp: &'a TablePlan,
    pub scratch: &'a mut Scratch,
}

impl Row for SourceRow<'_, '_> {
    fn with<T>(&mut self, col: usize, f: impl FnOnce(&PgType, &Value<'_>) -> T) -> Result<Option<T>, Error> {
        let cm = &self.tp.map.columns[col];
        let v: ValueRef<'_> = self.row.get_ref(col).map_err(|e| source_error(self.tp, e))?;
        // A bad value is treated as the load treats it (`pipeline::reader`).
        let reason = match cm.converter.convert(v, self.scratch) {
            Ok(Value::Null) if cm.not_null => "NULL in a NOT NULL column".to_string(),
            Ok(value) => return Ok(Some(f(&cm.pg_type, &value))),
            Err(bad) => bad.reason.to_string(),
        };
        match cm.on_bad_value {
            BadValuePolicy::Null if !cm.not_null => Ok(Some(f(&cm.pg_type, &Value::Null))),
            BadValuePolicy::Reject => Ok(None),
            _ => Err(Error::Source {
                table: self.tp.source.name.clone(),
                message: format!("column {:?}: bad value {}: {reason}", cm.source, describe_value(v)),
            }),
        }
    }
}

pub struct TargetRow<'a, 'b> {
    pub view: &'a RowView<'b>,
    pub tp: &'a TablePlan,
    pub text: &'a mut String,
}

impl Row for TargetRow<'_, '_> {
    fn with<T>(&mut self, col: usize, f: impl FnOnce(&PgType, &Value<'_>) -> T) -> Result<Option<T>, Error> {
        let cm = &self.tp.map.columns[col];
        let value = decode(&cm.pg_type, self.view.field(col), self.text).map_err(|r| decode_error(self.tp, &cm.target, r))?;
        Ok(Some(f(&cm.pg_type, &value)))
    }
}

pub fn source_error(tp: &TablePlan, e: impl fmt::Display) -> Error {
    Error::Source { table: tp.source.name.clone(), message: e.to_string() }
}

/// Where an integer key's values lie, on both sides (positions), to space
/// the first buckets over the data rather than over all 2^64 keys.
pub async fn int_hint(client: &tokio_postgres::Client, source: &Path, schema: &str, tp: &TablePlan, col: usize) -> Result<(u64, u64), Error> {
    let cm = &tp.map.columns[col];
    let src: (Option<i64>, Option<i64>) = {
        let (path, table, column) = (source.to_path_buf(), tp.source.name.clone(), cm.source.clone());
        let tp2 = tp.clone();
        tokio::task::spawn_blocking(move || -> Result<_, Error> {
            let (conn, _) = sqlite::snapshot::open_in_snapshot(&path).map_err(|e| source_error(&tp2, format!("{e:#}")))?;
            let k = ident::quote(&column);
            let sql = format!("SELECT min({k}), max({k}) FROM {} WHERE typeof({k}) = 'integer'", ident::quote(&table));
            conn.query_row(&sql, [], |r| Ok((r.get(0)?, r.get(1)?))).map_err(|e| source_error(&tp2, e))
        })
        .await
        .expect("source task")?
    };
    let k = ident::quote(&cm.target);
    let sql = format!("SELECT min({k})::int8, max({k})::int8 FROM {}", ident::qualified(schema, &tp.map.target));
    let row = client
        .query_one(&sql, &[])
        .await
        .map_err(|e| postgres::Error::server(format!("reading the key range of table {:?}", tp.map.target), &e))?;
    let tgt: (Option<i64>, Option<i64>) = (row.get(0), row.get(1));
    let lo = [src.0, tgt.0].into_iter().flatten().min().unwrap_or(i64::MIN);
    let hi = [src.1, tgt.1].into_iter().flatten().max().unwrap_or(i64::MAX);
    Ok((int_pos(lo), int_pos(hi.max(lo))))
}
