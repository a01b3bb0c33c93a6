//! `interval`: what SQLite holds for a duration, read as PostgreSQL's
//! three fields (months, days, microseconds), which it keeps apart and
//! never normalises on input (`'1 day'` and `'24 hours'` are equal but
//! print differently), so the split matters for fidelity.
//!
//! * an INTEGER is microseconds (Django's `DurationField` on SQLite). It is
//!   split as Python's `timedelta` splits it (whole days, then a time of
//!   0 ≤ t < 24 h), which is also what psycopg sends when the application
//!   writes the same value to PostgreSQL directly: `-1` µs is
//!   `-1 days +23:59:59.999999`;
//! * text as Python prints a `timedelta`: `[-]D day[s], H:MM:SS[.ffffff]`
//!   or `H:MM:SS[.ffffff]` (PostgreSQL reads it to the same fields);
//! * PostgreSQL's own output (`1 year 2 mons 3 days 04:05:06.5`,
//!   `-1 days +23:59:59.999999`), as a copy of PostgreSQL data holds it;
//! * an ISO 8601 duration `[-]P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`, with a
//!   fraction only on the seconds: years and months go to the months field,
//!   weeks and days to days, as in PostgreSQL;
//! * a naive date/time text: the time since 1970-01-01 00:00:00, which is
//!   how SQLAlchemy's `Interval` stores a duration where the database has
//!   no interval type (`1970-01-02 02:03:04.000005` is 1 day 2:03:04.000005).
//!
//! A REAL has no stated unit and is a bad value, as is anything else.

use super::datetime;

/// PostgreSQL's interval fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Interval {
    pub months: i32,
    pub days: i32,
    pub micros: i64,
}

const MICROS_PER_DAY: i64 = 86_400_000_000;
const MICROS_PER_SECOND: i64 = 1_000_000;

/// Microseconds as a `timedelta` splits them.
pub fn from_micros(us: i64) -> Interval {
    // |us| / 86 400e6 < 1.1e8: fits i32.
    Interval {
        months: 0,
        days: us.div_euclid(MICROS_PER_DAY) as i32,
        micros: us.rem_euclid(MICROS_PER_DAY),
    }
}

/// Text in one of the forms of the module docs.
pub fn parse_text(s: &[u8]) -> Result<Interval, &'static str> {
    let t = s.trim_ascii();
    if t.is_empty() {
        return Err(E_SYNTAX);
    }
    let body = t.strip_prefix(b"-").unwrap_or(t);
    if matches!(body.first(), Some(b'P' | b'p')) {
        return parse_iso8601(t);
    }
    if let Some(i) = parse_timedelta(t) {
        return Ok(i);
    }
    if let Some(i) = parse_postgres(t) {
        return Ok(i);
    }
    if t.len() >= 10 && t[4] == b'-' {
        let p = datetime::parse_iso(t)?;
        if p.offset_secs.is_some() {
            return Err(
                "a date/time with a UTC offset is an instant, not a duration since 1970-01-01",
            );
        }
        return Ok(from_micros(p.micros));
    }
    Err(E_SYNTAX)
}

const E_SYNTAX: &str = "not a duration: expected \"[D day[s], ]H:MM:SS[.ffffff]\", an ISO 8601 duration (P…), or integer microseconds";
const E_RANGE: &str = "duration out of range for interval";

/// `[-]D day[s], H:MM:SS[.ffffff]` or `[-]H:MM:SS[.ffffff]` (Python's
/// `str(timedelta)`; the sign belongs to the days only, as there).
fn parse_timedelta(t: &[u8]) -> Option<Interval> {
    let (days, clock) = match t.iter().position(|&b| b == b',') {
        Some(k) => {
            let head = std::str::from_utf8(&t[..k]).ok()?;
            let mut parts = head.split_ascii_whitespace();
            let n: i32 = parts.next()?.parse().ok()?;
            if !matches!(parts.next()?, "day" | "days") || parts.next().is_some() {
                return None;
            }
            (n, t[k + 1..].trim_ascii())
        }
        None => (0, t),
    };
    let (neg, clock) = match clock.strip_prefix(b"-") {
        Some(c) if days == 0 => (true, c),
        _ => (false, clock),
    };
    let mut fields = clock.splitn(3, |&b| b == b':');
    let h = digits(fields.next()?)?;
    let m = digits(fields.next()?)?;
    let sec_text = fields.next()?;
    let (whole, frac) = match sec_text.iter().position(|&b| b == b'.') {
        Some(k) => (&sec_text[..k], Some(&sec_text[k + 1..])),
        None => (sec_text, None),
    };
    let s = digits(whole)?;
    if m > 59 || s > 59 || whole.len() != 2 || (h > 23 && days != 0) {
        return None;
    }
    let frac = match frac {
        Some(f) => fraction_micros(f)?,
        None => 0,
    };
    let micros = ((h * 60 + m) * 60 + s)
        .checked_mul(MICROS_PER_SECOND)?
        .checked_add(frac)?;
    Some(Interval {
        months: 0,
        days,
        micros: if neg { -micros } else { micros },
    })
}

/// PostgreSQL's `postgres` interval style: `N year[s]`, `N mon[s]`,
/// `N day[s]` (each optional, signed) and an optional signed clock
/// `[+-]HH:MM:SS[.ffffff]`, separated by blanks.
fn parse_postgres(t: &[u8]) -> Option<Interval> {
    let text = std::str::from_utf8(t).ok()?;
    let mut words = text.split_ascii_whitespace().peekable();
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut seen = false;
    while let Some(w) = words.next() {
        if w.contains(':') {
            let (neg, clock) = match w.as_bytes()[0] {
                b'-' => (true, &w.as_bytes()[1..]),
                b'+' => (false, &w.as_bytes()[1..]),
                _ => (false, w.as_bytes()),
            };
            let mut f = clock.splitn(3, |&b| b == b':');
            let h = digits(f.next()?)?;
            let m = digits(f.next()?)?;
            let sec = f.next()?;
            let (whole, frac) = match sec.iter().position(|&b| b == b'.') {
                Some(k) => (&sec[..k], fraction_micros(&sec[k + 1..])?),
                None => (sec, 0),
            };
            let s = digits(whole)?;
            if m > 59 || s > 59 || whole.len() != 2 || words.peek().is_some() {
                return None;
            }
            let us = ((h * 60 + m) * 60 + s)
                .checked_mul(MICROS_PER_SECOND)?
                .checked_add(frac)?;
            micros = if neg { -us } else { us };
            seen = true;
            break;
        }
        let n: i64 = w.strip_prefix('+').unwrap_or(w).parse().ok()?;
        match words.next()? {
            "year" | "years" => months = months.checked_add(n.checked_mul(12)?)?,
            "mon" | "mons" => months = months.checked_add(n)?,
            "day" | "days" => days = days.checked_add(n)?,
            _ => return None,
        }
        seen = true;
    }
    if !seen {
        return None;
    }
    Some(Interval {
        months: i32::try_from(months).ok()?,
        days: i32::try_from(days).ok()?,
        micros,
    })
}

/// ASCII digits as a number (at most 12 of them).
fn digits(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 12 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    Some(b.iter().fold(0i64, |a, &d| a * 10 + i64::from(d - b'0')))
}

/// 1–6 fraction digits as microseconds (more only if they are zeros: a
/// finer value would be rounded by PostgreSQL).
fn fraction_micros(f: &[u8]) -> Option<i64> {
    if f.is_empty() || !f.iter().all(u8::is_ascii_digit) || f.iter().skip(6).any(|&d| d != b'0') {
        return None;
    }
    let mut us = 0i64;
    for i in 0..6 {
        us = us * 10 + f.get(i).map_or(0, |&d| i64::from(d - b'0'));
    }
    Some(us)
}

/// `[-]P[nY][nM][nW][nD][T[nH][nM][n[.f]S]]`.
fn parse_iso8601(t: &[u8]) -> Result<Interval, &'static str> {
    let (neg, rest) = match t.strip_prefix(b"-") {
        Some(r) => (true, r),
        None => (false, t),
    };
    let rest = &rest[1..];
    let (mut months, mut days, mut micros) = (0i64, 0i64, 0i64);
    let mut in_time = false;
    let mut seen_any = false;
    let mut i = 0;
    while i < rest.len() {
        if matches!(rest[i], b'T' | b't') && !in_time {
            in_time = true;
            i += 1;
            continue;
        }
        let start = i;
        while i < rest.len() && (rest[i].is_ascii_digit() || rest[i] == b'.') {
            i += 1;
        }
        let number = &rest[start..i];
        let unit = rest.get(i).ok_or(E_SYNTAX)?.to_ascii_uppercase();
        i += 1;
        let (whole, frac) = match number.iter().position(|&b| b == b'.') {
            Some(k) => (&number[..k], Some(&number[k + 1..])),
            None => (number, None),
        };
        let n = digits(whole).ok_or(E_SYNTAX)?;
        if frac.is_some() && !(in_time && unit == b'S') {
            return Err("a fraction is only read on the seconds of an ISO 8601 duration");
        }
        seen_any = true;
        match (in_time, unit) {
            (false, b'Y') => months += n.checked_mul(12).ok_or(E_RANGE)?,
            (false, b'M') => months += n,
            (false, b'W') => days += n.checked_mul(7).ok_or(E_RANGE)?,
            (false, b'D') => days += n,
            (true, b'H') => micros += n.checked_mul(3_600 * MICROS_PER_SECOND).ok_or(E_RANGE)?,
            (true, b'M') => micros += n.checked_mul(60 * MICROS_PER_SECOND).ok_or(E_RANGE)?,
            (true, b'S') => {
                let f = match frac {
                    Some(f) => fraction_micros(f).ok_or(E_SYNTAX)?,
                    None => 0,
                };
                micros += n
                    .checked_mul(MICROS_PER_SECOND)
                    .and_then(|s| s.checked_add(f))
                    .ok_or(E_RANGE)?;
            }
            _ => return Err(E_SYNTAX),
        }
    }
    if !seen_any {
        return Err(E_SYNTAX);
    }
    let sign = if neg { -1 } else { 1 };
    Ok(Interval {
        months: i32::try_from(sign * months).map_err(|_| E_RANGE)?,
        days: i32::try_from(sign * days).map_err(|_| E_RANGE)?,
        micros: sign * micros,
    })
}

/// The fields as PostgreSQL prints them (`1 year 2 mons 3 days
/// -04:05:06.5`), for messages.
pub fn display(i: &Interval) -> String {
    let mut parts = Vec::new();
    let (y, m) = (i.months / 12, i.months % 12);
    for (n, one, many) in [
        (y, "year", "years"),
        (m, "mon", "mons"),
        (i.days, "day", "days"),
    ] {
        if n != 0 {
            parts.push(format!("{n} {}", if n == 1 { one } else { many }));
        }
    }
    if i.micros != 0 || parts.is_empty() {
        let us = i.micros.unsigned_abs();
        let secs = us / 1_000_000;
        let mut t = format!(
            "{}{:02}:{:02}:{:02}",
            if i.micros < 0 { "-" } else { "" },
            secs / 3600,
            secs / 60 % 60,
            secs % 60
        );
        if us % 1_000_000 != 0 {
            t.push_str(format!(".{:06}", us % 1_000_000).trim_end_matches('0'));
        }
        parts.push(t);
    }
    parts.join(" ")
}

/// PostgreSQL's binary `interval` (`interval_send`): microseconds i64,
/// days i32, months i32, big-endian.
pub fn send_bytes(i: &Interval) -> [u8; 16] {
    let mut b = [0u8; 16];
    b[..8].copy_from_slice(&i.micros.to_be_bytes());
    b[8..12].copy_from_slice(&i.days.to_be_bytes());
    b[12..].copy_from_slice(&i.months.to_be_bytes());
    b
}

/// The inverse of [`send_bytes`].
pub fn from_send_bytes(b: &[u8]) -> Result<Interval, &'static str> {
    let [
        m0,
        m1,
        m2,
        m3,
        m4,
        m5,
        m6,
        m7,
        d0,
        d1,
        d2,
        d3,
        n0,
        n1,
        n2,
        n3,
    ] = <[u8; 16]>::try_from(b).map_err(|_| "bad interval length")?;
    Ok(Interval {
        micros: i64::from_be_bytes([m0, m1, m2, m3, m4, m5, m6, m7]),
        days: i32::from_be_bytes([d0, d1, d2, d3]),
        months: i32::from_be_bytes([n0, n1, n2, n3]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn iv(months: i32, days: i32, micros: i64) -> Interval {
        Interval {
            months,
            days,
            micros,
        }
    }

    #[test]
    fn microseconds_split_as_timedelta_does() {
        assert_eq!(from_micros(0), iv(0, 0, 0));
        assert_eq!(from_micros(93_784_000_005), iv(0, 1, 7_384_000_005));
        assert_eq!(from_micros(-1), iv(0, -1, 86_399_999_999));
        assert_eq!(from_micros(i64::MIN).days, -106_751_992);
    }

    #[test]
    fn text_forms() {
        assert_eq!(
            parse_text(b"1 day, 2:03:04.000005").unwrap(),
            iv(0, 1, 7_384_000_005)
        );
        assert_eq!(
            parse_text(b"-1 day, 23:59:59.999999").unwrap(),
            iv(0, -1, 86_399_999_999)
        );
        assert_eq!(parse_text(b"3 days, 0:00:00").unwrap(), iv(0, 3, 0));
        assert_eq!(parse_text(b"0:00:01.5").unwrap(), iv(0, 0, 1_500_000));
        assert_eq!(parse_text(b"-0:00:01").unwrap(), iv(0, 0, -1_000_000));
        assert_eq!(
            parse_text(b"P1Y2M3DT4H5M6.5S").unwrap(),
            iv(14, 3, 14_706_500_000)
        );
        assert_eq!(parse_text(b"P2W").unwrap(), iv(0, 14, 0));
        assert_eq!(parse_text(b"-PT1S").unwrap(), iv(0, 0, -1_000_000));
        assert_eq!(
            parse_text(b"1970-01-02 02:03:04.000005").unwrap(),
            iv(0, 1, 7_384_000_005)
        );
        assert_eq!(
            parse_text(b"1969-12-31 23:59:59").unwrap(),
            iv(0, -1, 86_399_000_000)
        );
        // PostgreSQL's own output, read back as the same fields.
        assert_eq!(
            parse_text(b"1 year 2 mons 3 days 04:05:06.5").unwrap(),
            iv(14, 3, 14_706_500_000)
        );
        assert_eq!(
            parse_text(b"-1 days +23:59:59.999999").unwrap(),
            iv(0, -1, 86_399_999_999)
        );
        assert_eq!(
            parse_text(b"100000000 days").unwrap(),
            iv(0, 100_000_000, 0)
        );
        assert_eq!(parse_text(b"-00:00:01").unwrap(), iv(0, 0, -1_000_000));
        assert_eq!(parse_text(b"2 mons -3 days").unwrap(), iv(2, -3, 0));
        for bad in [
            &b""[..],
            b"soon",
            b"P",
            b"P1.5D",
            b"1 week, 0:00:00",
            b"3 weeks",
            b"1 day 00:00:00 extra",
            b"5",
            b"0:60:00",
            b"1:00:00.1234567",
            b"2024-01-01T00:00:00Z",
        ] {
            assert!(parse_text(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn send_round_trip() {
        let i = iv(-3, 7, -123_456_789);
        assert_eq!(from_send_bytes(&send_bytes(&i)).unwrap(), i);
    }
}
