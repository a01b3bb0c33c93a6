//! Text into `time`: a time of day, written alone (`10:30:00`) or after a
//! placeholder date.
//!
//! Some applications keep a time of day as a full timestamp on a fixed
//! dummy date: Rails writes a `time` column on SQLite as
//! `2000-01-01 10:30:00`, JavaScript and Java dates put it on 1970-01-01,
//! ODBC and SQL Server on 1900-01-01, OLE Automation / Excel on
//! 1899-12-30. With one of those dates the value is read as its time of
//! day. Any other date is a real date that `time` would drop: a bad value
//! (map the column to `timestamp` to keep it). The rule is fixed, not
//! guessed from the column's data, so every value is read the same way
//! whatever its neighbours hold. A UTC offset is refused too: `time` has
//! no zone to keep it in.

use super::datetime;

/// The placeholder dates, as days since 1970-01-01.
const DUMMY_DATES: [(i64, &str); 4] = [
    (10_957, "2000-01-01"),
    (0, "1970-01-01"),
    (-25_567, "1900-01-01"),
    (-25_569, "1899-12-30"),
];

const MICROS_PER_DAY: i64 = 86_400_000_000;

/// Microseconds since midnight.
pub fn parse(s: &[u8]) -> Result<i64, &'static str> {
    let e = match datetime::parse_time(s) {
        Ok(t) => return Ok(t),
        Err(e) => e,
    };
    // Not a bare time: a date and a time?
    let t = s.trim_ascii();
    if t.len() < 11 || t.get(4) != Some(&b'-') {
        return Err(e);
    }
    let p = datetime::parse_iso(t).map_err(|_| e)?;
    if p.date_only {
        return Err("a date without a time of day is not a time");
    }
    if p.offset_secs.is_some() {
        return Err("a time with a UTC offset: time (without time zone) cannot keep the offset");
    }
    let day = p.micros.div_euclid(MICROS_PER_DAY);
    if !DUMMY_DATES.iter().any(|&(d, _)| d == day) {
        return Err(
            "a time of day on a real date (not a placeholder date 2000-01-01, 1970-01-01, 1900-01-01 or 1899-12-30): time would lose the date; map the column to timestamp",
        );
    }
    Ok(p.micros.rem_euclid(MICROS_PER_DAY))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_and_placeholder_dated_times() {
        assert_eq!(parse(b"10:30:00").unwrap(), 37_800_000_000);
        assert_eq!(parse(b"2000-01-01 10:30:00").unwrap(), 37_800_000_000);
        assert_eq!(parse(b"1970-01-01T10:30:00.5").unwrap(), 37_800_500_000);
        assert_eq!(parse(b"1900-01-01 00:00:01").unwrap(), 1_000_000);
        assert_eq!(
            parse(b"1899-12-30 23:59:59.999999").unwrap(),
            MICROS_PER_DAY - 1
        );
        assert!(
            parse(b"2024-05-03 10:30:00")
                .unwrap_err()
                .contains("real date")
        );
        assert!(
            parse(b"2000-01-01 10:30:00+02:00")
                .unwrap_err()
                .contains("offset")
        );
        assert!(parse(b"2000-01-01").is_err());
        assert!(parse(b"later").is_err());
        for (d, text) in DUMMY_DATES {
            assert_eq!(
                datetime::parse_iso(text.as_bytes()).unwrap().micros,
                d * MICROS_PER_DAY,
                "{text}"
            );
        }
    }
}
