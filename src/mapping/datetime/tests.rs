//! Tests of `mapping::datetime`: civil dates, ISO 8601 text accepted and
//! refused, times of day, fractional precision, epoch numbers, formatting.

use super::*;

fn ymd(y: i64, m: u32, d: u32) -> i64 {
    days_from_civil(y, m, d) * MICROS_PER_DAY
}

fn at(y: i64, mo: u32, d: u32, h: i64, mi: i64, s: i64, us: i64) -> i64 {
    ymd(y, mo, d) + ((h * 60 + mi) * 60 + s) * MICROS_PER_SECOND + us
}

#[test]
fn civil_round_trip() {
    assert_eq!(days_from_civil(1970, 1, 1), 0);
    assert_eq!(days_from_civil(2000, 1, 1), PG_EPOCH_OFFSET_DAYS);
    assert_eq!(days_from_civil(1969, 12, 31), -1);
    assert_eq!(days_from_civil(2024, 2, 29), 19_782);
    assert_eq!(days_from_civil(-4713, 11, 24), PG_DATE_MIN);
    assert_eq!(days_from_civil(5_874_897, 12, 31), PG_DATE_MAX);
    assert_eq!(days_from_civil(1601, 1, 1) * MICROS_PER_DAY, WEBKIT_1601);
    assert_eq!(days_from_civil(2001, 1, 1) * MICROS_PER_DAY, APPLE_2001);
    assert_eq!(days_from_civil(-4713, 11, 24) * MICROS_PER_DAY + MICROS_PER_DAY / 2, JULIAN_DAY_ZERO);
    for days in (-3_000_000..3_000_000).step_by(997).chain([i64::MIN, i64::MAX, -1, 0, 1]) {
        let (y, m, d) = civil_from_days(days);
        assert!((1..=12).contains(&m) && d >= 1 && d <= days_in_month(y, m), "{days}");
        if y.abs() < 1_000_000_000 {
            assert_eq!(days_from_civil(y, m, d), days);
        }
    }
    // Nothing panics at the extremes.
    days_from_civil(i64::MAX, 12, 31);
    days_from_civil(i64::MIN, 1, 1);
    days_from_civil(0, u32::MAX, u32::MAX);
}

#[test]
fn fixed_shapes_answer_as_the_general_parser() {
    // Strings built from the fixed shapes with every position varied
    // over digits, separators and junk: wherever the fast path answers,
    // the general path (called without it) gives the same.
    let alphabet = b"0123456789 -:.Tx+Z9";
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut answered = 0;
    for base in ["2024-02-29 23:59:59.999999", "1999-12-31T00:00:00", "2023-04-30 12:34:56.000001", "0000-01-01 00:00:00"] {
        for _ in 0..200_000 {
            let mut s = base.as_bytes().to_vec();
            // Change one to three positions at random.
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            for k in 0..=(seed % 3) {
                let pos = ((seed >> (8 + 8 * k)) as usize) % s.len();
                s[pos] = alphabet[((seed >> (4 + 8 * k)) as usize) % alphabet.len()];
            }
            if let Some(fast) = parse_fixed(&s) {
                answered += 1;
                assert_eq!(Ok(fast), parse_general(&s), "{:?}", String::from_utf8_lossy(&s));
            }
        }
    }
    assert!(answered > 100_000, "the fast path answered {answered} times");
}

#[test]
fn parse_iso_accepts() {
    let cases: &[(&str, i64, Option<i32>, bool)] = &[
        ("2024-01-15", ymd(2024, 1, 15), None, true),
        ("1970-01-01", 0, None, true),
        ("2024-02-29", ymd(2024, 2, 29), None, true),
        ("2000-02-29", ymd(2000, 2, 29), None, true),
        ("2024-01-15 10:30", at(2024, 1, 15, 10, 30, 0, 0), None, false),
        ("2024-01-15T10:30:00", at(2024, 1, 15, 10, 30, 0, 0), None, false),
        ("2024-01-15t10:30:00", at(2024, 1, 15, 10, 30, 0, 0), None, false),
        ("2024-01-15 10:30:00.123456", at(2024, 1, 15, 10, 30, 0, 123_456), None, false),
        ("2024-01-15 10:30:00.1", at(2024, 1, 15, 10, 30, 0, 100_000), None, false),
        ("2024-01-15 10:30:00.000123", at(2024, 1, 15, 10, 30, 0, 123), None, false),
        ("2024-01-15 10:30:00.123456000", at(2024, 1, 15, 10, 30, 0, 123_456), None, false),
        ("2024-01-15T10:30:00Z", at(2024, 1, 15, 10, 30, 0, 0), Some(0), false),
        ("2024-01-15T10:30:00z", at(2024, 1, 15, 10, 30, 0, 0), Some(0), false),
        ("2024-01-15 10:30:00.123456+00:00", at(2024, 1, 15, 10, 30, 0, 123_456), Some(0), false),
        ("2024-01-15 10:30:00 +02:00", at(2024, 1, 15, 10, 30, 0, 0), Some(7200), false),
        ("2024-01-15T10:30:00-0530", at(2024, 1, 15, 10, 30, 0, 0), Some(-19_800), false),
        ("2024-01-15T10:30:00+05", at(2024, 1, 15, 10, 30, 0, 0), Some(18_000), false),
        ("2024-01-15T10:30+05:45", at(2024, 1, 15, 10, 30, 0, 0), Some(20_700), false),
        ("1880-01-01 00:00:00+00:09:21", ymd(1880, 1, 1), Some(561), false),
        ("2024-01-15 10:30:00 UTC", at(2024, 1, 15, 10, 30, 0, 0), Some(0), false),
        ("2024-01-15 10:30:00 +0100", at(2024, 1, 15, 10, 30, 0, 0), Some(3600), false),
        ("  2024-01-15 10:30:00\n", at(2024, 1, 15, 10, 30, 0, 0), None, false),
        ("1969-12-31 23:59:59.999999", -1, None, false),
        ("0000-01-01", ymd(0, 1, 1), None, true),
        ("-4713-11-24", ymd(-4713, 11, 24), None, true),
        ("+10000-01-01", ymd(10_000, 1, 1), None, true),
        ("294247-01-01 23:59:59", at(294_247, 1, 1, 23, 59, 59, 0), None, false),
    ];
    for (s, micros, off, date_only) in cases {
        let p = parse_iso(s.as_bytes()).unwrap_or_else(|e| panic!("{s:?}: {e}"));
        assert_eq!(p, Parsed { micros: *micros, offset_secs: *off, date_only: *date_only }, "{s:?}");
    }
    let p = parse_iso(b"2024-01-15 12:00:00+02:00").unwrap();
    assert_eq!(p.utc_micros(), Ok(at(2024, 1, 15, 10, 0, 0, 0)));
}

#[test]
fn parse_iso_rejects() {
    let cases: &[(&str, &str)] = &[
        ("", E_SYNTAX),
        ("2024", E_SYNTAX),
        ("2024-1-15", E_SYNTAX),
        ("24-01-15", E_SYNTAX),
        ("2024/01/15", E_SYNTAX),
        ("20240115", E_SYNTAX),
        ("2024-01-15x", E_SYNTAX),
        ("2024-01-15T", E_SYNTAX),
        ("2024-01-15 10", E_SYNTAX),
        ("2024-01-15 10:3", E_SYNTAX),
        ("2024-01-15 10:30:0", E_SYNTAX),
        ("2024-01-15 10:30.5", E_SYNTAX),
        ("2024-01-15 10:30:00.", E_SYNTAX),
        ("2024-01-15 10:30:00  +00:00", E_SYNTAX),
        ("2024-01-15 10:30:00+1", E_SYNTAX),
        ("2024-01-15 10:30:00+01:", E_SYNTAX),
        ("2024-01-15 10:30:00+01:0", E_SYNTAX),
        ("2024-01-15 10:30:00 PST", E_SYNTAX),
        ("2024-01-15 10:30:00Zjunk", E_SYNTAX),
        ("1234567-01-01", E_SYNTAX),
        ("2024-00-10", E_MONTH),
        ("2024-13-10", E_MONTH),
        ("2024-01-00", E_DAY),
        ("2024-01-32", E_DAY),
        ("2023-02-29", E_DAY),
        ("1900-02-29", E_DAY),
        ("2024-04-31", E_DAY),
        ("2024-01-15 24:00:00", E_HOUR),
        ("2024-01-15 10:60:00", E_MINUTE),
        ("2024-01-15 23:59:60", E_SECOND),
        ("2024-01-15 10:30:00.1234567", E_FRACTION),
        ("2024-01-15 10:30:00.1234560001", E_FRACTION),
        ("2024-01-15 10:30:00+16:00", E_OFFSET),
        ("2024-01-15 10:30:00+01:60", E_OFFSET),
        ("999999-12-31", E_RANGE),
        // PostgreSQL goes up to 294276 AD, i64 microseconds since 1970 only to 294247.
        ("294276-12-31 23:59:59", E_RANGE),
        ("-999999-01-01", E_RANGE),
    ];
    for (s, want) in cases {
        assert_eq!(parse_iso(s.as_bytes()), Err(*want), "{s:?}");
    }
    // Non-UTF-8 and odd bytes never panic.
    for s in [&b"\xff\xfe"[..], b"2024-01-15 10:30:00\xc3", b"\x002024-01-15", b"-", b"+"] {
        assert!(parse_iso(s).is_err());
    }
}

#[test]
fn parse_time_cases() {
    let ok: &[(&str, i64)] = &[
        ("00:00", 0),
        ("10:30", (10 * 60 + 30) * 60 * MICROS_PER_SECOND),
        ("10:30:15", ((10 * 60 + 30) * 60 + 15) * MICROS_PER_SECOND),
        ("23:59:59.999999", MICROS_PER_DAY - 1),
        ("00:00:00.5", 500_000),
        ("24:00:00", MICROS_PER_DAY),
        ("24:00", MICROS_PER_DAY),
        (" 01:02:03 ", 3_723 * MICROS_PER_SECOND),
    ];
    for (s, want) in ok {
        assert_eq!(parse_time(s.as_bytes()), Ok(*want), "{s:?}");
    }
    for s in ["", "1:30", "10:30:", "24:00:01", "24:00:00.000001", "25:00", "10:61", "10:30:60", "10:30+01:00", "10:30:00.1234567", "T10:30"] {
        assert!(parse_time(s.as_bytes()).is_err(), "{s:?}");
    }
}

#[test]
fn fractional_precision() {
    assert!(check_precision(1_500_000, 0).is_err());
    assert!(check_precision(2_000_000, 0).is_ok());
    assert!(check_precision(-1_000, 3).is_ok() && check_precision(-1, 3).is_err());
    assert!(check_precision(123, 6).is_ok());
}

#[test]
fn time_of_day_from_datetime_text() {
    let t = |h: i64, m: i64, s: i64, us: i64| ((h * 60 + m) * 60 + s) * MICROS_PER_SECOND + us;
    for (text, want) in [
        ("12:34:56", Ok(t(12, 34, 56, 0))),
        ("2000-01-01 23:59:59.999999", Ok(t(23, 59, 59, 999_999))),
        ("2000-01-01 12:34:56.000001", Ok(t(12, 34, 56, 1))),
        ("2000-01-01T00:00:00", Ok(0)),
        ("2024-01-15 10:30:00+02:00", Ok(t(8, 30, 0, 0))),
        ("2024-01-15 01:30:00+02:00", Ok(t(23, 30, 0, 0))),
        ("24:00:00", Ok(MICROS_PER_DAY)),
        ("2000-01-01", Err("a date without a time of day")),
        ("2000-01-01 25:00:00", Err(E_HOUR)),
        ("noon", Err("not a time of day HH:MM[:SS[.ffffff]]")),
    ] {
        assert_eq!(parse_time_or_datetime(text.as_bytes()), want, "{text}");
    }
}

#[test]
fn format_micros_cases() {
    let cases: &[(i64, &str)] = &[
        (0, "1970-01-01 00:00:00"),
        (-1, "1969-12-31 23:59:59.999999"),
        (at(2024, 1, 15, 10, 30, 0, 123_000), "2024-01-15 10:30:00.123"),
        (at(2024, 1, 15, 10, 30, 0, 120_456), "2024-01-15 10:30:00.120456"),
        (at(2024, 1, 15, 10, 30, 0, 1), "2024-01-15 10:30:00.000001"),
        (ymd(5, 3, 1), "0005-03-01 00:00:00"),
        (ymd(-4713, 11, 24), "-4713-11-24 00:00:00"),
        (ymd(12_345, 6, 7), "12345-06-07 00:00:00"),
    ];
    for (v, want) in cases {
        let mut s = String::from(">");
        format_micros(*v, &mut s);
        assert_eq!(s, format!(">{want}"));
    }
    // Extremes don't panic and round-trip through parse_iso where representable.
    for v in [i64::MIN + MICROS_PER_DAY, i64::MAX, PG_TIMESTAMP_MIN] {
        let mut s = String::new();
        format_micros(v, &mut s);
        assert_eq!(parse_iso(s.as_bytes()).map(|p| p.micros), Ok(v), "{s}");
    }
    // i64::MIN formats; its day start is not representable, so it doesn't parse back.
    let mut s = String::new();
    format_micros(i64::MIN, &mut s);
    assert_eq!(s, "-290308-12-21 19:59:05.224192");
}

#[test]
fn epochs_integer() {
    let cases: &[(i64, EpochUnit, i64, Result<i64, &str>)] = &[
        (1_705_314_600, EpochUnit::Seconds, UNIX, Ok(at(2024, 1, 15, 10, 30, 0, 0))),
        (1_705_314_600_123, EpochUnit::Millis, UNIX, Ok(at(2024, 1, 15, 10, 30, 0, 123_000))),
        (-1, EpochUnit::Micros, UNIX, Ok(-1)),
        (1_500, EpochUnit::Nanos, UNIX, Ok(2)),
        (2_500, EpochUnit::Nanos, UNIX, Ok(2)),
        (2_501, EpochUnit::Nanos, UNIX, Ok(3)),
        (-1_500, EpochUnit::Nanos, UNIX, Ok(-2)),
        (-1_499, EpochUnit::Nanos, UNIX, Ok(-1)),
        (i64::MAX, EpochUnit::Nanos, UNIX, Ok(9_223_372_036_854_776)),
        (13_350_000_000_000_000, EpochUnit::Micros, WEBKIT_1601, Ok(13_350_000_000_000_000 + WEBKIT_1601)),
        (0, EpochUnit::Seconds, APPLE_2001, Ok(ymd(2001, 1, 1))),
        (2_440_588, EpochUnit::JulianDay, 12345, Ok(MICROS_PER_DAY / 2)),
        (0, EpochUnit::JulianDay, UNIX, Ok(JULIAN_DAY_ZERO)),
        (i64::MAX, EpochUnit::Seconds, UNIX, Err(E_RANGE)),
        (i64::MIN, EpochUnit::Millis, UNIX, Err(E_RANGE)),
        (i64::MAX, EpochUnit::Micros, 1, Err(E_RANGE)),
        (i64::MIN, EpochUnit::Micros, WEBKIT_1601, Err(E_RANGE)),
        (i64::MAX, EpochUnit::JulianDay, UNIX, Err(E_RANGE)),
    ];
    for (v, unit, origin, want) in cases {
        assert_eq!(from_epoch_i64(*v, *unit, *origin), *want, "{v} {unit:?}");
    }
}

#[test]
fn epochs_real() {
    let t = at(2024, 1, 15, 10, 30, 0, 0);
    let cases: &[(f64, EpochUnit, i64, Result<i64, &str>)] = &[
        (1_705_314_600.0, EpochUnit::Seconds, UNIX, Ok(t)),
        (1_705_314_600.123456, EpochUnit::Seconds, UNIX, Ok(t + 123_456)),
        (1_705_314_600.5, EpochUnit::Seconds, UNIX, Ok(t + 500_000)),
        (-0.5, EpochUnit::Seconds, UNIX, Ok(-500_000)),
        (-1.000001, EpochUnit::Seconds, UNIX, Ok(-1_000_001)),
        (0.0000005, EpochUnit::Seconds, UNIX, Ok(0)),
        (0.0000015, EpochUnit::Seconds, UNIX, Ok(2)),
        (1_705_314_600_123.456, EpochUnit::Millis, UNIX, Ok(t + 123_456)),
        (2.5, EpochUnit::Micros, UNIX, Ok(2)),
        (3.5, EpochUnit::Micros, UNIX, Ok(4)),
        (1_500.0, EpochUnit::Nanos, UNIX, Ok(2)),
        (0.0, EpochUnit::Seconds, APPLE_2001, Ok(APPLE_2001)),
        (2_440_587.5, EpochUnit::JulianDay, UNIX, Ok(0)),
        (2_440_588.0, EpochUnit::JulianDay, 999, Ok(MICROS_PER_DAY / 2)),
        (0.0, EpochUnit::JulianDay, UNIX, Ok(JULIAN_DAY_ZERO)),
        (f64::NAN, EpochUnit::Seconds, UNIX, Err("not a finite number")),
        (f64::INFINITY, EpochUnit::JulianDay, UNIX, Err("not a finite number")),
        (f64::NEG_INFINITY, EpochUnit::Micros, UNIX, Err("not a finite number")),
        (1e300, EpochUnit::Seconds, UNIX, Err(E_RANGE)),
        (-1e300, EpochUnit::Millis, UNIX, Err(E_RANGE)),
        (9.3e18, EpochUnit::Micros, UNIX, Err(E_RANGE)),
        (9.2e15, EpochUnit::Seconds, UNIX, Err(E_RANGE)),
        (1e20, EpochUnit::JulianDay, UNIX, Err(E_RANGE)),
        (9.2e18, EpochUnit::Micros, 1e18 as i64, Err(E_RANGE)),
    ];
    for (v, unit, origin, want) in cases {
        assert_eq!(from_epoch_f64(*v, *unit, *origin), *want, "{v} {unit:?}");
    }
    // SQLite's julianday() of a millisecond timestamp comes back exactly.
    for text in ["2024-01-15 10:30:00.123", "1999-12-31 23:59:59.999", "1582-10-15 00:00:00.001", "2100-02-28 12:00:00.000"] {
        let micros = parse_iso(text.as_bytes()).unwrap().micros;
        let jd = 2_440_587.5 + micros as f64 / MICROS_PER_DAY as f64;
        assert_eq!(from_epoch_f64(jd, EpochUnit::JulianDay, UNIX), Ok(micros), "{text}");
    }
}

#[test]
fn postgres_ranges_and_epochs() {
    assert_eq!(check_pg_timestamp(PG_TIMESTAMP_MIN), Ok(PG_TIMESTAMP_MIN));
    assert!(check_pg_timestamp(PG_TIMESTAMP_MIN - 1).is_err());
    assert_eq!(check_pg_timestamp(i64::MAX), Ok(i64::MAX));
    assert!(check_pg_timestamp(i64::MIN).is_err());
    let p = parse_iso(b"-4713-11-23 23:59:59.999999").unwrap();
    assert!(check_pg_timestamp(p.micros).is_err());
    assert_eq!(check_pg_date(PG_DATE_MIN), Ok(PG_DATE_MIN as i32));
    assert_eq!(check_pg_date(PG_DATE_MAX), Ok(PG_DATE_MAX as i32));
    assert!(check_pg_date(PG_DATE_MIN - 1).is_err());
    assert!(check_pg_date(PG_DATE_MAX + 1).is_err());
    assert_eq!(check_pg_date(19_000i32), Ok(19_000));
    assert!(check_pg_date(i64::MIN).is_err() && check_pg_date(i64::MAX).is_err());

    assert_eq!(to_pg_timestamp(PG_EPOCH_OFFSET_MICROS), 0);
    assert_eq!(to_pg_timestamp(0), -PG_EPOCH_OFFSET_MICROS);
    assert_eq!(to_pg_timestamp(i64::MIN), i64::MIN);
    assert_eq!(to_pg_date(PG_EPOCH_OFFSET_DAYS), 0);
    assert_eq!(to_pg_date(0), -10_957);
    assert_eq!(to_pg_date(PG_DATE_MIN), -2_451_545);
    assert_eq!(to_pg_date(i64::MAX), i32::MAX);
    assert_eq!(time_of_day_micros(-1), MICROS_PER_DAY - 1);
    assert_eq!(time_of_day_micros(at(2024, 1, 15, 10, 30, 0, 5)), at(1970, 1, 1, 10, 30, 0, 5));
    assert_eq!(days_of(-1), -1);
    assert_eq!(days_of(MICROS_PER_DAY), 1);
}

#[test]
fn user_formats() {
    let ok: &[(&str, &str, Parsed)] = &[
        (
            "15/01/2024 10:30",
            "%d/%m/%Y %H:%M",
            Parsed { micros: at(2024, 1, 15, 10, 30, 0, 0), offset_secs: None, date_only: false },
        ),
        ("15/01/2024", "%d/%m/%Y", Parsed { micros: ymd(2024, 1, 15), offset_secs: None, date_only: true }),
        (
            " Jan 15 2024 10:30:00.250 ",
            "%b %d %Y %H:%M:%S%.f",
            Parsed { micros: at(2024, 1, 15, 10, 30, 0, 250_000), offset_secs: None, date_only: false },
        ),
        (
            "2024-01-15 10:30:00 +0200",
            "%Y-%m-%d %H:%M:%S %z",
            Parsed { micros: at(2024, 1, 15, 10, 30, 0, 0), offset_secs: Some(7200), date_only: false },
        ),
        (
            "2024-01-15 10:30:00-05:00",
            "%Y-%m-%d %H:%M:%S%:z",
            Parsed { micros: at(2024, 1, 15, 10, 30, 0, 0), offset_secs: Some(-18_000), date_only: false },
        ),
    ];
    for (s, fmt, want) in ok {
        assert_eq!(parse_with_format(s, fmt).as_ref(), Ok(want), "{s:?} with {fmt:?}");
    }
    for (s, fmt) in [
        ("2024-13-01", "%Y-%m-%d"),
        ("15/01/2024", "%Y-%m-%d"),
        ("2024-01-15 10:30:00.1234567", "%Y-%m-%d %H:%M:%S%.f"),
        ("2024-01-15 23:59:60", "%Y-%m-%d %H:%M:%S"),
        ("", "%Y"),
        ("10:30", "%H:%M"),
    ] {
        assert!(parse_with_format(s, fmt).is_err(), "{s:?} with {fmt:?}");
    }
    assert!(format_has_offset("%Y %z") && format_has_offset("%::z") && format_has_offset("%#z"));
    assert!(!format_has_offset("%Y %%z") && !format_has_offset("%Z") && !format_has_offset("%"));
}
