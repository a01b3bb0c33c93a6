//! A source that another process keeps writing to during the run (issue 5):
//! ferry must not report success for a copy that may mix two states.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::util::cmd::ferry;
use crate::util::pg::server;

#[test]
fn a_writer_attached_during_the_run_is_reported_and_fails_verification() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("live.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE events (id INTEGER PRIMARY KEY, payload TEXT);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 200000)
             INSERT INTO events SELECT i, printf('event %d', i) FROM n;",
        )
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let c = rusqlite::Connection::open(&path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                c.execute("INSERT INTO events (payload) VALUES ('late')", []).unwrap();
                n += 1;
                std::thread::sleep(std::time::Duration::from_millis(2));
            }
            n
        })
    };
    std::thread::sleep(std::time::Duration::from_millis(50));
    let db = server().fresh_db("snapshot_live_writer");
    let state = dir.path().join("state");
    let out = ferry(&["migrate", path.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap()]);
    stop.store(true, Ordering::SeqCst);
    let written = writer.join().unwrap();
    assert!(written > 0, "the writer wrote during the run");
    assert_eq!(out.code, 1, "must not report success:\n{}", out.stderr);
    assert!(out.stderr.contains("changed during the run"), "{}", out.stderr);
    // The way on is the short window's last step: stop writes, then sync.
    assert!(out.stderr.contains("`ferry sync "), "points at ferry sync: {}", out.stderr);
}

/// Every reader sees the same state of a source in WAL mode that another
/// process keeps changing: a writer moves money between random accounts,
/// one transfer per transaction, so the total is the same in every
/// committed state and only a copy that mixes states (a chunk read before a
/// transfer, another after it) can get it wrong. Small chunks make many
/// readers start at different times.
#[test]
fn readers_share_one_snapshot_of_a_live_wal_source() {
    const ACCOUNTS: i64 = 100_000;
    const TOTAL: i64 = ACCOUNTS * 1_000;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("bank.db");
    {
        let c = rusqlite::Connection::open(&path).unwrap();
        c.execute_batch(&format!(
            "PRAGMA journal_mode = WAL;
             CREATE TABLE account (id INTEGER PRIMARY KEY, balance INTEGER NOT NULL, note TEXT);
             CREATE TABLE ledger (id INTEGER PRIMARY KEY, transfers INTEGER NOT NULL);
             INSERT INTO ledger VALUES (1, 0);
             WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {ACCOUNTS})
             INSERT INTO account SELECT i, 1000, printf('account number %d with some padding text', i) FROM n;"
        ))
        .unwrap();
    }
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (stop, path) = (stop.clone(), path.clone());
        std::thread::spawn(move || {
            let mut c = rusqlite::Connection::open(&path).unwrap();
            c.busy_timeout(std::time::Duration::from_secs(5)).unwrap();
            let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
            let mut next = move || {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                (seed % ACCOUNTS as u64) as i64 + 1
            };
            let mut n = 0u64;
            while !stop.load(Ordering::SeqCst) {
                let (from, to) = (next(), next());
                let tx = c.transaction().unwrap();
                tx.execute("UPDATE account SET balance = balance - 7 WHERE id = ?1", [from]).unwrap();
                tx.execute("UPDATE account SET balance = balance + 7 WHERE id = ?1", [to]).unwrap();
                tx.execute("UPDATE ledger SET transfers = transfers + 1", []).unwrap();
                tx.commit().unwrap();
                n += 1;
            }
            n
        })
    };
    // Let the writer get going before ferry opens the file.
    std::thread::sleep(std::time::Duration::from_millis(100));
    let db = server().fresh_db("snapshot_bank");
    let state = dir.path().join("state");
    let out = ferry(&[
        "migrate",
        path.to_str().unwrap(),
        &db.url,
        "--state-dir",
        state.to_str().unwrap(),
        "--chunk-rows",
        "2000",
        "-j",
        "4",
    ]);
    stop.store(true, Ordering::SeqCst);
    let transfers = writer.join().unwrap();
    assert!(transfers > 100, "the writer kept writing during the run ({transfers} transfers)");
    // The change is still reported: the target lacks the later writes.
    assert_eq!(out.code, 1, "must not report success:\n{}", out.stderr);
    assert!(out.stderr.contains("changed during the run"), "{}", out.stderr);
    let rows = db.query_strings("SELECT count(*)::text, sum(balance)::text FROM account");
    assert_eq!(rows[0][0].as_deref(), Some(ACCOUNTS.to_string().as_str()), "every account loaded");
    assert_eq!(rows[0][1].as_deref(), Some(TOTAL.to_string().as_str()), "the total of one consistent state:\n{}", out.stderr);
    // And the ledger is of that same state: the transfers it counts moved
    // money, so at least one account differs from 1000 unless none happened.
    let moved = db.query_strings("SELECT (SELECT transfers FROM ledger)::text, (SELECT count(*) FROM account WHERE balance <> 1000)::text");
    let (counted, changed): (i64, i64) = (moved[0][0].as_deref().unwrap().parse().unwrap(), moved[0][1].as_deref().unwrap().parse().unwrap());
    assert_eq!(counted == 0, changed == 0, "ledger ({counted} transfers) and accounts ({changed} changed) from one state");
}
