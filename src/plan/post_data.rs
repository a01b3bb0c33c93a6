//! The post-data steps of a create-mode plan, decided and rendered once:
//! primary keys, unique constraints, indexes, foreign keys (only where
//! PostgreSQL will have a unique key to point at), identity sequences; and
//! notes on what is not carried over, and why.
//!
//! Every identifier goes through `ident::quote`; nothing here concatenates
//! a raw name.

use std::collections::BTreeSet;

use crate::postgres::ddl::{quote_list, Step, StepKind};
use crate::postgres::ident::{self, literal, quote};

use super::Plan;

/// The steps and notes so far, with what the foreign keys need to know
/// of the keys before them.
#[derive(Default)]
struct PostData {
    steps: Vec<Step>,
    notes: Vec<String>,
    /// Index names used so far (PostgreSQL's are per schema, SQLite's per table).
    index_names: BTreeSet<String>,
    /// Column sets that will be unique in PostgreSQL, per target table, so
    /// FKs are only added where PostgreSQL will accept them.
    unique_sets: Vec<(String, Vec<String>)>,
}

/// Post-data steps in a safe order: keys before the FKs that need them,
/// sequences last. Returns the steps and notes on what is not carried over,
/// and why.
pub fn post_data_steps(plan: &Plan) -> (Vec<Step>, Vec<String>) {
    let mut out = PostData::default();
    column_defaults(plan, &mut out);
    keys_and_indexes(plan, &mut out);
    foreign_keys(plan, &mut out);
    sequences(plan, &mut out);
    (out.steps, out.notes)
}

/// The SQLite schema's column defaults that have a PostgreSQL equivalent
/// (`plan::defaults`); the others are notes.
fn column_defaults(plan: &Plan, out: &mut PostData) {
    for tp in &plan.tables {
        let table = ident::qualified(&plan.pg_schema, &tp.map.target);
        let (defaults, notes) = super::defaults::table_defaults(tp);
        out.notes.extend(notes);
        for (col, expr) in defaults {
            out.steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::Default,
                sql: format!("ALTER TABLE {table} ALTER COLUMN {} SET DEFAULT {expr}", quote(&col)),
                validate: None,
            });
        }
    }
}

/// Primary keys, unique constraints and indexes; expression and partial
/// indexes are notes.
fn keys_and_indexes(plan: &Plan, out: &mut PostData) {
    let schema = &plan.pg_schema;
    for tp in &plan.tables {
        let table = ident::qualified(schema, &tp.map.target);
        if let Some(pk) = &tp.primary_key {
            out.steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::PrimaryKey,
                sql: format!("ALTER TABLE {table} ADD PRIMARY KEY ({})", quote_list(pk)),
                validate: None,
            });
            out.unique_sets.push((tp.map.target.clone(), pk.clone()));
        }
        for ix in &tp.source.indexes {
            if ix.origin == "pk" {
                continue;
            }
            let cols: Option<Vec<String>> = ix
                .columns
                .iter()
                .map(|c| c.as_deref().and_then(|c| tp.target_column(c)).map(str::to_string))
                .collect();
            let Some(cols) = cols else {
                out.notes.push(format!(
                    "table {:?}: index {:?} is on an expression or an excluded column; not created",
                    tp.source.name, ix.name
                ));
                continue;
            };
            if ix.partial {
                out.notes.push(format!(
                    "table {:?}: partial index {:?} not created (its WHERE clause is SQLite SQL)",
                    tp.source.name, ix.name
                ));
                continue;
            }
            if ix.unique {
                out.unique_sets.push((tp.map.target.clone(), cols.clone()));
                if let Some(note) = collation_note(tp, ix) {
                    out.notes.push(note);
                }
            }
            if ix.origin == "u" {
                out.steps.push(Step {
                    table: tp.source.name.clone(),
                    kind: StepKind::Unique,
                    sql: format!("ALTER TABLE {table} ADD UNIQUE ({})", quote_list(&cols)),
                    validate: None,
                });
                continue;
            }
            let mut name = ident::shorten(&ix.name);
            if !out.index_names.insert(name.clone()) {
                name = ident::shorten(&format!("{}_{}", tp.map.target, ix.name));
                out.index_names.insert(name.clone());
            }
            out.steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::Index,
                sql: format!(
                    "CREATE {}INDEX {} ON {table} ({})",
                    if ix.unique { "UNIQUE " } else { "" },
                    quote(&name),
                    quote_list(&cols)
                ),
                validate: None,
            });
        }
    }
}

/// Foreign keys, added `NOT VALID` and validated after; only where the
/// parent is migrated and its referenced columns are unique in PostgreSQL.
fn foreign_keys(plan: &Plan, out: &mut PostData) {
    let schema = &plan.pg_schema;
    for tp in &plan.tables {
        let table = ident::qualified(schema, &tp.map.target);
        for fk in &tp.source.foreign_keys {
            let what = format!("table {:?}: foreign key ({}) → {:?}", tp.source.name, fk.columns.join(", "), fk.ref_table);
            let Some(parent) = plan.tables.iter().find(|p| p.source.name == fk.ref_table) else {
                out.notes.push(format!("{what} not created: the referenced table is not migrated or does not exist"));
                continue;
            };
            let cols: Option<Vec<String>> =
                fk.columns.iter().map(|c| tp.target_column(c).map(str::to_string)).collect();
            let refs: Option<Vec<String>> =
                fk.ref_columns.iter().map(|c| parent.target_column(c).map(str::to_string)).collect();
            let (Some(cols), Some(refs)) = (cols, refs) else {
                out.notes.push(format!("{what} not created: a column of it is not migrated"));
                continue;
            };
            if refs.is_empty() || refs.len() != cols.len() {
                out.notes.push(format!("{what} not created: the referenced key could not be resolved"));
                continue;
            }
            let unique = out.unique_sets.iter().any(|(t, set)| {
                t == &parent.map.target && set.len() == refs.len() && set.iter().all(|c| refs.contains(c))
            });
            if !unique {
                out.notes.push(format!(
                    "{what} not created: the referenced columns ({}) are not a primary key or unique in PostgreSQL",
                    refs.join(", ")
                ));
                continue;
            }
            let name = ident::shorten(&format!("{}_{}_fkey", tp.map.target, cols.join("_")));
            let mut sql = format!(
                "ALTER TABLE {table} ADD CONSTRAINT {} FOREIGN KEY ({}) REFERENCES {} ({})",
                quote(&name),
                quote_list(&cols),
                ident::qualified(schema, &parent.map.target),
                quote_list(&refs)
            );
            for (clause, action) in [("ON DELETE", &fk.on_delete), ("ON UPDATE", &fk.on_update)] {
                let a = action.to_ascii_uppercase();
                if matches!(a.as_str(), "CASCADE" | "SET NULL" | "SET DEFAULT" | "RESTRICT") {
                    sql.push_str(&format!(" {clause} {a}"));
                }
            }
            if fk.deferred {
                sql.push_str(" DEFERRABLE INITIALLY DEFERRED");
            }
            sql.push_str(" NOT VALID");
            out.steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::ForeignKey,
                validate: Some(format!("ALTER TABLE {table} VALIDATE CONSTRAINT {}", quote(&name))),
                sql,
            });
        }
    }
}

/// Identity sequences set past the largest key and past `sqlite_sequence`.
fn sequences(plan: &Plan, out: &mut PostData) {
    let schema = &plan.pg_schema;
    for tp in &plan.tables {
        let Some(id) = &tp.identity else { continue };
        let table = ident::qualified(schema, &tp.map.target);
        // Past the largest key and past sqlite_sequence (AUTOINCREMENT never
        // reuses a number, even one whose row was deleted).
        let floor = tp.sqlite_sequence.unwrap_or(0);
        out.steps.push(Step {
            table: tp.source.name.clone(),
            kind: StepKind::Sequence,
            sql: format!(
                "SELECT setval(pg_get_serial_sequence({}, {}), GREATEST((SELECT max({}) FROM {table}), {floor}, 1), (SELECT count(*) > 0 FROM {table}) OR {floor} > 0)",
                literal(&table),
                literal(id),
                quote(id),
            ),
            validate: None,
        });
    }
}

/// A unique key SQLite compares under a collation other than `BINARY`
/// (`COLLATE NOCASE`, `RTRIM`) is created as PostgreSQL's plain, byte-wise
/// unique key: it then accepts rows SQLite would have refused (`a@x` next to
/// `A@x`). ferry says so rather than carry it as a nondeterministic ICU
/// collation: that would change how the application's own queries compare
/// and sort the column, and an existing schema (Alembic's) has no such
/// collation to match.
fn collation_note(tp: &super::TablePlan, ix: &crate::model::Index) -> Option<String> {
    let loose: Vec<String> = ix
        .columns
        .iter()
        .zip(&ix.collations)
        .filter(|(_, coll)| !coll.eq_ignore_ascii_case("BINARY"))
        .map(|(c, coll)| format!("{} COLLATE {coll}", c.as_deref().unwrap_or("?")))
        .collect();
    if loose.is_empty() {
        return None;
    }
    Some(format!(
        "table {:?}: unique key {:?} compares {} in SQLite; PostgreSQL's unique key is case- and byte-exact, so it will accept values SQLite refused as duplicates (add a unique index on lower(...) if the application relies on it)",
        tp.source.name,
        ix.name,
        loose.join(", ")
    ))
}
