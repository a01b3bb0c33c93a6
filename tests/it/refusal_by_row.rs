//! A refusal lists every problem by row (issue 14, point 1): into an
//! Alembic-style existing schema with nine kinds of bad rows, `migrate`
//! writes nothing and names all nine (table, column, key, value) in one
//! run, on stderr and in `--json`; `plan` names the orphan's child row and
//! every duplicate row by key. In create mode a bad value met only
//! mid-load names every bad row of the tables not committed, and one
//! fix-and-resume cycle finishes the job.

use serde_json::Value;

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

/// The target, as Alembic's first revision would create it from SQLAlchemy
/// models: serial keys, `varchar(n)`, `json`/`jsonb`, `timestamp`, a
/// foreign key, a unique key, and Alembic's own bookkeeping table.
const ALEMBIC_DDL: &str = "
CREATE TABLE alembic_version (version_num varchar(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('4f2a9c1e0b7d');
CREATE TABLE users (
    id serial NOT NULL, username varchar(20) NOT NULL, code varchar(5), age integer,
    created_at timestamp without time zone NOT NULL, profile json,
    CONSTRAINT users_pkey PRIMARY KEY (id), CONSTRAINT uq_users_username UNIQUE (username));
CREATE TABLE posts (
    id serial NOT NULL, user_id integer NOT NULL, title varchar(100) NOT NULL, body text,
    views integer, meta jsonb, published_at timestamp without time zone,
    CONSTRAINT posts_pkey PRIMARY KEY (id),
    CONSTRAINT posts_user_id_fkey FOREIGN KEY (user_id) REFERENCES users (id));
CREATE INDEX ix_posts_user_id ON posts (user_id);
";

/// The application's SQLite file: the same models on SQLite (where nothing
/// checks a type, a length or, with foreign keys off, a reference), one bad
/// row of each kind, each on its own key.
const SOURCE: &str = "
PRAGMA foreign_keys = OFF;
CREATE TABLE alembic_version (version_num VARCHAR(32) NOT NULL, CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num));
INSERT INTO alembic_version VALUES ('4f2a9c1e0b7d');
CREATE TABLE users (
    id INTEGER NOT NULL, username VARCHAR(20) NOT NULL, code VARCHAR(5), age INTEGER,
    created_at DATETIME NOT NULL, profile JSON, PRIMARY KEY (id));
CREATE TABLE posts (
    id INTEGER NOT NULL, user_id INTEGER NOT NULL, title VARCHAR(100) NOT NULL, body TEXT,
    views INTEGER, meta JSON, published_at DATETIME, PRIMARY KEY (id),
    FOREIGN KEY(user_id) REFERENCES users (id));
INSERT INTO users VALUES
    (1, 'alice', 'a1', 30, '2024-01-01 10:00:00', '{\"x\": 1}'),
    (2, 'bob', 'b2', 31, '2024-01-02 10:00:00', NULL),
    (3, 'carol', 'c3', 'thirty', '2024-01-03 10:00:00', NULL),
    (4, 'dave', 'd4', 33, '2024-02-30 10:00:00', NULL),
    (5, 'erin', 'e5', 34, '2024-01-05 10:00:00', NULL),
    (6, 'frank', 'toolong', 35, '2024-01-06 10:00:00', NULL),
    (9, 'alice', 'a9', 39, '2024-01-09 10:00:00', NULL);
INSERT INTO posts VALUES
    (1, 1, 'hello', 'first', 10, '{\"t\": [1]}', '2024-03-01 09:00:00'),
    (2, 1, 'nul', CAST(X'61006220' AS TEXT), 11, NULL, NULL),
    (3, 2, CAST(X'41FF42' AS TEXT), 'bad bytes', 12, NULL, NULL),
    (5, 2, 'big', 'views', 3000000000, NULL, NULL),
    (7, 2, 'json', 'meta', 14, '{not json', NULL),
    (8, 999999, 'orphan', 'nobody wrote it', 15, NULL, NULL);
";

/// The nine bad rows: table, column, the row's key, a piece of the value.
const NINE: [(&str, &str, &str, &str); 9] = [
    ("posts", "body", "id=2", "a\\0b"),
    ("posts", "title", "id=3", "A\u{fffd}B"),
    ("users", "age", "id=3", "thirty"),
    ("users", "created_at", "id=4", "2024-02-30"),
    ("posts", "views", "id=5", "3000000000"),
    ("users", "code", "id=6", "toolong"),
    ("posts", "meta", "id=7", "{not json"),
    ("posts", "user_id", "id=8", "999999"),
    ("users", "username", "id=9", "alice"),
];

/// The sample lines stderr shows under the header of `table`, `column`.
fn stderr_rows<'a>(stderr: &'a str, table: &str, column: &str) -> Vec<&'a str> {
    let header = format!("table {table:?}, column {column:?}");
    let mut out = Vec::new();
    let mut inside = false;
    for line in stderr.lines() {
        let t = line.trim_start();
        if t.starts_with("table ") || t.starts_with("PROBLEM table ") {
            inside = t.contains(&header);
        } else if inside && line.starts_with("      ") {
            out.push(t);
        } else if inside {
            inside = false;
        }
    }
    out
}

/// The samples of the `problems` in a JSON document for `table`, `column`.
fn json_rows(doc: &Value, table: &str, column: &str) -> Vec<String> {
    doc["problems"]
        .as_array()
        .unwrap_or_else(|| panic!("no `problems` array in {doc:#}"))
        .iter()
        .filter(|p| p["table"] == table && p["column"] == column)
        .flat_map(|p| p["samples"].as_array().cloned().unwrap_or_default())
        .filter_map(|s| s.as_str().map(str::to_string))
        .collect()
}

/// One of `rows` names the row by `key` and shows `value`.
fn named(rows: &[impl AsRef<str>], key: &str, value: &str) -> bool {
    rows.iter()
        .any(|r| r.as_ref().contains(key) && r.as_ref().contains(value))
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("stdout is not JSON ({e})\n{out}"))
}

#[test]
fn migrate_into_an_alembic_schema_names_all_nine_bad_rows_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "app.db", SOURCE);
    let db = server().fresh_db("refusal_by_row_alembic");
    db.client().batch_execute(ALEMBIC_DDL).unwrap();
    let state = dir.path().join("state");
    let report = dir.path().join("report.json");
    let html = dir.path().join("report.html");
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "existing",
        "--json",
        "--report",
        report.to_str().unwrap(),
        "--report-html",
        html.to_str().unwrap(),
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_code(&out, 2);
    // Nothing written: every table still empty, Alembic's row untouched.
    for t in ["users", "posts"] {
        assert_eq!(
            db.query_scalar_i64(&format!("SELECT count(*) FROM {t}")),
            0,
            "{t} must stay empty\n{out}"
        );
    }
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM alembic_version"),
        1
    );
    let doc = json(&out);
    let schema: Value =
        serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
    let errors: Vec<String> = jsonschema::validator_for(&schema)
        .unwrap()
        .iter_errors(&doc)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "report does not match docs/report.schema.json: {errors:#?}"
    );
    let file: Value = serde_json::from_str(&std::fs::read_to_string(&report).unwrap()).unwrap();
    for (table, column, key, value) in NINE {
        let rows = stderr_rows(&out.stderr, table, column);
        assert!(
            named(&rows, key, value),
            "stderr must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
        let rows = json_rows(&doc, table, column);
        assert!(
            named(&rows, key, value),
            "--json must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
        let rows = json_rows(&file, table, column);
        assert!(
            named(&rows, key, value),
            "--report must name {table}.{column} {key} {value:?}; rows {rows:?}"
        );
    }
    // The change board's page lists them too.
    let page = std::fs::read_to_string(&html).unwrap();
    for needle in [
        "id=3 (rowid 3): &quot;thirty&quot;",
        "toolong",
        "id=8: (user_id) = 999999",
        "id=1; id=9",
    ] {
        assert!(page.contains(needle), "--report-html must show {needle:?}");
    }
    // The duplicate names both rows, the first one too.
    let dup = stderr_rows(&out.stderr, "users", "username");
    assert!(
        dup.iter().any(|r| r.contains("id=1") && r.contains("id=9")),
        "both duplicate rows by key: {dup:?}\n{out}"
    );
    // And ends with what to do.
    for hint in ["on_bad_value", "ferry plan", "mapping"] {
        assert!(
            out.stderr.contains(hint),
            "the refusal says what to do ({hint}):\n{out}"
        );
    }

    // `plan` with the same flags: the orphan by its child row, every
    // duplicate row by key.
    let plan = ferry(&[
        "plan",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "existing",
        "--json",
    ]);
    assert_code(&plan, 1);
    let doc = json(&plan);
    let orphan = json_rows(&doc, "posts", "user_id");
    assert!(
        orphan
            .iter()
            .any(|r| r.starts_with("id=8") && r.contains("999999")),
        "orphan by child row: {orphan:?}\n{plan}"
    );
    let dup = json_rows(&doc, "users", "username");
    assert!(
        dup.iter()
            .any(|r| r.contains("id=1") && r.contains("id=9") && r.contains("'alice'")),
        "duplicates by row: {dup:?}\n{plan}"
    );
}

/// Create mode: the first tables are clean and commit; `b` holds a NUL
/// byte and `c` a NUL byte and invalid UTF-8, met only while loading (the
/// types are chosen without a pass over the values). The stop names every
/// bad row of the tables not committed, says what stays committed, and
/// one fix plus `--resume` finishes.
#[test]
fn a_bad_value_met_mid_load_in_create_mode_lists_every_bad_row_left() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "app.db",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO a SELECT i, 'row ' || i FROM n;
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO b SELECT i, 'row ' || i FROM n;
         UPDATE b SET v = CAST(X'780079' AS TEXT) WHERE id = 2500;
         CREATE TABLE c (k TEXT PRIMARY KEY, v TEXT, w TEXT);
         INSERT INTO c VALUES ('one', 'fine', 'fine'), ('two', CAST(X'41FF42' AS TEXT), 'fine'), ('three', 'fine', CAST(X'700071' AS TEXT));",
    );
    let db = server().fresh_db("refusal_by_row_create_mid_load");
    let state = dir.path().join("state");
    let args = [
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--state-dir",
        state.to_str().unwrap(),
        "--writers",
        "1",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = ferry(&with_json);
    assert_code(&out, 2);
    let doc = json(&out);
    for (table, column, key, value) in [
        ("b", "v", "id=2500", "x\\0y"),
        ("c", "v", "k='two'", "A\u{fffd}B"),
        ("c", "w", "k='three'", "p\\0q"),
    ] {
        let rows = stderr_rows(&out.stderr, table, column);
        assert!(
            named(&rows, key, value),
            "stderr must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
        let rows = json_rows(&doc, table, column);
        assert!(
            named(&rows, key, value),
            "--json must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
    }
    // What stays: the committed tables are complete, the rest empty.
    let committed: Vec<String> = doc["stopped"]["committed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["table"].as_str().unwrap().to_string())
        .collect();
    for c in &committed {
        assert!(
            !["b", "c"].contains(&c.as_str()),
            "a table with a bad value never commits: {committed:?}"
        );
    }
    for t in ["b", "c"] {
        assert_eq!(
            db.query_scalar_i64(&format!("SELECT count(*) FROM {t}")),
            0,
            "{t} stays empty\n{out}"
        );
    }
    assert!(
        out.stderr.contains("--resume"),
        "the stop gives the command that finishes:\n{out}"
    );

    // One fix, one resume.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch("UPDATE b SET v = 'xy' WHERE id = 2500; UPDATE c SET v = 'AB' WHERE k = 'two'; UPDATE c SET w = 'pq' WHERE k = 'three';")
        .unwrap();
    drop(conn);
    let mut resume = args.to_vec();
    resume.push("--resume");
    let again = ferry(&resume);
    assert_code(&again, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM b"), 3000);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM c"), 3);
}

/// The duplicate check (`pipeline::dry_run::converted_duplicates`) keeps
/// its memory bounded: 600,000 distinct 200-byte keys on a unique index,
/// about 120 MB of keys alone, which a map of every key held in memory
/// (with the value shown and the row's name: over 250 MB here). `plan`'s
/// anonymous memory (`RssAnon`, as in `memory.rs`) stays under 96 MiB.
#[test]
fn the_duplicate_check_of_a_large_table_keeps_memory_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "big.db",
        "CREATE TABLE u (id INTEGER PRIMARY KEY, k TEXT NOT NULL UNIQUE);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
         INSERT INTO u SELECT i, printf('%0200d', i) FROM n;",
    );
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["plan", src.to_str().unwrap(), "--json"])
        .env_remove("DATABASE_URL")
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kb = 0u64;
    let status = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s;
        }
        if let Ok(text) = std::fs::read_to_string(&status_path) {
            let kb = text
                .lines()
                .find_map(|l| l.strip_prefix("RssAnon:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
            peak_kb = peak_kb.max(kb.unwrap_or(0));
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    assert!(
        status.success(),
        "plan finds no problem in distinct keys: {status:?}"
    );
    assert!(peak_kb > 0, "RssAnon was read");
    assert!(
        peak_kb < 96 * 1024,
        "plan's anonymous memory peaked at {} MiB",
        peak_kb / 1024
    );
}

/// Existing mode, no misfit the preflight sees: the load starts, `parent`
/// commits, and `child` stops at a NUL byte. The stop names every bad row
/// of the tables not committed (the NUL, the invalid UTF-8, the orphan), by
/// key, says `parent` stays committed, and one fix plus `--resume` finishes.
#[test]
fn a_bad_value_met_mid_load_in_an_existing_schema_lists_every_bad_row_left() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "app.db",
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (id INTEGER NOT NULL, name VARCHAR(50), PRIMARY KEY (id));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO parent SELECT i, 'p' || i FROM n;
         CREATE TABLE child (id INTEGER NOT NULL, parent_id INTEGER NOT NULL, note TEXT, PRIMARY KEY (id), FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO child VALUES (1, 1, 'fine'), (5, 2, CAST(X'6E00' AS TEXT)), (6, 3, CAST(X'C328' AS TEXT)), (7, 99999, 'orphan');",
    );
    let db = server().fresh_db("refusal_by_row_existing_mid_load");
    db.client()
        .batch_execute(
            "CREATE TABLE parent (id serial PRIMARY KEY, name varchar(50));
             CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent (id), note text);",
        )
        .unwrap();
    let state = dir.path().join("state");
    let args = [
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "existing",
        "--state-dir",
        state.to_str().unwrap(),
        "--writers",
        "1",
    ];
    let mut with_json = args.to_vec();
    with_json.push("--json");
    let out = ferry(&with_json);
    assert_code(&out, 2);
    let doc = json(&out);
    for (column, key, value) in [
        ("note", "id=5", "n\\0"),
        ("note", "id=6", "\u{fffd}("),
        ("parent_id", "id=7", "99999"),
    ] {
        let rows = stderr_rows(&out.stderr, "child", column);
        assert!(
            named(&rows, key, value),
            "stderr must name child.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
        let rows = json_rows(&doc, "child", column);
        assert!(
            named(&rows, key, value),
            "--json must name child.{column} {key} {value:?}; rows {rows:?}\n{out}"
        );
    }
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM parent"),
        3000,
        "parent committed\n{out}"
    );
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM child"),
        0,
        "child empty\n{out}"
    );
    assert!(
        out.stderr
            .contains("committed, complete: \"parent\" (3000 rows)")
            && out.stderr.contains("--resume"),
        "{out}"
    );

    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch("UPDATE child SET note = 'n' WHERE id = 5; UPDATE child SET note = 'c' WHERE id = 6; UPDATE child SET parent_id = 1 WHERE id = 7;")
        .unwrap();
    drop(conn);
    let mut resume = args.to_vec();
    resume.push("--resume");
    let again = ferry(&resume);
    assert_code(&again, 0);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM child"), 4);
}

/// Create mode refused before anything is created (a table exists): the
/// refusal lists the data's problems too, as `plan` with a target does.
#[test]
fn a_create_mode_refusal_lists_the_data_problems_too() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "app.db",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'ok'), (4, CAST(X'7A0000' AS TEXT));
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO b VALUES (1, 'ok');",
    );
    let db = server().fresh_db("refusal_by_row_create_refused");
    db.client()
        .batch_execute("CREATE TABLE b (id integer)")
        .unwrap();
    let state = dir.path().join("state");
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "create",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("create mode never overwrites"), "{out}");
    let rows = stderr_rows(&out.stderr, "a", "v");
    assert!(
        named(&rows, "id=4", "z\\0\\0"),
        "the NUL row of a: {rows:?}\n{out}"
    );
    assert_eq!(
        db.query_scalar_i64(
            "SELECT count(*) FROM pg_tables WHERE schemaname = 'public' AND tablename = 'a'"
        ),
        0,
        "{out}"
    );
}
