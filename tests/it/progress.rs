//! The progress display (issue 7), exercised under a real pseudo-terminal
//! (`script` from util-linux gives ferry a tty for stderr): bars appear on
//! the terminal, and none when stderr is not a terminal.

use std::process::Command;

use crate::util::cmd::ferry;
use crate::util::pg::server;
use crate::util::sqlite::db_from_sql;

#[test]
fn bars_on_a_terminal_and_none_in_a_pipe() {
    let dir = tempfile::tempdir().unwrap();
    let src = db_from_sql(
        dir.path(),
        "p.db",
        "CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 600000)
         INSERT INTO big SELECT i, printf('some text for row %d', i) FROM n;",
    );
    let db = server().fresh_db("progress_tty");
    let state = dir.path().join("state");
    let cmd = format!(
        "{} migrate '{}' '{}' --state-dir '{}' -j 1",
        env!("CARGO_BIN_EXE_ferry"),
        src.display(),
        db.url,
        state.display()
    );
    let out = Command::new("script")
        .args(["-q", "-e", "-c", &cmd, "/dev/null"])
        .env("COLUMNS", "120")
        .output()
        .expect("script (util-linux) runs ferry under a pseudo-terminal");
    let screen = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{screen}");
    assert!(screen.contains("all tables"), "no overall bar on the terminal:\n{screen}");
    assert!(screen.contains("rows"), "{screen}");
    assert!(screen.contains("1 tables migrated and verified"), "{screen}");

    let db2 = server().fresh_db("progress_pipe");
    let out = ferry(&["migrate", src.to_str().unwrap(), &db2.url, "--state-dir", state.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(!out.stderr.contains("all tables"), "bars drawn into a pipe:\n{}", out.stderr);
}
