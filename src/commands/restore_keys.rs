//! `ferry restore-keys`: put back the keys and indexes an interrupted
//! existing-mode load set aside, from the key journal it wrote first.

use crate::cli::RestoreKeysArgs;
use crate::error::Outcome;
use crate::postgres::{self, keys, Target};

/// `ferry restore-keys`: put back what an interrupted load set aside.
pub fn run(args: &RestoreKeysArgs) -> anyhow::Result<Outcome> {
    let target = Target::resolve(args.target.target.as_deref())?;
    let path = keys::journal_path(&args.state_dir, &target, &args.pg_schema);
    let Some(journal) = keys::read_journal(&path)? else {
        eprintln!("ferry: no keys set aside for {target} (schema {:?}) in {}", args.pg_schema, args.state_dir.display());
        return Ok(Outcome::Success);
    };
    let rt = postgres::runtime(1)?;
    let warnings = rt.block_on(async {
        let client = target.connect().await?;
        keys::restore(&client, &path, &journal).await
    })?;
    for w in &warnings {
        eprintln!("warning: {w}");
    }
    eprintln!("restored {} keys", journal.keys.len());
    Ok(Outcome::Success)
}
