//! Rejected rows come back (issue 14, point 4): a migration under
//! `on_bad_value = "reject"` leaves rows of every storage class out and
//! keeps them in the reject file (key and original values, blobs and
//! invalid UTF-8 as base64); the rows are fixed in SQLite; `ferry replay`
//! loads exactly those rows (keys in place, parents first, sequences moved,
//! the foreign key the missing parent had left NOT VALID validated); then
//! `ferry verify` says equal and the fixed rows read back from PostgreSQL
//! with plain SQL. A replay while one row is still bad exits 2, names the
//! row and writes nothing.

use std::path::Path;

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

const SCHEMA: &str = "
CREATE TABLE author (id INTEGER PRIMARY KEY, name TEXT NOT NULL, born TEXT);
CREATE TABLE book (id INTEGER PRIMARY KEY, author_id INTEGER NOT NULL REFERENCES author(id),
                   title TEXT, qty INTEGER, cover BLOB);
INSERT INTO author VALUES (1, 'Le Guin', '1929-10-21'), (2, 'Lem', '1921-13-45'), (3, 'Tiptree', '1915-08-24');
INSERT INTO book VALUES
  (1, 1, 'The Dispossessed', 3, x'89504e47'),
  (2, 1, 'The Lathe of Heaven', 'lots', NULL),        -- text in bigint
  (3, 2, 'Solaris', 5, NULL),                         -- loads; its parent is rejected
  (4, 3, CAST(x'48e97a' AS TEXT), 1, x'00ff10'),       -- invalid UTF-8 text, a blob beside it
  (5, 3, 'Houston', 2, 42),                           -- an integer into bytea
  (6, 1, 'Always Coming Home', 2.5, NULL),            -- a real into bigint
  (7, 2, 'Fiasco', 'many', NULL);                     -- rejected, and so is its parent; the largest key
";

const MAPPING: &str = "
[settings]
on_bad_value = \"reject\"
[tables.author.columns]
born = { type = \"date\" }
[tables.book.columns]
qty = { type = \"bigint\" }
cover = { type = \"bytea\" }
";

fn run(args: &[&str]) -> Output {
    ferry(args)
}

fn records(path: &Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

fn by_key<'a>(recs: &'a [serde_json::Value], table: &str, rowid: i64) -> &'a serde_json::Value {
    recs.iter()
        .find(|r| r["table"] == table && r["key"]["rowid"] == rowid)
        .unwrap_or_else(|| panic!("no reject record for {table} rowid {rowid} in {recs:#?}"))
}

fn counts(db: &TestDb) -> (i64, i64) {
    (
        db.query_scalar_i64("SELECT count(*) FROM author"),
        db.query_scalar_i64("SELECT count(*) FROM book"),
    )
}

#[test]
fn rejected_rows_fixed_in_sqlite_come_back_with_replay_and_verify_equal() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(dir.path(), "books.db", SCHEMA);
    let map = dir.path().join("reject.toml");
    std::fs::write(&map, MAPPING).unwrap();
    let rejects = dir.path().join("rejects.jsonl");
    let db = server().fresh_db("replay_round_trip");
    let (s, m, r) = (
        src.to_str().unwrap(),
        map.to_str().unwrap(),
        rejects.to_str().unwrap(),
    );

    let out = run(&[
        "migrate",
        s,
        &db.url,
        "--mapping",
        m,
        "--reject-file",
        r,
        "-j",
        "1",
    ]);
    assert_code(&out, 1);
    assert_eq!(
        counts(&db),
        (2, 2),
        "author 2 and books 2, 4, 5, 6, 7 left out\n{out}"
    );

    // The reject file keeps each row's key and original values, every
    // storage class as SQLite stored it.
    let recs = records(&rejects);
    assert_eq!(recs.len(), 6, "{recs:#?}");
    let a2 = by_key(&recs, "author", 2);
    assert_eq!(
        (a2["column"].as_str(), a2["class"].as_str()),
        (Some("born"), Some("text"))
    );
    assert_eq!(
        a2["row"],
        serde_json::json!({"id": 2, "name": "Lem", "born": "1921-13-45"})
    );
    let b2 = by_key(&recs, "book", 2);
    assert_eq!(
        (b2["value"].as_str(), b2["row"]["cover"].is_null()),
        (Some("lots"), true)
    );
    let b4 = by_key(&recs, "book", 4);
    assert_eq!(b4["column"], "title");
    assert_eq!(
        b4["row"]["title"]["base64"], "SOl6",
        "invalid UTF-8 kept byte for byte: {b4}"
    );
    assert_eq!(
        b4["row"]["cover"]["base64"], "AP8Q",
        "blob kept byte for byte: {b4}"
    );
    let b5 = by_key(&recs, "book", 5);
    assert_eq!(
        (
            b5["column"].as_str(),
            b5["class"].as_str(),
            b5["value"].as_i64()
        ),
        (Some("cover"), Some("integer"), Some(42))
    );
    let b6 = by_key(&recs, "book", 6);
    assert_eq!(
        (b6["class"].as_str(), b6["value"].as_f64()),
        (Some("real"), Some(2.5))
    );
    assert_eq!(
        db.query_strings(
            "SELECT conname, convalidated::text FROM pg_constraint WHERE contype = 'f'"
        ),
        vec![vec![
            Some("book_author_id_fkey".into()),
            Some("false".into())
        ]],
        "book 3 points at the rejected author: its foreign key is NOT VALID after the load"
    );

    // Fix all but book 4: the replay names it and writes nothing.
    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch(
        "UPDATE author SET born = '1921-09-12' WHERE id = 2;
         UPDATE book SET qty = 7 WHERE id = 2;
         UPDATE book SET cover = x'2a' WHERE id = 5;
         UPDATE book SET qty = 3 WHERE id = 6;
         UPDATE book SET qty = 1 WHERE id = 7;",
    )
    .unwrap();
    let out = run(&["replay", s, &db.url, "--mapping", m, "--reject-file", r]);
    assert_code(&out, 2);
    for want in [
        "1 row(s)",
        "still do not convert",
        "nothing was written",
        "table \"book\"",
        "column \"title\"",
        "rowid 4",
    ] {
        assert!(out.stderr.contains(want), "lacks {want:?}\n{out}");
    }
    assert_eq!(
        counts(&db),
        (2, 2),
        "a refused replay writes nothing\n{out}"
    );
    assert!(rejects.exists(), "a refused replay keeps the reject file");

    // Fix the last one: one command brings the six rows back, author 2
    // before book 7 that points at it.
    conn.execute_batch("UPDATE book SET title = 'Houston, Houston' WHERE id = 4")
        .unwrap();
    drop(conn);
    let out = run(&[
        "replay",
        s,
        &db.url,
        "--mapping",
        m,
        "--reject-file",
        r,
        "--json",
    ]);
    assert_code(&out, 0);
    let doc: serde_json::Value =
        serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("{e}\n{out}"));
    assert_eq!(
        doc["rows"],
        serde_json::json!({"author": 1, "book": 5}),
        "{out}"
    );
    assert_eq!(
        doc["sequences_moved"],
        serde_json::json!(["author", "book"]),
        "{out}"
    );
    assert_eq!(doc["gone"], serde_json::json!({}), "{out}");
    assert_eq!(
        doc["keys_validated"],
        serde_json::json!(["book.book_author_id_fkey"]),
        "{out}"
    );
    assert!(
        !rejects.exists() && dir.path().join("rejects.jsonl.replayed").exists(),
        "{out}"
    );

    // Independent read-back of the fixed rows.
    assert_eq!(
        db.query_strings("SELECT id::text, name, born::text FROM author WHERE id = 2"),
        vec![vec![
            Some("2".into()),
            Some("Lem".into()),
            Some("1921-09-12".into())
        ]]
    );
    assert_eq!(
        db.query_strings(
            "SELECT id::text, author_id::text, title, qty::text, encode(cover, 'hex') FROM book WHERE id IN (2, 4, 5, 6, 7) ORDER BY id"
        ),
        vec![
            vec![Some("2".into()), Some("1".into()), Some("The Lathe of Heaven".into()), Some("7".into()), None],
            vec![Some("4".into()), Some("3".into()), Some("Houston, Houston".into()), Some("1".into()), Some("00ff10".into())],
            vec![Some("5".into()), Some("3".into()), Some("Houston".into()), Some("2".into()), Some("2a".into())],
            vec![Some("6".into()), Some("1".into()), Some("Always Coming Home".into()), Some("3".into()), None],
            vec![Some("7".into()), Some("2".into()), Some("Fiasco".into()), Some("1".into()), None],
        ]
    );
    assert_eq!(
        db.query_strings("SELECT convalidated::text FROM pg_constraint WHERE contype = 'f'"),
        vec![vec![Some("true".into())]],
        "the foreign key is valid again"
    );
    // The sequence is past the replayed largest key (7).
    assert_eq!(
        db.query_scalar_i64("INSERT INTO book (author_id, title) VALUES (1, 'new') RETURNING id"),
        8
    );
    db.client()
        .batch_execute("DELETE FROM book WHERE id = 8")
        .unwrap();

    let out = run(&["verify", s, &db.url, "--mapping", m]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("source and target are equal"), "{out}");

    // The rows are in: the file is gone, a second replay has nothing to read.
    let out = run(&["replay", s, &db.url, "--mapping", m, "--reject-file", r]);
    assert_code(&out, 2);
    assert!(out.stderr.contains("already replayed"), "{out}");
    assert_eq!(counts(&db), (3, 7));
}

/// Into a schema that already existed (keys set aside and restored by
/// `migrate`): the target's column types decide the conversions. A replay
/// whose mapping no longer rejects (`abort`, the default) lists every row
/// still bad, each by the reader's own error, and writes nothing.
#[test]
fn replay_into_an_existing_schema_and_every_still_bad_row_listed() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "t.db",
        "CREATE TABLE t (id INTEGER PRIMARY KEY, n TEXT, at TEXT);
         INSERT INTO t VALUES (1, '1', '2024-01-01'), (2, 'x', '2024-01-02'), (3, '3', '2024-13-01'),
                              (4, '4', '2024-01-04'), (5, 'five', '2024-01-05'), (6, 'six', '2024-01-06');",
    );
    let db = server().fresh_db("replay_existing");
    db.client()
        .batch_execute("CREATE TABLE t (id SERIAL PRIMARY KEY, n integer NOT NULL, at date); CREATE INDEX t_at ON t (at);")
        .unwrap();
    let map = dir.path().join("reject.toml");
    std::fs::write(&map, "[settings]\non_bad_value = \"reject\"\n").unwrap();
    let st = dir.path().join("state");
    let (s, m, st) = (
        src.to_str().unwrap(),
        map.to_str().unwrap(),
        st.to_str().unwrap(),
    );
    let out = run(&["migrate", s, &db.url, "--mapping", m, "--state-dir", st]);
    assert_code(&out, 1);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 2, "{out}");

    // No reject rule now: the abort policy's errors, one per row.
    let out = run(&["replay", s, &db.url, "--state-dir", st]);
    assert_code(&out, 2);
    for want in [
        "4 row(s)",
        "rowid 2",
        "\"x\"",
        "rowid 3",
        "2024-13-01",
        "rowid 5",
        "\"five\"",
        "nothing was written",
    ] {
        assert!(out.stderr.contains(want), "lacks {want:?}\n{out}");
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM t"), 2, "{out}");

    let conn = rusqlite::Connection::open(&src).unwrap();
    conn.execute_batch(
        "UPDATE t SET n = '2' WHERE id = 2; UPDATE t SET at = '2024-01-03' WHERE id = 3; UPDATE t SET n = 5 WHERE id = 5;
         DELETE FROM t WHERE id = 6;",
    )
    .unwrap();
    drop(conn);
    let out = run(&["replay", s, &db.url, "--state-dir", st]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("3 row(s) loaded"), "{out}");
    assert!(
        out.stderr
            .contains("rowid(s) [6] are no longer in the source"),
        "a row deleted since is said and skipped\n{out}"
    );
    assert_eq!(
        db.query_strings("SELECT id::text, n::text, at::text FROM t ORDER BY id"),
        (1..=5)
            .map(|i| vec![
                Some(i.to_string()),
                Some(i.to_string()),
                Some(format!("2024-01-0{i}"))
            ])
            .collect::<Vec<_>>()
    );
    assert_eq!(
        db.query_scalar_i64("SELECT nextval('t_id_seq')"),
        6,
        "{out}"
    );
    let out = run(&["verify", s, &db.url]);
    assert_code(&out, 0);
}
