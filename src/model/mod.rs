//! The source schema as ferry understands it: plain data, built once by
//! `sqlite::introspect` and never mutated afterwards. Everything downstream
//! (mapping, plan, target DDL, verify) reads this model instead of asking
//! SQLite again, so that every stage sees the same facts.

pub mod topo;

use serde::Serialize;

/// SQLite column affinity, decided from the declared type by the rules of
/// SQLite's datatype3 §3.1 (see `sqlite::affinity`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Affinity {
    Integer,
    Text,
    Blob,
    Real,
    Numeric,
}

impl Affinity {
    /// The affinity's name as SQLite's documentation writes it.
    pub fn name(self) -> &'static str {
        match self {
            Affinity::Integer => "INTEGER",
            Affinity::Text => "TEXT",
            Affinity::Blob => "BLOB",
            Affinity::Real => "REAL",
            Affinity::Numeric => "NUMERIC",
        }
    }
}

/// How a table's rows are addressed, which decides how readers split it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "kind")]
pub enum RowKey {
    /// `INTEGER PRIMARY KEY`: the column *is* the rowid (index into `columns`).
    RowidAlias { column: usize },
    /// An ordinary rowid table whose rowid is not a declared column.
    Rowid,
    /// `WITHOUT ROWID`: rows are addressed by the primary key only.
    WithoutRowid,
}

#[derive(Debug, Clone, Serialize)]
pub struct Column {
    pub name: String,
    /// The declared type exactly as written (may be empty).
    pub decl_type: String,
    pub affinity: Affinity,
    pub not_null: bool,
    /// Default expression as written in the CREATE TABLE (SQL text).
    pub default: Option<String>,
    /// 1-based position in the primary key, 0 when not part of it.
    pub pk_position: u32,
    /// Storage-class counts, filled only by `inspect --profile` and the planner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub profile: Option<StorageProfile>,
}

/// Counts of SQLite storage classes (`typeof`) seen in one column and, for
/// columns of numeric affinity, the range of the numbers (what the
/// existing-schema fit check needs: integer ranges, numeric precision, the
/// epoch unit of numbers going into a date/time column).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct StorageProfile {
    pub null: u64,
    pub integer: u64,
    pub real: u64,
    pub text: u64,
    pub blob: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_int: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_int: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_real: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_real: Option<f64>,
}

impl StorageProfile {
    /// Count one value of a numeric-affinity column, read as it is stored.
    #[inline]
    pub fn count_value(&mut self, v: rusqlite::types::ValueRef<'_>) {
        use rusqlite::types::ValueRef;
        match v {
            ValueRef::Null => self.null += 1,
            ValueRef::Integer(i) => {
                self.integer += 1;
                self.min_int = Some(self.min_int.map_or(i, |m| m.min(i)));
                self.max_int = Some(self.max_int.map_or(i, |m| m.max(i)));
            }
            ValueRef::Real(f) => {
                self.real += 1;
                self.min_real = Some(self.min_real.map_or(f, |m| m.min(f)));
                self.max_real = Some(self.max_real.map_or(f, |m| m.max(f)));
            }
            ValueRef::Text(_) => self.text += 1,
            ValueRef::Blob(_) => self.blob += 1,
        }
    }

    /// Add another profile of the same column (another range of rows).
    pub fn merge(&mut self, b: &StorageProfile) {
        self.null += b.null;
        self.integer += b.integer;
        self.real += b.real;
        self.text += b.text;
        self.blob += b.blob;
        let lo = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).min();
        let hi = |a: Option<i64>, b: Option<i64>| a.into_iter().chain(b).max();
        self.min_int = lo(self.min_int, b.min_int);
        self.max_int = hi(self.max_int, b.max_int);
        let flo = |a: Option<f64>, b: Option<f64>| a.into_iter().chain(b).reduce(f64::min);
        let fhi = |a: Option<f64>, b: Option<f64>| a.into_iter().chain(b).reduce(f64::max);
        self.min_real = flo(self.min_real, b.min_real);
        self.max_real = fhi(self.max_real, b.max_real);
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ForeignKey {
    /// Columns of this table, in constraint order.
    pub columns: Vec<String>,
    pub ref_table: String,
    /// Referenced columns; empty in SQLite means "the parent's primary key",
    /// and introspection resolves that, so this is never empty when the
    /// parent exists.
    pub ref_columns: Vec<String>,
    pub on_update: String,
    pub on_delete: String,
    /// `DEFERRABLE INITIALLY DEFERRED` in the source DDL.
    pub deferred: bool,
    /// False when the referenced table does not exist in the source.
    pub ref_exists: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct Index {
    pub name: String,
    pub unique: bool,
    /// Column names; `None` for an expression (such an index is not migrated).
    pub columns: Vec<Option<String>>,
    /// `c` CREATE INDEX, `u` UNIQUE constraint, `pk` primary key.
    pub origin: String,
    pub partial: bool,
    /// The original CREATE INDEX text (None for automatic indexes).
    pub sql: Option<String>,
    /// Per key column, the collation SQLite compares it with (`BINARY`,
    /// `NOCASE`, `RTRIM`): PostgreSQL's keys compare bytes, so a unique key
    /// under another collation is looser there (`plan::post_data` notes it).
    #[serde(skip)]
    pub collations: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Table {
    pub name: String,
    pub columns: Vec<Column>,
    /// Primary-key column names in key order (empty: no declared key).
    pub primary_key: Vec<String>,
    pub row_key: RowKey,
    /// `AUTOINCREMENT` keyword present (there is a `sqlite_sequence` row).
    pub autoincrement: bool,
    /// Value from `sqlite_sequence`, when there is one.
    pub sqlite_sequence: Option<i64>,
    pub foreign_keys: Vec<ForeignKey>,
    pub indexes: Vec<Index>,
    pub row_count: u64,
    pub strict: bool,
}

impl Table {
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }
}

/// A schema object that exists in the source but is not migrated, listed so
/// that nothing is dropped silently.
#[derive(Debug, Clone, Serialize)]
pub struct Skipped {
    pub kind: SkippedKind,
    pub name: String,
    /// The table it belongs to (trigger, generated column, shadow table).
    pub table: Option<String>,
    pub reason: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SkippedKind {
    View,
    Trigger,
    VirtualTable,
    ShadowTable,
    GeneratedColumn,
    Index,
}

#[derive(Debug, Clone, Serialize)]
pub struct Schema {
    /// Tables in FK-topological order (parents first), see `model::topo`.
    pub tables: Vec<Table>,
    pub skipped: Vec<Skipped>,
}

impl Schema {
    pub fn table(&self, name: &str) -> Option<&Table> {
        self.tables.iter().find(|t| t.name == name)
    }
}
