//! Plan: what will be done, as data, before anything is done.
//!
//! The plan holds every table's column mapping, its load order and level,
//! the names it will have in PostgreSQL, and the post-data steps (keys,
//! indexes, foreign keys, sequences) with the reason for anything that will
//! not be carried over. `ferry plan`, `ferry migrate` and `ferry verify`
//! all work from the same plan, so what was checked is what runs.

pub mod defaults;
pub mod existing;
pub mod history;
pub mod post_data;
pub mod suggest;

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::mapping::file::Layers;
use crate::mapping::resolve::{self, Mapper, TableMap};
use crate::model::topo;
use crate::model::{RowKey, Schema, StorageProfile, Table};
use crate::postgres::ddl::NewTable;
use crate::sqlite::pool::Chunk;
use crate::sqlite::profile::Profiles;
use crate::postgres::ident;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Mapping(#[from] resolve::Error),
    #[error("two names become the same PostgreSQL identifier {pg:?}: {a:?} and {b:?} ({what}); rename one in a mapping file")]
    NameCollision { what: String, pg: String, a: String, b: String },
    #[error("no table left to migrate (check --tables / --exclude and the mapping's exclusions)")]
    Empty,
    /// A `--tables`/`--exclude` pattern that names no table is most likely a
    /// typo; running without it would move more (or fewer) tables than meant.
    #[error("--{flag} pattern {pattern:?} matches no table of the source (patterns ignore ASCII case, as SQLite names do)")]
    UnmatchedPattern { flag: &'static str, pattern: String },
    /// SQLite allows `""` as a name; PostgreSQL does not.
    #[error("{what} has an empty name, which PostgreSQL does not allow; give it one with a `rename` rule in a mapping file")]
    EmptyName { what: String },
    #[error(transparent)]
    Source(#[from] crate::sqlite::Error),
    #[error(
        "foreign-key cycle {cycle:?}: constraint {constraint:?} on table {table:?} is not DEFERRABLE, so the tables cannot be loaded with keys in place; drop --keep-keys (ferry then sets the keys aside and restores them), or declare the constraint DEFERRABLE"
    )]
    NotDeferrable { cycle: Vec<String>, constraint: String, table: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct TablePlan {
    #[serde(skip)]
    pub source: Table,
    pub map: TableMap,
    /// FK level: 0 has no parents; tables of one level can load side by side.
    pub level: usize,
    /// Target name of the integer rowid-alias key that becomes an identity.
    pub identity: Option<String>,
    /// Starting point for the identity's sequence, from `sqlite_sequence`.
    pub sqlite_sequence: Option<i64>,
    /// Target names of the primary key, when it will be created.
    pub primary_key: Option<Vec<String>>,
    pub row_count: u64,
    /// Keys in place and a self-referencing foreign key (child column,
    /// parent key column, source names) that cannot be deferred: rows are
    /// read parents first, in one chunk.
    pub parent_first: Option<(String, String)>,
    /// Read at most this many rows (the dry run's calibration sample).
    pub sample: Option<u64>,
    /// The rowid ranges the readers take, when the planner chunked.
    #[serde(skip)]
    pub chunks: Vec<Chunk>,
}

impl Plan {
    /// The tables to create, as `postgres::ddl` wants them.
    pub fn new_tables(&self) -> Vec<NewTable<'_>> {
        self.tables.iter().map(|tp| NewTable { map: &tp.map, identity: tp.identity.as_deref() }).collect()
    }

    /// Some column's type is set by a mapping file (not chosen from the data).
    pub fn typed(&self) -> bool {
        self.tables.iter().any(|t| t.map.columns.iter().any(|c| c.explicit))
    }

    /// The mappings of the tables whose source name is not in `done`.
    pub fn maps_except<V>(&self, done: &BTreeMap<String, V>) -> Vec<&TableMap> {
        self.tables.iter().filter(|t| !done.contains_key(&t.source.name)).map(|t| &t.map).collect()
    }
}

impl TablePlan {
    /// The chunks the readers take: the whole table when it is read parents
    /// first or sampled, else the planned rowid ranges, else (a plan made
    /// without chunking) ranges of `chunk_rows` rows computed now.
    pub fn read_chunks(&self, source: &std::path::Path, chunk_rows: u64) -> Result<Vec<Chunk>, crate::sqlite::Error> {
        if self.parent_first.is_some() || self.sample.is_some() {
            Ok(vec![Chunk { range: None }])
        } else if !self.chunks.is_empty() {
            Ok(self.chunks.clone())
        } else {
            crate::sqlite::pool::chunks(source, &self.source, chunk_rows)
        }
    }

    /// Source column name → target column name.
    pub fn target_column(&self, source: &str) -> Option<&str> {
        self.map.columns.iter().find(|c| c.source == source).map(|c| c.target.as_str())
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct Plan {
    pub pg_schema: String,
    pub tables: Vec<TablePlan>,
    pub self_references: Vec<String>,
    pub cycles: Vec<Vec<String>>,
    /// Tables left out by patterns or mapping rules.
    pub excluded_tables: Vec<String>,
    /// Create mode's post-data steps (keys, indexes, foreign keys,
    /// sequences), decided with the plan (`post_data`), and notes on what
    /// is not carried over.
    #[serde(skip)]
    pub post_data: Vec<crate::postgres::ddl::Step>,
    #[serde(skip)]
    pub post_notes: Vec<String>,
}

/// What every plan of a run is made from, besides the data: the schema,
/// the mapping rules, the table filters and the PostgreSQL schema. A run
/// makes all its plans from one `Planner`, so they decide alike; a plan
/// that must change (a widening found by the load) is made anew from the
/// planner, never patched.
#[derive(Clone, Copy)]
pub struct Planner<'a> {
    pub schema: &'a Schema,
    pub layers: &'a Layers,
    pub pg_schema: &'a str,
    pub include: &'a [String],
    pub exclude: &'a [String],
    /// The source and the rows per chunk: when given, every table's rowid
    /// ranges are part of the plan (`TablePlan::chunks`).
    pub chunking: Option<(&'a std::path::Path, u64)>,
}

impl<'a> Planner<'a> {
    /// Declared types only, no pass over the data: what the mode detection
    /// and an existing-mode fit start from.
    pub fn declared(&self) -> Result<Plan, Error> {
        build(self, None, false)
    }

    /// Create mode with types from the data (`profiles`).
    pub fn profiled(&self, profiles: &'a Profiles) -> Result<Plan, Error> {
        build(self, Some(profiles), false)
    }

    /// Create mode before any pass over the data: `key_nulls` holds only
    /// the NULL counts of nullable primary-key columns (a key with NULLs is
    /// not created); the load finds any value that needs a wider type.
    pub fn speculative(&self, key_nulls: &'a Profiles) -> Result<Plan, Error> {
        build(self, Some(key_nulls), true)
    }

    /// The declared plan with every column retargeted to the type of its
    /// target column (`existing::fit` without facts about the data): the
    /// plan `verify` reads a target with before any pass over the source.
    pub fn retargeted(&self, catalog: &crate::postgres::catalog::Catalog) -> Result<(Plan, Vec<existing::Misfit>), Error> {
        let mut plan = self.declared()?;
        let (none, no_stats) = (HashMap::new(), HashMap::new());
        let mapper = Mapper::new(self.layers)?;
        let facts = existing::SourceFacts { profiles: &none, stats: &no_stats };
        let (misfits, _notes) = existing::fit(&mut plan, catalog, &mapper, &facts);
        Ok((plan, misfits))
    }

    /// Existing mode: the declared plan fitted to the target's tables
    /// (`existing::fit_to_target`), with the misfits and notes.
    pub fn fitted(
        &self,
        source: &std::path::Path,
        catalog: &crate::postgres::catalog::Catalog,
        profiles: &Profiles,
    ) -> Result<(Plan, Vec<existing::Misfit>, Vec<String>), Error> {
        let mut plan = self.declared()?;
        let (misfits, notes) = existing::fit_to_target(source, self.layers, catalog, profiles, &mut plan)?;
        Ok((plan, misfits, notes))
    }
}

/// The one place a plan is made: every table's mapping (types from
/// `profiles` when given; with `speculative`, each column carrying the
/// storage classes that would widen it), names shortened to 63 bytes
/// without collisions, identity and primary key, FK order, and the
/// post-data steps.
fn build(input: &Planner<'_>, profiles: Option<&Profiles>, speculative: bool) -> Result<Plan, Error> {
    let mapper = Mapper::new(input.layers)?;
    let order = topo::order(&input.schema.tables);
    unmatched_pattern(input)?;
    let mut tables = Vec::new();
    let mut excluded_tables = Vec::new();
    for &i in &order.order {
        let t = &input.schema.tables[i];
        let by_flag = (!input.include.is_empty() && !input.include.iter().any(|p| resolve::glob_match(p, &t.name)))
            || input.exclude.iter().any(|p| resolve::glob_match(p, &t.name));
        if by_flag || mapper.table_excluded(&t.name) {
            excluded_tables.push(t.name.clone());
            continue;
        }
        let profiles = profiles.and_then(|p| p.get(&t.name)).map(|v| v.as_slice());
        let mut map = mapper.table(t, profiles)?;
        if speculative {
            for cm in map.columns.iter_mut().filter(|c| !c.explicit) {
                let affinity = t.columns[cm.source_index].affinity;
                cm.widen_on = resolve::widening_classes(&cm.pg_type, &cm.converter, affinity);
            }
        }
        if map.target.is_empty() {
            return Err(Error::EmptyName { what: format!("table {:?}", t.name) });
        }
        let short = ident::shorten(&map.target);
        if short != map.target {
            map.notes.push(format!("table name {:?} is longer than 63 bytes: named {short:?}", map.target));
        }
        map.target = short;
        let mut seen: BTreeMap<String, String> = BTreeMap::new();
        for c in &mut map.columns {
            if c.target.is_empty() {
                return Err(Error::EmptyName { what: format!("table {:?}, column {}", t.name, c.source_index + 1) });
            }
            let short = ident::shorten(&c.target);
            if short != c.target {
                map.notes.push(format!("column {:?} is longer than 63 bytes: named {short:?}", c.target));
            }
            if let Some(prev) = seen.insert(short.clone(), c.source.clone()) {
                return Err(Error::NameCollision {
                    what: format!("columns of table {:?}", t.name),
                    pg: short,
                    a: prev,
                    b: c.source.clone(),
                });
            }
            c.target = short;
        }
        let (identity, primary_key) = keys(t, &map, profiles);
        if !t.primary_key.is_empty() && primary_key.is_none() {
            map.notes.push(format!(
                "primary key ({}) not created: its columns hold NULLs or were excluded",
                t.primary_key.join(", ")
            ));
        }
        tables.push(TablePlan {
            level: order.levels[i],
            identity,
            sqlite_sequence: t.sqlite_sequence,
            primary_key,
            row_count: t.row_count,
            parent_first: None,
            sample: None,
            chunks: match input.chunking {
                Some((source, rows)) => crate::sqlite::pool::chunks(source, t, rows)?,
                None => Vec::new(),
            },
            source: t.clone(),
            map,
        });
    }
    if tables.is_empty() {
        return Err(Error::Empty);
    }
    let mut names: BTreeMap<String, String> = BTreeMap::new();
    for tp in &tables {
        if let Some(prev) = names.insert(tp.map.target.clone(), tp.source.name.clone()) {
            return Err(Error::NameCollision {
                what: "tables".into(),
                pg: tp.map.target.clone(),
                a: prev,
                b: tp.source.name.clone(),
            });
        }
    }
    let mut plan = Plan {
        pg_schema: input.pg_schema.to_string(),
        tables,
        self_references: order.self_references,
        cycles: order.cycles,
        excluded_tables,
        post_data: Vec::new(),
        post_notes: Vec::new(),
    };
    (plan.post_data, plan.post_notes) = post_data::post_data_steps(&plan);
    Ok(plan)
}

/// Refuses a `--tables`/`--exclude` pattern that matches no source table.
fn unmatched_pattern(input: &Planner<'_>) -> Result<(), Error> {
    for (flag, patterns) in [("tables", input.include), ("exclude", input.exclude)] {
        for p in patterns {
            if !input.schema.tables.iter().any(|t| resolve::glob_match(p, &t.name)) {
                return Err(Error::UnmatchedPattern { flag, pattern: p.clone() });
            }
        }
    }
    Ok(())
}

/// Identity column and primary key, in target names. A rowid alias is an
/// integer key that SQLite fills in: it becomes `GENERATED BY DEFAULT AS
/// IDENTITY`, so the application's inserts keep working. A key whose column
/// holds NULLs (possible in SQLite for non-rowid keys) cannot be a
/// PostgreSQL primary key and is left out, with a note.
fn keys(t: &Table, map: &TableMap, profiles: Option<&[StorageProfile]>) -> (Option<String>, Option<Vec<String>>) {
    let identity = match t.row_key {
        RowKey::RowidAlias { column } => map
            .columns
            .iter()
            .find(|c| c.source_index == column && c.pg_type.is_integer())
            .map(|c| c.target.clone()),
        _ => None,
    };
    if t.primary_key.is_empty() {
        return (identity, None);
    }
    let mut pk = Vec::new();
    for name in &t.primary_key {
        let Some(c) = map.columns.iter().find(|c| &c.source == name) else { return (identity, None) };
        let has_nulls = profiles.and_then(|p| p.get(c.source_index)).is_some_and(|p| p.null > 0);
        if has_nulls {
            return (identity, None);
        }
        pk.push(c.target.clone());
    }
    (identity, Some(pk))
}
