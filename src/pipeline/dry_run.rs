//! The dry run's conversion pass: every value of every table through its
//! converter, with nothing encoded or sent, collecting each problem instead
//! of stopping at the first. Also the checks SQLite never made: rows whose
//! foreign key points nowhere, and duplicates on keys that will be unique.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use rusqlite::types::ValueRef;
use serde::Serialize;

use crate::sqlite::pool::{describe_value, rowid_name, with_connection};
use super::Error;
use crate::error::Location;
use crate::mapping::convert::{Change, Scratch, Value};
use crate::plan::{Plan, TablePlan};
use crate::postgres::ident::quote;

/// How many sample rows to keep per problem.
const SAMPLES: usize = 5;

#[derive(Debug, Clone, Serialize)]
pub struct Problem {
    pub table: String,
    pub column: Option<String>,
    /// `bad_value`, `null_in_not_null`, `orphan_foreign_key`, `duplicate_key`.
    pub kind: String,
    pub reason: String,
    pub count: u64,
    /// Row references (rowid or key) and values of the first few.
    pub samples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableDryRun {
    pub table: String,
    pub rows: u64,
    pub seconds: f64,
    /// Columns whose values the load rounds to `real` (float4).
    pub rounded: Vec<Rounding>,
}

/// Values of one column that `real` (float4) stores rounded: not a
/// problem (PostgreSQL's own cast would store the same), but never silent.
#[derive(Debug, Clone, Serialize)]
pub struct Rounding {
    pub table: String,
    pub column: String,
    pub count: u64,
    pub max_relative_change: f64,
    /// The first few: row, source value and the value stored.
    pub samples: Vec<String>,
}

/// Convert every value of every planned table; problems grouped by table,
/// column and reason.
/// `unique`: per source table, more column lists (source names) that will be
/// unique in the target (existing mode: the target's own keys).
pub fn convert_all(
    source: &Path,
    plan: &Plan,
    unique: &BTreeMap<String, Vec<Vec<String>>>,
) -> Result<(Vec<Problem>, Vec<TableDryRun>), Error> {
    let mut problems = Vec::new();
    let mut tables = Vec::new();
    for tp in &plan.tables {
        let t0 = Instant::now();
        let mut rounded = Vec::new();
        let rows = check_table(source, tp, &mut problems, &mut rounded)?;
        tables.push(TableDryRun { table: tp.source.name.clone(), rows, seconds: t0.elapsed().as_secs_f64(), rounded });
    }
    problems.extend(orphans_and_duplicates(source, plan, unique)?);
    Ok((problems, tables))
}

fn check_table(source: &Path, tp: &TablePlan, out: &mut Vec<Problem>, rounded: &mut Vec<Rounding>) -> Result<u64, Error> {
    let rowid = rowid_name(&tp.source);
    let mut cols: Vec<String> = tp.map.columns.iter().map(|c| quote(&c.source)).collect();
    if let Some(r) = &rowid {
        cols.push(r.to_string());
    }
    // The primary key after the rowid, to name a row by its key.
    cols.extend(tp.source.primary_key.iter().map(|c| quote(c)));
    let sql = format!("SELECT {} FROM {}", if cols.is_empty() { "1".into() } else { cols.join(", ") }, quote(&tp.source.name));
    let loc = |m: String| Error::Source { location: Location::table(&tp.source.name), message: m };
    // (column, reason) → (count, samples)
    let mut found: BTreeMap<(String, String, &'static str), (u64, Vec<String>)> = BTreeMap::new();
    // Per column: values rounded to float4.
    let mut roundings: Vec<Option<Rounding>> = vec![None; tp.map.columns.len()];
    let n = with_connection(source, |conn| {
        let mut stmt = conn.prepare(&sql).map_err(|e| loc(e.to_string()))?;
        let mut rows = stmt.query([]).map_err(|e| loc(e.to_string()))?;
        let mut scratch = Scratch::default();
        let mut n = 0u64;
        let ncols = tp.map.columns.len();
        while let Some(row) = rows.next().map_err(|e| loc(e.to_string()))? {
            n += 1;
            for (i, cm) in tp.map.columns.iter().enumerate() {
                let v = row.get_ref(i).map_err(|e| loc(e.to_string()))?;
                let mut change = Change::default();
                let (kind, reason) = match cm.converter.convert_counted(v, &mut scratch, &mut change) {
                    Ok(Value::Null) if cm.not_null => ("null_in_not_null", "NULL in a NOT NULL column".to_string()),
                    Ok(stored) => {
                        if let Some(rel) = change.rounded {
                            let r = roundings[i].get_or_insert_with(|| Rounding {
                                table: tp.source.name.clone(),
                                column: cm.source.clone(),
                                count: 0,
                                max_relative_change: 0.0,
                                samples: Vec::new(),
                            });
                            r.count += 1;
                            r.max_relative_change = r.max_relative_change.max(rel);
                            if r.samples.len() < SAMPLES {
                                let at = row_label(row, ncols, &tp.source, rowid.is_some(), n);
                                let stored = match stored {
                                    Value::Float(f) => format!("{}", f as f32),
                                    _ => String::new(),
                                };
                                r.samples.push(format!("{at}: {} stored as {stored}", describe_value(v)));
                            }
                        }
                        continue;
                    }
                    Err(bad) => ("bad_value", format!("{} (column type {})", bad.reason, cm.pg_type)),
                };
                let e = found.entry((cm.source.clone(), reason, kind)).or_default();
                e.0 += 1;
                if e.1.len() < SAMPLES {
                    let at = row_label(row, ncols, &tp.source, rowid.is_some(), n);
                    e.1.push(format!("{at}: {}", describe_value(v)));
                }
            }
        }
        Ok::<_, Error>(n)
    })?;
    rounded.extend(roundings.into_iter().flatten());
    for ((column, reason, kind), (count, samples)) in found {
        out.push(Problem { table: tp.source.name.clone(), column: Some(column), kind: kind.into(), reason, count, samples });
    }
    Ok(n)
}

/// A row as a person finds it again, by its key: `id=7 (rowid 7)` when the
/// primary key is the rowid, `a='x', b=2` for another primary key, `rowid 7`
/// without one, else its position `row 7`. The rowid (when read) is column
/// `at`, the primary key's columns follow it. Built only for the rows shown.
fn row_label(row: &rusqlite::Row<'_>, at: usize, t: &crate::model::Table, has_rowid: bool, n: u64) -> String {
    let rowid = match (has_rowid, row.get_ref(at)) {
        (true, Ok(ValueRef::Integer(r))) => Some(r),
        _ => None,
    };
    let first = at + usize::from(has_rowid);
    if !t.primary_key.is_empty() {
        let key: Vec<String> = t
            .primary_key
            .iter()
            .enumerate()
            .map(|(j, c)| format!("{c}={}", row.get_ref(first + j).map(key_text).unwrap_or_default()))
            .collect();
        return match (&t.row_key, rowid) {
            (crate::model::RowKey::RowidAlias { .. }, Some(r)) => format!("{} (rowid {r})", key.join(", ")),
            _ => key.join(", "),
        };
    }
    match rowid {
        Some(r) => format!("rowid {r}"),
        None => format!("row {n}"),
    }
}

/// Foreign keys whose parent row is missing, and duplicates on the source's
/// unique keys (a PostgreSQL primary key or unique index would refuse them).
fn orphans_and_duplicates(
    source: &Path,
    plan: &Plan,
    unique: &BTreeMap<String, Vec<Vec<String>>>,
) -> Result<Vec<Problem>, Error> {
    let mut out = Vec::new();
    for tp in &plan.tables {
        let t = &tp.source;
        let loc = |m: String| Error::Source { location: Location::table(&t.name), message: m };
        for fk in &t.foreign_keys {
            if !fk.ref_exists || fk.ref_columns.len() != fk.columns.len() || fk.columns.is_empty() {
                continue;
            }
            let child: Vec<String> = fk.columns.iter().map(|c| format!("c.{}", quote(c))).collect();
            let on: Vec<String> = fk
                .columns
                .iter()
                .zip(&fk.ref_columns)
                .map(|(c, p)| format!("p.{} = c.{}", quote(p), quote(c)))
                .collect();
            let not_null: Vec<String> = child.iter().map(|c| format!("{c} IS NOT NULL")).collect();
            // The child row's key first, so the person finds the row itself.
            let values: Vec<String> = child.iter().map(|c| format!("quote({c})")).collect();
            let sql = format!(
                "SELECT {} || {} || {} FROM {} c WHERE {} AND NOT EXISTS (SELECT 1 FROM {} p WHERE {})",
                row_key_label(t, "c."),
                sql_text(&format!(": ({}) = ", fk.columns.join(", "))),
                values.join(" || ', ' || "),
                quote(&t.name),
                not_null.join(" AND "),
                quote(&fk.ref_table),
                on.join(" AND ")
            );
            let (count, samples) = text_query(source, &sql).map_err(loc)?;
            if count > 0 {
                out.push(Problem {
                    table: t.name.clone(),
                    column: Some(fk.columns.join(", ")),
                    kind: "orphan_foreign_key".into(),
                    reason: format!("points to no row of {:?} ({})", fk.ref_table, fk.ref_columns.join(", ")),
                    count,
                    samples,
                });
            }
        }
        let mut keys: Vec<Vec<String>> = Vec::new();
        if !t.primary_key.is_empty() && !matches!(t.row_key, crate::model::RowKey::RowidAlias { .. }) {
            keys.push(t.primary_key.clone());
        }
        for ix in t.indexes.iter().filter(|i| i.unique && !i.partial && i.origin != "pk") {
            if let Some(cols) = ix.columns.iter().cloned().collect::<Option<Vec<String>>>() {
                keys.push(cols);
            }
        }
        for extra in unique.get(&t.name).into_iter().flatten() {
            if !keys.contains(extra) {
                keys.push(extra.clone());
            }
        }
        for key in keys {
            if let Some(p) = converted_duplicates(source, tp, &key)? {
                out.push(p);
            }
        }
    }
    Ok(out)
}


/// SQL text naming a row by its key: `id=7`, `a='x', b=2` (SQLite's
/// `quote()`), or `rowid 7` without a primary key. `alias` prefixes columns.
fn row_key_label(t: &crate::model::Table, alias: &str) -> String {
    if !t.primary_key.is_empty() {
        let parts: Vec<String> = t
            .primary_key
            .iter()
            .enumerate()
            .map(|(i, c)| {
                let sep = if i == 0 { "" } else { ", " };
                format!("{} || quote({alias}{})", sql_text(&format!("{sep}{c}=")), quote(c))
            })
            .collect();
        return parts.join(" || ");
    }
    match rowid_name(t) {
        Some(rowid) => format!("'rowid ' || {alias}{rowid}"),
        None => "'row'".into(),
    }
}

/// A SQL string literal.
fn sql_text(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}


/// Run a query returning one text column: how many rows, and the first few
/// as they are.
fn text_query(source: &Path, sql: &str) -> Result<(u64, Vec<String>), String> {
    with_connection(source, |conn| {
        let e = |e: rusqlite::Error| Error::Source { location: Location::table("*"), message: e.to_string() };
        let mut stmt = conn.prepare(sql).map_err(e)?;
        let mut rows = stmt.query([]).map_err(e)?;
        let mut n = 0u64;
        let mut samples = Vec::new();
        while let Some(r) = rows.next().map_err(e)? {
            n += 1;
            if samples.len() < SAMPLES {
                samples.push(r.get::<_, String>(0).map_err(e)?);
            }
        }
        Ok::<_, Error>((n, samples))
    })
    .map_err(|e| e.to_string())
}

/// Rows whose values on `key` (source column names) are equal once
/// converted, as PostgreSQL will hold them: `'2024-01-01 00:00:00'` and
/// `'2024-01-01T00:00:00'` are one timestamp, the integer 1 and the text
/// `'1'` one text. Compared on the binary COPY encoding of the converted
/// values (bytes, as PostgreSQL compares text, whatever SQLite's collation
/// said). Every row of a repeated value is named by its key (primary key,
/// else rowid). Rows with a NULL or a value that does not convert are left
/// to the other checks. The encoded keys go to a temporary SQLite database
/// (`sqlite::spill`), whose sort finds the repeats: memory stays bounded
/// whatever the table's size.
fn converted_duplicates(source: &Path, tp: &TablePlan, key: &[String]) -> Result<Option<Problem>, Error> {
    let t = &tp.source;
    let Some(maps) = key.iter().map(|k| tp.map.columns.iter().find(|c| &c.source == k)).collect::<Option<Vec<_>>>() else {
        return Ok(None);
    };
    // How a row is named: its primary key, else its rowid.
    let ids: Vec<String> = if !t.primary_key.is_empty() {
        t.primary_key.clone()
    } else if let Some(r) = rowid_name(t) {
        vec![r]
    } else {
        return Ok(None);
    };
    let by_rowid = t.primary_key.is_empty();
    let mut cols: Vec<String> = key.iter().map(|c| quote(c)).collect();
    cols.extend(ids.iter().map(|c| if by_rowid { c.clone() } else { quote(c) }));
    let sql = format!("SELECT {} FROM {}", cols.join(", "), quote(&t.name));
    let loc = |m: String| Error::Source { location: Location::table(&t.name), message: m };
    // Per row: the encoded key, then the key's and the row's values as read.
    let groups = crate::sqlite::spill::KeyGroups::new(cols.len()).map_err(loc)?;
    with_connection::<_, Error>(source, |conn| {
        let mut stmt = conn.prepare(&sql).map_err(|e| loc(e.to_string()))?;
        let mut rows = stmt.query([]).map_err(|e| loc(e.to_string()))?;
        let mut insert = groups.inserter().map_err(loc)?;
        let mut scratch = Scratch::default();
        let mut buf = bytes::BytesMut::new();
        'rows: while let Some(row) = rows.next().map_err(|e| loc(e.to_string()))? {
            buf.clear();
            for (i, cm) in maps.iter().enumerate() {
                let v = row.get_ref(i).map_err(|e| loc(e.to_string()))?;
                match cm.converter.convert(v, &mut scratch) {
                    Ok(Value::Null) | Err(_) => continue 'rows,
                    Ok(value) => crate::postgres::encode::write_value(&mut buf, &cm.pg_type, &value),
                }
            }
            let values = (0..cols.len()).map(|i| row.get_ref(i).unwrap_or(ValueRef::Null));
            groups.add(&mut insert, &buf, values).map_err(loc)?;
        }
        Ok(())
    })?;
    // At most ten rows named per value, the rest counted.
    const ROWS: usize = 10;
    let (count, repeated) = groups.repeated(SAMPLES, ROWS).map_err(loc)?;
    if count == 0 {
        return Ok(None);
    }
    let samples = repeated
        .iter()
        .map(|g| {
            let shown: Vec<String> = g.first[0][..maps.len()].iter().map(|v| key_text(ValueRef::from(v))).collect();
            let names: Vec<String> = g
                .first
                .iter()
                .map(|r| {
                    let parts: Vec<String> = ids
                        .iter()
                        .zip(&r[maps.len()..])
                        .map(|(c, v)| {
                            let v = key_text(ValueRef::from(v));
                            if by_rowid { format!("rowid {v}") } else { format!("{c}={v}") }
                        })
                        .collect();
                    parts.join(", ")
                })
                .collect();
            let more = if g.rows > ROWS as u64 { format!(" and {} more", g.rows - ROWS as u64) } else { String::new() };
            format!("({}) = {} on {} rows: {}{more}", key.join(", "), shown.join(", "), g.rows, names.join("; "))
        })
        .collect();
    Ok(Some(Problem {
        table: t.name.clone(),
        column: Some(key.join(", ")),
        kind: "duplicate_key".into(),
        reason: "values repeat on a key that is unique in PostgreSQL (compared as converted)".into(),
        count,
        samples,
    }))
}

/// A key value as a person types it: integers bare, text quoted.
fn key_text(v: ValueRef<'_>) -> String {
    match v {
        ValueRef::Integer(i) => i.to_string(),
        ValueRef::Text(t) => format!("'{}'", String::from_utf8_lossy(t).replace('\'', "''")),
        other => describe_value(other),
    }
}
