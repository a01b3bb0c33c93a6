//! The framework matrix (issue 13): one flow for every application under
//! `fixtures/frameworks/<app>`, each driven by its `run.py`:
//!
//! 1. `run.py prepare`: the framework's own migrations make the SQLite schema
//!    (a file in a temporary directory), the PostgreSQL schema ferry loads
//!    into and a reference PostgreSQL database; the dataset of edge values
//!    is written through the framework into SQLite and into the reference;
//! 2. `ferry migrate SQLITE URL --schema existing`, which must exit 0 with
//!    every table verified; nothing is excluded and no mapping is given;
//! 3. `run.py check`: the framework reads every object back from the three
//!    databases and compares every attribute (`fixtures/frameworks/fwcheck.py`);
//! 4. `run.py create`: one new object of each model on PostgreSQL, whose
//!    integer keys must come after every migrated one.
//!
//! `ferry verify` must find the two databases equal after step 2 and find
//! the new objects as differences after step 4.
//!
//! The app gets the databases as `FW_SQLITE` (a path), `FW_PG` and `FW_REF`
//! (`postgresql://` URLs). Every step panics with its full output on failure.

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::{pg, python};

/// Runs the whole flow above for `fixtures/frameworks/<app>`.
pub fn run_matrix(app: &str) {
    let server = pg::server();
    let target = server.fresh_db(&format!("fw_{app}"));
    let reference = server.fresh_db(&format!("fw_{app}_ref"));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join(format!("{app}.db"));
    let sqlite = sqlite.to_str().expect("temporary paths are UTF-8");
    let envs = [
        ("FW_SQLITE", sqlite),
        ("FW_PG", target.url.as_str()),
        ("FW_REF", reference.url.as_str()),
    ];
    python::framework_run(app, "prepare", &envs);

    let state = dir.path().join("state");
    let out = ferry(&[
        "migrate",
        sqlite,
        &target.url,
        "--schema",
        "existing",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("tables migrated and verified"), "{out}");
    // A separate `verify` agrees.
    assert_code(&ferry(&["verify", sqlite, &target.url]), 0);

    // The notes say which values passed as PostgreSQL's form or as a REAL's
    // exact value; shown with `--nocapture`.
    let check = python::framework_run(app, "check", &envs);
    eprintln!("{}", check.stdout);
    python::framework_run(app, "create", &envs);
    // The new objects are differences `verify` must see.
    let after = ferry(&["verify", sqlite, &target.url]);
    assert_code(&after, 1);
}

/// Runs `run.py limits` of `app` (the framework writes into SQLite only the
/// values PostgreSQL cannot hold; the target gets the schema), then
/// `ferry plan` and `ferry migrate --schema existing`. Returns the plan's and
/// the migration's output and the target database, for the caller to judge.
pub fn run_limits(app: &str) -> (Output, Output, pg::TestDb) {
    let target = pg::server().fresh_db(&format!("fw_{app}_limits"));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join(format!("{app}_limits.db"));
    let sqlite = sqlite.to_str().expect("temporary paths are UTF-8");
    python::framework_run(
        app,
        "limits",
        &[("FW_SQLITE", sqlite), ("FW_PG", target.url.as_str())],
    );
    let plan = ferry(&["plan", sqlite, &target.url, "--schema", "existing"]);
    let state = dir.path().join("state");
    let migrate = ferry(&[
        "migrate",
        sqlite,
        &target.url,
        "--schema",
        "existing",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    (plan, migrate, target)
}
