//! `ferry verify SRC TARGET`: the checksum-only pass. Nothing is written to
//! the target. The source is read afresh through the same plan `migrate`
//! uses, the target is read back with COPY TO on a few connections, and both
//! sides are hashed canonically, at the same time. Tables that differ are
//! then localized: the rows that differ are named by key (`--max-diffs`).

use std::path::Path;
use std::time::Instant;

use anyhow::bail;

use crate::cli::VerifyArgs;
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::{self, Options};
use crate::plan::{Plan, Planner};
use crate::postgres::catalog::Catalog;
use crate::report::{Phase, Report};
use crate::postgres::{self, Target};
use crate::verify::{self, localize, TableCheck};

pub fn run(args: &VerifyArgs) -> anyhow::Result<Outcome> {
    let mut report = Report::new("verify", &args.common.source.source);
    run_reported(args, &mut report).inspect_err(|e| {
        // A failed verification still writes its --json document.
        if args.common.output.json {
            report.error = Some(format!("{e:#}"));
            report.exit_code = super::stop::exit_code();
            let _ = report.print_json();
        }
    })
}

fn run_reported(args: &VerifyArgs, report: &mut Report) -> anyhow::Result<Outcome> {
    let t_all = Instant::now();
    let layers = Layers::load(&args.common.mapping.mapping)?;
    let target = Target::resolve(args.common.target.target.as_deref())?;
    let rt = postgres::runtime(verify::READ_CONNECTIONS + 1)?;
    let t0 = Instant::now();
    // Every source read of this run sees one state of the file.
    let _snapshot = crate::sqlite::snapshot::Snapshot::take(&args.common.source.source)?;
    let schema = super::read_schema(&args.common.source.source)?;
    let catalog = rt.block_on(async {
        let client = target.connect().await?;
        Catalog::read(&client, &args.pg_schema).await
    })?;
    // First without a pass over the source: the target's column types
    // decide the conversions. That gives the plan `migrate` used unless a
    // date/time column of an existing schema was filled from epoch numbers,
    // whose unit `migrate` chose from the data; such numbers fail the
    // text conversion, so any bad value sends verify to the profiled plan.
    let mut checks = None;
    let chunking = Some((args.common.source.source.as_path(), VERIFY_CHUNK_ROWS));
    let planner = super::planner(&schema, &layers, &args.common.mapping, &args.pg_schema, chunking);
    // Migration-history tables are compared by their revisions, as
    // `migrate` does, and left out of the hashed comparison.
    let (mut history, mut declared) = rt.block_on(async {
        let plan = planner.declared()?;
        let client = target.connect().await?;
        let history = crate::plan::history::check(&args.common.source.source, &plan, &catalog, &client).await?;
        Ok::<_, anyhow::Error>((history, plan))
    })?;
    // An empty history table on the target is a difference here: verify
    // compares, it never loads.
    history.iter_mut().for_each(|h| h.target_empty = false);
    let exclude: Vec<String> =
        planner.exclude.iter().cloned().chain(history.iter().map(|h| h.table.replace(['*', '?'], "?"))).collect();
    let planner = crate::plan::Planner { exclude: &exclude, ..planner };
    if history.len() == declared.tables.len() {
        // Nothing but history tables: nothing to hash.
        declared.tables.clear();
        checks = Some((declared, Vec::new()));
    } else if let Some(plan) = plan_from_target(&planner, &catalog)? {
        report.phase(Phase::Plan, t0.elapsed());
        let t1 = Instant::now();
        let opts = reader_options();
        match compare(args, &rt, &target, &plan, &opts, true)? {
            Some(c) if !any_bad_values(&plan, &opts) => {
                super::plan_notes(report, &schema, &plan);
                checks = Some((plan, c));
            }
            _ => report.note("values the target's column types cannot take as they are: verified with the source profiled, as `migrate` plans".into()),
        }
        report.phase(Phase::Verify, t1.elapsed());
    }
    let (plan, mut checks) = match checks {
        Some(pc) => pc,
        None => {
            let t0 = Instant::now();
            let profiles = crate::sqlite::profile::profile_schema(&args.common.source.source, &schema)?;
            let plan = planner.profiled(&profiles)?;
            let plan = plan_for_target(&planner, &args.common.source.source, &catalog, &profiles, plan, report)?;
            super::plan_notes(report, &schema, &plan);
            report.phase(Phase::Plan, t0.elapsed());
            let t1 = Instant::now();
            let opts = reader_options();
            let checks = compare(args, &rt, &target, &plan, &opts, false)?.ok_or(pipeline::Error::Cancelled)?;
            report.phase(Phase::Verify, t1.elapsed());
            (plan, checks)
        }
    };
    if checks.iter().any(|c| !c.ok()) {
        let t1 = Instant::now();
        rt.block_on(async {
            let client = target.connect().await?;
            for (tp, c) in plan.tables.iter().zip(checks.iter_mut()) {
                localize::localize(&client, &args.common.source.source, &plan.pg_schema, tp, c, args.max_diffs).await?;
            }
            Ok::<_, anyhow::Error>(())
        })?;
        report.phase(Phase::Verify, t1.elapsed());
    }
    for h in &history {
        if h.kind == crate::plan::history::Kind::Revisions && !h.same() {
            report.warn(h.describe());
        } else {
            report.note(h.describe());
        }
    }
    checks.extend(history.iter().map(super::history_table_check));
    report.tables(&[], &checks);
    report.total(t_all.elapsed());
    let all_ok = checks.iter().all(TableCheck::ok);
    report.finish(args.common.output.json, args.common.output.quiet, if all_ok { 0 } else { 1 })?;
    if let Some(p) = &args.report_html {
        report.write_html(p, None)?;
    }
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}

/// Hash both sides of every table of `plan` at the same time: the target
/// read on the runtime (several tables at once), the source on the reader
/// pool. With `retry_bad_values`, None when the source side met a value
/// its converter refused (the caller then plans again with the source
/// profiled); otherwise that is the error it is, naming table, column and row.
fn compare(
    args: &VerifyArgs,
    rt: &tokio::runtime::Runtime,
    target: &Target,
    plan: &Plan,
    opts: &Options,
    retry_bad_values: bool,
) -> anyhow::Result<Option<Vec<TableCheck>>> {
    let target_side = rt.spawn({
        let (tables, target, schema) = (plan.tables.clone(), target.clone(), plan.pg_schema.clone());
        async move { verify::target_digests(&target, &schema, &tables, verify::READ_CONNECTIONS, false).await.map(|(d, _)| d) }
    });
    let source_side = pipeline::source_digests(&args.common.source.source, plan, opts);
    crate::interrupt::check()?;
    let joined = rt.block_on(crate::interrupt::interruptible(async { Ok::<_, anyhow::Error>(target_side.await) }))?;
    let target_side = match joined {
        Ok(r) => r,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    let source_side = match source_side {
        Err(pipeline::Error::BadValue { .. }) if retry_bad_values => return Ok(None),
        other => other?,
    };
    let target_side = target_side?;
    // Counts first: `compare` makes a count mismatch the table's status,
    // whatever the hashes say, and the target's count is the rows read.
    Ok(Some(
        plan.tables
            .iter()
            .zip(&source_side)
            .zip(&target_side)
            .map(|((tp, src), tgt)| TableCheck::compare(&tp.source.name, src, tgt))
            .collect(),
    ))
}

/// Rows per chunk of a verification's source readers.
const VERIFY_CHUNK_ROWS: u64 = 250_000;

/// The source readers of a verification pass: one per core, 250k-row chunks.
fn reader_options() -> Options {
    Options::new(None, None, VERIFY_CHUNK_ROWS)
}

/// Rows nulled or rejected by a bad-value policy in this pass.
fn any_bad_values(plan: &Plan, opts: &Options) -> bool {
    plan.tables.iter().any(|tp| {
        let c = opts.bad_values.counts(&tp.source.name);
        c.nulled + c.rejected > 0
    })
}

/// The plan read off the target: the declared-type plan with every column
/// retargeted to the target column's type (`Mapper::retarget`, the
/// converter `migrate` picks for that type in either mode). None when the
/// target does not fit it; the profiled path then says why.
fn plan_from_target(planner: &Planner<'_>, catalog: &Catalog) -> anyhow::Result<Option<Plan>> {
    let (plan, misfits) = planner.retargeted(catalog)?;
    Ok(if misfits.is_empty() { Some(plan) } else { None })
}

/// The plan to verify with. A target that ferry created from this plan has
/// exactly its column types; any other target (loaded with `migrate
/// --schema existing`, made by alembic…) is read the way such a load
/// converts: the target's column types anchor the converters, as in
/// `migrate --schema existing`, so both compute the same hashes.
fn plan_for_target(
    planner: &Planner<'_>,
    source: &Path,
    catalog: &Catalog,
    profiles: &super::Profiles,
    plan: Plan,
    report: &mut Report,
) -> anyhow::Result<Plan> {
    let as_created = plan.tables.iter().all(|tp| {
        catalog.tables.get(&tp.map.target).is_some_and(|tt| {
            tp.map.columns.iter().all(|cm| {
                tt.columns.iter().any(|tc| tc.name == cm.target && tc.pg_type.as_ref().is_ok_and(|t| *t == cm.pg_type))
            })
        })
    });
    if as_created {
        return Ok(plan);
    }
    let (fitted, misfits, notes) = planner.fitted(source, catalog, profiles)?;
    if !misfits.is_empty() {
        bail!(
            "the target's tables do not match the source, so they cannot be compared. {} problem(s):\n{}",
            misfits.len(),
            crate::plan::existing::misfit_list(&misfits)
        );
    }
    report.note("the target's column types differ from those ferry would create: verified as loaded into an existing schema (the target's types decide the conversions)".into());
    for n in notes {
        report.note(n);
    }
    Ok(fitted)
}
