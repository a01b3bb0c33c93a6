//! What a run that stops says it left: the one place that describes the
//! target after an error or an interrupt (which tables committed, which are
//! empty, how the keys came back, which sequences moved) and gives the
//! command that finishes the job or undoes it. `migrate` gathers the facts
//! as it goes (`report::Facts`, kept in the report); on any error [`fail`] turns
//! them into the message on stderr and into the `stopped` object of the
//! `--json`/`--report` document, which a failing run still writes.

use crate::report::{Committed, Facts, Report, Stopped};

/// Exit code of a run that failed: 130 after Ctrl-C/SIGTERM, else 2.
pub fn exit_code() -> u8 {
    if crate::interrupt::requested() {
        crate::error::EXIT_INTERRUPTED
    } else {
        crate::error::EXIT_ERROR
    }
}

/// The run failed with `err`: describe the target's state, write the
/// `--json` document and the report files (a failing run still leaves
/// them), and return the error to print, with the state appended.
pub fn fail(
    args: &crate::cli::MigrateArgs,
    report: &mut Report,
    err: anyhow::Error,
) -> anyhow::Error {
    let stopped = describe(&report.facts);
    let mut text = format!("{err:#}");
    // A refusal before anything was written (and no earlier run to
    // continue) is its own message: the target is as it was.
    let refusal = !report.facts.wrote && !report.facts.earlier_unfinished && !crate::interrupt::requested();
    if !refusal {
        let headline = if crate::interrupt::requested() {
            "ferry migrate interrupted"
        } else {
            "ferry migrate stopped"
        };
        text = format!("{text}\n{headline}. {}", render(&stopped, report.facts.wrote));
    }
    report.error = Some(format!("{err:#}"));
    if report.sequences_moved.is_empty() {
        report.sequences_moved = report.facts.sequences.clone();
    }
    report.stopped = Some(stopped);
    report.exit_code = exit_code();
    if !args.output.quiet {
        for w in &report.warnings {
            eprintln!("warning: {w}");
        }
    }
    let mut problems = Vec::new();
    if args.output.json
        && let Err(e) = report.print_json()
    {
        problems.push(format!("writing the JSON document: {e}"));
    }
    if let Some(p) = &args.report
        && let Err(e) = report.write_json(p)
    {
        problems.push(format!("writing the report to {}: {e}", p.display()));
    }
    if let Some(p) = &args.report_html
        && let Err(e) = report.write_html(p, args.compare_with.as_deref())
    {
        problems.push(format!("writing the timeline to {}: {e}", p.display()));
    }
    for p in problems {
        text.push_str(&format!("\n(also failed: {p})"));
    }
    anyhow::anyhow!(text)
}

fn describe(f: &Facts) -> Stopped {
    let done = f
        .journal
        .as_ref()
        .map(|j| j.snapshot().done)
        .unwrap_or_default();
    let committed: Vec<Committed> = f
        .tables
        .iter()
        .filter_map(|(s, t)| {
            done.get(s).map(|rows| Committed {
                table: s.clone(),
                target: t.clone(),
                rows: *rows,
            })
        })
        .collect();
    let not_loaded = f
        .tables
        .iter()
        .filter(|(s, _)| !done.contains_key(s))
        .map(|(_, t)| t.clone())
        .collect();
    let next = if f.scratch {
        "nothing to resume: the scratch cluster is removed with the run; fix the cause and rehearse again".to_string()
    } else if !f.wrote && f.earlier_unfinished {
        let (command, _) = resume_command();
        format!("this run wrote nothing, and the earlier run into this target is still recorded: {command} continues it")
    } else if !f.wrote {
        "nothing was written to the target; fix the cause and run the same command again"
            .to_string()
    } else {
        let undo = if f.existing {
            "to start over instead, run it without --resume and with --truncate"
        } else {
            "to start over instead, drop the tables it created and run it without --resume"
        };
        let (command, hidden) = resume_command();
        let password = if hidden {
            " Give the password (not shown here) as PGPASSWORD or in a password file."
        } else {
            ""
        };
        format!(
            "to finish, fix the cause above, then run {command} (it skips the committed tables, loads the rest, validates every key, moves the sequences and verifies every table); {undo}.{password}"
        )
    };
    Stopped {
        unchanged: !f.wrote,
        committed,
        not_loaded,
        keys: f.keys.clone(),
        sequences: f.sequences.clone(),
        sequences_not_moved: f.sequences_not_moved.clone(),
        next,
    }
}

fn render(s: &Stopped, wrote: bool) -> String {
    let list = |v: &[String]| {
        v.iter()
            .map(|t| format!("{t:?}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut out = String::from("State of the target:");
    if !wrote {
        out.push_str(" unchanged.");
    } else {
        let committed: Vec<String> = s
            .committed
            .iter()
            .map(|c| format!("{:?} ({} rows)", c.target, c.rows))
            .collect();
        out.push_str(&format!(
            "\n  committed, complete: {}",
            if committed.is_empty() {
                "none".into()
            } else {
                committed.join(", ")
            }
        ));
        out.push_str(&format!(
            "\n  empty (rolled back or not started): {}",
            if s.not_loaded.is_empty() {
                "none".into()
            } else {
                list(&s.not_loaded)
            }
        ));
        for k in &s.keys {
            out.push_str(&format!("\n  keys: {k}"));
        }
        if let Some(why) = &s.sequences_not_moved {
            out.push_str(&format!(
                "\n  sequences: NOT moved past the committed rows ({why}); the run that resumes moves them"
            ));
        }
        if !s.sequences.is_empty() {
            out.push_str(&format!(
                "\n  sequences moved past the rows of: {}",
                list(&s.sequences)
            ));
        }
    }
    out.push_str(&format!("\n{}", s.next));
    out
}

/// This process's command line with `--resume` added, in backquotes, as a
/// person would type it again; a target with a password in it is replaced
/// by its display form (which never shows it): then the flag is true.
fn resume_command() -> (String, bool) {
    let mut words: Vec<String> = vec!["ferry".into()];
    let mut hidden = false;
    for a in std::env::args().skip(1) {
        let shown = match crate::postgres::Target::resolve(Some(&a)) {
            Ok(t) if has_password(&a) => {
                hidden = true;
                t.to_string()
            }
            _ => a,
        };
        words.push(shell_word(&shown));
    }
    if !words.iter().any(|w| w == "--resume") {
        words.push("--resume".into());
    }
    (format!("`{}`", words.join(" ")), hidden)
}

/// A connection string with a password in it (URL user info or keyword).
fn has_password(a: &str) -> bool {
    if let Some(rest) = a.split_once("://").map(|(_, r)| r) {
        let authority = rest.split(['/', '?']).next().unwrap_or("");
        return authority
            .rsplit_once('@')
            .is_some_and(|(user, _)| user.contains(':'))
            || rest.contains("password=");
    }
    a.contains("password=")
}

/// `s` quoted for a POSIX shell when it needs to be.
fn shell_word(s: &str) -> String {
    let plain = !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-./:@=,+%".contains(c));
    if plain {
        s.to_string()
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}
