//! `ferry sync` with the ledger `migrate` leaves in the state directory
//! (issue 16's speed): tables whose rows are named by an integer rowid key
//! are compared by reading the source alone, and written while the
//! comparison goes on. Every test checks the target by plain SQL on both
//! sides, not by ferry's own verification, and checks that the path it is
//! about was the one taken (`ledger`, `streamed`, the notes):
//!
//! - changes in every table (a self-reference with new rows pointing at
//!   each other across partitions, a child moved off a parent that is then
//!   deleted, a freed key used again) synced by the ledger, dry run and sync
//!   agreeing, only the changed rows rewritten, a second sync writing
//!   nothing;
//! - a target written behind ferry's back (a row updated, a row deleted)
//!   or a changed mapping: that table compared both sides whole, with the
//!   reason, and still brought to the source's state;
//! - a sync stopped between its commit and making its ledger current: the
//!   next one keeps that ledger if the commit went through, drops it if not;
//! - rows a bad-value policy rejects: kept out as `migrate` keeps them out,
//!   also when a row becomes bad or good after the migration.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::{db_from_sql, text_rows};

const SCHEMA_SQL: &str = r#"
CREATE TABLE team (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE person (id INTEGER PRIMARY KEY, team_id INTEGER REFERENCES team(id),
                     mentor_id INTEGER REFERENCES person(id), name TEXT NOT NULL, born DATE);
CREATE TABLE task (id INTEGER PRIMARY KEY, person_id INTEGER NOT NULL REFERENCES person(id),
                   title TEXT, score REAL);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 40)
INSERT INTO team SELECT i, 'team ' || i FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 3000)
INSERT INTO person SELECT i, 1 + i % 40, CASE WHEN i > 1 THEN i / 2 END, 'person ' || i,
                          date('1970-01-01', '+' || i || ' days') FROM c;
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 9000)
INSERT INTO task SELECT i, 1 + i % 3000, 'task ' || i, i * 0.5 FROM c;
"#;

/// Scattered over every table's keys: updates, deletes (children first),
/// inserts past the largest key and into freed keys, new people pointing
/// at each other from far-apart keys, tasks moved off a person who then
/// leaves.
const CHANGES_SQL: &str = r#"
UPDATE team SET name = name || ' (renamed)' WHERE id % 9 = 0;
INSERT INTO team VALUES (41, 'team 41');
UPDATE person SET name = name || ' jr', born = NULL WHERE id % 97 = 0;
UPDATE person SET team_id = 41 WHERE id % 211 = 5;
UPDATE task SET person_id = 2 WHERE person_id = 1500;
UPDATE person SET mentor_id = 1 WHERE mentor_id = 1500;
DELETE FROM person WHERE id = 1500;
DELETE FROM task WHERE person_id IN (SELECT id FROM person WHERE id % 500 = 7);
UPDATE person SET mentor_id = NULL WHERE mentor_id IN (SELECT id FROM person WHERE id % 500 = 7);
DELETE FROM person WHERE id % 500 = 7;
INSERT INTO person VALUES (3002, 41, NULL, 'new head', '2001-02-03');
INSERT INTO person VALUES (7, 41, 3002, 'new in an old key', NULL);
INSERT INTO person VALUES (-5, 41, NULL, 'a key below all others', NULL);
INSERT INTO person VALUES (3001, 41, -5, 'reports to the lowest key', NULL);
UPDATE task SET score = -score, title = NULL WHERE id % 101 = 0;
DELETE FROM task WHERE id % 113 = 1;
INSERT INTO task VALUES (9001, 3001, 'first of a new person', 1.25), (9002, 7, NULL, NULL), (1, 3002, 'freed key', 2.0);
"#;

/// Each table's rows as text, the same on both sides.
const TABLES: &[(&str, &str)] = &[
    ("team", "SELECT id, name FROM team ORDER BY id"),
    ("person", "SELECT id, team_id, mentor_id, name, born FROM person ORDER BY id"),
    ("task", "SELECT id, person_id, title, score FROM task ORDER BY id"),
];


/// Every table equal on both sides, by plain SQL on each.
fn assert_equal(src: &Path, db: &TestDb, tables: &[(&str, &str)]) {
    for (table, sql) in tables {
        let (s, t) = (text_rows(src, sql), db.query_strings(sql));
        assert_eq!(s.len(), t.len(), "table {table}: row counts differ");
        for (a, b) in s.iter().zip(&t) {
            assert_eq!(a, b, "table {table}: first differing row");
        }
    }
}

/// Per table, each row's key and the transaction that wrote it.
fn writers(db: &TestDb, table: &str) -> Vec<(String, String)> {
    db.query_strings(&format!("SELECT id::text, xmin::text FROM {table} ORDER BY id"))
        .into_iter()
        .map(|r| (r[0].clone().unwrap(), r[1].clone().unwrap()))
        .collect()
}

/// The notes of a `--json` document, one per line.
fn notes(doc: &Value) -> String {
    doc["notes"].as_array().unwrap().iter().map(|n| n.as_str().unwrap().to_string()).collect::<Vec<_>>().join("\n")
}

fn json(out: &Output) -> Value {
    serde_json::from_str(&out.stdout).unwrap_or_else(|e| panic!("--json output: {e}\n{out}"))
}

fn table<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["tables"].as_array().unwrap().iter().find(|t| t["table"] == name).unwrap_or_else(|| panic!("{name} in {doc}"))
}

/// (inserted, replaced, deleted, ledger) of one table.
fn counts(doc: &Value, name: &str) -> (u64, u64, u64, bool) {
    let t = table(doc, name);
    (t["inserted"].as_u64().unwrap(), t["replaced"].as_u64().unwrap(), t["deleted"].as_u64().unwrap(), t["ledger"].as_bool().unwrap())
}

struct Setup {
    _dir: tempfile::TempDir,
    src: PathBuf,
    state: PathBuf,
    db: TestDb,
}

impl Setup {
    /// `sql` migrated with small chunks (several ledger segments per table).
    fn new(name: &str, sql: &str, extra: &[&str]) -> Setup {
        Setup::with_code(name, sql, extra, 0)
    }

    fn with_code(name: &str, sql: &str, extra: &[&str], code: i32) -> Setup {
        let dir = tempfile::tempdir().expect("tempdir");
        let src = db_from_sql(dir.path(), "src.db", sql);
        let state = dir.path().join("state");
        let db = server().fresh_db(name);
        let mut args = vec!["migrate", src.to_str().unwrap(), &db.url, "--quiet", "--chunk-rows", "700", "--state-dir", state.to_str().unwrap()];
        args.extend_from_slice(extra);
        let out = ferry(&args);
        assert_code(&out, code);
        Setup { _dir: dir, src, state, db }
    }

    fn sync(&self, extra: &[&str]) -> Output {
        let mut args = vec!["sync", self.src.to_str().unwrap(), &self.db.url, "--json", "--quiet", "--state-dir", self.state.to_str().unwrap()];
        args.extend_from_slice(extra);
        ferry(&args)
    }

    fn change(&self, sql: &str) {
        rusqlite::Connection::open(&self.src).expect("open source").execute_batch(sql).expect("change the source");
    }

    /// The ledger folder (one target).
    fn ledger(&self) -> PathBuf {
        let found: Vec<PathBuf> = std::fs::read_dir(&self.state)
            .expect("state dir")
            .map(|e| e.unwrap().path())
            .filter(|p| p.file_name().unwrap().to_string_lossy().starts_with("ledger-"))
            .collect();
        assert_eq!(found.len(), 1, "one ledger in {}: {found:?}", self.state.display());
        found.into_iter().next().unwrap()
    }
}

#[test]
fn sync_by_the_ledger_writes_while_comparing_and_only_what_changed() {
    let s = Setup::new("sync_ledger_every_change", SCHEMA_SQL, &[]);
    s.change(CHANGES_SQL);
    let before: Vec<Vec<(String, String)>> = TABLES.iter().map(|(t, _)| writers(&s.db, t)).collect();

    let dry = s.sync(&["--dry-run"]);
    assert_code(&dry, 0);
    let dry = json(&dry);
    let after_dry: Vec<Vec<(String, String)>> = TABLES.iter().map(|(t, _)| writers(&s.db, t)).collect();
    assert_eq!(after_dry, before, "--dry-run wrote");

    let out = s.sync(&[]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(doc["streamed"], Value::Bool(true), "every table has a ledger: writes overlap the comparison\n{out}");
    // Counted by hand from CHANGES_SQL: team: 1 new, 4 renamed.
    assert_eq!(counts(&doc, "team"), (1, 4, 0, true));
    for (name, _) in TABLES {
        assert_eq!(counts(&doc, name), counts(&dry, name), "table {name}: the dry run announced other counts");
        assert_eq!(table(&doc, name)["verified"], Value::Bool(true), "{name}");
    }
    let (ins, rep, del, ledger) = counts(&doc, "person");
    // Three new people (the first and last partitions pointing at each
    // other); six gone (1500 and the %500 = 7 ones, but 7 itself comes back
    // with other content: replaced).
    assert!(ledger && ins == 3 && del == 6 && rep > 30, "person: {ins} {rep} {del}");
    assert_equal(&s.src, &s.db, TABLES);

    // Only the rows counted were rewritten: every other row keeps the
    // transaction id the migration gave it.
    for (i, (name, _)) in TABLES.iter().enumerate() {
        let (ins, rep, _, _) = counts(&doc, name);
        let old: std::collections::HashMap<_, _> = before[i].iter().cloned().collect();
        let rewritten = writers(&s.db, name).iter().filter(|(k, x)| old.get(k) != Some(x)).count() as u64;
        assert_eq!(rewritten, ins + rep, "table {name}: rows rewritten beyond the changes");
    }

    // The next sync reads the ledger the first one left: nothing to write.
    let again = s.sync(&[]);
    assert_code(&again, 0);
    let again = json(&again);
    for (name, _) in TABLES {
        assert_eq!(counts(&again, name), (0, 0, 0, true), "table {name}: {again}");
    }
    // And ferry's own verification agrees.
    assert_code(&ferry(&["verify", s.src.to_str().unwrap(), &s.db.url, "--quiet"]), 0);
}

#[test]
fn a_target_written_behind_ferrys_back_or_a_new_mapping_is_compared_whole() {
    let s = Setup::new("sync_ledger_touched", SCHEMA_SQL, &[]);
    s.change(CHANGES_SQL);
    // Someone else writes the target: an update (a row version of another
    // transaction), a delete (no new version, one row fewer).
    s.db.client().batch_execute("UPDATE person SET name = 'rogue' WHERE id = 2500; DELETE FROM task WHERE id = 4000").unwrap();
    let out = s.sync(&[]);
    assert_code(&out, 0);
    let doc = json(&out);
    let said = notes(&doc);
    assert!(!counts(&doc, "person").3, "person was written by another transaction: {out}");
    assert!(said.contains("\"person\": compared both sides whole") && said.contains("written by other transactions"), "{said}");
    assert!(!counts(&doc, "task").3, "a task was deleted by another transaction: {out}");
    assert!(said.contains("\"task\": compared both sides whole") && said.contains("rows were deleted since"), "{said}");
    assert!(counts(&doc, "team").3, "team was not touched: {out}");
    assert_eq!(doc["streamed"], Value::Bool(false), "a table compared whole: no streaming");
    assert_equal(&s.src, &s.db, TABLES);

    // Compared whole, those tables got a fresh ledger on the way (their
    // source records, the transactions their rows now come from): the next
    // sync reads the source alone again, for every table.
    let again = s.sync(&[]);
    let again = json(&again);
    for (name, _) in TABLES {
        assert_eq!(counts(&again, name), (0, 0, 0, true), "table {name}: {again}");
    }

    // A mapping other than the migration's: the stored values may convert
    // differently, so that table is compared whole.
    let map = s._dir.path().join("map.toml");
    std::fs::write(&map, "[tables.team.columns]\nname = { on_bad_value = \"null\" }\n").unwrap();
    let mapped = s.sync(&["--mapping", map.to_str().unwrap()]);
    let mapped_doc = json(&mapped);
    assert_code(&mapped, 0);
    assert!(notes(&mapped_doc).contains("\"team\": compared both sides whole: the mapping differs"), "{mapped}");
    assert_eq!(counts(&mapped_doc, "team"), (0, 0, 0, false), "{mapped}");
    assert_equal(&s.src, &s.db, TABLES);
    // and its fresh ledger is of the new mapping.
    let remapped = json(&s.sync(&["--mapping", map.to_str().unwrap()]));
    assert_eq!(counts(&remapped, "team"), (0, 0, 0, true), "{remapped}");
}

#[test]
fn a_target_migrated_without_a_ledger_gets_one_from_its_first_sync() {
    let s = Setup::new("sync_ledger_healed", SCHEMA_SQL, &["--no-ledger"]);
    assert!(!s.state.exists() || std::fs::read_dir(&s.state).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().starts_with("ledger-")), "--no-ledger kept a ledger");
    s.change(CHANGES_SQL);
    let first = s.sync(&[]);
    assert_code(&first, 0);
    let first = json(&first);
    assert_eq!(first["streamed"], Value::Bool(false), "no ledger: both sides read, then written");
    for (name, _) in TABLES {
        assert!(!counts(&first, name).3, "table {name}: {first}");
    }
    assert_equal(&s.src, &s.db, TABLES);
    // The first sync left a ledger: the second reads the source alone,
    // finds the next change, and writes while comparing.
    s.change("UPDATE task SET title = 'second round' WHERE id % 250 = 3; DELETE FROM task WHERE id = 8999;");
    let second = s.sync(&[]);
    assert_code(&second, 0);
    let second = json(&second);
    assert_eq!(second["streamed"], Value::Bool(true), "{second}");
    assert_eq!(counts(&second, "task"), (0, 36, 1, true), "{second}");
    assert_eq!(counts(&second, "person"), (0, 0, 0, true), "{second}");
    assert_equal(&s.src, &s.db, TABLES);
}

#[test]
fn a_sync_stopped_before_its_ledger_became_current_is_picked_up_by_the_next() {
    let s = Setup::new("sync_ledger_stopped", SCHEMA_SQL, &[]);
    let ledger = s.ledger();
    let saved = s._dir.path().join("ledger-before");
    copy_dir(&ledger, &saved);
    s.change(CHANGES_SQL);
    assert_code(&s.sync(&[]), 0);
    let after = s._dir.path().join("ledger-after");
    copy_dir(&ledger, &after);
    let manifest: Value = serde_json::from_slice(&std::fs::read(after.join("current/manifest.json")).unwrap()).unwrap();
    assert!(manifest["pending_xid"].as_i64().is_some(), "the sync's ledger names its transaction: {manifest}");

    // As if the sync had stopped after COMMIT, before making `next/`
    // current: the next run finds the transaction committed and keeps it.
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(&saved, &ledger);
    copy_dir(&after.join("current"), &ledger.join("next"));
    let out = s.sync(&[]);
    assert_code(&out, 0);
    let doc = json(&out);
    for (name, _) in TABLES {
        assert_eq!(counts(&doc, name), (0, 0, 0, true), "table {name}: the committed sync's ledger was not used\n{out}");
    }

    // The same, but the transaction it names never committed: its `next/`
    // is dropped and the older ledger, which no longer fits, is not trusted.
    let aborted = {
        let mut c = s.db.client();
        let mut tx = c.transaction().unwrap();
        let xid: i64 = tx.query_one("SELECT txid_current()", &[]).unwrap().get(0);
        tx.batch_execute("CREATE TEMP TABLE scratch (x int)").unwrap();
        tx.rollback().unwrap();
        xid
    };
    std::fs::remove_dir_all(&ledger).unwrap();
    copy_dir(&saved, &ledger);
    let mut next = manifest.clone();
    next["pending_xid"] = Value::from(aborted);
    copy_dir(&after.join("current"), &ledger.join("next"));
    std::fs::write(ledger.join("next/manifest.json"), serde_json::to_vec(&next).unwrap()).unwrap();
    let out = s.sync(&[]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert!(!ledger.join("next").exists(), "the uncommitted sync's ledger was kept");
    assert_eq!(counts(&doc, "task"), (0, 0, 0, false), "the old ledger was trusted: {out}");
    assert_equal(&s.src, &s.db, TABLES);
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        let dest = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_dir(&e.path(), &dest);
        } else {
            std::fs::copy(e.path(), dest).unwrap();
        }
    }
}

const REJECTS_SQL: &str = r#"
CREATE TABLE item (id INTEGER PRIMARY KEY, qty INTEGER, label TEXT);
WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < 50)
INSERT INTO item SELECT i, i * 10, 'item ' || i FROM c;
UPDATE item SET qty = 'lots' WHERE id = 7;
"#;

#[test]
fn rows_a_policy_rejects_stay_out_as_migrate_keeps_them_out() {
    let dir = tempfile::tempdir().unwrap();
    let map = dir.path().join("map.toml");
    std::fs::write(&map, "[settings]\non_bad_value = \"reject\"\n[tables.item.columns]\nqty = { type = \"bigint\" }\n").unwrap();
    let m = map.to_str().unwrap().to_string();
    // Exit 1: a row was rejected.
    let s = Setup::with_code("sync_ledger_rejects", REJECTS_SQL, &["--mapping", &m], 1);
    assert_eq!(s.db.query_scalar_i64("SELECT count(*) FROM item"), 49, "row 7 rejected by the migration");
    // Row 7 becomes good, row 9 bad, row 11 changes, a new row 60 is bad.
    s.change("UPDATE item SET qty = 3 WHERE id = 7; UPDATE item SET qty = 'many' WHERE id = 9; UPDATE item SET label = 'changed' WHERE id = 11; INSERT INTO item VALUES (60, 'x', 'new and bad');");
    let out = s.sync(&["--mapping", &m]);
    assert_code(&out, 0);
    let doc = json(&out);
    assert_eq!(counts(&doc, "item"), (1, 1, 1, true), "7 in, 11 replaced, 9 out: {out}");
    assert!(notes(&doc).contains("2 row(s) left out by on_bad_value"), "{out}");
    let ids = |sql: &str| s.db.query_strings(sql).into_iter().map(|r| r[0].clone().unwrap()).collect::<Vec<_>>();
    assert_eq!(ids("SELECT qty::text FROM item WHERE id = 7"), vec!["3"]);
    assert!(ids("SELECT id::text FROM item WHERE id IN (9, 60)").is_empty(), "rejected rows in the target");
    assert_eq!(ids("SELECT label FROM item WHERE id = 11"), vec!["changed"]);
    assert_eq!(s.db.query_scalar_i64("SELECT count(*) FROM item"), 49);
    // Still rejected, still unchanged: nothing more to write.
    let again = json(&s.sync(&["--mapping", &m]));
    assert_eq!(counts(&again, "item"), (0, 0, 0, true), "{again}");
    assert_equal(&s.src, &s.db, &[("item", "SELECT id, qty, label FROM item WHERE id NOT IN (9, 60) ORDER BY id")]);
}
