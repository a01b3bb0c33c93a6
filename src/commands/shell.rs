//! `ferry completions SHELL` and `ferry man [COMMAND]`: the completion script
//! and the manual page, generated from the same clap definitions as `--help`,
//! so they cannot drift from the flags ferry actually takes.

use std::io::Write;

use anyhow::{Context, bail};
use clap::CommandFactory;

use crate::cli::Cli;
use crate::error::Outcome;

/// Writes the completion script for `shell` to stdout.
pub fn completions(shell: clap_complete::Shell) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    let mut out = std::io::stdout().lock();
    clap_complete::generate(shell, &mut command, "ferry", &mut out);
    out.flush()
        .context("cannot write the completion script to stdout")?;
    Ok(Outcome::Success)
}

/// Writes ferry's man page (section 1), or the page of one subcommand
/// (`ferry-migrate(1)`), to stdout as roff.
pub fn man(subcommand: Option<&str>) -> anyhow::Result<Outcome> {
    let mut command = Cli::command();
    command.build();
    let page = match subcommand {
        None => command,
        Some(name) => {
            let Some(sub) = command.find_subcommand(name) else {
                let known: Vec<&str> = command.get_subcommands().map(|c| c.get_name()).collect();
                bail!(
                    "no command `{name}` to print a man page for; ferry's commands: {}",
                    known.join(", ")
                );
            };
            // The page is named ferry-<command>, as git and cargo name theirs.
            // clap takes a static name; the process prints one page and exits.
            let name: &'static str =
                Box::leak(format!("ferry-{}", sub.get_name()).into_boxed_str());
            sub.clone().name(name)
        }
    };
    let mut roff = Vec::new();
    clap_mangen::Man::new(page)
        .render(&mut roff)
        .context("cannot render the man page")?;
    let mut out = std::io::stdout().lock();
    out.write_all(&roff)
        .and_then(|()| out.flush())
        .context("cannot write the man page to stdout")?;
    Ok(Outcome::Success)
}
