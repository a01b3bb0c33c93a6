//! What makes `migrate` refuse to start, found the same way by `plan`
//! (issue 17: whatever `migrate` would refuse, `plan` reports as a problem).
//! Each refusal is a [`Misfit`] naming the table; `migrate` stops with the
//! whole list before it writes anything, `plan` lists them and exits 1.

use std::collections::BTreeMap;
use std::path::Path;

use crate::plan::Plan;
use crate::plan::existing::Misfit;
use crate::postgres::catalog::Catalog;

/// The run's choices that decide refusals.
pub struct Asked {
    pub truncate: bool,
    pub keep_keys: bool,
    /// An earlier run into this target did not finish (`--resume` exists).
    pub earlier_unfinished: bool,
}

/// Existing mode: tables that hold rows (without `--truncate`), foreign
/// keys onto tables this run does not load that are empty in the target
/// while the loaded rows point at them, and (keys kept in place)
/// foreign-key cycles that are not deferrable. `done`: tables an earlier
/// run committed (a resumed run skips them).
pub fn existing(
    source: &Path,
    plan: &Plan,
    catalog: &Catalog,
    done: &BTreeMap<String, u64>,
    asked: &Asked,
) -> anyhow::Result<Vec<Misfit>> {
    let mut out = Vec::new();
    let refuse = |table: &str, problem: String| Misfit {
        table: table.to_string(),
        column: None,
        problem,
    };
    if !asked.truncate {
        let resume = if asked.earlier_unfinished {
            "an earlier run into this target did not finish: add --resume to continue it, or give --truncate to empty it"
        } else {
            "give --truncate to empty it first"
        };
        for tp in plan
            .tables
            .iter()
            .filter(|t| !done.contains_key(&t.source.name))
        {
            if catalog
                .tables
                .get(&tp.map.target)
                .is_some_and(|c| c.has_rows)
            {
                out.push(refuse(
                    &tp.source.name,
                    format!(
                        "target table {:?} already holds rows; ferry never appends: {resume}",
                        tp.map.target
                    ),
                ));
            }
        }
    }
    out.extend(unloaded_parents(source, plan, catalog)?);
    let owned = plan
        .tables
        .iter()
        .all(|t| catalog.tables.get(&t.map.target).is_some_and(|c| c.owned));
    if (asked.keep_keys || !owned)
        && let Err(e) = crate::plan::existing::keys_in_place(plan.clone(), catalog)
    {
        out.push(refuse("*", format!("{e:#}")));
    }
    Ok(out)
}

/// Create mode: the target must not have any of the tables.
pub fn create(plan: &Plan, catalog: &Catalog) -> Vec<Misfit> {
    plan.tables
        .iter()
        .filter(|t| catalog.find(&t.map.target).is_some())
        .map(|t| Misfit {
            table: t.source.name.clone(),
            column: None,
            problem: format!(
                "the target already has table {:?}; create mode never overwrites: drop it, or load into it with --schema existing",
                t.map.target
            ),
        })
        .collect()
}

/// A loaded table's foreign key (in the target) onto a table this run does
/// not load (`--tables`, `--exclude`, a mapping's exclusion) that is empty
/// in the target, while some loaded row has the key's columns all set:
/// the key could not be validated after the load.
fn unloaded_parents(source: &Path, plan: &Plan, catalog: &Catalog) -> anyhow::Result<Vec<Misfit>> {
    let loaded: Vec<&str> = plan.tables.iter().map(|t| t.map.target.as_str()).collect();
    let mut out = Vec::new();
    for tp in &plan.tables {
        let Some(tt) = catalog.tables.get(&tp.map.target) else {
            continue;
        };
        for c in tt.constraints.iter().filter(|c| c.kind == 'f') {
            let Some(parent) = c.ref_table.as_deref() else {
                continue;
            };
            if loaded.contains(&parent) || catalog.tables.get(parent).is_none_or(|p| p.has_rows) {
                continue;
            }
            // The key's columns, in source names: rows with all of them set
            // point at the parent.
            let cols: Option<Vec<String>> = fk_columns(&c.definition)
                .iter()
                .map(|t| {
                    tp.map
                        .columns
                        .iter()
                        .find(|m| &m.target == t)
                        .map(|m| m.source.clone())
                })
                .collect();
            let Some(cols) = cols.filter(|c| !c.is_empty()) else {
                continue;
            };
            let what = format!("checking foreign key {:?}", c.name);
            let points = crate::sqlite::stats::any_row_with_all_set(source, &tp.source.name, &cols, &what)?;
            if points {
                out.push(Misfit {
                    table: tp.source.name.clone(),
                    column: None,
                    problem: format!(
                        "its rows point at table {parent:?} (foreign key {:?}), which is not loaded by this run (--tables, --exclude or a mapping) and is empty in the target, so the key could not be validated: load {parent:?} too, or fill it first",
                        c.name
                    ),
                });
            }
        }
    }
    Ok(out)
}

/// The referencing columns of a `pg_get_constraintdef` foreign key:
/// `FOREIGN KEY (a, "B c") REFERENCES …` → `a`, `B c`.
fn fk_columns(definition: &str) -> Vec<String> {
    let Some(rest) = definition.strip_prefix("FOREIGN KEY (") else {
        return Vec::new();
    };
    let mut cols = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut chars = rest.chars().peekable();
    while let Some(ch) = chars.next() {
        match ch {
            '"' if quoted && chars.peek() == Some(&'"') => {
                cur.push('"');
                chars.next();
            }
            '"' => quoted = !quoted,
            ',' | ')' if !quoted => {
                cols.push(std::mem::take(&mut cur).trim().to_string());
                if ch == ')' {
                    break;
                }
            }
            _ => cur.push(ch),
        }
    }
    cols
}

#[cfg(test)]
mod tests {
    use super::fk_columns;

    #[test]
    fn foreign_key_columns_from_their_definition() {
        assert_eq!(fk_columns("FOREIGN KEY (p_id) REFERENCES p(id)"), ["p_id"]);
        assert_eq!(
            fk_columns("FOREIGN KEY (a, \"B, \"\"c\") REFERENCES p(x, y) NOT VALID"),
            ["a", "B, \"c"]
        );
        assert!(fk_columns("CHECK (a > 0)").is_empty());
    }
}
