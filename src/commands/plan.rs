//! `ferry plan SRC [TARGET]`: the rehearsal. It decides exactly what
//! `migrate` would (same `prepare`, same fit check), prints it, then reads
//! and converts every value and lists every problem, grouped by table and
//! column with counts and sample rows. Nothing is written to the target:
//! the connection only reads the catalog.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::time::Instant;

use serde::Serialize;

use crate::cli::{PlanArgs, SchemaMode};
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::dry_run::{self, Problem};
use crate::plan::existing::{self, Misfit};
use crate::plan::{Plan, Planner};
use crate::sqlite::profile::Profiles;
use crate::postgres::catalog::Catalog;
use crate::postgres::{self, ddl, Target};

#[derive(Serialize)]
struct PlanReport<'a> {
    source: String,
    mode: &'static str,
    plan: &'a Plan,
    /// Create mode: the statements, in order.
    ddl: Vec<String>,
    /// Existing mode: why the target does not fit (empty: it fits).
    misfits: Vec<Misfit>,
    /// Existing mode: migration-history tables compared with the target's.
    history: Vec<crate::plan::history::HistoryCheck>,
    notes: Vec<String>,
    /// Date/time readings chosen from the data, not by a mapping rule
    /// (also printed as warnings on stderr).
    readings: Vec<crate::report::ReadingNote>,
    /// Per table: chunks (rowid ranges) the readers will take.
    chunks: Vec<(String, usize)>,
    problems: Vec<Problem>,
    /// Values the load rounds to `real` (float4), per column: not problems.
    rounded: Vec<dry_run::Rounding>,
    rows: u64,
    read_convert_seconds: f64,
    rows_per_second: f64,
    /// Estimated load time in seconds: from the read + convert rate, and,
    /// with `--calibrate`, from the server's measured ingest rate.
    estimated_load_seconds: f64,
    calibration: Option<Calibration>,
    would_succeed: bool,
    exit_code: u8,
}

pub fn run(args: &PlanArgs) -> anyhow::Result<Outcome> {
    let layers = Layers::load(&args.mapping.mapping)?;
    let target = match &args.target {
        Some(t) => Some(Target::resolve(Some(t))?),
        None => None,
    };
    let rt = postgres::runtime(1)?;
    // Every source read of this run sees one state of the file.
    let _snapshot = crate::sqlite::snapshot::Snapshot::take(&args.source.source)?;
    let (schema, profiles) = super::introspect_and_profile(&args.source.source)?;
    let chunking = Some((args.source.source.as_path(), args.parallel.chunk_rows));
    let planner = super::planner(&schema, &layers, &args.mapping, &args.pg_schema, chunking);
    let plan0 = planner.declared()?;
    let mode = match (&target, args.schema) {
        (Some(t), asked) => rt.block_on(super::detect_mode(t, &plan0, asked))?,
        (None, SchemaMode::Existing) => anyhow::bail!("--schema existing needs a TARGET_URL to compare with"),
        (None, _) => SchemaMode::Create,
    };
    let Decided { plan, mut notes, misfits, history, ddl: ddl_text, unique } =
        decide(args, &planner, &profiles, mode, target.as_ref(), &rt)?;
    for tp in &plan.tables {
        notes.extend(tp.map.notes.iter().map(|n| format!("table {:?}: {n}", tp.source.name)));
    }
    for s in &schema.skipped {
        notes.push(format!("not migrated: {:?} {:?}: {}", s.kind, s.name, s.reason));
    }
    let chunks: Vec<(String, usize)> = plan.tables.iter().map(|tp| (tp.source.name.clone(), tp.chunks.len())).collect();

    let t0 = Instant::now();
    let (problems, checked) = dry_run::convert_all(&args.source.source, &plan, &unique)?;
    let secs = t0.elapsed().as_secs_f64();
    let rows: u64 = checked.iter().map(|c| c.rows).sum();
    // Orphans and duplicates break keys, not the load: the load still
    // succeeds (keys are then left NOT VALID or not created), but they are
    // problems to fix before the window.
    let refused = history.iter().filter(|h| h.refuses()).count();
    let would_succeed = misfits.is_empty() && problems.is_empty() && refused == 0;
    let jobs = crate::pipeline::Options::new(args.parallel.jobs, args.parallel.writers, args.parallel.chunk_rows).jobs;
    let calibration = match (&target, args.calibrate) {
        // The sample load hits the same problems as the real one would;
        // they are listed above, so a failed calibration is a note.
        (Some(t), true) => match calibrate(&args.source.source, &plan, t, args.calibrate_rows) {
            Ok(c) => Some(c),
            Err(e) => {
                notes.push(format!("calibration failed, so no server-side estimate: {e:#}"));
                None
            }
        },
        _ => None,
    };
    // An interrupted calibration dropped its schema; the plan stops there.
    crate::interrupt::check()?;
    // Readers share the cores; the slower of reading and the server's
    // ingest (when measured) bounds the load.
    let read_estimate = secs / jobs as f64;
    let estimated_load_seconds = match &calibration {
        Some(c) => read_estimate.max(c.estimated_load_seconds),
        None => read_estimate,
    };
    let exit_code = if would_succeed { 0 } else { 1 };
    let readings = crate::report::ReadingNote::of_plan(&plan);
    for r in &readings {
        eprintln!("warning: {}", r.warning());
    }
    let report = PlanReport {
        source: args.source.source.display().to_string(),
        mode: if mode == SchemaMode::Existing { "existing" } else { "create" },
        plan: &plan,
        ddl: ddl_text,
        misfits,
        history,
        notes,
        readings,
        chunks,
        problems,
        rounded: checked.iter().flat_map(|c| c.rounded.iter().cloned()).collect(),
        rows,
        read_convert_seconds: secs,
        rows_per_second: if secs > 0.0 { rows as f64 / secs } else { 0.0 },
        estimated_load_seconds,
        calibration,
        would_succeed,
        exit_code,
    };
    if let Some(p) = &args.report_html {
        let doc = serde_json::to_value(&report)?;
        let html = crate::report_html::render(crate::report_html::Kind::Plan, &doc, None);
        anyhow::Context::with_context(std::fs::write(p, html), || format!("cannot write {}", p.display()))?;
    }
    let mut out = std::io::stdout().lock();
    if args.output.json {
        serde_json::to_writer_pretty(&mut out, &report)?;
        writeln!(out)?;
    } else {
        out.write_all(render(&report).as_bytes())?;
    }
    Ok(if would_succeed { Outcome::Success } else { Outcome::Differences })
}

/// What the rehearsal decides before reading any row: the plan `migrate`
/// would run, and for existing mode the misfits and the target's unique
/// keys (in source column names, for the duplicate check), for create mode
/// the DDL.
struct Decided {
    plan: Plan,
    notes: Vec<String>,
    misfits: Vec<Misfit>,
    history: Vec<crate::plan::history::HistoryCheck>,
    ddl: Vec<String>,
    unique: BTreeMap<String, Vec<Vec<String>>>,
}

fn decide(
    args: &PlanArgs,
    planner: &Planner<'_>,
    profiles: &Profiles,
    mode: SchemaMode,
    target: Option<&Target>,
    rt: &tokio::runtime::Runtime,
) -> anyhow::Result<Decided> {
    if mode == SchemaMode::Existing {
        let t = target.expect("existing mode has a target");
        let catalog = rt.block_on(async {
            let client = t.connect().await?;
            Catalog::read(&client, &args.pg_schema).await
        })?;
        let (mut plan, mut misfits, notes) = planner.fitted(&args.source.source, &catalog, profiles)?;
        let history = rt.block_on(async {
            let client = t.connect().await?;
            crate::plan::history::check(&args.source.source, &plan, &catalog, &client).await
        })?;
        // History tables compared instead of loaded need not fit.
        crate::plan::history::without(&mut plan, &history);
        misfits.retain(|x| plan.tables.iter().any(|t| t.source.name == x.table) || !history.iter().any(|h| h.table == x.table));
        // Whatever migrate would refuse, with the same flags.
        let asked = super::refusals::Asked { truncate: args.truncate, keep_keys: args.keep_keys, earlier_unfinished: false };
        misfits.extend(super::refusals::existing(&args.source.source, &plan, &catalog, &Default::default(), &asked)?);
        let unique = existing::unique_keys_by_source(&plan, &catalog);
        return Ok(Decided { plan, notes, misfits, history, ddl: Vec::new(), unique });
    }
    let plan = planner.profiled(profiles)?;
    let mut misfits = Vec::new();
    if let Some(t) = target {
        let catalog = rt.block_on(async {
            let client = t.connect().await?;
            Catalog::read(&client, &args.pg_schema).await
        })?;
        misfits.extend(super::refusals::create(&plan, &catalog));
    }
    let mut ddl: Vec<String> = plan.new_tables().iter().map(|t| ddl::create_table(&plan.pg_schema, t.map, t.identity)).collect();
    ddl.extend(plan.post_data.iter().map(|s| s.sql.clone()));
    ddl.extend(plan.post_data.iter().filter_map(|s| s.validate.clone()));
    let notes = plan.post_notes.clone();
    Ok(Decided { plan, notes, misfits, history: Vec::new(), ddl, unique: BTreeMap::new() })
}

/// The plan report as text: the plan's decisions, then what the dry run
/// found.
fn render(r: &PlanReport<'_>) -> String {
    let mut s = String::new();
    render_decisions(&mut s, r);
    render_dry_run(&mut s, r);
    s
}

/// Load order, columns, DDL, the fit with the target, migration history,
/// date/time readings and notes.
fn render_decisions(s: &mut String, r: &PlanReport<'_>) {
    let _ = writeln!(s, "ferry plan: {} → {} mode\n", r.source, r.mode);
    let _ = writeln!(s, "== load order (level: tables of one level load side by side)");
    for tp in &r.plan.tables {
        let chunks = r.chunks.iter().find(|c| c.0 == tp.source.name).map_or(1, |c| c.1);
        let _ = writeln!(
            s,
            "  {:>2}  {:?} → {:?}  {} rows, {} chunk(s)",
            tp.level, tp.source.name, tp.map.target, tp.row_count, chunks
        );
    }
    let _ = writeln!(s, "\n== columns: SQLite → PostgreSQL (why)");
    for tp in &r.plan.tables {
        let _ = writeln!(s, "  table {:?}", tp.source.name);
        for c in &tp.map.columns {
            let decl = &tp.source.columns[c.source_index].decl_type;
            let _ = writeln!(s, "    {:?} {} → {:?} {} ({})", c.source, if decl.is_empty() { "(no type)" } else { decl }, c.target, c.pg_type, c.why);
        }
        for c in &tp.map.excluded_columns {
            let _ = writeln!(s, "    {c:?}: excluded by the mapping");
        }
    }
    if !r.ddl.is_empty() {
        let _ = writeln!(s, "\n== DDL");
        for d in &r.ddl {
            let _ = writeln!(s, "{d};");
        }
    }
    if r.mode == "existing" || !r.misfits.is_empty() {
        let _ = writeln!(s, "\n== fit with the {} schema", if r.mode == "existing" { "existing" } else { "target's" });
        if r.misfits.is_empty() {
            let _ = writeln!(s, "  every table and column fits");
        }
        for m in &r.misfits {
            let _ = writeln!(s, "  MISFIT {m}");
        }
    }
    if !r.history.is_empty() {
        let _ = writeln!(s, "\n== migration history (compared, not loaded)");
        for h in &r.history {
            let _ = writeln!(s, "  {}{}", if h.refuses() { "DIFFERENT VERSIONS " } else { "" }, h.describe());
        }
    }
    if !r.readings.is_empty() {
        let _ = writeln!(s, "\n== date/time readings chosen from the data (no mapping rule says `input`)");
        for x in &r.readings {
            let _ = writeln!(s, "  WARNING {}", x.warning());
        }
    }
    if !r.notes.is_empty() {
        let _ = writeln!(s, "\n== notes");
        for n in &r.notes {
            let _ = writeln!(s, "  {n}");
        }
    }
}

/// The values converted, the load estimate, rounded values, problems and
/// the verdict.
fn render_dry_run(s: &mut String, r: &PlanReport<'_>) {
    let _ = writeln!(s, "\n== every value converted: {} rows in {:.2}s ({:.0} rows/s read + convert)", r.rows, r.read_convert_seconds, r.rows_per_second);
    match &r.calibration {
        Some(c) => {
            let _ = writeln!(
                s,
                "== calibration: {} sample rows loaded in {:.2}s ({:.0} rows/s into the target); estimated load {:.1}s (keys and verification come on top)",
                c.sample_rows, c.seconds, c.rows_per_second, r.estimated_load_seconds
            );
        }
        None => {
            let _ = writeln!(
                s,
                "== estimated load: at least {:.1}s from the read + convert rate; --calibrate measures the server's side too",
                r.estimated_load_seconds
            );
        }
    }
    for x in &r.rounded {
        let _ = writeln!(
            s,
            "  ROUNDED table {:?}, column {:?}: {} value(s) rounded to real (float4), as PostgreSQL's own cast stores them; largest relative change {:.3e}",
            x.table, x.column, x.count, x.max_relative_change
        );
        for e in &x.samples {
            let _ = writeln!(s, "      {e}");
        }
    }
    if r.problems.is_empty() {
        let _ = writeln!(s, "  no problems");
    }
    for p in &r.problems {
        let _ = writeln!(
            s,
            "  PROBLEM table {:?}, column {:?}: {} — {} {} [{}]",
            p.table,
            p.column.as_deref().unwrap_or("-"),
            p.reason,
            p.count,
            // A duplicate's count is of values; its samples name the rows.
            if p.kind == "duplicate_key" { "value(s)" } else { "row(s)" },
            p.kind
        );
        for x in &p.samples {
            let _ = writeln!(s, "      {x}");
        }
    }
    let _ = writeln!(
        s,
        "\n{}",
        if r.would_succeed {
            "the real run would succeed".to_string()
        } else {
            format!(
                "the real run would NOT succeed: {} misfit(s), {} problem(s), {} migration history table(s) at another version",
                r.misfits.len(),
                r.problems.len(),
                r.history.iter().filter(|h| h.refuses()).count()
            )
        }
    );
}

#[derive(Serialize)]
struct Calibration {
    sample_rows: u64,
    seconds: f64,
    rows_per_second: f64,
    estimated_load_seconds: f64,
}

/// Load up to `rows` rows of every table into a scratch schema of the
/// target (dropped afterwards, also on failure) and extrapolate the load
/// time from the measured rate of each table.
fn calibrate(source: &std::path::Path, plan: &Plan, target: &Target, rows: u64) -> anyhow::Result<Calibration> {
    let schema = format!("ferry_calibrate_{}", std::process::id());
    let mut sample = plan.clone();
    sample.pg_schema = schema.clone();
    for tp in &mut sample.tables {
        tp.sample = Some(rows);
    }
    let rt = postgres::runtime(1)?;
    let client = rt.block_on(target.connect())?;
    // One statement batch, so one transaction: when it fails (a schema of
    // that name exists, say) nothing of ferry's is there, and a schema
    // ferry did not create is never dropped below.
    rt.block_on(ddl::create_schema_with(&client, &schema, &sample.new_tables()))?;
    let result = (|| -> anyhow::Result<Calibration> {
        let opts = crate::pipeline::Options::new(None, None, u64::MAX);
        let t0 = Instant::now();
        let loads = crate::pipeline::load(source, &sample, target, &opts)?;
        let seconds = t0.elapsed().as_secs_f64();
        let loaded: u64 = loads.iter().map(|l| l.rows).sum();
        // Each table at its own measured rate, spread over the writers.
        let mut total = 0.0;
        for (tp, l) in plan.tables.iter().zip(sample.tables.iter()) {
            let Some(load) = loads.iter().find(|x| x.table == l.source.name) else { continue };
            if load.rows > 0 && load.seconds > 0.0 {
                total += tp.row_count as f64 * load.seconds / load.rows as f64;
            }
        }
        Ok(Calibration {
            sample_rows: loaded,
            seconds,
            rows_per_second: if seconds > 0.0 { loaded as f64 / seconds } else { 0.0 },
            estimated_load_seconds: total / opts.writers.max(1) as f64,
        })
    })();
    let _ = rt.block_on(ddl::drop_schema(&client, &schema));
    result
}
