//! `ferry sync` (issue 16): after `migrate`, the source changes in every
//! table (parents and children, a self-reference, a composite key, a text
//! key without rowid, a table without a primary key); `sync` brings the
//! target to the source's state, checked by reading both sides back with
//! plain SQL (not ferry's verify). A sync with nothing to do writes
//! nothing (every row keeps its `ctid` and `xmin`); `--dry-run` writes
//! nothing and announces exactly the counts the real sync then reports; an
//! error after some tables were written leaves the target exactly as
//! before (one transaction); a target that does not fit is refused.

use std::path::Path;

use serde_json::Value;

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::{db_from_sql, text_rows};

const SCHEMA_SQL: &str = r#"
CREATE TABLE authors (id INTEGER PRIMARY KEY AUTOINCREMENT, name TEXT NOT NULL, born DATE);
CREATE TABLE books (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES authors(id), title TEXT);
CREATE TABLE staff (id INTEGER PRIMARY KEY, boss_id INTEGER REFERENCES staff(id), name TEXT);
CREATE TABLE book_tags (book_id INTEGER NOT NULL REFERENCES books(id), tag TEXT NOT NULL, weight REAL, PRIMARY KEY (book_id, tag));
CREATE TABLE codes (code TEXT PRIMARY KEY, v INTEGER) WITHOUT ROWID;
CREATE TABLE log (at TEXT, msg TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 300)
INSERT INTO authors SELECT i, 'author ' || i, date('2000-01-01', '+' || i || ' days') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO books SELECT i, 1 + i % 300, 'book ' || i FROM c;
INSERT INTO staff VALUES (1, NULL, 'chief');
WITH RECURSIVE c(i) AS (SELECT 2 UNION ALL SELECT i + 1 FROM c WHERE i < 500)
INSERT INTO staff SELECT i, i / 2, 'member ' || i FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 2000)
INSERT INTO book_tags SELECT i, 'tag' || (i % 7), i * 0.25 FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 1000)
INSERT INTO codes SELECT 'code-' || i, i FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 200)
INSERT INTO log SELECT '2024-01-01 00:00:' || (i % 60), 'line ' || i FROM c;
"#;

/// Updates, inserts and deletes in every table, scattered over the keys.
const CHANGES_SQL: &str = r#"
UPDATE authors SET name = name || ' (renamed)' WHERE id % 50 = 0;
INSERT INTO authors (id, name, born) VALUES (301, 'new author 301', '2024-02-29'), (302, 'new author 302', NULL);
DELETE FROM book_tags WHERE book_id IN (SELECT id FROM books WHERE author_id = 7);
DELETE FROM books WHERE author_id = 7;
DELETE FROM authors WHERE id = 7;
UPDATE books SET title = title || ' 2nd ed.' WHERE id % 100 = 3;
UPDATE books SET author_id = 301 WHERE id % 500 = 11;
INSERT INTO books VALUES (3001, 302, 'book of a new author'), (3002, 301, 'another');
INSERT INTO staff VALUES (501, NULL, 'new chief'), (502, 501, 'reports to the new chief'), (503, 502, 'and one below');
UPDATE staff SET boss_id = 501 WHERE id IN (2, 3);
DELETE FROM staff WHERE id IN (499, 500);
UPDATE book_tags SET weight = -1 WHERE book_id % 97 = 0;
INSERT INTO book_tags VALUES (3001, 'fresh', 1.5), (3002, 'fresh', 2.5), (1, 'extra', NULL);
DELETE FROM book_tags WHERE book_id % 113 = 1;
UPDATE codes SET v = -v WHERE v % 90 = 0;
INSERT INTO codes VALUES ('code-new', 1), ('Code-1', 2);
DELETE FROM codes WHERE code IN ('code-17', 'code-999');
INSERT INTO log VALUES ('2024-06-01 00:00:00', 'appended');
DELETE FROM log WHERE msg = 'line 5';
UPDATE log SET msg = 'changed' WHERE msg = 'line 9';
"#;

/// Each table's rows as text, in one order, the same on both sides.
const TABLES: &[(&str, &str)] = &[
    ("authors", "SELECT id, name, born FROM authors ORDER BY id"),
    (
        "books",
        "SELECT id, author_id, title FROM books ORDER BY id",
    ),
    ("staff", "SELECT id, boss_id, name FROM staff ORDER BY id"),
    (
        "book_tags",
        "SELECT book_id, tag, weight FROM book_tags ORDER BY book_id, tag",
    ),
    ("codes", "SELECT code, v FROM codes ORDER BY code"),
    ("log", "SELECT at, msg FROM log ORDER BY at, msg"),
];

type Rows = Vec<Vec<Option<String>>>;


/// The target's rows with the same query, as PostgreSQL prints them (text
/// in C collation order, so that the order is SQLite's BINARY one).
fn pg_rows(db: &TestDb, sql: &str) -> Rows {
    let sql = sql
        .replace("ORDER BY code", "ORDER BY code COLLATE \"C\"")
        .replace(
            "ORDER BY at, msg",
            "ORDER BY at COLLATE \"C\", msg COLLATE \"C\"",
        )
        .replace(
            "ORDER BY book_id, tag",
            "ORDER BY book_id, tag COLLATE \"C\"",
        );
    let messages = db.client().simple_query(&sql).expect("query target");
    messages
        .iter()
        .filter_map(|m| match m {
            postgres::SimpleQueryMessage::Row(r) => {
                Some((0..r.len()).map(|i| r.get(i).map(str::to_string)).collect())
            }
            _ => None,
        })
        .collect()
}

/// Every table equal on both sides, by plain SQL on each.
fn assert_equal(src: &Path, db: &TestDb) {
    for (table, sql) in TABLES {
        let (s, t) = (text_rows(src, sql), pg_rows(db, sql));
        assert_eq!(s.len(), t.len(), "table {table}: row counts differ");
        for (a, b) in s.iter().zip(&t) {
            assert_eq!(a, b, "table {table}: first differing row");
        }
    }
}

/// Every row's physical version: unchanged means not written.
fn versions(db: &TestDb) -> Rows {
    let mut out = Vec::new();
    for (table, _) in TABLES {
        out.extend(db.query_strings(&format!(
            "SELECT '{table}', ctid::text, xmin::text FROM {table} ORDER BY ctid"
        )));
    }
    out
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{out}"))
}

/// Per table: (inserted, deleted, replaced, reloaded).
fn counts(doc: &Value) -> Vec<(String, u64, u64, u64, bool)> {
    doc["tables"]
        .as_array()
        .expect("tables")
        .iter()
        .map(|t| {
            (
                t["table"].as_str().expect("name").to_string(),
                t["inserted"].as_u64().expect("inserted"),
                t["deleted"].as_u64().expect("deleted"),
                t["replaced"].as_u64().expect("replaced"),
                t["reloaded"].as_bool().expect("reloaded"),
            )
        })
        .collect()
}

fn migrated(name: &str) -> (tempfile::TempDir, std::path::PathBuf, TestDb) {
    let dir = tempfile::tempdir().expect("tempdir");
    let src = db_from_sql(dir.path(), "src.db", SCHEMA_SQL);
    let db = server().fresh_db(name);
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--quiet"]);
    assert_code(&out, 0);
    (dir, src, db)
}

fn change(src: &Path, sql: &str) {
    rusqlite::Connection::open(src)
        .expect("open source")
        .execute_batch(sql)
        .expect("change the source");
}

#[test]
fn sync_applies_every_kind_of_change_and_dry_run_announces_it() {
    let (_dir, src, db) = migrated("sync_every_change");
    let s = src.to_str().unwrap();
    change(&src, CHANGES_SQL);
    let before = versions(&db);

    let dry = ferry(&["sync", s, &db.url, "--dry-run", "--json", "--quiet"]);
    assert_code(&dry, 0);
    assert_eq!(versions(&db), before, "--dry-run wrote to the target");
    let announced = counts(&json(&dry));
    let by_table = |t: &str| {
        announced
            .iter()
            .find(|c| c.0 == t)
            .cloned()
            .unwrap_or_else(|| panic!("{t} in {dry}"))
    };
    // What the changes above do, counted by hand.
    assert_eq!(by_table("authors"), ("authors".into(), 2, 1, 6, false));
    assert_eq!(by_table("staff"), ("staff".into(), 3, 2, 2, false));
    assert_eq!(by_table("codes"), ("codes".into(), 2, 2, 11, false));
    let log = by_table("log");
    assert!(log.4, "a table without a primary key is reloaded: {dry}");
    assert_eq!(
        (log.1, log.2),
        (200, 200),
        "reload: every source row in, every target row out"
    );

    let out = ferry(&["sync", s, &db.url, "--json", "--quiet"]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(
        counts(&doc),
        announced,
        "the dry run announced other counts than the sync did"
    );
    for t in doc["tables"].as_array().unwrap() {
        assert_eq!(t["verified"], Value::Bool(true), "{t}");
    }
    assert_equal(&src, &db);
    // The sequence of the AUTOINCREMENT key is past the new largest key.
    let next = db.query_scalar_i64("SELECT nextval(pg_get_serial_sequence('authors', 'id'))");
    assert!(next > 302, "sequence at {next}");
}

#[test]
fn sync_with_nothing_changed_writes_nothing() {
    let (_dir, src, db) = migrated("sync_nothing");
    let s = src.to_str().unwrap();
    let before = versions(&db);
    let out = ferry(&["sync", s, &db.url, "--json", "--quiet"]);
    assert_code(&out, 0);
    for (table, ins, del, rep, reload) in counts(&json(&out)) {
        assert_eq!(
            (ins, del, rep, reload),
            (0, 0, 0, false),
            "table {table}: {out}"
        );
    }
    assert_eq!(
        versions(&db),
        before,
        "a sync with nothing to do rewrote rows"
    );
    // And after a change, a second sync has nothing left to do.
    change(&src, CHANGES_SQL);
    assert_code(&ferry(&["sync", s, &db.url, "--quiet"]), 0);
    let after_first = versions(&db);
    assert_ne!(after_first, before, "the first sync wrote nothing");
    assert_code(&ferry(&["sync", s, &db.url, "--quiet"]), 0);
    assert_eq!(versions(&db), after_first, "the second sync rewrote rows");
    assert_equal(&src, &db);
}

#[test]
fn sync_error_after_some_writes_leaves_the_target_as_it_was() {
    let (_dir, src, db) = migrated("sync_rollback");
    let s = src.to_str().unwrap();
    // A rule only the target has: the sync fails on the child table, after
    // the parent table's rows were written in the same transaction.
    db.client()
        .batch_execute("ALTER TABLE books ADD CONSTRAINT no_forbidden CHECK (title <> 'forbidden')")
        .unwrap();
    change(&src, CHANGES_SQL);
    change(
        &src,
        "UPDATE books SET title = 'forbidden' WHERE id = 1500;",
    );
    let before = versions(&db);
    let contents: Vec<Rows> = TABLES.iter().map(|(_, q)| pg_rows(&db, q)).collect();
    let out = ferry(&["sync", s, &db.url, "--quiet"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("books") && out.stderr.contains("no_forbidden"),
        "the error names the table and the constraint:\n{out}"
    );
    assert_eq!(versions(&db), before, "rows were left written");
    let after: Vec<Rows> = TABLES.iter().map(|(_, q)| pg_rows(&db, q)).collect();
    assert_eq!(after, contents);
    // The author renamed by the changes shows the parents were written first
    // (and rolled back): without the constraint the same sync succeeds.
    db.client()
        .batch_execute("ALTER TABLE books DROP CONSTRAINT no_forbidden")
        .unwrap();
    assert_code(&ferry(&["sync", s, &db.url, "--quiet"]), 0);
    assert_equal(&src, &db);
}

#[test]
fn sync_refuses_a_target_that_does_not_fit() {
    let (_dir, src, db) = migrated("sync_refuses");
    db.client().batch_execute("DROP TABLE book_tags").unwrap();
    let before = versions_without(&db, "book_tags");
    let out = ferry(&["sync", src.to_str().unwrap(), &db.url, "--quiet"]);
    assert_code(&out, 2);
    assert!(
        out.stderr.contains("\"book_tags\""),
        "the refusal names the missing table:\n{out}"
    );
    assert_eq!(versions_without(&db, "book_tags"), before);
}

fn versions_without(db: &TestDb, skip: &str) -> Rows {
    let mut out = Vec::new();
    for (table, _) in TABLES.iter().filter(|(t, _)| *t != skip) {
        out.extend(db.query_strings(&format!(
            "SELECT '{table}', ctid::text, xmin::text FROM {table} ORDER BY ctid"
        )));
    }
    out
}
