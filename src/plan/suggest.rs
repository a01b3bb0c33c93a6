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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use rusqlite::types::ValueRef;
use rusqlite::Connection;

use crate::mapping::convert::{Converter, Scratch};
use crate::mapping::datetime::{self, EpochUnit};
use crate::mapping::file::{self, normalize_type_name, parse_time_input, Layers};
use crate::mapping::reading::{self, Choice, Numbers};
use crate::mapping::resolve::Mapper;
use crate::mapping::{boolean, json, numeric, uuid};
use crate::model::{Affinity, Schema, Table};
use crate::sqlite::introspect::quote_ident;

/// What one column holds.
#[derive(Debug, Clone, Default)]
pub struct Shapes {
    pub null: u64,
    pub integer: u64,
    pub real: u64,
    pub text: u64,
    pub blob: u64,
    pub int_min: Option<i64>,
    pub int_max: Option<i64>,
    pub ints_01: bool,
    pub real_min: Option<f64>,
    pub real_max: Option<f64>,
    pub real_nonfinite: u64,
    pub real_integral: u64,
    /// Absolute values of the nonzero numbers, by decimal magnitude
    /// (`floor(log10)`, clamped to 0..=19).
    pub magnitudes: [u64; 20],
    pub zeros: u64,
    pub text_iso: u64,
    pub text_iso_date_only: u64,
    pub text_iso_offset: u64,
    pub text_number: u64,
    pub text_json: u64,
    pub text_uuid: u64,
    pub text_bool: u64,
    pub text_nul: u64,
    pub text_bad_utf8: u64,
    pub max_chars: u64,
    pub blob_16: u64,
    pub blob_utf8: u64,
}

impl Shapes {
    fn numbers(&self) -> u64 {
        self.integer + self.real
    }
    fn values(&self) -> u64 {
        self.integer + self.real + self.text + self.blob
    }
    fn classes(&self) -> String {
        let mut v = Vec::new();
        for (n, name) in [(self.integer, "integer"), (self.real, "real"), (self.text, "text"), (self.blob, "blob")] {
            if n > 0 {
                v.push(format!("{n} {name}"));
            }
        }
        v.join(", ")
    }

    fn add(&mut self, v: ValueRef<'_>) {
        match v {
            ValueRef::Null => self.null += 1,
            ValueRef::Integer(i) => {
                if self.integer == 0 {
                    self.ints_01 = true;
                }
                self.integer += 1;
                self.ints_01 &= i == 0 || i == 1;
                self.int_min = Some(self.int_min.map_or(i, |m| m.min(i)));
                self.int_max = Some(self.int_max.map_or(i, |m| m.max(i)));
                self.magnitude(i.unsigned_abs() as f64);
            }
            ValueRef::Real(f) => {
                self.real += 1;
                if !f.is_finite() {
                    self.real_nonfinite += 1;
                    return;
                }
                if f.fract() == 0.0 {
                    self.real_integral += 1;
                }
                self.real_min = Some(self.real_min.map_or(f, |m| m.min(f)));
                self.real_max = Some(self.real_max.map_or(f, |m| m.max(f)));
                self.magnitude(f.abs());
            }
            ValueRef::Text(t) => {
                self.text += 1;
                let Ok(s) = std::str::from_utf8(t) else {
                    self.text_bad_utf8 += 1;
                    return;
                };
                if t.contains(&0) {
                    self.text_nul += 1;
                }
                self.max_chars = self.max_chars.max(s.chars().count() as u64);
                if let Ok(p) = datetime::parse_iso(t) {
                    self.text_iso += 1;
                    self.text_iso_date_only += u64::from(p.date_only);
                    self.text_iso_offset += u64::from(p.offset_secs.is_some());
                }
                let mut out = String::new();
                if numeric::normalize(t, None, None, &mut out).is_ok() {
                    self.text_number += 1;
                }
                let trimmed = s.trim_start();
                if (trimmed.starts_with('{') || trimmed.starts_with('[')) && json::validate_jsonb(t).is_ok() {
                    self.text_json += 1;
                }
                if matches!(t.len(), 32 | 36) && uuid::parse_text(t).is_ok() {
                    self.text_uuid += 1;
                }
                if boolean::BoolSpellings::default().parse_text(t).is_ok() {
                    self.text_bool += 1;
                }
            }
            ValueRef::Blob(b) => {
                self.blob += 1;
                if b.len() == 16 {
                    self.blob_16 += 1;
                }
                if std::str::from_utf8(b).is_ok() && !b.contains(&0) {
                    self.blob_utf8 += 1;
                }
            }
        }
    }

    fn magnitude(&mut self, a: f64) {
        if a == 0.0 {
            self.zeros += 1;
        } else if a >= 1.0 {
            self.magnitudes[(a.log10().floor() as usize).min(19)] += 1;
        } else {
            self.magnitudes[0] += 1;
        }
    }

    /// The range of the numbers, for comments: `1.6e12–1.7e12`.
    fn number_range(&self) -> String {
        let lo = [self.int_min.map(|v| v as f64), self.real_min].into_iter().flatten().fold(f64::INFINITY, f64::min);
        let hi = [self.int_max.map(|v| v as f64), self.real_max].into_iter().flatten().fold(f64::NEG_INFINITY, f64::max);
        if lo > hi {
            return "none".into();
        }
        if lo == hi {
            return short(lo);
        }
        if short(lo) == short(hi) {
            return format!("{lo}–{hi}");
        }
        format!("{}–{}", short(lo), short(hi))
    }
}

fn short(v: f64) -> String {
    if v.abs() < 1e6 && v.fract() == 0.0 {
        format!("{v:.0}")
    } else if v.abs() < 1e6 {
        format!("{v}")
    } else {
        format!("{v:.2e}")
    }
}

/// One rule the suggestion may write for a column.
#[derive(Debug, Clone)]
struct Candidate {
    /// The body of an inline TOML table: `type = "timestamptz", input = "…"`.
    rule: String,
    /// What was seen, and why this rule.
    comment: String,
    /// Converts, but changes some values (replace-invalid, strip-nul).
    lossy: bool,
}

fn cand(rule: impl Into<String>, comment: impl Into<String>) -> Candidate {
    Candidate { rule: rule.into(), comment: comment.into(), lossy: false }
}

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
    let n = t.columns.len();
    let (sql, has_rowid) = select_all(t);
    // 1. Shapes.
    let mut shapes = vec![Shapes::default(); n];
    {
        let mut stmt = conn.prepare(&sql)?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            for (i, s) in shapes.iter_mut().enumerate() {
                s.add(row.get_ref(i)?);
            }
        }
    }
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
    let rounds = cands.iter().map(Vec::len).max().unwrap_or(0);
    // converters[col][k]
    let mut converters: Vec<Vec<Converter>> = vec![Vec::new(); n];
    for k in 0..rounds {
        let mut text = format!("[tables.{}.columns]\n", toml_key(&t.name));
        for (c, cs) in t.columns.iter().zip(&cands) {
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
    // 3. Proof: every candidate on every value.
    let mut fails: Vec<Vec<(u64, Vec<String>)>> = cands.iter().map(|cs| vec![(0, Vec::new()); cs.len()]).collect();
    if rounds > 0 {
        let mut stmt = conn.prepare(&sql)?;
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
    }
    let mut out = Vec::new();
    for (i, c) in t.columns.iter().enumerate() {
        if cands[i].is_empty() {
            continue;
        }
        // The first total candidate; else the one marked as the keeper (the
        // last lossless one), with its failures.
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
    Ok(out)
}

/// Rules worth trying for one column, best first.
fn candidates(t: &Table, c: &crate::model::Column, s: &Shapes, base: &Layers) -> Vec<Candidate> {
    let mut out: Vec<Candidate> = Vec::new();
    if s.values() == 0 {
        return out;
    }
    let decl = normalize_type_name(&c.decl_type);
    let seen = s.classes();
    // The built-in mapping's type for the declared type (no data fit).
    let builtin = Mapper::new(base)
        .ok()
        .and_then(|m| {
            let single = Table {
                columns: vec![c.clone()],
                primary_key: Vec::new(),
                foreign_keys: Vec::new(),
                indexes: Vec::new(),
                row_key: crate::model::RowKey::Rowid,
                ..t.clone()
            };
            m.table(&single, None).ok()
        })
        .and_then(|tm| tm.columns.first().map(|cm| cm.pg_type.sql()))
        .unwrap_or_else(|| "text".into());

    let temporal_decl = ["DATE", "TIME"].iter().any(|w| decl.contains(w));
    let datish_name = datish(&c.name);
    let core_data = t.name.starts_with('Z') && c.name.starts_with('Z');
    // Numbers alone in a column that `migrate` makes a date/time: the
    // reading it would choose itself (`mapping::reading`), written out.
    use crate::mapping::types::PgType;
    let temporal_pg = PgType::parse(&builtin)
        .ok()
        .filter(|pg| s.text == 0 && s.blob == 0 && matches!(pg, PgType::Timestamp | PgType::Timestamptz | PgType::Date));
    // Whether a rule with migrate's own reading was written.
    let mut migrate_reads = false;
    if let Some(pg) = temporal_pg.as_ref()
        && s.numbers() > 0
    {
        let n = Numbers {
            integers: s.integer,
            reals: s.real,
            min_int: s.int_min,
            max_int: s.int_max,
            min_real: s.real_min,
            max_real: s.real_max,
        };
        let samples = |r: &reading::Reading| r.samples.iter().map(|x| format!("{} → {}", x.raw, x.converted)).collect::<Vec<_>>().join(", ");
        match reading::choose(&n, pg) {
            Some(Choice::Read(r)) => {
                migrate_reads = true;
                let ty = if matches!(pg, PgType::Date) { "date" } else { "timestamptz" };
                let mut comment = format!("{} {}: {}, as migrate reads them without a rule ({})", number_words(s), s.number_range(), r.why, samples(&r));
                if core_data && r.input == "epoch-seconds" {
                    comment.push_str("; if these are Core Data times (seconds since 2001), write input = \"apple-seconds\" instead");
                }
                out.push(cand(format!("type = {}, input = {}", q(ty), q(r.input)), comment));
            }
            // migrate takes no reading (it keeps the numbers, or refuses
            // in an existing schema); the broader guesses below may still
            // propose one, as an explicit rule.
            Some(Choice::Implausible { .. }) | None => {}
        }
    }
    // Numbers in a date-ish column: the unit their magnitude points to.
    if !migrate_reads && s.numbers() > 0 && s.blob == 0 && (temporal_decl || datish_name) {
        if let Some((input, what)) = epoch_unit(s, core_data, temporal_decl) {
            let all_text_iso = s.text == s.text_iso;
            if all_text_iso {
                let ty = if decl == "DATE" && s.text_iso == s.text_iso_date_only { "date" } else { "timestamptz" };
                let (lo, hi) = span_dates(s, input);
                let mut comment = format!("{} {}: {what}{}", number_words(s), s.number_range(), if lo.is_empty() { String::new() } else { format!(" ({lo} … {hi})") });
                if s.text > 0 {
                    let _ = write!(comment, "; and {} ISO text(s)", s.text);
                }
                if s.zeros > 0 {
                    let _ = write!(comment, "; {} zero(s) become the epoch itself", s.zeros);
                }
                out.push(cand(format!("type = {}, input = {}", q(ty), q(input)), comment));
            }
        }
    }
    // Date/time text.
    if temporal_decl && s.text > 0 && s.numbers() == 0 && s.blob == 0 && s.text == s.text_iso {
        let ty = if builtin == "date" || (decl == "DATE" && s.text_iso == s.text_iso_date_only) {
            "date"
        } else if s.text_iso_offset > 0 {
            "timestamptz"
        } else {
            "timestamp"
        };
        let offs = if s.text_iso_offset > 0 { format!(", {} with a UTC offset", s.text_iso_offset) } else { String::new() };
        out.push(cand(format!("type = {}", q(ty)), format!("{} ISO 8601 date/time text(s){offs}", s.text)));
    }
    // The declared type's own mapping.
    let mut why_builtin = format!("{seen}; as declared ({})", if c.decl_type.is_empty() { "no type" } else { &c.decl_type });
    if builtin == "bigint" && s.ints_01 && s.integer > 0 && s.real == 0 && s.text == 0 {
        why_builtin.push_str("; only 0 and 1: type = \"boolean\" would take them too");
    }
    if builtin == "text" && s.text > 0 && s.text_json == s.text && s.numbers() + s.blob == 0 {
        why_builtin.push_str("; every text is JSON: type = \"jsonb\" would take them too");
    }
    if (builtin.starts_with("varchar") || builtin == "text") && s.text > 0 && s.text_uuid == s.text && s.numbers() + s.blob == 0 {
        why_builtin.push_str("; every text is a UUID: type = \"uuid\" would take them too");
    }
    if builtin == "bytea" && s.blob > 0 && s.blob_16 == s.blob && s.numbers() + s.text == 0 {
        why_builtin.push_str("; every blob is 16 bytes: type = \"uuid\" would take them if they are UUIDs");
    }
    out.push(cand(format!("type = {}", q(&builtin)), why_builtin));
    // A declared precision that the values exceed (SQLite never enforced
    // it): the exact decimal without one.
    if builtin.starts_with("numeric(") && s.text == s.text_number && s.blob == 0 {
        out.push(cand("type = \"numeric\"", format!("{seen} ({}): numbers beyond the declared {builtin}, kept exact", s.number_range())));
    }
    // The narrowest type that holds the classes.
    let numeric_aff = matches!(c.affinity, Affinity::Integer | Affinity::Real | Affinity::Numeric);
    if s.text == 0 && s.blob == 0 {
        if s.real == 0 {
            out.push(cand("type = \"bigint\"", format!("{seen} ({})", s.number_range())));
        } else {
            out.push(cand("type = \"double precision\"", format!("{seen} ({})", s.number_range())));
            out.push(cand("type = \"numeric\"", format!("{seen} ({}), integers beyond 2^53", s.number_range())));
        }
    }
    if s.blob == 0 || s.blob_utf8 == s.blob {
        let mut why = seen.clone();
        if s.numbers() > 0 && s.text > 0 && numeric_aff {
            let _ = write!(why, "; the texts are not numbers (SQLite would have converted them), so text keeps every value");
        }
        out.push(cand("type = \"text\"", why));
    }
    // Lossy text first only where the bad values are a minority of a
    // column declared as text (a stray Windows-1252 file name); a column of
    // binary blobs or hashes keeps its bytes as bytea.
    let bad_text = s.text_bad_utf8 + s.text_nul + (s.blob - s.blob_utf8);
    let declared_text = c.affinity == Affinity::Text && bad_text * 2 < s.values();
    let lossy = lossy_candidate(c.affinity, s);
    if declared_text {
        out.extend(lossy.clone());
    }
    if s.numbers() == 0 {
        out.push(cand("type = \"bytea\"", format!("{seen}: bytea keeps the bytes exactly")));
    }
    if !declared_text {
        out.extend(lossy);
    }
    // Same rule twice helps nobody.
    let mut seen_rules = Vec::new();
    out.retain(|c| {
        if seen_rules.contains(&c.rule) {
            false
        } else {
            seen_rules.push(c.rule.clone());
            true
        }
    });
    // A lossless bytea for binary blobs is the keeper: put the lossy rule
    // last only when the column is text-like.
    out
}

/// Text with the lossy policies, when some values are not valid UTF-8 or
/// hold NUL bytes.
fn lossy_candidate(affinity: Affinity, s: &Shapes) -> Option<Candidate> {
    let bad_blobs = s.blob - s.blob_utf8;
    let text_like = affinity == Affinity::Text || s.blob == 0 || s.text_bad_utf8 > 0;
    if !text_like || s.text_bad_utf8 + s.text_nul + bad_blobs == 0 {
        return None;
    }
    let mut opts = vec!["type = \"text\"".to_string()];
    let mut what = Vec::new();
    // A blob that is not UTF-8 text may be either; both policies cover it.
    if s.text_bad_utf8 + bad_blobs > 0 {
        opts.push("invalid_utf8 = \"replace-invalid\"".into());
        what.push(format!("{} value(s) are not valid UTF-8 (U+FFFD replaces the bytes)", s.text_bad_utf8 + bad_blobs));
    }
    if s.text_nul + bad_blobs > 0 {
        opts.push("nul = \"strip-nul\"".into());
        if s.text_nul > 0 {
            what.push(format!("{} text(s) hold NUL bytes (removed)", s.text_nul));
        }
    }
    Some(Candidate {
        rule: opts.join(", "),
        comment: format!("LOSSY: {}; for the exact bytes use type = \"bytea\"", what.join("; ")),
        lossy: true,
    })
}

/// Does a column name say it holds a point in time?
fn datish(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let no = ["duration", "zone", "offset", "interval", "count", "slot_id", "_id", "type", "timeout", "times"];
    if no.iter().any(|w| n.contains(w)) && !n.ends_with("_at") {
        return false;
    }
    n.contains("time")
        || n.contains("date")
        || n.ends_with("_at")
        || n.contains("expir")
        || n.contains("last_seen")
        || n.contains("modified")
        || n.contains("created")
        || n.contains("added")
}

fn number_words(s: &Shapes) -> &'static str {
    match (s.integer > 0, s.real > 0) {
        (true, true) => "integers and reals",
        (true, false) => "integers",
        _ => "reals",
    }
}

/// The epoch unit the nonzero numbers' magnitudes point to, if a clear
/// majority agrees: (input name, words).
fn epoch_unit(s: &Shapes, core_data: bool, temporal_decl: bool) -> Option<(&'static str, &'static str)> {
    let m = &s.magnitudes;
    let nonzero: u64 = m.iter().sum();
    if nonzero == 0 {
        return None;
    }
    let sum = |r: std::ops::Range<usize>| -> u64 { m[r].iter().sum() };
    // Julian days: reals 1.7e6–2.8e6 (years 0 to 3000).
    let jd = s.real > 0
        && s.integer == 0
        && s.real_min.is_some_and(|v| v >= 1.7e6)
        && s.real_max.is_some_and(|v| v <= 2.8e6);
    if jd && temporal_decl {
        return Some(("julian-day", "Julian day numbers (SQLite's julianday())"));
    }
    let votes = [
        // Mac absolute time: 1e8–1e9 is 2004–2032 from 2001 (and 1973–2001 from 1970).
        // Seconds of 1e8–1e9 are 2004–2032 counted from 2001 (Apple), or
        // 1973–2001 from 1970: Apple's is the likelier in a live database,
        // and the comment shows both.
        (sum(8..9), "apple-seconds"),
        (sum(9..11), "epoch-seconds"),
        (sum(11..14), "epoch-milliseconds"),
        (sum(14..16), "epoch-microseconds"),
        (sum(16..17), "webkit-microseconds"),
        (sum(17..20), "epoch-nanoseconds"),
    ];
    let (n, input) = votes.iter().copied().max_by_key(|(n, _)| *n)?;
    // A clear majority of the nonzero values, and no small numbers that
    // no epoch explains (2024 in a DATETIME column is a year, not a time).
    if n * 2 < nonzero || sum(0..8) * 10 > nonzero {
        return None;
    }
    let words = match input {
        "apple-seconds" if core_data => "Core Data: seconds since 2001-01-01 (Mac absolute time)",
        "apple-seconds" => "seconds since 2001-01-01 (Mac absolute time; as seconds since 1970 they would be 1973–2001)",
        "epoch-seconds" => "seconds since 1970",
        "epoch-milliseconds" => "milliseconds since 1970",
        "epoch-microseconds" => "microseconds since 1970 (e.g. Firefox PRTime)",
        "webkit-microseconds" => "microseconds since 1601 (Chrome/WebKit time)",
        _ => "nanoseconds since 1970",
    };
    Some((input, words))
}

/// The earliest and latest instant of the numbers read in `input`.
fn span_dates(s: &Shapes, input: &str) -> (String, String) {
    let Ok(Some((unit, origin))) = parse_time_input(input) else { return (String::new(), String::new()) };
    let conv = |v: f64| -> String {
        let r = if v.fract() == 0.0 && v.abs() < 9e18 {
            datetime::from_epoch_i64(v as i64, unit, origin)
        } else {
            datetime::from_epoch_f64(v, unit, origin)
        };
        match r {
            Ok(m) => {
                let mut o = String::new();
                datetime::format_micros(m, &mut o);
                o.truncate(10);
                o
            }
            Err(_) => "out of range".into(),
        }
    };
    let lo = [s.int_min.map(|v| v as f64), s.real_min].into_iter().flatten().fold(f64::INFINITY, f64::min);
    let hi = [s.int_max.map(|v| v as f64), s.real_max].into_iter().flatten().fold(f64::NEG_INFINITY, f64::max);
    if lo > hi {
        return (String::new(), String::new());
    }
    let _ = EpochUnit::Seconds;
    (conv(lo), conv(hi))
}

fn q(s: &str) -> String {
    toml_key(s)
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
