//! `ferry migrate SRC TARGET`: introspect, plan, create, load, add keys,
//! verify, report. Everything that can be checked is checked before the
//! first row moves: the mapping, the names, and that the target has none of
//! the tables (create mode never overwrites).

use std::time::Instant;

use std::collections::HashMap;
use std::sync::Arc;

use anyhow::{bail, Context};

use crate::cli::{MigrateArgs, SchemaMode};
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::mapping::resolve::Mapper;
use crate::pipeline::{self, Options};
use crate::plan::existing::{fit, SourceFacts};
use crate::plan::{Plan, TablePlan};
use crate::journal::{self, RunJournal};
use crate::progress::Progress;
use crate::report::{Phase, Report};
use crate::postgres::catalog::{self, Catalog};
use crate::postgres::{self, ddl, ident, keys, Target};
use crate::verify::{self, TableCheck};

pub fn run(args: &MigrateArgs) -> anyhow::Result<Outcome> {
    let mut report = Report::new("migrate", &args.source.source);
    report.facts.scratch = args.target_scratch;
    let t_all = Instant::now();
    run_reported(args, &mut report).map_err(|e| {
        report.total(t_all.elapsed());
        super::stop::fail(args, &mut report, e)
    })
}

fn run_reported(args: &MigrateArgs, report: &mut Report) -> anyhow::Result<Outcome> {
    let t_all = Instant::now();

    // Everything that can fail without touching the target, first.
    let layers = Layers::load(&args.mapping.mapping)?;
    // A rehearsal cluster lives until the end of this function, also on error.
    let scratch = if args.target_scratch {
        let c = super::scratch::ScratchCluster::start()?;
        c.apply_schema(args.scratch_schema_sql.as_deref(), args.scratch_schema_cmd.as_deref())?;
        report.note(format!("rehearsal on a scratch cluster at {} (removed afterwards)", c.url));
        Some(c)
    } else {
        None
    };
    let target = Target::resolve(scratch.as_ref().map(|c| c.url.as_str()).or(args.target.target.as_deref()))?;
    let rt = postgres::runtime(2)?;
    let t0 = Instant::now();
    // A witness of the source's state (to catch a writer still attached),
    // then one snapshot every source read of this run shares.
    let watch = crate::sqlite::watch::Watch::start(&args.source.source)?;
    let _snapshot = crate::sqlite::snapshot::Snapshot::take(&args.source.source)?;
    let schema = super::read_schema(&args.source.source)?;
    let plan0 = super::build_plan(&schema, &super::Profiles::new(), &layers, &args.mapping, &args.pg_schema, false)?;
    // The run journal: what an earlier, unfinished run committed.
    let journal_path = journal::path(&args.state_dir, &target.to_string(), &args.pg_schema);
    let previous = journal::read(&journal_path)?.filter(|j| !j.finished);
    // The catalog before the first of a series of unfinished runs is the
    // one the run that finishes must restore.
    let schema_before = previous.as_ref().and_then(|j| j.schema_before.clone());
    report.facts.earlier_unfinished = previous.is_some();
    let resumed = match (args.resume, previous) {
        (true, Some(j)) => {
            if j.source != args.source.source.display().to_string() {
                bail!("--resume: the unfinished run in {} was from {:?}, not {:?}", journal_path.display(), j.source, args.source.source);
            }
            report.note(format!("resuming: {} table(s) already committed are skipped", j.done.len()));
            Some(j)
        }
        (true, None) => bail!(
            "--resume: no unfinished run into {target} (schema {:?}) is recorded in {}",
            args.pg_schema,
            args.state_dir.display()
        ),
        (false, Some(_)) => {
            report.note(format!("an earlier run into {target} did not finish; `ferry migrate --resume` continues it"));
            None
        }
        (false, None) => None,
    };
    let mode = match &resumed {
        Some(j) if j.mode == "create" => SchemaMode::Create,
        Some(_) => SchemaMode::Existing,
        None => rt.block_on(detect_mode(&target, &plan0, args.schema))?,
    };
    let writer = Arc::new(journal::Writer::new(
        journal_path,
        RunJournal {
            source: args.source.source.display().to_string(),
            target: target.to_string(),
            schema: args.pg_schema.clone(),
            mode: if mode == SchemaMode::Existing { "existing" } else { "create" }.into(),
            tables_created: resumed.as_ref().is_some_and(|j| j.tables_created),
            done: resumed.as_ref().map(|j| j.done.clone()).unwrap_or_default(),
            finished: false,
            schema_before,
        },
    )?);
    report.facts.journal = Some(writer.clone());
    report.facts.wrote = resumed.is_some();
    report.facts.existing = mode == SchemaMode::Existing;
    report.facts.tables = plan0.tables.iter().map(|t| (t.source.name.clone(), t.map.target.clone())).collect();
    let mut opts = Options::new(args.parallel.jobs, args.parallel.writers, args.parallel.chunk_rows);
    // The bad-value policies: a reject file only when some column rejects.
    let rejecting = plan0
        .tables
        .iter()
        .any(|t| t.map.columns.iter().any(|c| c.on_bad_value == crate::mapping::file::BadValuePolicy::Reject));
    let reject_path = args.reject_file.clone().unwrap_or_else(|| args.state_dir.join("rejects.jsonl"));
    opts.bad_values = Arc::new(if rejecting {
        pipeline::rejects::BadValues::to_file(&reject_path, args.max_rejects)
            .with_context(|| format!("creating the reject file {}", reject_path.display()))?
    } else {
        pipeline::rejects::BadValues::counting(args.max_rejects)
    });
    let total_rows = plan0.tables.iter().map(|t| t.row_count).sum();
    opts.progress = Progress::new(total_rows, args.output.quiet, args.output.json);
    let w = writer.clone();
    opts.on_commit = Some(pipeline::OnCommit(Arc::new(move |l: &pipeline::TableLoad| {
        // A journal that cannot be written only weakens --resume; the
        // load itself is still transactional.
        let _ = w.update(|j| {
            j.done.insert(l.table.clone(), l.rows);
        });
    })));
    let outcome = match mode {
        SchemaMode::Existing => {
            report.note(format!(
                "loading into the existing tables of schema {:?}{}",
                args.pg_schema,
                if args.schema == SchemaMode::Auto { " (every table already exists)" } else { "" }
            ));
            let profiles = super::profile(&args.source.source, &schema)?;
            existing(args, &rt, &target, &layers, &schema, &profiles, plan0, &mut opts, report, t0, &writer)
        }
        _ => {
            // Types come from the data (create mode widens a column whose
            // values its declared type cannot hold). Planned without a pass
            // over the source when the load itself can find out: the load
            // stops at the first such value and the run plans again from a
            // profile. Profiled first: a resumed run; one that rejects rows
            // (its reject file must not list a row twice); one whose mapping
            // files set column types, which must not take some stored class
            // (all such columns are listed before anything is created).
            let typed = plan0.tables.iter().any(|t| t.map.columns.iter().any(|c| c.explicit));
            let speculate = resumed.is_none() && !rejecting && !typed;
            let plan = if speculate {
                let profiles = pk_null_profiles(&args.source.source, &schema)?;
                let mut plan = super::build_plan(&schema, &profiles, &layers, &args.mapping, &args.pg_schema, true)?;
                for tp in &mut plan.tables {
                    for cm in tp.map.columns.iter_mut().filter(|c| !c.explicit) {
                        let affinity = tp.source.columns[cm.source_index].affinity;
                        cm.widen_on = crate::mapping::resolve::widening_classes(&cm.pg_type, &cm.converter, affinity);
                    }
                }
                plan
            } else {
                let profiles = super::profile(&args.source.source, &schema)?;
                super::build_plan(&schema, &profiles, &layers, &args.mapping, &args.pg_schema, true)?
            };
            create(args, &rt, &target, &layers, &schema, plan, speculate, &opts, report, t0, &writer)
        }
    };
    if let Some(p) = &opts.progress {
        p.finish();
    }
    let (loads, checks) = outcome?;
    let source_changed = watch.changed();
    if let Some(msg) = &source_changed {
        report.warn(format!(
            "{msg}; ferry loaded and verified the one state it pinned when the run started, so the target lacks the later writes: stop the application and run again"
        ));
    }
    writer.update(|j| j.finished = true)?;
    report.tables(&loads, &checks);
    report.total(t_all.elapsed());
    opts.bad_values.flush().with_context(|| format!("writing the reject file {}", reject_path.display()))?;
    let rejected = opts.bad_values.total_rejected();
    if rejected > 0 {
        report.warn(format!(
            "{rejected} row(s) rejected by on_bad_value = \"reject\" and not loaded; they are in {}",
            reject_path.display()
        ));
    }
    for (table, c) in opts.bad_values.all_counts() {
        if c.nulled > 0 {
            report.note(format!("table {table:?}: {} bad value(s) loaded as NULL (on_bad_value = \"null\")", c.nulled));
        }
        if c.altered > 0 {
            report.note(format!("table {table:?}: {} value(s) altered by strip-nul / replace-invalid", c.altered));
        }
    }
    let all_ok =
        checks.iter().all(TableCheck::ok) && source_changed.is_none() && rejected == 0 && report.facts.broken_keys.is_empty();
    report.finish(args.output.json, args.output.quiet, if all_ok { 0 } else { 1 })?;
    if let Some(p) = &args.report {
        report.write_json(p).with_context(|| format!("writing the report to {}", p.display()))?;
    }
    if let Some(p) = &args.report_html {
        report.write_html(p).with_context(|| format!("writing the timeline to {}", p.display()))?;
    }
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}

type Done = (Vec<pipeline::TableLoad>, Vec<TableCheck>);

/// `--schema auto`: existing when every planned table is in the target,
/// create when none is, and a clear stop when only some are.
pub(super) async fn detect_mode(target: &Target, plan: &Plan, asked: SchemaMode) -> anyhow::Result<SchemaMode> {
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

#[allow(clippy::too_many_arguments)]
fn create(
    args: &MigrateArgs,
    rt: &tokio::runtime::Runtime,
    target: &Target,
    layers: &Layers,
    schema: &crate::model::Schema,
    mut plan: Plan,
    speculative: bool,
    opts: &Options,
    report: &mut Report,
    t0: Instant,
    journal: &journal::Writer,
) -> anyhow::Result<Done> {
    let resuming = journal.snapshot().tables_created;
    report.phase(Phase::Plan, t0.elapsed());

    // Pre-data: refuse to overwrite, then create every table in one
    // transaction. A resumed run first gives the tables it will load the
    // types of this plan (an earlier run may have stopped before widening).
    let t0 = Instant::now();
    if !resuming {
        rt.block_on(create_tables(target, &plan))?;
        report.facts.wrote = true;
        journal.update(|j| j.tables_created = true)?;
    } else {
        rt.block_on(align_types(target, &plan, &journal.snapshot().done))?;
    }
    report.phase(Phase::Schema, t0.elapsed());

    let t0 = Instant::now();
    let loaded = match load_remaining(args, &plan, target, opts, journal) {
        Err(e) if speculative && matches!(e.downcast_ref(), Some(pipeline::Error::NeedsWidening { .. })) => {
            // The tables that committed held only values their types take;
            // the others are empty again. Plan from the data, give the empty
            // tables their widened types, and load them.
            report.note(format!("{e}: planned again from a profile of the source"));
            let profiles = super::profile(&args.source.source, schema)?;
            plan = super::build_plan(schema, &profiles, layers, &args.mapping, &args.pg_schema, true)?;
            let done = journal.snapshot().done;
            rt.block_on(align_types(target, &plan, &done))?;
            for tp in plan.tables.iter().filter(|t| !done.contains_key(&t.source.name)) {
                opts.bad_values.forget(&tp.source.name);
            }
            load_remaining(args, &plan, target, opts, journal)
        }
        other => other,
    };
    let loads = match loaded {
        Ok(l) => l,
        Err(e) => {
            move_committed_sequences(rt, target, &plan, journal, report);
            return Err(e);
        }
    };
    report.phase(Phase::Load, t0.elapsed());
    let (post_steps, post_notes) = crate::plan::post_data::post_data_steps(&plan);
    super::plan_notes(report, schema, &plan);
    for n in post_notes {
        report.note(n);
    }

    let t0 = Instant::now();
    let keyed = crate::interrupt::check()
        .map_err(anyhow::Error::from)
        .and_then(|()| rt.block_on(crate::interrupt::interruptible(execute_post_data(target, &post_steps, resuming, opts.writers))));
    if keyed.is_err() {
        report.facts.keys.push(
            "every table is loaded; primary keys, indexes and foreign keys were being added: some are missing or NOT VALID until the run is resumed".into(),
        );
    }
    for w in keyed? {
        report.warn(w);
    }
    report.phase(Phase::Keys, t0.elapsed());

    let t0 = Instant::now();
    crate::interrupt::check()?;
    let checks = rt.block_on(crate::interrupt::interruptible(check_target(
        target,
        &plan,
        &loads,
        !args.no_verify,
        &args.source.source,
        args.max_diffs,
    )))?;
    report.phase(if args.no_verify { Phase::Count } else { Phase::Verify }, t0.elapsed());
    Ok((loads, checks))
}

/// A create-mode load stopped: the tables that committed get their
/// identity sequences set past their rows (the post-data step of each),
/// so they can take inserts before the run is resumed.
fn move_committed_sequences(rt: &tokio::runtime::Runtime, target: &Target, plan: &Plan, journal: &journal::Writer, report: &mut Report) {
    let done = journal.snapshot().done;
    let (steps, _) = crate::plan::post_data::post_data_steps(plan);
    let steps: Vec<&ddl::Step> =
        steps.iter().filter(|s| s.kind == ddl::StepKind::Sequence && done.contains_key(&s.table)).collect();
    let moved = rt.block_on(async {
        let client = target.connect().await?;
        for st in &steps {
            run_step(&client, st, false).await?;
        }
        Ok::<_, anyhow::Error>(())
    });
    if moved.is_ok() {
        report.facts.sequences = plan
            .tables
            .iter()
            .filter(|t| t.identity.is_some() && done.contains_key(&t.source.name))
            .map(|t| t.map.target.clone())
            .collect();
    }
}

/// Load into tables that already exist: fit check, keys set aside (or kept),
/// load, keys restored, sequences set, schema proven unchanged, verify.
#[allow(clippy::too_many_arguments)]
fn existing(
    args: &MigrateArgs,
    rt: &tokio::runtime::Runtime,
    target: &Target,
    layers: &Layers,
    schema: &crate::model::Schema,
    profiles: &super::Profiles,
    mut plan: Plan,
    opts: &mut Options,
    report: &mut Report,
    t0: Instant,
    run_journal: &journal::Writer,
) -> anyhow::Result<Done> {
    let done = run_journal.snapshot().done;
    let client = rt.block_on(target.connect())?;
    let journal_file = keys::journal_path(&args.state_dir, target, &args.pg_schema);
    // A run that died with keys set aside: put them back before anything.
    if let Some(j) = keys::read_journal(&journal_file)? {
        for w in rt.block_on(keys::restore(&client, &journal_file, &j))? {
            report.warn(w);
        }
        report.note(format!("restored {} keys set aside by an earlier run that did not finish", j.keys.len()));
    }
    let catalog = rt.block_on(Catalog::read(&client, &args.pg_schema))?;

    // Preflight: every misfit, before any row moves.
    let (misfits, notes) = fit_existing(&args.source.source, layers, &catalog, profiles, &mut plan)?;
    super::plan_notes(report, schema, &plan);
    for n in notes {
        report.note(n);
    }
    if !misfits.is_empty() {
        let list: Vec<String> = misfits.iter().map(|m| format!("  - {m}")).collect();
        bail!(
            "the target schema does not fit the source; nothing was loaded. {} problem(s):\n{}",
            misfits.len(),
            list.join("\n")
        );
    }
    // Tables a resumed run already committed are skipped, not refused.
    let full: Vec<String> = plan
        .tables
        .iter()
        .filter(|t| !done.contains_key(&t.source.name))
        .filter(|t| catalog.tables.get(&t.map.target).is_some_and(|c| c.has_rows))
        .map(|t| t.map.target.clone())
        .collect();
    // What `plan` reports as refusals too, all at once, before any write.
    let asked = super::refusals::Asked {
        truncate: args.truncate,
        keep_keys: args.keep_keys,
        earlier_unfinished: report.facts.earlier_unfinished,
    };
    let refused = super::refusals::existing(&args.source.source, &plan, &catalog, &done, &asked)?;
    if !refused.is_empty() {
        let list: Vec<String> = refused.iter().map(|m| format!("  - {m}")).collect();
        bail!("ferry will not load into this target; nothing was written. {} problem(s):\n{}", refused.len(), list.join("\n"));
    }
    report.phase(Phase::Plan, t0.elapsed());

    let t0 = Instant::now();
    let before = match run_journal.snapshot().schema_before {
        Some(b) => b,
        None => rt.block_on(catalog::snapshot(&client, &args.pg_schema))?,
    };
    let loaded: Vec<String> = plan.tables.iter().map(|t| t.map.target.clone()).collect();
    let owned = loaded.iter().all(|n| catalog.tables.get(n).is_some_and(|t| t.owned));
    let keep_keys = args.keep_keys || !owned;
    if !args.keep_keys && !owned {
        report.note("the connecting role does not own every table, so keys cannot be set aside: loading with keys in place, in foreign-key order".into());
    }
    let journal = keys::Journal {
        target: target.to_string(),
        schema: args.pg_schema.clone(),
        keys: if keep_keys { Vec::new() } else { owe_validation(keys::to_set_aside(&catalog, &loaded), &before) },
    };
    // From here on the target changes: the journal keeps the catalog to
    // restore, for this run and any that resumes it.
    run_journal.update(|j| j.schema_before = Some(before.clone()))?;
    report.facts.wrote = true;
    if keep_keys {
        check_cycles_deferrable(&mut plan, &catalog)?;
        opts.truncate = false;
        opts.ordered = true;
        if !plan.cycles.is_empty() {
            report.note(format!(
                "foreign-key cycles {:?}: loaded in one order; constraints declared DEFERRABLE are checked at commit",
                plan.cycles
            ));
        }
        if args.truncate && !full.is_empty() {
            let all: Vec<String> = loaded.iter().map(|n| ident::qualified(&args.pg_schema, n)).collect();
            rt.block_on(client.batch_execute(&format!("TRUNCATE {}", all.join(", "))))
                .map_err(|e| postgres::Error::server("emptying the target tables", &e))?;
        }
    } else if !journal.keys.is_empty() {
        rt.block_on(keys::set_aside(&client, &journal_file, &journal))?;
    }
    report.phase(Phase::Schema, t0.elapsed());

    let t0 = Instant::now();
    let loaded_result = load_remaining(args, &plan, target, opts, run_journal);
    report.phase(Phase::Load, t0.elapsed());

    // Keys come back whatever happened to the load.
    let t0 = Instant::now();
    if !journal.keys.is_empty() {
        // Index builds and validations on several sessions, as in create mode.
        let restored = rt.block_on(async {
            let steps = keys::missing_steps(&client, &journal).await?;
            let warnings = execute_post_data(target, &steps, true, opts.writers).await?;
            keys::remove_journal(&journal_file);
            Ok::<_, anyhow::Error>(warnings)
        });
        match restored {
            Ok(_) if loaded_result.is_err() => {
                let open = rt.block_on(catalog::snapshot(&client, &args.pg_schema)).map(|a| newly_not_valid(&before, &a));
                report.facts.keys.push(match open {
                    Ok(open) if !open.is_empty() => format!(
                        "the {} keys set aside are back; foreign keys {} are NOT VALID (their rows point at tables not loaded yet) until the run is resumed",
                        journal.keys.len(),
                        open.join(", ")
                    ),
                    _ => format!("the {} keys set aside are back", journal.keys.len()),
                });
            }
            Ok(ws) => ws.into_iter().for_each(|w| report.warn(w)),
            Err(e) if loaded_result.is_err() => {
                report.facts.keys.push(format!("keys set aside are not all back ({e}); `ferry restore-keys` or the next run puts them back"))
            }
            Err(e) => return Err(e),
        }
    }
    if loaded_result.is_err() {
        // Committed tables get their sequences moved now, so the
        // application could insert into them without reusing a key.
        let done = run_journal.snapshot().done;
        if rt.block_on(set_sequences(&client, &plan, &catalog, |t| done.contains_key(&t.source.name))).is_ok() {
            report.facts.sequences =
                plan.tables.iter().filter(|t| done.contains_key(&t.source.name)).map(|t| t.map.target.clone()).collect();
        }
    }
    let loads = loaded_result?;
    rt.block_on(set_sequences(&client, &plan, &catalog, |_| true))?;
    let after = rt.block_on(catalog::snapshot(&client, &args.pg_schema))?;
    if before != after {
        let broken = newly_not_valid(&before, &after);
        let gone: Vec<&String> = before.iter().filter(|l| !after.contains(l) && !is_not_valid_of(l, &after)).collect();
        let new: Vec<&String> = after.iter().filter(|l| !before.contains(l) && !l.ends_with(" NOT VALIDATED")).collect();
        if !gone.is_empty() || !new.is_empty() {
            bail!("the target schema changed during the load (a bug in ferry): missing {gone:?}, new {new:?}");
        }
        for k in &broken {
            report.warn(format!(
                "foreign key {k} was valid before the load and is now NOT VALID: loaded rows point at rows that do not exist (`ferry plan` lists them)"
            ));
        }
        report.facts.broken_keys = broken;
    }
    report.phase(Phase::Keys, t0.elapsed());

    let t0 = Instant::now();
    crate::interrupt::check()?;
    let checks = rt.block_on(crate::interrupt::interruptible(check_target(
        target,
        &plan,
        &loads,
        !args.no_verify,
        &args.source.source,
        args.max_diffs,
    )))?;
    report.phase(if args.no_verify { Phase::Count } else { Phase::Verify }, t0.elapsed());
    Ok((loads, checks))
}

/// Load the tables the journal does not record as committed; for the
/// others, hash the source afresh so the final verification covers them.
fn load_remaining(
    args: &MigrateArgs,
    plan: &Plan,
    target: &Target,
    opts: &Options,
    journal: &journal::Writer,
) -> anyhow::Result<Vec<pipeline::TableLoad>> {
    let done = journal.snapshot().done;
    let (skipped, todo): (Vec<TablePlan>, Vec<TablePlan>) =
        plan.tables.iter().cloned().partition(|t| done.contains_key(&t.source.name));
    let mut loads = Vec::new();
    if !todo.is_empty() {
        let sub = Plan { tables: todo, ..plan.clone() };
        loads = pipeline::load(&args.source.source, &sub, target, opts)?;
    }
    if !skipped.is_empty() {
        let sub = Plan { tables: skipped, ..plan.clone() };
        let digests = pipeline::source_digests(&args.source.source, &sub, opts)?;
        for (tp, d) in sub.tables.iter().zip(digests) {
            loads.push(pipeline::TableLoad {
                table: tp.source.name.clone(),
                target: tp.map.target.clone(),
                rows: d.rows,
                bytes: 0,
                seconds: 0.0,
                started_at: 0.0,
                writer: 0,
                hash: d.hex(),
                digest: d,
                bad: opts.bad_values.counts(&tp.source.name),
            });
        }
    }
    Ok(loads)
}

/// Fit `plan` to the target's existing tables: profile and value
/// statistics of the source, then `plan::existing::fit`.
pub(super) fn fit_existing(
    source: &std::path::Path,
    layers: &Layers,
    catalog: &Catalog,
    profiles: &super::Profiles,
    plan: &mut Plan,
) -> anyhow::Result<(Vec<crate::plan::existing::Misfit>, Vec<String>)> {
    use crate::mapping::types::PgType;
    use rayon::prelude::*;
    // Number ranges come from the profile (its pass reads the numbers of
    // numeric-affinity columns); the longest text only where a varchar(n)
    // waits for it, with one more query over that table.
    let wanted: Vec<(usize, Vec<usize>)> = plan
        .tables
        .iter()
        .enumerate()
        .map(|(ti, tp)| {
            let tt = catalog.find(&tp.map.target).map(|(t, _)| t);
            let prof = profiles.get(&tp.source.name);
            let cols = tp
                .map
                .columns
                .iter()
                .filter(|cm| {
                    let ty = tt.and_then(|t| t.column(&cm.target)).and_then(|(c, _)| c.pg_type.as_ref().ok().cloned());
                    // Numbers the profile counted without their range
                    // (a column of text affinity holding numbers).
                    let unranged = prof.and_then(|p| p.get(cm.source_index)).is_some_and(|p| {
                        p.integer + p.real > 0 && p.min_int.is_none() && p.min_real.is_none()
                    });
                    match ty {
                        Some(PgType::Varchar(Some(_))) => true,
                        Some(
                            PgType::SmallInt
                            | PgType::Integer
                            | PgType::Numeric { precision: Some(_), .. }
                            | PgType::Timestamp
                            | PgType::Timestamptz
                            | PgType::Date,
                        ) => unranged,
                        _ => false,
                    }
                })
                .map(|cm| cm.source_index)
                .collect();
            (ti, cols)
        })
        .collect();
    let computed: Vec<anyhow::Result<(String, Vec<crate::sqlite::stats::ColumnStats>)>> = wanted
        .par_iter()
        .map(|(ti, cols)| {
            let t = &plan.tables[*ti].source;
            let mut s = crate::sqlite::pool::with_connection(source, |c| {
                crate::sqlite::stats::column_stats_for(c, t, cols).map_err(|e| crate::sqlite::Error::Read {
                    location: crate::error::Location::table(&t.name),
                    message: format!("reading value statistics: {e}"),
                })
            })?;
            // Profiles of tables without rows are empty.
            let ranged = |p: &crate::model::StorageProfile| p.min_int.is_some() || p.min_real.is_some();
            for (i, p) in profiles.get(&t.name).into_iter().flatten().enumerate().filter(|(_, p)| ranged(p)) {
                if let Some(st) = s.get_mut(i) {
                    (st.min_int, st.max_int, st.min_real, st.max_real) = (p.min_int, p.max_int, p.min_real, p.max_real);
                }
            }
            Ok((t.name.clone(), s))
        })
        .collect();
    let mut stats = HashMap::new();
    for r in computed {
        let (name, s) = r?;
        stats.insert(name, s);
    }
    let mapper = Mapper::new(layers)?;
    Ok(fit(plan, catalog, &mapper, &SourceFacts { profiles, stats: &stats }))
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

/// With keys in place, a foreign-key cycle (or a self-reference) can only be
/// loaded when its constraints are DEFERRABLE: checked at the commit of the
/// one transaction that loads the whole cycle. Otherwise stop, naming it.
pub(super) fn check_cycles_deferrable(plan: &mut Plan, catalog: &Catalog) -> anyhow::Result<()> {
    // A self-reference on one column is loaded parents first instead: no
    // deferral needed, whatever the constraint says.
    let mut ordered = Vec::new();
    for tp in &mut plan.tables {
        let own = tp.source.foreign_keys.iter().find(|fk| {
            fk.ref_table == tp.source.name && fk.columns.len() == 1 && fk.ref_columns.len() == 1
        });
        if let Some(fk) = own {
            tp.parent_first = Some((fk.columns[0].clone(), fk.ref_columns[0].clone()));
            ordered.push(tp.source.name.clone());
        }
    }
    let mut cycles: Vec<Vec<String>> = plan.cycles.clone();
    cycles.extend(plan.self_references.iter().filter(|t| !ordered.contains(t)).map(|t| vec![t.clone()]));
    for cycle in &cycles {
        let targets: Vec<String> = cycle
            .iter()
            .filter_map(|n| plan.tables.iter().find(|t| &t.source.name == n).map(|t| t.map.target.clone()))
            .collect();
        for t in &targets {
            let Some(tt) = catalog.tables.get(t) else { continue };
            for c in &tt.constraints {
                let inside = c.ref_table.as_ref().is_some_and(|r| targets.contains(r));
                let self_ordered = targets.len() == 1 && ordered.iter().any(|o| cycle.contains(o));
                if c.kind == 'f' && inside && !c.deferrable && !self_ordered {
                    bail!(
                        "foreign-key cycle {cycle:?}: constraint {:?} on table {t:?} is not DEFERRABLE, so the tables cannot be loaded with keys in place; drop --keep-keys (ferry then sets the keys aside and restores them), or declare the constraint DEFERRABLE",
                        c.name
                    );
                }
            }
        }
    }
    Ok(())
}

/// Every sequence owned by a column (serial, identity) of the tables of
/// `plan` that `which` picks is set so that the next `nextval` is past the
/// largest value, and, on the rowid-alias key, past `sqlite_sequence`
/// (AUTOINCREMENT never reuses a number, even a deleted row's), as in
/// create mode.
async fn set_sequences(
    client: &tokio_postgres::Client,
    plan: &Plan,
    catalog: &Catalog,
    which: impl Fn(&TablePlan) -> bool,
) -> anyhow::Result<()> {
    let schema = &plan.pg_schema;
    for tp in plan.tables.iter().filter(|t| which(t)) {
        let name = &tp.map.target;
        let Some(t) = catalog.tables.get(name) else { continue };
        let rowid_alias = match tp.source.row_key {
            crate::model::RowKey::RowidAlias { column } => tp.target_column(&tp.source.columns[column].name),
            _ => None,
        };
        for (col, seq) in &t.sequences {
            let floor = if rowid_alias == Some(col.as_str()) { tp.sqlite_sequence.unwrap_or(0) } else { 0 };
            let sql = format!(
                "SELECT setval({}, GREATEST(max({}), {floor}, 1), max({}) IS NOT NULL OR {floor} > 0) FROM {}",
                ident::literal(seq),
                ident::quote(col),
                ident::quote(col),
                ident::qualified(schema, name)
            );
            client
                .batch_execute(&sql)
                .await
                .map_err(|e| postgres::Error::server(format!("setting sequence {seq} of table {name:?}"), &e))?;
        }
    }
    Ok(())
}

/// `ferry restore-keys`: put back what an interrupted load set aside.
pub fn restore_keys(args: &crate::cli::RestoreKeysArgs) -> anyhow::Result<Outcome> {
    let target = Target::resolve(args.target.target.as_deref())?;
    let path = keys::journal_path(&args.state_dir, &target, &args.pg_schema);
    let Some(journal) = keys::read_journal(&path)? else {
        eprintln!("ferry: no keys set aside for {target} (schema {:?}) in {}", args.pg_schema, args.state_dir.display());
        return Ok(Outcome::Success);
    };
    let rt = postgres::runtime(1)?;
    let warnings = rt.block_on(async {
        let client = target.connect().await?;
        keys::restore(&client, &path, &journal).await
    })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("restored {} keys", journal.keys.len());
    Ok(Outcome::Success)
}

/// Give the tables still to load (empty: their loads never committed) the
/// column types of `plan`, where the target has others.
async fn align_types(target: &Target, plan: &Plan, done: &std::collections::BTreeMap<String, u64>) -> anyhow::Result<()> {
    let client = target.connect().await?;
    let catalog = Catalog::read(&client, &plan.pg_schema).await?;
    let mut sql = String::new();
    for tp in plan.tables.iter().filter(|t| !done.contains_key(&t.source.name)) {
        let Some(tt) = catalog.tables.get(&tp.map.target) else { continue };
        for cm in &tp.map.columns {
            let Some(tc) = tt.columns.iter().find(|c| c.name == cm.target) else { continue };
            if tc.pg_type.as_ref().ok() != Some(&cm.pg_type) {
                let ty = cm.pg_type.sql();
                sql.push_str(&format!(
                    "ALTER TABLE {} ALTER COLUMN {} TYPE {ty} USING NULL::{ty};\n",
                    ident::qualified(&plan.pg_schema, &tp.map.target),
                    ident::quote(&cm.target)
                ));
            }
        }
    }
    if !sql.is_empty() {
        client
            .batch_execute(&format!("BEGIN;\n{sql}COMMIT;"))
            .await
            .map_err(|e| postgres::Error::server("changing column types to those chosen from the data", &e))?;
    }
    Ok(())
}

/// NULL counts of the primary-key columns SQLite lets hold NULLs (a
/// non-INTEGER key of a rowid table, not declared NOT NULL): the one fact
/// of the data a plan without a profile still needs (such a key is not
/// created). Other columns get empty profiles.
fn pk_null_profiles(src: &std::path::Path, schema: &crate::model::Schema) -> anyhow::Result<super::Profiles> {
    let mut out = super::Profiles::new();
    for t in &schema.tables {
        let mut profiles = vec![crate::model::StorageProfile::default(); t.columns.len()];
        if t.row_key == crate::model::RowKey::Rowid {
            for (i, c) in t.columns.iter().enumerate().filter(|(_, c)| c.pk_position > 0 && !c.not_null) {
                let sql = format!("SELECT count(*) FROM {} WHERE {} IS NULL", ident::quote(&t.name), ident::quote(&c.name));
                profiles[i].null = crate::sqlite::pool::with_connection(src, |conn| {
                    conn.query_row(&sql, [], |r| r.get::<_, i64>(0)).map_err(|e| crate::sqlite::Error::Read {
                        location: crate::error::Location::table(&t.name),
                        message: format!("counting NULLs in key column {:?}: {e}", c.name),
                    })
                })? as u64;
            }
        }
        out.insert(t.name.clone(), profiles);
    }
    Ok(out)
}

async fn create_tables(target: &Target, plan: &Plan) -> anyhow::Result<()> {
    let client = target.connect().await?;
    let names: Vec<String> = plan.tables.iter().map(|t| t.map.target.clone()).collect();
    let rows = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) ORDER BY 1",
            &[&plan.pg_schema, &names],
        )
        .await
        .map_err(|e| postgres::Error::server("checking for existing tables", &e))?;
    if !rows.is_empty() {
        let existing: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        bail!(
            "the target already has {} of the tables ({}); create mode never overwrites: drop them, or load into them with --schema existing",
            existing.len(),
            existing.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident::quote(&plan.pg_schema)));
    for tp in &plan.tables {
        sql.push_str(&ddl::create_table(&plan.pg_schema, &tp.map, tp.identity.as_deref()));
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(postgres::Error::server("creating the tables", &e).into());
    }
    Ok(())
}

/// Keys, indexes, foreign keys, sequences. A foreign key that the source's
/// data does not satisfy (SQLite does not enforce them by default) is kept
/// `NOT VALID` (enforced for new rows) and reported, rather than failing a
/// load whose data is complete.
///
/// Index builds and foreign-key validations run on `connections` sessions
/// at once, one table per session at a time (two builds on one table would
/// only queue on its lock): keys, then foreign keys added `NOT VALID` (cheap,
/// one session), then validated in parallel, then sequences.
async fn execute_post_data(
    target: &Target,
    steps: &[ddl::Step],
    resuming: bool,
    connections: usize,
) -> anyhow::Result<Vec<String>> {
    use std::collections::VecDeque;
    use tokio::sync::Mutex;

    let mut clients: Vec<std::sync::Arc<tokio_postgres::Client>> = Vec::new();
    for _ in 0..connections.max(1) {
        clients.push(std::sync::Arc::new(target.connect().await?));
    }

    // 1. Keys and indexes, a table per session.
    let mut by_table: Vec<Vec<ddl::Step>> = Vec::new();
    for st in steps.iter().filter(|s| !matches!(s.kind, ddl::StepKind::ForeignKey | ddl::StepKind::Sequence)) {
        match by_table.iter_mut().find(|g| g[0].table == st.table) {
            Some(g) => g.push(st.clone()),
            None => by_table.push(vec![st.clone()]),
        }
    }
    let queue = std::sync::Arc::new(Mutex::new(VecDeque::from(by_table)));
    let mut tasks = Vec::new();
    for c in &clients {
        let (queue, c) = (queue.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(group) = queue.lock().await.pop_front() else { return Ok::<_, postgres::Error>(()) };
                for st in group {
                    run_step(&c, &st, resuming).await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow::anyhow!("an index build task failed: {e}"))??;
    }

    // 2. Foreign keys: added NOT VALID on one session, then validated in
    // parallel, one child table per session at a time.
    let fks: Vec<&ddl::Step> = steps.iter().filter(|s| s.kind == ddl::StepKind::ForeignKey).collect();
    for st in &fks {
        run_step(&clients[0], st, resuming).await?;
    }
    let mut validations: Vec<Vec<(String, String)>> = Vec::new();
    for st in &fks {
        if let Some(v) = &st.validate {
            match validations.iter_mut().find(|g| g[0].0 == st.table) {
                Some(g) => g.push((st.table.clone(), v.clone())),
                None => validations.push(vec![(st.table.clone(), v.clone())]),
            }
        }
    }
    let queue = std::sync::Arc::new(Mutex::new(VecDeque::from(validations)));
    let warnings = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in &clients {
        let (queue, c, warnings) = (queue.clone(), c.clone(), warnings.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(group) = queue.lock().await.pop_front() else { return };
                for (table, sql) in group {
                    if let Err(e) = c.batch_execute(&sql).await {
                        warnings.lock().await.push(format!(
                            "table {table:?}: foreign key left NOT VALID, the source has rows that break it: {}",
                            postgres::describe(&e)
                        ));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow::anyhow!("a foreign-key validation task failed: {e}"))?;
    }

    // 3. Sequences.
    for st in steps.iter().filter(|s| s.kind == ddl::StepKind::Sequence) {
        run_step(&clients[0], st, resuming).await?;
    }
    let w = warnings.lock().await.clone();
    Ok(w)
}

async fn run_step(client: &tokio_postgres::Client, step: &ddl::Step, resuming: bool) -> Result<(), postgres::Error> {
    if let Err(e) = client.batch_execute(&step.sql).await {
        // A resumed run may find a key its predecessor already made.
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        let already = matches!(code.as_str(), "42P07" | "42710" | "42P16");
        if !(resuming && already) {
            return Err(postgres::Error::server(format!("table {:?}: {:?} step", step.table, step.kind), &e));
        }
    }
    Ok(())
}

/// Counts, content hashes (unless `--no-verify`) and, for tables that
/// differ, the rows that differ: `verify::check_loaded`.
async fn check_target(
    target: &Target,
    plan: &Plan,
    loads: &[pipeline::TableLoad],
    hash: bool,
    source: &std::path::Path,
    max_diffs: usize,
) -> anyhow::Result<Vec<TableCheck>> {
    let sent: Vec<verify::Sent<'_>> = loads
        .iter()
        .map(|l| verify::Sent { table: &l.table, rows: l.rows, rejected: l.bad.rejected, digest: &l.digest, hash: &l.hash })
        .collect();
    Ok(verify::check_loaded(target, plan, &sent, hash, source, max_diffs).await?)
}
