//! How the numbers of a column headed for a date/time type are read, when
//! no mapping rule says (`input`): chosen once per column from what the
//! column holds, by this one function for `migrate` (both modes), `plan`,
//! `verify` and `inspect --suggest-mapping`, so they cannot disagree.
//!
//! SQLite documents three ways to store a date/time (datatype3.html §2.2):
//! ISO 8601 text, REAL Julian day numbers (`julianday()`), INTEGER Unix
//! time. Text needs no choice (every value carries its own form). For
//! numbers the rules are, in order:
//!
//! 1. the column holds reals, and every number lies in SQLite's Julian-day
//!    range `0 ≤ v < 5373484.5` (4714 BC to 9999 AD, the range its `auto`
//!    modifier reads as Julian days): **Julian day numbers**. Integers in
//!    such a column are Julian days too: a column of NUMERIC affinity
//!    (`DATETIME`) stores a whole-valued real such as `2460000.0` as the
//!    INTEGER 2460000.
//! 2. otherwise **Unix time**, its unit from the magnitude of the largest
//!    absolute value: below 1e11 seconds (1e11 s is the year 5138), below
//!    1e14 milliseconds, below 1e17 microseconds, else nanoseconds.
//!
//! Integers read as seconds and reals read as Julian days follow SQLite's
//! convention for their storage class; anything else (a unit beyond
//! seconds, reals read as Unix time) is chosen from the magnitude alone.
//! Either way the reading came from the data, so it is reported with two
//! samples, raw and converted, and a reading that lands the column
//! somewhere implausible is refused instead of loaded: every value within a
//! year of 1970-01-01 (small numbers read as Unix time), any value after
//! 9999-12-31 or before year 1, or reals and integers that point to
//! different readings (two encodings in one column).
//!
//! Decided from the column's count of integers and reals and the smallest
//! and largest of each (the storage-class profile), never per row: the
//! conversion is monotonic, so the extremes bound every converted value.

use std::fmt::Write as _;

use serde::Serialize;

use super::convert::write_real_as_text;
use super::datetime::{self, EpochUnit, MICROS_PER_DAY, UNIX};
use super::types::PgType;

/// The numbers of one column, as the choice needs them.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Numbers {
    pub integers: u64,
    pub reals: u64,
    pub min_int: Option<i64>,
    pub max_int: Option<i64>,
    pub min_real: Option<f64>,
    pub max_real: Option<f64>,
}

impl Numbers {
    /// From a storage-class profile; its ranges exist for columns of
    /// numeric affinity (`other` supplies them for the rest, e.g. from
    /// `source::stats`).
    pub fn of(
        p: &crate::model::StorageProfile,
        other: Option<(Option<i64>, Option<i64>, Option<f64>, Option<f64>)>,
    ) -> Numbers {
        let (min_int, max_int, min_real, max_real) = if p.min_int.is_some() || p.min_real.is_some()
        {
            (p.min_int, p.max_int, p.min_real, p.max_real)
        } else {
            other.unwrap_or_default()
        };
        Numbers {
            integers: p.integer,
            reals: p.real,
            min_int,
            max_int,
            min_real,
            max_real,
        }
    }

    /// Every class present has its range (a reading can be checked).
    fn ranged(&self) -> bool {
        (self.integers == 0 || self.min_int.is_some() && self.max_int.is_some())
            && (self.reals == 0 || self.min_real.is_some() && self.max_real.is_some())
    }
}

/// Why this reading: SQLite's convention for the storage class, or the
/// magnitude of the values alone.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Basis {
    Convention,
    Magnitude,
}

/// One stored value and what the reading makes of it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Sample {
    /// As SQLite stores it.
    pub raw: String,
    /// The instant (UTC), or the date, it becomes.
    pub converted: String,
}

/// A reading chosen from the data for one column.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Reading {
    /// The mapping file's name for it (`input = "…"`).
    pub input: &'static str,
    pub basis: Basis,
    /// In words, for people.
    pub why: String,
    /// The smallest and the largest value (one when they are equal).
    pub samples: Vec<Sample>,
    #[serde(skip)]
    pub unit: EpochUnit,
    #[serde(skip)]
    pub origin_micros: i64,
}

/// The outcome of [`choose`] for a column that holds numbers.
#[derive(Debug, Clone, PartialEq)]
pub enum Choice {
    Read(Reading),
    /// The only reading the rules give puts values somewhere no date of a
    /// live database is: refused (existing schema) or not taken (create
    /// mode keeps the numbers), never loaded.
    Implausible {
        reading: Reading,
        problem: String,
    },
}

/// SQLite's largest Julian day, 9999-12-31 23:59:59.999 (date.c's limit).
const JULIAN_MAX: f64 = 5_373_484.5;
/// 0001-01-01 and 10000-01-01 in microseconds since 1970.
const YEAR_1: i64 = -62_135_596_800_000_000;
const YEAR_10000: i64 = 253_402_300_800_000_000;
const YEAR: i64 = 365 * MICROS_PER_DAY;

#[derive(Clone, Copy)]
enum Raw {
    Int(i64),
    Real(f64),
}

impl Raw {
    fn f(self) -> f64 {
        match self {
            Raw::Int(i) => i as f64,
            Raw::Real(r) => r,
        }
    }
    fn convert(self, unit: EpochUnit) -> Result<i64, &'static str> {
        match self {
            Raw::Int(i) => datetime::from_epoch_i64(i, unit, UNIX),
            Raw::Real(r) => datetime::from_epoch_f64(r, unit, UNIX),
        }
    }
    fn show(self) -> String {
        match self {
            Raw::Int(i) => i.to_string(),
            Raw::Real(r) => {
                let mut s = String::new();
                write_real_as_text(r, &mut s);
                s
            }
        }
    }
}

/// The reading of the numbers of a column going into `pg` (a
/// `timestamp`, `timestamptz`, `date` or `time`: the instant's time of
/// day, as SQLite's `time()`), or None when it holds no numbers,
/// their range is unknown, or `pg` is not such a type.
pub fn choose(n: &Numbers, pg: &PgType) -> Option<Choice> {
    if !matches!(pg, PgType::Timestamp | PgType::Timestamptz | PgType::Date | PgType::Time)
        || n.integers + n.reals == 0
        || !n.ranged()
    {
        return None;
    }
    let (lo, hi) = extremes(n)?;
    let julian = n.reals > 0 && lo.f() >= 0.0 && hi.f() < JULIAN_MAX;
    let (unit, input, basis, mut why) = unit_of(n, julian, lo, hi);
    if julian && n.integers > 0 {
        why.push_str("; the integers among them are whole Julian days");
    }
    let date = matches!(pg, PgType::Date);
    // A `time` column keeps the time of day; small numbers there are
    // seconds of the day, not a sign of a wrong unit.
    let time = matches!(pg, PgType::Time);
    let (samples, converted, out_of_range) = samples(lo, hi, unit, date, time);
    let reading = Reading {
        input,
        basis,
        why,
        samples,
        unit,
        origin_micros: UNIX,
    };
    let facts = Facts { julian, date, time, lo, hi, converted };
    Some(match implausible(n, &reading, &facts, out_of_range) {
        Some(problem) => Choice::Implausible { reading, problem },
        None => Choice::Read(reading),
    })
}

/// The smallest and the largest finite number over both classes, as
/// stored.
fn extremes(n: &Numbers) -> Option<(Raw, Raw)> {
    let mut lo: Option<Raw> = None;
    let mut hi: Option<Raw> = None;
    for v in [
        n.min_int.map(Raw::Int),
        n.max_int.map(Raw::Int),
        n.min_real.map(Raw::Real),
        n.max_real.map(Raw::Real),
    ]
    .into_iter()
    .flatten()
    {
        if !v.f().is_finite() {
            continue;
        }
        if lo.is_none_or(|l| v.f() < l.f()) {
            lo = Some(v);
        }
        if hi.is_none_or(|h| v.f() > h.f()) {
            hi = Some(v);
        }
    }
    Some((lo?, hi?))
}

/// The unit, its mapping-file name, on what it rests and why in words:
/// Julian days, else Unix time in the unit the magnitude points to.
fn unit_of(n: &Numbers, julian: bool, lo: Raw, hi: Raw) -> (EpochUnit, &'static str, Basis, String) {
    if julian {
        return (
            EpochUnit::JulianDay,
            "julian-day",
            Basis::Convention,
            "Julian day numbers (SQLite's julianday(), its convention for REAL dates)".to_string(),
        );
    }
    let max_abs = lo.f().abs().max(hi.f().abs());
    let (unit, input, words) = if max_abs < 1e11 {
        (EpochUnit::Seconds, "epoch-seconds", "seconds")
    } else if max_abs < 1e14 {
        (EpochUnit::Millis, "epoch-milliseconds", "milliseconds")
    } else if max_abs < 1e17 {
        (EpochUnit::Micros, "epoch-microseconds", "microseconds")
    } else {
        (EpochUnit::Nanos, "epoch-nanoseconds", "nanoseconds")
    };
    if unit == EpochUnit::Seconds && n.reals == 0 {
        (
            unit,
            input,
            Basis::Convention,
            "Unix time, seconds since 1970 (SQLite's convention for INTEGER dates)".to_string(),
        )
    } else {
        (
            unit,
            input,
            Basis::Magnitude,
            format!(
                "Unix time, {words} since 1970, guessed from the magnitude of the values (largest {max_abs:.3e})"
            ),
        )
    }
}

/// The smallest and the largest value read in `unit` (one sample when
/// they are equal), the instants they become (the bounds of `i64` for one
/// out of range), and the first value out of range, said in words.
fn samples(lo: Raw, hi: Raw, unit: EpochUnit, date: bool, time: bool) -> (Vec<Sample>, [i64; 2], Option<String>) {
    let mut samples = Vec::new();
    let mut problem = None;
    let mut converted = [0i64; 2];
    for (k, v) in [lo, hi].into_iter().enumerate() {
        if k == 1 && samples.first().is_some_and(|s: &Sample| s.raw == v.show()) {
            converted[1] = converted[0];
            break;
        }
        let shown = match v.convert(unit) {
            Ok(us) => {
                converted[k] = us;
                let mut s = String::new();
                datetime::format_micros(us, &mut s);
                if date && us.rem_euclid(MICROS_PER_DAY) == 0 {
                    s.truncate(s.len() - " 00:00:00".len());
                }
                if time && let Some((_, clock)) = s.split_once(' ') {
                    s = clock.to_string();
                }
                s
            }
            Err(e) => {
                problem.get_or_insert_with(|| format!("{} is {e}", v.show()));
                converted[k] = if k == 0 { i64::MIN } else { i64::MAX };
                "(out of range)".to_string()
            }
        };
        samples.push(Sample {
            raw: v.show(),
            converted: shown,
        });
    }
    (samples, converted, problem)
}

/// What [`implausible`] judges a reading by, besides the counts.
struct Facts {
    julian: bool,
    date: bool,
    time: bool,
    lo: Raw,
    hi: Raw,
    /// The instants `lo` and `hi` become.
    converted: [i64; 2],
}

/// Why no date of a live database reads this way, if so: a value out of
/// range (`out_of_range`, found while converting), two encodings in one
/// column, a time of day in a date column, instants outside the years
/// 1–9999, small numbers, or seconds that fit two epochs.
fn implausible(n: &Numbers, reading: &Reading, f: &Facts, out_of_range: Option<String>) -> Option<String> {
    let mut problem = out_of_range;
    let (julian, date, time, lo, hi) = (f.julian, f.date, f.time, f.lo, f.hi);
    let [first, last] = f.converted;
    // Reals inside the Julian range beside integers outside it (or the
    // reverse): two encodings in one column, which no one reading fits.
    let in_julian = |lo: Option<f64>, hi: Option<f64>| {
        lo.zip(hi).is_some_and(|(l, h)| l >= 0.0 && h < JULIAN_MAX)
    };
    if n.integers > 0
        && n.reals > 0
        && in_julian(n.min_real, n.max_real)
            != in_julian(n.min_int.map(|v| v as f64), n.max_int.map(|v| v as f64))
    {
        problem = Some("its reals and its integers point to different readings (one inside SQLite's Julian-day range, the other outside it)".to_string());
    }
    if problem.is_none() && date && (first.rem_euclid(MICROS_PER_DAY) != 0 || last.rem_euclid(MICROS_PER_DAY) != 0) {
        problem = Some("its values have a time of day, which a date column would lose".to_string());
    }
    if problem.is_none() {
        if last >= YEAR_10000 {
            problem = Some(format!("{} would be after the year 9999", hi.show()));
        } else if first < YEAR_1 {
            problem = Some(format!("{} would be before the year 1", lo.show()));
        } else if !julian && !time && first > -YEAR && last < YEAR {
            problem = Some("every value would fall within a year of 1970-01-01: these are small numbers, not Unix times".to_string());
        } else if reading.unit == EpochUnit::Seconds && !julian && lo.f() >= 1e8 && hi.f() < 1e9 {
            // 1e8–1e9 seconds: 1973–2001 since 1970, or 2004–2032 since
            // 2001 (Mac absolute time, which Core Data writes). Nothing in
            // the numbers tells the two apart, and 31 years is no rounding.
            problem = Some(
                "every value lies between 1e8 and 1e9 seconds: 1973 to 2001 counted from 1970, or 2004 to 2032 counted from 2001 (Mac absolute time, input = \"apple-seconds\"), and the numbers cannot tell which".to_string(),
            );
        }
    }
    problem
}

/// The mapping rule that states a column's reading, as TOML.
pub fn rule_toml(table: &str, column: &str, input: &str) -> String {
    format!(
        "[tables.{}.columns] {} = {{ input = \"{input}\" }}",
        toml_quote(table),
        toml_quote(column)
    )
}

/// A TOML string for a table or column name (quoted, escaped as needed).
fn toml_quote(s: &str) -> String {
    toml::Value::String(s.to_string()).to_string()
}

/// The one-line warning for a reading chosen from the data (stderr,
/// `--json`, `--report`, `plan`).
pub fn warning(table: &str, column: &str, r: &Reading) -> String {
    let mut s = format!(
        "table {table:?}, column {column:?}: numbers read as {}; e.g. ",
        r.why
    );
    for (i, x) in r.samples.iter().enumerate() {
        if i > 0 {
            s.push_str(", ");
        }
        let _ = write!(s, "{} → {}", x.raw, x.converted);
    }
    let _ = write!(
        s,
        ". A mapping rule makes it explicit: {}",
        rule_toml(table, column, r.input)
    );
    s
}

/// The refusal of an implausible reading: names the column, says what is
/// wrong, and the rule that would make the reading explicit.
pub fn refusal(table: &str, column: &str, reading: &Reading, problem: &str) -> String {
    let samples: Vec<String> = reading
        .samples
        .iter()
        .map(|x| format!("{} → {}", x.raw, x.converted))
        .collect();
    format!(
        "its numbers have no plausible date/time reading: read as {} ({}), {problem}. If they are dates, say how they are stored, e.g. {} (or \"epoch-seconds\", \"epoch-milliseconds\", \"julian-day\", \"apple-seconds\", …); otherwise exclude the column or load it into a numeric column",
        reading.why,
        samples.join(", "),
        rule_toml(table, column, reading.input)
    )
}

#[cfg(test)]
mod tests;
