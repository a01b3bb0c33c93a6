//! One file per subcommand. Each turns its parsed arguments into a validated
//! configuration first, then does the work, and returns an [`Outcome`].

use std::collections::HashMap;
use std::path::Path;

use anyhow::Context;

use crate::cli::{Cli, Command, MappingOpts};
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::model::Schema;
use crate::plan::{Plan, PlanInput};
use crate::report::Report;
use crate::sqlite;

pub mod inspect;
pub mod migrate;
pub mod plan;
pub mod refusals;
pub mod scratch;
pub mod stop;
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
        Command::Migrate(args) => migrate::run(&args),
        Command::Verify(args) => {
            verify::run(&args).map_err(interrupted("verify", "it only reads, nothing was written; run it again to compare"))
        }
        Command::Plan(args) => plan::run(&args).map_err(interrupted(
            "plan",
            "nothing was written to the target (a calibration's scratch schema is dropped); run it again",
        )),
        Command::RestoreKeys(args) => migrate::restore_keys(&args),
        Command::Mappings => {
            print!("{}", crate::mapping::DEFAULT_MAPPING);
            Ok(Outcome::Success)
        }
    }
}

/// Per table name, per column: storage-class counts.
pub type Profiles = HashMap<String, Vec<crate::model::StorageProfile>>;

/// The create-mode plan of a source in one call (the benchmarks use it).
pub fn prepare(src: &Path, layers: &Layers, mapping: &MappingOpts, pg_schema: &str) -> anyhow::Result<(Schema, Plan)> {
    let (schema, profiles) = introspect_and_profile(src)?;
    let plan = build_plan(&schema, &profiles, layers, mapping, pg_schema, true)?;
    Ok((schema, plan))
}

/// Read the schema, then profile every table (storage classes per column),
/// tables in parallel, each reader thread on its own connection: the shared
/// first half of `migrate`, `verify` and `plan`, so they all decide alike.
pub fn introspect_and_profile(src: &Path) -> anyhow::Result<(Schema, Profiles)> {
    let schema = read_schema(src)?;
    let profiles = profile(src, &schema)?;
    Ok((schema, profiles))
}

/// The source's schema alone (no pass over the rows).
pub fn read_schema(src: &Path) -> anyhow::Result<Schema> {
    let (conn, _) = sqlite::snapshot::open_in_snapshot(src)?;
    sqlite::introspect::introspect(&conn).with_context(|| format!("cannot read the schema of {src:?}"))
}

/// Storage classes of every column of every table: one pass over the rows.
pub fn profile(src: &Path, schema: &Schema) -> anyhow::Result<Profiles> {
    use rayon::prelude::*;
    // Big tables are profiled in rowid ranges, so both cores share the
    // largest table instead of one of them scanning it alone.
    let mut work = Vec::new();
    for (ti, t) in schema.tables.iter().enumerate() {
        for chunk in crate::sqlite::pool::chunks(src, t, 200_000)? {
            work.push((ti, chunk));
        }
    }
    let profiled: Vec<anyhow::Result<(usize, Vec<crate::model::StorageProfile>)>> = work
        .par_iter()
        .map(|(ti, chunk)| {
            let t = &schema.tables[*ti];
            let rowid = crate::sqlite::pool::rowid_name(t);
            let range = match (rowid.as_deref(), chunk.range) {
                (Some(r), Some((lo, hi))) => Some((r, lo, hi)),
                _ => None,
            };
            let p = crate::sqlite::pool::with_connection(src, |c| {
                sqlite::profile::profile_range(c, t, range).map_err(|e| crate::sqlite::Error::Read {
                    location: crate::error::Location::table(&t.name),
                    message: format!("{e:#}"),
                })
            })?;
            Ok((*ti, p))
        })
        .collect();
    let mut profiles: Profiles = HashMap::new();
    for r in profiled {
        let (ti, p) = r?;
        let t = &schema.tables[ti];
        let entry = profiles
            .entry(t.name.clone())
            .or_insert_with(|| vec![crate::model::StorageProfile::default(); t.columns.len()]);
        sqlite::profile::merge(entry, &p);
    }
    Ok(profiles)
}

/// The plan from a schema and its profiles; `widen` lets the data widen
/// declared types (create mode only).
pub fn build_plan(
    schema: &Schema,
    profiles: &Profiles,
    layers: &Layers,
    mapping: &MappingOpts,
    pg_schema: &str,
    widen: bool,
) -> anyhow::Result<Plan> {
    Ok(crate::plan::build(PlanInput {
        schema,
        layers,
        pg_schema,
        include: &mapping.tables,
        exclude: &mapping.exclude,
        profiles: if widen { Some(profiles) } else { None },
    })?)
}

/// The plan's decisions worth telling: widened columns, skipped objects.
pub fn plan_notes(report: &mut Report, schema: &Schema, plan: &Plan) {
    for tp in &plan.tables {
        for n in &tp.map.notes {
            report.note(format!("table {:?}: {n}", tp.source.name));
        }
    }
    for s in &schema.skipped {
        report.note(format!("not migrated: {:?} {:?}: {}", s.kind, s.name, s.reason));
    }
}
