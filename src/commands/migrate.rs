//! `ferry migrate SRC TARGET`: introspect, plan, create, load, add keys,
//! verify, report. Everything that can be checked is checked before the
//! first row moves: the mapping, the names, and that the target has none of
//! the tables (create mode never overwrites).
//!
//! This file is the table of contents of a migration; the steps live where
//! they belong (`sqlite`, `plan`, `postgres`, `pipeline`, `verify`), the
//! run's setup and its report in `migrate/setup.rs`, the load into an
//! existing schema in `migrate/existing.rs`.

mod existing;
mod problems;
mod setup;

use std::time::Instant;

use crate::cli::{MigrateArgs, SchemaMode};
use crate::error::Outcome;
use crate::journal;
use crate::ledger;
use crate::mapping::file::Layers;
use crate::pipeline::{self, Options};
use crate::plan::{Plan, Planner};
use crate::postgres::{self, ddl, Target};
use crate::report::{Phase, Report};
use crate::sqlite;
use crate::verify::{self, TableCheck};

/// What every step of one migration works with.
struct Run<'a> {
    args: &'a MigrateArgs,
    rt: &'a tokio::runtime::Runtime,
    target: &'a Target,
    planner: Planner<'a>,
    journal: &'a journal::Writer,
    report: &'a mut Report,
    /// When planning started (the plan phase ends when the load can start).
    t0: Instant,
    /// Where the verified tables' ledger goes (None: no ledger kept).
    ledger: Option<ledger::Store>,
}

/// What a load did and what verification found, table by table.
type Done = (Vec<pipeline::TableLoad>, Vec<TableCheck>);

pub fn run(args: &MigrateArgs) -> anyhow::Result<Outcome> {
    let mut report = Report::new("migrate", &args.source.source);
    report.facts.scratch = args.target_scratch;
    let t_all = Instant::now();
    // Every stop says what it left (`commands::stop`).
    run_reported(args, &mut report, t_all).map_err(|e| {
        report.total(t_all.elapsed());
        super::stop::fail(args, &mut report, e)
    })
}

fn run_reported(args: &MigrateArgs, report: &mut Report, t_all: Instant) -> anyhow::Result<Outcome> {

    // 1. Everything that can fail without touching the target, first.
    let layers = Layers::load(&args.mapping.mapping)?;
    // A rehearsal cluster lives until the end of this function, also on error.
    let scratch = setup::scratch_cluster(args, report)?;
    let target = Target::resolve(scratch.as_ref().map(|c| c.url.as_str()).or(args.target.target.as_deref()))?;
    let rt = postgres::runtime(2)?;
    let t0 = Instant::now();

    // 2. One state of the source for the whole run, and a witness of
    // writers still attached to it.
    let watch = sqlite::watch::Watch::start(&args.source.source)?;
    let _snapshot = sqlite::snapshot::Snapshot::take(&args.source.source)?;
    let schema = super::read_schema(&args.source.source)?;
    let chunking = Some((args.source.source.as_path(), args.parallel.chunk_rows));
    let planner = super::planner(&schema, &layers, &args.mapping, &args.pg_schema, chunking);
    let declared = planner.declared()?;

    // 3. Resume an unfinished run, or detect the mode from the target.
    let resumed = setup::previous_run(args, &target, report)?;
    let mode = match &resumed {
        Some(j) if j.mode == "create" => SchemaMode::Create,
        Some(_) => SchemaMode::Existing,
        None => rt.block_on(super::detect_mode(&target, &declared, args.schema))?,
    };
    if resumed.is_none() && mode == SchemaMode::Existing && setup::unfinished_create(args, &target)? {
        anyhow::bail!(
            "the tables in {target} were created by an earlier `ferry migrate` that did not finish: they have no keys yet, and loading them as an existing schema would end without any; `ferry migrate {} {target} --resume` finishes that run (or drop the tables and run again)",
            args.source.source.display()
        );
    }
    let writer = setup::journal_writer(args, &target, mode, resumed.as_ref())?;
    let (mut opts, rejects) = setup::load_options(args, &declared, &writer)?;
    report.facts.journal = Some(writer.clone());
    report.facts.wrote = resumed.is_some();
    report.facts.existing = mode == SchemaMode::Existing;
    report.facts.tables = declared.tables.iter().map(|t| (t.source.name.clone(), t.map.target.clone())).collect();

    // 4. Plan, create or fit, load, keys, verify.
    // The ledger: the readers write its records in `pending/`, adopted
    // once verification found the tables equal. None for a rehearsal's
    // throwaway cluster, without hashes to check it by, or when asked.
    let store = ledger::Store::new(&args.state_dir, &target.to_string(), &args.pg_schema);
    let wanted = !args.target_scratch && !args.no_verify && !args.no_ledger;
    if !wanted && !args.target_scratch {
        // What this run writes is not what an older ledger describes.
        let _ = store.forget();
    }
    let ledger = (wanted && ledger::Store::clear(&store.pending()).is_ok()).then_some(store);
    opts.ledger = ledger.as_ref().map(ledger::Store::pending);
    let mut run = Run { args, rt: &rt, target: &target, planner, journal: &writer, report, t0, ledger };
    let outcome = match mode {
        SchemaMode::Existing => existing::run(&mut run, &mut opts),
        _ => {
            let speculate = resumed.is_none() && !rejects.rejecting && !declared.typed();
            create(&mut run, speculate, &opts)
        }
    };
    if let Some(p) = &opts.progress {
        p.finish();
    }
    let (loads, checks) = outcome?;

    // 5. The report.
    let finished = setup::Finished { watch: &watch, journal: &writer, opts: &opts, rejects: &rejects, t_all };
    setup::report(args, report, &finished, &loads, &checks)
}

/// Create mode: types come from the data (a column whose values its
/// declared type cannot hold is widened). With `speculate` the plan is
/// made without a pass over the source: the load stops at the first value
/// that needs a wider type and the run plans again from a profile.
/// Profiled first instead: a resumed run; one that rejects rows (its
/// reject file must not list a row twice); one whose mapping files set
/// column types, which must not take some stored class (all such columns
/// are listed before anything is created).
fn create(run: &mut Run<'_>, speculate: bool, opts: &Options) -> anyhow::Result<Done> {
    let (args, rt, target) = (run.args, run.rt, run.target);
    let source = &args.source.source;
    let mut plan = if speculate {
        run.planner.speculative(&sqlite::profile::key_null_profiles(source, run.planner.schema)?)?
    } else {
        run.planner.profiled(&sqlite::profile::profile_schema(source, run.planner.schema)?)?
    };
    let mut resuming = run.journal.snapshot().tables_created;
    run.report.phase(Phase::Plan, run.t0.elapsed());

    // Pre-data: refuse to overwrite, then create every table in one
    // transaction. A resumed run first gives the tables it will load the
    // types of this plan (an earlier run may have stopped before widening).
    let t0 = Instant::now();
    if !resuming {
        let present = rt.block_on(ddl::existing_tables(target, &plan.pg_schema, &plan.new_tables()))?;
        // The run resumed was stopped between its CREATE TABLEs' commit
        // and the journal's record of it: all of them exist (one
        // transaction), empty and without keys; carry on from there.
        resuming = args.resume && present.len() == plan.tables.len();
        if present.is_empty() {
            // The journal exists, unfinished, before the target changes: a
            // stop right after the commit is resumed (found by random_kills;
            // a rerun used to load the keyless tables as an existing schema).
            run.journal.update(|_| {})?;
        }
    }
    if !resuming {
        match rt.block_on(ddl::create_tables(target, &plan.pg_schema, &plan.new_tables())) {
            // Not a server error: the refusal (tables exist), with every
            // problem of the data listed too.
            Err(e) if e.downcast_ref::<postgres::Error>().is_none() => return Err(problems::listed_create(run, e)),
            other => other?,
        }
        run.report.facts.wrote = true;
        run.journal.update(|j| j.tables_created = true)?;
    } else {
        run.journal.update(|j| j.tables_created = true)?;
        rt.block_on(ddl::align_types(target, &plan.pg_schema, &plan.maps_except(&run.journal.snapshot().done)))?;
    }
    run.report.phase(Phase::Schema, t0.elapsed());

    let t0 = Instant::now();
    let loaded = match pipeline::load_remaining(source, &plan, target, opts, &run.journal.snapshot().done) {
        Err(e @ pipeline::Error::NeedsWidening { .. }) if speculate => {
            // The tables that committed held only values their types take;
            // the others are empty again. A new plan from the data gives
            // the empty tables their widened types, and they load.
            run.report.note(format!("{e}: planned again from a profile of the source"));
            plan = run.planner.profiled(&sqlite::profile::profile_schema(source, run.planner.schema)?)?;
            let done = run.journal.snapshot().done;
            rt.block_on(ddl::align_types(target, &plan.pg_schema, &plan.maps_except(&done)))?;
            for tp in plan.tables.iter().filter(|t| !done.contains_key(&t.source.name)) {
                opts.bad_values.forget(&tp.source.name);
            }
            pipeline::load_remaining(source, &plan, target, opts, &run.journal.snapshot().done)
        }
        other => other,
    };
    let loads = match loaded {
        Ok(l) => l,
        Err(e) => {
            move_committed_sequences(run, &plan);
            // A bad value (or a row the server refused): every problem
            // of the tables left, by row.
            let bad = problems::caused_by_data(&e);
            return Err(if bad { problems::listed_create(run, e.into()) } else { e.into() });
        }
    };
    run.report.phase(Phase::Load, t0.elapsed());
    super::plan_notes(run.report, run.planner.schema, &plan);
    for n in &plan.post_notes {
        run.report.note(n.clone());
    }

    let t0 = Instant::now();
    let keyed = crate::interrupt::check().map_err(anyhow::Error::from).and_then(|()| {
        rt.block_on(crate::interrupt::interruptible(postgres::post_data::execute(target, &plan.post_data, resuming, opts.writers)))
    });
    if keyed.is_err() {
        // Sequences are among the steps that may not have run: every
        // table is committed, so each one's sequence moves now.
        move_committed_sequences(run, &plan);
        run.report.facts.keys.push(
            "every table is loaded; primary keys, indexes and foreign keys were being added: some are missing or NOT VALID until the run is resumed".into(),
        );
    }
    for w in keyed? {
        run.report.warn(w);
    }
    run.report.facts.sequences = sequence_tables(&plan, |_| true);
    run.report.sequences_moved = run.report.facts.sequences.clone();
    run.report.phase(Phase::Keys, t0.elapsed());
    let checks = verify_loaded(run, &plan, &loads)?;
    Ok((loads, checks))
}

/// Counts, content hashes (unless `--no-verify`) and, for tables that
/// differ, the rows that differ: `verify::check_loaded`.
fn verify_loaded(run: &mut Run<'_>, plan: &Plan, loads: &[pipeline::TableLoad]) -> anyhow::Result<Vec<TableCheck>> {
    let args = run.args;
    let t0 = Instant::now();
    let sent: Vec<verify::Sent<'_>> = loads
        .iter()
        .map(|l| verify::Sent { table: &l.table, rows: l.rows, rejected: l.bad.rejected, digest: &l.digest, hash: &l.hash })
        .collect();
    crate::interrupt::check()?;
    let (checks, written) = run.rt.block_on(crate::interrupt::interruptible(verify::check_loaded(
        run.target,
        plan,
        &sent,
        !args.no_verify,
        &args.source.source,
        args.max_diffs,
    )))?;
    run.report.phase(if args.no_verify { Phase::Count } else { Phase::Verify }, t0.elapsed());
    keep_ledger(run, plan, loads, &checks, &written);
    Ok(checks)
}

/// The ledger of the tables verified equal (`ledger`): what the next
/// `sync` compares the source with instead of reading the target. A
/// ledger that cannot be written only makes that sync read both sides.
fn keep_ledger(run: &mut Run<'_>, plan: &Plan, loads: &[pipeline::TableLoad], checks: &[TableCheck], written: &verify::Written) {
    let Some(store) = &run.ledger else { return };
    let Some(xmax) = written.xmax else {
        let _ = store.forget();
        return;
    };
    let targets: Vec<&str> = plan.tables.iter().map(|tp| tp.map.target.as_str()).collect();
    let oids = run
        .rt
        .block_on(async { postgres::catalog::table_oids(&run.target.connect().await?, &plan.pg_schema, &targets).await })
        .unwrap_or_default();
    let mut tables = Vec::new();
    for (i, tp) in plan.tables.iter().enumerate() {
        let ok = checks.iter().any(|c| c.table == tp.source.name && c.ok() && c.status == verify::Status::Equal);
        let (Some(load), Some(xids), Some(&Some(oid))) = (
            loads.iter().find(|l| l.table == tp.source.name),
            written.writers.get(i).and_then(|w| w.widened(xmax)),
            oids.get(i),
        ) else {
            continue;
        };
        if ok {
            tables.push(ledger::Loaded { tp, rows: load.rows, rejected: load.bad.rejected, oid, xids });
        }
    }
    if let Err(e) = store.adopt(&tables) {
        run.report.warn(format!("the ledger for `ferry sync` could not be written ({e}); a sync will compare both sides whole"));
    }
}

/// A create-mode load stopped: the tables that committed get their
/// identity sequences set past their rows (their post-data steps), so they
/// can take inserts before the run is resumed.
fn move_committed_sequences(run: &mut Run<'_>, plan: &Plan) {
    let done = run.journal.snapshot().done;
    let steps: Vec<&ddl::Step> =
        plan.post_data.iter().filter(|s| s.kind == ddl::StepKind::Sequence && done.contains_key(&s.table)).collect();
    let moved = run.rt.block_on(async {
        let client = run.target.connect().await?;
        for st in &steps {
            client.batch_execute(&st.sql).await.map_err(|e| postgres::Error::server(format!("setting the sequence of {:?}", st.table), &e))?;
        }
        Ok::<_, postgres::Error>(())
    });
    match moved {
        Ok(()) => run.report.facts.sequences = sequence_tables(plan, |t| done.contains_key(t)),
        Err(e) => run.report.facts.sequences_not_moved = Some(format!("{e}")),
    }
}

/// The target names of the plan's tables (by source name, `which`) whose
/// sequence a post-data step moves past their rows.
fn sequence_tables(plan: &Plan, which: impl Fn(&str) -> bool) -> Vec<String> {
    let stepped = |t: &crate::plan::TablePlan| {
        plan.post_data.iter().any(|s| s.kind == ddl::StepKind::Sequence && s.table == t.source.name)
    };
    plan.tables.iter().filter(|t| stepped(t) && which(&t.source.name)).map(|t| t.map.target.clone()).collect()
}
