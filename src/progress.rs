//! Progress on stderr: one bar per table being loaded (rows, rows/s, ETA)
//! and one overall bar, through indicatif's `MultiProgress` so that log
//! lines printed with [`Progress::println`] do not tear the bars.
//!
//! Hidden when stderr is not a terminal, with `-q`, or with `--json`
//! (machines read stdout; a terminal full of bars helps nobody there).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

#[derive(Clone)]
pub struct Progress {
    multi: MultiProgress,
    overall: ProgressBar,
}

impl std::fmt::Debug for Progress {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Progress")
    }
}

impl Progress {
    /// `None` when bars should not be drawn. `FERRY_PROGRESS=always` draws
    /// them even when stderr is not a terminal (used by the tests).
    pub fn new(total_rows: u64, quiet: bool, json: bool) -> Option<Progress> {
        let forced = std::env::var("FERRY_PROGRESS").is_ok_and(|v| v == "always");
        if quiet || json || !(forced || std::io::stderr().is_terminal()) {
            return None;
        }
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(8));
        let overall = multi.add(ProgressBar::new(total_rows));
        overall.set_style(style());
        overall.set_prefix("all tables");
        overall.enable_steady_tick(Duration::from_millis(250));
        Some(Progress { multi, overall })
    }

    /// A bar for one table, removed when the table finishes.
    pub fn table(&self, name: &str, rows: u64) -> TableBar {
        let bar = self.multi.insert_before(&self.overall, ProgressBar::new(rows));
        bar.set_style(style());
        let shown: String = name.chars().take(16).collect();
        bar.set_prefix(shown);
        TableBar { bar, overall: self.overall.clone(), counted: AtomicU64::new(0), kept: false }
    }

    /// Print a line above the bars.
    pub fn println(&self, line: &str) {
        let _ = self.multi.println(line);
    }

    pub fn finish(&self) {
        self.overall.finish_and_clear();
        let _ = self.multi.clear();
    }
}

/// `  studylog [=====>     ] 412,000/1,000,000 rows  261,000 rows/s  eta 2s`
fn style() -> ProgressStyle {
    ProgressStyle::with_template("{prefix:>16} [{bar:24}] {human_pos}/{human_len} rows  {rate}  eta {eta}")
        .expect("valid template")
        .with_key("rate", |s: &indicatif::ProgressState, w: &mut dyn std::fmt::Write| {
            let _ = write!(w, "{:.0} rows/s", s.per_sec());
        })
        .progress_chars("=> ")
}

/// A table's bar. Its rows count in the overall bar only once the table's
/// load has succeeded ([`TableBar::loaded`]); a bar dropped without it (the
/// table rolled back: an error, or create mode going back to widen a
/// column) takes its rows out of the overall bar again, so that a table
/// loaded a second time is not counted twice.
pub struct TableBar {
    bar: ProgressBar,
    overall: ProgressBar,
    counted: AtomicU64,
    kept: bool,
}

impl TableBar {
    pub fn inc(&self, rows: u64) {
        self.bar.inc(rows);
        self.overall.inc(rows);
        self.counted.fetch_add(rows, Ordering::Relaxed);
    }

    /// The table's rows are in the target: they stay counted.
    pub fn loaded(mut self) {
        self.kept = true;
    }
}

impl Drop for TableBar {
    fn drop(&mut self) {
        if !self.kept {
            self.overall.dec(self.counted.load(Ordering::Relaxed));
        }
        self.bar.finish_and_clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue 17: a table's rate and ETA count from when its load starts,
    /// not from the start of the run (a table that waited behind others
    /// would otherwise show a rate far below its real one).
    #[test]
    fn a_tables_rate_counts_from_its_own_start() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let overall = multi.add(ProgressBar::new(2_000_000));
        let p = Progress { multi, overall };
        std::thread::sleep(Duration::from_millis(600)); // other tables load
        let t = p.table("late", 1_000_000);
        std::thread::sleep(Duration::from_millis(100));
        t.inc(100_000);
        assert!(t.bar.elapsed() < Duration::from_millis(500), "elapsed {:?}", t.bar.elapsed());
        // 100,000 rows in about 0.1 s: far above the 100,000 / 0.7 s a
        // run-start clock would give.
        assert!(t.bar.per_sec() > 300_000.0, "{} rows/s", t.bar.per_sec());
        assert!(t.bar.eta() < Duration::from_secs(6), "eta {:?}", t.bar.eta());
    }

    #[test]
    fn rolled_back_tables_leave_the_overall_count() {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::hidden());
        let overall = multi.add(ProgressBar::new(300));
        let p = Progress { multi, overall };
        // Loaded, then rolled back (an error, or create mode widening).
        let first = p.table("t", 200);
        first.inc(120);
        assert_eq!(p.overall.position(), 120);
        drop(first);
        assert_eq!(p.overall.position(), 0, "the rolled-back rows are taken out");
        // Loaded again, and committed; another table committed.
        let again = p.table("t", 200);
        again.inc(150);
        again.inc(50);
        again.loaded();
        let other = p.table("u", 100);
        other.inc(100);
        other.loaded();
        assert_eq!(p.overall.position(), 300, "each row once");
    }
}
