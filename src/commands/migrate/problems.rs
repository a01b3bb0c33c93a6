//! A refusal lists everything, by row (issue 14): when `migrate` refuses
//! before loading, or stops at a bad value, it runs the dry run `ferry plan`
//! runs (`pipeline::dry_run`) over every table not committed yet and lists
//! each problem (table, column, row key, value; a few rows per column and
//! the count of the rest) under the error, in `--json` and in the report,
//! so one fix and one run (or `--resume`) are enough. The dry run reads and
//! converts every value again, so it runs only on the way to a refusal: a
//! run that succeeds never pays for it.

use std::collections::BTreeMap;

use super::Run;
use crate::pipeline::dry_run::{self, Problem};
use crate::plan::Plan;
use crate::postgres::catalog::Catalog;

/// `err`, with every problem of `plan`'s tables not committed yet listed
/// under it (and kept in the report), and the orphans and duplicates of the
/// committed ones. `catalog`: the existing schema, whose
/// own unique keys are checked for duplicates too. A dry run that itself
/// fails (or an interrupt) leaves `err` as it was, with a note.
pub(super) fn listed(
    run: &mut Run<'_>,
    plan: &Plan,
    catalog: Option<&Catalog>,
    err: anyhow::Error,
) -> anyhow::Error {
    if crate::interrupt::requested() {
        return err;
    }
    let done = run.journal.snapshot().done;
    // Committed tables hold no bad value, but their keys are restored or
    // validated by the run that resumes: their orphans and duplicates too.
    let (committed, left): (Vec<_>, Vec<_>) = plan.tables.iter().cloned().partition(|t| done.contains_key(&t.source.name));
    let (committed, left) = (Plan { tables: committed, ..plan.clone() }, Plan { tables: left, ..plan.clone() });
    let unique = catalog
        .map(|c| crate::plan::existing::unique_keys_by_source(plan, c))
        .unwrap_or_default();
    // The target's foreign keys onto any table of the plan (committed too).
    let foreign = catalog
        .map(|c| dry_run::target_foreign_keys(plan, c))
        .unwrap_or_default();
    let source = &run.args.source.source;
    let found = dry_run::convert_all(source, &left, &unique, &foreign).and_then(|(mut p, _)| {
        p.extend(dry_run::key_problems(source, &committed, &unique, &foreign)?);
        Ok(p)
    });
    match found {
        Ok(problems) if problems.is_empty() => err,
        Ok(problems) => {
            let text = render(&problems, catalog.is_some(), run.report.facts.wrote);
            run.report.problems = problems;
            anyhow::anyhow!("{err:#}\n{text}")
        }
        Err(e) => anyhow::anyhow!(
            "{err:#}\n(listing every problem with `ferry plan`'s checks failed too: {e})"
        ),
    }
}

/// A stop the data caused: a value ferry could not convert, or the server
/// refusing a row (SQLSTATE class 22, data exception, or 23, integrity
/// constraint violation: a duplicate on a unique key kept in place during
/// the load, an orphan with keys kept, a NULL into NOT NULL).
pub(super) fn caused_by_data(e: &crate::pipeline::Error) -> bool {
    use crate::pipeline::Error as E;
    match e {
        E::BadValue { .. } => true,
        E::Target(crate::postgres::Error::Server { message, .. }) => {
            message.contains("(SQLSTATE 22") || message.contains("(SQLSTATE 23")
        }
        _ => false,
    }
}

/// Create mode: the plan a profile of the source gives (the one a resumed
/// run loads with; a speculative plan's columns may still need widening,
/// which is not a problem).
pub(super) fn listed_create(run: &mut Run<'_>, err: anyhow::Error) -> anyhow::Error {
    if crate::interrupt::requested() {
        return err;
    }
    let source = &run.args.source.source;
    let plan = crate::sqlite::profile::profile_schema(source, run.planner.schema)
        .map_err(anyhow::Error::from)
        .and_then(|p| Ok(run.planner.profiled(&p)?));
    match plan {
        Ok(plan) => listed(run, &plan, None, err),
        Err(e) => anyhow::anyhow!(
            "{err:#}\n(listing every problem with `ferry plan`'s checks failed too: {e:#})"
        ),
    }
}

/// The list under the error: per table and column, the reason, the rows
/// shown and the count of the rest; then what to do.
fn render(problems: &[Problem], existing: bool, wrote: bool) -> String {
    let mut by_table: BTreeMap<&str, usize> = BTreeMap::new();
    for p in problems {
        *by_table.entry(&p.table).or_default() += 1;
    }
    let mut out = format!(
        "Every problem `ferry plan` lists in the tables not committed (and the keys of those committed): {} problem(s) in {} table(s):",
        problems.len(),
        by_table.len()
    );
    for p in problems {
        let unit = if p.kind == "duplicate_key" {
            "value(s)"
        } else {
            "row(s)"
        };
        out.push_str(&format!(
            "\n  table {:?}, column {:?}: {} [{}], {} {unit}:",
            p.table,
            p.column.as_deref().unwrap_or("-"),
            p.reason,
            p.kind,
            p.count
        ));
        for s in &p.samples {
            out.push_str(&format!("\n      {s}"));
        }
        let shown = p.samples.len() as u64;
        if p.count > shown {
            out.push_str(&format!("\n      … and {} more {unit}", p.count - shown));
        }
    }
    let keys = if problems
        .iter()
        .any(|p| p.kind == "orphan_foreign_key" || p.kind == "duplicate_key")
    {
        " Rows whose foreign key points nowhere, and repeated values on a unique key, must be fixed (or deleted) in the source."
    } else {
        ""
    };
    let types = if existing {
        "give a mapping rule (--mapping) that converts the column differently or excludes it, or widen the column in the target"
    } else {
        "give a mapping rule (--mapping) that gives the column a type holding its values, converts it differently or excludes it"
    };
    let again = if wrote {
        "finish with the command below"
    } else {
        "run this command again"
    };
    out.push_str(&format!(
        "\nWhat to do: fix these rows in the SQLite file; or {types}; or, to load the tables without these values, \
         set on_bad_value = \"reject\" (rows left out, written to the reject file) or \"null\" in a mapping file \
         (for text, nul = \"strip-nul\" or invalid_utf8 = \"replace-invalid\").{keys} \
         Rehearse with `ferry plan` (same source, target and flags) until it lists no problem, then {again}."
    ));
    out
}
