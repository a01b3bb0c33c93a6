//! Every converter, value by value, through a real PostgreSQL server
//! (issue 3): a SQLite value goes in under a declared type and a mapping
//! rule, and what PostgreSQL stored is read back as text, or the value is a
//! bad value with its reason.
//!
//! One line per case in [`CASES`]. The cases are grouped into one table per
//! (declared type, rule) and loaded in **one** `ferry migrate` run with
//! `on_bad_value = "reject"`, so the bad values do not stop the run: each
//! is found in the reject file, by table and rowid, with its reason. That
//! run must still verify (the content hash covers the loaded rows) and exit
//! with 1 because rows were rejected.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

/// `(declared type, mapping rule, SQLite literal, expected)`.
///
/// The rule is the body of an inline TOML table for
/// `[tables.T.columns.v]`, empty for the built-in mapping. The expected
/// value is PostgreSQL's text output of the column (`v::text`, TimeZone
/// UTC), `NULL`, or `!` followed by a substring of the bad-value reason.
type Case = (&'static str, &'static str, &'static str, &'static str);

const TS: &str = r#"type = "timestamp""#;
const TSTZ: &str = r#"type = "timestamptz""#;

#[rustfmt::skip]
const CASES: &[Case] = &[
    // --- date/time text into timestamp -----------------------------------
    ("DATETIME", "", "'2024-01-15 10:30:00'", "2024-01-15 10:30:00"),
    ("DATETIME", "", "'2024-01-15T10:30:00'", "2024-01-15 10:30:00"),
    ("DATETIME", "", "'2024-01-15 10:30:00.123456'", "2024-01-15 10:30:00.123456"),
    ("DATETIME", "", "'2024-01-15 10:30:00.5'", "2024-01-15 10:30:00.5"),
    ("DATETIME", "", "'2024-01-15 10:30:00.1234560'", "2024-01-15 10:30:00.123456"),
    ("DATETIME", "", "'2024-01-15 10:30'", "2024-01-15 10:30:00"),
    ("DATETIME", "", "'2024-01-15T10:30:00Z'", "2024-01-15 10:30:00"),
    ("DATETIME", "", "'2024-01-15T10:30:00+02:00'", "2024-01-15 08:30:00"),
    ("DATETIME", "", "'2024-01-15 10:30:00-05:30'", "2024-01-15 16:00:00"),
    ("DATETIME", "", "'2024-01-15'", "2024-01-15 00:00:00"),
    ("DATETIME", "", "'0001-01-01 00:00:00'", "0001-01-01 00:00:00"),
    ("DATETIME", "", "'-0044-03-15 12:00:00'", "0045-03-15 12:00:00 BC"),
    ("DATETIME", "", "NULL", "NULL"),
    ("DATETIME", TS, "'2024-01-15 10:30:00.1234567'", "!finer than a microsecond"),
    ("DATETIME", TS, "'2024-02-30 00:00:00'", "!day out of range"),
    ("DATETIME", TS, "'2024-01-15 23:59:60'", "!leap seconds"),
    ("DATETIME", TS, "'2024-01-15 24:00:00'", "!hour out of range"),
    ("DATETIME", TS, "'yesterday'", "!not an ISO 8601"),
    ("DATETIME", TS, "'-4714-01-01 00:00:00'", "!out of range"),
    ("DATETIME", TS, "1727078780", "!unit is ambiguous"),
    ("DATETIME", TS, "1727078780.5", "!unit is ambiguous"),
    ("DATETIME", TS, "x'00'", "!blob"),
    // --- timestamptz: offsets kept as instants, naive values in the zone --
    ("DATETIME", TSTZ, "'2024-01-15 10:30:00'", "2024-01-15 10:30:00+00"),
    ("DATETIME", TSTZ, "'2024-01-15T10:30:00+02:00'", "2024-01-15 08:30:00+00"),
    ("DATETIME", r#"type = "timestamptz", timezone = "+05:30""#, "'2024-01-15 10:30:00'", "2024-01-15 05:00:00+00"),
    ("DATETIME", r#"type = "timestamptz", timezone = "+05:30""#, "'2024-01-15 10:30:00Z'", "2024-01-15 10:30:00+00"),
    ("DATETIME", r#"type = "timestamptz", timezone = "Europe/Paris""#, "'2024-01-15 12:00:00'", "2024-01-15 11:00:00+00"),
    ("DATETIME", r#"type = "timestamptz", timezone = "Europe/Paris""#, "'2024-07-01 12:00:00'", "2024-07-01 10:00:00+00"),
    ("DATETIME", r#"type = "timestamptz", timezone = "America/New_York""#, "'2024-07-01 12:00:00'", "2024-07-01 16:00:00+00"),
    // --- user strftime formats, ISO still accepted ------------------------
    ("TEXT", r#"type = "timestamp", formats = ["%d/%m/%Y %H:%M", "%Y%m%d"]"#, "'15/01/2024 10:30'", "2024-01-15 10:30:00"),
    ("TEXT", r#"type = "timestamp", formats = ["%d/%m/%Y %H:%M", "%Y%m%d"]"#, "'20240115'", "2024-01-15 00:00:00"),
    ("TEXT", r#"type = "timestamp", formats = ["%d/%m/%Y %H:%M", "%Y%m%d"]"#, "'2024-01-15 10:30:00'", "2024-01-15 10:30:00"),
    ("TEXT", r#"type = "timestamp", formats = ["%d/%m/%Y %H:%M", "%Y%m%d"]"#, "'2024/01/15'", "!matches none of the formats"),
    // --- epochs -------------------------------------------------------------
    ("DATETIME", r#"type = "timestamp", input = "epoch-seconds""#, "1727078780", "2024-09-23 08:06:20"),
    ("DATETIME", r#"type = "timestamp", input = "epoch-seconds""#, "1727078780.5", "2024-09-23 08:06:20.5"),
    ("DATETIME", r#"type = "timestamp", input = "epoch-seconds""#, "'2024-01-15 10:30:00'", "2024-01-15 10:30:00"),
    ("DATETIME", r#"type = "timestamp", input = "epoch-seconds""#, "1e100", "!out of range"),
    ("DATETIME", r#"type = "timestamp", input = "epoch-seconds""#, "'soon'", "!not an ISO 8601"),
    ("DATETIME", r#"type = "timestamptz", input = "epoch-seconds", timezone = "Europe/Paris""#, "1727078780", "2024-09-23 08:06:20+00"),
    ("INTEGER", r#"type = "timestamp", input = "epoch-milliseconds""#, "1700000000123", "2023-11-14 22:13:20.123"),
    ("INTEGER", r#"type = "timestamp", input = "epoch-milliseconds""#, "-1", "1969-12-31 23:59:59.999"),
    ("REAL", r#"type = "timestamp", input = "epoch-milliseconds""#, "1700000000123.5", "2023-11-14 22:13:20.1235"),
    ("INTEGER", r#"type = "timestamp", input = "epoch-microseconds""#, "1309518981371935", "2011-07-01 11:16:21.371935"),
    ("INTEGER", r#"type = "timestamp", input = "epoch-nanoseconds""#, "1309518981371935123", "2011-07-01 11:16:21.371935"),
    ("REAL", r#"type = "timestamp", input = "julian-day""#, "2460325.5", "2024-01-16 00:00:00"),
    ("REAL", r#"type = "timestamp", input = "julian-day""#, "2460326", "2024-01-16 12:00:00"),
    ("INTEGER", r#"type = "timestamp", input = "webkit-microseconds""#, "13161017332037692", "2018-01-21 14:08:52.037692"),
    ("INTEGER", r#"type = "timestamp", input = "webkit-microseconds""#, "0", "1601-01-01 00:00:00"),
    ("REAL", r#"type = "timestamp", input = "apple-seconds""#, "600000000", "2020-01-06 10:40:00"),
    ("REAL", r#"type = "timestamp", input = "apple-seconds""#, "632604217.411826", "2021-01-17 19:23:37.411826"),
    // Safari's sentinel: 730487 days before 2001, year 0 (1 BC) in the
    // proleptic Gregorian calendar, as SQLite's datetime() says too.
    ("REAL", r#"type = "timestamp", input = "apple-seconds""#, "-63114076800.0", "0001-12-30 00:00:00 BC"),
    ("INTEGER", r#"type = "timestamp", input = "epoch-seconds""#, "x'01'", "!blob"),
    // --- date and time ------------------------------------------------------
    ("DATE", "", "'2024-02-29'", "2024-02-29"),
    ("DATE", r#"type = "date""#, "'2024-01-15 10:30:00'", "!time of day"),
    ("DATE", r#"type = "date""#, "'2024-01-15 00:00:00'", "2024-01-15"),
    ("DATE", r#"type = "date""#, "'2023-02-29'", "!day out of range"),
    ("DATE", r#"type = "date", input = "epoch-seconds""#, "1705276800", "2024-01-15"),
    ("DATE", r#"type = "date", input = "epoch-seconds""#, "1705276801", "!time of day"),
    ("TEXT", r#"type = "time""#, "'10:30:00.25'", "10:30:00.25"),
    ("TEXT", r#"type = "time""#, "'24:00:00'", "24:00:00"),
    ("TEXT", r#"type = "time""#, "'25:00'", "!hour out of range"),
    // A date and time: its time of day, as SQLite's time() reads it (Rails' dummy date).
    ("TEXT", r#"type = "time""#, "'2000-01-01 12:34:56.000001'", "12:34:56.000001"),
    ("TEXT", r#"type = "time""#, "'2024-01-15T01:30:00+02:00'", "!UTC offset"),
    ("TEXT", r#"type = "time""#, "'2000-01-01'", "!not a time of day"),
    ("", r#"type = "time""#, "5", "!must be text"),
    // --- booleans -------------------------------------------------------------
    ("BOOLEAN", "", "0", "false"),
    ("BOOLEAN", "", "1", "true"),
    ("BOOLEAN", "", "'t'", "true"),
    ("BOOLEAN", "", "'FALSE'", "false"),
    ("BOOLEAN", "", "' yes '", "true"),
    ("BOOLEAN", "", "'off'", "false"),
    ("BOOLEAN", "", "1.0", "true"),
    ("BOOLEAN", r#"type = "boolean""#, "2", "!neither 0 nor 1"),
    ("BOOLEAN", r#"type = "boolean""#, "-1", "!neither 0 nor 1"),
    ("BOOLEAN", r#"type = "boolean""#, "0.5", "!neither 0.0 nor 1.0"),
    ("BOOLEAN", r#"type = "boolean""#, "'maybe'", "!not a recognised boolean"),
    ("BOOLEAN", r#"type = "boolean""#, "x'01'", "!blob is not a boolean"),
    ("TEXT", r#"type = "boolean", boolean_true = ["ja", "J"], boolean_false = ["nein", "N"]"#, "'Ja'", "true"),
    ("TEXT", r#"type = "boolean", boolean_true = ["ja", "J"], boolean_false = ["nein", "N"]"#, "'n'", "false"),
    ("TEXT", r#"type = "boolean", boolean_true = ["ja", "J"], boolean_false = ["nein", "N"]"#, "'t'", "!not a recognised boolean"),
    // TEXT affinity stored the 1 as the text '1', which is not a spelling here.
    ("TEXT", r#"type = "boolean", boolean_true = ["ja", "J"], boolean_false = ["nein", "N"]"#, "1", "!not a recognised boolean"),
    ("", r#"type = "boolean", boolean_true = ["ja", "J"], boolean_false = ["nein", "N"]"#, "1", "true"),
    // --- numeric(p,s): exact from text and integers, REAL by shortest text ---
    ("TEXT", r#"type = "numeric(5,2)""#, "'123.45'", "123.45"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'1.005'", "1.01"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'-1.005'", "-1.01"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'-0.001'", "0.00"),
    ("TEXT", r#"type = "numeric(5,2)""#, "' 7 '", "7.00"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'1e2'", "100.00"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'1234.5'", "!precision overflow"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'999.995'", "!precision overflow"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'12abc'", "!not a valid decimal"),
    ("TEXT", r#"type = "numeric(5,2)""#, "'Infinity'", "!infinity does not fit"),
    ("TEXT", r#"type = "numeric(5,2)""#, "x'31'", "!blob is not a number"),
    ("", r#"type = "numeric(5,2)""#, "42", "42.00"),
    ("", r#"type = "numeric(5,2)""#, "0.99", "0.99"),
    ("", r#"type = "numeric(5,2)""#, "0.1", "0.10"),
    ("", r#"type = "numeric(5,2)""#, "1e300", "!precision overflow"),
    ("NUMERIC(10,2)", "", "0.99", "0.99"),
    ("NUMERIC(10,2)", "", "'19.999'", "20.00"),
    ("DECIMAL(20,6)", "", "123456.123456", "123456.123456"),
    ("", r#"type = "numeric""#, "'12345678901234567890.123456789'", "12345678901234567890.123456789"),
    ("", r#"type = "numeric""#, "'NaN'", "NaN"),
    ("", r#"type = "numeric""#, "'1.50'", "1.5"),
    ("", r#"type = "numeric""#, "0.30000000000000004", "0.30000000000000004"),
    ("", r#"type = "numeric""#, "9223372036854775807", "9223372036854775807"),
    // --- integers -------------------------------------------------------------
    ("INTEGER", "", "9223372036854775807", "9223372036854775807"),
    ("INTEGER", "", "-9223372036854775808", "-9223372036854775808"),
    ("INTEGER", r#"type = "integer""#, "2147483647", "2147483647"),
    ("INTEGER", r#"type = "integer""#, "2147483648", "!out of range"),
    ("INTEGER", r#"type = "integer""#, "-2147483649", "!out of range"),
    ("INTEGER", r#"type = "smallint""#, "-32768", "-32768"),
    ("INTEGER", r#"type = "smallint""#, "32768", "!out of range"),
    ("INTEGER", r#"type = "bigint""#, "'lots-of-it'", "!text that is not an integer"),
    ("INTEGER", r#"type = "bigint""#, "1.5", "!fraction"),
    ("INTEGER", r#"type = "bigint""#, "x'00'", "!blob is not an integer"),
    ("", r#"type = "bigint""#, "3.0", "3"),
    ("", r#"type = "bigint""#, "' 42 '", "42"),
    ("", r#"type = "bigint""#, "1e19", "!out of range for a 64-bit integer"),
    // --- double precision -----------------------------------------------------
    ("REAL", "", "0.1", "0.1"),
    ("REAL", "", "1e308", "1e+308"),
    ("REAL", "", "9e999", "Infinity"),
    ("REAL", "", "-9e999", "-Infinity"),
    ("REAL", "", "1.7976931348623157e308", "1.7976931348623157e+308"),
    ("REAL", "", "5e-324", "5e-324"),
    ("REAL", "", "42", "42"),
    ("REAL", r#"type = "double precision""#, "'Hello'", "!not a number"),
    ("", r#"type = "double precision""#, "'-Infinity'", "-Infinity"),
    ("", r#"type = "double precision""#, "'2.5'", "2.5"),
    ("", r#"type = "double precision""#, "9007199254740993", "!without rounding"),
    ("", r#"type = "double precision""#, "x'00'", "!blob is not a number"),
    // --- text and varchar(n): any storage class as text ------------------------
    ("TEXT", "", "'héllo ''q'' 😀'", "héllo 'q' 😀"),
    ("TEXT", "", "''", ""),
    ("TEXT", "", "42", "42"),
    ("", r#"type = "text""#, "0.5", "0.5"),
    ("", r#"type = "text""#, "3.0", "3.0"),
    ("", r#"type = "text""#, "x'68c3a96c6c6f'", "héllo"),
    ("", r#"type = "text""#, "x'ff00'", "!blob that is not valid UTF-8"),
    ("TEXT", "", "CAST(x'610062' AS TEXT)", "!NUL byte"),
    ("TEXT", "", "CAST(x'66696c6596' AS TEXT)", "!not valid UTF-8"),
    ("TEXT", r#"nul = "strip-nul""#, "CAST(x'610062' AS TEXT)", "ab"),
    ("TEXT", r#"invalid_utf8 = "replace-invalid""#, "CAST(x'66696c65966e616d65' AS TEXT)", "file\u{FFFD}name"),
    ("TEXT", r#"invalid_utf8 = "replace-invalid""#, "x'66696c65966e616d65'", "file\u{FFFD}name"),
    ("VARCHAR(3)", "", "'abc'", "abc"),
    ("VARCHAR(3)", "", "'héé'", "héé"),
    ("VARCHAR(3)", r#"type = "varchar(3)""#, "'abcd'", "!too long: 4 characters"),
    ("VARCHAR(3)", r#"type = "varchar(3)""#, "1234", "!too long"),
    ("NVARCHAR(20)", r#"type = "text""#, "'abcd'", "abcd"),
    // --- bytea ----------------------------------------------------------------
    ("BLOB", "", "x'00ff10'", "\\x00ff10"),
    ("BLOB", "", "x''", "\\x"),
    ("BLOB", r#"type = "bytea""#, "'hi'", "\\x6869"),
    ("BLOB", r#"type = "bytea""#, "5", "!number in a bytea"),
    // --- json / jsonb -----------------------------------------------------------
    ("JSON", "", r#"'{"b": 1, "a": [1, 2.50]}'"#, r#"{"a": [1, 2.50], "b": 1}"#),
    ("JSON", "", "'null'", "null"),
    ("JSON", r#"type = "jsonb""#, "'[1,'", "!"),
    ("JSON", r#"type = "jsonb""#, "'{\"a\": 1}x'", "!"),
    // A number is a JSON document (SQLite's NUMERIC affinity made it one);
    // a REAL is written as Python's repr writes it.
    ("JSON", r#"type = "jsonb""#, "5", "5"),
    ("JSON", r#"type = "jsonb""#, "'-1.5e-7'", "-0.00000015"),
    ("JSON", r#"type = "json""#, "1e300", "1e+300"),
    ("JSON", r#"type = "json""#, "9e999", "!not JSON numbers"),
    ("JSON", r#"type = "jsonb""#, "x'0d'", "!not SQLite JSONB"),
    // SQLite's binary JSON (jsonb(), SQLite 3.45+).
    ("JSONB", "", r#"jsonb('{"b":[1,"a"],"a":null}')"#, r#"{"a": null, "b": [1, "a"]}"#),
    // --- interval, inet, cidr, character(n) (issue 13) -------------------------
    ("", r#"type = "interval""#, "93784000005", "1 day 02:03:04.000005"),
    ("", r#"type = "interval""#, "-1", "-1 days +23:59:59.999999"),
    ("", r#"type = "interval""#, "'P1M2W'", "1 mon 14 days"),
    ("", r#"type = "interval""#, "'2 days, 0:00:01'", "2 days 00:00:01"),
    ("", r#"type = "interval""#, "'1 year 2 mons -3 days +04:05:06.5'", "1 year 2 mons -3 days +04:05:06.5"),
    ("", r#"type = "interval""#, "'x'", "!not a duration"),
    ("", r#"type = "interval""#, "1.5", "!no stated unit"),
    ("", r#"type = "inet""#, "'2001:db8::1'", "2001:db8::1/128"),
    ("", r#"type = "inet""#, "'10.1.2.3/8'", "10.1.2.3/8"),
    ("", r#"type = "inet""#, "'10.1.2'", "!not an IP address"),
    ("", r#"type = "cidr""#, "'10.0.0.0/8'", "10.0.0.0/8"),
    ("", r#"type = "cidr""#, "'10.0.0.1/8'", "!bits set right"),
    ("", r#"type = "char(3)""#, "'ab'", "ab"),
    ("", r#"type = "char(3)""#, "'abcd'", "!too long"),
    // PostgreSQL's one-byte "char", sqlx's type for an i8.
    ("TINYINT", r#"type = "\"char\"""#, "65", "A"),
    ("TINYINT", r#"type = "\"char\"""#, "-128", "\\200"),
    ("TINYINT", r#"type = "\"char\"""#, "128", "!out of range"),
    // --- real (float4): PostgreSQL's rounding, reported; overflow refused --------
    ("", r#"type = "real""#, "0.1", "0.1"),
    ("", r#"type = "real""#, "16777217", "1.6777216e+07"),
    ("", r#"type = "real""#, "1e39", "!overflow"),
    ("", r#"type = "real""#, "1e-50", "!underflow"),
    // --- REAL into numeric(p,s): the double's exact value at the scale ----------
    ("", r#"type = "numeric(20,6)""#, "4068861093708.90625", "4068861093708.906250"),
    ("", r#"type = "numeric(5,2)""#, "2.675", "2.67"),
    // --- time of day on a placeholder date --------------------------------------
    ("TEXT", r#"type = "time""#, "'2000-01-01 10:30:00'", "10:30:00"),
    ("TEXT", r#"type = "time""#, "'2024-01-01 10:30:00'", "!real date"),
    ("TEXT", r#"type = "json""#, r#"'{"b":1,  "a":2}'"#, r#"{"b":1,  "a":2}"#),
    ("TEXT", r#"type = "json""#, "'{'", "!"),
    // json keeps any valid JSON text; only jsonb refuses \u0000.
    ("TEXT", r#"type = "json""#, r#"'["nul\u0000char"]'"#, r#"["nul\u0000char"]"#),
    ("TEXT", r#"type = "jsonb""#, r#"'["nul\u0000char"]'"#, "!valid JSON that jsonb cannot hold"),
    // --- uuid -------------------------------------------------------------------
    ("UUID", "", "'0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11'", "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"),
    ("UUID", "", "'0B7C7BD53F5C4A4B9B1E2F1E0E6F8A11'", "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"),
    ("UUID", "", "x'0b7c7bd53f5c4a4b9b1e2f1e0e6f8a11'", "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"),
    ("UUID", r#"type = "uuid""#, "'not-a-uuid'", "!"),
    ("UUID", r#"type = "uuid""#, "'0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a1'", "!"),
    ("UUID", r#"type = "uuid""#, "x'0b7c7bd53f5c4a4b9b1e2f1e0e6f8a'", "!"),
    ("UUID", r#"type = "uuid""#, "7", "!a number is not a UUID"),
    ("CHAR(32)", r#"type = "uuid""#, "'0b7c7bd53f5c4a4b9b1e2f1e0e6f8a11'", "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"),
];

/// Cases sharing a declared type and a rule: one table.
type Group = ((&'static str, &'static str), Vec<(usize, &'static Case)>);

/// The groups, in the order they first appear.
fn groups() -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (i, case) in CASES.iter().enumerate() {
        let key = (case.0, case.1);
        match out.iter_mut().find(|(k, _)| *k == key) {
            Some((_, v)) => v.push((i, case)),
            None => out.push((key, vec![(i, case)])),
        }
    }
    out
}

#[test]
fn every_converter_value_by_value() {
    let dir = tempfile::tempdir().unwrap();
    let groups = groups();
    let mut sql = String::new();
    let mut mapping = String::from("[settings]\non_bad_value = \"reject\"\n\n");
    for (g, ((decl, rule), cases)) in groups.iter().enumerate() {
        let t = format!("t{g:03}");
        writeln!(sql, "CREATE TABLE {t} (id INTEGER PRIMARY KEY, v {decl});").unwrap();
        for (i, case) in cases {
            writeln!(sql, "INSERT INTO {t} VALUES ({i}, {});", case.2).unwrap();
        }
        if !rule.is_empty() {
            writeln!(mapping, "[tables.{t}.columns]\nv = {{ {rule} }}\n").unwrap();
        }
    }
    let src = db_from_sql(dir.path(), "cases.db", &sql);
    let map = dir.path().join("cases.toml");
    std::fs::write(&map, &mapping).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let db = server().fresh_db("types_every_converter");
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--mapping",
        map.to_str().unwrap(),
        "--reject-file",
        rejects.to_str().unwrap(),
        "-j",
        "2",
        "--writers",
        "2",
    ]);
    // Rows were rejected: exit 1; but the loaded rows verify.
    assert_code(&out, 1);
    assert!(!out.stderr.contains("DIFFERS"), "the loaded rows must verify:\n{out}");
    assert!(out.stderr.contains("rejected"), "{out}");

    // The reject file: (table, rowid) → record.
    let text = std::fs::read_to_string(&rejects).unwrap();
    let mut rejected: HashMap<(String, i64), serde_json::Value> = HashMap::new();
    for line in text.lines() {
        let r: serde_json::Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
        let key = (r["table"].as_str().unwrap().to_string(), r["key"]["rowid"].as_i64().unwrap());
        rejected.insert(key, r);
    }

    let mut failures = Vec::new();
    let mut loaded = BTreeMap::new();
    for (g, _) in groups.iter().enumerate() {
        let t = format!("t{g:03}");
        for row in db.query_strings(&format!("SELECT id::text, v::text FROM {t} ORDER BY id")) {
            loaded.insert(row[0].as_ref().unwrap().parse::<usize>().unwrap(), row[1].clone());
        }
    }
    for (g, (_, cases)) in groups.iter().enumerate() {
        let t = format!("t{g:03}");
        for (i, (decl, rule, lit, want)) in cases {
            let what = format!("case {i}: {decl:?} {{ {rule} }} {lit}");
            let got = loaded.get(i);
            let reject = rejected.get(&(t.clone(), *i as i64));
            if let Some(reason) = want.strip_prefix('!') {
                match reject {
                    Some(r) => {
                        let got_reason = r["reason"].as_str().unwrap_or("");
                        if !got_reason.contains(reason) {
                            failures.push(format!("{what}: reason {got_reason:?} lacks {reason:?}"));
                        }
                        if r["column"] != "v" || r["value"].is_null() {
                            failures.push(format!("{what}: reject record incomplete: {r}"));
                        }
                    }
                    None => failures.push(format!("{what}: expected a bad value ({reason}), loaded {got:?}")),
                }
                continue;
            }
            let want = if *want == "NULL" { None } else { Some(want.to_string()) };
            match (got, reject) {
                (Some(v), _) if *v == want => {}
                (Some(v), _) => failures.push(format!("{what}: expected {want:?}, PostgreSQL has {v:?}")),
                (None, Some(r)) => failures.push(format!("{what}: expected {want:?}, rejected: {}", r["reason"])),
                (None, None) => failures.push(format!("{what}: row missing")),
            }
        }
    }
    let bad = CASES.iter().filter(|c| c.3.starts_with('!')).count();
    assert_eq!(rejected.len(), bad, "one reject per bad case\n{}", failures.join("\n"));
    assert!(failures.is_empty(), "{} of {} cases wrong:\n{}\n\n{out}", failures.len(), CASES.len(), failures.join("\n"));
    // strip-nul and replace-invalid are counted in the report.
    assert!(out.stderr.contains("altered"), "{out}");
}

/// A PostgreSQL enum is reached through existing-schema mode (a mapping
/// rule cannot create an enum type): the target table is created first,
/// and ferry converts to its labels, exactly.
#[test]
fn enum_labels_in_an_existing_schema() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "enum.db",
        "CREATE TABLE ticket (id INTEGER PRIMARY KEY, state TEXT);
         INSERT INTO ticket VALUES (1, 'open'), (2, 'closed'), (3, 'Open'), (4, NULL), (5, 'in progress'), (6, 7);",
    );
    let db = server().fresh_db("types_enum_existing");
    db.query_strings(
        "CREATE TYPE state AS ENUM ('open', 'closed', 'in progress');
         CREATE TABLE ticket (id bigint PRIMARY KEY, state state);",
    );
    let map = dir.path().join("m.toml");
    std::fs::write(&map, "[tables.ticket]\non_bad_value = \"reject\"\n").unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--mapping",
        map.to_str().unwrap(),
        "--reject-file",
        rejects.to_str().unwrap(),
    ]);
    assert_code(&out, 1);
    let rows = db.query_strings("SELECT id::text, state::text FROM ticket ORDER BY id");
    let got: Vec<(String, Option<String>)> = rows.into_iter().map(|r| (r[0].clone().unwrap(), r[1].clone())).collect();
    assert_eq!(
        got,
        vec![
            ("1".into(), Some("open".into())),
            ("2".into(), Some("closed".into())),
            ("4".into(), None),
            ("5".into(), Some("in progress".into())),
        ],
        "{out}"
    );
    let text = std::fs::read_to_string(&rejects).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 2, "{text}");
    assert_eq!(lines.iter().map(|l| l["key"]["rowid"].as_i64().unwrap()).collect::<Vec<_>>().len(), 2);
    for l in &lines {
        let r = l["reason"].as_str().unwrap();
        assert!(r.contains("enum") || r.contains("label"), "{r}");
    }
    assert!(!out.stderr.contains("DIFFERS"), "{out}");
}
