//! The post-data steps of a create-mode plan, decided and rendered once:
//! primary keys, unique constraints, indexes, foreign keys (only where
//! PostgreSQL will have a unique key to point at), identity sequences; and
//! notes on what is not carried over, and why.
//!
//! Every identifier goes through `ident::quote`; nothing here concatenates
//! a raw name.

use crate::postgres::ddl::{quote_list, Step, StepKind};
use crate::postgres::ident::{self, literal, quote};

use super::Plan;

/// Post-data steps in a safe order: keys before the FKs that need them.
/// Returns the steps and notes on what is not carried over, and why.
pub fn post_data_steps(plan: &Plan) -> (Vec<Step>, Vec<String>) {
    let schema = &plan.pg_schema;
    let mut steps = Vec::new();
    let mut notes = Vec::new();
    let mut index_names = std::collections::BTreeSet::new();

    // Columns sets that will be unique in PostgreSQL, per target table, so
    // FKs are only added where PostgreSQL will accept them.
    let mut unique_sets: Vec<(String, Vec<String>)> = Vec::new();

    for tp in &plan.tables {
        let table = ident::qualified(schema, &tp.map.target);
        if let Some(pk) = &tp.primary_key {
            steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::PrimaryKey,
                sql: format!("ALTER TABLE {table} ADD PRIMARY KEY ({})", quote_list(pk)),
                validate: None,
            });
            unique_sets.push((tp.map.target.clone(), pk.clone()));
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
                notes.push(format!(
                    "table {:?}: index {:?} is on an expression or an excluded column; not created",
                    tp.source.name, ix.name
                ));
                continue;
            };
            if ix.partial {
                notes.push(format!(
                    "table {:?}: partial index {:?} not created (its WHERE clause is SQLite SQL)",
                    tp.source.name, ix.name
                ));
                continue;
            }
            if ix.unique {
                unique_sets.push((tp.map.target.clone(), cols.clone()));
                if let Some(note) = collation_note(tp, ix) {
                    notes.push(note);
                }
            }
            if ix.origin == "u" {
                steps.push(Step {
                    table: tp.source.name.clone(),
                    kind: StepKind::Unique,
                    sql: format!("ALTER TABLE {table} ADD UNIQUE ({})", quote_list(&cols)),
                    validate: None,
                });
                continue;
            }
            let mut name = ident::shorten(&ix.name);
            if !index_names.insert(name.clone()) {
                name = ident::shorten(&format!("{}_{}", tp.map.target, ix.name));
                index_names.insert(name.clone());
            }
            steps.push(Step {
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

    for tp in &plan.tables {
        let table = ident::qualified(schema, &tp.map.target);
        for fk in &tp.source.foreign_keys {
            let what = format!("table {:?}: foreign key ({}) → {:?}", tp.source.name, fk.columns.join(", "), fk.ref_table);
            let Some(parent) = plan.tables.iter().find(|p| p.source.name == fk.ref_table) else {
                notes.push(format!("{what} not created: the referenced table is not migrated or does not exist"));
                continue;
            };
            let cols: Option<Vec<String>> =
                fk.columns.iter().map(|c| tp.target_column(c).map(str::to_string)).collect();
            let refs: Option<Vec<String>> =
                fk.ref_columns.iter().map(|c| parent.target_column(c).map(str::to_string)).collect();
            let (Some(cols), Some(refs)) = (cols, refs) else {
                notes.push(format!("{what} not created: a column of it is not migrated"));
                continue;
            };
            if refs.is_empty() || refs.len() != cols.len() {
                notes.push(format!("{what} not created: the referenced key could not be resolved"));
                continue;
            }
            let unique = unique_sets.iter().any(|(t, set)| {
                t == &parent.map.target && set.len() == refs.len() && set.iter().all(|c| refs.contains(c))
            });
            if !unique {
                notes.push(format!(
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
            steps.push(Step {
                table: tp.source.name.clone(),
                kind: StepKind::ForeignKey,
                validate: Some(format!("ALTER TABLE {table} VALIDATE CONSTRAINT {}", quote(&name))),
                sql,
            });
        }
    }

    for tp in &plan.tables {
        let Some(id) = &tp.identity else { continue };
        let table = ident::qualified(schema, &tp.map.target);
        // Past the largest key and past sqlite_sequence (AUTOINCREMENT never
        // reuses a number, even one whose row was deleted).
        let floor = tp.sqlite_sequence.unwrap_or(0);
        steps.push(Step {
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
    (steps, notes)
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
