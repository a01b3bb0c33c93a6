//! `ferry sync SRC [URL]`: bring a target that `migrate` filled from this
//! source to the source's current state, writing only what differs.
//!
//! Planned as an existing-schema run is (the declared plan fitted to the
//! target's catalog, `Planner::retargeted`, with the source profiled when a
//! value needs it), migration-history tables compared as `plan::history`
//! says. One source snapshot; one target transaction that locks the tables
//! against other writers, exports its snapshot to the comparing workers
//! (`sync::compare`), writes (`sync::apply`) and commits. `--dry-run` reads
//! in a read-only transaction and writes nothing.

use std::time::Instant;

use anyhow::bail;
use serde::Serialize;

use crate::cli::SyncArgs;
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::plan::{Plan, Planner};
use crate::postgres::catalog::Catalog;
use crate::postgres::{self, Target};
use crate::report::Report;
use crate::ledger;
use crate::sync::{self, TableSync};
use crate::verify::{Status, TableCheck};

/// The `--json` document.
#[derive(Debug, Serialize)]
struct Document {
    command: &'static str,
    source: String,
    dry_run: bool,
    tables: Vec<TableSync>,
    notes: Vec<String>,
    seconds: f64,
    /// Phases: comparing (with the writes it overlaps), then the writes
    /// and checks left once the comparison ended, and the commit.
    compare_seconds: f64,
    write_seconds: f64,
    /// Writes overlapped the comparison (every table had a ledger).
    streamed: bool,
    exit_code: u8,
}

pub fn run(args: &SyncArgs) -> anyhow::Result<Outcome> {
    let t_all = Instant::now();
    let src = args.common.source.source.as_path();
    let layers = Layers::load(&args.common.mapping.mapping)?;
    let target = Target::resolve(args.common.target.target.as_deref())?;
    let jobs = args
        .jobs
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(2, |n| n.get()));
    let rt = postgres::runtime(jobs + 1)?;
    // Every source read of this run sees one state of the file.
    let _snapshot = crate::sqlite::snapshot::Snapshot::take(src)?;
    let schema = super::read_schema(src)?;
    let lead = rt.block_on(target.connect())?;
    let store = ledger::Store::new(&args.state_dir, &target.to_string(), &args.pg_schema);
    let view = rt.block_on(sync::ledger::open(&store, &lead));
    let catalog = rt.block_on(Catalog::read(&lead, &args.pg_schema))?;
    let planner = super::planner(
        &schema,
        &layers,
        &args.common.mapping,
        &args.pg_schema,
        None,
    );
    // History tables: compared by revision, never synced; different
    // revisions refuse, as `migrate` into an existing schema does.
    let mut declared = planner.declared()?;
    let history = rt.block_on(crate::plan::history::check(src, &declared, &catalog, &lead))?;
    let mut notes = crate::plan::history::settle(&mut declared, &history)?;
    let exclude: Vec<String> = planner
        .exclude
        .iter()
        .cloned()
        .chain(
            history
                .iter()
                .filter(|h| !h.loads())
                .map(|h| h.table.replace(['*', '?'], "?")),
        )
        .collect();
    let planner = Planner {
        exclude: &exclude,
        ..planner
    };
    let plan = fitted(&planner, &catalog)?;
    let t_compare = Instant::now();
    let go = |plan: &Plan| -> Result<sync::stream::Compared, sync::Error> {
        let snapshot = rt.block_on(sync::begin(&lead, plan, args.dry_run))?;
        let run = sync::stream::Run {
            rt: &rt,
            src,
            target: &target,
            snapshot: snapshot.as_deref(),
            jobs,
            view: view.as_ref(),
            store: &store,
            dry_run: args.dry_run,
        };
        run.go(plan, &lead, &catalog)
    };
    let (plan, compared) = match go(&plan) {
        Ok(c) => (plan, c),
        // A value the target's types cannot take as they are (a date/time
        // column filled from epoch numbers): plan from the data, as
        // `migrate --schema existing` did, in a new transaction (what the
        // first one wrote is rolled back).
        Err(e) if source_value(&e) && !crate::interrupt::requested() => {
            rt.block_on(sync::end(&lead, false))?;
            let profiles = crate::sqlite::profile::profile_schema(src, &schema)?;
            let (plan, misfits, more) = planner.fitted(src, &catalog, &profiles)?;
            refuse_misfits(&misfits)?;
            notes.extend(more);
            let compared = go(&plan)?;
            (plan, compared)
        }
        Err(e) => return Err(e.into()),
    };
    let sync::stream::Compared { deltas, whole, verified, compare_seconds, streamed } = compared;
    for (tp, d) in plan.tables.iter().zip(&deltas) {
        if !d.rejected.is_empty() {
            let mut keys = d.rejected.clone();
            keys.sort_unstable();
            let shown: Vec<String> = keys.iter().take(10).map(i64::to_string).collect();
            notes.push(format!(
                "table {:?}: {} row(s) left out by on_bad_value = \"reject\" (not in the target; rowid {}{}); `ferry plan` names their values",
                tp.source.name,
                keys.len(),
                shown.join(", "),
                if keys.len() > 10 { ", …" } else { "" }
            ));
        }
    }
    let compare_seconds = compare_seconds.min(t_compare.elapsed().as_secs_f64());
    for (tp, why) in plan.tables.iter().zip(&whole) {
        if let (Some(why), true) = (why, view.is_some()) {
            notes.push(format!("table {:?}: compared both sides whole: {why}", tp.source.name));
        }
    }
    // The next ledger, written before COMMIT naming this transaction when
    // it wrote (kept at the next start if the commit went through and this
    // run stopped before making it current); when nothing was written, it
    // may still be new for tables compared whole. None in a dry run.
    let wrote = verified.is_some();
    let verified = verified.unwrap_or_else(|| vec![!args.dry_run; deltas.len()]);
    let next = if args.dry_run || !verified.iter().all(|v| *v) {
        None
    } else {
        rt.block_on(sync::ledger::write_next(&lead, (&store, view.as_ref()), &plan, &deltas, wrote))
    };
    rt.block_on(sync::end(&lead, !args.dry_run))?;
    match next {
        Some(Ok(())) => {
            if let (Err(e), true) = (store.promote(), wrote) {
                notes.push(format!("the ledger could not be updated ({e}); the next sync compares both sides whole"));
            }
        }
        // What was written is not what the old ledger describes.
        failed if wrote => {
            let _ = store.forget();
            if let Some(Err(e)) = failed {
                notes.push(format!("the ledger could not be written ({e}); the next sync compares both sides whole"));
            }
        }
        _ => {
            let _ = std::fs::remove_dir_all(store.next());
        }
    }
    let tables: Vec<TableSync> = plan
        .tables
        .iter()
        .zip(&deltas)
        .zip(&verified)
        .map(|((tp, d), v)| d.summary(&tp.source.name, (!args.dry_run).then_some(*v)))
        .collect();
    let ok = args.dry_run || verified.iter().all(|v| *v);
    let exit_code = if ok { 0 } else { 1 };
    let doc = Document {
        command: "sync",
        source: src.display().to_string(),
        dry_run: args.dry_run,
        tables,
        notes,
        seconds: t_all.elapsed().as_secs_f64(),
        compare_seconds,
        write_seconds: t_compare.elapsed().as_secs_f64() - compare_seconds,
        streamed,
        exit_code,
    };
    output(args, &doc)?;
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Differences
    })
}

/// A source value the plan could not convert (the run plans again from
/// the data).
fn source_value(e: &sync::Error) -> bool {
    match e {
        sync::Error::Verify(crate::verify::Error::Source { .. }) => true,
        sync::Error::Write(inner) => source_value(inner),
        _ => false,
    }
}

/// The plan read off the target, or every misfit (a table missing, a
/// column that does not fit) as one refusal.
fn fitted(planner: &Planner<'_>, catalog: &Catalog) -> anyhow::Result<Plan> {
    let (plan, misfits) = planner.retargeted(catalog)?;
    refuse_misfits(&misfits)?;
    Ok(plan)
}

fn refuse_misfits(misfits: &[crate::plan::existing::Misfit]) -> anyhow::Result<()> {
    if !misfits.is_empty() {
        bail!(
            "the target does not fit the source, so it cannot be synced (sync brings a target that `ferry migrate` filled from this source up to date); nothing was written. {} problem(s):\n{}",
            misfits.len(),
            crate::plan::existing::misfit_list(misfits)
        );
    }
    Ok(())
}

/// The summary on stderr, the JSON document on stdout, the HTML page.
fn output(args: &SyncArgs, doc: &Document) -> anyhow::Result<()> {
    if args.common.output.json {
        println!("{}", serde_json::to_string_pretty(doc)?);
    }
    if !args.common.output.quiet {
        let verb = if doc.dry_run { "would sync" } else { "synced" };
        eprintln!(
            "{:<32} {:>10} {:>10} {:>10} {:>10}  verified",
            format!("table ({verb})"),
            "inserted",
            "replaced",
            "deleted",
            "rows"
        );
        for t in &doc.tables {
            let v = match t.verified {
                None => "-",
                Some(true) => "yes",
                Some(false) => "NO",
            };
            let name = if t.reloaded {
                format!("{} (reloaded)", t.table)
            } else {
                t.table.clone()
            };
            eprintln!(
                "{name:<32} {:>10} {:>10} {:>10} {:>10}  {v}",
                t.inserted, t.replaced, t.deleted, t.rows
            );
        }
        for n in &doc.notes {
            eprintln!("note: {n}");
        }
        eprintln!(
            "{} in {:.2} s (compare {:.2} s, write and check {:.2} s)",
            if doc.dry_run {
                "dry run, nothing written,"
            } else {
                "sync"
            },
            doc.seconds,
            doc.compare_seconds,
            doc.write_seconds
        );
    }
    if let Some(path) = &args.report_html {
        let mut report = Report::new("sync", &args.common.source.source);
        let checks: Vec<TableCheck> = doc
            .tables
            .iter()
            .map(|t| {
                let status = if t.verified == Some(false) {
                    Status::ContentDiffers
                } else {
                    Status::Equal
                };
                TableCheck::counts(&t.table, t.rows, t.rows, None, status)
            })
            .collect();
        report.tables(&[], &checks);
        for t in &doc.tables {
            report.note(format!(
                "table {:?}: {} inserted, {} replaced, {} deleted{}",
                t.table,
                t.inserted,
                t.replaced,
                t.deleted,
                if t.reloaded {
                    " (reloaded whole: no usable key)"
                } else {
                    ""
                }
            ));
        }
        doc.notes.iter().for_each(|n| report.note(n.clone()));
        report.exit_code = doc.exit_code;
        report.write_html(path, None)?;
    }
    Ok(())
}
