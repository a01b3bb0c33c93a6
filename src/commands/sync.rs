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
use crate::sync::{self, Delta, LedgerIo, Mode, TableSync};
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
    /// Phases: comparing both sides, then writing and checking.
    compare_seconds: f64,
    write_seconds: f64,
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
    let snapshot = rt.block_on(sync::begin(&lead, &plan, args.dry_run))?;
    let t_compare = Instant::now();
    let cmp = Compare { rt: &rt, src, target: &target, snapshot: snapshot.as_deref(), jobs, view: view.as_ref(), dry_run: args.dry_run };
    let (plan, (mut deltas, whole)) = match cmp.run(&plan) {
        Ok(d) => (plan, d),
        // A value the target's types cannot take as they are (a date/time
        // column filled from epoch numbers): plan from the data, as
        // `migrate --schema existing` did.
        Err(sync::Error::Verify(crate::verify::Error::Source { .. }))
            if !crate::interrupt::requested() =>
        {
            let profiles = crate::sqlite::profile::profile_schema(src, &schema)?;
            let (plan, misfits, more) = planner.fitted(src, &catalog, &profiles)?;
            refuse_misfits(&misfits)?;
            notes.extend(more);
            let deltas = cmp.run(&plan)?;
            (plan, deltas)
        }
        Err(e) => return Err(e.into()),
    };
    let compare_seconds = t_compare.elapsed().as_secs_f64();
    let t_write = Instant::now();
    for (tp, why) in plan.tables.iter().zip(&whole) {
        if let (Some(why), true) = (why, view.is_some()) {
            notes.push(format!("table {:?}: compared both sides whole: {why}", tp.source.name));
        }
    }
    let verified = if args.dry_run || !deltas.iter().any(Delta::writes) {
        rt.block_on(sync::end(&lead, !args.dry_run))?;
        let _ = std::fs::remove_dir_all(store.next());
        vec![!args.dry_run; deltas.len()]
    } else {
        let verified = sync::apply::apply(&rt, &lead, src, &plan, &catalog, &mut deltas)?;
        // The next ledger names this transaction: kept at the next start
        // if the commit went through and this run stopped before promoting.
        let next = if verified.iter().all(|v| *v) { next_ledger(&rt, &lead, &store, view.as_ref(), &plan, &deltas) } else { None };
        rt.block_on(sync::end(&lead, true))?;
        match next {
            Some(Ok(())) => {
                if let Err(e) = store.promote() {
                    notes.push(format!("the ledger could not be updated ({e}); the next sync compares both sides whole"));
                }
            }
            Some(Err(e)) => {
                let _ = store.forget();
                notes.push(format!("the ledger could not be written ({e}); the next sync compares both sides whole"));
            }
            None => {
                let _ = store.forget();
            }
        }
        verified
    };
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
        write_seconds: t_write.elapsed().as_secs_f64(),
        exit_code,
    };
    output(args, &doc)?;
    Ok(if ok {
        Outcome::Success
    } else {
        Outcome::Differences
    })
}

/// How the tables are compared: what `compare` needs besides the plan.
struct Compare<'a> {
    rt: &'a tokio::runtime::Runtime,
    src: &'a std::path::Path,
    target: &'a Target,
    snapshot: Option<&'a str>,
    jobs: usize,
    view: Option<&'a sync::ledger::View>,
    dry_run: bool,
}

impl Compare<'_> {
    /// Compare every table, by its ledger where it has one that fits (its
    /// records for the next ledger written to `next/` on the way), else both
    /// sides whole; a ledger found stale by `untouched` (checked meanwhile,
    /// in the same snapshot) is dropped and its table compared again both
    /// sides whole. Per table, why it was compared both sides (None: by its
    /// ledger).
    fn run(&self, plan: &Plan) -> Result<(Vec<Delta>, Vec<Option<String>>), sync::Error> {
        let mut whole: Vec<Option<String>> = Vec::new();
        let mut modes = Vec::new();
        for tp in &plan.tables {
            match sync::ledger::candidate(self.view, tp) {
                Ok((tl, _)) => {
                    modes.push(Mode::Ledger(tl));
                    whole.push(None);
                }
                Err(why) => {
                    modes.push(Mode::Whole);
                    whole.push(Some(why));
                }
            }
        }
        let root = self.view.map(sync::ledger::View::root);
        let next = self.view.filter(|_| !self.dry_run).map(|v| v.store.next());
        if let Some(n) = &next {
            ledger::Store::clear(n).map_err(|e| sync::Error::Other(format!("preparing the next ledger: {e}")))?;
        }
        let io = root.as_deref().map(|root| LedgerIo { root, next: next.as_deref() });
        // The ledgers' check runs on the server while the source is read.
        let checked: Vec<(usize, ledger::TableLedger)> =
            modes.iter().enumerate().filter_map(|(t, m)| match m { Mode::Ledger(tl) => Some((t, (*tl).clone())), _ => None }).collect();
        let check = {
            let (target, snapshot, schema) = (self.target.clone(), self.snapshot.map(str::to_string), plan.pg_schema.clone());
            self.rt.spawn(async move {
                if checked.is_empty() {
                    return Ok(Vec::new());
                }
                let client = sync::reader(&target, snapshot.as_deref()).await?;
                let xmax = sync::ledger::xmax(&client).await?;
                let mut out = Vec::new();
                for (t, tl) in &checked {
                    out.push((*t, sync::ledger::untouched(&client, &schema, tl, xmax).await?));
                }
                Ok::<_, sync::Error>(out)
            })
        };
        let mut deltas = sync::compare(self.rt, self.src, self.target, plan, self.snapshot, self.jobs, &modes, io)?;
        let verdicts = match self.rt.block_on(check) {
            Ok(v) => v?,
            Err(join) => std::panic::resume_unwind(join.into_panic()),
        };
        let stale: Vec<(usize, String)> = verdicts.into_iter().filter_map(|(t, v)| v.err().map(|why| (t, why))).collect();
        if !stale.is_empty() {
            let again: Vec<Mode<'_>> =
                (0..plan.tables.len()).map(|t| if stale.iter().any(|s| s.0 == t) { Mode::Whole } else { Mode::Skip }).collect();
            let mut fresh = sync::compare(self.rt, self.src, self.target, plan, self.snapshot, self.jobs, &again, None)?;
            for (t, why) in stale {
                deltas[t] = std::mem::take(&mut fresh[t]);
                whole[t] = Some(format!("the ledger no longer describes the table: {why}"));
                if let Some(n) = &next {
                    let _ = std::fs::remove_dir_all(ledger::Store::table(n, &plan.tables[t].source.name));
                }
            }
        }
        Ok((deltas, whole))
    }
}

/// Write the next ledger (inside the sync's transaction, before COMMIT):
/// the tables compared by their ledger, with the records the comparison
/// wrote to `next/`, naming this transaction among their writers if they
/// were written. None: there was no ledger to carry on.
fn next_ledger(
    rt: &tokio::runtime::Runtime,
    lead: &tokio_postgres::Client,
    store: &ledger::Store,
    view: Option<&sync::ledger::View>,
    plan: &Plan,
    deltas: &[Delta],
) -> Option<std::io::Result<()>> {
    let view = view?;
    let xid: i64 = rt.block_on(lead.query_one("SELECT txid_current()", &[])).ok()?.get(0);
    let next = store.next();
    let mut m = ledger::Manifest { pending_xid: Some(xid), ..Default::default() };
    for (tp, d) in plan.tables.iter().zip(deltas) {
        let Some(old) = view.manifest.tables.get(&tp.source.name).filter(|_| d.by_key) else { continue };
        let made = (|| {
            sync::ledger::mark_absent(&next, &tp.source.name, &d.rejected)?;
            ledger::segments_in(&ledger::Store::table(&next, &tp.source.name))
        })();
        let segments = match made {
            Ok(Some(s)) => s,
            Ok(None) => continue,
            Err(e) => return Some(Err(e)),
        };
        let mut xids = old.xids.clone();
        if d.writes() && !xids.contains(&xid) {
            xids.push(xid);
        }
        m.tables.insert(
            tp.source.name.clone(),
            ledger::TableLedger { rows: d.source.rows, xids, segments, ..old.clone() },
        );
    }
    if m.tables.is_empty() {
        return None;
    }
    Some(store.write_next(&m))
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
