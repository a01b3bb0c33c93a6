//! `ferry inspect --suggest-mapping`: read every value, and write a mapping
//! file whose rules convert all of them.
//!
//! Three steps per table:
//!
//! 1. **Shapes** (one pass over the rows): per column the storage classes,
//!    the range of its numbers, whether its integers are only 0 and 1, how
//!    many texts are ISO dates, numbers, JSON, UUIDs, boolean words, how
//!    many hold a NUL or are not UTF-8, how many blobs are 16 bytes or
//!    UTF-8 text.
//! 2. **Candidates**: from the declared type and the shapes, rules in order
//!    of preference, each with a comment saying what was seen: e.g. the
//!    epoch unit that the magnitudes of the numbers in a date-ish column
//!    point to, then the built-in mapping's type, then the narrowest type
//!    that holds the storage classes (bigint → double → numeric → text →
//!    bytea), then, for text that is not UTF-8 or holds NULs, the lossy
//!    policies (`replace-invalid`, `strip-nul`), marked as lossy.
//! 3. **Proof** (a second pass): every candidate's converter, resolved by the
//!    same `Mapper` that `migrate` uses, runs on every value; the first
//!    candidate that converts all of them is the rule. A column none of
//!    whose candidates is total keeps the rule that loses nothing (bytea for
//!    binary blobs) and is listed, with the rows that cannot convert: a
//!    `migrate` with the suggestion then stops before loading.
//!
//! The shapes are counted in `suggest/shapes.rs`, the candidates read off
//! them in `suggest/candidates.rs`; the passes over the rows, the proof and
//! the file's text are here.

mod candidates;
mod shapes;

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use self::candidates::{candidates, Candidate};
use self::shapes::Shapes;
use crate::mapping::convert::{Converter, Scratch};
use crate::mapping::file::{self, Layers};
use crate::mapping::resolve::Mapper;
use crate::model::{Schema, Table};
use crate::sqlite::introspect::quote_ident;

/// The outcome for one column.
#[derive(Debug, Clone)]
pub struct ColumnSuggestion {
    pub table: String,
    pub column: String,
    pub rule: String,
    pub comment: String,
    pub lossy: bool,
    /// Values this rule cannot convert (0 when it is total), with samples.
    pub failures: u64,
    pub samples: Vec<String>,
}

/// The whole suggestion: the mapping file text and the columns that need
/// a person (lossy or not total).
pub struct Suggestion {
    pub text: String,
    pub columns: Vec<ColumnSuggestion>,
}

const SAMPLES: usize = 5;

/// Suggest a mapping for every table of `schema` (read from `path`),
/// building on the built-in mapping and `user_files`.
pub fn suggest(path: &Path, conn: &Connection, schema: &Schema, user_files: &[PathBuf]) -> anyhow::Result<Suggestion> {
    let base = Layers::load(user_files)?;
    let mut columns = Vec::new();
    for t in &schema.tables {
        columns.extend(suggest_table(conn, t, &base)?);
    }
    Ok(Suggestion { text: render(path, schema, &columns), columns })
}

fn select_all(t: &Table) -> (String, bool) {
    let mut cols: Vec<String> = t.columns.iter().map(|c| quote_ident(&c.name)).collect();
    let rowid = crate::sqlite::introspect::rowid_expr(t);
    if let Some(r) = &rowid {
        cols.push(r.clone());
    }
    if cols.is_empty() {
        cols.push("1".into());
    }
    (format!("SELECT {} FROM main.{}", cols.join(", "), quote_ident(&t.name)), rowid.is_some())
}

fn suggest_table(conn: &Connection, t: &Table, base: &Layers) -> anyhow::Result<Vec<ColumnSuggestion>> {
    let (sql, has_rowid) = select_all(t);
    // 1. Shapes.
    let shapes = read_shapes(conn, &sql, t.columns.len())?;
    // 2. Candidates, and their converters through the real resolution.
    let mut cands: Vec<Vec<Candidate>> = t.columns.iter().zip(&shapes).map(|(c, s)| candidates(t, c, s, base)).collect();
    // A column the user's mapping excludes gets no suggestion (a suggested
    // rule would not bring it back, and it has no converter to prove).
    let kept = Mapper::new(base)?.table(t, None)?;
    for (i, cs) in cands.iter_mut().enumerate() {
        if !kept.columns.iter().any(|m| m.source_index == i) {
            cs.clear();
        }
    }
    let converters = candidate_converters(t, &cands, base)?;
    // 3. Proof: every candidate on every value.
    let fails = prove(conn, &sql, has_rowid, &converters)?;
    Ok(pick(t, &cands, &fails))
}

/// One pass over the rows: the shapes of each of the first `n` columns.
fn read_shapes(conn: &Connection, sql: &str, n: usize) -> anyhow::Result<Vec<Shapes>> {
    let mut shapes = vec![Shapes::default(); n];
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    while let Some(row) = rows.next()? {
        for (i, s) in shapes.iter_mut().enumerate() {
            s.add(row.get_ref(i)?);
        }
    }
    Ok(shapes)
}

/// `converters[col][k]`: the converter of column `col`'s `k`th candidate,
/// resolved by the same `Mapper` `migrate` uses, from a mapping file that
/// holds every column's `k`th candidate.
fn candidate_converters(t: &Table, cands: &[Vec<Candidate>], base: &Layers) -> anyhow::Result<Vec<Vec<Converter>>> {
    let rounds = cands.iter().map(Vec::len).max().unwrap_or(0);
    let mut converters: Vec<Vec<Converter>> = vec![Vec::new(); t.columns.len()];
    for k in 0..rounds {
        let mut text = format!("[tables.{}.columns]\n", toml_key(&t.name));
        for (c, cs) in t.columns.iter().zip(cands) {
            if let Some(cand) = cs.get(k) {
                let _ = writeln!(text, "{} = {{ {} }}", toml_key(&c.name), cand.rule);
            }
        }
        let f = file::parse(Path::new("<suggestion>"), &text)?;
        let mut layers = base.clone();
        layers.files.push((PathBuf::from("<suggestion>"), f));
        let map = Mapper::new(&layers)?.table(t, None)?;
        for (i, cs) in cands.iter().enumerate() {
            if k < cs.len() {
                // Excluded columns have no candidates (cleared above), so the
                // column is in the map.
                let cm = map.columns.iter().find(|m| m.source_index == i).expect("candidates only for kept columns");
                converters[i].push(cm.converter.clone());
            }
        }
    }
    Ok(converters)
}

/// Per column, per candidate: how many values its converter refuses, and
/// up to `SAMPLES` of them with their row (a second pass over the rows).
fn prove(conn: &Connection, sql: &str, has_rowid: bool, converters: &[Vec<Converter>]) -> anyhow::Result<Vec<Vec<(u64, Vec<String>)>>> {
    let n = converters.len();
    let mut fails: Vec<Vec<(u64, Vec<String>)>> = converters.iter().map(|cs| vec![(0, Vec::new()); cs.len()]).collect();
    if converters.iter().all(Vec::is_empty) {
        return Ok(fails);
    }
    let mut stmt = conn.prepare(sql)?;
    let mut rows = stmt.query([])?;
    let mut scratch = Scratch::default();
    let mut rowno = 0u64;
    while let Some(row) = rows.next()? {
        rowno += 1;
        for i in 0..n {
            let v = row.get_ref(i)?;
            if v == ValueRef::Null {
                continue;
            }
            for (k, conv) in converters[i].iter().enumerate() {
                // A candidate that already failed needs no more proof
                // beyond its samples.
                let f = &mut fails[i][k];
                if f.0 >= SAMPLES as u64 && k + 1 < converters[i].len() {
                    f.0 += 1;
                    continue;
                }
                if let Err(bad) = conv.convert(v, &mut scratch) {
                    f.0 += 1;
                    if f.1.len() < SAMPLES {
                        let at = match (has_rowid, row.get_ref(n)) {
                            (true, Ok(ValueRef::Integer(r))) => format!("rowid {r}"),
                            _ => format!("row {rowno}"),
                        };
                        f.1.push(format!("{at}: {} ({})", crate::sqlite::pool::describe_value(v), bad.reason));
                    }
                }
            }
        }
    }
    Ok(fails)
}

/// Per column with candidates: the first total candidate; else the one
/// marked as the keeper (the last lossless one), with its failures.
fn pick(t: &Table, cands: &[Vec<Candidate>], fails: &[Vec<(u64, Vec<String>)>]) -> Vec<ColumnSuggestion> {
    let mut out = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        if cands[i].is_empty() {
            continue;
        }
        let pick = (0..cands[i].len()).find(|&k| fails[i][k].0 == 0);
        let k = pick.unwrap_or_else(|| {
            (0..cands[i].len()).rev().find(|&k| !cands[i][k].lossy).unwrap_or(cands[i].len() - 1)
        });
        let cand = &cands[i][k];
        let (failures, samples) = fails[i][k].clone();
        let mut comment = cand.comment.clone();
        if k > 0 {
            // Say why the better candidates were not taken.
            let first = &cands[i][0];
            let why = fails[i][0].1.first().cloned().unwrap_or_default();
            if fails[i][0].0 > 0 {
                let _ = write!(comment, "; not {{ {} }}: {} value(s) would not convert, e.g. {why}", first.rule, fails[i][0].0);
            }
        }
        out.push(ColumnSuggestion {
            table: t.name.clone(),
            column: c.name.clone(),
            rule: cand.rule.clone(),
            comment,
            lossy: cand.lossy && failures == 0,
            failures,
            samples,
        });
    }
    out
}

/// A TOML basic string (also used for keys).
pub fn toml_key(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for ch in s.chars() {
        match ch {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                let _ = write!(o, "\\u{:04X}", c as u32);
            }
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

fn render(path: &Path, schema: &Schema, cols: &[ColumnSuggestion]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "# Mapping suggested by `ferry inspect --suggest-mapping` for {}", path.display());
    let _ = writeln!(o, "# from every value of the database. Each rule says what was seen. Review, then:");
    let _ = writeln!(o, "#   ferry migrate {} postgresql://… --mapping THIS_FILE", path.display());
    let problems: Vec<&ColumnSuggestion> = cols.iter().filter(|c| c.failures > 0).collect();
    let lossy: Vec<&ColumnSuggestion> = cols.iter().filter(|c| c.lossy).collect();
    if !problems.is_empty() {
        let _ = writeln!(o, "#\n# NO TOTAL CONVERSION for {} column(s); their values below cannot convert, so a", problems.len());
        let _ = writeln!(o, "# migrate with this file stops before loading. Decide for each (exclude the column,");
        let _ = writeln!(o, "# a lossy rule, or on_bad_value = \"reject\" / \"null\"):");
        for c in &problems {
            let _ = writeln!(o, "#   {}.{}: {} value(s)", c.table, c.column, c.failures);
        }
    }
    if !lossy.is_empty() {
        let _ = writeln!(o, "#\n# LOSSY rules (the values convert, but not byte for byte): {}", lossy.iter().map(|c| format!("{}.{}", c.table, c.column)).collect::<Vec<_>>().join(", "));
    }
    let mut by_table: BTreeMap<&str, Vec<&ColumnSuggestion>> = BTreeMap::new();
    for c in cols {
        by_table.entry(c.table.as_str()).or_default().push(c);
    }
    for t in &schema.tables {
        let Some(cs) = by_table.get(t.name.as_str()) else { continue };
        let _ = writeln!(o, "\n[tables.{}.columns]", toml_key(&t.name));
        for c in cs {
            let _ = writeln!(o, "# {}", c.comment.replace('\n', " "));
            if c.failures > 0 {
                let _ = writeln!(o, "# CANNOT CONVERT {} value(s), e.g. {}", c.failures, c.samples.join("; ").replace('\n', " "));
            }
            let _ = writeln!(o, "{} = {{ {} }}", toml_key(&c.column), c.rule);
        }
    }
    o
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sqlite::introspect::introspect;

    fn suggest_sql(sql: &str) -> Suggestion {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s.db");
        let c = Connection::open(&p).unwrap();
        c.execute_batch(sql).unwrap();
        let schema = introspect(&c).unwrap();
        suggest(&p, &c, &schema, &[]).unwrap()
    }

    fn rule<'a>(s: &'a Suggestion, col: &str) -> &'a ColumnSuggestion {
        s.columns.iter().find(|c| c.column == col).unwrap()
    }

    #[test]
    fn shapes_lead_to_rules() {
        let s = suggest_sql(
            "CREATE TABLE t (id INTEGER PRIMARY KEY, ms DATETIME, sec TIMESTAMP, iso DATETIME, n INTEGER, b BOOLEAN, \
             mixed NUMERIC, name TEXT, visit_time INTEGER, bin, year DATETIME);
             INSERT INTO t VALUES (1, 1700000000123, 1727078780, '2024-01-15 10:30:00', 5, 0, 42, 'a', 13161017332037692, x'00ff', 2024);
             INSERT INTO t VALUES (2, 1600000000000, 1727078781.5, '2024-01-15T10:30:00', 6, 2, 'hello', CAST(x'66696c6596' AS TEXT), 13161017332037693, 7, '2024-01-01');
             INSERT INTO t (id, name) VALUES (3, 'b');
             CREATE TABLE h (id INTEGER PRIMARY KEY, hash TEXT);
             INSERT INTO h VALUES (1, CAST(x'e084266659' AS TEXT));",
        );
        assert_eq!(rule(&s, "ms").rule, r#"type = "timestamptz", input = "epoch-milliseconds""#);
        assert!(rule(&s, "ms").comment.contains("1.60e12–1.70e12"), "{}", rule(&s, "ms").comment);
        assert_eq!(rule(&s, "sec").rule, r#"type = "timestamptz", input = "epoch-seconds""#);
        assert_eq!(rule(&s, "iso").rule, r#"type = "timestamp""#);
        assert_eq!(rule(&s, "n").rule, r#"type = "bigint""#);
        assert_eq!(rule(&s, "b").rule, r#"type = "bigint""#, "{}", rule(&s, "b").comment);
        assert_eq!(rule(&s, "mixed").rule, r#"type = "text""#);
        // A stray non-UTF-8 text among text: lossy text, said so.
        assert!(rule(&s, "name").lossy && rule(&s, "name").rule.contains("replace-invalid"));
        // Binary bytes in a TEXT column (a hash): bytea keeps them.
        assert_eq!(rule(&s, "hash").rule, r#"type = "bytea""#);
        assert_eq!(rule(&s, "visit_time").rule, r#"type = "timestamptz", input = "webkit-microseconds""#);
        assert_eq!(rule(&s, "bin").rule, r#"type = "bytea""#);
        assert_eq!(rule(&s, "bin").failures, 1);
        assert_eq!(rule(&s, "year").rule, r#"type = "text""#);
        // The text parses as a mapping file.
        file::parse(Path::new("x"), &s.text).unwrap();
    }
}
