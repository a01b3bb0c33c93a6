//! The end-of-run report: a table for people on stderr, one JSON document
//! for machines on stdout with `--json`. Both come from the same struct so
//! they cannot disagree.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::pipeline::TableLoad;
use crate::verify::{Difference, Status, TableCheck};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    Plan,
    Schema,
    Load,
    Keys,
    Count,
    Verify,
}

#[derive(Debug, Serialize)]
pub struct TableRow {
    pub table: String,
    pub target: String,
    pub rows: u64,
    pub bytes: u64,
    pub seconds: f64,
    pub rows_per_second: f64,
    pub source_rows: u64,
    pub target_rows: u64,
    pub hash: Option<String>,
    pub status: Status,
    /// Which connection loaded it, and when (seconds from the load's start).
    pub writer: usize,
    pub started_at: f64,
    /// Rows rejected, values NULLed, values altered (strip-nul,
    /// replace-invalid) by the bad-value policies.
    pub rejected: u64,
    pub nulled: u64,
    pub altered: u64,
    /// Values rounded to `real` (float4) as PostgreSQL's assignment cast
    /// rounds them, and the largest relative change |stored − source| /
    /// |source| among them (0 when none).
    pub rounded: u64,
    pub max_relative_change: f64,
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub source: String,
    pub phases: Vec<(Phase, f64)>,
    pub tables: Vec<TableRow>,
    /// Rows that differ, by key, for tables that did not verify.
    pub differences: Vec<Difference>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// Date/time readings chosen from the data (each also a warning).
    pub readings: Vec<ReadingNote>,
    pub seconds: f64,
    pub exit_code: u8,
    /// Why the run stopped (exit 2 or 130).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// What a stopped run left in the target (`commands::stop`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stopped: Option<Stopped>,
    /// A refusal, or a stop at a bad value: every problem of the tables not
    /// committed, as `ferry plan` lists them (the dry run, run only then).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<crate::pipeline::dry_run::Problem>,
    /// Keys set aside before an existing-schema load and put back, each
    /// with how it came back. Empty in create mode (keys are created after
    /// the load, not set aside) and with `--keep-keys`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub keys_restored: Vec<KeyRestored>,
    /// Target tables whose identity/serial sequences were moved past their
    /// rows (and past `sqlite_sequence`), so the next insert takes a new key.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub sequences_moved: Vec<String>,
    /// The facts a stop describes, gathered as the run goes.
    #[serde(skip)]
    pub facts: Facts,
}

/// One key set aside for the load and put back (`keys_restored`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KeyRestored {
    /// Target table the key is on.
    pub table: String,
    pub name: String,
    /// `foreign_key` or `index`.
    pub kind: String,
    /// How it came back: `validated` (a foreign key checked against every
    /// row), `not_valid` (a foreign key back `NOT VALID`: rows point at rows
    /// not loaded), `rebuilt` (an index), `not_restored` (still missing;
    /// `ferry restore-keys` or the next run puts it back).
    pub state: String,
}

/// A column whose date/time numbers are read as the data suggested, not as
/// a mapping rule said (`mapping::reading`).
#[derive(Debug, Clone, Serialize)]
pub struct ReadingNote {
    pub table: String,
    pub column: String,
    #[serde(flatten)]
    pub reading: crate::mapping::reading::Reading,
}

impl ReadingNote {
    /// Every reading the plan's columns carry, in plan order.
    pub fn of_plan(plan: &crate::plan::Plan) -> Vec<ReadingNote> {
        let mut out = Vec::new();
        for tp in &plan.tables {
            for c in &tp.map.columns {
                if let Some(r) = &c.reading {
                    out.push(ReadingNote { table: tp.source.name.clone(), column: c.source.clone(), reading: r.clone() });
                }
            }
        }
        out
    }

    pub fn warning(&self) -> String {
        crate::mapping::reading::warning(&self.table, &self.column, &self.reading)
    }
}

impl Report {
    pub fn new(command: &str, source: &Path) -> Report {
        Report {
            command: command.into(),
            source: source.display().to_string(),
            phases: Vec::new(),
            tables: Vec::new(),
            differences: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            readings: Vec::new(),
            seconds: 0.0,
            exit_code: 0,
            error: None,
            stopped: None,
            problems: Vec::new(),
            keys_restored: Vec::new(),
            sequences_moved: Vec::new(),
            facts: Default::default(),
        }
    }

    /// Time spent in a phase; a phase entered twice adds up in one entry.
    pub fn phase(&mut self, p: Phase, d: Duration) {
        match self.phases.iter_mut().find(|(q, _)| *q == p) {
            Some((_, s)) => *s += d.as_secs_f64(),
            None => self.phases.push((p, d.as_secs_f64())),
        }
    }

    pub fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    pub fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    /// The readings the data chose for `plan`'s columns, as warnings and
    /// in `readings` (once per column, however often called).
    pub fn readings(&mut self, plan: &crate::plan::Plan) {
        for r in ReadingNote::of_plan(plan) {
            if !self.readings.iter().any(|x| x.table == r.table && x.column == r.column) {
                self.warnings.push(r.warning());
                self.readings.push(r);
            }
        }
    }

    pub fn total(&mut self, d: Duration) {
        self.seconds = d.as_secs_f64();
    }

    pub fn tables(&mut self, loads: &[TableLoad], checks: &[TableCheck]) {
        for c in checks {
            self.differences.extend(c.differences.iter().cloned());
            if c.more_differences {
                self.warnings.push(format!(
                    "table {:?}: more rows differ than the {} listed (--max-diffs)",
                    c.table,
                    c.differences.len()
                ));
            }
            if let Some(why) = &c.unlocated {
                self.warnings.push(format!("table {:?}: {why}", c.table));
            }
            let load = loads.iter().find(|l| l.table == c.table);
            let (rows, bytes, seconds, target) = load
                .map(|l| (l.rows, l.bytes, l.seconds, l.target.clone()))
                .unwrap_or((c.source_rows, 0, 0.0, c.table.clone()));
            let (writer, started_at) = load.map(|l| (l.writer, l.started_at)).unwrap_or((0, 0.0));
            let bad = load.map(|l| l.bad).unwrap_or_default();
            self.tables.push(TableRow {
                table: c.table.clone(),
                target,
                rows,
                bytes,
                seconds,
                rows_per_second: if seconds > 0.0 { rows as f64 / seconds } else { 0.0 },
                source_rows: c.source_rows,
                target_rows: c.target_rows,
                hash: c.source_hash.clone(),
                status: c.status,
                writer,
                started_at,
                rejected: bad.rejected,
                nulled: bad.nulled,
                altered: bad.altered,
                rounded: bad.rounded,
                max_relative_change: bad.max_rounding,
            });
        }
    }

    /// Print the summary on stderr (unless quiet) and the JSON on stdout.
    pub fn finish(&mut self, json: bool, quiet: bool, exit_code: u8) -> std::io::Result<()> {
        self.exit_code = exit_code;
        if !quiet {
            let mut err = std::io::stderr().lock();
            writeln!(err, "{}", self.render_text())?;
        }
        if json {
            self.print_json()?;
        }
        Ok(())
    }

    /// `--json`: the document on stdout.
    pub fn print_json(&self) -> std::io::Result<()> {
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &self)?;
        writeln!(out)
    }

    /// `--report FILE`: the same JSON document as `--json`.
    pub fn write_json(&self, path: &Path) -> std::io::Result<()> {
        let mut f = std::fs::File::create(path)?;
        serde_json::to_writer_pretty(&mut f, self)?;
        writeln!(f)
    }

    /// `--report-html FILE`: the page for a change board
    /// (`report_html`), with the rehearsal's plan (`--compare-with`) when
    /// given.
    pub fn write_html(&self, path: &Path, compare_with: Option<&Path>) -> anyhow::Result<()> {
        use anyhow::Context;
        let compare = match compare_with {
            Some(p) => {
                let text = std::fs::read_to_string(p).with_context(|| format!("cannot read the plan {}", p.display()))?;
                let plan: serde_json::Value = serde_json::from_str(&text)
                    .with_context(|| format!("{} is not the JSON of `ferry plan --json`", p.display()))?;
                Some(plan)
            }
            None => None,
        };
        let doc = serde_json::to_value(self)?;
        // A run that stopped says so first, with the state it left.
        let kind = if self.error.is_some() { crate::report_html::Kind::Failed } else { crate::report_html::Kind::Run };
        let html = crate::report_html::render(kind, &doc, compare.as_ref());
        std::fs::write(path, html).with_context(|| format!("cannot write {}", path.display()))
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let w = self.tables.iter().map(|t| t.table.chars().count()).max().unwrap_or(5).clamp(5, 40);
        // `verify` moves nothing: no size, time or rate per table.
        let moved = self.command != "verify";
        if moved {
            s.push_str(&format!(
                "{:<w$}  {:>10}  {:>10}  {:>8}  {:>10}  {:<12}  {}\n",
                "table", "rows", "MB", "seconds", "rows/s", "hash", "verified"
            ));
        } else {
            s.push_str(&format!("{:<w$}  {:>10}  {:<12}  {}\n", "table", "rows", "hash", "verified"));
        }
        for t in &self.tables {
            let status = match t.status {
                Status::Equal => "ok (count + hash)".to_string(),
                Status::CountEqual => "ok (count only)".to_string(),
                Status::CountDiffers => format!("COUNT DIFFERS: source {} target {}", t.source_rows, t.target_rows),
                Status::ContentDiffers => "CONTENT DIFFERS".to_string(),
                Status::SameRevisions => "ok (same revisions; not loaded)".to_string(),
                Status::RevisionsDiffer => format!("REVISIONS DIFFER: source {} target {}", t.source_rows, t.target_rows),
                Status::Kept => "kept the target's rows".to_string(),
            };
            let mut status = status;
            for (n, what) in
                [(t.rejected, "rejected"), (t.nulled, "NULLed"), (t.altered, "altered"), (t.rounded, "rounded to real")]
            {
                if n > 0 {
                    status.push_str(&format!(", {n} {what}"));
                }
            }
            let name = fit_name(&t.table, w);
            // The first 12 hex digits; the whole hash is in --json.
            let hash = t.hash.as_deref().map_or("-", |h| &h[..h.len().min(12)]);
            if !moved {
                s.push_str(&format!("{name:<w$}  {:>10}  {hash:<12}  {status}\n", t.rows));
                continue;
            }
            s.push_str(&format!(
                "{:<w$}  {:>10}  {:>10.1}  {:>8.2}  {:>10.0}  {:<12}  {}\n",
                name,
                t.rows,
                t.bytes as f64 / 1e6,
                t.seconds,
                t.rows_per_second,
                hash,
                status
            ));
        }
        for d in &self.differences {
            s.push_str(&format!("differs: {d}\n"));
        }
        let phases: Vec<String> = self.phases.iter().map(|(p, d)| format!("{p:?} {d:.2}s").to_lowercase()).collect();
        s.push_str(&format!("phases: {}; total {:.2}s\n", phases.join(", "), self.seconds));
        if !self.keys_restored.is_empty() {
            s.push_str(&format!("keys: {}\n", keys_line(&self.keys_restored)));
        }
        if !self.sequences_moved.is_empty() {
            s.push_str(&format!("sequences moved past the rows of: {}\n", self.sequences_moved.join(", ")));
        }
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        let bad = self.tables.iter().filter(|t| !matches!(t.status, Status::Equal | Status::CountEqual | Status::SameRevisions | Status::Kept)).count();
        if bad == 0 {
            let done = if moved { "migrated and verified" } else { "verified: source and target are equal" };
            s.push_str(&format!("{} tables {done}\n", self.tables.len()));
        } else {
            s.push_str(&format!("{bad} of {} tables differ\n", self.tables.len()));
        }
        s
    }
}

/// Facts about the target that a stop must tell, gathered during the run.
#[derive(Debug, Default)]
pub struct Facts {
    /// Planned tables: (source name, target name).
    pub tables: Vec<(String, String)>,
    /// The run journal, once the run has one (committed tables and rows).
    pub journal: Option<std::sync::Arc<crate::journal::Writer>>,
    /// The run changed the target (created, truncated, set keys aside,
    /// loaded): until then a stop leaves the target as it was.
    pub wrote: bool,
    /// What happened to keys (set aside, restored, left `NOT VALID`).
    pub keys: Vec<String>,
    /// Tables whose sequences were moved past their rows.
    pub sequences: Vec<String>,
    /// Why the committed tables' sequences could not be moved (the
    /// server's error), when that failed.
    pub sequences_not_moved: Option<String>,
    /// The target is a scratch cluster, removed when the run ends.
    pub scratch: bool,
    /// Existing mode (the undo is `--truncate`, not dropping tables).
    pub existing: bool,
    /// An earlier run into this target did not finish (`--resume` exists).
    pub earlier_unfinished: bool,
    /// Foreign keys valid before an existing-schema load that the loaded
    /// rows break (left `NOT VALID`): the run does not report success.
    pub broken_keys: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Committed {
    pub table: String,
    pub target: String,
    pub rows: u64,
}

/// The state a stopped run left, in the report (`stopped`).
#[derive(Debug, Clone, Serialize)]
pub struct Stopped {
    /// The run wrote nothing: the target is as it was before it.
    pub unchanged: bool,
    /// Tables whose load committed (complete; verified by the next run).
    pub committed: Vec<Committed>,
    /// Tables left empty: rolled back or never started.
    pub not_loaded: Vec<String>,
    pub keys: Vec<String>,
    pub sequences: Vec<String>,
    /// Moving the committed tables' sequences failed, and why (the run
    /// that resumes moves them).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sequences_not_moved: Option<String>,
    /// The command that finishes the job, or what else to do.
    pub next: String,
}

/// The keys set aside and restored, in one line: how many, and each one
/// that did not come back validated or rebuilt, by name.
pub fn keys_line(keys: &[KeyRestored]) -> String {
    let n = |state: &str| keys.iter().filter(|k| k.state == state).count();
    let mut s = format!(
        "{} set aside and restored ({} foreign key(s) validated, {} index(es) rebuilt",
        keys.len(),
        n("validated"),
        n("rebuilt")
    );
    for (state, what) in [("not_valid", "NOT VALID"), ("not_restored", "not restored")] {
        let names: Vec<String> = keys.iter().filter(|k| k.state == state).map(|k| format!("{}.{}", k.table, k.name)).collect();
        if !names.is_empty() {
            s.push_str(&format!("; {what}: {}", names.join(", ")));
        }
    }
    s.push(')');
    s
}

/// A table name cut to `w` characters for the summary's column; a cut name
/// ends in `…`, so that it is not taken for another table's whole name.
fn fit_name(name: &str, w: usize) -> String {
    if name.chars().count() <= w {
        return name.to_string();
    }
    let mut cut: String = name.chars().take(w.saturating_sub(1)).collect();
    cut.push('…');
    cut
}


#[cfg(test)]
mod tests {
    use super::fit_name;

    #[test]
    fn a_cut_name_ends_in_an_ellipsis() {
        assert_eq!(fit_name("short", 40), "short");
        let long = "a".repeat(39) + "bcd";
        let cut = fit_name(&long, 40);
        assert_eq!(cut.chars().count(), 40);
        assert!(cut.ends_with("a…"), "{cut}");
        assert_eq!(fit_name(&"x".repeat(40), 40), "x".repeat(40), "exactly 40 is not cut");
    }
}
