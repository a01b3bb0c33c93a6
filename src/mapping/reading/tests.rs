//! Tests of `mapping::reading`: which reading the numbers of a column get,
//! and which are refused as implausible.

use super::*;

fn ints(lo: i64, hi: i64) -> Numbers {
    Numbers {
        integers: 2,
        min_int: Some(lo),
        max_int: Some(hi),
        ..Default::default()
    }
}
fn reals(lo: f64, hi: f64) -> Numbers {
    Numbers {
        reals: 2,
        min_real: Some(lo),
        max_real: Some(hi),
        ..Default::default()
    }
}
fn read(n: Numbers) -> Reading {
    match choose(&n, &PgType::Timestamptz) {
        Some(Choice::Read(r)) => r,
        other => panic!("{other:?}"),
    }
}
fn refused(n: Numbers) -> String {
    match choose(&n, &PgType::Timestamp) {
        Some(Choice::Implausible { problem, .. }) => problem,
        other => panic!("{other:?}"),
    }
}

#[test]
fn conventions_then_magnitude() {
    let r = read(reals(2_460_000.5, 2_460_311.25));
    assert_eq!((r.input, r.basis), ("julian-day", Basis::Convention));
    assert_eq!(
        r.samples[0],
        Sample {
            raw: "2460000.5".into(),
            converted: "2023-02-25 00:00:00".into()
        }
    );
    assert_eq!(r.samples[1].converted, "2024-01-01 18:00:00");
    // Whole Julian days stored as integers next to the reals.
    let mixed = Numbers {
        integers: 1,
        min_int: Some(2_460_000),
        max_int: Some(2_460_000),
        ..reals(2_460_000.5, 2_460_001.5)
    };
    let r = read(mixed);
    assert_eq!(r.input, "julian-day");
    assert_eq!(
        r.samples[0],
        Sample {
            raw: "2460000".into(),
            converted: "2023-02-24 12:00:00".into()
        }
    );
    let r = read(ints(1_700_000_000, 1_727_078_780));
    assert_eq!((r.input, r.basis), ("epoch-seconds", Basis::Convention));
    assert_eq!(r.samples[1].converted, "2024-09-23 08:06:20");
    let r = read(reals(1_700_000_000.5, 1_727_078_780.25));
    assert_eq!((r.input, r.basis), ("epoch-seconds", Basis::Magnitude));
    assert_eq!(
        read(ints(1_600_000_000_000, 1_700_000_000_123)).input,
        "epoch-milliseconds"
    );
    assert_eq!(
        read(ints(1_309_518_981_371_935, 1_309_518_981_371_936)).input,
        "epoch-microseconds"
    );
    assert_eq!(
        read(ints(1_700_000_000_000_000_000, 1_700_000_000_000_000_001)).input,
        "epoch-nanoseconds"
    );
    // One distinct value: one sample.
    assert_eq!(read(ints(1_700_000_000, 1_700_000_000)).samples.len(), 1);
    // A date target shows dates.
    let Some(Choice::Read(r)) = choose(&reals(2_460_310.5, 2_460_310.5), &PgType::Date) else {
        panic!()
    };
    assert_eq!(r.samples[0].converted, "2024-01-01");
}

#[test]
fn implausible_readings_are_refused() {
    assert!(refused(ints(0, 100)).contains("within a year of 1970"));
    assert!(
        refused(ints(2_460_000, 2_460_400)).contains("within a year of 1970"),
        "integral Julian days alone read as seconds"
    );
    assert!(
        refused(reals(0.5, 4.5)).contains("before the year 1"),
        "ratings read as Julian days"
    );
    assert!(refused(ints(-99_000_000_000, 1_700_000_000)).contains("before the year 1"));
    assert!(refused(ints(-100, 2024)).contains("within a year"));
    // Julian-day reals beside Unix-second integers.
    let two = Numbers {
        integers: 1,
        min_int: Some(1_700_000_000),
        max_int: Some(1_700_000_000),
        ..reals(2_460_000.5, 2_460_001.5)
    };
    assert!(refused(two).contains("different readings"));
}

#[test]
fn extremes_never_panic() {
    // The whole i64 range as nanoseconds is 1677 to 2262: a reading.
    assert!(matches!(
        choose(&ints(i64::MIN, i64::MAX), &PgType::Timestamp),
        Some(Choice::Read(_))
    ));
    let both = Numbers {
        integers: 1,
        min_int: Some(-1),
        max_int: Some(i64::MAX),
        ..reals(0.5, 5e6)
    };
    assert!(
        matches!(choose(&both, &PgType::Timestamp), Some(Choice::Implausible { reading, .. }) if reading.input == "epoch-nanoseconds")
    );
    for n in [
        reals(-1e308, 1e308),
        reals(f64::NEG_INFINITY, f64::INFINITY),
        reals(f64::NAN, f64::NAN),
        reals(-0.0, 0.0),
    ] {
        for pg in [PgType::Timestamp, PgType::Timestamptz, PgType::Date] {
            if let Some(Choice::Read(r)) = choose(&n, &pg) {
                panic!("{n:?} has no plausible reading, got {r:?}");
            }
        }
    }
}

#[test]
fn seconds_that_fit_two_epochs_are_refused() {
    let p = refused(reals(632_604_217.411826, 635_462_077.446715));
    assert!(p.contains("apple-seconds") && p.contains("1973 to 2001"), "{p}");
    assert!(refused(ints(635_317_200, 635_403_600)).contains("cannot tell"));
    // Reaching past 2001 as Unix time settles it.
    assert_eq!(read(ints(635_317_200, 1_700_000_000)).input, "epoch-seconds");
}

#[test]
fn a_date_column_takes_whole_days_only() {
    let Some(Choice::Implausible { problem, .. }) = choose(&reals(2_460_000.5, 2_460_001.25), &PgType::Date) else { panic!() };
    assert!(problem.contains("time of day"), "{problem}");
    assert!(matches!(choose(&ints(1_705_276_800, 1_705_363_200), &PgType::Date), Some(Choice::Read(_))));
}

#[test]
fn time_of_day_of_numbers() {
    // Seconds of the day read as Unix time are that time of day, as
    // SQLite's time(v, 'unixepoch') says.
    let Some(Choice::Read(r)) = choose(&ints(0, 86_399), &PgType::Time) else { panic!() };
    assert_eq!((r.input, r.samples[1].converted.as_str()), ("epoch-seconds", "23:59:59"));
    let Some(Choice::Read(r)) = choose(&reals(2_460_000.25, 2_460_000.75), &PgType::Time) else { panic!() };
    assert_eq!((r.input, r.samples[0].converted.as_str()), ("julian-day", "18:00:00"));
}

#[test]
fn nothing_to_choose() {
    assert_eq!(choose(&Numbers::default(), &PgType::Timestamp), None);
    assert_eq!(choose(&ints(1, 2), &PgType::Text), None);
    // Numbers whose range the profile did not take.
    assert_eq!(
        choose(
            &Numbers {
                integers: 3,
                ..Default::default()
            },
            &PgType::Timestamp
        ),
        None
    );
}

#[test]
fn messages_name_the_rule() {
    // Odd names are quoted so the rule parses as TOML.
    let rule = rule_toml("order \"items\"", "at\\n", "julian-day");
    let v: toml::Value = toml::from_str(&rule.replacen("] ", "]\n", 1)).unwrap();
    assert_eq!(
        v["tables"]["order \"items\""]["columns"]["at\\n"]["input"].as_str(),
        Some("julian-day"),
        "{rule}"
    );
    let r = read(reals(2_460_000.5, 2_460_311.25));
    let w = warning("events", "at", &r);
    assert!(
        w.contains("2460000.5 → 2023-02-25 00:00:00")
            && w.contains(r#"[tables."events".columns] "at" = { input = "julian-day" }"#),
        "{w}"
    );
}
