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
}
