//! Migration-history tables: the bookkeeping frameworks keep of which schema
//! migrations ran (`django_migrations`, `alembic_version`, Rails'
//! `schema_migrations`, …).
//!
//! Into an existing schema such a table is already filled: the framework
//! that made the PostgreSQL schema recorded its own revisions there. Loading
//! the SQLite copy over it would be an append (refused) or, with
//! `--truncate`, a rewrite of the target's own record. What a person needs
//! to know instead is whether both databases are at the same version, so
//! these tables are compared, not loaded: the same set of revisions → the
//! table is skipped and counts as verified; a difference → the run stops
//! before anything is loaded, naming the revisions on each side.
//!
//! A revision is identified by the columns listed here, not by the whole
//! row: when a migration ran (`applied`, `installed_on`), in which batch, its
//! checksum (per database dialect, for frameworks that keep one migration
//! directory per database) differ legitimately between two databases at the
//! same version. A few tables hold the target's own state rather than
//! history (Rails' `ar_internal_metadata` records the environment the
//! database belongs to; lock tables): those keep the target's rows and are
//! never loaded over them. Create mode loads all of them like any table,
//! since the target has nothing to compare with.
//!
//! Recognition is by name *and* shape: the table must have every column of
//! the entry, so an application table that happens to be called
//! `migrations` is loaded as usual. The list is the one place that names
//! frameworks; no conversion depends on it.

use std::collections::BTreeSet;
use std::path::Path;

use serde::Serialize;

use crate::mapping::types::PgType;
use crate::plan::{Plan, TablePlan};
use crate::postgres::catalog::Catalog;
use crate::postgres::ident;

/// What a known bookkeeping table holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    /// One row per migration applied: compared by its revision columns.
    Revisions,
    /// The database's own state (environment, a lock): the target's rows
    /// are kept, differences are only told.
    TargetOwned,
}

/// One known table: its name, the framework, and the columns that identify
/// a revision (for `TargetOwned`, the columns shown when the sides differ).
#[derive(Debug)]
pub struct Known {
    pub table: &'static str,
    pub framework: &'static str,
    pub kind: Kind,
    pub key: &'static [&'static str],
    /// Rows that count only when these columns are NULL (a migration rolled
    /// back or never finished is not a revision the database is at).
    pub null_when_applied: &'static [&'static str],
    /// … and these are not NULL.
    pub set_when_applied: &'static [&'static str],
}

const fn rev(table: &'static str, framework: &'static str, key: &'static [&'static str]) -> Known {
    Known {
        table,
        framework,
        kind: Kind::Revisions,
        key,
        null_when_applied: &[],
        set_when_applied: &[],
    }
}

const fn owned(
    table: &'static str,
    framework: &'static str,
    key: &'static [&'static str],
) -> Known {
    Known {
        table,
        framework,
        kind: Kind::TargetOwned,
        key,
        null_when_applied: &[],
        set_when_applied: &[],
    }
}

/// Every migration-history table ferry knows, first match wins (entries of
/// one name go from the most columns to the fewest).
pub static KNOWN: &[Known] = &[
    rev("django_migrations", "Django", &["app", "name"]),
    rev("alembic_version", "Alembic", &["version_num"]),
    rev("schema_migrations", "golang-migrate", &["version", "dirty"]),
    rev("schema_migrations", "Rails/Ecto", &["version"]),
    owned("ar_internal_metadata", "Rails", &["key", "value"]),
    rev("migrations", "TypeORM", &["timestamp", "name"]),
    rev("migrations", "Laravel", &["migration"]),
    owned(
        "typeorm_metadata",
        "TypeORM",
        &["type", "database", "schema", "table", "name", "value"],
    ),
    rev(
        "_sqlx_migrations",
        "sqlx",
        &["version", "description", "success"],
    ),
    rev("knex_migrations", "Knex", &["name"]),
    owned("knex_migrations_lock", "Knex", &["index", "is_locked"]),
    Known {
        table: "_prisma_migrations",
        framework: "Prisma",
        kind: Kind::Revisions,
        key: &["migration_name"],
        null_when_applied: &["rolled_back_at"],
        set_when_applied: &["finished_at"],
    },
    rev(
        "flyway_schema_history",
        "Flyway",
        &["version", "script", "success"],
    ),
    rev("SequelizeMeta", "Sequelize", &["name"]),
    rev("__diesel_schema_migrations", "Diesel", &["version"]),
    rev("goose_db_version", "goose", &["version_id", "is_applied"]),
    rev(
        "databasechangelog",
        "Liquibase",
        &["id", "author", "filename"],
    ),
    owned("databasechangeloglock", "Liquibase", &["id", "locked"]),
    rev(
        "__EFMigrationsHistory",
        "Entity Framework",
        &["MigrationId"],
    ),
    rev("doctrine_migration_versions", "Doctrine", &["version"]),
];

/// The known entry a source table matches by name and columns, if any.
pub fn recognise(t: &crate::model::Table) -> Option<&'static Known> {
    KNOWN.iter().find(|k| {
        k.table == t.name
            && k.key
                .iter()
                .chain(k.null_when_applied)
                .chain(k.set_when_applied)
                .all(|c| t.column_index(c).is_some())
    })
}

/// How many revisions a message lists before it says "and N more".
const LISTED: usize = 10;

/// The comparison of one history table in the source and the target.
#[derive(Debug, Clone, Serialize)]
pub struct HistoryCheck {
    pub table: String,
    pub target: String,
    pub framework: &'static str,
    pub kind: Kind,
    pub revision_columns: Vec<&'static str>,
    /// Distinct revisions on each side (rows of a rolled-back or unfinished
    /// migration do not count).
    pub source_rows: u64,
    pub target_rows: u64,
    /// The target table has no rows: nothing to compare with, so `migrate`
    /// loads it as it loads any table (`Revisions` only).
    pub target_empty: bool,
    /// Revisions (rendered `col=value, …`) only in the source, the first
    /// `LISTED`, and how many in all.
    pub only_source: Vec<String>,
    pub only_source_count: usize,
    pub only_target: Vec<String>,
    pub only_target_count: usize,
}

impl HistoryCheck {
    pub fn same(&self) -> bool {
        self.only_source_count == 0 && self.only_target_count == 0
    }

    /// `migrate` loads it (instead of skipping it or refusing).
    pub fn loads(&self) -> bool {
        self.kind == Kind::Revisions && self.target_empty
    }

    /// Into an existing schema, the run cannot go on.
    pub fn refuses(&self) -> bool {
        self.kind == Kind::Revisions && !self.target_empty && !self.same()
    }

    /// The sentence `migrate`, `plan` and `verify` all print.
    pub fn describe(&self) -> String {
        let what = format!(
            "table {:?} ({}'s migration history, compared by {})",
            self.table,
            self.framework,
            self.revision_columns.join(", ")
        );
        let sides = self.sides();
        match self.kind {
            Kind::TargetOwned if self.same() => {
                format!(
                    "table {:?} ({}'s own state): the target keeps its rows, equal to the source's; not loaded",
                    self.table, self.framework
                )
            }
            Kind::TargetOwned => format!(
                "table {:?} ({}'s own state of each database): the target keeps its rows, not loaded; they differ from the source's: {sides}",
                self.table, self.framework
            ),
            Kind::Revisions if self.target_empty => {
                format!("{what}: the target's table is empty, so it is loaded like any other table")
            }
            Kind::Revisions if self.same() => {
                format!(
                    "{what}: the same {} revision(s) on both sides; not loaded (the target keeps its own rows), verified",
                    self.source_rows
                )
            }
            Kind::Revisions => {
                format!("{what}: the two schemas are at different versions: {sides}")
            }
        }
    }

    fn sides(&self) -> String {
        let list = |v: &[String], n: usize| {
            let more = if n > v.len() {
                format!(", and {} more", n - v.len())
            } else {
                String::new()
            };
            if v.is_empty() {
                "none".to_string()
            } else {
                format!("{}{more}", v.join("; "))
            }
        };
        format!(
            "{} only in the source (SQLite): {}; {} only in the target (PostgreSQL): {}",
            self.only_source_count,
            list(&self.only_source, self.only_source_count),
            self.only_target_count,
            list(&self.only_target, self.only_target_count)
        )
    }
}

/// A revision: the key columns' values as text, NULL kept apart.
type Revision = Vec<Option<String>>;

/// Compare every recognised history table of `plan` whose target table
/// exists with the key columns. Tables the target lacks are left to the
/// usual handling (create mode loads them).
pub async fn check(
    source: &Path,
    plan: &Plan,
    catalog: &Catalog,
    client: &tokio_postgres::Client,
) -> anyhow::Result<Vec<HistoryCheck>> {
    let mut out = Vec::new();
    for tp in &plan.tables {
        let Some(known) = recognise(&tp.source) else {
            continue;
        };
        let Some((tt, _)) = catalog.find(&tp.map.target) else {
            continue;
        };
        // Every column the comparison reads, with its target column.
        let cols: Vec<&str> = known
            .key
            .iter()
            .chain(known.null_when_applied)
            .chain(known.set_when_applied)
            .copied()
            .collect();
        let mut targets = Vec::new();
        for c in &cols {
            let Some(tc) = tp
                .target_column(c)
                .and_then(|n| tt.column(n))
                .map(|(tc, _)| tc)
            else {
                break;
            };
            targets.push(tc);
        }
        if targets.len() != cols.len() {
            continue; // not the shape on the target: an ordinary table there
        }
        let boolean: Vec<bool> = targets
            .iter()
            .map(|tc| matches!(tc.pg_type, Ok(PgType::Boolean)))
            .collect();
        let nk = known.key.len();
        let source_revs = source_revisions(source, tp, known, &boolean[..nk])?;
        let target_revs = target_revisions(
            client,
            &plan.pg_schema,
            &tt.name,
            known,
            &targets,
            &boolean[..nk],
        )
        .await?;
        let render = |r: &Revision| {
            known
                .key
                .iter()
                .zip(r)
                .map(|(c, v)| {
                    format!(
                        "{c}={}",
                        v.as_deref()
                            .map_or("NULL".to_string(), |v| format!("{v:?}"))
                    )
                })
                .collect::<Vec<_>>()
                .join(", ")
        };
        let only_s: Vec<&Revision> = source_revs.difference(&target_revs).collect();
        let only_t: Vec<&Revision> = target_revs.difference(&source_revs).collect();
        out.push(HistoryCheck {
            table: tp.source.name.clone(),
            target: tt.name.clone(),
            framework: known.framework,
            kind: known.kind,
            revision_columns: known.key.to_vec(),
            source_rows: source_revs.len() as u64,
            target_rows: target_revs.len() as u64,
            target_empty: !tt.has_rows,
            only_source: only_s.iter().take(LISTED).map(|r| render(r)).collect(),
            only_source_count: only_s.len(),
            only_target: only_t.iter().take(LISTED).map(|r| render(r)).collect(),
            only_target_count: only_t.len(),
        });
    }
    Ok(out)
}

/// A boolean target column compares as 0/1: SQLite stores a framework's
/// boolean as an integer (sometimes as text), PostgreSQL prints t/f.
fn normalize_bool(v: Option<String>) -> Option<String> {
    v.map(|s| match s.trim().to_ascii_lowercase().as_str() {
        "1" | "t" | "true" | "y" | "yes" | "on" => "1".to_string(),
        "0" | "f" | "false" | "n" | "no" | "off" => "0".to_string(),
        _ => s,
    })
}

fn applied_filter(known: &Known, name: impl Fn(&str) -> String) -> String {
    let conds: Vec<String> = known
        .null_when_applied
        .iter()
        .map(|c| format!("{} IS NULL", name(c)))
        .chain(
            known
                .set_when_applied
                .iter()
                .map(|c| format!("{} IS NOT NULL", name(c))),
        )
        .collect();
    if conds.is_empty() {
        String::new()
    } else {
        format!(" WHERE {}", conds.join(" AND "))
    }
}

fn source_revisions(
    source: &Path,
    tp: &TablePlan,
    known: &Known,
    boolean: &[bool],
) -> anyhow::Result<BTreeSet<Revision>> {
    let list: Vec<String> = known
        .key
        .iter()
        .map(|c| format!("CAST({} AS TEXT)", ident::quote(c)))
        .collect();
    let sql = format!(
        "SELECT {} FROM {}{}",
        list.join(", "),
        ident::quote(&tp.source.name),
        applied_filter(known, ident::quote)
    );
    let set = crate::sqlite::pool::with_connection(source, |conn| {
        let err = |e: rusqlite::Error| crate::sqlite::Error::Read {
            location: crate::error::Location::table(&tp.source.name),
            message: format!("reading the migration history: {e}"),
        };
        let mut stmt = conn.prepare(&sql).map_err(err)?;
        let mut rows = stmt.query([]).map_err(err)?;
        let mut set = BTreeSet::new();
        while let Some(r) = rows.next().map_err(err)? {
            let mut rev = Vec::with_capacity(known.key.len());
            for (i, b) in boolean.iter().enumerate() {
                let v: Option<String> = r.get(i).map_err(err)?;
                rev.push(if *b { normalize_bool(v) } else { v });
            }
            set.insert(rev);
        }
        Ok::<_, crate::sqlite::Error>(set)
    })?;
    Ok(set)
}

async fn target_revisions(
    client: &tokio_postgres::Client,
    schema: &str,
    table: &str,
    known: &Known,
    targets: &[&crate::postgres::catalog::TargetColumn],
    boolean: &[bool],
) -> anyhow::Result<BTreeSet<Revision>> {
    let list: Vec<String> = targets[..known.key.len()]
        .iter()
        .zip(boolean)
        .map(|(tc, b)| {
            if *b {
                format!("({}::int)::text", ident::quote(&tc.name))
            } else {
                format!("{}::text", ident::quote(&tc.name))
            }
        })
        .collect();
    // The target's name of a listed column (`targets` is in list order).
    let name_of = |c: &str| {
        let listed = known
            .key
            .iter()
            .chain(known.null_when_applied)
            .chain(known.set_when_applied);
        let i = listed.zip(targets).find(|(k, _)| **k == c);
        ident::quote(i.map_or(c, |(_, tc)| tc.name.as_str()))
    };
    let sql = format!(
        "SELECT {} FROM {}{}",
        list.join(", "),
        ident::qualified(schema, table),
        applied_filter(known, name_of)
    );
    let rows = client.query(&sql, &[]).await.map_err(|e| {
        crate::postgres::Error::server(
            format!("reading the migration history in table {table:?}"),
            &e,
        )
    })?;
    Ok(rows
        .iter()
        .map(|r| {
            (0..known.key.len())
                .map(|i| r.get::<_, Option<String>>(i))
                .collect()
        })
        .collect())
}

/// Take the history tables out of the plan where they are compared, not
/// loaded; the notes go to the caller's report. Errors when the revisions
/// differ: the schemas are at different versions, nothing may be loaded.
pub fn settle(plan: &mut Plan, checks: &[HistoryCheck]) -> anyhow::Result<Vec<String>> {
    let refused: Vec<&HistoryCheck> = checks.iter().filter(|c| c.refuses()).collect();
    if !refused.is_empty() {
        let list: Vec<String> = refused
            .iter()
            .map(|c| format!("  - {}", c.describe()))
            .collect();
        anyhow::bail!(
            "the source and the target are at different migration versions; nothing was loaded:\n{}\nBring both to the same version first (run the framework's migrations on the side that lags), or, if the difference is intended, leave the table out with --exclude {}",
            list.join("\n"),
            refused
                .iter()
                .map(|c| c.table.as_str())
                .collect::<Vec<_>>()
                .join(",")
        );
    }
    without(plan, checks);
    Ok(checks.iter().map(HistoryCheck::describe).collect())
}

/// The plan without the history tables that are compared instead of loaded.
pub fn without(plan: &mut Plan, checks: &[HistoryCheck]) {
    plan.tables.retain(|tp| {
        !checks
            .iter()
            .any(|c| c.table == tp.source.name && !c.loads())
    });
}

#[cfg(test)]
mod tests;
