//! Loading into a schema that already exists (issue 4): preflight misfits,
//! target-driven conversion, refusing to append, keys set aside and
//! restored exactly, `--keep-keys`, a non-owner role.

use std::path::PathBuf;

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::{server, TestDb, TestServer};
use crate::util::sqlite::db_from_sql;

fn src(sql: &str) -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let p = db_from_sql(dir.path(), "src.db", &format!("PRAGMA foreign_keys = OFF;\n{sql}"));
    (dir, p)
}

fn run(db: &TestDb, src: &std::path::Path, extra: &[&str]) -> crate::util::cmd::Output {
    let state = tempfile::tempdir().unwrap().keep();
    let mut args = vec!["migrate", src.to_str().unwrap(), db.url.as_str(), "--state-dir", state.to_str().unwrap()];
    args.extend_from_slice(extra);
    ferry(&args)
}

fn snapshot(db: &TestDb) -> Vec<Vec<Option<String>>> {
    db.query_strings(
        "SELECT 'c ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'i ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'a ' || table_name || '.' || column_name || ' ' || data_type || ' ' || coalesce(column_default, '') FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY 1",
    )
}

const SOURCE: &str = "
    CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT NOT NULL, created DATETIME, flag BOOLEAN, stamp INTEGER);
    CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER REFERENCES parent(id), note VARCHAR(20), amount NUMERIC(8,2), doc JSON, uid TEXT, mood TEXT);
    INSERT INTO parent VALUES (1, 'a', '2024-01-01 10:00:00.000000', 1, 1700000000), (2, 'b', '2024-06-30T12:00:00Z', 0, 1700000001);
    INSERT INTO child VALUES (1, 1, 'x', 12.5, '{\"b\":1,\"a\":2}', '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11', 'happy'),
                             (2, 2, NULL, 0.1, '[1]', '0b7c7bd53f5c4a4b9b1e2f1e0e6f8a12', 'sad');
";

const TARGET: &str = "
    CREATE TYPE mood AS ENUM ('happy', 'sad');
    CREATE TABLE parent (id SERIAL PRIMARY KEY, name VARCHAR(50) NOT NULL, created TIMESTAMPTZ, flag BOOLEAN NOT NULL, stamp TIMESTAMP);
    CREATE TABLE child (id SERIAL PRIMARY KEY, parent_id INTEGER NOT NULL REFERENCES parent(id), note VARCHAR(20),
                        amount NUMERIC(8,2), doc JSONB, uid UUID, mood mood, extra TEXT DEFAULT 'x');
    CREATE INDEX ix_child_parent ON child (parent_id);
    CREATE UNIQUE INDEX ix_parent_name ON parent (name);
";

#[test]
fn loads_into_existing_schema_with_target_driven_conversion_and_keys_restored() {
    existing_schema_load(server());
}

/// The body of the test above, on any server (`pg_versions.rs` runs it on
/// every PostgreSQL version).
pub fn existing_schema_load(server: &TestServer) {
    let (_d, s) = src(SOURCE);
    let db = server.fresh_db("existing_basic");
    db.query_strings(TARGET);
    let before = snapshot(&db);
    let out = run(&db, &s, &[]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("existing tables"), "{}", out.stderr);
    assert_eq!(snapshot(&db), before, "schema must be unchanged");
    let rows = db.query_strings("SELECT created::text, stamp::text, flag::text FROM parent ORDER BY id");
    assert_eq!(rows[0][0].as_deref(), Some("2024-01-01 10:00:00+00"));
    assert_eq!(rows[0][1].as_deref(), Some("2023-11-14 22:13:20"), "epoch seconds inferred into timestamp");
    assert_eq!(rows[1][0].as_deref(), Some("2024-06-30 12:00:00+00"));
    let c = db.query_strings("SELECT amount::text, doc::text, uid::text, mood::text, extra FROM child ORDER BY id");
    assert_eq!(c[0][0].as_deref(), Some("12.50"));
    assert_eq!(c[0][1].as_deref(), Some(r#"{"a": 2, "b": 1}"#));
    assert_eq!(c[1][2].as_deref(), Some("0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a12"));
    assert_eq!(c[1][3].as_deref(), Some("sad"));
    assert_eq!(c[0][4].as_deref(), Some("x"), "unfilled column takes its default");
    // Sequences are past the loaded keys.
    let id = db.query_scalar_i64("INSERT INTO parent (name, flag) VALUES ('new', true) RETURNING id");
    assert_eq!(id, 3);
}

#[test]
fn refuses_to_append_and_truncates_when_asked() {
    let (_d, s) = src(SOURCE);
    let db = server().fresh_db("existing_not_empty");
    db.query_strings(TARGET);
    db.query_strings("INSERT INTO parent (name, flag) VALUES ('old', true)");
    let out = run(&db, &s, &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("already hold") && out.stderr.contains("\"parent\""), "{}", out.stderr);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM parent"), 1);
    let out = run(&db, &s, &["--truncate"]);
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM parent WHERE name = 'old'"), 0);
}

#[test]
fn preflight_lists_every_misfit() {
    let (_d, s) = src(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, big INTEGER, long TEXT, maybe TEXT, gone TEXT, price REAL);
         INSERT INTO t VALUES (1, 3000000000, 'abcdefghijk', NULL, 'z', 123456.5);",
    );
    let db = server().fresh_db("existing_misfits");
    db.query_strings(
        "CREATE TABLE t (id INTEGER PRIMARY KEY, big INTEGER, long VARCHAR(5), maybe TEXT NOT NULL, price NUMERIC(5,2), required TEXT NOT NULL, pt POINT);",
    );
    let out = run(&db, &s, &["--schema", "existing"]);
    assert_code(&out, 2);
    for needle in [
        "out of range for integer",
        "does not fit varchar(5)",
        "NULL values, but target column \"maybe\" is NOT NULL",
        "no column \"gone\"",
        "needs more than 3 digits",
        "\"required\" is NOT NULL without a default",
    ] {
        assert!(out.stderr.contains(needle), "missing {needle:?} in:\n{}", out.stderr);
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 0);
}

#[test]
fn partial_schema_is_refused_naming_the_tables() {
    let (_d, s) = src(SOURCE);
    let db = server().fresh_db("existing_partial");
    db.query_strings("CREATE TABLE parent (id INTEGER PRIMARY KEY)");
    let out = run(&db, &s, &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("\"parent\"") && out.stderr.contains("\"child\""), "{}", out.stderr);
}

#[test]
fn keep_keys_loads_in_fk_order() {
    let (_d, s) = src(SOURCE);
    let db = server().fresh_db("existing_keep_keys");
    db.query_strings(TARGET);
    let before = snapshot(&db);
    let out = run(&db, &s, &["--keep-keys"]);
    assert_code(&out, 0);
    assert_eq!(snapshot(&db), before);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM child"), 2);
}

#[test]
fn deferrable_cycle_loads_with_keys_kept() {
    let (_d, s) = src(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id));
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));
         INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 1);",
    );
    let db = server().fresh_db("existing_cycle");
    db.query_strings(
        "CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER);
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id) DEFERRABLE INITIALLY DEFERRED);
         ALTER TABLE a ADD FOREIGN KEY (b_id) REFERENCES b(id) DEFERRABLE INITIALLY DEFERRED;",
    );
    let out = run(&db, &s, &["--keep-keys"]);
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM a JOIN b ON a.b_id = b.id"), 1);
}

#[test]
fn non_owner_falls_back_to_keeping_keys() {
    let (_d, s) = src(SOURCE);
    let db = server().fresh_db("existing_non_owner");
    db.query_strings(TARGET);
    db.query_strings(
        "DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'ferry_loader') THEN \
           CREATE ROLE ferry_loader LOGIN PASSWORD 'loader-pw'; END IF; END $$;
         GRANT USAGE ON SCHEMA public TO ferry_loader;
         GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO ferry_loader;
         GRANT USAGE, SELECT, UPDATE ON ALL SEQUENCES IN SCHEMA public TO ferry_loader;",
    );
    let before = snapshot(&db);
    let url = db.url.replacen(
        &format!("ferry:{}@", crate::util::pg::TEST_PASSWORD),
        "ferry_loader:loader-pw@",
        1,
    );
    assert_ne!(url, db.url, "URL rewrite for the second role");
    let state = tempfile::tempdir().unwrap();
    let out = ferry(&["migrate", s.to_str().unwrap(), &url, "--state-dir", state.path().to_str().unwrap()]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("does not own"), "{}", out.stderr);
    assert_eq!(snapshot(&db), before);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM child"), 2);
}

/// Start a load into `db` and SIGKILL it once the keys are set aside
/// (journal written, index dropped) and the load is under way. Returns the
/// key journal's path.
fn kill_after_keys_set_aside(src: &std::path::Path, db: &TestDb, state: &std::path::Path) -> PathBuf {
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["migrate", src.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap(), "-q", "-j", "1"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let t0 = std::time::Instant::now();
    let journal = loop {
        let found = std::fs::read_dir(state).into_iter().flatten().filter_map(Result::ok).find(|e| {
            let n = e.file_name().to_string_lossy().into_owned();
            n.starts_with("keys-") && n.ends_with(".json")
        });
        if let Some(f) = found {
            break f.path();
        }
        assert!(t0.elapsed().as_secs() < 60, "no journal appeared");
        assert!(child.try_wait().unwrap().is_none(), "ferry ended before setting keys aside");
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    // Kill once the keys are really gone (the journal is written first).
    while db.query_scalar_i64("SELECT count(*) FROM pg_indexes WHERE indexname = 'ix_child_parent'") > 0 {
        assert!(t0.elapsed().as_secs() < 60, "the keys were never set aside");
        assert!(child.try_wait().unwrap().is_none(), "ferry ended before it was killed; make the table bigger");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    assert!(journal.exists(), "the run finished before it was killed; make the table bigger");
    journal
}

#[test]
fn keys_set_aside_by_a_killed_run_are_restored_by_the_next() {
    // Big enough that the load takes a while after the keys are set aside.
    let (_d, s) = src(&format!(
        "{SOURCE}
         WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
         INSERT INTO child SELECT i, 1 + i % 2, 'n' || (i % 1000), i % 1000, '[1, 2, 3]', NULL, 'happy' FROM n;"
    ));
    let db = server().fresh_db("existing_killed_restore");
    db.query_strings(TARGET);
    let before = snapshot(&db);
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    let journal = kill_after_keys_set_aside(&s, &db, state.path());
    assert_ne!(snapshot(&db), before, "keys were set aside when the run died");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM child"), 0, "nothing half loaded");
    // The next run restores the keys first, then loads.
    let out = ferry(&["migrate", s.to_str().unwrap(), &db.url, "--state-dir", st, "--truncate"]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("restored"), "{}", out.stderr);
    assert_eq!(snapshot(&db), before);
    assert!(!journal.exists());
}

#[test]
fn restore_keys_command_repairs_without_loading() {
    let (_d, s) = src(&format!(
        "{SOURCE}
         WITH RECURSIVE n(i) AS (SELECT 3 UNION ALL SELECT i + 1 FROM n WHERE i < 400000)
         INSERT INTO child SELECT i, 1, 'n', 1, '[]', NULL, 'sad' FROM n;"
    ));
    let db = server().fresh_db("existing_restore_cmd");
    db.query_strings(TARGET);
    let before = snapshot(&db);
    let state = tempfile::tempdir().unwrap();
    let st = state.path().to_str().unwrap();
    kill_after_keys_set_aside(&s, &db, state.path());
    assert_ne!(snapshot(&db), before, "keys were set aside when the run died");
    let out = ferry(&["restore-keys", &db.url, "--state-dir", st]);
    assert_code(&out, 0);
    assert_eq!(snapshot(&db), before);
}

#[test]
fn keep_keys_loads_a_self_reference_parents_first() {
    // Children before parents in rowid order, and a target FK that is not
    // deferrable: only a parent-first order loads it.
    let (_d, s) = src(
        "CREATE TABLE emp (id INTEGER PRIMARY KEY, boss INTEGER REFERENCES emp(id), name TEXT);
         INSERT INTO emp VALUES (1, 3, 'c'), (2, 1, 'd'), (3, NULL, 'root'), (4, 4, 'self'), (5, 2, 'e');",
    );
    let db = server().fresh_db("existing_self_ref");
    db.query_strings("CREATE TABLE emp (id INTEGER PRIMARY KEY, boss INTEGER REFERENCES emp(id), name TEXT);");
    let out = run(&db, &s, &["--keep-keys"]);
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM emp"), 5);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND NOT condeferrable AND connamespace = 'public'::regnamespace"), 1);
}

#[test]
fn target_driven_conversion_for_each_type_pair() {
    let (dir, s) = src(
        "CREATE TABLE pairs (id INTEGER PRIMARY KEY, d TEXT, ms INTEGER, j TEXT, ub BLOB, ut TEXT, small INTEGER,
                             raw BLOB, tags TEXT, v VARCHAR(10), ts_text TEXT, flag TEXT);
         INSERT INTO pairs VALUES (1, '2024-02-29', 1700000000123, '{\"k\": [1, 2]}', x'0b7c7bd53f5c4a4b9b1e2f1e0e6f8a11',
                                   '0B7C7BD5-3F5C-4A4B-9B1E-2F1E0E6F8A11', 32767, x'00ff', '[\"a\", null, \"b c\"]', 'short',
                                   '2024-01-15T10:30:00+02:00', 'yes');
         INSERT INTO pairs VALUES (2, NULL, NULL, NULL, NULL, NULL, -32768, NULL, '[]', NULL, NULL, 'f');",
    );
    let db = server().fresh_db("existing_type_pairs");
    db.query_strings(
        "CREATE TABLE pairs (id INTEGER PRIMARY KEY, d DATE, ms TIMESTAMPTZ, j JSON, ub UUID, ut UUID, small SMALLINT,
                             raw BYTEA, tags TEXT[], v VARCHAR(10), ts_text TIMESTAMP, flag BOOLEAN);",
    );
    // Without a rule for the array column the preflight says what to do.
    let out = run(&db, &s, &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("input = \"json-array\""), "{}", out.stderr);
    let mapping = dir.path().join("arrays.toml");
    std::fs::write(&mapping, "[tables.pairs.columns.tags]\ninput = \"json-array\"\n").unwrap();
    let out = run(&db, &s, &["--mapping", mapping.to_str().unwrap()]);
    assert_code(&out, 0);
    let r = db.query_strings(
        "SELECT d::text, ms::text, j::text, ub::text, ut::text, small::text, encode(raw, 'hex'), tags::text, v, ts_text::text, flag::text \
         FROM pairs ORDER BY id",
    );
    let want1 = [
        "2024-02-29",
        "2023-11-14 22:13:20.123+00",
        "{\"k\": [1, 2]}",
        "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11",
        "0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11",
        "32767",
        "00ff",
        "{a,NULL,\"b c\"}",
        "short",
        "2024-01-15 08:30:00",
        "true",
    ];
    for (got, want) in r[0].iter().zip(want1) {
        assert_eq!(got.as_deref(), Some(want), "row 1: {:?}", r[0]);
    }
    assert_eq!(r[1][5].as_deref(), Some("-32768"));
    assert_eq!(r[1][7].as_deref(), Some("{}"));
    assert_eq!(r[1][10].as_deref(), Some("false"));
    // A smallint out of range is a misfit before loading.
    let (_d2, s2) = src("CREATE TABLE pairs2 (id INTEGER PRIMARY KEY, small INTEGER); INSERT INTO pairs2 VALUES (1, 40000);");
    let db2 = server().fresh_db("existing_type_pairs_range");
    db2.query_strings("CREATE TABLE pairs2 (id INTEGER PRIMARY KEY, small SMALLINT);");
    let out = run(&db2, &s2, &[]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("out of range for smallint"), "{}", out.stderr);
}
