//! One file per subcommand. Each turns its parsed arguments into a validated
//! configuration first, then does the work, and returns an [`Outcome`].

use std::path::Path;

use anyhow::{bail, Context};

use crate::cli::{Cli, Command, MappingOpts, SchemaMode};
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::model::Schema;
use crate::plan::{Plan, Planner, TablePlan};
use crate::postgres::catalog::Catalog;
use crate::postgres::Target;
use crate::report::Report;
use crate::sqlite;

pub mod inspect;
pub mod migrate;
pub mod plan;
pub mod refusals;
pub mod replay;
pub mod restore_keys;
pub mod shell;
pub mod stop;
pub mod sync;
pub mod verify;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    // `migrate` describes its own stops (`stop`); the others write nothing
    // that outlives them, and an interrupt says so, naming the command.
    let interrupted = |command: &'static str, left: &'static str| {
        move |e: anyhow::Error| {
            if crate::interrupt::requested() { e.context(format!("ferry {command} interrupted: {left}")) } else { e }
        }
    };
    match cli.command {
        Command::Inspect(args) => inspect::run(&args).map_err(interrupted("inspect", "nothing was written")),
        // `migrate` writes its report files on every stop itself (`stop::fail`).
        Command::Migrate(args) => migrate::run(&args),
        Command::Verify(args) => {
            verify::run(&args).map_err(interrupted("verify", "it only reads, nothing was written; run it again to compare"))
        }
        Command::Sync(args) => sync::run(&args)
            .map_err(interrupted("sync", "its transaction was rolled back, the target is as it was; run it again")),
        Command::Plan(args) => plan::run(&args).map_err(interrupted(
            "plan",
            "nothing was written to the target (a calibration's scratch schema is dropped); run it again",
        )),
        Command::RestoreKeys(args) => restore_keys::run(&args),
        Command::Replay(args) => replay::run(&args).map_err(interrupted(
            "replay",
            "its transaction was rolled back, nothing was written; run it again",
        )),
        Command::Completions { shell } => shell::completions(shell),
        Command::Man { command } => shell::man(command.as_deref()),
        Command::Mappings => {
            print!("{}", crate::mapping::DEFAULT_MAPPING);
            Ok(Outcome::Success)
        }
    }
}

/// Per table name, per column: storage-class counts.
pub use crate::sqlite::profile::Profiles;

/// The create-mode plan of a source in one call (the benchmarks use it).
pub fn prepare(src: &Path, layers: &Layers, mapping: &MappingOpts, pg_schema: &str) -> anyhow::Result<(Schema, Plan)> {
    let (schema, profiles) = introspect_and_profile(src)?;
    let plan = planner(&schema, layers, mapping, pg_schema, None).profiled(&profiles)?;
    Ok((schema, plan))
}

/// Read the schema, then profile every table (storage classes per column),
/// tables in parallel, each reader thread on its own connection: the shared
/// first half of `migrate`, `verify` and `plan`, so they all decide alike.
pub fn introspect_and_profile(src: &Path) -> anyhow::Result<(Schema, Profiles)> {
    let schema = read_schema(src)?;
    let profiles = sqlite::profile::profile_schema(src, &schema)?;
    Ok((schema, profiles))
}

/// The source's schema alone (no pass over the rows).
pub fn read_schema(src: &Path) -> anyhow::Result<Schema> {
    let (conn, _) = sqlite::snapshot::open_in_snapshot(src)?;
    sqlite::introspect::introspect(&conn).with_context(|| format!("cannot read the schema of {src:?}"))
}


/// The planner of a run: every plan of the run is made from it, with the
/// rowid ranges of `chunking` (source, rows per chunk) when given.
pub fn planner<'a>(
    schema: &'a Schema,
    layers: &'a Layers,
    mapping: &'a MappingOpts,
    pg_schema: &'a str,
    chunking: Option<(&'a Path, u64)>,
) -> Planner<'a> {
    Planner { schema, layers, pg_schema, include: &mapping.tables, exclude: &mapping.exclude, chunking }
}

/// The plan's decisions worth telling: widened columns, skipped objects,
/// and (as warnings) the date/time readings chosen from the data.
pub fn plan_notes(report: &mut Report, schema: &Schema, plan: &Plan) {
    report.readings(plan);
    for tp in &plan.tables {
        for n in &tp.map.notes {
            report.note(format!("table {:?}: {n}", tp.source.name));
        }
    }
    for s in &schema.skipped {
        report.note(format!("not migrated: {:?} {:?}: {}", s.kind, s.name, s.reason));
    }
}

/// `--schema auto`: existing when every planned table is in the target,
/// create when none is, and a clear stop when only some are.
pub async fn detect_mode(target: &Target, plan: &Plan, asked: SchemaMode) -> anyhow::Result<SchemaMode> {
    if asked != SchemaMode::Auto {
        return Ok(asked);
    }
    let client = target.connect().await?;
    let catalog = Catalog::read(&client, &plan.pg_schema).await?;
    let (present, missing): (Vec<&TablePlan>, Vec<&TablePlan>) =
        plan.tables.iter().partition(|t| catalog.find(&t.map.target).is_some());
    Ok(match (present.is_empty(), missing.is_empty()) {
        (true, _) => SchemaMode::Create,
        (false, true) => SchemaMode::Existing,
        (false, false) => bail!(
            "the target has {} of the {} tables ({}) but not {}; give --schema create (after dropping them) or --schema existing (after creating the rest, e.g. with alembic upgrade head)",
            present.len(),
            plan.tables.len(),
            names(&present),
            names(&missing)
        ),
    })
}

fn names(ts: &[&TablePlan]) -> String {
    ts.iter().map(|t| format!("{:?}", t.map.target)).collect::<Vec<_>>().join(", ")
}

/// The report line of a migration-history table (`plan::history`):
/// verified when the revisions agree (or the target's state is kept), a
/// difference otherwise.
pub fn history_table_check(h: &crate::plan::history::HistoryCheck) -> crate::verify::TableCheck {
    use crate::plan::history::Kind;
    use crate::verify::Status;
    let status = match h.kind {
        Kind::TargetOwned => Status::Kept,
        Kind::Revisions if h.same() => Status::SameRevisions,
        Kind::Revisions => Status::RevisionsDiffer,
    };
    crate::verify::TableCheck::counts(&h.table, h.source_rows, h.target_rows, None, status)
}

/// Per table to set sequences for: its target name, and the floor its
/// rowid-alias key's sequence must pass (`sqlite_sequence`: AUTOINCREMENT
/// never reuses a number, even a deleted row's), as in create mode
/// (`migrate` into an existing schema, `replay`).
pub fn sequence_floors(tables: &[&crate::plan::TablePlan]) -> Vec<(String, Option<(String, i64)>)> {
    tables
        .iter()
        .map(|tp| {
            let floor = match (tp.source.row_key.clone(), tp.sqlite_sequence) {
                (crate::model::RowKey::RowidAlias { column }, Some(n)) => {
                    tp.target_column(&tp.source.columns[column].name).map(|c| (c.to_string(), n))
                }
                _ => None,
            };
            (tp.map.target.clone(), floor)
        })
        .collect()
}
