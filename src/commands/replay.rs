//! `ferry replay SRC TARGET`: the way back for rows a migration rejected
//! (`on_bad_value = "reject"`). The reject file names each row by rowid;
//! the person fixes the rows in SQLite (or adds a mapping rule), and this
//! command reads the *current* source rows by those keys through a plan of
//! the migrated target (its column types decide the conversions, as for
//! `verify`), and loads them in one transaction, parents before children,
//! with the keys in place: the primary key refuses a row already there,
//! a foreign key a row whose parent is missing. Sequences are moved past
//! the new largest keys in the same transaction; foreign keys left
//! `NOT VALID` on or onto those tables are validated afterwards.
//!
//! A separate command rather than a `migrate` flag: `migrate` creates or
//! empties tables, resumes, sets keys aside; none of that may happen to a
//! target that is already migrated and verified, and a command of its own
//! cannot combine with those flags by mistake.
//!
//! Any row still bad refuses the whole replay (exit 2, nothing written),
//! listing every such row. After the commit the reject file is renamed to
//! `FILE.replayed`, so running the command twice cannot add a row twice to
//! a table without a primary key.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, bail};

use crate::cli::ReplayArgs;
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::replay::{self, Read, Wanted};
use crate::plan::{Plan, Planner};
use crate::postgres::catalog::Catalog;
use crate::postgres::{self, Target, keys};

pub fn run(args: &ReplayArgs) -> anyhow::Result<Outcome> {
    let t0 = Instant::now();
    let file = args
        .reject_file
        .clone()
        .unwrap_or_else(|| args.state_dir.join("rejects.jsonl"));
    let layers = Layers::load(&args.common.mapping.mapping)?;
    let target = Target::resolve(args.common.target.target.as_deref())?;
    let done = PathBuf::from(format!("{}.replayed", file.display()));
    if !file.exists() && done.exists() {
        bail!(
            "{} is gone and {} is there: its rows were already replayed; nothing to do",
            file.display(),
            done.display()
        );
    }
    let wanted = replay::read_reject_file(&file).map_err(anyhow::Error::msg)?;
    let src = &args.common.source.source;
    if wanted.is_empty() {
        say(
            args,
            &format!(
                "ferry replay: {} holds no rejected rows; nothing to do",
                file.display()
            ),
        );
        return Ok(Outcome::Success);
    }
    let rt = postgres::runtime(2)?;
    // The rows are read in one state of the source.
    let _snapshot = crate::sqlite::snapshot::Snapshot::take(src)?;
    let schema = super::read_schema(src)?;
    let planner = super::planner(
        &schema,
        &layers,
        &args.common.mapping,
        &args.pg_schema,
        None,
    );
    let client = rt.block_on(target.connect())?;
    let catalog = rt.block_on(Catalog::read(&client, &args.pg_schema))?;
    let (plan, read) = plan_and_read(&planner, args, &catalog, &wanted)?;
    if !read.still_bad.is_empty() {
        bail!(
            "{} row(s) of {} still do not convert; nothing was written. Fix them in SQLite (or add a mapping rule), then run the same command again:\n{}",
            read.still_bad.len(),
            file.display(),
            read.still_bad
                .iter()
                .map(|l| format!("  - {l}"))
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    crate::interrupt::check()?;

    // One transaction: every row, then the sequences past them.
    let loaded: Vec<&crate::plan::TablePlan> = read
        .tables
        .iter()
        .filter(|t| t.rows > 0)
        .map(|t| &plan.tables[t.table])
        .collect();
    let names: Vec<String> = loaded.iter().map(|tp| tp.map.target.clone()).collect();
    let floors = super::sequence_floors(&loaded);
    rt.block_on(crate::interrupt::interruptible(async {
        Ok::<_, anyhow::Error>(replay::write(&client, &plan, &read, &catalog, &floors).await?)
    }))
    .context("the replay's transaction was rolled back; nothing was written")?;
    let keys = rt.block_on(keys::validate_open(
        &client,
        &plan.pg_schema,
        &catalog,
        &names,
    ));
    let renamed = std::fs::rename(&file, &done);
    let moved: Vec<String> = names
        .into_iter()
        .filter(|n| {
            catalog
                .tables
                .get(n)
                .is_some_and(|t| !t.sequences.is_empty())
        })
        .collect();
    let (mut lines, doc) = summary(&plan, &read, &moved, &keys);
    match &renamed {
        Ok(()) => lines.push(format!("  the reject file is now {}", done.display())),
        Err(e) => lines.push(format!(
            "  could not rename the reject file {} ({e}): do not replay it again",
            file.display()
        )),
    }
    let total: u64 = read.tables.iter().map(|t| t.rows).sum();
    say(
        args,
        &format!(
            "ferry replay: {total} row(s) loaded in one transaction ({:.2}s):\n{}\nNext: `ferry verify` with the same source, target and mappings compares every table.",
            t0.elapsed().as_secs_f64(),
            lines.join("\n")
        ),
    );
    if args.common.output.json {
        let mut doc = doc;
        doc["source"] = src.display().to_string().into();
        doc["reject_file"] = file.display().to_string().into();
        println!("{}", serde_json::to_string_pretty(&doc)?);
    }
    Ok(Outcome::Success)
}

/// What a replay did, as lines for stderr and as the `--json` document:
/// rows per table, rowids no longer in the source, sequences moved, foreign
/// keys validated or still `NOT VALID` (`keys`: as `keys::validate_open`).
fn summary(
    plan: &Plan,
    read: &Read,
    moved: &[String],
    keys: &(Vec<String>, Vec<(String, String)>),
) -> (Vec<String>, serde_json::Value) {
    let (validated, open) = keys;
    let mut lines = Vec::new();
    let (mut rows, mut gone) = (BTreeMap::new(), BTreeMap::new());
    for t in &read.tables {
        let tp = &plan.tables[t.table];
        rows.insert(tp.map.target.clone(), t.rows);
        lines.push(format!("  {:?}: {} row(s) loaded", tp.map.target, t.rows));
        if !t.gone.is_empty() {
            gone.insert(tp.source.name.clone(), t.gone.clone());
            lines.push(format!(
                "  {:?}: rowid(s) {:?} are no longer in the source; nothing to load for them",
                tp.source.name, t.gone
            ));
        }
    }
    if !moved.is_empty() {
        lines.push(format!(
            "  sequences moved past the rows of: {}",
            moved.join(", ")
        ));
    }
    for v in validated {
        lines.push(format!("  foreign key {v}: validated (it was NOT VALID)"));
    }
    for (k, why) in open {
        lines.push(format!("  foreign key {k}: still NOT VALID ({why})"));
    }
    let doc = serde_json::json!({
        "command": "replay",
        "rows": rows,
        "gone": gone,
        "sequences_moved": moved,
        "keys_validated": validated,
        "keys_not_valid": open.iter().map(|(k, _)| k).collect::<Vec<_>>(),
        "exit_code": 0,
    });
    (lines, doc)
}

fn say(args: &ReplayArgs, text: &str) {
    if !args.common.output.quiet {
        eprintln!("{text}");
    }
}

/// The rows, read through the target's plan: first the plan the target's
/// column types give without a pass over the source; when that plan does
/// not fit or a row does not convert through it (the numbers of a date/time
/// column whose unit `migrate` chose from the data), the plan fitted to the
/// target from a profile of the source, as `migrate` into an existing
/// schema and `verify` plan. A row bad through both is still bad.
fn plan_and_read(
    planner: &Planner<'_>,
    args: &ReplayArgs,
    catalog: &Catalog,
    wanted: &Wanted,
) -> anyhow::Result<(Plan, Read)> {
    let src = &args.common.source.source;
    let (plan, misfits) = planner.retargeted(catalog)?;
    let relevant = |m: &crate::plan::existing::Misfit| wanted.contains_key(&m.table);
    if !misfits.iter().any(relevant) {
        let read = replay::read(src, &plan, wanted)?;
        if read.still_bad.is_empty() {
            return Ok((plan, read));
        }
    }
    let profiles = crate::sqlite::profile::profile_schema(src, planner.schema)?;
    let (plan, misfits, _notes) = planner.fitted(src, catalog, &profiles)?;
    let misfits: Vec<_> = misfits.into_iter().filter(relevant).collect();
    if !misfits.is_empty() {
        bail!(
            "the target's tables do not fit the source's, so its rows cannot be replayed. {} problem(s):\n{}",
            misfits.len(),
            crate::plan::existing::misfit_list(&misfits)
        );
    }
    let read = replay::read(src, &plan, wanted)?;
    Ok((plan, read))
}
