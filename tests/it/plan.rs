//! `ferry plan` (issue 7): every problem listed with its row, and the target
//! left exactly as it was.

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::{server, TestDb};
use crate::util::sqlite::db_from_sql;

/// Catalog and data of the target, as text, to compare before and after.
fn state(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query_strings(
        "SELECT 'rel ' || c.relname || ' ' || c.relkind::text || ' ' || c.relfilenode FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') \
         UNION ALL SELECT 'con ' || conname || ' ' || pg_get_constraintdef(oid) FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'row ' || t::text FROM t \
         UNION ALL SELECT 'row ' || p::text FROM parent p \
         ORDER BY 1",
    )
}

#[test]
fn plan_lists_every_problem_with_its_row_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "problems.db",
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT);
         CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT, n INTEGER, at DATETIME, parent_id INTEGER REFERENCES parent(id));
         CREATE UNIQUE INDEX ux_parent_code ON parent (code COLLATE NOCASE);
         INSERT INTO parent VALUES (1, 'a'), (2, 'b');
         INSERT INTO t VALUES (1, 'ok', 1, '2024-01-01 00:00:00', 1);
         INSERT INTO t VALUES (7, 'ok', 2, 'not a date', 1);
         INSERT INTO t VALUES (8, NULL, 3, '2024-01-01', 1);
         INSERT INTO t VALUES (9, 'toolong', 4, '2024-01-01', 2);
         INSERT INTO t VALUES (10, 'ok', 3000000000, '2024-01-01', 2);
         INSERT INTO t VALUES (11, 'ok', 5, '2024-01-01', 99);
         INSERT INTO t VALUES (12, 'ok', 5, '2024-01-01', 1);",
    );
    let db = server().fresh_db("plan_problems");
    db.query_strings(
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, code TEXT UNIQUE);
         CREATE TABLE t (id INTEGER PRIMARY KEY, name VARCHAR(5) NOT NULL, n INTEGER UNIQUE, at TIMESTAMP, parent_id INTEGER REFERENCES parent(id));
         INSERT INTO parent VALUES (5, 'keep');",
    );
    // A duplicate that only SQLite's NOCASE hid would be caught by PostgreSQL.
    let dup = db_from_sql(dir.path(), "dup.db", "CREATE TABLE x (id INTEGER PRIMARY KEY, k TEXT UNIQUE); INSERT INTO x VALUES (1, 'a'), (2, 'b');");
    drop(dup);
    let before = state(&db);
    let out = ferry(&["plan", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 1);
    let text = &out.stdout;
    for needle in [
        "rowid 7",                          // bad value
        "not a date",
        "rowid 8",                          // NULL into NOT NULL
        "NULL in a NOT NULL column",
        "rowid 9",                          // too long
        "too long",
        "rowid 10",                         // out of range
        "out of range",
        "(parent_id) = 99",                 // orphan FK
        "points to no row of \"parent\"",
        "holds rows",                       // target not empty
        "values repeat on a key",           // duplicate on the target's UNIQUE (n)
        "(n) = 5 on 2 rows: id=11; id=12", // every row holding the duplicate, by key
    ] {
        assert!(text.contains(needle), "missing {needle:?} in:\n{text}");
    }
    assert_eq!(state(&db), before, "plan must not change the target");
    // JSON form carries the same problems.
    let out = ferry(&["plan", src.to_str().unwrap(), &db.url, "--json"]);
    assert_code(&out, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let kinds: Vec<&str> = v["problems"].as_array().unwrap().iter().map(|p| p["kind"].as_str().unwrap()).collect();
    for k in ["bad_value", "null_in_not_null", "orphan_foreign_key", "duplicate_key"] {
        assert!(kinds.contains(&k), "{k} missing from {kinds:?}");
    }
    assert_eq!(v["would_succeed"], false);
    assert_eq!(state(&db), before);
}

#[test]
fn plan_finds_duplicates_and_passes_a_clean_database() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "dups.db",
        "CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT COLLATE NOCASE UNIQUE);
         INSERT INTO u VALUES (1, 'A@x'), (2, 'b@x');",
    );
    // No duplicates by SQLite's NOCASE rule, and none in bytes: clean.
    let out = ferry(&["plan", src.to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(out.stdout.contains("the real run would succeed"), "{}", out.stdout);
    assert!(out.stdout.contains("CREATE TABLE"), "{}", out.stdout);
    let dup = db_from_sql(
        dir.path(),
        "dups2.db",
        "CREATE TABLE w (a INTEGER, b TEXT, PRIMARY KEY (a, b));
         PRAGMA writable_schema = 0;
         CREATE TABLE k (x INTEGER, y INTEGER);
         CREATE UNIQUE INDEX ux ON k (x) WHERE x > 100;
         INSERT INTO k VALUES (1, 1), (1, 2);",
    );
    let out = ferry(&["plan", dup.to_str().unwrap()]);
    // A partial unique index is not carried over, so no duplicate problem.
    assert_code(&out, 0);
}

#[test]
fn calibrate_measures_the_server_and_leaves_nothing_behind() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "cal.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, s TEXT, at DATETIME);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 20000)
         INSERT INTO t SELECT i, 'row ' || i, '2024-01-01 00:00:00' FROM n;
         CREATE TABLE parent (id INTEGER PRIMARY KEY);",
    );
    let db = server().fresh_db("plan_calibrate");
    let before = db.query_strings(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
    );
    let out = ferry(&["plan", src.to_str().unwrap(), &db.url, "--calibrate", "--calibrate-rows", "5000", "--json"]);
    assert_code(&out, 0);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(v["calibration"]["sample_rows"], 5000, "{}", out.stdout);
    assert!(v["estimated_load_seconds"].as_f64().unwrap() > 0.0);
    let after = db.query_strings(
        "SELECT n.nspname || '.' || c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast') ORDER BY 1",
    );
    assert_eq!(after, before, "the calibration schema is dropped");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM pg_namespace WHERE nspname LIKE 'ferry_calibrate%'"), 0);
}

/// Issue 14, point 3: an orphan foreign key is named by the key of each
/// child row holding it, a duplicate by the key of every row holding the
/// value (at most ten per value, the rest counted); rowid without a key.
#[test]
fn plan_names_orphans_and_duplicates_by_row() {
    let dir = tempfile::tempdir().unwrap();
    let mut sql = String::from(
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (id INTEGER PRIMARY KEY);
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id));
         INSERT INTO parent VALUES (1);
         INSERT INTO child VALUES (10, 1), (11, 999999), (12, 999999), (13, 424242);
         CREATE TABLE person (id INTEGER PRIMARY KEY, email TEXT);
         CREATE TABLE tag (name TEXT);
         INSERT INTO tag VALUES ('x'), ('y'), ('x');",
    );
    for id in 1..=12 {
        sql.push_str(&format!("INSERT INTO person VALUES ({id}, '{}');", if id == 5 { "solo@x" } else { "same@x" }));
    }
    let src = db_from_sql(dir.path(), "rows.db", &sql);
    let db = server().fresh_db("plan_rows_not_values");
    db.client()
        .batch_execute(
            "CREATE TABLE parent (id bigint PRIMARY KEY);
             CREATE TABLE child (id bigint PRIMARY KEY, parent_id bigint REFERENCES parent(id));
             CREATE TABLE person (id bigint PRIMARY KEY, email text UNIQUE);
             CREATE TABLE tag (name text UNIQUE);",
        )
        .unwrap();
    let out = ferry(&["plan", src.to_str().unwrap(), &db.url, "--json"]);
    assert_code(&out, 1);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let problem = |table: &str, kind: &str| {
        v["problems"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["table"] == table && p["kind"] == kind)
            .unwrap_or_else(|| panic!("no {kind} problem on {table}: {}", v["problems"]))
            .clone()
    };
    let orphans = problem("child", "orphan_foreign_key");
    assert_eq!(orphans["count"], 3, "{orphans}");
    assert_eq!(
        orphans["samples"],
        serde_json::json!(["id=11: (parent_id) = 999999", "id=12: (parent_id) = 999999", "id=13: (parent_id) = 424242"])
    );
    let dup = problem("person", "duplicate_key");
    assert_eq!(dup["count"], 1, "one value repeats: {dup}");
    let ids: Vec<String> = (1..=12).filter(|i| *i != 5).take(10).map(|i| format!("id={i}")).collect();
    assert_eq!(
        dup["samples"],
        serde_json::json!([format!("(email) = 'same@x' on 11 rows: {} and 1 more", ids.join("; "))])
    );
    let tags = problem("tag", "duplicate_key");
    assert_eq!(tags["samples"], serde_json::json!(["(name) = 'x' on 2 rows: rowid 1; rowid 3"]));
    // The text report shows the same rows.
    let text = ferry(&["plan", src.to_str().unwrap(), &db.url]);
    assert_code(&text, 1);
    for needle in ["id=11: (parent_id) = 999999", "on 11 rows: id=1; id=2", "rowid 1; rowid 3"] {
        assert!(text.stdout.contains(needle), "missing {needle:?} in:\n{}", text.stdout);
    }
}
