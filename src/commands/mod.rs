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
use crate::source;

pub mod inspect;
pub mod migrate;
pub mod plan;
pub mod verify;

pub fn run(cli: Cli) -> anyhow::Result<Outcome> {
    match cli.command {
        Command::Inspect(args) => inspect::run(&args),
        Command::Migrate(args) => migrate::run(&args),
        Command::Verify(args) => verify::run(&args),
        Command::Plan(args) => plan::run(&args),
        Command::RestoreKeys(args) => migrate::restore_keys(&args),
        Command::Mappings => {
            print!("{}", crate::mapping::DEFAULT_MAPPING);
            Ok(Outcome::Success)
        }
    }
}

/// Introspect and profile the source, then build the plan: the shared first
/// half of `migrate`, `verify` and `plan`, so they all decide alike.
pub fn prepare(src: &Path, layers: &Layers, mapping: &MappingOpts, pg_schema: &str) -> anyhow::Result<(Schema, Plan)> {
    let (schema, plan, _) = prepare_with(src, layers, mapping, pg_schema, true)?;
    Ok((schema, plan))
}

/// Per table name, per column: storage-class counts.
pub type Profiles = HashMap<String, Vec<crate::model::StorageProfile>>;

/// `prepare`, choosing whether the data may widen declared types (create
/// mode) or not (existing mode, where the target's types decide), and
/// returning the profiles.
pub fn prepare_with(
    src: &Path,
    layers: &Layers,
    mapping: &MappingOpts,
    pg_schema: &str,
    widen: bool,
) -> anyhow::Result<(Schema, Plan, Profiles)> {
    let conn = source::open::open_read_only(src)?;
    let schema = source::introspect::introspect(&conn)
        .with_context(|| format!("reading the schema of {}", src.display()))?;
    let mut profiles = HashMap::new();
    for t in &schema.tables {
        profiles.insert(t.name.clone(), source::profile::profile_table(&conn, t)?);
    }
    drop(conn);
    let plan = crate::plan::build(PlanInput {
        schema: &schema,
        layers,
        pg_schema,
        include: &mapping.tables,
        exclude: &mapping.exclude,
        profiles: if widen { Some(&profiles) } else { None },
    })?;
    Ok((schema, plan, profiles))
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
