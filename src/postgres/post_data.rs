//! Running the post-data steps (primary keys, unique constraints, indexes,
//! foreign keys, sequences) on several sessions at once. Which steps, and
//! their SQL, the plan decides (`plan::post_data`); set-aside keys put back
//! in existing mode run through here too (`keys::missing_steps`).

use super::ddl::{Step, StepKind};
use super::{describe, Error, Target};

/// Keys, indexes, foreign keys, sequences. A foreign key that the source's
/// data does not satisfy (SQLite does not enforce them by default) is kept
/// `NOT VALID` (enforced for new rows) and reported, rather than failing a
/// load whose data is complete.
///
/// Index builds and foreign-key validations run on `connections` sessions
/// at once, one table per session at a time (two builds on one table would
/// only queue on its lock): keys, then foreign keys added `NOT VALID` (cheap,
/// one session), then validated in parallel, then sequences.
pub async fn execute(
    target: &Target,
    steps: &[Step],
    resuming: bool,
    connections: usize,
) -> anyhow::Result<Vec<String>> {
    use std::collections::VecDeque;
    use tokio::sync::Mutex;

    let mut clients: Vec<std::sync::Arc<tokio_postgres::Client>> = Vec::new();
    for _ in 0..connections.max(1) {
        clients.push(std::sync::Arc::new(target.connect().await?));
    }

    // 1. Keys and indexes, a table per session.
    let mut by_table: Vec<Vec<Step>> = Vec::new();
    for st in steps.iter().filter(|s| !matches!(s.kind, StepKind::ForeignKey | StepKind::Sequence)) {
        match by_table.iter_mut().find(|g| g[0].table == st.table) {
            Some(g) => g.push(st.clone()),
            None => by_table.push(vec![st.clone()]),
        }
    }
    let queue = std::sync::Arc::new(Mutex::new(VecDeque::from(by_table)));
    let mut tasks = Vec::new();
    for c in &clients {
        let (queue, c) = (queue.clone(), c.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(group) = queue.lock().await.pop_front() else { return Ok::<_, Error>(()) };
                for st in group {
                    run_step(&c, &st, resuming).await?;
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow::anyhow!("an index build task failed: {e}"))??;
    }

    // 2. Foreign keys: added NOT VALID on one session, then validated in
    // parallel, one child table per session at a time.
    let fks: Vec<&Step> = steps.iter().filter(|s| s.kind == StepKind::ForeignKey).collect();
    for st in &fks {
        run_step(&clients[0], st, resuming).await?;
    }
    let mut validations: Vec<Vec<(String, String)>> = Vec::new();
    for st in &fks {
        if let Some(v) = &st.validate {
            match validations.iter_mut().find(|g| g[0].0 == st.table) {
                Some(g) => g.push((st.table.clone(), v.clone())),
                None => validations.push(vec![(st.table.clone(), v.clone())]),
            }
        }
    }
    let queue = std::sync::Arc::new(Mutex::new(VecDeque::from(validations)));
    let warnings = std::sync::Arc::new(Mutex::new(Vec::new()));
    let mut tasks = Vec::new();
    for c in &clients {
        let (queue, c, warnings) = (queue.clone(), c.clone(), warnings.clone());
        tasks.push(tokio::spawn(async move {
            loop {
                let Some(group) = queue.lock().await.pop_front() else { return };
                for (table, sql) in group {
                    if let Err(e) = c.batch_execute(&sql).await {
                        warnings.lock().await.push(format!(
                            "table {table:?}: foreign key left NOT VALID, the source has rows that break it: {}",
                            describe(&e)
                        ));
                    }
                }
            }
        }));
    }
    for t in tasks {
        t.await.map_err(|e| anyhow::anyhow!("a foreign-key validation task failed: {e}"))?;
    }

    // 3. Sequences.
    for st in steps.iter().filter(|s| s.kind == StepKind::Sequence) {
        run_step(&clients[0], st, resuming).await?;
    }
    let w = warnings.lock().await.clone();
    Ok(w)
}

async fn run_step(client: &tokio_postgres::Client, step: &Step, resuming: bool) -> Result<(), Error> {
    if let Err(e) = client.batch_execute(&step.sql).await {
        // A resumed run may find a key its predecessor already made.
        let code = e.code().map(|c| c.code().to_string()).unwrap_or_default();
        let already = matches!(code.as_str(), "42P07" | "42710" | "42P16");
        if !(resuming && already) {
            return Err(Error::server(format!("table {:?}: {:?} step", step.table, step.kind), &e));
        }
    }
    Ok(())
}
