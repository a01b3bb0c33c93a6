//! `ferry verify SRC TARGET`: the checksum-only pass. Nothing is written to
//! the target. The source is read afresh through the same plan `migrate`
//! uses, the target is read back with COPY TO, and both sides are hashed
//! canonically, at the same time.

use std::time::Instant;

use crate::cli::VerifyArgs;
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::{self, Options};
use crate::report::{Phase, Report};
use crate::target::{self, Target};
use crate::verify::{self, Status, TableCheck};

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
    let rt = target::runtime(2)?;
    // Source and target sides run side by side: the target read on the
    // runtime, the source read on the reader pool.
    let target_side = rt.spawn({
        let plan = plan.clone();
        let target = target.clone();
        async move {
            let client = target.connect().await?;
            let mut out = Vec::new();
            for tp in &plan.tables {
                let count = verify::target_count(&client, &plan.pg_schema, tp).await?;
                let digest = verify::target_digest(&client, &plan.pg_schema, tp).await?;
                out.push((count, digest));
            }
            Ok::<_, anyhow::Error>(out)
        }
    });
    let opts = Options::new(None, None, 250_000);
    let source_side = pipeline::source_digests(&args.source.source, &plan, &opts)?;
    let target_side = rt.block_on(target_side)??;
    let mut checks = Vec::new();
    for ((tp, src), (count, tgt)) in plan.tables.iter().zip(&source_side).zip(&target_side) {
        // Counts first: a count mismatch is the headline, whatever the hashes.
        let mut c = TableCheck::compare(&tp.source.name, src, tgt);
        if *count != src.rows {
            c.status = Status::CountDiffers;
            c.target_rows = *count;
        }
        checks.push(c);
    }
    report.phase(Phase::Verify, t0.elapsed());
    report.tables(&[], &checks);
    report.total(t_all.elapsed());
    let all_ok = checks.iter().all(TableCheck::ok);
    report.finish(args.output.json, args.output.quiet, if all_ok { 0 } else { 1 })?;
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}
