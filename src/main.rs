//! The `ferry` binary: parse the command line, run, and report an error once,
//! on stderr, as its whole cause chain. Exit codes are documented in `--help`
//! and the README: 0 success, 1 differences, 2 error, 130 interrupted.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = ferry::cli::Cli::parse();
    ferry::interrupt::install();
    match ferry::commands::run(cli) {
        Ok(outcome) => outcome.exit_code(),
        Err(err) => {
            if is_broken_pipe(&err) {
                return ExitCode::SUCCESS;
            }
            let mut stderr = std::io::stderr().lock();
            // Each command's error says what an interrupt left and what to
            // do next (`commands::run`, `commands::stop`).
            let _ = writeln!(stderr, "ferry: {err:#}");
            if ferry::interrupt::requested() {
                return ExitCode::from(ferry::error::EXIT_INTERRUPTED);
            }
            ExitCode::from(ferry::error::EXIT_ERROR)
        }
    }
}

/// `ferry inspect … | head` closing the pipe is not an error.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        e.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
