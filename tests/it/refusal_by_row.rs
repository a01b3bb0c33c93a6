//! A refusal lists every problem by row (issue 14, point 1): into an
//! Alembic-style existing schema with nine kinds of bad rows, `migrate`
//! writes nothing and names all nine (table, column, key, value) in one
//! run, on stderr and in `--json`; `plan` names the orphan's child row and
//! every duplicate row by key. In create mode a bad value met only
//! mid-load names every bad row of the tables not committed, and one
//! fix-and-resume cycle finishes the job.

use serde_json::Value;

use crate::util::case::Case;
use crate::util::cmd::{Output, assert_code, ferry};

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

/// Both stderr and the `--json` document `doc` of `out` name the row by
/// `key` under `table`, `column`, showing `value`.
fn assert_named(out: &Output, doc: &Value, table: &str, column: &str, key: &str, value: &str) {
    let rows = stderr_rows(&out.stderr, table, column);
    assert!(
        named(&rows, key, value),
        "stderr must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
    );
    let rows = json_rows(doc, table, column);
    assert!(
        named(&rows, key, value),
        "--json must name {table}.{column} {key} {value:?}; rows {rows:?}\n{out}"
    );
}

/// `ferry plan SRC URL --schema existing --json`, which finds problems
/// (exit code 1), and its JSON document.
fn plan_existing(case: &Case) -> (Output, Value) {
    let plan = ferry(&[
        "plan",
        case.src_arg(),
        &case.db.url,
        "--schema",
        "existing",
        "--json",
    ]);
    assert_code(&plan, 1);
    let doc = json(&plan);
    (plan, doc)
}

/// Runs `fix` on the source, then `migrate` with the stopped run's state
/// directory and `args` plus `--resume`, which finishes.
fn fix_and_resume(case: &Case, fix: &str, args: &[&str]) {
    let conn = rusqlite::Connection::open(&case.src).unwrap();
    conn.execute_batch(fix).unwrap();
    drop(conn);
    let mut resume = args.to_vec();
    resume.push("--resume");
    assert_code(&case.migrate_in("state", &resume), 0);
}

#[test]
fn migrate_into_an_alembic_schema_names_all_nine_bad_rows_and_writes_nothing() {
    let case = Case::new("refusal_by_row_alembic", SOURCE).with_target(ALEMBIC_DDL);
    let db = &case.db;
    let report = case.state("report.json");
    let html = case.state("report.html");
    let out = case.migrate_in(
        "state",
        &[
            "--schema",
            "existing",
            "--json",
            "--report",
            report.to_str().unwrap(),
            "--report-html",
            html.to_str().unwrap(),
        ],
    );
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
        assert_named(&out, &doc, table, column, key, value);
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
    let (plan, doc) = plan_existing(&case);
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
    let case = Case::new(
        "refusal_by_row_create_mid_load",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 5000) INSERT INTO a SELECT i, 'row ' || i FROM n;
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO b SELECT i, 'row ' || i FROM n;
         UPDATE b SET v = CAST(X'780079' AS TEXT) WHERE id = 2500;
         CREATE TABLE c (k TEXT PRIMARY KEY, v TEXT, w TEXT);
         INSERT INTO c VALUES ('one', 'fine', 'fine'), ('two', CAST(X'41FF42' AS TEXT), 'fine'), ('three', 'fine', CAST(X'700071' AS TEXT));",
    );
    let db = &case.db;
    let args = ["--writers", "1"];
    let out = case.migrate_in("state", &["--writers", "1", "--json"]);
    assert_code(&out, 2);
    let doc = json(&out);
    for (table, column, key, value) in [
        ("b", "v", "id=2500", "x\\0y"),
        ("c", "v", "k='two'", "A\u{fffd}B"),
        ("c", "w", "k='three'", "p\\0q"),
    ] {
        assert_named(&out, &doc, table, column, key, value);
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
    fix_and_resume(
        &case,
        "UPDATE b SET v = 'xy' WHERE id = 2500; UPDATE c SET v = 'AB' WHERE k = 'two'; UPDATE c SET w = 'pq' WHERE k = 'three';",
        &args,
    );
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
    let src = crate::util::sqlite::db_from_sql(
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
    let case = Case::new(
        "refusal_by_row_existing_mid_load",
        "PRAGMA foreign_keys = OFF;
         CREATE TABLE parent (id INTEGER NOT NULL, name VARCHAR(50), PRIMARY KEY (id));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO parent SELECT i, 'p' || i FROM n;
         CREATE TABLE child (id INTEGER NOT NULL, parent_id INTEGER NOT NULL, note TEXT, PRIMARY KEY (id), FOREIGN KEY (parent_id) REFERENCES parent (id));
         INSERT INTO child VALUES (1, 1, 'fine'), (5, 2, CAST(X'6E00' AS TEXT)), (6, 3, CAST(X'C328' AS TEXT)), (7, 99999, 'orphan');",
    )
    .with_target(
        "CREATE TABLE parent (id serial PRIMARY KEY, name varchar(50));
         CREATE TABLE child (id serial PRIMARY KEY, parent_id integer NOT NULL REFERENCES parent (id), note text);",
    );
    let db = &case.db;
    let args = ["--schema", "existing", "--writers", "1"];
    let out = case.migrate_in(
        "state",
        &["--schema", "existing", "--writers", "1", "--json"],
    );
    assert_code(&out, 2);
    let doc = json(&out);
    for (column, key, value) in [
        ("note", "id=5", "n\\0"),
        ("note", "id=6", "\u{fffd}("),
        ("parent_id", "id=7", "99999"),
    ] {
        assert_named(&out, &doc, "child", column, key, value);
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

    fix_and_resume(
        &case,
        "UPDATE child SET note = 'n' WHERE id = 5; UPDATE child SET note = 'c' WHERE id = 6; UPDATE child SET parent_id = 1 WHERE id = 7;",
        &args,
    );
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM child"), 4);
}

/// Create mode refused before anything is created (a table exists): the
/// refusal lists the data's problems too, as `plan` with a target does.
#[test]
fn a_create_mode_refusal_lists_the_data_problems_too() {
    let case = Case::new(
        "refusal_by_row_create_refused",
        "CREATE TABLE a (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO a VALUES (1, 'ok'), (4, CAST(X'7A0000' AS TEXT));
         CREATE TABLE b (id INTEGER PRIMARY KEY, v TEXT); INSERT INTO b VALUES (1, 'ok');",
    )
    .with_target("CREATE TABLE b (id integer)");
    let db = &case.db;
    let out = case.migrate_in("state", &["--schema", "create"]);
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

/// The SQLite file declares no foreign key, the target does: `plan` and a
/// refusal find the orphan on the target's key (it is what PostgreSQL will
/// validate), by the child row's key.
#[test]
fn an_orphan_on_a_key_only_the_target_declares_is_named_by_row() {
    let case = Case::new(
        "refusal_by_row_target_fk",
        "CREATE TABLE parent (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO parent VALUES (1, 'p');
         CREATE TABLE child (id INTEGER PRIMARY KEY, parent_id INTEGER, n INTEGER);
         INSERT INTO child VALUES (1, 1, 5), (3, 77, 6), (4, 1, 'many');",
    )
    .with_target(
        "CREATE TABLE parent (id serial PRIMARY KEY, name text);
         CREATE TABLE child (id serial PRIMARY KEY, parent_id integer REFERENCES parent (id), n integer);",
    );
    let out = case.migrate_in("state", &["--schema", "existing"]);
    assert_code(&out, 2);
    let rows = stderr_rows(&out.stderr, "child", "parent_id");
    assert!(
        named(&rows, "id=3", "77"),
        "the orphan by its row: {rows:?}\n{out}"
    );
    assert!(
        named(&stderr_rows(&out.stderr, "child", "n"), "id=4", "many"),
        "{out}"
    );
    let (plan, doc) = plan_existing(&case);
    let rows = json_rows(&doc, "child", "parent_id");
    assert!(
        rows.iter()
            .any(|r| r.starts_with("id=3") && r.contains("77")),
        "plan names the orphan: {rows:?}\n{plan}"
    );
}

/// Into an existing schema a unique constraint stays in place during the
/// load (only foreign keys and indexes are set aside), so a duplicate stops
/// the load at the server (SQLSTATE 23505), not at ferry's converter: that
/// stop lists every problem too, the duplicate by both rows' keys.
#[test]
fn a_duplicate_refused_by_the_server_mid_load_lists_every_problem() {
    let case = Case::new(
        "refusal_by_row_server_duplicate",
        "CREATE TABLE parent (id INTEGER NOT NULL, name VARCHAR(50), PRIMARY KEY (id));
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000) INSERT INTO parent SELECT i, 'p' || i FROM n;
         UPDATE parent SET name = 'p1' WHERE id = 3000;
         CREATE TABLE child (id INTEGER NOT NULL, note TEXT, PRIMARY KEY (id));
         INSERT INTO child VALUES (1, 'fine'), (5, CAST(X'6E00' AS TEXT));",
    )
    .with_target(
        "CREATE TABLE parent (id serial PRIMARY KEY, name varchar(50) UNIQUE);
         CREATE TABLE child (id serial PRIMARY KEY, note text);",
    );
    let db = &case.db;
    let out = case.migrate_in("state", &["--schema", "existing", "--writers", "1"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("SQLSTATE 23505"),
        "the server refused the duplicate:\n{out}"
    );
    let dup = stderr_rows(&out.stderr, "parent", "name");
    assert!(
        dup.iter()
            .any(|r| r.contains("id=1; id=3000") && r.contains("'p1'")),
        "the duplicate by both rows: {dup:?}\n{out}"
    );
    assert!(
        named(&stderr_rows(&out.stderr, "child", "note"), "id=5", "n\\0"),
        "{out}"
    );
    assert_eq!(
        db.query_scalar_i64("SELECT count(*) FROM parent"),
        0,
        "{out}"
    );
}
