//! `ferry migrate` end to end against a real PostgreSQL (issue 2): the
//! FlashCase fixture, every default type read back, identifier quoting, FK
//! order with a self-reference and a cycle, and corpus files.

use std::path::Path;

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::server;
use crate::util::sqlite::{corpus_copy, db_from_sql};

fn fixture() -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flashcase.db")
}

fn sqlite_count(path: &Path, table: &str) -> i64 {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    c.query_row(&format!("SELECT count(*) FROM \"{}\"", table.replace('"', "\"\"")), [], |r| r.get(0)).unwrap()
}

fn sqlite_tables(path: &Path) -> Vec<String> {
    let c = rusqlite::Connection::open_with_flags(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY).unwrap();
    let mut s = c
        .prepare("SELECT name FROM sqlite_schema WHERE type='table' AND name NOT LIKE 'sqlite_%' ORDER BY 1")
        .unwrap();
    s.query_map([], |r| r.get(0)).unwrap().map(Result::unwrap).collect()
}

#[test]
fn flashcase_fixture_end_to_end() {
    let db = server().fresh_db("migrate_flashcase");
    let src = fixture();
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    for t in ["user", "deck", "card", "deckmetadata", "studylog", "userdeck"] {
        let pg = db.query_scalar_i64(&format!("SELECT count(*) FROM \"{t}\""));
        assert_eq!(pg, sqlite_count(&src, t), "count of {t}");
        assert!(pg > 0, "{t} is empty");
    }
    let types = db.query_strings(
        "SELECT column_name::text, data_type::text FROM information_schema.columns \
         WHERE table_name = 'user' ORDER BY ordinal_position",
    );
    let ty = |c: &str| types.iter().find(|r| r[0].as_deref() == Some(c)).and_then(|r| r[1].clone()).unwrap();
    assert_eq!(ty("is_active"), "boolean");
    assert_eq!(ty("created_at"), "timestamp without time zone");
    assert_eq!(ty("id"), "bigint");
    // Keys and sequences: a row inserted without an id gets a fresh one.
    let next = db.query_scalar_i64("INSERT INTO \"user\" (email, username, hashed_password, is_active, created_at, updated_at) VALUES ('new@x', 'new', 'h', true, now(), now()) RETURNING id");
    assert!(next > db.query_scalar_i64("SELECT max(id) FROM \"user\" WHERE email <> 'new@x'"));
    let fks = db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated");
    assert!(fks >= 5, "expected the FlashCase foreign keys, found {fks}");
    // The summary goes to stderr, nothing but results on stdout.
    assert!(out.stderr.contains("studylog"), "{}", out.stderr);
    assert!(out.stdout.is_empty(), "stdout: {}", out.stdout);
}

#[test]
fn default_types_read_back_exactly() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "types.db",
        r#"
        CREATE TABLE t (
            id INTEGER PRIMARY KEY,
            i INTEGER, r REAL, s TEXT, v VARCHAR(5), b BLOB,
            n NUMERIC(10,2), d DECIMAL(20,6), flag BOOLEAN, ts DATETIME, dt DATE,
            j JSON, u UUID, untyped
        );
        INSERT INTO t VALUES (1, 9223372036854775807, 0.30000000000000004, 'héllo "q" ''s'' 😀', 'abcde', x'00ff10',
            0.99, '12345678901234.123456', 1, '2024-01-15 10:30:00.123456', '2024-02-29',
            '{"b": 1, "a": [1, 2.50]}', '0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11', x'cafe');
        INSERT INTO t VALUES (2, -9223372036854775808, 5e-324, '', NULL, x'', -5, '-0.000001', 0, '2024-01-15T10:30:00Z', '1970-01-01',
            '[]', '0B7C7BD53F5C4A4B9B1E2F1E0E6F8A11', NULL);
        INSERT INTO t VALUES (3, 0, 1e308, 'line
break', 'x', NULL, NULL, NULL, NULL, '2024-01-15T12:30:00+02:00', NULL, 'null', NULL, NULL);
        "#,
    );
    let db = server().fresh_db("migrate_types");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    let rows = db.query_strings(
        "SELECT id::text, i::text, float8send(r)::text, s, v, encode(b, 'hex'), n::text, d::text, flag::text, \
         ts::text, dt::text, j::text, u::text, encode(untyped, 'hex') FROM t ORDER BY id",
    );
    let r1 = &rows[0];
    assert_eq!(r1[1].as_deref(), Some("9223372036854775807"));
    assert_eq!(r1[2].as_deref(), Some(format!("\\x{:016x}", 0.30000000000000004f64.to_bits()).as_str()));
    assert_eq!(r1[3].as_deref(), Some("héllo \"q\" 's' 😀"));
    assert_eq!(r1[4].as_deref(), Some("abcde"));
    assert_eq!(r1[5].as_deref(), Some("00ff10"));
    assert_eq!(r1[6].as_deref(), Some("0.99"));
    // SQLite's NUMERIC affinity stored this text as a REAL (it keeps 15
    // significant digits): the double 12345678901234.123046875, whose exact
    // value ferry carries, rounded to the scale (mappings/README.md).
    assert_eq!(r1[7].as_deref(), Some("12345678901234.123047"));
    assert_eq!(r1[8].as_deref(), Some("true"));
    assert_eq!(r1[9].as_deref(), Some("2024-01-15 10:30:00.123456"));
    assert_eq!(r1[10].as_deref(), Some("2024-02-29"));
    assert_eq!(r1[11].as_deref(), Some(r#"{"a": [1, 2.50], "b": 1}"#));
    assert_eq!(r1[12].as_deref(), Some("0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"));
    assert_eq!(r1[13].as_deref(), Some("cafe"));
    let r2 = &rows[1];
    assert_eq!(r2[1].as_deref(), Some("-9223372036854775808"));
    assert_eq!(r2[2].as_deref(), Some(format!("\\x{:016x}", 5e-324f64.to_bits()).as_str()), "subnormal kept bit-exact");
    assert_eq!(r2[3].as_deref(), Some(""), "empty string is not NULL");
    assert_eq!(r2[4], None);
    assert_eq!(r2[5].as_deref(), Some(""));
    assert_eq!(r2[6].as_deref(), Some("-5.00"));
    assert_eq!(r2[7].as_deref(), Some("-0.000001"));
    assert_eq!(r2[8].as_deref(), Some("false"));
    assert_eq!(r2[9].as_deref(), Some("2024-01-15 10:30:00"));
    assert_eq!(r2[12].as_deref(), Some("0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11"));
    let r3 = &rows[2];
    assert_eq!(r3[3].as_deref(), Some("line\nbreak"));
    assert_eq!(r3[9].as_deref(), Some("2024-01-15 10:30:00"), "offsets are converted to UTC");
    assert_eq!(r3[11].as_deref(), Some("null"));
}

#[test]
fn bad_value_stops_before_the_table_commits() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "bad.db",
        "CREATE TABLE good (id INTEGER PRIMARY KEY, x TEXT);
         INSERT INTO good VALUES (1, 'a');
         CREATE TABLE events (id INTEGER PRIMARY KEY, at DATETIME NOT NULL);
         INSERT INTO events VALUES (1, '2024-01-01 00:00:00');
         INSERT INTO events VALUES (42, '2024-13-45 99:00:00');",
    );
    let db = server().fresh_db("migrate_bad_value");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 2);
    for needle in ["events", "\"at\"", "rowid 42", "2024-13-45 99:00:00"] {
        assert!(out.stderr.contains(needle), "missing {needle:?} in: {}", out.stderr);
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM events"), 0, "no half-loaded table");
}

#[test]
fn identifiers_are_kept_and_quoted() {
    let dir = tempfile::tempdir().unwrap();
    let long_a = format!("{}_alpha", "c".repeat(70));
    let long_b = format!("{}_beta", "c".repeat(70));
    let src = db_from_sql(
        dir.path(),
        "names.db",
        &format!(
            r#"CREATE TABLE "user" ("order" INTEGER PRIMARY KEY, "Group" TEXT);
            CREATE TABLE "Album" ("AlbumId" INTEGER PRIMARY KEY, "Title" TEXT);
            CREATE TABLE "order items" ("a""b" TEXT, "x; DROP TABLE y; --" INTEGER);
            CREATE TABLE "long" ("{long_a}" INTEGER, "{long_b}" INTEGER);
            INSERT INTO "user" VALUES (1, 'g');
            INSERT INTO "Album" VALUES (1, 'T');
            INSERT INTO "order items" VALUES ('q', 2);
            INSERT INTO "long" VALUES (1, 2);"#
        ),
    );
    let db = server().fresh_db("migrate_identifiers");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64(r#"SELECT "order" FROM "user""#), 1);
    assert_eq!(db.query_scalar_i64(r#"SELECT count("Title") FROM "Album""#), 1);
    assert_eq!(db.query_scalar_i64(r#"SELECT "x; DROP TABLE y; --" FROM "order items" WHERE "a""b" = 'q'"#), 2);
    let cols = db.query_strings(
        "SELECT column_name::text FROM information_schema.columns WHERE table_name = 'long' ORDER BY ordinal_position",
    );
    assert_eq!(cols.len(), 2);
    assert_ne!(cols[0][0], cols[1][0], "long names must not collide");
    assert!(cols.iter().all(|c| c[0].as_ref().unwrap().len() <= 63));
}

#[test]
fn fk_order_self_reference_and_cycle() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "fk.db",
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE emp (id INTEGER PRIMARY KEY, boss INTEGER REFERENCES emp(id));
         CREATE TABLE a (id INTEGER PRIMARY KEY, b_id INTEGER REFERENCES b(id));
         CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER REFERENCES a(id));
         CREATE TABLE child (id INTEGER PRIMARY KEY, emp_id INTEGER NOT NULL REFERENCES emp(id));
         INSERT INTO emp VALUES (2, 1), (1, NULL), (3, 2);
         INSERT INTO a VALUES (1, 1); INSERT INTO b VALUES (1, 1);
         INSERT INTO child VALUES (1, 3);",
    );
    let db = server().fresh_db("migrate_fk");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM emp"), 3);
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE contype = 'f' AND convalidated"),
        4,
        "all four FKs created and valid"
    );
}

fn migrate_corpus_file(rel: &str, dbname: &str) -> (std::path::PathBuf, crate::util::pg::TestDb) {
    let dir = tempfile::tempdir().unwrap().keep();
    let src = corpus_copy(rel, &dir);
    let db = server().fresh_db(dbname);
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url]);
    assert_code(&out, 0);
    (src, db)
}

fn assert_counts_equal(src: &Path, db: &crate::util::pg::TestDb, skip: &[&str]) {
    for t in sqlite_tables(src) {
        if skip.contains(&t.as_str()) {
            continue;
        }
        let pg = db.query_scalar_i64(&format!("SELECT count(*) FROM \"{}\"", t.replace('"', "\"\"")));
        assert_eq!(pg, sqlite_count(src, &t), "count of {t}");
    }
}

#[test]
fn corpus_chinook_keeps_mixed_case_names_and_counts() {
    let (src, db) = migrate_corpus_file("chinook/Chinook_Sqlite.sqlite", "migrate_chinook");
    assert_counts_equal(&src, &db, &[]);
    assert_eq!(db.query_scalar_i64(r#"SELECT count(*) FROM "PlaylistTrack""#), 8715);
    // NUMERIC(10,2) stored as REAL comes out exact.
    assert!(db.query_scalar_i64(r#"SELECT count(*) FROM "Track" WHERE "UnitPrice" = 0.99"#) > 0);
}

#[test]
fn corpus_pgloader_sqlite_db() {
    let (src, db) = migrate_corpus_file("pgloader/sqlite.db", "migrate_pgloader_sqlite");
    assert_counts_equal(&src, &db, &[]);
}

#[test]
fn corpus_norowid() {
    let (src, db) = migrate_corpus_file("duckdb-sqlite/norowid.db", "migrate_norowid");
    assert_counts_equal(&src, &db, &[]);
}

/// Create mode plans without reading the rows first; a value the declared
/// type cannot hold stops the load, the run profiles the source, widens
/// that column and loads what did not commit, and says so. Tables whose
/// values all fit keep their declared types; a NULL in a nullable primary
/// key (no profile needed for it) leaves the key out; every table verifies.
#[test]
fn widening_found_by_the_load_replans_from_the_data() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "widen.db",
        "CREATE TABLE clean (id INTEGER PRIMARY KEY, n INTEGER, at DATETIME);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
         INSERT INTO clean SELECT i, i * 2, '2024-01-15 10:30:00.000000' FROM c;
         CREATE TABLE mixed (id INTEGER PRIMARY KEY, n INTEGER, r REAL, b TEXT);
         WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 5000)
         INSERT INTO mixed SELECT i, i, i + 0.5, 'text ' || i FROM c;
         UPDATE mixed SET n = 'not a number' WHERE id = 4321;
         UPDATE mixed SET b = x'00ff' WHERE id = 17;
         CREATE TABLE keyed (code TEXT PRIMARY KEY, v INTEGER);
         INSERT INTO keyed VALUES ('a', 1), (NULL, 2);",
    );
    let db = server().fresh_db("migrate_widen_by_load");
    let state = dir.path().join("state");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap(), "--json"]);
    assert_code(&out, 0);
    let json: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let notes = json["notes"].to_string();
    assert!(notes.contains("planned again from a profile"), "the load found the misfit: {notes}");
    assert!(notes.contains("mixed"), "{notes}");
    let ty = |t: &str, c: &str| {
        db.query_strings(&format!(
            "SELECT data_type::text FROM information_schema.columns WHERE table_name = '{t}' AND column_name = '{c}'"
        ))[0][0]
            .clone()
            .unwrap()
    };
    assert_eq!(ty("clean", "n"), "bigint");
    assert_eq!(ty("clean", "at"), "timestamp without time zone");
    assert_eq!(ty("mixed", "n"), "text", "text in an INTEGER column widens it");
    assert_eq!(ty("mixed", "r"), "double precision");
    assert_eq!(ty("mixed", "b"), "bytea", "a blob in a TEXT column widens it");
    assert_eq!(db.query_strings("SELECT n FROM mixed WHERE id = 4321")[0][0].as_deref(), Some("not a number"));
    assert_eq!(db.query_strings("SELECT n FROM mixed WHERE id = 4320")[0][0].as_deref(), Some("4320"));
    for (t, n) in [("clean", 5000), ("mixed", 5000), ("keyed", 2)] {
        assert_eq!(db.query_scalar_i64(&format!("SELECT count(*) FROM {t}")), n, "rows of {t}");
    }
    let pk = db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE conrelid = 'keyed'::regclass AND contype = 'p'");
    assert_eq!(pk, 0, "a key column holding NULL is not a primary key");
    assert!(json["tables"].as_array().unwrap().iter().all(|t| t["status"] == "equal"), "{}", out.stdout);
    // The next run finds nothing to do differently: `verify` agrees.
    let v = ferry(&["verify", src.to_str().unwrap(), &db.url]);
    assert_code(&v, 0);
}
