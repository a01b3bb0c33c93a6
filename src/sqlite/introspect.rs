//! SQLite schema → [`model::Schema`](crate::model::Schema), once, up front.
//!
//! Facts come from SQLite itself wherever it exposes them: `sqlite_schema`
//! for the objects, the table-valued pragmas (`pragma_table_xinfo`,
//! `pragma_foreign_key_list`, `pragma_index_list`, `pragma_index_info`,
//! `pragma_table_list`) for columns, keys and indexes, always with the name
//! as a bound parameter. The CREATE TABLE text is parsed (by a small
//! tokenizer, not regexes) only for what no pragma tells: `DEFERRABLE
//! INITIALLY DEFERRED` on a FK, `AUTOINCREMENT`, and `WITHOUT ROWID` /
//! `STRICT` when `pragma_table_list` is unavailable.
//!
//! Decisions, in one place:
//! - **Virtual tables** (FTS3/4/5, R*Tree, …) are listed as not migrated.
//!   Their **shadow tables** (`<vt>_content`, `_segments`, `_segdir`,
//!   `_docsize`, `_stat`, `_data`, `_idx`, `_config`, `_node`, `_rowid`,
//!   `_parent`) are the virtual table's index internals in a format only
//!   that SQLite module reads; copying them gives PostgreSQL dead bytes, so
//!   they are listed as not migrated too, naming their virtual table. The
//!   user re-creates full-text search on the PostgreSQL side (tsvector+GIN).
//!   The base table of an external-content FTS table (`content="t"`) is an
//!   ordinary table and is migrated.
//! - **Views, triggers, generated columns** and **expression indexes** are
//!   listed as not migrated. Partial indexes stay in the model (`partial`).
//! - **Row key**: `WITHOUT ROWID` → `WithoutRowid`; a rowid table whose
//!   single-column primary key has no automatic index is an `INTEGER PRIMARY
//!   KEY` alias (`RowidAlias`; this is exactly SQLite's rule, including the
//!   `INTEGER PRIMARY KEY DESC` and `INT PRIMARY KEY` exceptions, because a
//!   non-alias key always gets a `sqlite_autoindex_*` of origin `pk`);
//!   otherwise `Rowid`. A column named `rowid`, `_rowid_` or `oid` hides that
//!   name for the real rowid; [`rowid_expr`] gives the name readers should
//!   use, or `None` when all three are taken.
//! - FK parent names and parent columns are resolved ASCII-case-insensitively
//!   (as SQLite does) and rewritten to the parent's spelling, so PostgreSQL
//!   DDL with quoted identifiers finds them. An empty parent column list is
//!   resolved to the parent's primary key.

use std::collections::HashMap;

use rusqlite::{Connection, OptionalExtension};

use super::affinity::affinity;
use super::create_table::{fts_content_option, is_create_virtual, parse_create_table, tokenize, virtual_module, ParsedFk};
use super::error::Error;
use crate::model::{Column, ForeignKey, Index, RowKey, Schema, Skipped, SkippedKind, Table};
use crate::model::topo;

/// The one identifier quoter (`crate::sql`), under the name this module
/// has always used.
pub use crate::sql::quote_ident;

/// The SQL expression that addresses the rowid of `table` in SQLite, for
/// range reads (`WHERE <expr> BETWEEN ? AND ?`): the quoted alias column for
/// `INTEGER PRIMARY KEY` tables, else the first of `rowid`, `_rowid_`, `oid`
/// that no column shadows (compared case-insensitively, as SQLite does).
/// `None` for `WITHOUT ROWID` tables and for rowid tables that have columns
/// named all three: those must be read in primary-key order, or whole.
pub fn rowid_expr(table: &Table) -> Option<String> {
    match &table.row_key {
        RowKey::RowidAlias { column } => Some(quote_ident(&table.columns[*column].name)),
        RowKey::WithoutRowid => None,
        RowKey::Rowid => ["rowid", "_rowid_", "oid"]
            .into_iter()
            .find(|n| !table.columns.iter().any(|c| c.name.eq_ignore_ascii_case(n)))
            .map(str::to_string),
    }
}

/// Shadow-table suffixes per virtual-table module, from the SQLite sources
/// (`fts3ShadowName`, `fts5ShadowName`, `rtreeShadowName`).
fn shadow_suffixes(module: &str) -> &'static [&'static str] {
    match module.to_ascii_lowercase().as_str() {
        "fts3" | "fts4" => &["content", "segments", "segdir", "docsize", "stat"],
        "fts5" => &["data", "idx", "content", "docsize", "config"],
        "rtree" | "rtree_i32" | "geopoly" => &["node", "rowid", "parent"],
        _ => &[],
    }
}

/// One row of `sqlite_schema`.
struct SchemaRow {
    kind: String,
    name: String,
    tbl_name: String,
    rootpage: i64,
    sql: Option<String>,
}

/// Read the whole schema of the `main` database of `conn`, with row counts,
/// tables in FK-topological order.
pub fn introspect(conn: &Connection) -> Result<Schema, Error> {
    let rows = schema_rows(conn)?;
    let mut skipped = Vec::new();
    let index_sql: HashMap<&str, Option<&str>> = rows
        .iter()
        .filter(|r| r.kind == "index")
        .map(|r| (r.name.as_str(), r.sql.as_deref()))
        .collect();
    let has_sequence = rows
        .iter()
        .any(|r| r.kind == "table" && r.name == "sqlite_sequence");

    // Virtual tables first, so their shadow tables can be recognised.
    let mut virtuals: Vec<(&str, String)> = Vec::new(); // (name, module)
    for r in rows.iter().filter(|r| r.kind == "table") {
        let toks = r.sql.as_deref().map(tokenize).unwrap_or_default();
        if r.rootpage == 0 || is_create_virtual(&toks) {
            let module = virtual_module(&toks).unwrap_or_default();
            virtuals.push((r.name.as_str(), module));
        }
    }
    let table_kinds = table_list(conn);

    let mut tables = Vec::new();
    for r in &rows {
        match r.kind.as_str() {
            "view" => skipped.push(Skipped {
                kind: SkippedKind::View,
                name: r.name.clone(),
                table: None,
                reason: "views are not migrated; re-create it in PostgreSQL from its SQL".into(),
            }),
            "trigger" => skipped.push(Skipped {
                kind: SkippedKind::Trigger,
                name: r.name.clone(),
                table: Some(r.tbl_name.clone()),
                reason: "triggers are not migrated; re-create the logic in PostgreSQL (PL/pgSQL)"
                    .into(),
            }),
            "table" if is_internal(&r.name) => {}
            "table" => {
                if let Some((_, module)) = virtuals.iter().find(|(n, _)| *n == r.name) {
                    skipped.push(Skipped {
                        kind: SkippedKind::VirtualTable,
                        name: r.name.clone(),
                        table: None,
                        reason: virtual_reason(conn, r, module),
                    });
                    continue;
                }
                let listed = table_kinds.as_ref().and_then(|k| k.get(&r.name));
                if let Some(owner) = shadow_owner(&r.name, listed.map(|l| l.0.as_str()), &virtuals)
                {
                    skipped.push(Skipped {
                        kind: SkippedKind::ShadowTable,
                        name: r.name.clone(),
                        table: Some(owner.to_string()),
                        reason: format!(
                            "shadow table of virtual table {owner:?}: index internals only its \
                             SQLite module can read"
                        ),
                    });
                    continue;
                }
                let flags = listed.map(|l| (l.1, l.2));
                tables.push(read_table(
                    conn,
                    r,
                    flags,
                    has_sequence,
                    &index_sql,
                    &mut skipped,
                )?);
            }
            _ => {}
        }
    }

    resolve_foreign_keys(&mut tables);
    let topo = topo::order(&tables);
    let mut slots: Vec<Option<Table>> = tables.into_iter().map(Some).collect();
    let tables = topo
        .order
        .iter()
        .map(|&i| slots[i].take().expect("each table once"))
        .collect();
    Ok(Schema { tables, skipped })
}

/// Why a virtual table is not migrated, and what that means for its data:
/// an FTS table with its own content holds rows that exist nowhere else.
fn virtual_reason(conn: &Connection, r: &SchemaRow, module: &str) -> String {
    let toks = r.sql.as_deref().map(tokenize).unwrap_or_default();
    let rows = conn
        .query_row(
            &format!("SELECT count(*) FROM main.{}", quote_ident(&r.name)),
            [],
            |row| row.get::<_, i64>(0),
        )
        .ok();
    let held = match rows {
        Some(n) => format!("its {n} rows are NOT migrated"),
        None => "its rows (count unknown: module not available) are NOT migrated".to_string(),
    };
    let m = module.to_ascii_lowercase();
    if m.starts_with("fts") {
        match fts_content_option(&toks) {
            Some(t) if !t.is_empty() => format!(
                "full-text index ({module}) over table {t:?}, whose rows are migrated; \
                 re-create the search in PostgreSQL (tsvector + GIN index)"
            ),
            Some(_) => format!(
                "contentless full-text index ({module}): holds no row data; re-create the \
                 search in PostgreSQL (tsvector + GIN index)"
            ),
            None => format!(
                "full-text table ({module}): {held}; to keep them, copy them into an ordinary \
                 table first (CREATE TABLE t AS SELECT * FROM {}), and re-create the search in \
                 PostgreSQL (tsvector + GIN index)",
                quote_ident(&r.name)
            ),
        }
    } else if m.starts_with("rtree") || m == "geopoly" {
        format!(
            "R*Tree spatial index ({module}): {held}; re-create it in PostgreSQL (GiST index, \
             PostGIS)"
        )
    } else {
        let module = if module.is_empty() { "unknown" } else { module };
        format!("virtual table (module {module}): {held}; its data comes from a SQLite extension")
    }
}

fn is_internal(name: &str) -> bool {
    // Bytes, not `&name[..7]`: a name such as `t_üü…` has no char boundary there.
    name.as_bytes().get(..7).is_some_and(|p| p.eq_ignore_ascii_case(b"sqlite_"))
}

fn schema_rows(conn: &Connection) -> Result<Vec<SchemaRow>, Error> {
    let err = |e| Error::query("entries", "sqlite_schema", e);
    let mut stmt = conn
        .prepare(
            "SELECT type, name, tbl_name, rootpage, sql FROM main.sqlite_schema ORDER BY rowid",
        )
        .map_err(err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(SchemaRow {
                kind: r.get(0)?,
                name: r.get(1)?,
                tbl_name: r.get(2)?,
                rootpage: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
                sql: r.get(4)?,
            })
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    Ok(rows)
}

/// `pragma_table_list` for `main`: name → (type, without rowid, strict).
/// `None` when this SQLite cannot list (older than 3.37, or a virtual table
/// whose module is missing makes the pragma fail): callers fall back to
/// parsing the SQL.
fn table_list(conn: &Connection) -> Option<HashMap<String, (String, bool, bool)>> {
    let mut stmt = conn
        .prepare("SELECT name, type, wr, strict FROM pragma_table_list WHERE schema = 'main'")
        .ok()?;
    let rows = stmt
        .query_map([], |r| {
            Ok((r.get::<_, String>(0)?, (r.get(1)?, r.get(2)?, r.get(3)?)))
        })
        .ok()?;
    rows.collect::<Result<HashMap<_, _>, _>>().ok()
}

/// The virtual table a shadow table belongs to: `pragma_table_list` says
/// `shadow` (SQLite asked the module), or the name is `<vt>_<suffix>` with a
/// suffix the module uses. The longest matching virtual table name wins.
fn shadow_owner<'a>(
    name: &str,
    listed_type: Option<&str>,
    virtuals: &'a [(&'a str, String)],
) -> Option<&'a str> {
    let lname = name.to_ascii_lowercase();
    let mut best: Option<&str> = None;
    for (vt, module) in virtuals {
        let prefix = format!("{}_", vt.to_ascii_lowercase());
        let Some(suffix) = lname.strip_prefix(&prefix) else {
            continue;
        };
        let known = shadow_suffixes(module).contains(&suffix);
        let generic = listed_type == Some("shadow");
        if (known || generic) && best.is_none_or(|b| b.len() < vt.len()) {
            best = Some(vt);
        }
    }
    best
}

fn read_table(
    conn: &Connection,
    row: &SchemaRow,
    listed: Option<(bool, bool)>,
    has_sequence: bool,
    index_sql: &HashMap<&str, Option<&str>>,
    skipped: &mut Vec<Skipped>,
) -> Result<Table, Error> {
    let name = row.name.as_str();
    let toks = row.sql.as_deref().map(tokenize).unwrap_or_default();
    let parsed = parse_create_table(&toks);
    let columns = read_columns(conn, name, skipped)?;
    let mut pk: Vec<(u32, String)> = columns
        .iter()
        .filter(|c| c.pk_position > 0)
        .map(|c| (c.pk_position, c.name.clone()))
        .collect();
    pk.sort();
    let primary_key: Vec<String> = pk.into_iter().map(|(_, n)| n).collect();

    let indexes = read_indexes(conn, name, index_sql, skipped)?;
    let (without_rowid, strict) = listed.unwrap_or((parsed.without_rowid, parsed.strict));
    let row_key = row_key(without_rowid, &columns, &primary_key, &indexes);
    let foreign_keys = read_foreign_keys(conn, name, &parsed.fks)?;
    let sqlite_sequence = if has_sequence { sequence_entry(conn, name)? } else { None };
    let row_count = row_count(conn, name)?;

    Ok(Table {
        name: name.to_string(),
        columns,
        primary_key,
        row_key,
        autoincrement: parsed.autoincrement,
        sqlite_sequence,
        foreign_keys,
        indexes,
        row_count,
        strict,
    })
}

/// The table's columns in order; generated ones are listed as not
/// migrated instead.
fn read_columns(conn: &Connection, name: &str, skipped: &mut Vec<Skipped>) -> Result<Vec<Column>, Error> {
    let mut columns = Vec::new();
    let err = |e| Error::query("columns", name, e);
    let mut stmt = conn
        .prepare(
            "SELECT name, type, \"notnull\", dflt_value, pk, hidden \
             FROM pragma_table_xinfo(?1, 'main') ORDER BY cid",
        )
        .map_err(err)?;
    let mut rows = stmt.query([name]).map_err(err)?;
    while let Some(r) = rows.next().map_err(err)? {
        let col_name: String = r.get(0).map_err(err)?;
        let decl: String = r
            .get::<_, Option<String>>(1)
            .map_err(err)?
            .unwrap_or_default();
        let hidden: i64 = r.get(5).map_err(err)?;
        match hidden {
            0 => columns.push(Column {
                affinity: affinity(&decl),
                name: col_name,
                decl_type: decl,
                not_null: r.get::<_, i64>(2).map_err(err)? != 0,
                default: r.get(3).map_err(err)?,
                pk_position: r.get::<_, i64>(4).map_err(err)?.try_into().unwrap_or(0),
                profile: None,
            }),
            2 | 3 => skipped.push(Skipped {
                kind: SkippedKind::GeneratedColumn,
                name: col_name,
                table: Some(name.to_string()),
                reason: format!(
                    "generated ({}) in SQLite; add it in PostgreSQL with GENERATED ALWAYS \
                     AS (...) STORED",
                    if hidden == 2 { "VIRTUAL" } else { "STORED" }
                ),
            }),
            _ => {} // hidden virtual-table columns: not in ordinary tables
        }
    }
    Ok(columns)
}

/// The row key, by SQLite's rule (see the header): a rowid table whose
/// single-column primary key has no automatic index aliases the rowid.
fn row_key(without_rowid: bool, columns: &[Column], primary_key: &[String], indexes: &[Index]) -> RowKey {
    if without_rowid {
        RowKey::WithoutRowid
    } else if primary_key.len() == 1 && !indexes.iter().any(|i| i.origin == "pk") {
        let column = columns
            .iter()
            .position(|c| c.name == primary_key[0])
            .expect("primary key column is a column");
        RowKey::RowidAlias { column }
    } else {
        RowKey::Rowid
    }
}

/// The table's `sqlite_sequence` value (AUTOINCREMENT's high-water mark).
fn sequence_entry(conn: &Connection, name: &str) -> Result<Option<i64>, Error> {
    Ok(conn
        .query_row(
            "SELECT seq FROM main.sqlite_sequence WHERE name = ?1",
            [name],
            |r| r.get::<_, Option<i64>>(0),
        )
        .optional()
        .map_err(|e| Error::query("sqlite_sequence entry", name, e))?
        .flatten())
}

fn row_count(conn: &Connection, name: &str) -> Result<u64, Error> {
    let row_count: i64 = conn
        .query_row(
            &format!("SELECT count(*) FROM main.{}", quote_ident(name)),
            [],
            |r| r.get(0),
        )
        .map_err(|e| Error::query("row count", name, e))?;
    Ok(row_count.max(0) as u64)
}

fn read_indexes(
    conn: &Connection,
    table: &str,
    index_sql: &HashMap<&str, Option<&str>>,
    skipped: &mut Vec<Skipped>,
) -> Result<Vec<Index>, Error> {
    let err = |e| Error::query("indexes", table, e);
    let mut list = conn
        .prepare(
            "SELECT name, \"unique\", origin, partial FROM pragma_index_list(?1, 'main') ORDER BY seq DESC",
        )
        .map_err(err)?;
    let entries = list
        .query_map([table], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)? != 0,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)? != 0,
            ))
        })
        .map_err(err)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(err)?;
    let mut info = conn
        .prepare("SELECT cid, name FROM pragma_index_info(?1, 'main') ORDER BY seqno")
        .map_err(err)?;
    // The key columns' collations, in key order.
    let mut xinfo = conn
        .prepare("SELECT coll FROM pragma_index_xinfo(?1, 'main') WHERE key ORDER BY seqno")
        .map_err(err)?;
    let mut indexes = Vec::with_capacity(entries.len());
    for (name, unique, origin, partial) in entries {
        let columns = info
            .query_map([&name], |r| {
                let cid: i64 = r.get(0)?;
                let col: Option<String> = r.get(1)?;
                // cid -2: an expression; -1: the rowid itself. Neither is a
                // column PostgreSQL will have.
                Ok(if cid < 0 { None } else { col })
            })
            .map_err(err)?
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        if columns.iter().any(Option::is_none) {
            skipped.push(Skipped {
                kind: SkippedKind::Index,
                name: name.clone(),
                table: Some(table.to_string()),
                reason: "expression index: not migrated; re-create it in PostgreSQL".into(),
            });
        }
        let collations = xinfo
            .query_map([&name], |r| r.get::<_, Option<String>>(0))
            .map_err(err)?
            .map(|c| c.map(|c| c.unwrap_or_else(|| "BINARY".into())))
            .collect::<Result<Vec<_>, _>>()
            .map_err(err)?;
        let sql = index_sql
            .get(name.as_str())
            .copied()
            .flatten()
            .map(str::to_string);
        indexes.push(Index {
            name,
            unique,
            columns,
            origin,
            partial,
            sql,
            collations,
        });
    }
    Ok(indexes)
}

fn read_foreign_keys(
    conn: &Connection,
    table: &str,
    parsed: &[ParsedFk],
) -> Result<Vec<ForeignKey>, Error> {
    let err = |e| Error::query("foreign keys", table, e);
    let mut stmt = conn
        .prepare(
            "SELECT id, \"from\", \"table\", \"to\", on_update, on_delete \
             FROM pragma_foreign_key_list(?1, 'main') ORDER BY id DESC, seq",
        )
        .map_err(err)?;
    let mut rows = stmt.query([table]).map_err(err)?;
    // SQLite numbers FKs last-declared first; `id DESC` restores source order.
    let mut fks: Vec<(i64, ForeignKey)> = Vec::new();
    while let Some(r) = rows.next().map_err(err)? {
        let id: i64 = r.get(0).map_err(err)?;
        let from: String = r.get(1).map_err(err)?;
        let to: Option<String> = r.get(3).map_err(err)?;
        if fks.last().is_none_or(|(last, _)| *last != id) {
            fks.push((
                id,
                ForeignKey {
                    columns: Vec::new(),
                    ref_table: r.get(2).map_err(err)?,
                    ref_columns: Vec::new(),
                    on_update: r.get(4).map_err(err)?,
                    on_delete: r.get(5).map_err(err)?,
                    deferred: false,
                    ref_exists: false,
                },
            ));
        }
        let fk = &mut fks.last_mut().expect("pushed above").1;
        fk.columns.push(from);
        if let Some(to) = to.filter(|t| !t.is_empty()) {
            fk.ref_columns.push(to);
        }
    }
    let mut used = vec![false; parsed.len()];
    Ok(fks
        .into_iter()
        .map(|(_, mut fk)| {
            let hit = parsed.iter().enumerate().position(|(i, p)| {
                !used[i]
                    && p.ref_table.eq_ignore_ascii_case(&fk.ref_table)
                    && eq_names(&p.columns, &fk.columns)
                    && (p.ref_columns.is_empty() || eq_names(&p.ref_columns, &fk.ref_columns))
            });
            if let Some(i) = hit {
                used[i] = true;
                fk.deferred = parsed[i].deferred;
            }
            fk
        })
        .collect())
}

fn eq_names(a: &[String], b: &[String]) -> bool {
    a.len() == b.len() && a.iter().zip(b).all(|(x, y)| x.eq_ignore_ascii_case(y))
}

/// Point every FK at the parent's spelling of its name and columns, fill an
/// empty column list with the parent's primary key, and set `ref_exists`.
fn resolve_foreign_keys(tables: &mut [Table]) {
    let parents: HashMap<String, (String, Vec<String>, Vec<String>)> = tables
        .iter()
        .rev() // the first of two names differing only in case wins
        .map(|t| {
            let cols = t.columns.iter().map(|c| c.name.clone()).collect();
            (
                topo::fold(&t.name),
                (t.name.clone(), t.primary_key.clone(), cols),
            )
        })
        .collect();
    for t in tables.iter_mut() {
        for fk in &mut t.foreign_keys {
            let Some((name, pk, cols)) = parents.get(&topo::fold(&fk.ref_table)) else {
                fk.ref_exists = false;
                continue;
            };
            fk.ref_exists = true;
            fk.ref_table = name.clone();
            if fk.ref_columns.is_empty() {
                fk.ref_columns = pk.clone();
            } else {
                for rc in &mut fk.ref_columns {
                    if let Some(c) = cols.iter().find(|c| c.eq_ignore_ascii_case(rc)) {
                        *rc = c.clone();
                    }
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;
