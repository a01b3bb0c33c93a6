//! Keys set aside during a load into an existing schema, and put back.
//!
//! Loading into tables with their foreign keys and secondary indexes in
//! place is several times slower than loading bare and building them after
//! (issue 4: 25.7 s vs 3.7 s for 1.6 M rows). When the connecting role owns
//! the tables, ferry records every foreign key and secondary index
//! definition (`pg_get_constraintdef`, `pg_get_indexdef`) in a journal file
//! *before* dropping anything, drops them, loads, and re-creates them with
//! the same names and definitions: foreign keys `NOT VALID` then `VALIDATE`,
//! indexes one by one. The journal is removed only after every key is back,
//! so a run that dies in between is repaired by the next run (or by
//! `ferry restore-keys`). Primary keys and unique constraints stay: foreign
//! keys depend on them and they catch duplicates while loading.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio_postgres::Client;

use super::catalog::Catalog;
use super::ident::{qualified, quote};
use super::{Error, Target};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct SetAside {
    pub table: String,
    pub name: String,
    /// `foreign_key` or `index`.
    pub kind: String,
    /// `pg_get_constraintdef` or `pg_get_indexdef` output.
    pub definition: String,
    /// The constraint was validated before (re-validate after restoring).
    pub validated: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct Journal {
    pub target: String,
    pub schema: String,
    pub keys: Vec<SetAside>,
}

/// Where the journal of keys set aside for this target lives.
pub fn journal_path(state_dir: &Path, target: &Target, schema: &str) -> PathBuf {
    let id = blake3::hash(format!("{target}|{schema}").as_bytes()).to_hex();
    state_dir.join(format!("keys-{}.json", &id[..16]))
}

/// The foreign keys (on any table of the schema that touches a loaded
/// table) and secondary indexes (on loaded tables) to set aside.
pub fn to_set_aside(catalog: &Catalog, loaded: &[String]) -> Vec<SetAside> {
    let mut out = Vec::new();
    for t in catalog.tables.values() {
        for c in &t.constraints {
            let touches = loaded.contains(&t.name) || c.ref_table.as_ref().is_some_and(|r| loaded.contains(r));
            if c.kind == 'f' && touches {
                out.push(SetAside {
                    table: t.name.clone(),
                    name: c.name.clone(),
                    kind: "foreign_key".into(),
                    validated: !c.definition.ends_with("NOT VALID"),
                    definition: c.definition.clone(),
                });
            }
        }
        if loaded.contains(&t.name) {
            for ix in &t.indexes {
                if !ix.constraint {
                    out.push(SetAside {
                        table: t.name.clone(),
                        name: ix.name.clone(),
                        kind: "index".into(),
                        definition: ix.definition.clone(),
                        validated: true,
                    });
                }
            }
        }
    }
    out
}

/// Write the journal durably, then drop the keys in one transaction.
pub async fn set_aside(client: &Client, journal_file: &Path, journal: &Journal) -> Result<(), Error> {
    write_journal(journal_file, journal)?;
    let mut sql = String::from("BEGIN;\n");
    for k in &journal.keys {
        let table = qualified(&journal.schema, &k.table);
        if k.kind == "foreign_key" {
            sql.push_str(&format!("ALTER TABLE {table} DROP CONSTRAINT {};\n", quote(&k.name)));
        } else {
            sql.push_str(&format!("DROP INDEX {};\n", qualified(&journal.schema, &k.name)));
        }
    }
    sql.push_str("COMMIT;");
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(Error::server("setting keys aside for the load", &e));
    }
    Ok(())
}

/// Re-create every key of the journal that is missing, indexes first (FKs
/// may rely on them), then remove the journal. Idempotent: a key already
/// present (restored by an earlier, interrupted restore) is skipped.
/// Returns warnings: foreign keys the data breaks stay `NOT VALID`.
pub async fn restore(client: &Client, journal_file: &Path, journal: &Journal) -> Result<Vec<String>, Error> {
    let mut warnings = Vec::new();
    let existing = Catalog::read(client, &journal.schema).await?;
    let mut missing = missing(&existing, journal);
    missing.sort_by_key(|(k, _)| k.kind == "foreign_key");
    for (k, step) in missing {
        let what = if k.kind == "foreign_key" { "foreign key" } else { "index" };
        client
            .batch_execute(&step.sql)
            .await
            .map_err(|e| Error::server(format!("restoring {what} {:?} on table {:?}", k.name, k.table), &e))?;
        if let Some(validate) = &step.validate
            && let Err(e) = client.batch_execute(validate).await
        {
            warnings.push(format!(
                "table {:?}: foreign key {:?} restored but left NOT VALID, the data breaks it: {}",
                k.table,
                k.name,
                super::describe(&e)
            ));
        }
    }
    remove_journal(journal_file);
    Ok(warnings)
}

/// Whether the key `k` exists in the target (restored by an earlier run).
fn present(existing: &Catalog, k: &SetAside) -> bool {
    existing.tables.get(&k.table).is_some_and(|t| {
        if k.kind == "foreign_key" {
            t.constraints.iter().any(|c| c.name == k.name)
        } else {
            t.indexes.iter().any(|i| i.name == k.name)
        }
    })
}

/// The keys of `journal` still missing from the target, as post-data
/// steps (indexes; foreign keys added `NOT VALID`, then validated if they
/// were valid before), for a restore on several sessions at once.
pub async fn missing_steps(client: &Client, journal: &Journal) -> Result<Vec<super::ddl::Step>, Error> {
    let existing = Catalog::read(client, &journal.schema).await?;
    Ok(missing(&existing, journal).into_iter().map(|(_, step)| step).collect())
}

/// Each key of `journal` missing from `existing`, with the step that makes
/// it again: the one place that writes the restoring SQL.
fn missing<'j>(existing: &Catalog, journal: &'j Journal) -> Vec<(&'j SetAside, super::ddl::Step)> {
    use super::ddl::{Step, StepKind};
    let mut out = Vec::new();
    for k in journal.keys.iter().filter(|k| !present(existing, k)) {
        let table = qualified(&journal.schema, &k.table);
        out.push((
            k,
            if k.kind == "foreign_key" {
                let def = k.definition.trim_end_matches(" NOT VALID");
                let name = quote(&k.name);
                Step {
                    table: k.table.clone(),
                    kind: StepKind::ForeignKey,
                    sql: format!("ALTER TABLE {table} ADD CONSTRAINT {name} {def} NOT VALID"),
                    validate: k.validated.then(|| format!("ALTER TABLE {table} VALIDATE CONSTRAINT {name}")),
                }
            } else {
                Step { table: k.table.clone(), kind: StepKind::Index, sql: k.definition.clone(), validate: None }
            },
        ));
    }
    out
}

/// The journal's keys are back: forget them.
pub fn remove_journal(journal_file: &Path) {
    let _ = std::fs::remove_file(journal_file);
}

pub fn read_journal(path: &Path) -> Result<Option<Journal>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| Error::Server {
            context: format!("reading the key journal {}", path.display()),
            message: e.to_string(),
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Server { context: format!("reading the key journal {}", path.display()), message: e.to_string() }),
    }
}

fn write_journal(path: &Path, journal: &Journal) -> Result<(), Error> {
    let bytes = serde_json::to_vec_pretty(journal).expect("journal serializes");
    crate::journal::write_durably(path, &bytes).map_err(|e| Error::Server {
        context: format!("writing the key journal {}", path.display()),
        message: e.to_string(),
    })
}

/// Every sequence owned by a column (serial, identity) of the `tables`
/// (target name; and the column whose sequence must also pass a floor,
/// with the floor) is set so that the next `nextval` is past the largest
/// value, and past the floor.
pub async fn set_sequences(
    client: &Client,
    schema: &str,
    catalog: &Catalog,
    tables: &[(String, Option<(String, i64)>)],
) -> Result<(), Error> {
    for (name, floor) in tables {
        let Some(t) = catalog.tables.get(name) else { continue };
        for (col, seq) in &t.sequences {
            let floor = floor.as_ref().filter(|(c, _)| c == col).map_or(0, |(_, n)| *n);
            let sql = format!(
                "SELECT setval({}, GREATEST(max({}), {floor}, 1), max({}) IS NOT NULL OR {floor} > 0) FROM {}",
                super::ident::literal(seq),
                quote(col),
                quote(col),
                qualified(schema, name)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| Error::server(format!("setting sequence {seq} of table {name:?}"), &e))?;
        }
    }
    Ok(())
}

/// Foreign keys left `NOT VALID` (their rows pointed at rows not loaded)
/// on or onto the `tables` (target names): each is validated now, on its
/// own, so one that the data still breaks stays `NOT VALID` without
/// holding back the others. Returns (validated, still `NOT VALID` with the
/// server's reason), as `table.constraint`.
pub async fn validate_open(
    client: &Client,
    schema: &str,
    catalog: &Catalog,
    tables: &[String],
) -> (Vec<String>, Vec<(String, String)>) {
    let (mut done, mut open) = (Vec::new(), Vec::new());
    for t in catalog.tables.values() {
        for c in t.constraints.iter().filter(|c| c.kind == 'f' && c.definition.trim_end().ends_with("NOT VALID")) {
            let touches = tables.contains(&t.name) || c.ref_table.as_ref().is_some_and(|r| tables.contains(r));
            if !touches {
                continue;
            }
            let sql = format!("ALTER TABLE {} VALIDATE CONSTRAINT {}", qualified(schema, &t.name), quote(&c.name));
            let name = format!("{}.{}", t.name, c.name);
            match client.batch_execute(&sql).await {
                Ok(()) => done.push(name),
                Err(e) => open.push((name, super::describe(&e))),
            }
        }
    }
    (done, open)
}
