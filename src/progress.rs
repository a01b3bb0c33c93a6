//! Progress on stderr: one bar per table being loaded (rows, rows/s, ETA)
//! and one overall bar, through indicatif's `MultiProgress` so that log
//! lines printed with [`Progress::println`] do not tear the bars.
//!
//! Hidden when stderr is not a terminal, with `-q`, or with `--json`
//! (machines read stdout; a terminal full of bars helps nobody there).

use std::io::IsTerminal;
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
        TableBar { bar, overall: self.overall.clone() }
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

pub struct TableBar {
    bar: ProgressBar,
    overall: ProgressBar,
}

impl TableBar {
    pub fn inc(&self, rows: u64) {
        self.bar.inc(rows);
        self.overall.inc(rows);
    }
}

impl Drop for TableBar {
    fn drop(&mut self) {
        self.bar.finish_and_clear();
    }
}
