//! Step 2 of a suggestion: from a column's declared type and its shapes
//! (`shapes.rs`), the rules worth trying, best first, each with a comment
//! saying what was seen: the date/time readings (the one `migrate` would
//! choose itself, the epoch unit the numbers' magnitudes point to, ISO 8601
//! text), the built-in mapping's type, the narrowest type that holds the
//! storage classes, then the lossy text policies.

use std::fmt::Write as _;

use super::shapes::Shapes;
use crate::mapping::datetime::{self, EpochUnit};
use crate::mapping::file::{normalize_type_name, parse_time_input, Layers};
use crate::mapping::reading::{self, Choice, Numbers};
use crate::mapping::resolve::Mapper;
use crate::mapping::types::PgType;
use crate::model::{Affinity, Column, Table};

/// One rule the suggestion may write for a column.
#[derive(Debug, Clone)]
pub(super) struct Candidate {
    /// The body of an inline TOML table: `type = "timestamptz", input = "…"`.
    pub(super) rule: String,
    /// What was seen, and why this rule.
    pub(super) comment: String,
    /// Converts, but changes some values (replace-invalid, strip-nul).
    pub(super) lossy: bool,
}

fn cand(rule: impl Into<String>, comment: impl Into<String>) -> Candidate {
    Candidate { rule: rule.into(), comment: comment.into(), lossy: false }
}

/// Rules worth trying for one column, best first.
pub(super) fn candidates(t: &Table, c: &Column, s: &Shapes, base: &Layers) -> Vec<Candidate> {
    if s.values() == 0 {
        return Vec::new();
    }
    let decl = normalize_type_name(&c.decl_type);
    let builtin = builtin_type(t, c, base);
    let mut out = temporal_candidates(t, c, s, &decl, &builtin);
    out.push(declared_candidate(c, s, &builtin));
    class_candidates(c, s, &builtin, &mut out);
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

/// The built-in mapping's type for the declared type (no data fit).
fn builtin_type(t: &Table, c: &Column, base: &Layers) -> String {
    Mapper::new(base)
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
        .unwrap_or_else(|| "text".into())
}

/// Date/time rules, best first: the reading `migrate` would choose itself;
/// else, in a date-ish column, the epoch unit the numbers point to; then
/// ISO 8601 text in a column declared as a date or time.
fn temporal_candidates(t: &Table, c: &Column, s: &Shapes, decl: &str, builtin: &str) -> Vec<Candidate> {
    let mut out = Vec::new();
    let temporal_decl = ["DATE", "TIME"].iter().any(|w| decl.contains(w));
    let datish_name = datish(&c.name);
    let core_data = t.name.starts_with('Z') && c.name.starts_with('Z');
    let reading = migrate_reading(s, builtin, core_data);
    // Whether a rule with migrate's own reading was written.
    let migrate_reads = reading.is_some();
    out.extend(reading);
    // Numbers in a date-ish column: the unit their magnitude points to.
    if !migrate_reads && s.numbers() > 0 && s.blob == 0 && (temporal_decl || datish_name) {
        out.extend(epoch_candidate(s, decl, core_data, temporal_decl));
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
    out
}

/// Numbers alone in a column that `migrate` makes a date/time: the reading
/// it would choose itself (`mapping::reading`), written out. None when
/// `migrate` takes no reading (it keeps the numbers, or refuses in an
/// existing schema); the broader guesses may still propose one, as an
/// explicit rule.
fn migrate_reading(s: &Shapes, builtin: &str, core_data: bool) -> Option<Candidate> {
    let pg = PgType::parse(builtin)
        .ok()
        .filter(|pg| s.text == 0 && s.blob == 0 && matches!(pg, PgType::Timestamp | PgType::Timestamptz | PgType::Date))?;
    if s.numbers() == 0 {
        return None;
    }
    let n = Numbers {
        integers: s.integer,
        reals: s.real,
        min_int: s.int_min,
        max_int: s.int_max,
        min_real: s.real_min,
        max_real: s.real_max,
    };
    let samples = |r: &reading::Reading| r.samples.iter().map(|x| format!("{} → {}", x.raw, x.converted)).collect::<Vec<_>>().join(", ");
    match reading::choose(&n, &pg) {
        Some(Choice::Read(r)) => {
            let ty = if matches!(pg, PgType::Date) { "date" } else { "timestamptz" };
            let mut comment = format!("{} {}: {}, as migrate reads them without a rule ({})", number_words(s), s.number_range(), r.why, samples(&r));
            if core_data && r.input == "epoch-seconds" {
                comment.push_str("; if these are Core Data times (seconds since 2001), write input = \"apple-seconds\" instead");
            }
            Some(cand(format!("type = {}, input = {}", q(ty), q(r.input)), comment))
        }
        Some(Choice::Implausible { .. }) | None => None,
    }
}

/// The epoch unit the numbers' magnitudes point to, as a rule, when every
/// text beside them is ISO 8601.
fn epoch_candidate(s: &Shapes, decl: &str, core_data: bool, temporal_decl: bool) -> Option<Candidate> {
    let (input, what) = epoch_unit(s, core_data, temporal_decl)?;
    if s.text != s.text_iso {
        return None;
    }
    let ty = if decl == "DATE" && s.text_iso == s.text_iso_date_only { "date" } else { "timestamptz" };
    let (lo, hi) = span_dates(s, input);
    let mut comment = format!("{} {}: {what}{}", number_words(s), s.number_range(), if lo.is_empty() { String::new() } else { format!(" ({lo} … {hi})") });
    if s.text > 0 {
        let _ = write!(comment, "; and {} ISO text(s)", s.text);
    }
    if s.zeros > 0 {
        let _ = write!(comment, "; {} zero(s) become the epoch itself", s.zeros);
    }
    Some(cand(format!("type = {}, input = {}", q(ty), q(input)), comment))
}

/// The declared type's own mapping, with what else would take the values.
fn declared_candidate(c: &Column, s: &Shapes, builtin: &str) -> Candidate {
    let seen = s.classes();
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
    cand(format!("type = {}", q(builtin)), why_builtin)
}

/// After the declared type: the exact decimal beyond a declared precision,
/// the narrowest type that holds the storage classes, bytea, and the lossy
/// text policies (first only in a text column whose bad values are few).
fn class_candidates(c: &Column, s: &Shapes, builtin: &str, out: &mut Vec<Candidate>) {
    let seen = s.classes();
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
    super::toml_key(s)
}
