//! The end-of-run report: a table for people on stderr, one JSON document
//! for machines on stdout with `--json`. Both come from the same struct so
//! they cannot disagree.

use std::io::Write;
use std::path::Path;
use std::time::Duration;

use serde::Serialize;

use crate::pipeline::TableLoad;
use crate::verify::{Status, TableCheck};

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
}

#[derive(Debug, Serialize)]
pub struct Report {
    pub command: String,
    pub source: String,
    pub phases: Vec<(Phase, f64)>,
    pub tables: Vec<TableRow>,
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    pub seconds: f64,
    pub exit_code: u8,
}

impl Report {
    pub fn new(command: &str, source: &Path) -> Report {
        Report {
            command: command.into(),
            source: source.display().to_string(),
            phases: Vec::new(),
            tables: Vec::new(),
            notes: Vec::new(),
            warnings: Vec::new(),
            seconds: 0.0,
            exit_code: 0,
        }
    }

    pub fn phase(&mut self, p: Phase, d: Duration) {
        self.phases.push((p, d.as_secs_f64()));
    }

    pub fn note(&mut self, n: String) {
        self.notes.push(n);
    }

    pub fn warn(&mut self, w: String) {
        self.warnings.push(w);
    }

    pub fn total(&mut self, d: Duration) {
        self.seconds = d.as_secs_f64();
    }

    pub fn tables(&mut self, loads: &[TableLoad], checks: &[TableCheck]) {
        for c in checks {
            let load = loads.iter().find(|l| l.table == c.table);
            let (rows, bytes, seconds, target) = load
                .map(|l| (l.rows, l.bytes, l.seconds, l.target.clone()))
                .unwrap_or((c.source_rows, 0, 0.0, c.table.clone()));
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
            let mut out = std::io::stdout().lock();
            serde_json::to_writer_pretty(&mut out, &self)?;
            writeln!(out)?;
        }
        Ok(())
    }

    pub fn render_text(&self) -> String {
        let mut s = String::new();
        let w = self.tables.iter().map(|t| t.table.chars().count()).max().unwrap_or(5).clamp(5, 40);
        s.push_str(&format!(
            "{:<w$}  {:>10}  {:>10}  {:>8}  {:>10}  {}\n",
            "table", "rows", "MB", "seconds", "rows/s", "verified"
        ));
        for t in &self.tables {
            let status = match t.status {
                Status::Equal => "ok (count + hash)".to_string(),
                Status::CountEqual => "ok (count only)".to_string(),
                Status::CountDiffers => format!("COUNT DIFFERS: source {} target {}", t.source_rows, t.target_rows),
                Status::ContentDiffers => "CONTENT DIFFERS".to_string(),
            };
            let name: String = t.table.chars().take(w).collect();
            s.push_str(&format!(
                "{:<w$}  {:>10}  {:>10.1}  {:>8.2}  {:>10.0}  {}\n",
                name,
                t.rows,
                t.bytes as f64 / 1e6,
                t.seconds,
                t.rows_per_second,
                status
            ));
        }
        let phases: Vec<String> = self.phases.iter().map(|(p, d)| format!("{p:?} {d:.2}s").to_lowercase()).collect();
        s.push_str(&format!("phases: {}; total {:.2}s\n", phases.join(", "), self.seconds));
        for n in &self.notes {
            s.push_str(&format!("note: {n}\n"));
        }
        for w in &self.warnings {
            s.push_str(&format!("warning: {w}\n"));
        }
        let bad = self.tables.iter().filter(|t| !matches!(t.status, Status::Equal | Status::CountEqual)).count();
        if bad == 0 {
            s.push_str(&format!("{} tables migrated and verified\n", self.tables.len()));
        } else {
            s.push_str(&format!("{bad} of {} tables differ\n", self.tables.len()));
        }
        s
    }
}
