//! Values as applications and SQLite really store them, loaded exact
//! (issue 13): numbers and SQLite's binary JSON in JSON columns, durations,
//! IP addresses, fixed-width text, float4 rounding, REALs into scaled
//! numerics, times of day on placeholder dates.
//!
//! `ferry verify` hashes both sides through ferry's own conversions, so it
//! cannot catch a wrong reading. Every test here therefore also reads the
//! target back with its own SQL and compares with values PostgreSQL itself
//! makes from the text the application would have sent (`'1e+300'::jsonb`,
//! `0.1::float8::float4`), or with values computed independently (Python's
//! `Decimal(x).quantize(…)` for the exact value of a double). Where the
//! issue asks for both, each test runs in create mode and with
//! `--schema existing` into a schema made by SQL here.

use std::path::{Path, PathBuf};

use crate::util::case::{Case, migrate};
use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

fn source(dir: &Path, sql: &str) -> PathBuf {
    db_from_sql(dir, "src.db", sql)
}

fn mapping(dir: &Path, toml: &str) -> PathBuf {
    let p = dir.join("map.toml");
    std::fs::write(&p, toml).unwrap();
    p
}

fn verify(src: &Path, db: &TestDb, extra: &[&str]) -> Output {
    let mut args = vec!["verify", src.to_str().unwrap(), db.url.as_str()];
    args.extend_from_slice(extra);
    ferry(&args)
}

/// One column of a query, `None` for NULL.
fn column(db: &TestDb, sql: &str) -> Vec<Option<String>> {
    db.query_strings(sql)
        .into_iter()
        .map(|mut r| r.remove(0))
        .collect()
}

fn sqlite_types(src: &Path, sql: &str) -> Vec<String> {
    let c = rusqlite::Connection::open(src).unwrap();
    let mut st = c.prepare(sql).unwrap();
    st.query_map([], |r| r.get::<_, String>(0))
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

// ---------------------------------------------------------------------------
// 1. JSON columns holding bare numbers next to documents.

/// What the application wrote (`json.dumps(value)`), in rowid order. SQLite's
/// NUMERIC affinity keeps the numbers as INTEGER or REAL; the last but one
/// is beyond 64 bits and became the REAL 1.2345678901234567e19, so the
/// application's text for *that* value is the float's.
const JSON_WRITTEN: &[&str] = &[
    "5",
    "-42",
    "9007199254740993",
    "1.5",
    "0.1",
    "1e+300",
    "-2.5e-07",
    "1.2345678901234567e+19",
    r#"{"b": 1, "a": [1, 2.50, "x"]}"#,
    r#""a JSON string 😀""#,
];

fn json_source(dir: &Path) -> PathBuf {
    let mut sql = String::from("CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON, raw JSON);\n");
    for (i, text) in JSON_WRITTEN.iter().enumerate() {
        // As the application binds it: the JSON text, into both columns.
        let lit = if i == 7 {
            "'12345678901234567890'".to_string()
        } else {
            format!("'{}'", text.replace('\'', "''"))
        };
        sql.push_str(&format!(
            "INSERT INTO docs VALUES ({}, {lit}, {lit});\n",
            i + 1
        ));
    }
    sql.push_str("INSERT INTO docs VALUES (11, NULL, NULL);\n");
    let src = source(dir, &sql);
    // The premise: SQLite turned the numbers into numbers.
    assert_eq!(
        sqlite_types(&src, "SELECT typeof(doc) FROM docs ORDER BY id"),
        [
            "integer", "integer", "integer", "real", "real", "real", "real", "real", "text",
            "text", "null"
        ]
    );
    src
}

/// Every row's document equals PostgreSQL's own reading of the text the
/// application wrote; `json` keeps the application's text as written.
fn assert_json_loaded(db: &TestDb, raw_is_json: bool) {
    for (i, text) in JSON_WRITTEN.iter().enumerate() {
        let lit = text.replace('\'', "''");
        let got = db.query_strings(&format!(
            "SELECT doc::text, '{lit}'::jsonb::text, doc = '{lit}'::jsonb, raw::text FROM docs WHERE id = {}",
            i + 1
        ));
        let row = &got[0];
        assert_eq!(
            row[0],
            row[1],
            "row {}: jsonb {:?} is not PostgreSQL's reading of {text:?}",
            i + 1,
            row[0]
        );
        assert_eq!(row[2].as_deref(), Some("t"), "row {}", i + 1);
        if raw_is_json && i < 8 {
            // A number's text is the application's own.
            assert_eq!(row[3].as_deref(), Some(*text), "row {}: json text", i + 1);
        }
    }
    assert_eq!(
        column(db, "SELECT doc IS NULL FROM docs WHERE id = 11"),
        [Some("t".into())]
    );
}

#[test]
fn json_numbers_load_exact_in_create_mode() {
    let dir = tempfile::tempdir().unwrap();
    let src = json_source(dir.path());
    let map = mapping(
        dir.path(),
        "[tables.docs.columns]\nraw = { type = \"json\" }\n",
    );
    let db = server().fresh_db("fidelity_json_create");
    let out = migrate(&src, &db, &["--mapping", map.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(!out.stderr.contains("widened"), "{}", out.stderr);
    let types = db.query_strings(
        "SELECT column_name::text, data_type::text FROM information_schema.columns WHERE table_name = 'docs' ORDER BY ordinal_position",
    );
    assert_eq!(
        types[1],
        [Some("doc".into()), Some("jsonb".into())],
        "a JSON column stays jsonb"
    );
    assert_eq!(types[2], [Some("raw".into()), Some("json".into())]);
    assert_json_loaded(&db, true);
    assert_code(&verify(&src, &db, &["--mapping", map.to_str().unwrap()]), 0);
}

#[test]
fn json_numbers_load_exact_into_an_existing_schema() {
    let dir = tempfile::tempdir().unwrap();
    let src = json_source(dir.path());
    let db = server().fresh_db("fidelity_json_existing");
    db.query_strings("CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb, raw json)");
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 0);
    assert_json_loaded(&db, true);
    assert_code(&verify(&src, &db, &[]), 0);
    // A REAL that is not a JSON number is a bad value naming the row.
    let bad = source(
        dir.path(),
        "CREATE TABLE docs (id INTEGER PRIMARY KEY, doc JSON, raw JSON); INSERT INTO docs VALUES (1, '1', '2'), (2, 9e999, '3');",
    );
    let db = server().fresh_db("fidelity_json_existing_inf");
    db.query_strings("CREATE TABLE docs (id bigint PRIMARY KEY, doc jsonb, raw json)");
    let out = migrate(&bad, &db, &["--schema", "existing"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("\"docs\"")
            && out.stderr.contains("\"doc\"")
            && out.stderr.contains("rowid 2"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("not JSON numbers"), "{}", out.stderr);
}

// ---------------------------------------------------------------------------
// 2. SQLite's binary JSON (jsonb() blobs, SQLite 3.45+).

/// (SQLite expression for the stored value, the JSON text it stands for).
const JSONB_ROWS: &[(&str, &str)] = &[
    (
        r#"jsonb('{"a":[1,2.5,"x"],"b":null,"c":{"d":true}}')"#,
        r#"{"a":[1,2.5,"x"],"b":null,"c":{"d":true}}"#,
    ),
    ("jsonb('5')", "5"),
    ("jsonb('1e+300')", "1e+300"),
    (r#"jsonb('"tab\there \u00e9 😀"')"#, r#""tab\there é 😀""#),
    ("jsonb('[]')", "[]"),
    // JSON5, which jsonb() keeps in its JSON5 element types.
    (
        r#"jsonb('{a: 0x1F, b: .5, ''c'': ''it\''s''}')"#,
        r#"{"a":31,"b":0.5,"c":"it's"}"#,
    ),
    // Text beside the blobs stays JSON text.
    (r#"'{"plain":"text"}'"#, r#"{"plain":"text"}"#),
];

fn jsonb_source(dir: &Path) -> PathBuf {
    let mut sql = String::from("CREATE TABLE b (id INTEGER PRIMARY KEY, doc JSONB, raw JSONB);\n");
    for (i, (expr, _)) in JSONB_ROWS.iter().enumerate() {
        sql.push_str(&format!(
            "INSERT INTO b VALUES ({}, {expr}, {expr});\n",
            i + 1
        ));
    }
    let src = source(dir, &sql);
    let c = rusqlite::Connection::open(&src).unwrap();
    let version: String = c
        .query_row("SELECT sqlite_version()", [], |r| r.get(0))
        .unwrap();
    let parts: Vec<u32> = version.split('.').map(|p| p.parse().unwrap()).collect();
    assert!(
        parts[0] == 3 && parts[1] >= 45,
        "the bundled SQLite {version} has no jsonb()"
    );
    assert_eq!(
        sqlite_types(&src, "SELECT typeof(doc) FROM b ORDER BY id")[..6],
        ["blob"; 6]
    );
    src
}

fn assert_jsonb_loaded(db: &TestDb) {
    for (i, (_, text)) in JSONB_ROWS.iter().enumerate() {
        let lit = text.replace('\'', "''");
        let got = db.query_strings(&format!("SELECT doc = '{lit}'::jsonb, raw::jsonb = '{lit}'::jsonb, doc::text FROM b WHERE id = {}", i + 1));
        assert_eq!(
            got[0][..2],
            [Some("t".into()), Some("t".into())],
            "row {}: {:?} is not {text}",
            i + 1,
            got[0][2]
        );
    }
}

#[test]
fn sqlite_binary_json_loads_in_both_modes() {
    let dir = tempfile::tempdir().unwrap();
    let src = jsonb_source(dir.path());
    let map = mapping(
        dir.path(),
        "[tables.b.columns]\nraw = { type = \"json\" }\n",
    );
    let db = server().fresh_db("fidelity_jsonb_create");
    let out = migrate(&src, &db, &["--mapping", map.to_str().unwrap()]);
    assert_code(&out, 0);
    assert_eq!(
        column(
            &db,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'b'::regclass AND attname = 'doc'"
        ),
        [Some("jsonb".into())]
    );
    assert_jsonb_loaded(&db);
    assert_code(&verify(&src, &db, &["--mapping", map.to_str().unwrap()]), 0);

    let db = server().fresh_db("fidelity_jsonb_existing");
    db.query_strings("CREATE TABLE b (id integer PRIMARY KEY, doc jsonb, raw json)");
    assert_code(&migrate(&src, &db, &["--schema", "existing"]), 0);
    assert_jsonb_loaded(&db);
    assert_code(&verify(&src, &db, &[]), 0);

    // A blob that is not SQLite JSONB is a bad value, found by plan too.
    let bad = source(
        dir.path(),
        "CREATE TABLE b (id INTEGER PRIMARY KEY, doc JSONB, raw JSONB); INSERT INTO b VALUES (1, jsonb('1'), NULL), (7, x'0d0d', NULL);",
    );
    let db = server().fresh_db("fidelity_jsonb_bad");
    let out = ferry(&["plan", bad.to_str().unwrap()]);
    assert_code(&out, 1);
    assert!(
        out.stdout.contains("not SQLite JSONB") && out.stdout.contains("rowid 7"),
        "{}",
        out.stdout
    );
    let out = migrate(&bad, &db, &[]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("\"doc\"")
            && out.stderr.contains("rowid 7")
            && out.stderr.contains("not SQLite JSONB"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// 3. interval, inet, cidr, character(n).

const NEW_TYPES_SOURCE: &str = "
    CREATE TABLE t (id INTEGER PRIMARY KEY, span BIGINT, ip CHAR(39), net TEXT, code TEXT);
    INSERT INTO t VALUES
      (1, 0, '192.0.2.1', '10.0.0.0/8', 'ab'),
      (2, 1, '2001:db8::1', '2001:db8::/32', 'abcde'),
      (3, -86400000001, '::ffff:192.0.2.1', '192.168.1.5', 'zoë'),
      (4, 8640000000000000000, '10.1.2.3/8', '::/0', ''),
      (5, '1 day, 2:03:04.000005', 'fe80::1:2:3:4', '0.0.0.0/0', '  pad'),
      (6, 'P1Y2M3DT4H5M6.5S', '0.0.0.0', NULL, NULL),
      (7, '1970-01-02 02:03:04.000005', NULL, NULL, NULL),
      (8, NULL, NULL, NULL, NULL);
";

/// PostgreSQL's own text for each value, and each value compared with
/// PostgreSQL's reading of the text (`=` on the type).
fn assert_new_types_loaded(db: &TestDb) {
    let spans = column(db, "SELECT span::text FROM t ORDER BY id");
    let want = [
        Some("00:00:00"),
        Some("00:00:00.000001"),
        // timedelta(microseconds=-86400000001) = -2 days + 23:59:59.999999.
        Some("-2 days +23:59:59.999999"),
        Some("100000000 days"),
        Some("1 day 02:03:04.000005"),
        Some("1 year 2 mons 3 days 04:05:06.5"),
        Some("1 day 02:03:04.000005"),
        None,
    ];
    assert_eq!(spans, want.map(|s| s.map(String::from)));
    // Equal, as intervals, to PostgreSQL's reading of the same durations.
    let equal = column(
        db,
        "SELECT span = w FROM t JOIN (VALUES (1, interval '0'), (2, interval '0.000001 seconds'), \
         (3, interval '-86400.000001 seconds'), (4, interval '8640000000000 seconds'), (5, '1 day, 2:03:04.000005'::interval), \
         (6, 'P1Y2M3DT4H5M6.5S'::interval), (7, interval '1 day 02:03:04.000005')) AS v(i, w) ON v.i = t.id ORDER BY id",
    );
    assert_eq!(equal, vec![Some("t".to_string()); 7]);
    // inet's output omits a full-length prefix (its `::text` would not).
    let ips = column(db, "SELECT ip FROM t ORDER BY id");
    let want = [
        "192.0.2.1",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "10.1.2.3/8",
        "fe80::1:2:3:4",
        "0.0.0.0",
    ];
    for (i, w) in want.iter().enumerate() {
        assert_eq!(ips[i].as_deref(), Some(*w), "ip row {}", i + 1);
        assert_eq!(
            column(
                db,
                &format!("SELECT ip = '{w}'::inet FROM t WHERE id = {}", i + 1)
            ),
            [Some("t".into())]
        );
    }
    let nets = column(
        db,
        "SELECT net::text FROM t WHERE net IS NOT NULL ORDER BY id",
    );
    assert_eq!(
        nets,
        [
            "10.0.0.0/8",
            "2001:db8::/32",
            "192.168.1.5/32",
            "::/0",
            "0.0.0.0/0"
        ]
        .map(|s| Some(s.to_string()))
    );
    let codes = db.query_strings("SELECT code = v::character(5), octet_length(code), code::text FROM t JOIN (VALUES (1, 'ab'), (2, 'abcde'), (3, 'zoë'), (4, ''), (5, '  pad')) AS w(i, v) ON w.i = t.id ORDER BY id");
    for (i, r) in codes.iter().enumerate() {
        assert_eq!(r[0].as_deref(), Some("t"), "code row {}: {:?}", i + 1, r[2]);
    }
    // Padded to five characters by the server (zoë: 4 characters, 5 bytes, + 2 blanks).
    assert_eq!(
        codes
            .iter()
            .map(|r| r[1].clone().unwrap())
            .collect::<Vec<_>>(),
        ["5", "5", "6", "5", "5"]
    );
}

#[test]
fn interval_inet_cidr_and_char_load_into_an_existing_schema() {
    let Case { dir: _dir, src, db } = Case::new(
        "fidelity_new_types_existing",
        NEW_TYPES_SOURCE,
    )
    .with_target(
        "CREATE TABLE t (id bigint PRIMARY KEY, span interval, ip inet, net cidr, code character(5))",
    );
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 0);
    assert_new_types_loaded(&db);
    assert_code(&verify(&src, &db, &[]), 0);
}

#[test]
fn interval_inet_cidr_and_char_load_in_create_mode() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(dir.path(), NEW_TYPES_SOURCE);
    let map = mapping(
        dir.path(),
        "[tables.t.columns]\nspan = { type = \"interval\" }\nip = { type = \"inet\" }\nnet = { type = \"cidr\" }\ncode = { type = \"char(5)\" }\n",
    );
    let db = server().fresh_db("fidelity_new_types_create");
    let out = migrate(&src, &db, &["--mapping", map.to_str().unwrap()]);
    assert_code(&out, 0);
    assert_eq!(
        column(
            &db,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 't'::regclass AND attnum > 0 ORDER BY attnum"
        ),
        ["bigint", "interval", "inet", "cidr", "character(5)"].map(|s| Some(s.to_string()))
    );
    assert_new_types_loaded(&db);
    assert_code(&verify(&src, &db, &["--mapping", map.to_str().unwrap()]), 0);
}

#[test]
fn bad_addresses_durations_and_long_chars_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let target = "CREATE TABLE t (id bigint PRIMARY KEY, span interval, ip inet, net cidr, code character(3))";
    // (row, reason, found per row rather than from the column's classes)
    let cases: &[(&str, &str, bool)] = &[
        (
            "(4, NULL, '999.1.1.1', NULL, NULL)",
            "not an IP address",
            true,
        ),
        (
            "(4, NULL, NULL, '10.1.2.3/8', NULL)",
            "bits set right of the /8 prefix",
            true,
        ),
        ("(4, 'soon', NULL, NULL, NULL)", "not a duration", true),
        // A REAL has no unit: the whole column is refused before loading.
        (
            "(4, 1.5, NULL, NULL, NULL)",
            "interval cannot hold its values",
            false,
        ),
    ];
    for (k, (row, reason, per_row)) in cases.iter().enumerate() {
        let src = source(
            dir.path(),
            &format!(
                "CREATE TABLE t (id INTEGER PRIMARY KEY, span BIGINT, ip TEXT, net TEXT, code TEXT); INSERT INTO t VALUES (1, 5, '1.2.3.4', '1.2.3.0/24', 'abc'), {row};"
            ),
        );
        let db = server().fresh_db(&format!("fidelity_bad_new_types_{k}"));
        db.query_strings(target);
        let out = migrate(&src, &db, &["--schema", "existing"]);
        assert_code(&out, 2);
        assert!(
            out.stderr.contains("\"t\"") && out.stderr.contains(reason),
            "{reason}:\n{}",
            out.stderr
        );
        assert_eq!(out.stderr.contains("rowid 4"), *per_row, "{}", out.stderr);
        assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 0);
    }
    // Longer than character(3): a misfit before anything loads, in migrate and plan.
    let src = source(
        dir.path(),
        "CREATE TABLE t (id INTEGER PRIMARY KEY, span BIGINT, ip TEXT, net TEXT, code TEXT); INSERT INTO t VALUES (1, 5, NULL, NULL, 'abcd');",
    );
    let db = server().fresh_db("fidelity_bad_char");
    db.query_strings(target);
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 2);
    assert!(
        out.stderr
            .contains("text up to 4 characters does not fit character(3)"),
        "{}",
        out.stderr
    );
    let out = ferry(&[
        "plan",
        src.to_str().unwrap(),
        db.url.as_str(),
        "--schema",
        "existing",
    ]);
    assert_code(&out, 1);
    assert!(
        out.stdout.contains("does not fit character(3)"),
        "{}",
        out.stdout
    );
}

// ---------------------------------------------------------------------------
// 4. real (float4): rounded as PostgreSQL's cast rounds, counted, reported.

#[test]
fn real_targets_store_the_rounded_value_and_say_so() {
    let dir = tempfile::tempdir().unwrap();
    // 16777217 under REAL affinity is the REAL 16777217.0 (float4 rounds it
    // to 16777216); 1e-45 becomes float4's smallest subnormal.
    let src = source(
        dir.path(),
        "CREATE TABLE f (id INTEGER PRIMARY KEY, x REAL);
         INSERT INTO f VALUES (1, 0.1), (2, 1.5), (3, 16777217), (4, 3.4028234663852886e38), (5, 1e-45), (6, NULL), (7, -0.0);",
    );
    let expected = "SELECT f.id, f.x IS NOT DISTINCT FROM v.x::float8::float4 FROM f JOIN (VALUES (1, 0.1::float8), (2, 1.5), (3, 16777217), (4, 3.4028234663852886e38), (5, 1e-45), (6, NULL), (7, 0)) AS v(id, x) ON v.id = f.id ORDER BY 1";
    let check = |db: &TestDb| {
        for r in db.query_strings(expected) {
            assert_eq!(r[1].as_deref(), Some("t"), "row {:?}", r[0]);
        }
    };
    let map = mapping(dir.path(), "[tables.f.columns]\nx = { type = \"real\" }\n");
    for existing in [false, true] {
        let db = server().fresh_db(if existing {
            "fidelity_real_existing"
        } else {
            "fidelity_real_create"
        });
        let extra: Vec<&str> = if existing {
            db.query_strings("CREATE TABLE f (id integer PRIMARY KEY, x real)");
            vec!["--schema", "existing", "--json"]
        } else {
            vec!["--mapping", map.to_str().unwrap(), "--json"]
        };
        let out = migrate(&src, &db, &extra);
        assert_code(&out, 0);
        assert!(
            out.stderr.contains("3 value(s) rounded to real (float4)"),
            "{}",
            out.stderr
        );
        assert!(out.stderr.contains("3 rounded to real"), "{}", out.stderr);
        let report: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        let row = &report["tables"][0];
        assert_eq!(row["rounded"], 3, "{row}");
        // 1e-45 became 1.401298464324817e-45: a change of 40 %.
        let rel = row["max_relative_change"].as_f64().unwrap();
        assert!((rel - 0.401298464324817).abs() < 1e-9, "{rel}");
        assert!(
            report["warnings"].to_string().contains("rounded to real"),
            "{report}"
        );
        let schema: serde_json::Value =
            serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
        let errors: Vec<String> = jsonschema::validator_for(&schema)
            .unwrap()
            .iter_errors(&report)
            .map(|e| e.to_string())
            .collect();
        assert!(
            errors.is_empty(),
            "report does not match docs/report.schema.json: {errors:#?}"
        );
        check(&db);
        let v = if existing {
            verify(&src, &db, &[])
        } else {
            verify(&src, &db, &["--mapping", map.to_str().unwrap()])
        };
        assert_code(&v, 0);
        let plan_args: Vec<&str> = if existing {
            vec![
                "plan",
                src.to_str().unwrap(),
                db.url.as_str(),
                "--schema",
                "existing",
                "--json",
            ]
        } else {
            vec![
                "plan",
                src.to_str().unwrap(),
                "--mapping",
                map.to_str().unwrap(),
                "--json",
            ]
        };
        if existing {
            db.query_strings("TRUNCATE f");
        }
        let out = ferry(&plan_args);
        assert_code(&out, 0);
        let plan: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
        assert_eq!(plan["rounded"][0]["column"], "x", "{}", plan["rounded"]);
        assert_eq!(plan["rounded"][0]["count"], 3);
    }
    // Beyond float4's range: a bad value, in plan and migrate.
    let src = source(
        dir.path(),
        "CREATE TABLE f (id INTEGER PRIMARY KEY, x REAL); INSERT INTO f VALUES (1, 1.0), (2, 1e39);",
    );
    let db = server().fresh_db("fidelity_real_overflow");
    db.query_strings("CREATE TABLE f (id integer PRIMARY KEY, x real)");
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("rowid 2") && out.stderr.contains("overflow"),
        "{}",
        out.stderr
    );
}

// ---------------------------------------------------------------------------
// 5. REAL into numeric(p,s): the double's exact value at the scale.

#[test]
fn reals_into_scaled_numerics_are_their_exact_binary_value() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(
        dir.path(),
        "CREATE TABLE m (id INTEGER PRIMARY KEY, amount NUMERIC(20,6), cents NUMERIC(10,2));
         INSERT INTO m VALUES (1, 4068861093708.90625, 0.125), (2, 2.675, 2.675), (3, 0.1, 0.1),
                              (4, 12345678901234.568359375, -0.125), (5, -1.0000005, 1.005), (6, 12, 7);",
    );
    assert_eq!(
        sqlite_types(&src, "SELECT typeof(amount) FROM m ORDER BY id"),
        ["real", "real", "real", "real", "real", "integer"]
    );
    // Python: Decimal(x).quantize(Decimal('0.000001'), ROUND_HALF_UP),
    // i.e. the exact binary value rounded half away from zero.
    let want = [
        ("4068861093708.906250", "0.13"),
        ("2.675000", "2.67"),
        ("0.100000", "0.10"),
        ("12345678901234.568359", "-0.13"),
        ("-1.000001", "1.00"),
        ("12.000000", "7.00"),
    ];
    let check = |db: &TestDb| {
        let rows = db.query_strings("SELECT amount::text, cents::text FROM m ORDER BY id");
        for (r, (a, c)) in rows.iter().zip(want) {
            assert_eq!((r[0].as_deref(), r[1].as_deref()), (Some(a), Some(c)));
        }
    };
    let db = server().fresh_db("fidelity_numeric_create");
    assert_code(&migrate(&src, &db, &[]), 0);
    assert_eq!(
        column(
            &db,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 'm'::regclass AND attname = 'amount'"
        ),
        [Some("numeric(20,6)".into())]
    );
    check(&db);
    assert_code(&verify(&src, &db, &[]), 0);
    let db = server().fresh_db("fidelity_numeric_existing");
    db.query_strings(
        "CREATE TABLE m (id integer PRIMARY KEY, amount numeric(20,6), cents numeric(10,2))",
    );
    assert_code(&migrate(&src, &db, &["--schema", "existing"]), 0);
    check(&db);
    assert_code(&verify(&src, &db, &[]), 0);
}

// ---------------------------------------------------------------------------
// 6. Times of day on a placeholder date; time(p)/timestamp(p) targets.

#[test]
fn times_on_placeholder_dates_load_as_times_and_real_dates_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let src = source(
        dir.path(),
        "CREATE TABLE s (id INTEGER PRIMARY KEY, at TIME, whole TIME, stamp DATETIME);
         INSERT INTO s VALUES (1, '2000-01-01 10:30:00', '2000-01-01 10:30:00', '2024-02-29 23:59:59.123'),
                              (2, '1970-01-01T23:59:59.999999', '1970-01-01 00:00:01', '2024-01-01 00:00:00'),
                              (3, '12:00:00', '12:00:00', NULL),
                              (4, '2000-01-01 00:00:00.000001', '2000-01-01 00:00:00', NULL);",
    );
    let want = ["10:30:00", "23:59:59.999999", "12:00:00", "00:00:00.000001"];
    let check = |db: &TestDb| {
        assert_eq!(
            column(db, "SELECT at::text FROM s ORDER BY id"),
            want.map(|s| Some(s.to_string()))
        );
        assert_eq!(
            column(db, "SELECT whole::text FROM s ORDER BY id"),
            ["10:30:00", "00:00:01", "12:00:00", "00:00:00"].map(|s| Some(s.to_string()))
        );
    };
    let db = server().fresh_db("fidelity_time_existing");
    db.query_strings(
        "CREATE TABLE s (id integer PRIMARY KEY, at time, whole time(0), stamp timestamp(3))",
    );
    let out = migrate(&src, &db, &["--schema", "existing"]);
    assert_code(&out, 0);
    check(&db);
    assert_eq!(
        column(&db, "SELECT stamp::text FROM s WHERE id = 1"),
        [Some("2024-02-29 23:59:59.123".into())]
    );
    assert_code(&verify(&src, &db, &[]), 0);

    // Create mode: the built-in mapping makes a declared TIME a time.
    let db = server().fresh_db("fidelity_time_create");
    assert_code(&migrate(&src, &db, &[]), 0);
    assert_eq!(
        column(
            &db,
            "SELECT format_type(atttypid, atttypmod) FROM pg_attribute WHERE attrelid = 's'::regclass AND attname IN ('at', 'whole') ORDER BY attnum"
        ),
        [
            Some("time without time zone".to_string()),
            Some("time without time zone".to_string())
        ]
    );
    check(&db);
    assert_code(&verify(&src, &db, &[]), 0);

    // A real date would be lost, and a fraction finer than time(0) rounded:
    // both refused, by plan and by migrate, naming the row.
    for (row, reason) in [
        ("(5, '2024-05-03 10:30:00', NULL, NULL)", "real date"),
        (
            "(5, NULL, '2000-01-01 10:30:00.5', NULL)",
            "fractional digit(s) of a second",
        ),
        (
            "(5, NULL, NULL, '2024-01-01 00:00:00.0001')",
            "fractional digit(s) of a second",
        ),
    ] {
        let src = source(
            dir.path(),
            &format!(
                "CREATE TABLE s (id INTEGER PRIMARY KEY, at TIME, whole TIME, stamp DATETIME); INSERT INTO s VALUES {row};"
            ),
        );
        let db = server().fresh_db("fidelity_time_bad");
        db.query_strings(
            "CREATE TABLE s (id integer PRIMARY KEY, at time, whole time(0), stamp timestamp(3))",
        );
        let out = ferry(&[
            "plan",
            src.to_str().unwrap(),
            db.url.as_str(),
            "--schema",
            "existing",
        ]);
        assert_code(&out, 1);
        assert!(
            out.stdout.contains(reason) && out.stdout.contains("rowid 5"),
            "{reason}:\n{}",
            out.stdout
        );
        let out = migrate(&src, &db, &["--schema", "existing"]);
        assert_code(&out, 2);
        assert!(
            out.stderr.contains(reason) && out.stderr.contains("rowid 5"),
            "{reason}:\n{}",
            out.stderr
        );
    }
}

/// PostgreSQL's one-byte `"char"`, which sqlx uses for an `i8`: the
/// integer is the byte.
#[test]
fn one_byte_char_loads_into_an_existing_schema() {
    let Case { dir, src, db } = Case::new(
        "fidelity_one_byte_char",
        "CREATE TABLE b (id INTEGER PRIMARY KEY, v TINYINT NOT NULL);
         INSERT INTO b VALUES (1, 65), (2, 127), (3, -128), (4, 0), (5, -1);",
    )
    .with_target("CREATE TABLE b (id bigint PRIMARY KEY, v \"char\" NOT NULL)");
    assert_code(&migrate(&src, &db, &["--schema", "existing"]), 0);
    // PostgreSQL's own "char"-to-integer cast reads the byte as signed, as sqlx does.
    let got = column(&db, "SELECT v::int::text FROM b ORDER BY id");
    let want: Vec<Option<String>> = [65, 127, -128, 0, -1]
        .iter()
        .map(|i: &i32| Some(i.to_string()))
        .collect();
    assert_eq!(got, want);
    assert_code(&verify(&src, &db, &[]), 0);
    let out = migrate(
        &source(
            dir.path(),
            "CREATE TABLE b (id INTEGER PRIMARY KEY, v TINYINT NOT NULL); INSERT INTO b VALUES (1, 200);",
        ),
        &db,
        &["--schema", "existing", "--truncate"],
    );
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("out of range for \"char\""),
        "{}",
        out.stderr
    );
}
