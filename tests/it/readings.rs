//! How ferry reads dates and times it finds as numbers or text (issue 13,
//! defect 2 and "What to build" 3–4): SQLite's documented conventions by
//! default, the reading chosen from the data said out loud (warning with
//! samples), an implausible one refused before loading, and `migrate`
//! (both modes), `plan`, `verify` and `inspect --suggest-mapping` choosing
//! the same reading.
//!
//! Every loaded value is checked against SQLite's own date functions
//! (`strftime('%Y-%m-%d %H:%M:%f', …)`, millisecond precision, which is what
//! SQLite computes: a REAL Julian day is rounded to the millisecond as
//! SQLite's date.c does) read straight from the source file, never only
//! through `ferry verify`, which hashes through ferry's own conversions.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::util::case::{Case, migrate};
use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

/// Julian days (with milliseconds, and whole days that the DATETIME
/// column's NUMERIC affinity stores as INTEGER), Unix seconds, Unix
/// milliseconds, and SQLite's ISO 8601 text forms.
const SOURCE: &str = "
    CREATE TABLE events (id INTEGER PRIMARY KEY, jd DATETIME, jd_real REAL, unix_s DATETIME, unix_ms TIMESTAMP, iso DATETIME);
    INSERT INTO events VALUES
      (1, julianday('2024-01-15 10:30:00.123'), julianday('1999-12-31 23:59:59.999'), 1705314600, 1705314600123, '2024-01-15'),
      (2, julianday('2023-02-24 12:00:00'),     julianday('1582-10-15 00:00:00.001'), 0 + 1727078780, 1727078780001, '2024-01-15 10:30'),
      (3, julianday('2100-02-28 23:59:59.5'),   julianday('2100-02-28 12:00:00'), 946684800, 946684800000, '2024-01-15T10:30:00.5'),
      (4, NULL, NULL, NULL, NULL, '2024-01-15T10:30:00Z'),
      (5, julianday('1970-01-01'), julianday('2024-06-30 12:34:56.789'), 1, 1, '2024-01-15 10:30:00.123+02:00'),
      (6, julianday('2024-02-29 06:00:00'), julianday('2024-02-29'), 2000000000, 2000000000000, '2024-01-15T10:30:00-05:30');
";

fn src(dir: &Path) -> PathBuf {
    db_from_sql(dir, "readings.db", SOURCE)
}

/// `id → strftime('%Y-%m-%d %H:%M:%f', expr)` from SQLite itself.
fn sqlite_times(path: &Path, expr: &str) -> HashMap<i64, Option<String>> {
    let c = rusqlite::Connection::open(path).unwrap();
    let mut s = c
        .prepare(&format!(
            "SELECT id, strftime('%Y-%m-%d %H:%M:%f', {expr}) FROM events"
        ))
        .unwrap();
    s.query_map([], |r| {
        Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))
    })
    .unwrap()
    .map(Result::unwrap)
    .collect()
}

/// `id → the column at millisecond precision, UTC` from PostgreSQL.
fn pg_times(db: &TestDb, col: &str, zoned: bool) -> HashMap<i64, Option<String>> {
    let utc = if zoned {
        format!("\"{col}\" AT TIME ZONE 'UTC'")
    } else {
        format!("\"{col}\"")
    };
    db.query_strings(&format!(
        "SELECT id::text, to_char({utc}, 'YYYY-MM-DD HH24:MI:SS.MS') FROM events"
    ))
    .into_iter()
    .map(|r| (r[0].as_deref().unwrap().parse().unwrap(), r[1].clone()))
    .collect()
}

fn assert_same_instants(src: &Path, db: &TestDb, col: &str, sqlite_expr: &str, zoned: bool) {
    let want = sqlite_times(src, sqlite_expr);
    let got = pg_times(db, col, zoned);
    assert_eq!(want.len(), 6);
    // SQLite's NULL for NULL; every non-NULL value is an instant.
    assert!(
        want.values().filter(|v| v.is_some()).count() >= 4,
        "{want:?}"
    );
    assert_eq!(
        got, want,
        "column {col}: PostgreSQL (left) against SQLite's {sqlite_expr} (right)"
    );
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("not JSON ({e})\n{out}"))
}

/// `column → input` of the readings a report (`readings`) lists.
fn readings_of(v: &serde_json::Value) -> HashMap<String, String> {
    v["readings"]
        .as_array()
        .unwrap_or_else(|| panic!("no readings in {v}"))
        .iter()
        .map(|r| {
            (
                r["column"].as_str().unwrap().to_string(),
                r["input"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

const TARGET: &str = "CREATE TABLE events (id bigint PRIMARY KEY, jd timestamptz, jd_real timestamp, unix_s timestamptz, unix_ms timestamptz, iso timestamptz)";

/// Issue 13 defect 2: a REAL Julian-day column into an existing
/// `timestamptz` landed in January 1970 and verified "ok".
#[test]
fn julian_days_and_unix_times_into_an_existing_schema_are_what_sqlite_says() {
    let Case { dir, src, db } = Case::new("readings_existing", SOURCE).with_target(TARGET);
    let report = dir.path().join("report.json");
    let out = migrate(
        &src,
        &db,
        &[
            "--schema",
            "existing",
            "--json",
            "--report",
            report.to_str().unwrap(),
        ],
    );
    assert_code(&out, 0);
    assert_same_instants(&src, &db, "jd", "jd", true);
    assert_same_instants(&src, &db, "jd_real", "jd_real", false);
    assert_same_instants(&src, &db, "unix_s", "unix_s, 'unixepoch'", true);
    assert_same_instants(&src, &db, "iso", "iso", true);
    // Milliseconds: the integer itself, from PostgreSQL's own arithmetic.
    let ms = db.query_strings("SELECT id::text, (extract(epoch FROM unix_ms) * 1000)::bigint::text FROM events WHERE unix_ms IS NOT NULL ORDER BY id");
    let want: Vec<Vec<Option<String>>> = [
        (1, 1705314600123i64),
        (2, 1727078780001),
        (3, 946684800000),
        (5, 1),
        (6, 2000000000000),
    ]
    .iter()
    .map(|(i, v)| vec![Some(i.to_string()), Some(v.to_string())])
    .collect();
    assert_eq!(ms, want);
    // Never silent: a warning per column read from the data, with samples raw → converted.
    let warned = |col: &str| {
        out.stderr
            .lines()
            .find(|l| l.starts_with("warning:") && l.contains(&format!("column {col:?}")))
            .map(str::to_string)
    };
    let jd = warned("jd").unwrap_or_else(|| panic!("no warning for jd\n{out}"));
    assert!(
        jd.contains("Julian day")
            && jd.contains(r#"[tables."events".columns] "jd" = { input = "julian-day" }"#),
        "{jd}"
    );
    let lo = sqlite_times(&src, "jd")
        .into_values()
        .flatten()
        .min()
        .unwrap();
    assert!(
        jd.contains(&format!("→ {}", lo.trim_end_matches(".000"))),
        "the smallest sample, converted as SQLite does ({lo}): {jd}"
    );
    let ms = warned("unix_ms").unwrap_or_else(|| panic!("no warning for unix_ms\n{out}"));
    assert!(
        ms.contains("milliseconds")
            && ms.contains("guessed")
            && ms.contains("1 → 1970-01-01 00:00:00.001"),
        "{ms}"
    );
    assert!(
        warned("iso").is_none(),
        "ISO text is read as written, nothing guessed\n{out}"
    );
    let want: HashMap<String, String> = [
        ("jd", "julian-day"),
        ("jd_real", "julian-day"),
        ("unix_s", "epoch-seconds"),
        ("unix_ms", "epoch-milliseconds"),
    ]
    .iter()
    .map(|(c, i)| (c.to_string(), i.to_string()))
    .collect();
    assert_eq!(readings_of(&json(&out)), want);
    let file: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    assert_eq!(readings_of(&file), want);
    assert_eq!(
        file["readings"][0]["samples"].as_array().map(Vec::len),
        Some(2),
        "{file}"
    );
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&file)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "the report does not match docs/report.schema.json: {errors:#?}"
    );
    // verify agrees (same reading, same hash).
    let v = ferry(&["verify", src.to_str().unwrap(), &db.url, "--json"]);
    assert_code(&v, 0);
    assert_eq!(readings_of(&json(&v)), want);
}

/// Create mode: a DATETIME column of numbers becomes a timestamp read by
/// the same conventions (it used to be kept as numbers), and `verify`
/// plans the same.
#[test]
fn create_mode_reads_the_same_conventions() {
    let Case { dir: _dir, src, db } = Case::new("readings_create", SOURCE);
    let out = migrate(&src, &db, &["--json"]);
    assert_code(&out, 0);
    let types = db.query_strings("SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name IN ('jd', 'unix_s', 'unix_ms') ORDER BY 1");
    assert!(
        types
            .iter()
            .all(|r| r[1].as_deref() == Some("timestamp without time zone")),
        "{types:?}"
    );
    assert_same_instants(&src, &db, "jd", "jd", false);
    assert_same_instants(&src, &db, "unix_s", "unix_s, 'unixepoch'", false);
    // A REAL column (affinity REAL, not a date type) stays a number.
    assert_eq!(db.query_strings("SELECT data_type FROM information_schema.columns WHERE table_name = 'events' AND column_name = 'jd_real'")[0][0].as_deref(), Some("double precision"));
    let want: HashMap<String, String> = [
        ("jd", "julian-day"),
        ("unix_s", "epoch-seconds"),
        ("unix_ms", "epoch-milliseconds"),
    ]
    .iter()
    .map(|(c, i)| (c.to_string(), i.to_string()))
    .collect();
    assert_eq!(readings_of(&json(&out)), want);
    let v = ferry(&["verify", src.to_str().unwrap(), &db.url, "--json"]);
    assert_code(&v, 0);
    assert_eq!(readings_of(&json(&v)), want);
}

/// Small integers read as Unix seconds would all land in January 1970:
/// refused before anything is written, naming the column and the rule that
/// makes the reading explicit; with that rule it loads.
#[test]
fn an_implausible_reading_is_refused_before_loading() {
    let Case { dir, src, db } = Case::new(
        "readings_implausible",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, rating DATETIME, at DATETIME);
         INSERT INTO t VALUES (1, 3, '2024-01-01 00:00:00'), (2, 5, NULL), (3, 12, '2024-01-02 00:00:00');",
    )
    .with_target("CREATE TABLE t (id bigint PRIMARY KEY, rating timestamptz, at timestamp)");
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 2);
    for needle in [
        "\"t\"",
        "\"rating\"",
        "within a year of 1970",
        "3 → 1970-01-01 00:00:03",
        r#"[tables."t".columns] "rating" = { input = "epoch-seconds" }"#,
    ] {
        assert!(out.stderr.contains(needle), "missing {needle:?}\n{out}");
    }
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM t"),
        0,
        "nothing written"
    );
    // plan says the same, and writes nothing either.
    let p = ferry(&[
        "plan",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "existing",
    ]);
    assert_code(&p, 1);
    assert!(
        p.stdout.contains("MISFIT") && p.stdout.contains("within a year of 1970"),
        "{p}"
    );
    // The rule the message shows makes it explicit: loaded as said, no warning.
    let rule = dir.path().join("rule.toml");
    std::fs::write(
        &rule,
        "[tables.\"t\".columns]\n\"rating\" = { input = \"epoch-seconds\" }\n",
    )
    .unwrap();
    let out = migrate(
        &src,
        &db,
        &["--schema", "existing", "--mapping", rule.to_str().unwrap()],
    );
    assert_code(&out, 0);
    assert!(
        !out.stderr.contains("numbers read as"),
        "a rule's reading is not a guess\n{out}"
    );
    assert_eq!(
        db.query_strings("SELECT rating::text FROM t WHERE id = 3")[0][0].as_deref(),
        Some("1970-01-01 00:00:12+00")
    );
    // Create mode does not take the reading either: the numbers stay numbers, said in a note.
    let db = server().fresh_db("readings_implausible_create");
    let out = migrate(&src, &db, &[]);
    assert_code(&out, 0);
    assert!(
        out.stderr.contains("not read as dates") && out.stderr.contains("\"rating\""),
        "{out}"
    );
    assert_eq!(db.query_strings("SELECT data_type FROM information_schema.columns WHERE table_name = 't' AND column_name = 'rating'")[0][0].as_deref(), Some("bigint"));
}

/// `migrate` (both modes), `plan`, `verify` and `inspect --suggest-mapping`
/// choose the same reading for every column, and what the suggestion
/// writes down loads the same instants.
#[test]
fn every_command_chooses_the_same_reading() {
    let dir = tempfile::tempdir().unwrap();
    let src = src(dir.path());
    let want: HashMap<String, String> = [
        ("jd", "julian-day"),
        ("unix_s", "epoch-seconds"),
        ("unix_ms", "epoch-milliseconds"),
    ]
    .iter()
    .map(|(c, i)| (c.to_string(), i.to_string()))
    .collect();

    // inspect --suggest-mapping writes each as a rule.
    let m = dir.path().join("suggested.toml");
    let s = ferry(&["inspect", src.to_str().unwrap(), &format!("--suggest-mapping={}", m.display())]);
    assert_code(&s, 0);
    let text = std::fs::read_to_string(&m).unwrap();
    let table: toml::Value = toml::from_str(&text).unwrap();
    let cols = &table["tables"]["events"]["columns"];
    for (c, input) in &want {
        assert_eq!(
            cols[c.as_str()]["input"].as_str(),
            Some(input.as_str()),
            "{c} in\n{text}"
        );
    }

    // plan, create mode (no target): JSON and warnings on stderr.
    let p = ferry(&["plan", src.to_str().unwrap(), "--json"]);
    assert_code(&p, 0);
    assert_eq!(readings_of(&json(&p)), want);
    for c in want.keys() {
        assert!(
            p.stderr.contains(&format!(
                "warning: table \"events\", column {c:?}: numbers read as"
            )),
            "{c}\n{p}"
        );
    }

    // migrate and verify, create mode.
    let created = server().fresh_db("readings_agree_create");
    let out = migrate(&src, &created, &["--json"]);
    assert_code(&out, 0);
    assert_eq!(readings_of(&json(&out)), want);
    let v = ferry(&["verify", src.to_str().unwrap(), &created.url, "--json"]);
    assert_code(&v, 0);
    assert_eq!(readings_of(&json(&v)), want);

    // plan, migrate and verify into an existing schema.
    let existing = server().fresh_db("readings_agree_existing");
    existing.query_strings(TARGET);
    let p = ferry(&["plan", src.to_str().unwrap(), &existing.url, "--json"]);
    assert_code(&p, 0);
    let mut want_existing = want.clone();
    want_existing.insert("jd_real".into(), "julian-day".into());
    assert_eq!(readings_of(&json(&p)), want_existing);
    let out = migrate(&src, &existing, &["--json"]);
    assert_code(&out, 0);
    assert_eq!(readings_of(&json(&out)), want_existing);
    let v = ferry(&["verify", src.to_str().unwrap(), &existing.url, "--json"]);
    assert_code(&v, 0);
    assert_eq!(readings_of(&json(&v)), want_existing);

    // The suggestion, used as a mapping, loads the same instants as the
    // readings chosen without it (and says nothing is guessed).
    let suggested = server().fresh_db("readings_agree_suggested");
    let out = migrate(
        &src,
        &suggested,
        &["--json", "--mapping", m.to_str().unwrap()],
    );
    assert_code(&out, 0);
    assert!(readings_of(&json(&out)).is_empty(), "{out}");
    for col in ["jd", "unix_s", "unix_ms"] {
        assert_eq!(
            pg_times(&suggested, col, true),
            pg_times(&created, col, false),
            "{col}"
        );
    }
}

/// A `time` column filled from text holding a date and a time (Rails
/// writes `time` values on the dummy date 2000-01-01): the time of day, as
/// SQLite's `time()` reads it. Numbers too: seconds of the day as Unix time
/// and Julian days give the instant's time of day, with the warning.
#[test]
fn time_of_day_from_date_and_time_text_is_what_sqlite_time_says() {
    let Case { dir: _dir, src, db } = Case::new(
        "readings_time",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, t time, secs INTEGER, jd REAL);
         INSERT INTO events VALUES (1, '2000-01-01 23:59:59.999', 0, julianday('2024-01-15 10:30:00.123')),
                                   (2, '2000-01-01 12:34:56.001', 3600, julianday('2024-01-15 23:59:59')),
                                   (3, '2000-01-01 00:00:00', 86399, julianday('2024-01-16')),
                                   (4, '07:08:09', 45296, NULL),
                                   (5, '1970-01-01 01:30:00', NULL, 2460000.25), (6, NULL, 1, 2460000.0);",
    )
    .with_target("CREATE TABLE events (id bigint PRIMARY KEY, t time, secs time, jd time)");
    let out = migrate(&src, &db, &["--schema", "existing", "--json"]);
    assert_code(&out, 0);
    let c = rusqlite::Connection::open(&src).unwrap();
    for (col, expr) in [("t", "t"), ("secs", "secs, 'unixepoch'"), ("jd", "jd")] {
        let mut s = c.prepare(&format!("SELECT id, strftime('%H:%M:%f', {expr}) FROM events")).unwrap();
        let want: HashMap<i64, Option<String>> =
            s.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, Option<String>>(1)?))).unwrap().map(Result::unwrap).collect();
        let got: HashMap<i64, Option<String>> = db
            .query_strings(&format!("SELECT id::text, to_char({col}, 'HH24:MI:SS.MS') FROM events"))
            .into_iter()
            .map(|r| (r[0].as_deref().unwrap().parse().unwrap(), r[1].clone()))
            .collect();
        assert_eq!(got, want, "{col}");
        if col == "t" {
            assert_eq!(want[&5].as_deref(), Some("01:30:00.000"), "a time on a placeholder date");
        }
    }
    let want: HashMap<String, String> = [("secs", "epoch-seconds"), ("jd", "julian-day")].iter().map(|(c, i)| (c.to_string(), i.to_string())).collect();
    assert_eq!(readings_of(&json(&out)), want);
    assert!(out.stderr.contains("86399 → 23:59:59"), "{out}");
}

/// Rails' schemas: `timestamp(6)` for every `t.timestamps` column, `time(0)`
/// for `t.time precision: 0` (values written on the dummy date). They load
/// like the plain types; a value finer than the column's precision, which
/// PostgreSQL would round, is a bad value named by its row.
#[test]
fn fractional_precision_targets_load_and_finer_values_are_refused() {
    let Case { dir: _dir, src, db } = Case::new(
        "readings_precision",
        "CREATE TABLE samples (id INTEGER PRIMARY KEY, created_at datetime(6) NOT NULL, t time(0), coarse datetime(3));
         INSERT INTO samples VALUES (1, '2024-02-29 23:59:59.999999', '2000-01-01 12:34:56', '2024-01-01 00:00:00.123'),
                                    (2, '2000-01-01 00:00:00', '2000-01-01 00:00:00', '2024-01-01 00:00:00.1234');",
    )
    .with_target(
        "CREATE TABLE samples (id bigint PRIMARY KEY, created_at timestamp(6) NOT NULL, t time(0), coarse timestamp(3))",
    );
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 2);
    for needle in ["\"coarse\"", "rowid 2", "more than 3 fractional digit"] {
        assert!(out.stderr.contains(needle), "missing {needle:?}\n{out}");
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM samples"), 0);
    let p = ferry(&["plan", src.to_str().unwrap(), &db.url]);
    assert_code(&p, 1);
    assert!(p.stdout.contains("more than 3 fractional digit"), "{p}");
    // The value as Rails would have written it (truncated to the precision).
    let c = rusqlite::Connection::open(&src).unwrap();
    c.execute("UPDATE samples SET coarse = '2024-01-01 00:00:00.123' WHERE id = 2", []).unwrap();
    drop(c);
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 0);
    let rows = db.query_strings("SELECT created_at::text, t::text, coarse::text FROM samples ORDER BY id");
    assert_eq!(rows[0], vec![Some("2024-02-29 23:59:59.999999".into()), Some("12:34:56".into()), Some("2024-01-01 00:00:00.123".into())]);
    assert_eq!(rows[1], vec![Some("2000-01-01 00:00:00".into()), Some("00:00:00".into()), Some("2024-01-01 00:00:00.123".into())]);
    assert_code(&ferry(&["verify", src.to_str().unwrap(), &db.url]), 0);
}

/// Every ISO 8601 form SQLite's date functions accept (and a few more
/// that ferry reads the same way), into `timestamptz` and `timestamp`: the
/// instant SQLite's `strftime` gives, at its millisecond precision.
#[test]
fn iso_text_in_every_form_sqlite_reads() {
    let forms = [
        "2024-01-15",
        "2024-01-15 10:30",
        "2024-01-15 10:30:45",
        "2024-01-15 10:30:45.5",
        "2024-01-15 10:30:45.123",
        "2024-01-15 10:30:45.123456",
        "2024-01-15T10:30",
        "2024-01-15T10:30:45",
        "2024-01-15T10:30:45.123",
        "2024-01-15T10:30:45Z",
        "2024-01-15 10:30:45z",
        "2024-01-15T10:30:45.250+02:00",
        "2024-01-15 10:30:45 +02:00",
        "2024-01-15 01:30:45-05:30",
        "2024-01-15T23:30Z",
        "1969-12-31 23:59:59.999",
        "0001-01-01 00:00:00",
        "9999-12-31 23:59:59.999",
    ];
    let mut sql = String::from("CREATE TABLE events (id INTEGER PRIMARY KEY, a DATETIME, b TEXT);\n");
    for (i, f) in forms.iter().enumerate() {
        sql.push_str(&format!("INSERT INTO events VALUES ({}, '{f}', '{f}');\n", i + 1));
    }
    let Case { dir: _dir, src, db } = Case::new("readings_iso", &sql)
        .with_target("CREATE TABLE events (id bigint PRIMARY KEY, a timestamptz, b timestamp)");
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 0);
    assert!(!out.stderr.contains("numbers read as"), "text is never a guess\n{out}");
    let want = sqlite_times(&src, "a");
    assert!(want.values().all(Option::is_some), "SQLite reads every form: {want:?}");
    assert_eq!(pg_times(&db, "a", true), want);
    // Into `timestamp` an offset is an instant too, kept as its UTC wall-clock time.
    assert_eq!(pg_times(&db, "b", false), sqlite_times(&src, "b"));
}

/// Columns without a declared type (BLOB affinity: the profile counts their
/// classes but not their range, which a query over the table then gives)
/// get the same readings.
#[test]
fn untyped_columns_get_the_same_readings() {
    let Case { dir: _dir, src, db } = Case::new(
        "readings_untyped",
        "CREATE TABLE events (id INTEGER PRIMARY KEY, jd, secs, tod);
         INSERT INTO events VALUES (1, julianday('2024-01-15 10:30:00.123'), 1705314600, 3600),
                                   (2, julianday('1999-12-31 23:59:59.999'), 946684799, 86399),
                                   (3, NULL, NULL, NULL);",
    )
    .with_target(
        "CREATE TABLE events (id bigint PRIMARY KEY, jd timestamptz, secs timestamptz, tod time)",
    );
    let out = migrate(&src, &db, &["--schema", "existing", "--json"]);
    assert_code(&out, 0);
    assert_eq!(
        readings_of(&json(&out)),
        [("jd", "julian-day"), ("secs", "epoch-seconds"), ("tod", "epoch-seconds")].iter().map(|(c, i)| (c.to_string(), i.to_string())).collect()
    );
    let want = sqlite_times(&src, "jd");
    assert_eq!(pg_times(&db, "jd", true), want);
    assert_eq!(pg_times(&db, "secs", true), sqlite_times(&src, "secs, 'unixepoch'"));
    assert_eq!(
        db.query_strings("SELECT tod::text FROM events ORDER BY id"),
        vec![vec![Some("01:00:00".into())], vec![Some("23:59:59".into())], vec![None]]
    );
}
