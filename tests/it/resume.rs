//! Interrupted runs and `ferry migrate --resume` (issue 7): a run killed
//! with SIGKILL in the middle of a table, and a run whose connections the
//! server drops, both finish on `--resume` with every table verified and
//! the committed tables not loaded twice.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::util::cmd::{self, assert_code, ferry};
use crate::util::pg::{server, TestDb, TestServer};
use crate::util::sqlite::db_from_sql;

fn two_big_tables(dir: &Path) -> PathBuf {
    db_from_sql(
        dir,
        "big.db",
        "CREATE TABLE first_loaded (id INTEGER PRIMARY KEY, t TEXT, at DATETIME);
         CREATE TABLE second_loaded (id INTEGER PRIMARY KEY, t TEXT, at DATETIME);
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000)
         INSERT INTO first_loaded SELECT i, printf('row %d of the first table, some text', i), '2024-01-01 00:00:00.000001' FROM n;
         WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 299000)
         INSERT INTO second_loaded SELECT i, printf('row %d of the second table, some text', i), '2024-01-01 00:00:00.000001' FROM n;",
    )
}

fn spawn(src: &Path, db: &TestDb, state: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferry"))
        .args(["migrate", src.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap()])
        .args(["-q", "-j", "1", "--writers", "1"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}


fn resume_and_check(src: &Path, db: &TestDb, state: &Path) {
    let out = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap(), "--resume", "--json"]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("resuming: 1 table(s) already committed are skipped"), "{}", out.stderr);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    for t in v["tables"].as_array().unwrap() {
        assert_eq!(t["status"], "equal", "{t}");
    }
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM first_loaded"), 300000);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM second_loaded"), 299000);
    // Keys from post-data exist, identity continues past the data.
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM pg_constraint WHERE contype = 'p' AND connamespace = 'public'::regnamespace"), 2);
    assert_eq!(db.query_scalar_i64("INSERT INTO second_loaded (t) VALUES ('new') RETURNING id"), 299001);
    // A finished run is not resumed again.
    let again = ferry(&["migrate", src.to_str().unwrap(), &db.url, "--state-dir", state.to_str().unwrap(), "--resume"]);
    assert_code(&again, 2);
    assert!(again.stderr.contains("no unfinished run"), "{}", again.stderr);
}

#[test]
fn sigkill_mid_table_then_resume() {
    sigkill_then_resume(server());
}

/// The body of the test above, on any server (`pg_versions.rs` runs it on
/// every PostgreSQL version).
pub fn sigkill_then_resume(server: &TestServer) {
    let dir = tempfile::tempdir().unwrap();
    let src = two_big_tables(dir.path());
    let db = server.fresh_db("resume_sigkill");
    let state = dir.path().join("state");
    let mut child = spawn(&src, &db, &state);
    cmd::wait_committed(&state, "first_loaded", &mut child, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(150));
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM first_loaded"), 300000);
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM second_loaded"), 0, "the table in flight is rolled back");
    resume_and_check(&src, &db, &state);
}

#[test]
fn connection_dropped_mid_table_then_resume() {
    let dir = tempfile::tempdir().unwrap();
    let src = two_big_tables(dir.path());
    let db = server().fresh_db("resume_terminated");
    let state = dir.path().join("state");
    let mut child = spawn(&src, &db, &state);
    cmd::wait_committed(&state, "first_loaded", &mut child, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(100));
    let dbname = db.url.rsplit('/').next().unwrap().to_string();
    db.query_strings(&format!(
        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = 'ferry' AND datname = '{dbname}'"
    ));
    let status = child.wait().unwrap();
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(status.code(), Some(2), "stderr: {err}");
    assert!(err.contains("second_loaded"), "the error names the table: {err}");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM second_loaded"), 0);
    resume_and_check(&src, &db, &state);
}

#[test]
fn report_files_and_timeline() {
    let dir = tempfile::tempdir().unwrap();
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures/flashcase.db");
    let db = server().fresh_db("report_files");
    let json = dir.path().join("report.json");
    let html = dir.path().join("timeline.html");
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--state-dir",
        dir.path().join("state").to_str().unwrap(),
        "--report",
        json.to_str().unwrap(),
        "--report-html",
        html.to_str().unwrap(),
        "--json",
    ]);
    assert_code(&out, 0);
    let file: serde_json::Value = serde_json::from_str(&std::fs::read_to_string(&json).unwrap()).unwrap();
    let stdout: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    assert_eq!(file, stdout, "--report writes the --json document");
    assert_eq!(file["exit_code"], 0);
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("../../docs/report.schema.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator.iter_errors(&file).map(|e| format!("{e} at {}", e.instance_path())).collect();
    assert!(errors.is_empty(), "report does not match docs/report.schema.json: {errors:#?}");
    let page = std::fs::read_to_string(&html).unwrap();
    assert!(page.contains("<svg") && page.contains("studylog") && page.contains("connection 0"), "{page}");
}

#[test]
fn ctrl_c_rolls_back_exits_130_and_says_how_to_resume() {
    let dir = tempfile::tempdir().unwrap();
    let src = two_big_tables(dir.path());
    let db = server().fresh_db("resume_sigint");
    let state = dir.path().join("state");
    let mut child = spawn(&src, &db, &state);
    cmd::wait_committed(&state, "first_loaded", &mut child, Duration::from_secs(120));
    std::thread::sleep(Duration::from_millis(100));
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let t0 = Instant::now();
    let code = child.wait().unwrap().code();
    assert!(t0.elapsed() < Duration::from_secs(20), "stopped promptly");
    let mut err = String::new();
    std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut err).unwrap();
    assert_eq!(code, Some(130), "{err}");
    assert!(err.contains("interrupted") && err.contains("--resume"), "{err}");
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM second_loaded"), 0, "the table in flight is rolled back");
    resume_and_check(&src, &db, &state);
}
