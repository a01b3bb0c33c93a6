//! The target's catalog, read once: tables, columns with their types,
//! constraints, indexes and owned sequences of one schema, and a snapshot of
//! everything a load must leave unchanged.
//!
//! Existing-schema mode works from this: the target column's type chooses
//! the converter, and the snapshot taken before and after the load proves
//! the schema Alembic made is the schema that remains.

use std::collections::BTreeMap;

use tokio_postgres::Client;

use super::Error;
use crate::mapping::types::PgType;

#[derive(Debug, Clone)]
pub struct TargetColumn {
    pub name: String,
    /// `format_type()` text, e.g. `character varying(255)`.
    pub type_name: String,
    /// Parsed, when ferry can write this type.
    pub pg_type: Result<PgType, String>,
    pub not_null: bool,
    pub has_default: bool,
    /// `a` (ALWAYS) or `d` (BY DEFAULT) identity, else empty.
    pub identity: String,
    /// Generated (computed) column: cannot be written.
    pub generated: bool,
}

#[derive(Debug, Clone)]
pub struct Constraint {
    pub name: String,
    /// `p`, `u`, `f`, `c`, `x`.
    pub kind: char,
    pub definition: String,
    pub deferrable: bool,
    /// For FKs: the referenced table's name.
    pub ref_table: Option<String>,
}

#[derive(Debug, Clone)]
pub struct TargetIndex {
    pub name: String,
    pub definition: String,
    /// Backs a PRIMARY KEY / UNIQUE / EXCLUDE constraint (dropped with it).
    pub constraint: bool,
}

#[derive(Debug, Clone)]
pub struct TargetTable {
    pub name: String,
    /// The connecting role may drop and re-create this table's keys.
    pub owned: bool,
    pub columns: Vec<TargetColumn>,
    pub constraints: Vec<Constraint>,
    pub indexes: Vec<TargetIndex>,
    /// (column, qualified sequence name) for serial/identity/owned sequences.
    pub sequences: Vec<(String, String)>,
    pub has_rows: bool,
    /// Column lists that PostgreSQL keeps unique here (primary key, unique
    /// constraints and plain unique indexes).
    pub unique_keys: Vec<Vec<String>>,
}

#[derive(Debug, Clone, Default)]
pub struct Catalog {
    pub tables: BTreeMap<String, TargetTable>,
}

fn err(what: &str) -> impl Fn(tokio_postgres::Error) -> Error + '_ {
    move |e| Error::server(format!("reading the target catalog ({what})"), &e)
}

impl Catalog {
    pub async fn read(client: &Client, schema: &str) -> Result<Catalog, Error> {
        let mut found = Found::default();
        read_tables(client, schema, &mut found).await?;
        let oids: Vec<u32> = found.by_oid.keys().copied().collect();
        read_columns(client, &oids, &mut found).await?;
        read_constraints(client, &oids, &mut found).await?;
        read_indexes(client, &oids, &mut found).await?;
        read_sequences(client, &oids, &mut found).await?;
        read_unique_keys(client, &oids, &mut found).await?;
        let mut tables = found.tables;
        for t in tables.values_mut() {
            let sql = format!("SELECT EXISTS (SELECT 1 FROM {})", super::ident::qualified(schema, &t.name));
            t.has_rows = client.query_one(&sql, &[]).await.map_err(err("row check"))?.get(0);
        }
        Ok(Catalog { tables })
    }

    /// Find a table by exact name, else by a case-insensitive match when it
    /// is the only one (reported by the caller).
    pub fn find(&self, name: &str) -> Option<(&TargetTable, bool)> {
        if let Some(t) = self.tables.get(name) {
            return Some((t, false));
        }
        let mut hits = self.tables.values().filter(|t| t.name.eq_ignore_ascii_case(name));
        match (hits.next(), hits.next()) {
            (Some(t), None) => Some((t, true)),
            _ => None,
        }
    }
}

impl TargetTable {
    pub fn column(&self, name: &str) -> Option<(&TargetColumn, bool)> {
        if let Some(c) = self.columns.iter().find(|c| c.name == name) {
            return Some((c, false));
        }
        let mut hits = self.columns.iter().filter(|c| c.name.eq_ignore_ascii_case(name));
        match (hits.next(), hits.next()) {
            (Some(c), None) => Some((c, true)),
            _ => None,
        }
    }
}

/// Each table's oid (None for a table that is not there), in the order of
/// `tables` (target names in `schema`).
pub async fn table_oids(client: &Client, schema: &str, tables: &[&str]) -> Result<Vec<Option<u32>>, Error> {
    let names: Vec<String> = tables.iter().map(|t| super::ident::qualified(schema, t)).collect();
    let rows = client
        .query("SELECT to_regclass(n)::oid FROM unnest($1::text[]) WITH ORDINALITY AS u(n, i) ORDER BY i", &[&names])
        .await
        .map_err(err("table oids"))?;
    Ok(rows.iter().map(|r| r.get(0)).collect())
}

/// The `xmax` of the client's current snapshot as a 64-bit transaction id:
/// above every transaction whose rows the snapshot sees.
pub async fn snapshot_xmax(client: &Client) -> Result<i64, Error> {
    let row = client
        .query_one("SELECT txid_snapshot_xmax(txid_current_snapshot())", &[])
        .await
        .map_err(|e| Error::server("reading the snapshot's horizon", &e))?;
    Ok(row.get(0))
}

/// Everything the load must leave as it was, one line per fact, sorted:
/// column types, nullability and defaults, constraints, indexes, sequence
/// ownership. Two snapshots are compared line by line.
pub async fn snapshot(client: &Client, schema: &str) -> Result<Vec<String>, Error> {
    let mut lines = Vec::new();
    let queries = [
        "SELECT 'column ' || c.relname || '.' || a.attname || ' ' || format_type(a.atttypid, a.atttypmod) \
         || CASE WHEN a.attnotnull THEN ' not null' ELSE '' END \
         || coalesce(' default ' || pg_get_expr(d.adbin, d.adrelid), '') \
         || CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END \
         FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
         WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped",
        "SELECT 'constraint ' || c.relname || '.' || k.conname || ' ' || pg_get_constraintdef(k.oid) \
         || CASE WHEN k.convalidated THEN '' ELSE ' NOT VALIDATED' END \
         FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname = $1",
        "SELECT 'index ' || pg_get_indexdef(i.indexrelid) FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid \
         JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = $1",
        "SELECT 'sequence ' || s.relname || ' owned by ' || coalesce(c.relname || '.' || a.attname, '-') \
         FROM pg_class s JOIN pg_namespace n ON n.oid = s.relnamespace \
         LEFT JOIN pg_depend d ON d.objid = s.oid AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
         LEFT JOIN pg_class c ON c.oid = d.refobjid \
         LEFT JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
         WHERE n.nspname = $1 AND s.relkind = 'S'",
    ];
    for q in queries {
        for r in client.query(q, &[&schema]).await.map_err(err("snapshot"))? {
            lines.push(r.get::<_, String>(0));
        }
    }
    lines.sort();
    Ok(lines)
}

/// The tables read so far, by name and by oid.
#[derive(Default)]
struct Found {
    tables: BTreeMap<String, TargetTable>,
    by_oid: BTreeMap<u32, String>,
}

impl Found {
    fn get_mut(&mut self, oid: u32) -> Option<&mut TargetTable> {
        self.by_oid.get(&oid).and_then(|n| self.tables.get_mut(n))
    }
}

/// The plain and partitioned tables of `schema`, and whether the role owns each.
async fn read_tables(client: &Client, schema: &str, found: &mut Found) -> Result<(), Error> {
    for r in client
        .query(
            "SELECT c.oid, c.relname::text, pg_has_role(c.relowner, 'USAGE') \
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relkind IN ('r', 'p') ORDER BY 2",
            &[&schema],
        )
        .await
        .map_err(err("tables"))?
    {
        let oid: u32 = r.get(0);
        let name: String = r.get(1);
        found.by_oid.insert(oid, name.clone());
        found.tables.insert(
            name.clone(),
            TargetTable {
                name,
                owned: r.get(2),
                columns: Vec::new(),
                constraints: Vec::new(),
                indexes: Vec::new(),
                sequences: Vec::new(),
                has_rows: false,
                unique_keys: Vec::new(),
            },
        );
    }
    Ok(())
}

/// Columns with their types (enum labels included).
async fn read_columns(client: &Client, oids: &[u32], found: &mut Found) -> Result<(), Error> {
    let mut enums: BTreeMap<u32, Vec<String>> = BTreeMap::new();
    for r in client
        .query("SELECT enumtypid, enumlabel::text FROM pg_enum ORDER BY enumtypid, enumsortorder", &[])
        .await
        .map_err(err("enum labels"))?
    {
        enums.entry(r.get(0)).or_default().push(r.get(1));
    }
    for r in client
        .query(
            "SELECT a.attrelid, a.attname::text, format_type(a.atttypid, a.atttypmod), a.attnotnull, \
             a.atthasdef, a.attidentity::text, a.attgenerated::text, t.typtype::text, a.atttypid, \
             quote_ident(tn.nspname) || '.' || quote_ident(t.typname) \
             FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid \
             JOIN pg_namespace tn ON tn.oid = t.typnamespace \
             WHERE a.attrelid = ANY($1) AND a.attnum > 0 AND NOT a.attisdropped \
             ORDER BY a.attrelid, a.attnum",
            &[&oids],
        )
        .await
        .map_err(err("columns"))?
    {
        let oid: u32 = r.get(0);
        let type_name: String = r.get(2);
        let typtype: String = r.get(7);
        let type_oid: u32 = r.get(8);
        let pg_type = if typtype == "e" {
            Ok(PgType::Enum { name: r.get(9), labels: enums.get(&type_oid).cloned().unwrap_or_default() })
        } else {
            PgType::parse(&type_name)
        };
        let generated: String = r.get(6);
        if let Some(t) = found.get_mut(oid) {
            t.columns.push(TargetColumn {
                name: r.get(1),
                type_name,
                pg_type,
                not_null: r.get(3),
                has_default: r.get(4),
                identity: r.get(5),
                generated: !generated.is_empty(),
            });
        }
    }
    Ok(())
}

async fn read_constraints(client: &Client, oids: &[u32], found: &mut Found) -> Result<(), Error> {
    for r in client
        .query(
            "SELECT c.conrelid, c.conname::text, c.contype::text, pg_get_constraintdef(c.oid), c.condeferrable, \
             rc.relname::text \
             FROM pg_constraint c LEFT JOIN pg_class rc ON rc.oid = c.confrelid \
             WHERE c.conrelid = ANY($1) ORDER BY c.conrelid, c.conname",
            &[&oids],
        )
        .await
        .map_err(err("constraints"))?
    {
        let oid: u32 = r.get(0);
        let kind: String = r.get(2);
        if let Some(t) = found.get_mut(oid) {
            t.constraints.push(Constraint {
                name: r.get(1),
                kind: kind.chars().next().unwrap_or('?'),
                definition: r.get(3),
                deferrable: r.get(4),
                ref_table: r.get(5),
            });
        }
    }
    Ok(())
}

async fn read_indexes(client: &Client, oids: &[u32], found: &mut Found) -> Result<(), Error> {
    for r in client
        .query(
            "SELECT i.indrelid, ic.relname::text, pg_get_indexdef(i.indexrelid), \
             EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conindid = i.indexrelid AND c.conrelid = i.indrelid) \
             FROM pg_index i JOIN pg_class ic ON ic.oid = i.indexrelid \
             WHERE i.indrelid = ANY($1) ORDER BY i.indrelid, ic.relname",
            &[&oids],
        )
        .await
        .map_err(err("indexes"))?
    {
        let oid: u32 = r.get(0);
        if let Some(t) = found.get_mut(oid) {
            t.indexes.push(TargetIndex { name: r.get(1), definition: r.get(2), constraint: r.get(3) });
        }
    }
    Ok(())
}

/// Sequences owned by a column (serial, identity).
async fn read_sequences(client: &Client, oids: &[u32], found: &mut Found) -> Result<(), Error> {
    for r in client
        .query(
            "SELECT d.refobjid, a.attname::text, \
             quote_ident(sn.nspname) || '.' || quote_ident(s.relname) \
             FROM pg_depend d JOIN pg_class s ON s.oid = d.objid AND s.relkind = 'S' \
             JOIN pg_namespace sn ON sn.oid = s.relnamespace \
             JOIN pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid \
             WHERE d.refobjid = ANY($1) AND d.classid = 'pg_class'::regclass AND d.deptype IN ('a', 'i') \
             ORDER BY 1, 2",
            &[&oids],
        )
        .await
        .map_err(err("sequences"))?
    {
        let oid: u32 = r.get(0);
        if let Some(t) = found.get_mut(oid) {
            t.sequences.push((r.get(1), r.get(2)));
        }
    }
    Ok(())
}

/// Column lists of unique, non-partial, non-expression indexes.
async fn read_unique_keys(client: &Client, oids: &[u32], found: &mut Found) -> Result<(), Error> {
    for r in client
        .query(
            "SELECT i.indrelid, array_agg(a.attname::text ORDER BY k.ord) \
             FROM pg_index i CROSS JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord) \
             JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum \
             WHERE i.indrelid = ANY($1) AND i.indisunique AND i.indpred IS NULL AND i.indexprs IS NULL \
             GROUP BY i.indrelid, i.indexrelid",
            &[&oids],
        )
        .await
        .map_err(err("unique keys"))?
    {
        let oid: u32 = r.get(0);
        if let Some(t) = found.get_mut(oid) {
            t.unique_keys.push(r.get(1));
        }
    }
    Ok(())
}
