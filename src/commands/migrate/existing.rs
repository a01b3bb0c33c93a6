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
    // The catalog to restore: before the first of a series of unfinished
    // runs into this target, else now.
    let before = match run.journal.snapshot().schema_before {
        Some(b) => b,
        None => rt.block_on(catalog::snapshot(&client, &args.pg_schema))?,
    };
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
            keys: if keep_keys { Vec::new() } else { owe_validation(keys::to_set_aside(&catalog, &loaded), &before) },
        },
        file,
    };
    // From here on the target changes: the journal keeps the catalog to
    // restore, for this run and any that resumes it.
    run.journal.update(|j| j.schema_before = Some(before.clone()))?;
    run.report.facts.wrote = true;
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
    restore_keys(run, &client, &keys, opts.writers, loaded_result.is_err(), &before)?;
    if loaded_result.is_err() {
        // Committed tables get their sequences moved now, so the
        // application could insert into them without reusing a key.
        let done = run.journal.snapshot().done;
        let committed: Vec<&crate::plan::TablePlan> = plan.tables.iter().filter(|t| done.contains_key(&t.source.name)).collect();
        match rt.block_on(keys::set_sequences(&client, &args.pg_schema, &catalog, &crate::commands::sequence_floors(&committed))) {
            Ok(()) => run.report.facts.sequences = with_sequences(&catalog, &committed),
            Err(e) => run.report.facts.sequences_not_moved = Some(e.to_string()),
        }
    }
    // A bad value: every other one of the tables left, by row.
    let loads = match loaded_result {
        Err(e @ pipeline::Error::BadValue { .. }) => return Err(super::problems::listed(run, &plan, Some(&catalog), e.into())),
        other => other?,
    };
    let all: Vec<&crate::plan::TablePlan> = plan.tables.iter().collect();
    rt.block_on(keys::set_sequences(&client, &args.pg_schema, &catalog, &crate::commands::sequence_floors(&all)))?;
    run.report.facts.sequences = with_sequences(&catalog, &all);
    run.report.sequences_moved = run.report.facts.sequences.clone();
    let after = rt.block_on(catalog::snapshot(&client, &args.pg_schema))?;
    if before != after {
        let broken = newly_not_valid(&before, &after);
        let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l) && !is_not_valid_of(l, &after)).collect();
        let new: Vec<&String> = after.iter().filter(|l| !before.contains(l) && !l.ends_with(" NOT VALIDATED")).collect();
        if !gone.is_empty() || !new.is_empty() {
            bail!("the target schema changed during the load (a bug in ferry): missing {gone:?}, new {new:?}");
        }
        for k in &broken {
            run.report.warn(format!(
                "foreign key {k} was valid before the load and is now NOT VALID: loaded rows point at rows that do not exist (`ferry plan` lists them)"
            ));
        }
        run.report.facts.broken_keys = broken;
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
        let err = anyhow::anyhow!(
            "the target schema does not fit the source; nothing was loaded. {} problem(s):\n{}",
            misfits.len(),
            crate::plan::existing::misfit_list(&misfits)
        );
        return Err(super::problems::listed(run, &plan, Some(catalog), err));
    }
    Ok(plan)
}

/// The target tables that already hold rows (tables a resumed run already
/// committed are skipped, not counted), after every refusal `plan` reports
/// too (`commands::refusals`: these tables without `--truncate`, a foreign
/// key onto a table not loaded, cycles that cannot load with keys kept).
fn tables_with_rows(run: &mut Run<'_>, plan: &Plan, catalog: &Catalog) -> anyhow::Result<Vec<String>> {
    let done = run.journal.snapshot().done;
    let asked = crate::commands::refusals::Asked {
        truncate: run.args.truncate,
        keep_keys: run.args.keep_keys,
        earlier_unfinished: run.report.facts.earlier_unfinished,
    };
    let refused = crate::commands::refusals::existing(&run.args.source.source, plan, catalog, &done, &asked)?;
    if !refused.is_empty() {
        let list: Vec<String> = refused.iter().map(|m| format!("  - {m}")).collect();
        let err = anyhow::anyhow!("will not load into this target; nothing was written. {} problem(s):\n{}", refused.len(), list.join("\n"));
        return Err(super::problems::listed(run, plan, Some(catalog), err));
    }
    let full: Vec<String> = plan
        .tables
        .iter()
        .filter(|t| !done.contains_key(&t.source.name))
        .filter(|t| catalog.tables.get(&t.map.target).is_some_and(|c| c.has_rows))
        .map(|t| t.map.target.clone())
        .collect();
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
    before: &[String],
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
    // Each key, and how it came back, for the report's `keys_restored`.
    let after = match &restored {
        Ok(_) => run.rt.block_on(catalog::snapshot(client, &keys.journal.schema)).ok(),
        Err(_) => None,
    };
    run.report.keys_restored = keys.journal.keys.iter().map(|k| key_restored(k, after.as_deref())).collect();
    match restored {
        Ok(_) if load_failed => {
            // Said once, by the stop: which keys came back NOT VALID.
            let open = after.as_deref().map(|a| newly_not_valid(before, a)).ok_or(());
            let n = keys.journal.keys.len();
            run.report.facts.keys.push(match open {
                Ok(open) if !open.is_empty() => format!(
                    "the {n} key(s) set aside are back; foreign key(s) {} NOT VALID (their rows point at tables not loaded yet) until the run is resumed",
                    open.join(", ")
                ),
                _ => format!("the {n} key(s) set aside are back"),
            });
        }
        Ok(ws) => ws.into_iter().for_each(|w| run.report.warn(w)),
        Err(e) if load_failed => run
            .report
            .facts
            .keys
            .push(format!("keys set aside are not all back ({e}); `ferry restore-keys` or the next run puts them back")),
        Err(e) => return Err(e),
    }
    Ok(())
}

/// The target names of those `tables` that own a sequence (whose
/// sequences `keys::set_sequences` moves).
fn with_sequences(catalog: &Catalog, tables: &[&crate::plan::TablePlan]) -> Vec<String> {
    tables
        .iter()
        .map(|t| t.map.target.clone())
        .filter(|n| catalog.tables.get(n).is_some_and(|t| !t.sequences.is_empty()))
        .collect()
}

/// How a key set aside came back, read off the catalog snapshot `after`
/// (None: the restore failed, so it is not known to be back).
fn key_restored(k: &keys::SetAside, after: Option<&[String]>) -> crate::report::KeyRestored {
    let state = match after {
        None => "not_restored",
        Some(_) if k.kind != "foreign_key" => "rebuilt",
        Some(a) => {
            let prefix = format!("constraint {}.{} ", k.table, k.name);
            match a.iter().find(|l| l.starts_with(&prefix)) {
                None => "not_restored",
                Some(l) if l.ends_with(" NOT VALIDATED") => "not_valid",
                Some(_) => "validated",
            }
        }
    };
    crate::report::KeyRestored { table: k.table.clone(), name: k.name.clone(), kind: k.kind.clone(), state: state.into() }
}

/// Foreign keys (as `table.name`) validated in the catalog snapshot
/// `before` and `NOT VALID` in `after`.
fn newly_not_valid(before: &[String], after: &[String]) -> Vec<String> {
    before
        .iter()
        .filter(|l| l.starts_with("constraint ") && !l.ends_with(" NOT VALIDATED") && is_not_valid_of(l, after))
        .filter_map(|l| l.strip_prefix("constraint ")?.split(' ').next().map(str::to_string))
        .collect()
}

/// `after` holds the constraint line `line`, but not validated
/// (`pg_get_constraintdef` then ends with `NOT VALID` too).
fn is_not_valid_of(line: &str, after: &[String]) -> bool {
    after.iter().any(|a| *a == format!("{line} NOT VALIDATED") || *a == format!("{line} NOT VALID NOT VALIDATED"))
}

/// The keys to set aside, each foreign key to be validated when it comes
/// back if it was valid in `before`: the catalog before the first of the
/// runs into this target, so a key an earlier stop left `NOT VALID` (its
/// parent was still empty) is validated by the run that resumes.
fn owe_validation(mut keys: Vec<keys::SetAside>, before: &[String]) -> Vec<keys::SetAside> {
    for k in keys.iter_mut().filter(|k| k.kind == "foreign_key" && !k.validated) {
        let prefix = format!("constraint {}.{} ", k.table, k.name);
        k.validated = before.iter().any(|l| l.starts_with(&prefix) && !l.ends_with(" NOT VALIDATED"));
    }
    keys
}
