//! `ferry migrate SRC TARGET`: introspect, plan, create, load, add keys,
//! verify, report. Everything that can be checked is checked before the
//! first row moves: the mapping, the names, and that the target has none of
//! the tables (create mode never overwrites).

use std::time::Instant;

use anyhow::{bail, Context};

use crate::cli::{MigrateArgs, SchemaMode};
use crate::error::Outcome;
use crate::mapping::file::Layers;
use crate::pipeline::{self, Options};
use crate::plan::Plan;
use crate::report::{Phase, Report};
use crate::target::{self, ddl, ident, Target};
use crate::verify::{self, Status, TableCheck};

pub fn run(args: &MigrateArgs) -> anyhow::Result<Outcome> {
    let mut report = Report::new("migrate", &args.source.source);
    let t_all = Instant::now();

    // Everything that can fail without touching the target, first.
    let layers = Layers::load(&args.mapping.mapping)?;
    let target = Target::resolve(args.target.target.as_deref())?;
    if args.schema == SchemaMode::Existing {
        bail!("--schema existing is not implemented yet; load into an empty database with --schema create");
    }
    let t0 = Instant::now();
    let (schema, plan) = super::prepare(&args.source.source, &layers, &args.mapping, &args.pg_schema)?;
    let (post_steps, post_notes) = ddl::post_data(&plan);
    super::plan_notes(&mut report, &schema, &plan);
    for n in post_notes {
        report.note(n);
    }
    report.phase(Phase::Plan, t0.elapsed());

    let opts = Options::new(args.parallel.jobs, args.parallel.writers, args.parallel.chunk_rows);
    let rt = target::runtime(2)?;

    // Pre-data: refuse to overwrite, then create every table in one transaction.
    let t0 = Instant::now();
    rt.block_on(create_tables(&target, &plan))?;
    report.phase(Phase::Schema, t0.elapsed());

    let t0 = Instant::now();
    let loads = pipeline::load(&args.source.source, &plan, &target, &opts)?;
    report.phase(Phase::Load, t0.elapsed());

    let t0 = Instant::now();
    let key_warnings = rt.block_on(post_data(&target, &post_steps))?;
    for w in key_warnings {
        report.warn(w);
    }
    report.phase(Phase::Keys, t0.elapsed());

    let t0 = Instant::now();
    let checks = rt.block_on(check_target(&target, &plan, &loads, !args.no_verify))?;
    report.phase(if args.no_verify { Phase::Count } else { Phase::Verify }, t0.elapsed());
    report.tables(&loads, &checks);
    report.total(t_all.elapsed());

    let all_ok = checks.iter().all(TableCheck::ok);
    report.finish(args.output.json, args.output.quiet, if all_ok { 0 } else { 1 })?;
    Ok(if all_ok { Outcome::Success } else { Outcome::Differences })
}

async fn create_tables(target: &Target, plan: &Plan) -> anyhow::Result<()> {
    let client = target.connect().await?;
    let names: Vec<String> = plan.tables.iter().map(|t| t.map.target.clone()).collect();
    let rows = client
        .query(
            "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE n.nspname = $1 AND c.relname = ANY($2) ORDER BY 1",
            &[&plan.pg_schema, &names],
        )
        .await
        .map_err(|e| target::Error::server("checking for existing tables", &e))?;
    if !rows.is_empty() {
        let existing: Vec<String> = rows.iter().map(|r| r.get::<_, String>(0)).collect();
        bail!(
            "the target already has {} of the tables ({}); create mode never overwrites: drop them, or load into them with --schema existing",
            existing.len(),
            existing.iter().map(|n| format!("{n:?}")).collect::<Vec<_>>().join(", ")
        );
    }
    let mut sql = String::from("BEGIN;\n");
    sql.push_str(&format!("CREATE SCHEMA IF NOT EXISTS {};\n", ident::quote(&plan.pg_schema)));
    for tp in &plan.tables {
        sql.push_str(&ddl::create_table(&plan.pg_schema, tp));
        sql.push_str(";\n");
    }
    sql.push_str("COMMIT;");
    if let Err(e) = client.batch_execute(&sql).await {
        let _ = client.batch_execute("ROLLBACK").await;
        return Err(target::Error::server("creating the tables", &e).into());
    }
    Ok(())
}

/// Keys, indexes, foreign keys, sequences. A foreign key that the source's
/// data does not satisfy (SQLite does not enforce them by default) is kept
/// `NOT VALID` (enforced for new rows) and reported, rather than failing a
/// load whose data is complete.
async fn post_data(target: &Target, steps: &[ddl::Step]) -> anyhow::Result<Vec<String>> {
    let client = target.connect().await?;
    let mut warnings = Vec::new();
    for step in steps {
        client
            .batch_execute(&step.sql)
            .await
            .map_err(|e| target::Error::server(format!("table {:?}: {:?} step", step.table, step.kind), &e))?;
        if let Some(v) = &step.validate {
            if let Err(e) = client.batch_execute(v).await {
                warnings.push(format!(
                    "table {:?}: foreign key left NOT VALID, the source has rows that break it: {}",
                    step.table,
                    target::describe(&e)
                ));
            }
        }
    }
    Ok(warnings)
}

async fn check_target(
    target: &Target,
    plan: &Plan,
    loads: &[pipeline::TableLoad],
    hash: bool,
) -> anyhow::Result<Vec<TableCheck>> {
    let client = target.connect().await?;
    let mut checks = Vec::new();
    for tp in &plan.tables {
        let load = loads.iter().find(|l| l.table == tp.source.name).context("a table was not loaded")?;
        let count = verify::target_count(&client, &plan.pg_schema, tp).await?;
        if count != load.rows || load.rows != tp.row_count {
            checks.push(TableCheck {
                table: tp.source.name.clone(),
                source_rows: tp.row_count,
                target_rows: count,
                source_hash: Some(load.hash.clone()),
                target_hash: None,
                status: Status::CountDiffers,
            });
            continue;
        }
        if hash {
            let d = verify::target_digest(&client, &plan.pg_schema, tp).await?;
            checks.push(TableCheck::compare(&tp.source.name, &load.digest, &d));
        } else {
            checks.push(TableCheck {
                table: tp.source.name.clone(),
                source_rows: load.rows,
                target_rows: count,
                source_hash: Some(load.hash.clone()),
                target_hash: None,
                status: Status::CountEqual,
            });
        }
    }
    Ok(checks)
}
