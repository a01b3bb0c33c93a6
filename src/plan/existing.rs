//! Existing-schema mode: fit the plan to tables someone else created (the
//! usual case: `alembic upgrade head`), and list every misfit before any
//! row moves.
//!
//! The target column's type is the anchor: each column's converter is
//! re-chosen to reach it (`Mapper::retarget`). Misfits are collected, not
//! returned one at a time, so the user fixes the whole list in one pass.

use std::collections::HashMap;
use std::path::Path;

use serde::Serialize;

use super::{Error, Plan, TablePlan};
use crate::mapping::file::Layers;
use crate::mapping::reading::{self, Choice, Numbers};
use crate::mapping::resolve::{fit_to_profile, ColumnMap, Mapper};
use crate::mapping::types::PgType;
use crate::model::{StorageProfile, Table};
use crate::postgres::catalog::{Catalog, TargetColumn};
use crate::sqlite::profile::Profiles;
use crate::sqlite::stats::{self, ColumnStats};

#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Misfit {
    pub table: String,
    pub column: Option<String>,
    pub problem: String,
}

impl std::fmt::Display for Misfit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.column {
            Some(c) => write!(f, "table {:?}, column {c:?}: {}", self.table, self.problem),
            None => write!(f, "table {:?}: {}", self.table, self.problem),
        }
    }
}

/// Per source table, the target's unique keys in source column names (the
/// dry run looks for duplicates on them); keys naming a column the plan
/// does not load are left out.
pub fn unique_keys_by_source(plan: &Plan, catalog: &Catalog) -> std::collections::BTreeMap<String, Vec<Vec<String>>> {
    let mut unique = std::collections::BTreeMap::new();
    for tp in &plan.tables {
        if let Some(tt) = catalog.tables.get(&tp.map.target) {
            let keys: Vec<Vec<String>> = tt
                .unique_keys
                .iter()
                .filter_map(|k| {
                    k.iter()
                        .map(|c| tp.map.columns.iter().find(|m| &m.target == c).map(|m| m.source.clone()))
                        .collect::<Option<Vec<String>>>()
                })
                .collect();
            unique.insert(tp.source.name.clone(), keys);
        }
    }
    unique
}

/// Misfits as a list for an error message, one a line.
pub fn misfit_list(misfits: &[Misfit]) -> String {
    misfits.iter().map(|m| format!("  - {m}")).collect::<Vec<_>>().join("\n")
}

/// Per table: storage-class profile and value statistics, per source column.
pub struct SourceFacts<'a> {
    pub profiles: &'a HashMap<String, Vec<StorageProfile>>,
    pub stats: &'a HashMap<String, Vec<ColumnStats>>,
}

/// Rewrite `plan` for the target's tables and return the misfits (empty:
/// the load can start) and notes (case-insensitive matches, guesses).
pub fn fit(plan: &mut Plan, catalog: &Catalog, mapper: &Mapper<'_>, facts: &SourceFacts<'_>) -> (Vec<Misfit>, Vec<String>) {
    let mut found = Found::default();
    for tp in &mut plan.tables {
        fit_table(tp, catalog, mapper, facts, &mut found);
    }
    (found.misfits, found.notes)
}

/// What `fit` has found so far.
#[derive(Default)]
struct Found {
    misfits: Vec<Misfit>,
    notes: Vec<String>,
}

impl Found {
    fn misfit(&mut self, table: &str, column: Option<&str>, problem: String) {
        self.misfits.push(Misfit { table: table.to_string(), column: column.map(str::to_string), problem });
    }
}

/// One table: its target table, each column fitted to its target column,
/// and the target columns nobody fills.
fn fit_table(tp: &mut TablePlan, catalog: &Catalog, mapper: &Mapper<'_>, facts: &SourceFacts<'_>, found: &mut Found) {
    let Some((tt, folded)) = catalog.find(&tp.map.target) else {
        found.misfit(&tp.source.name, None, format!("no table {:?} in the target schema", tp.map.target));
        return;
    };
    if folded {
        found.notes.push(format!("table {:?} matched target table {:?} ignoring case", tp.source.name, tt.name));
    }
    tp.map.target = tt.name.clone();
    let profiles = facts.profiles.get(&tp.source.name);
    let stats = facts.stats.get(&tp.source.name);
    let mut keep = Vec::new();
    // Target columns a source column matched, loaded or not (a misfit
    // of its own is not also "no source column fills it").
    let mut matched: Vec<String> = Vec::new();
    for mut cm in std::mem::take(&mut tp.map.columns) {
        let Some((tc, folded)) = tt.column(&cm.target) else {
            found.misfit(
                &tp.source.name,
                Some(&cm.source),
                format!(
                    "no column {:?} in target table {:?} (exclude it in a mapping file, or rename it)",
                    cm.target, tt.name
                ),
            );
            continue;
        };
        if folded {
            found.notes.push(format!(
                "table {:?}: column {:?} matched target column {:?} ignoring case",
                tp.source.name, cm.source, tc.name
            ));
        }
        cm.target = tc.name.clone();
        matched.push(tc.name.clone());
        if tc.generated {
            found.notes.push(format!(
                "table {:?}: target column {:?} is generated by PostgreSQL; the source values are not loaded",
                tp.source.name, tc.name
            ));
            continue;
        }
        let column_facts = ColumnFacts {
            profile: profiles.and_then(|p| p.get(cm.source_index)),
            stat: stats.and_then(|s| s.get(cm.source_index)),
        };
        if fit_column(&tp.source, &mut cm, tc, mapper, &column_facts, found) {
            keep.push(cm);
        }
    }
    // Target columns nobody fills must be able to fill themselves.
    for tc in &tt.columns {
        let filled = matched.contains(&tc.name);
        if !filled && tc.not_null && !tc.has_default && tc.identity.is_empty() && !tc.generated {
            found.misfit(
                &tp.source.name,
                None,
                format!("target column {:?} is NOT NULL without a default, and no source column fills it", tc.name),
            );
        }
    }
    tp.map.columns = keep;
    // Keys and identity belong to the target schema in this mode.
    tp.identity = None;
    tp.primary_key = None;
}

/// What the source says about one column: its storage-class profile and
/// value statistics, when gathered.
struct ColumnFacts<'a> {
    profile: Option<&'a StorageProfile>,
    stat: Option<&'a ColumnStats>,
}

/// Fit one column to its target column `tc`: the misfits its values
/// show, the date/time reading of its numbers, its converter re-chosen
/// for the target type. False when the column is not loaded (a misfit
/// says why).
fn fit_column(
    source: &Table,
    cm: &mut ColumnMap,
    tc: &TargetColumn,
    mapper: &Mapper<'_>,
    facts: &ColumnFacts<'_>,
    found: &mut Found,
) -> bool {
    let table = source.name.as_str();
    let pg = match &tc.pg_type {
        Ok(t) => t.clone(),
        Err(_) => {
            found.misfit(table, Some(&cm.source), format!("target type {} has no conversion in ferry", tc.type_name));
            return false;
        }
    };
    let (profile, stat) = (facts.profile, facts.stat);
    let col = &source.columns[cm.source_index];
    if let Some(p) = profile {
        for problem in profile_misfits(&pg, col.affinity, p, tc) {
            found.misfit(table, Some(&cm.source), problem);
        }
    }
    // Numbers into a date/time column: the reading SQLite's
    // conventions give (`mapping::reading`, as in create mode),
    // unless a rule says; an implausible one is a misfit.
    let mut guess = None;
    if let Some(p) = profile
        && p.text == 0
        && p.blob == 0
        && !mapper.input_rule(source, cm.source_index)
    {
        let range = stat.map(|s| (s.min_int, s.max_int, s.min_real, s.max_real));
        match reading::choose(&Numbers::of(p, range), &pg) {
            Some(Choice::Read(r)) => guess = Some(r),
            Some(Choice::Implausible { reading, problem }) => {
                found.misfit(table, Some(&cm.source), reading::refusal(table, &cm.source, &reading, &problem));
                return false;
            }
            None => {}
        }
    }
    if let Some(s) = stat {
        fit_values(&pg, s, &mut |problem| found.misfit(table, Some(&cm.source), problem));
    }
    if let Err(e) = mapper.retarget(source, cm, pg, guess) {
        found.misfit(table, Some(&cm.source), e.detail());
        return false;
    }
    // `timestamp(3)`, `time(0)`: the digits the column keeps.
    if let Some(p) = crate::mapping::types::fraction_digits(&tc.type_name) {
        use crate::mapping::convert::Converter;
        if let Converter::Timestamp { precision, .. } | Converter::Time { precision, .. } = &mut cm.converter {
            *precision = p as u8; // below 6
        }
    }
    if matches!(cm.converter, crate::mapping::convert::Converter::NoArrayInput) {
        found.misfit(
            table,
            Some(&cm.source),
            format!("target column {:?} is text[]: say input = \"json-array\" in a mapping rule for this column if it holds JSON arrays", tc.name),
        );
        return false;
    }
    cm.not_null = tc.not_null;
    true
}

/// What the storage-class profile `p` of a column says will not fit the
/// target column `tc` of type `pg`.
fn profile_misfits(pg: &PgType, affinity: crate::model::Affinity, p: &StorageProfile, tc: &crate::postgres::catalog::TargetColumn) -> Vec<String> {
    let mut out = Vec::new();
    if p.null > 0 && tc.not_null {
        out.push(format!("{} NULL values, but target column {:?} is NOT NULL", p.null, tc.name));
    }
    if let Some((_, reason)) = fit_to_profile(pg, affinity, p) {
        // Numbers into a date/time column are fine when their
        // reading is chosen (`mapping::reading`) or set by a rule.
        let temporal = matches!(pg, PgType::Timestamp | PgType::Timestamptz | PgType::Date | PgType::Time);
        if !(temporal && p.blob == 0 && (p.text == 0 || p.integer + p.real == 0)) {
            out.push(format!("{pg} cannot hold its values: {reason}"));
        }
    }
    out
}

/// Values that will not fit the target type, from the statistics.
fn fit_values(pg: &PgType, s: &ColumnStats, problem: &mut dyn FnMut(String)) {
    match pg {
        PgType::Varchar(Some(n)) | PgType::Char(Some(n)) => {
            if let Some(len) = s.max_text_chars && len > *n as i64 {
                problem(format!("text up to {len} characters does not fit {pg}"));
            }
        }
        PgType::SmallInt | PgType::Integer | PgType::Byte => {
            let (lo, hi) = match pg {
                PgType::SmallInt => (i16::MIN as i64, i16::MAX as i64),
                PgType::Byte => (i8::MIN as i64, i8::MAX as i64),
                _ => (i32::MIN as i64, i32::MAX as i64),
            };
            for v in [s.min_int, s.max_int].into_iter().flatten() {
                if v < lo || v > hi {
                    problem(format!("value {v} is out of range for {pg} ({lo} to {hi})"));
                    break;
                }
            }
        }
        PgType::Numeric { precision: Some(p), scale } => {
            let int_digits = *p as i64 - scale.unwrap_or(0) as i64;
            let limit = 10f64.powi(int_digits as i32);
            let max = [s.min_int.map(|v| v as f64), s.max_int.map(|v| v as f64), s.min_real, s.max_real]
                .into_iter()
                .flatten()
                .map(f64::abs)
                .fold(0.0, f64::max);
            if max >= limit {
                problem(format!("value {max} needs more than {int_digits} digits before the point for {pg}"));
            }
        }
        _ => {}
    }
}

/// Fit `plan` to the target's existing tables: profile and value
/// statistics of the source, then `plan::existing::fit`.
pub fn fit_to_target(
    source: &Path,
    layers: &Layers,
    catalog: &Catalog,
    profiles: &Profiles,
    plan: &mut Plan,
) -> Result<(Vec<Misfit>, Vec<String>), Error> {
    use rayon::prelude::*;
    // Number ranges come from the profile (its pass reads the numbers of
    // numeric-affinity columns); the longest text only where a varchar(n)
    // waits for it, with one more query over that table.
    let wanted: Vec<(usize, Vec<usize>)> = plan
        .tables
        .iter()
        .enumerate()
        .map(|(ti, tp)| {
            let tt = catalog.find(&tp.map.target).map(|(t, _)| t);
            let prof = profiles.get(&tp.source.name);
            let cols = tp
                .map
                .columns
                .iter()
                .filter(|cm| {
                    let ty = tt.and_then(|t| t.column(&cm.target)).and_then(|(c, _)| c.pg_type.as_ref().ok().cloned());
                    // Numbers the profile counted without their range
                    // (a column of text affinity holding numbers).
                    let unranged = prof.and_then(|p| p.get(cm.source_index)).is_some_and(|p| {
                        p.integer + p.real > 0 && p.min_int.is_none() && p.min_real.is_none()
                    });
                    match ty {
                        Some(PgType::Varchar(Some(_)) | PgType::Char(Some(_))) => true,
                        Some(
                            PgType::SmallInt
                            | PgType::Integer
                            | PgType::Byte
                            | PgType::Numeric { precision: Some(_), .. }
                            | PgType::Timestamp
                            | PgType::Timestamptz
                            | PgType::Date
                            | PgType::Time,
                        ) => unranged,
                        _ => false,
                    }
                })
                .map(|cm| cm.source_index)
                .collect();
            (ti, cols)
        })
        .collect();
    let computed: Vec<Result<(String, Vec<ColumnStats>), Error>> = wanted
        .par_iter()
        .map(|(ti, cols)| {
            let t = &plan.tables[*ti].source;
            let mut s = stats::value_stats(source, t, cols)?;
            // Profiles of tables without rows are empty.
            let ranged = |p: &StorageProfile| p.min_int.is_some() || p.min_real.is_some();
            for (i, p) in profiles.get(&t.name).into_iter().flatten().enumerate().filter(|(_, p)| ranged(p)) {
                if let Some(st) = s.get_mut(i) {
                    (st.min_int, st.max_int, st.min_real, st.max_real) = (p.min_int, p.max_int, p.min_real, p.max_real);
                }
            }
            Ok((t.name.clone(), s))
        })
        .collect();
    let mut stats = HashMap::new();
    for r in computed {
        let (name, s) = r?;
        stats.insert(name, s);
    }
    let mapper = Mapper::new(layers)?;
    Ok(fit(plan, catalog, &mapper, &SourceFacts { profiles, stats: &stats }))
}

/// The plan for a load with keys in place, made from `plan`: a
/// self-reference on one column is loaded parents first.
/// With keys in place, a foreign-key cycle (or a self-reference) can only be
/// loaded when its constraints are DEFERRABLE: checked at the commit of the
/// one transaction that loads the whole cycle. Otherwise stop, naming it.
pub fn keys_in_place(mut plan: Plan, catalog: &Catalog) -> Result<Plan, Error> {
    // A self-reference on one column is loaded parents first instead: no
    // deferral needed, whatever the constraint says.
    let mut ordered = Vec::new();
    for tp in &mut plan.tables {
        let own = tp.source.foreign_keys.iter().find(|fk| {
            fk.ref_table == tp.source.name && fk.columns.len() == 1 && fk.ref_columns.len() == 1
        });
        if let Some(fk) = own {
            tp.parent_first = Some((fk.columns[0].clone(), fk.ref_columns[0].clone()));
            ordered.push(tp.source.name.clone());
        }
    }
    let mut cycles: Vec<Vec<String>> = plan.cycles.clone();
    cycles.extend(plan.self_references.iter().filter(|t| !ordered.contains(t)).map(|t| vec![t.clone()]));
    for cycle in &cycles {
        let targets: Vec<String> = cycle
            .iter()
            .filter_map(|n| plan.tables.iter().find(|t| &t.source.name == n).map(|t| t.map.target.clone()))
            .collect();
        for t in &targets {
            let Some(tt) = catalog.tables.get(t) else { continue };
            for c in &tt.constraints {
                let inside = c.ref_table.as_ref().is_some_and(|r| targets.contains(r));
                let self_ordered = targets.len() == 1 && ordered.iter().any(|o| cycle.contains(o));
                if c.kind == 'f' && inside && !c.deferrable && !self_ordered {
                    return Err(Error::NotDeferrable { cycle: cycle.clone(), constraint: c.name.clone(), table: t.clone() });
                }
            }
        }
    }
    Ok(plan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_fit() {
        let mut found = Vec::new();
        let s = ColumnStats { max_text_chars: Some(300), min_int: Some(-5), max_int: Some(3_000_000_000), ..Default::default() };
        fit_values(&PgType::Varchar(Some(255)), &s, &mut |p| found.push(p));
        fit_values(&PgType::Integer, &s, &mut |p| found.push(p));
        fit_values(&PgType::BigInt, &s, &mut |p| found.push(p));
        fit_values(&PgType::Numeric { precision: Some(9), scale: Some(2) }, &s, &mut |p| found.push(p));
        assert_eq!(found.len(), 3, "{found:?}");
    }
}
