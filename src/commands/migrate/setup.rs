//! The parts of `ferry migrate` around the migration itself: the scratch
//! cluster of a rehearsal, the run journal (resume), the load's options
//! (bad-value policies, progress, the journal after each commit), and the
//! report at the end.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Instant;

use anyhow::{bail, Context};

use crate::cli::{MigrateArgs, SchemaMode};
use crate::error::Outcome;
use crate::journal::{self, RunJournal};
use crate::mapping::file::BadValuePolicy;
use crate::pipeline::{self, Options};
use crate::plan::Plan;
use crate::postgres::scratch::ScratchCluster;
use crate::postgres::Target;
use crate::progress::Progress;
use crate::report::Report;
use crate::sqlite::watch::Watch;
use crate::verify::TableCheck;

/// `--target-scratch`: a throwaway cluster, with the application's schema
/// applied when asked.
pub(super) fn scratch_cluster(args: &MigrateArgs, report: &mut Report) -> anyhow::Result<Option<ScratchCluster>> {
    if !args.target_scratch {
        return Ok(None);
    }
    let c = ScratchCluster::start()?;
    c.apply_schema(args.scratch_schema_sql.as_deref(), args.scratch_schema_cmd.as_deref())?;
    report.note(format!("rehearsal on a scratch cluster at {} (removed afterwards)", c.url));
    Ok(Some(c))
}

/// The run journal of an earlier, unfinished run into this target: the
/// run to continue with `--resume` (refused when it was from another
/// source, or when there is none), else only a note that it exists.
pub(super) fn previous_run(args: &MigrateArgs, target: &Target, report: &mut Report) -> anyhow::Result<Option<RunJournal>> {
    let journal_path = journal::path(&args.state_dir, &target.to_string(), &args.pg_schema);
    let previous = journal::read(&journal_path)?.filter(|j| !j.finished);
    report.facts.earlier_unfinished = previous.is_some();
    Ok(match (args.resume, previous) {
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
    })
}

/// This run's journal, carrying over what a resumed run had committed, and
/// from any unfinished run the catalog before the first of them (the one
/// the run that finishes must restore). Written only once the run changes
/// the target, so a refused run leaves an earlier run's journal as it was.
pub(super) fn journal_writer(
    args: &MigrateArgs,
    target: &Target,
    mode: SchemaMode,
    resumed: Option<&RunJournal>,
) -> anyhow::Result<Arc<journal::Writer>> {
    let journal_path = journal::path(&args.state_dir, &target.to_string(), &args.pg_schema);
    let schema_before = journal::read(&journal_path)?.filter(|j| !j.finished).and_then(|j| j.schema_before);
    Ok(Arc::new(journal::Writer::new(
        journal_path,
        RunJournal {
            source: args.source.source.display().to_string(),
            target: target.to_string(),
            schema: args.pg_schema.clone(),
            mode: if mode == SchemaMode::Existing { "existing" } else { "create" }.into(),
            tables_created: resumed.is_some_and(|j| j.tables_created),
            done: resumed.map(|j| j.done.clone()).unwrap_or_default(),
            finished: false,
            schema_before,
        },
    )?))
}

/// Where rejected rows go, and whether any column rejects.
pub(super) struct Rejects {
    pub path: PathBuf,
    pub rejecting: bool,
}

/// The load's options: readers and writers, the bad-value policies (a
/// reject file only when some column of `plan` rejects), progress bars
/// sized by `plan`'s rows, and the journal updated after each commit.
pub(super) fn load_options(args: &MigrateArgs, plan: &Plan, writer: &Arc<journal::Writer>) -> anyhow::Result<(Options, Rejects)> {
    let mut opts = Options::new(args.parallel.jobs, args.parallel.writers, args.parallel.chunk_rows);
    let rejecting = plan.tables.iter().any(|t| t.map.columns.iter().any(|c| c.on_bad_value == BadValuePolicy::Reject));
    let path = args.reject_file.clone().unwrap_or_else(|| args.state_dir.join("rejects.jsonl"));
    opts.bad_values = Arc::new(if rejecting {
        pipeline::rejects::BadValues::to_file(&path, args.max_rejects)
            .with_context(|| format!("creating the reject file {}", path.display()))?
    } else {
        pipeline::rejects::BadValues::counting(args.max_rejects)
    });
    let total_rows = plan.tables.iter().map(|t| t.row_count).sum();
    opts.progress = Progress::new(total_rows, args.output.quiet, args.output.json);
    let w = writer.clone();
    opts.on_commit = Some(pipeline::OnCommit(Arc::new(move |l: &pipeline::TableLoad| {
        // A journal that cannot be written only weakens --resume; the
        // load itself is still transactional.
        let _ = w.update(|j| {
            j.done.insert(l.table.clone(), l.rows);
        });
    })));
    Ok((opts, Rejects { path, rejecting }))
}

/// What the report needs from the run besides its tables.
pub(super) struct Finished<'a> {
    pub watch: &'a Watch,
    pub journal: &'a journal::Writer,
    pub opts: &'a Options,
    pub rejects: &'a Rejects,
    pub t_all: Instant,
}

/// Mark the run finished, then report: tables, a source written to during
/// the run, rejected and altered values; the exit status says whether
/// everything was verified equal.
pub(super) fn report(
    args: &MigrateArgs,
    report: &mut Report,
    run: &Finished<'_>,
    loads: &[pipeline::TableLoad],
    checks: &[TableCheck],
) -> anyhow::Result<Outcome> {
    let source_changed = run.watch.changed();
    if let Some(msg) = &source_changed {
        // The short window (README): this is the expected end of a load
        // made while the application runs; `sync` copies only the rows
        // that changed since the pinned state.
        let next = if args.target_scratch {
            "stop the application and run again".to_owned()
        } else {
            format!(
                "stop the application's writes, then `ferry sync {} <same target>` copies only the rows that changed since",
                args.source.source.display()
            )
        };
        report.warn(format!(
            "{msg}; ferry loaded and verified the one state it pinned when the run started, so the target lacks the later writes: {next}"
        ));
    }
    run.journal.update(|j| j.finished = true)?;
    report.tables(loads, checks);
    report.total(run.t_all.elapsed());
    let bad_values = &run.opts.bad_values;
    let reject_path = &run.rejects.path;
    bad_values.flush().with_context(|| format!("writing the reject file {}", reject_path.display()))?;
    let rejected = bad_values.total_rejected();
    if rejected > 0 {
        report.warn(format!(
            "{rejected} row(s) rejected by on_bad_value = \"reject\" and not loaded; they are in {}",
            reject_path.display()
        ));
    }
    for (table, c) in bad_values.all_counts() {
        if c.nulled > 0 {
            report.note(format!("table {table:?}: {} bad value(s) loaded as NULL (on_bad_value = \"null\")", c.nulled));
        }
        if c.altered > 0 {
            report.note(format!("table {table:?}: {} value(s) altered by strip-nul / replace-invalid", c.altered));
        }
        if c.rounded > 0 {
            report.warn(crate::pipeline::rejects::rounding_warning(&table, &c));
        }
    }
    let all_ok =
        checks.iter().all(TableCheck::ok) && source_changed.is_none() && rejected == 0 && report.facts.broken_keys.is_empty();
    report.finish(args.output.json, args.output.quiet, if all_ok { 0 } else { 1 })?;
    if let Some(p) = &args.report {
        report.write_json(p).with_context(|| format!("writing the report to {}", p.display()))?;
    }
    if let Some(p) = &args.report_html {
        report.write_html(p, args.compare_with.as_deref()).with_context(|| format!("writing the report to {}", p.display()))?;
    }
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}
