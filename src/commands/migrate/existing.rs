//! `ferry migrate` into tables that already exist: fit check, keys set
//! aside (or kept, loading in foreign-key order), load, keys restored,
//! sequences set, schema proven unchanged, verify.

use std::path::PathBuf;
use std::time::Instant;

use anyhow::bail;

use super::{Done, Run};
use crate::pipeline::{self, Options};
use crate::plan::{existing, Plan};
use crate::postgres::catalog::{self, Catalog};
use crate::postgres::{self, ddl, keys};
use crate::report::Phase;
use crate::sqlite;

/// The keys of the loaded tables while the load runs: set aside (recorded
/// in `file` first) or kept in place (then `journal.keys` is empty).
struct Keys {
    file: PathBuf,
    journal: keys::Journal,
}

pub(super) fn run(run: &mut Run<'_>, opts: &mut Options) -> anyhow::Result<Done> {
    let (args, rt, target) = (run.args, run.rt, run.target);
    run.report.note(format!(
        "loading into the existing tables of schema {:?}{}",
        args.pg_schema,
        if args.schema == crate::cli::SchemaMode::Auto { " (every table already exists)" } else { "" }
    ));
    let profiles = sqlite::profile::profile_schema(&args.source.source, run.planner.schema)?;
    let client = rt.block_on(target.connect())?;
    let file = keys::journal_path(&args.state_dir, target, &args.pg_schema);
    // A run that died with keys set aside: put them back before anything.
    if let Some(j) = keys::read_journal(&file)? {
        for w in rt.block_on(keys::restore(&client, &file, &j))? {
            run.report.warn(w);
        }
        run.report.note(format!("restored {} keys set aside by an earlier run that did not finish", j.keys.len()));
    }
    let catalog = rt.block_on(Catalog::read(&client, &args.pg_schema))?;
    let history = compared_history(run, &client, &catalog)?;
    let plan = fitted_plan(run, &catalog, &profiles, &history)?;
    let full = tables_with_rows(run, &plan, &catalog)?;
    run.report.phase(Phase::Plan, run.t0.elapsed());

    let t0 = Instant::now();
    let before = rt.block_on(catalog::snapshot(&client, &args.pg_schema))?;
    let loaded: Vec<String> = plan.tables.iter().map(|t| t.map.target.clone()).collect();
    let owned = loaded.iter().all(|n| catalog.tables.get(n).is_some_and(|t| t.owned));
    let keep_keys = args.keep_keys || !owned;
    if !args.keep_keys && !owned {
        run.report.note("the connecting role does not own every table, so keys cannot be set aside: loading with keys in place, in foreign-key order".into());
    }
    let keys = Keys {
        journal: keys::Journal {
            target: target.to_string(),
            schema: args.pg_schema.clone(),
            keys: if keep_keys { Vec::new() } else { keys::to_set_aside(&catalog, &loaded) },
        },
        file,
    };
    let plan = if keep_keys {
        let plan = existing::keys_in_place(plan, &catalog)?;
        opts.truncate = false;
        opts.ordered = true;
        if !plan.cycles.is_empty() {
            run.report.note(format!(
                "foreign-key cycles {:?}: loaded in one order; constraints declared DEFERRABLE are checked at commit",
                plan.cycles
            ));
        }
        if args.truncate && !full.is_empty() {
            rt.block_on(ddl::truncate(&client, &args.pg_schema, &loaded))?;
        }
        plan
    } else {
        if !keys.journal.keys.is_empty() {
            rt.block_on(keys::set_aside(&client, &keys.file, &keys.journal))?;
        }
        plan
    };
    run.report.phase(Phase::Schema, t0.elapsed());

    let t0 = Instant::now();
    let loaded_result = pipeline::load_remaining(&args.source.source, &plan, target, opts, &run.journal.snapshot().done);
    run.report.phase(Phase::Load, t0.elapsed());

    // Keys come back whatever happened to the load.
    let t0 = Instant::now();
    restore_keys(run, &client, &keys, opts.writers, loaded_result.is_err())?;
    let loads = loaded_result?;
    rt.block_on(keys::set_sequences(&client, &args.pg_schema, &catalog, &loaded))?;
    let after = rt.block_on(catalog::snapshot(&client, &args.pg_schema))?;
    if before != after {
        let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l)).collect();
        let new: Vec<&String> = after.iter().filter(|l| !before.contains(l)).collect();
        bail!("the target schema changed during the load (a bug in ferry): missing {gone:?}, new {new:?}");
    }
    run.report.phase(Phase::Keys, t0.elapsed());
    let mut checks = super::verify_loaded(run, &plan, &loads)?;
    checks.extend(history.iter().filter(|h| !h.loads()).map(crate::commands::history_table_check));
    Ok((loads, checks))
}

/// Migration-history tables are compared, not loaded (`plan::history`):
/// different revisions stop the run here, before anything is written.
fn compared_history(
    run: &mut Run<'_>,
    client: &tokio_postgres::Client,
    catalog: &Catalog,
) -> anyhow::Result<Vec<crate::plan::history::HistoryCheck>> {
    let mut declared = run.planner.declared()?;
    let history = run.rt.block_on(crate::plan::history::check(&run.args.source.source, &declared, catalog, client))?;
    for n in crate::plan::history::settle(&mut declared, &history)? {
        run.report.note(n);
    }
    Ok(history)
}

/// Preflight: the plan fitted to the target, or every misfit before any
/// row moves.
fn fitted_plan(
    run: &mut Run<'_>,
    catalog: &Catalog,
    profiles: &sqlite::profile::Profiles,
    history: &[crate::plan::history::HistoryCheck],
) -> anyhow::Result<Plan> {
    let (mut plan, mut misfits, notes) = run.planner.fitted(&run.args.source.source, catalog, profiles)?;
    // History tables compared instead of loaded need not fit.
    crate::plan::history::without(&mut plan, history);
    misfits.retain(|m| plan.tables.iter().any(|t| t.source.name == m.table) || !history.iter().any(|h| h.table == m.table));
    crate::commands::plan_notes(run.report, run.planner.schema, &plan);
    for n in notes {
        run.report.note(n);
    }
    if !misfits.is_empty() {
        bail!(
            "the target schema does not fit the source; nothing was loaded. {} problem(s):\n{}",
            misfits.len(),
            crate::plan::existing::misfit_list(&misfits)
        );
    }
    Ok(plan)
}

/// The target tables that already hold rows (tables a resumed run already
/// committed are skipped, not counted); refused unless `--truncate`.
fn tables_with_rows(run: &Run<'_>, plan: &Plan, catalog: &Catalog) -> anyhow::Result<Vec<String>> {
    let done = run.journal.snapshot().done;
    let full: Vec<String> = plan
        .tables
        .iter()
        .filter(|t| !done.contains_key(&t.source.name))
        .filter(|t| catalog.tables.get(&t.map.target).is_some_and(|c| c.has_rows))
        .map(|t| t.map.target.clone())
        .collect();
    if !full.is_empty() && !run.args.truncate {
        bail!(
            "target tables already hold rows: {}; ferry never appends. Give --truncate to empty them first",
            full.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    Ok(full)
}

/// Put back the keys set aside: index builds and validations on several
/// sessions, as in create mode. After a failed load a failure here is a
/// warning (the load's error is the one to report).
fn restore_keys(
    run: &mut Run<'_>,
    client: &tokio_postgres::Client,
    keys: &Keys,
    connections: usize,
    load_failed: bool,
) -> anyhow::Result<()> {
    if keys.journal.keys.is_empty() {
        return Ok(());
    }
    let restored = run.rt.block_on(async {
        let steps = keys::missing_steps(client, &keys.journal).await?;
        let warnings = postgres::post_data::execute(run.target, &steps, true, connections).await?;
        keys::remove_journal(&keys.file);
        Ok::<_, anyhow::Error>(warnings)
    });
    match restored {
        Ok(ws) => ws.into_iter().for_each(|w| run.report.warn(w)),
        Err(e) if load_failed => run.report.warn(format!("{e}; run `ferry restore-keys` to retry")),
        Err(e) => return Err(e),
    }
    Ok(())
}
