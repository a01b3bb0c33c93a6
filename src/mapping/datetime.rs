//! Dates and times: text and epoch numbers from SQLite to the microsecond
//! values PostgreSQL stores.
//!
//! Every instant here is an `i64` count of **microseconds since
//! 1970-01-01T00:00:00** (proleptic Gregorian, no leap seconds): a wall-clock
//! value for `timestamp`, UTC for `timestamptz`. Dates are `i64`/`i32` days
//! since 1970-01-01. This module owns:
//!
//! * [`parse_iso`], the hot path: the ISO 8601 / SQL text that SQLite's
//!   date functions, SQLAlchemy/SQLModel and Python's `str(datetime)` write.
//!   Hand-written, allocation-free.
//! * [`parse_with_format`] for user `strftime` formats (via chrono; not hot).
//! * [`from_epoch_i64`] / [`from_epoch_f64`] for numbers: Unix, Chrome/WebKit
//!   (1601), Apple (2001) epochs, and SQLite's `julianday()`.
//! * PostgreSQL's range checks and its 2000-01-01 binary epoch.
//! * [`format_micros`] for messages and reports.
//!
//! Choices that decide whether a value is bad (all deliberate):
//! * seconds must be 00–59: a leap second `:60` is rejected (PostgreSQL
//!   would silently roll it into the next minute);
//! * hours 00–23 (`24:00` only in [`parse_time`], as PostgreSQL's `time` allows);
//! * more than 6 fraction digits are accepted only when the extra digits
//!   are all zero: ferry never rounds a written time value silently;
//! * surrounding ASCII whitespace is ignored (PostgreSQL ignores it too);
//! * years have 4–6 digits, optionally signed (ISO 8601 astronomical
//!   numbering: year 0 is 1 BC);
//! * UTC offsets may be at most ±15:59:59, PostgreSQL's limit.

use chrono::format::ParseErrorKind;
use chrono::{DateTime, Datelike, NaiveDate, NaiveDateTime, Timelike};

pub const MICROS_PER_SECOND: i64 = 1_000_000;
pub const MICROS_PER_DAY: i64 = 86_400 * MICROS_PER_SECOND;

/// Epoch origins, as microseconds from 1970-01-01 00:00 UTC.
/// Unix time.
pub const UNIX: i64 = 0;
/// 1601-01-01: Chrome/WebKit timestamps (microseconds) and Windows FILETIME.
pub const WEBKIT_1601: i64 = -11_644_473_600 * MICROS_PER_SECOND;
/// 2001-01-01: Apple's Core Data / Mac absolute time (seconds).
pub const APPLE_2001: i64 = 978_307_200 * MICROS_PER_SECOND;
/// Julian day 0: -4713-11-24 12:00 UTC (4714 BC, proleptic Gregorian).
pub const JULIAN_DAY_ZERO: i64 = -210_866_760_000 * MICROS_PER_SECOND;

/// 2000-01-01, PostgreSQL's epoch for binary `timestamp`/`timestamptz`.
pub const PG_EPOCH_OFFSET_MICROS: i64 = 946_684_800_000_000;
/// 2000-01-01 in days since 1970, PostgreSQL's epoch for binary `date`.
pub const PG_EPOCH_OFFSET_DAYS: i64 = 10_957;

/// PostgreSQL's smallest timestamp, 4714-11-24 BC 00:00:00 (`MIN_TIMESTAMP`).
/// PostgreSQL's largest, 294276-12-31 23:59:59.999999, is beyond `i64`
/// microseconds since 1970, so every `i64` at or above this is in range.
pub const PG_TIMESTAMP_MIN: i64 = -2_440_588 * MICROS_PER_DAY;
/// PostgreSQL's smallest date, 4714-11-24 BC, in days since 1970.
pub const PG_DATE_MIN: i64 = -2_440_588;
/// PostgreSQL's largest date, 5874897-12-31, in days since 1970.
pub const PG_DATE_MAX: i64 = 2_145_042_905;

const E_SYNTAX: &str = "not an ISO 8601 date or timestamp";
const E_MONTH: &str = "month out of range";
const E_DAY: &str = "day out of range for month";
const E_HOUR: &str = "hour out of range";
const E_MINUTE: &str = "minute out of range";
const E_SECOND: &str = "second out of range (leap seconds are not supported)";
const E_FRACTION: &str = "fractional seconds finer than a microsecond";
const E_OFFSET: &str = "UTC offset out of range";
const E_RANGE: &str = "timestamp out of range";

/// A parsed date/time text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Parsed {
    /// The wall-clock value as written, in microseconds since 1970-01-01,
    /// *not* adjusted by `offset_secs` (see [`Parsed::utc_micros`]).
    pub micros: i64,
    /// The UTC offset written in the text (`Z` is `Some(0)`), east positive.
    pub offset_secs: Option<i32>,
    /// The text was a date without a time of day.
    pub date_only: bool,
}

impl Parsed {
    /// The instant in UTC: `micros − offset` (naive values are taken as UTC).
    pub fn utc_micros(&self) -> Result<i64, &'static str> {
        let off = i64::from(self.offset_secs.unwrap_or(0)) * MICROS_PER_SECOND;
        self.micros.checked_sub(off).ok_or(E_RANGE)
    }
}

// ---------------------------------------------------------------------------
// Calendar arithmetic (Howard Hinnant's algorithms, proleptic Gregorian).

/// Days since 1970-01-01 of year `y` (astronomical: 0 = 1 BC), month 1–12,
/// day 1–31. Exact for |y| < 2.5e16; never panics (wraps beyond that).
pub fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let (m, d) = (i64::from(m), i64::from(d));
    let y = if m <= 2 { y.wrapping_sub(1) } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400); // [0, 399]
    let mp = if m > 2 { m - 3 } else { m + 9 }; // March = 0
    let doy = (153 * mp + 2) / 5 + d - 1; // [0, 365]
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy; // [0, 146096]
    era.wrapping_mul(146_097).wrapping_add(doe).wrapping_sub(719_468)
}

/// (year, month, day) of a day count since 1970-01-01. Total: any `i64` works.
pub fn civil_from_days(days: i64) -> (i64, u32, u32) {
    // Shift the origin to 0000-03-01 without overflowing near i64::MIN/MAX.
    let rem = days.rem_euclid(146_097) + 719_468;
    let era = days.div_euclid(146_097) + rem / 146_097;
    let doe = rem % 146_097; // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32; // [1, 31]
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32; // [1, 12]
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[inline]
fn is_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

#[inline]
fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        _ if is_leap(y) => 29,
        _ => 28,
    }
}

// ---------------------------------------------------------------------------
// The hand-written ISO parser.

struct Cursor<'a> {
    s: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    #[inline]
    fn at_end(&self) -> bool {
        self.i >= self.s.len()
    }
    #[inline]
    fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    #[inline]
    fn digit(&mut self) -> Option<u32> {
        let d = self.peek()?.wrapping_sub(b'0');
        if d < 10 {
            self.i += 1;
            Some(u32::from(d))
        } else {
            None
        }
    }
    /// Exactly two digits.
    #[inline]
    fn two(&mut self) -> Option<u32> {
        let a = self.digit()?;
        let b = self.digit()?;
        Some(a * 10 + b)
    }
}

fn parse_date(c: &mut Cursor<'_>) -> Result<(i64, u32, u32), &'static str> {
    let neg = match c.peek() {
        Some(b'-') => {
            c.i += 1;
            true
        }
        Some(b'+') => {
            c.i += 1;
            false
        }
        _ => false,
    };
    let start = c.i;
    let mut year: i64 = 0;
    while let Some(d) = c.digit() {
        year = year * 10 + i64::from(d);
        if c.i - start > 6 {
            return Err(E_SYNTAX);
        }
    }
    if c.i - start < 4 || !c.eat(b'-') {
        return Err(E_SYNTAX);
    }
    let month = c.two().ok_or(E_SYNTAX)?;
    if !c.eat(b'-') {
        return Err(E_SYNTAX);
    }
    let day = c.two().ok_or(E_SYNTAX)?;
    let year = if neg { -year } else { year };
    if !(1..=12).contains(&month) {
        return Err(E_MONTH);
    }
    if day < 1 || day > days_in_month(year, month) {
        return Err(E_DAY);
    }
    Ok((year, month, day))
}

/// `HH:MM[:SS[.f+]]` → microseconds since midnight.
fn parse_clock(c: &mut Cursor<'_>, allow_24: bool) -> Result<i64, &'static str> {
    let h = c.two().ok_or(E_SYNTAX)?;
    if !c.eat(b':') {
        return Err(E_SYNTAX);
    }
    let m = c.two().ok_or(E_SYNTAX)?;
    let mut s = 0;
    let mut frac: i64 = 0;
    if c.eat(b':') {
        s = c.two().ok_or(E_SYNTAX)?;
        if c.eat(b'.') {
            let mut n = 0;
            while let Some(d) = c.digit() {
                if n < 6 {
                    frac = frac * 10 + i64::from(d);
                } else if d != 0 {
                    return Err(E_FRACTION);
                }
                n += 1;
            }
            if n == 0 {
                return Err(E_SYNTAX);
            }
            for _ in n..6 {
                frac *= 10;
            }
        }
    }
    if m > 59 {
        return Err(E_MINUTE);
    }
    if s > 59 {
        return Err(E_SECOND);
    }
    if h > 23 && !(allow_24 && h == 24 && m == 0 && s == 0 && frac == 0) {
        return Err(E_HOUR);
    }
    Ok((i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(s)) * MICROS_PER_SECOND + frac)
}

/// Optional ` `, then `Z`, `UTC`, `GMT`, `±HH`, `±HHMM`, `±HH:MM`, `±HH:MM:SS`.
fn parse_offset(c: &mut Cursor<'_>) -> Result<Option<i32>, &'static str> {
    if c.at_end() {
        return Ok(None);
    }
    c.eat(b' ');
    let rest = &c.s[c.i..];
    if rest.eq_ignore_ascii_case(b"z") || rest.eq_ignore_ascii_case(b"utc") || rest.eq_ignore_ascii_case(b"gmt") {
        c.i = c.s.len();
        return Ok(Some(0));
    }
    let sign: i32 = match c.peek() {
        Some(b'+') => 1,
        Some(b'-') => -1,
        _ => return Err(E_SYNTAX),
    };
    c.i += 1;
    let h = c.two().ok_or(E_SYNTAX)?;
    let mut m = 0;
    let mut s = 0;
    if c.eat(b':') {
        m = c.two().ok_or(E_SYNTAX)?;
        if c.eat(b':') {
            s = c.two().ok_or(E_SYNTAX)?;
        }
    } else if !c.at_end() {
        m = c.two().ok_or(E_SYNTAX)?;
    }
    if h > 15 || m > 59 || s > 59 {
        return Err(E_OFFSET);
    }
    Ok(Some(sign * (h as i32 * 3600 + m as i32 * 60 + s as i32)))
}

/// Parses `YYYY-MM-DD`, optionally followed by `T`/`t`/space and
/// `HH:MM[:SS[.ffffff]]`, optionally followed by an optional single space
/// and a UTC offset (`Z`/`z`, `UTC`/`GMT`, `±HH`, `±HHMM`, `±HH:MM`,
/// `±HH:MM:SS`). See the module docs for what is rejected.
///
/// `micros` is the wall-clock value as written; the offset is returned
/// separately (use [`Parsed::utc_micros`] for the instant).
pub fn parse_iso(s: &[u8]) -> Result<Parsed, &'static str> {
    match parse_fixed(s) {
        Some(p) => Ok(p),
        None => parse_general(s),
    }
}

/// [`parse_iso`] for every shape.
fn parse_general(s: &[u8]) -> Result<Parsed, &'static str> {
    let mut c = Cursor { s: s.trim_ascii(), i: 0 };
    let (y, m, d) = parse_date(&mut c)?;
    // |y| < 10^6: no overflow in days; micros is checked.
    let day_micros = days_from_civil(y, m, d).checked_mul(MICROS_PER_DAY).ok_or(E_RANGE)?;
    if c.at_end() {
        return Ok(Parsed { micros: day_micros, offset_secs: None, date_only: true });
    }
    if !matches!(c.peek(), Some(b'T' | b't' | b' ')) {
        return Err(E_SYNTAX);
    }
    c.i += 1;
    let tod = parse_clock(&mut c, false)?;
    let offset_secs = parse_offset(&mut c)?;
    if !c.at_end() {
        return Err(E_SYNTAX);
    }
    let micros = day_micros.checked_add(tod).ok_or(E_RANGE)?;
    Ok(Parsed { micros, offset_secs, date_only: false })
}

/// The two shapes most SQLite datetimes have, `YYYY-MM-DD HH:MM:SS` and
/// `YYYY-MM-DD HH:MM:SS.ffffff` (SQLAlchemy's; `T` also accepted), read at
/// fixed positions. None for anything else, including out-of-range fields,
/// which then take the general path and its precise error; where this
/// answers, it answers exactly as the general path does (a test compares
/// them on generated strings). It is the hottest conversion of typical
/// sources: study-log rows carry three datetimes each.
#[inline]
fn parse_fixed(s: &[u8]) -> Option<Parsed> {
    if !(s.len() == 19 || s.len() == 26) {
        return None;
    }
    let d = |i: usize| -> Option<u32> {
        let b = s[i].wrapping_sub(b'0');
        (b < 10).then_some(u32::from(b))
    };
    let two = |i: usize| Some(d(i)? * 10 + d(i + 1)?);
    if s[4] != b'-' || s[7] != b'-' || !matches!(s[10], b' ' | b'T' | b't') || s[13] != b':' || s[16] != b':' {
        return None;
    }
    let year = i64::from(two(0)? * 100 + two(2)?);
    let (month, day) = (two(5)?, two(8)?);
    let (h, m, sec) = (two(11)?, two(14)?, two(17)?);
    let mut frac: i64 = 0;
    if s.len() == 26 {
        if s[19] != b'.' {
            return None;
        }
        for i in 20..26 {
            frac = frac * 10 + i64::from(d(i)?);
        }
    }
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) || h > 23 || m > 59 || sec > 59 {
        return None;
    }
    let tod = (i64::from(h) * 3600 + i64::from(m) * 60 + i64::from(sec)) * MICROS_PER_SECOND + frac;
    Some(Parsed { micros: days_from_civil(year, month, day) * MICROS_PER_DAY + tod, offset_secs: None, date_only: false })
}

/// Parses a time of day `HH:MM[:SS[.ffffff]]` to microseconds since
/// midnight. `24:00:00` is accepted (as PostgreSQL's `time` does) and gives
/// 86 400 000 000. Surrounding ASCII whitespace is ignored.
pub fn parse_time(s: &[u8]) -> Result<i64, &'static str> {
    let mut c = Cursor { s: s.trim_ascii(), i: 0 };
    let t = parse_clock(&mut c, true).map_err(|e| if e == E_SYNTAX { "not a time of day HH:MM[:SS[.ffffff]]" } else { e })?;
    if !c.at_end() {
        return Err("not a time of day HH:MM[:SS[.ffffff]]");
    }
    Ok(t)
}

/// A time of day for a `time` column, as SQLite's `time()` reads one:
/// `HH:MM[:SS[.ffffff]]` ([`parse_time`], the fast path), or a whole
/// date/time text ([`parse_iso`]) whose time of day is taken, the date
/// dropped (Rails writes `time` values on a dummy date, `2000-01-01
/// 12:34:56`; PostgreSQL's own `'…'::time` drops the date the same way).
/// A date alone is not a time of day; a text with a UTC offset is read at
/// UTC, as SQLite's `time()` does.
pub fn parse_time_or_datetime(s: &[u8]) -> Result<i64, &'static str> {
    let err = match parse_time(s) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    match parse_iso(s) {
        Ok(p) if !p.date_only => Ok(time_of_day_micros(p.utc_micros()?)),
        Ok(_) => Err("a date without a time of day"),
        // A clock-shaped error from the ISO parser says more than the
        // time parser's syntax message.
        Err(E_SYNTAX) => Err(err),
        Err(e) => Err(e),
    }
}

/// Does a value in microseconds fit a column that keeps `precision`
/// fractional-second digits (`timestamp(3)`, `time(0)`)? PostgreSQL would
/// round a finer one on the way in, so it is refused instead. One branch
/// for the usual precision 6.
#[inline]
pub fn check_precision(micros: i64, precision: u8) -> Result<(), String> {
    if precision >= 6 {
        return Ok(());
    }
    let step = 10i64.pow(u32::from(6 - precision));
    if micros.rem_euclid(step) != 0 {
        return Err(format!(
            "has more than {precision} fractional digit(s) of a second, which the column keeps (PostgreSQL would round it)"
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// User formats (chrono), not on the hot path.

/// Does a strftime format contain a `%z`-style offset specifier
/// (`%z`, `%:z`, `%::z`, `%:::z`, `%#z`)? `%%` is a literal percent.
fn format_has_offset(fmt: &str) -> bool {
    let b = fmt.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            i += 1;
            if b.get(i) == Some(&b'%') {
                i += 1;
                continue;
            }
            while matches!(b.get(i), Some(b':' | b'#')) {
                i += 1;
            }
            if b.get(i) == Some(&b'z') {
                return true;
            }
        } else {
            i += 1;
        }
    }
    false
}

fn sub_micros(nanos: u32) -> Result<i64, String> {
    if nanos >= 1_000_000_000 {
        return Err(E_SECOND.to_owned());
    }
    if !nanos.is_multiple_of(1000) {
        return Err(E_FRACTION.to_owned());
    }
    Ok(i64::from(nanos / 1000))
}

fn naive_micros(dt: &NaiveDateTime) -> Result<i64, String> {
    let days = days_from_civil(i64::from(dt.year()), dt.month(), dt.day());
    let secs = i64::from(dt.num_seconds_from_midnight());
    days.checked_mul(MICROS_PER_DAY)
        .and_then(|m| m.checked_add(secs * MICROS_PER_SECOND + sub_micros(dt.nanosecond()).ok()?))
        .ok_or_else(|| E_RANGE.to_owned())
}

/// Parses text with a user's strftime format (chrono's dialect). A format
/// with `%z` yields `offset_secs`; one without a time of day yields a date
/// (`date_only`). Surrounding ASCII whitespace in `s` is ignored. As in
/// [`parse_iso`], `micros` is the wall-clock value as written, leap seconds
/// and sub-microsecond digits are rejected.
pub fn parse_with_format(s: &str, fmt: &str) -> Result<Parsed, String> {
    let s = s.trim_ascii();
    let mismatch = |e: chrono::ParseError| format!("does not match format {fmt:?}: {e}");
    if format_has_offset(fmt) {
        let dt = DateTime::parse_from_str(s, fmt).map_err(mismatch)?;
        sub_micros(dt.nanosecond())?;
        let micros = naive_micros(&dt.naive_local())?;
        return Ok(Parsed { micros, offset_secs: Some(dt.offset().local_minus_utc()), date_only: false });
    }
    match NaiveDateTime::parse_from_str(s, fmt) {
        Ok(dt) => {
            sub_micros(dt.nanosecond())?;
            Ok(Parsed { micros: naive_micros(&dt)?, offset_secs: None, date_only: false })
        }
        Err(e) if e.kind() == ParseErrorKind::NotEnough => {
            let d = NaiveDate::parse_from_str(s, fmt).map_err(mismatch)?;
            let days = days_from_civil(i64::from(d.year()), d.month(), d.day());
            Ok(Parsed { micros: days * MICROS_PER_DAY, offset_secs: None, date_only: true })
        }
        Err(e) => Err(mismatch(e)),
    }
}

// ---------------------------------------------------------------------------
// Epoch numbers.

/// The unit of an epoch number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EpochUnit {
    Seconds,
    Millis,
    Micros,
    Nanos,
    /// Days since Julian day 0, -4713-11-24 12:00 UTC (SQLite's
    /// `julianday()`); this unit carries its own origin.
    JulianDay,
}

/// Integer division rounding to nearest, ties to even. `d > 0`.
#[inline]
fn div_round_even(v: i64, d: i64) -> i64 {
    let q = v.div_euclid(d);
    let r = v.rem_euclid(d);
    if r * 2 > d || (r * 2 == d && q % 2 != 0) { q + 1 } else { q }
}

/// An integer epoch value to microseconds since 1970. `origin_micros` is the
/// epoch's offset from 1970 ([`UNIX`], [`WEBKIT_1601`], [`APPLE_2001`]); it
/// is ignored for [`EpochUnit::JulianDay`], whose origin is fixed (an
/// integral Julian day is noon UTC). Nanoseconds are rounded to the nearest
/// microsecond, ties to even. Overflow is an error, never a wrap.
pub fn from_epoch_i64(v: i64, unit: EpochUnit, origin_micros: i64) -> Result<i64, &'static str> {
    let rel = match unit {
        EpochUnit::Seconds => v.checked_mul(MICROS_PER_SECOND),
        EpochUnit::Millis => v.checked_mul(1000),
        EpochUnit::Micros => Some(v),
        EpochUnit::Nanos => Some(div_round_even(v, 1000)),
        EpochUnit::JulianDay => {
            return v
                .checked_mul(MICROS_PER_DAY)
                .and_then(|m| m.checked_add(JULIAN_DAY_ZERO))
                .ok_or(E_RANGE);
        }
    };
    rel.and_then(|r| r.checked_add(origin_micros)).ok_or(E_RANGE)
}

/// `x` (already integral) as i64, if it is in range.
#[inline]
fn f64_to_i64(x: f64) -> Option<i64> {
    // 2^63 is exactly representable; i64::MAX is not.
    (-9_223_372_036_854_775_808.0..9_223_372_036_854_775_808.0).contains(&x).then_some(x as i64)
}

/// A real epoch value to microseconds since 1970 (see [`from_epoch_i64`]
/// for `origin_micros`).
///
/// Rounding: the exact binary value of `v` is rounded to the nearest
/// microsecond, ties to even (as PostgreSQL's `to_timestamp(double)` does):
/// for seconds and milliseconds the integral part is scaled exactly in
/// integers and only the fraction goes through one float multiplication, so
/// large values lose nothing to the scaling. Julian days are rounded to the
/// nearest *millisecond* exactly as SQLite computes them
/// (`(jd * 86400000.0 + 0.5)` truncated), so the result matches what
/// SQLite's own `datetime(jd)` shows; a float Julian day has only ~20 µs of
/// precision anyway. NaN and ±infinity are errors, as is overflow.
pub fn from_epoch_f64(v: f64, unit: EpochUnit, origin_micros: i64) -> Result<i64, &'static str> {
    if !v.is_finite() {
        return Err("not a finite number");
    }
    let scaled = |per_unit: i64| -> Option<i64> {
        let whole = v.trunc();
        let frac_micros = ((v - whole) * per_unit as f64).round_ties_even();
        f64_to_i64(whole)?.checked_mul(per_unit)?.checked_add(frac_micros as i64)
    };
    let rel = match unit {
        EpochUnit::Seconds => scaled(MICROS_PER_SECOND),
        EpochUnit::Millis => scaled(1000),
        EpochUnit::Micros => f64_to_i64(v.round_ties_even()),
        EpochUnit::Nanos => f64_to_i64((v / 1000.0).round_ties_even()),
        EpochUnit::JulianDay => {
            let ms = f64_to_i64((v * 86_400_000.0 + 0.5).floor()).ok_or(E_RANGE)?;
            return ms
                .checked_mul(1000)
                .and_then(|m| m.checked_add(JULIAN_DAY_ZERO))
                .ok_or(E_RANGE);
        }
    };
    rel.and_then(|r| r.checked_add(origin_micros)).ok_or(E_RANGE)
}

// ---------------------------------------------------------------------------
// PostgreSQL ranges and binary epochs.

/// Is the timestamp within PostgreSQL's range (4714-11-24 BC 00:00 onwards;
/// the upper end, 294276 AD, is beyond any `i64` microseconds since 1970)?
/// Returns the value unchanged. For `timestamptz`, pass the UTC value.
pub fn check_pg_timestamp(micros: i64) -> Result<i64, &'static str> {
    if micros < PG_TIMESTAMP_MIN {
        return Err("timestamp out of range for PostgreSQL (before 4714-11-24 BC)");
    }
    Ok(micros)
}

/// Is the date (days since 1970) within PostgreSQL's range, 4714-11-24 BC
/// to 5874897-12-31 AD? Returns it as `i32` days since 1970.
pub fn check_pg_date(days: impl Into<i64>) -> Result<i32, &'static str> {
    let days: i64 = days.into();
    if days < PG_DATE_MIN {
        return Err("date out of range for PostgreSQL (before 4714-11-24 BC)");
    }
    if days > PG_DATE_MAX {
        return Err("date out of range for PostgreSQL (after 5874897-12-31)");
    }
    Ok(days as i32) // in range, see the bounds
}

/// PostgreSQL's binary `timestamp`/`timestamptz`: microseconds since
/// 2000-01-01. Saturates instead of wrapping; values that passed
/// [`check_pg_timestamp`] are exact.
#[inline]
pub fn to_pg_timestamp(micros: i64) -> i64 {
    micros.saturating_sub(PG_EPOCH_OFFSET_MICROS)
}

/// PostgreSQL's binary `date`: days since 2000-01-01. Saturates instead of
/// wrapping; values that passed [`check_pg_date`] are exact.
#[inline]
pub fn to_pg_date(days_since_1970: i64) -> i32 {
    days_since_1970
        .saturating_sub(PG_EPOCH_OFFSET_DAYS)
        .clamp(i64::from(i32::MIN), i64::from(i32::MAX)) as i32
}

/// Microseconds since midnight of an instant (PostgreSQL's binary `time`).
#[inline]
pub fn time_of_day_micros(micros: i64) -> i64 {
    micros.rem_euclid(MICROS_PER_DAY)
}

/// Days since 1970 of the day an instant falls on.
#[inline]
pub fn days_of(micros: i64) -> i64 {
    micros.div_euclid(MICROS_PER_DAY)
}

// ---------------------------------------------------------------------------
// Time zones for naive values.

/// The zone a naive date/time text is read in (`timezone` in a mapping
/// file): UTC, a fixed offset, or a named IANA zone with its DST rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Zone {
    #[default]
    Utc,
    /// Seconds east of UTC.
    Fixed(i32),
    Named(chrono_tz::Tz),
}

impl std::fmt::Display for Zone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Zone::Utc => f.write_str("UTC"),
            Zone::Fixed(s) => {
                let sign = if *s < 0 { '-' } else { '+' };
                let a = s.unsigned_abs();
                write!(f, "{sign}{:02}:{:02}", a / 3600, a / 60 % 60)
            }
            Zone::Named(tz) => f.write_str(tz.name()),
        }
    }
}

impl Zone {
    /// `UTC` (also `Z`, `Etc/UTC`), a fixed offset `+02:00` / `-0530` /
    /// `+02`, or an IANA name such as `Europe/Paris`.
    pub fn parse(tz: &str) -> Result<Zone, String> {
        let t = tz.trim();
        if t.eq_ignore_ascii_case("UTC") || t.eq_ignore_ascii_case("Etc/UTC") || t == "Z" || t.eq_ignore_ascii_case("GMT") {
            return Ok(Zone::Utc);
        }
        if let Some(rest) = t.strip_prefix('+').map(|r| (1, r)).or_else(|| t.strip_prefix('-').map(|r| (-1, r))) {
            let (sign, rest) = rest;
            let (h, m) = match rest.split_once(':') {
                Some((h, m)) => (h, m),
                // `is_char_boundary`: "+é3" is 4 bytes too, and must not be split inside é.
                None if rest.len() == 4 && rest.is_char_boundary(2) => rest.split_at(2),
                None => (rest, "0"),
            };
            let bad = || format!("time zone {tz:?}: not an offset like +02:00");
            if h.is_empty() || h.len() > 2 || !h.bytes().all(|b| b.is_ascii_digit()) || !m.bytes().all(|b| b.is_ascii_digit()) {
                return Err(bad());
            }
            let h: i32 = h.parse().map_err(|_| bad())?;
            let m: i32 = m.parse().map_err(|_| bad())?;
            if h > 15 || m > 59 {
                return Err(format!("time zone {tz:?}: offset out of range (at most ±15:59)"));
            }
            return Ok(Zone::Fixed(sign * (h * 3600 + m * 60)));
        }
        t.parse::<chrono_tz::Tz>().map(Zone::Named).map_err(|_| {
            format!("time zone {tz:?}: not UTC, an offset like +02:00, or an IANA zone name like Europe/Paris")
        })
    }

    /// A naive wall-clock value (microseconds since 1970, as written) read
    /// in this zone, to UTC microseconds. Named zones follow PostgreSQL's
    /// rules for `'…'::timestamptz`: a local time that falls in a DST gap
    /// (spring forward) is read with the offset in force before the gap;
    /// an ambiguous one (fall back) with the offset in force after the
    /// transition (standard time).
    pub fn local_to_utc(&self, local: i64) -> Result<i64, &'static str> {
        let offset_secs = match self {
            Zone::Utc => 0,
            Zone::Fixed(s) => *s,
            Zone::Named(tz) => {
                use chrono::{Offset, TimeZone};
                let naive = chrono::DateTime::from_timestamp_micros(local)
                    .ok_or("timestamp out of range for time zone conversion")?
                    .naive_utc();
                match tz.offset_from_local_datetime(&naive) {
                    chrono::LocalResult::Single(o) => o.fix().local_minus_utc(),
                    chrono::LocalResult::Ambiguous(a, b) => {
                        // The later instant is the one after the transition.
                        let (a, b) = (a.fix().local_minus_utc(), b.fix().local_minus_utc());
                        a.min(b)
                    }
                    chrono::LocalResult::None => {
                        // In a gap: the offset of an instant a day before.
                        let before = naive - chrono::Duration::hours(26);
                        tz.offset_from_utc_datetime(&before).fix().local_minus_utc()
                    }
                }
            }
        };
        local.checked_sub(i64::from(offset_secs) * MICROS_PER_SECOND).ok_or(E_RANGE)
    }
}

// ---------------------------------------------------------------------------
// Formatting.

fn push_padded(out: &mut String, v: u64, width: usize) {
    let mut buf = [b'0'; 20];
    let mut n = 0;
    let mut v = v;
    loop {
        buf[n] = b'0' + (v % 10) as u8;
        n += 1;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    for _ in n..width {
        out.push('0');
    }
    for &c in buf[..n].iter().rev() {
        out.push(char::from(c));
    }
}

/// Appends `YYYY-MM-DD HH:MM:SS[.ffffff]` (for messages and reports).
/// Fraction digits appear only when nonzero, with trailing zeros dropped
/// (as PostgreSQL prints timestamps: `10:30:00.12`). Years are astronomical
/// with at least 4 digits; negative years get a `-` sign (year 0 = 1 BC).
pub fn format_micros(micros: i64, out: &mut String) {
    let (y, m, d) = civil_from_days(days_of(micros));
    let tod = time_of_day_micros(micros);
    if y < 0 {
        out.push('-');
    }
    push_padded(out, y.unsigned_abs(), 4);
    out.push('-');
    push_padded(out, u64::from(m), 2);
    out.push('-');
    push_padded(out, u64::from(d), 2);
    out.push(' ');
    let secs = (tod / MICROS_PER_SECOND) as u64;
    push_padded(out, secs / 3600, 2);
    out.push(':');
    push_padded(out, secs / 60 % 60, 2);
    out.push(':');
    push_padded(out, secs % 60, 2);
    let mut frac = (tod % MICROS_PER_SECOND) as u64;
    if frac != 0 {
        let mut width = 6;
        while frac.is_multiple_of(10) {
            frac /= 10;
            width -= 1;
        }
        out.push('.');
        push_padded(out, frac, width);
    }
}

#[cfg(test)]
mod tests;
