//! Mapping files end to end (issue 3): errors that name file, line and
//! column; rule precedence and layering; renames, exclusions and table
//! patterns; named time zones against PostgreSQL's own rules; the
//! bad-value policies; the bundled mappings.

use std::path::{Path, PathBuf};

use crate::util::cmd::{assert_code, ferry, Output};
use crate::util::pg::{server, TestDb};
use crate::util::sqlite::db_from_sql;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p
}

fn migrate(src: &Path, db: &TestDb, maps: &[&Path], extra: &[&str]) -> Output {
    let mut args = vec!["migrate".to_string(), src.display().to_string(), db.url.clone(), "-j".into(), "1".into(), "--writers".into(), "2".into()];
    for m in maps {
        args.push("--mapping".into());
        args.push(m.display().to_string());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    let a: Vec<&str> = args.iter().map(String::as_str).collect();
    ferry(&a)
}

fn types_of(db: &TestDb, table: &str) -> Vec<(String, String)> {
    db.query_strings(&format!(
        "SELECT column_name::text, format_type(a.atttypid, a.atttypmod) FROM information_schema.columns c \
         JOIN pg_attribute a ON a.attrelid = ('public.' || quote_ident(c.table_name))::regclass AND a.attname = c.column_name \
         WHERE c.table_name = '{table}' ORDER BY c.ordinal_position"
    ))
    .into_iter()
    .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
    .collect()
}

#[test]
fn errors_name_file_line_and_column() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "s.db", "CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1);");
    let cases = [
        ("[settings]\ntimezon = \"UTC\"\n", "line 2, column 1", "timezon"),
        ("[types]\nX = { type = \"geometry\" }\n", "line 2, column 14", "geometry"),
        ("[types]\nX = { type = \"timestamp\", input = \"epoch-days\" }\n", "line 2, column 35", "unknown input"),
        ("[tables.t.columns]\na = { exclude = true, rename = \"b\" }\n", "line 2, column 17", "both excluded and renamed"),
        ("[settings]\nboolean_true = [\"y\"]\nboolean_false = [\"Y\"]\n", "line 3, column 17", "both true and false"),
        ("[settings]\ntimezone = \"Moon/Base\"\n", "line 2, column 12", "Moon/Base"),
        ("[tables.t]\non_bad_value = \"skip\"\n", "line 2, column 16", "skip"),
    ];
    for (i, (text, pos, what)) in cases.iter().enumerate() {
        let m = write(dir.path(), &format!("m{i}.toml"), text);
        // The mapping is read before any connection: no server needed.
        let out = ferry(&["migrate", src.to_str().unwrap(), "postgresql://nobody@127.0.0.1:1/none", "--mapping", m.to_str().unwrap()]);
        assert_code(&out, 2);
        let shown = m.display().to_string();
        assert!(out.stderr.contains(&shown) && out.stderr.contains(pos) && out.stderr.contains(what), "{text}\n{out}");
    }
    // Conflicts that need two files are named where the later one says it.
    let a = write(dir.path(), "a.toml", "[settings]\nboolean_true = [\"ja\"]\n");
    let b = write(dir.path(), "b.toml", "[tables.t.columns]\na = { type = \"boolean\", boolean_false = [\"JA\"] }\n");
    let out = ferry(&["migrate", src.to_str().unwrap(), "postgresql://nobody@127.0.0.1:1/none", "--mapping", a.to_str().unwrap(), "--mapping", b.to_str().unwrap()]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("b.toml, line 2") && out.stderr.contains("both true and false"), "{out}");
}

#[test]
fn precedence_layers_renames_and_patterns() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "p.db",
        "CREATE TABLE orders (id INTEGER PRIMARY KEY, total NUMERIC(10,2), tax NUMERIC(8,3), note VARCHAR(20), \
              created DATETIME, paid DATETIME, secret TEXT, flag INTEGER);
         INSERT INTO orders VALUES (1, 10.5, 1.25, 'n', 1700000000000, '2024-01-15 10:30:00', 's', 1);
         CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME, total NUMERIC(10,2));
         INSERT INTO events VALUES (1, 1700000000, 3.5);
         CREATE TABLE audit_log (id INTEGER PRIMARY KEY, x TEXT); INSERT INTO audit_log VALUES (1, 'a');
         CREATE TABLE tmp_scratch (id INTEGER PRIMARY KEY); INSERT INTO tmp_scratch VALUES (1);",
    );
    let base = write(
        dir.path(),
        "base.toml",
        r#"exclude_tables = ["tmp_*"]

[types]
NUMERIC = { type = "numeric(20,4)" }          # by base name: all NUMERIC(p,s)
"numeric(8, 3)" = { type = "numeric(9,3)" }    # with parameters: more specific
DATETIME = { type = "timestamptz", input = "epoch-seconds" }

[tables.orders]
rename = "purchase"

[tables.orders.types]
DATETIME = { input = "epoch-milliseconds" }   # this table's DATETIMEs are ms

[tables.orders.columns]
note = { type = "text", rename = "remark" }
secret = { exclude = true }
paid = { type = "timestamp", input = "text" }
"#,
    );
    let over = write(
        dir.path(),
        "over.toml",
        r#"[types]
NUMERIC = { type = "numeric" }                 # later file wins over base.toml

[tables.audit_log]
exclude = true

[tables.orders.columns]
flag = { type = "boolean" }
"#,
    );
    let db = server().fresh_db("mapping_precedence");
    let out = migrate(&src, &db, &[&base, &over], &[]);
    assert_code(&out, 0);
    let tables: Vec<String> =
        db.query_strings("SELECT table_name::text FROM information_schema.tables WHERE table_schema='public' ORDER BY 1").into_iter().map(|r| r[0].clone().unwrap()).collect();
    assert_eq!(tables, ["events", "purchase"], "{out}");
    let t = types_of(&db, "purchase");
    let ty = |c: &str| t.iter().find(|(n, _)| n == c).map(|(_, t)| t.as_str()).unwrap_or("MISSING");
    assert_eq!(ty("total"), "numeric", "later file's [types] NUMERIC");
    assert_eq!(ty("tax"), "numeric(9,3)", "a key with parameters beats the base name");
    assert_eq!(ty("remark"), "text");
    assert_eq!(ty("secret"), "MISSING");
    assert_eq!(ty("created"), "timestamp with time zone");
    assert_eq!(ty("paid"), "timestamp without time zone");
    assert_eq!(ty("flag"), "boolean");
    let row = &db.query_strings("SET TimeZone = 'UTC'; SELECT created::text, paid::text, flag::text, remark FROM purchase")[0];
    assert_eq!(row[0].as_deref(), Some("2023-11-14 22:13:20+00"), "table type rule: milliseconds");
    assert_eq!(row[1].as_deref(), Some("2024-01-15 10:30:00"), "column rule: text");
    assert_eq!(row[2].as_deref(), Some("true"));
    let ev = &db.query_strings("SET TimeZone = 'UTC'; SELECT at::text FROM events")[0];
    assert_eq!(ev[0].as_deref(), Some("2023-11-14 22:13:20+00"), "global type rule: seconds");
}

/// Naive local times in a named zone become the instant PostgreSQL itself
/// gives them (`'…'::timestamp AT TIME ZONE zone`), DST gaps and folds too.
#[test]
fn named_time_zones_agree_with_postgresql() {
    let dir = tempfile::tempdir().unwrap();
    let times = [
        "2024-01-15 12:00:00",
        "2024-07-01 12:00:00",
        "2024-03-31 02:30:00", // Paris: in the spring-forward gap
        "2024-10-27 02:30:00", // Paris: ambiguous (fall back)
        "2024-03-10 02:30:00", // New York: gap
        "2024-11-03 01:30:00", // New York: ambiguous
        "1900-06-01 00:00:00", // before standard time zones: local mean time
        "2100-12-31 23:59:59.999999",
    ];
    let mut sql = String::from("CREATE TABLE t (id INTEGER PRIMARY KEY, paris DATETIME, ny DATETIME, kolkata DATETIME);");
    for (i, t) in times.iter().enumerate() {
        sql.push_str(&format!("INSERT INTO t VALUES ({i}, '{t}', '{t}', '{t}');"));
    }
    let src = db_from_sql(dir.path(), "tz.db", &sql);
    let m = write(
        dir.path(),
        "tz.toml",
        r#"[settings]
timezone = "Europe/Paris"

[types]
DATETIME = { type = "timestamptz" }

[tables.t.columns]
ny = { timezone = "America/New_York" }
kolkata = { timezone = "Asia/Kolkata" }
"#,
    );
    let db = server().fresh_db("mapping_named_zones");
    assert_code(&migrate(&src, &db, &[&m], &[]), 0);
    for (col, zone) in [("paris", "Europe/Paris"), ("ny", "America/New_York"), ("kolkata", "Asia/Kolkata")] {
        for (i, t) in times.iter().enumerate() {
            let r = &db.query_strings(&format!(
                "SELECT {col} = ('{t}'::timestamp AT TIME ZONE '{zone}'), {col}::text, ('{t}'::timestamp AT TIME ZONE '{zone}')::text FROM t WHERE id = {i}"
            ))[0];
            assert_eq!(r[0].as_deref(), Some("t"), "{col} {t}: ferry {:?}, PostgreSQL {:?}", r[1], r[2]);
        }
    }
}

#[test]
fn bad_value_policies() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "b.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER, m INTEGER NOT NULL, b BLOB);
         INSERT INTO t VALUES (1, 1, 1, x'00'), (2, 'two', 2, x'01'), (3, 3, 'three', x'ff00fe'), (4, 4, 4, x'02');
         CREATE TABLE k (a TEXT, b TEXT, v INTEGER, PRIMARY KEY (a, b)) WITHOUT ROWID;
         INSERT INTO k VALUES ('x', 'y', 'nope');",
    );
    // abort (default): table, column, rowid or key, value and reason.
    let m = write(dir.path(), "abort.toml", "[tables.k.columns]\nv = { type = \"bigint\" }\n[tables.t]\nexclude = true\n");
    let db = server().fresh_db("mapping_policy_abort");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 2);
    for want in ["table \"k\"", "column \"v\"", "primary key (a=\"x\"", "\"nope\"", "text that is not an integer"] {
        assert!(out.stderr.contains(want), "{want}\n{out}");
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM k"), 0, "nothing of the table committed");

    // null: the nullable column gets NULL, counted; the NOT NULL one stops.
    let m = write(dir.path(), "null.toml", "[tables.t.columns]\nn = { type = \"bigint\", on_bad_value = \"null\" }\nm = { type = \"bigint\" }\n[tables.k]\nexclude = true\n");
    let db = server().fresh_db("mapping_policy_null");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("column \"m\"") && out.stderr.contains("rowid 3"), "{out}");
    let m = write(dir.path(), "null2.toml", "[settings]\non_bad_value = \"null\"\n[tables.t.columns]\nn = { type = \"bigint\" }\nm = { type = \"bigint\" }\n[tables.k]\nexclude = true\n");
    let db = server().fresh_db("mapping_policy_null_notnull");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("does not apply: the column is NOT NULL"), "{out}");
    let m = write(dir.path(), "null3.toml", "[tables.t.columns]\nn = { type = \"bigint\", on_bad_value = \"null\" }\nm = { type = \"bigint\", on_bad_value = \"reject\" }\n[tables.k]\nexclude = true\n");
    let rejects = dir.path().join("r.jsonl");
    let db = server().fresh_db("mapping_policy_null_reject");
    let out = migrate(&src, &db, &[&m], &["--reject-file", rejects.to_str().unwrap()]);
    assert_code(&out, 1);
    assert_eq!(
        db.query_strings("SELECT id::text, n::text, m::text FROM t ORDER BY id"),
        vec![
            vec![Some("1".into()), Some("1".into()), Some("1".into())],
            vec![Some("2".into()), None, Some("2".into())],
            vec![Some("4".into()), Some("4".into()), Some("4".into())],
        ]
    );
    assert!(out.stderr.contains("1 rejected, 1 NULLed"), "{out}");
    assert!(!out.stderr.contains("DIFFERS"), "{out}");
    let rec: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&rejects).unwrap().trim()).unwrap();
    assert_eq!(rec["key"]["rowid"], 3);
    assert_eq!(rec["column"], "m");
    assert_eq!(rec["value"], "three");
    assert_eq!(rec["row"]["b"]["base64"], "/wD+", "blobs as base64: {rec}");

    // More rejects than --max-rejects: the run stops.
    let m = write(dir.path(), "many.toml", "[settings]\non_bad_value = \"reject\"\n[tables.t.columns]\nb = { type = \"boolean\" }\n[tables.k]\nexclude = true\n");
    let db = server().fresh_db("mapping_policy_max_rejects");
    let out = migrate(&src, &db, &[&m], &["--reject-file", rejects.to_str().unwrap(), "--max-rejects", "2"]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("more than 2 rows rejected"), "{out}");

    // A rule whose type can take no value of a stored class stops before
    // anything is created, listing the columns.
    let m = write(dir.path(), "class.toml", "[tables.t.columns]\nn = { type = \"bytea\" }\nb = { type = \"date\" }\n[tables.k]\nexclude = true\n");
    let db = server().fresh_db("mapping_policy_classes");
    let out = migrate(&src, &db, &[&m], &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("column \"n\": 3 integer value(s)") && out.stderr.contains("column \"b\": 4 blob value(s)"), "{out}");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public'"), 0);
}

#[test]
fn bundled_mappings() {
    let dir = tempfile::tempdir().unwrap();
    // What SQLAlchemy / SQLModel write on SQLite.
    let src = db_from_sql(
        dir.path(),
        "sa.db",
        "CREATE TABLE item (id INTEGER NOT NULL PRIMARY KEY, created_at DATETIME NOT NULL, day DATE, at TIME, \
              active BOOLEAN NOT NULL, meta JSON, uid CHAR(32), price NUMERIC(10, 2), name VARCHAR(40));
         INSERT INTO item VALUES (1, '2024-01-15 10:30:00.123456', '2024-01-15', '10:30:00.500000', 1, '{\"k\": [1, 2]}', \
              '0b7c7bd53f5c4a4b9b1e2f1e0e6f8a11', 19.99, 'Widget');
         INSERT INTO item VALUES (2, '2024-02-29 00:00:00.000000', NULL, NULL, 0, NULL, NULL, '0.10', 'Gadget');",
    );
    let sa = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/sqlalchemy.toml");
    let db = server().fresh_db("mapping_bundled_sqlalchemy");
    assert_code(&migrate(&src, &db, &[&sa], &[]), 0);
    let t = types_of(&db, "item");
    let want = [
        ("id", "bigint"),
        ("created_at", "timestamp without time zone"),
        ("day", "date"),
        ("at", "time without time zone"),
        ("active", "boolean"),
        ("meta", "jsonb"),
        ("uid", "uuid"),
        ("price", "numeric(10,2)"),
        ("name", "character varying(40)"),
    ];
    assert_eq!(t, want.iter().map(|(a, b)| (a.to_string(), b.to_string())).collect::<Vec<_>>());
    assert_eq!(
        db.query_strings("SELECT created_at::text, at::text, active::text, meta::text, uid::text, price::text FROM item ORDER BY id"),
        vec![
            vec![
                Some("2024-01-15 10:30:00.123456".into()),
                Some("10:30:00.5".into()),
                Some("true".into()),
                Some(r#"{"k": [1, 2]}"#.into()),
                Some("0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11".into()),
                Some("19.99".into())
            ],
            vec![Some("2024-02-29 00:00:00".into()), None, Some("false".into()), None, None, Some("0.10".into())],
        ]
    );
    // Booleans are 0/1 only in this mapping: 't' is not SQLAlchemy's.
    let src2 = db_from_sql(dir.path(), "sa2.db", "CREATE TABLE f (id INTEGER PRIMARY KEY, b BOOLEAN); INSERT INTO f VALUES (1, 't');");
    let db = server().fresh_db("mapping_bundled_sqlalchemy_bool");
    let out = migrate(&src2, &db, &[Path::new("sqlalchemy")], &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("not a recognised boolean"), "{out}");

    // Epoch milliseconds, by the example file.
    let src = db_from_sql(
        dir.path(),
        "ms.db",
        "CREATE TABLE e (id INTEGER PRIMARY KEY, at DATETIME, day DATE);
         INSERT INTO e VALUES (1, 1700000000123, 1705276800000), (2, -1, NULL), (3, '2024-01-15T10:30:00Z', '2024-01-15');",
    );
    let ex = Path::new(env!("CARGO_MANIFEST_DIR")).join("mappings/examples/epoch-milliseconds.toml");
    let db = server().fresh_db("mapping_bundled_epoch_ms");
    assert_code(&migrate(&src, &db, &[&ex], &[]), 0);
    assert_eq!(
        db.query_strings("SET TimeZone = 'UTC'; SELECT at::text, day::text FROM e ORDER BY id"),
        vec![
            vec![Some("2023-11-14 22:13:20.123+00".into()), Some("2024-01-15".into())],
            vec![Some("1969-12-31 23:59:59.999+00".into()), None],
            vec![Some("2024-01-15 10:30:00+00".into()), Some("2024-01-15".into())],
        ]
    );
}
