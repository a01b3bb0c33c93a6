//! `ferry verify SRC TARGET`: the checksum-only pass. Nothing is written to
//! the target. The source is read afresh through the same plan `migrate`
//! uses, the target is read back with COPY TO on a few connections, and both
//! sides are hashed canonically, at the same time. Tables that differ are
//! then localized: the rows that differ are named by key (`--max-diffs`).

use std::time::Instant;

use crate::cli::VerifyArgs;
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::{self, Options};
use crate::report::{Phase, Report};
use crate::target::{self, Target};
use crate::verify::{self, localize, TableCheck};

pub fn run(args: &VerifyArgs) -> anyhow::Result<Outcome> {
    let mut report = Report::new("verify", &args.source.source);
    let t_all = Instant::now();
    let layers = Layers::load(&args.mapping.mapping)?;
    let target = Target::resolve(args.target.target.as_deref())?;
    let t0 = Instant::now();
    let (schema, plan) = super::prepare(&args.source.source, &layers, &args.mapping, &args.pg_schema)?;
    super::plan_notes(&mut report, &schema, &plan);
    report.phase(Phase::Plan, t0.elapsed());

    let t0 = Instant::now();
    let connections = verify::READ_CONNECTIONS.min(plan.tables.len()).max(1);
    let rt = target::runtime(connections + 1)?;
    // Source and target sides run side by side: the target read on the
    // runtime (several tables at once), the source read on the reader pool.
    let target_side = rt.spawn({
        let (tables, target, schema) = (plan.tables.clone(), target.clone(), plan.pg_schema.clone());
        async move { verify::target_digests(&target, &schema, &tables, connections).await }
    });
    let opts = Options::new(None, None, 250_000);
    let source_side = pipeline::source_digests(&args.source.source, &plan, &opts);
    let target_side = match rt.block_on(target_side) {
        Ok(r) => r,
        Err(join) => std::panic::resume_unwind(join.into_panic()),
    };
    let (source_side, target_side) = (source_side?, target_side?);
    // Counts first: `compare` makes a count mismatch the table's status,
    // whatever the hashes say, and the target's count is the rows read.
    let mut checks: Vec<TableCheck> = plan
        .tables
        .iter()
        .zip(&source_side)
        .zip(&target_side)
        .map(|((tp, src), tgt)| TableCheck::compare(&tp.source.name, src, tgt))
        .collect();
    if checks.iter().any(|c| !c.ok()) {
        rt.block_on(async {
            let client = target.connect().await?;
            for (tp, c) in plan.tables.iter().zip(checks.iter_mut()) {
                localize::localize(&client, &args.source.source, &plan.pg_schema, tp, c, args.max_diffs).await?;
            }
            Ok::<_, anyhow::Error>(())
        })?;
    }
    report.phase(Phase::Verify, t0.elapsed());
    report.tables(&[], &checks);
    report.total(t_all.elapsed());
    let all_ok = checks.iter().all(TableCheck::ok);
    report.finish(args.output.json, args.output.quiet, if all_ok { 0 } else { 1 })?;
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}
