//! The framework matrix, sqlx (issue 13): the app in
//! `fixtures/frameworks/sqlx` makes its SQLite schema with sqlx's migrator
//! and writes a dataset of edge values through sqlx's encoders; its
//! PostgreSQL migrations make the target schema; `ferry migrate --schema
//! existing` loads the one into the other; the app then reads every row back
//! from both databases and compares every field (instants as instants,
//! floats bit for bit, JSON by value; where PostgreSQL itself changes a
//! value's form, against a reference database the app wrote straight to),
//! and creates one new object per model on PostgreSQL (fresh keys).
//!
//! The app is its own cargo project (not a member of ferry's workspace),
//! built here with `cargo build --release --locked --target-dir
//! target/fw-sqlx`: cargo caches the build and locks its target directory, so
//! later runs and concurrent processes only check it is fresh. A build that
//! fails fails the test with cargo's output.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::cmd::{assert_code, ferry};
use crate::util::pg::{TestServer, server};

/// Builds the app (cached) and returns its executable.
fn app() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .expect("CARGO_TARGET_TMPDIR has a parent")
        .join("fw-sqlx");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
    let out = Command::new(&cargo)
        .args(["build", "--release", "--locked", "--manifest-path"])
        .arg(manifest_dir.join("fixtures/frameworks/sqlx/Cargo.toml"))
        .arg("--target-dir")
        .arg(&target)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .output()
        .unwrap_or_else(|e| panic!("running {cargo}: {e}"));
    assert!(
        out.status.success(),
        "building the sqlx app failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    target.join("release/ferry-fw-sqlx")
}

/// Runs the app; returns its stdout, panicking with everything it printed
/// unless it exits 0.
fn run(app: &Path, args: &[&str]) -> String {
    let out = Command::new(app)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", app.display()));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "ferry-fw-sqlx {} exited with {}:\n{stdout}{}",
        args.first().copied().unwrap_or(""),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

#[test]
fn sqlx_app_reads_back_every_field_it_wrote_to_sqlite() {
    sqlx_round_trip(server());
}

/// The body of the test above, on any server.
pub fn sqlx_round_trip(server: &TestServer) {
    let app = app();
    let dir = tempfile::tempdir().unwrap();
    let lite = dir.path().join("app.db");
    let lite = lite.to_str().unwrap();
    run(&app, &["sqlite-setup", lite]);

    let db = server.fresh_db("fw_sqlx");
    let reference = server.fresh_db("fw_sqlx_reference");
    run(&app, &["pg-setup", &db.url]);
    run(&app, &["pg-setup", &reference.url]);
    run(&app, &["pg-write", &reference.url]);
    let migrations = "SELECT version::text || ' ' || description || ' ' || success::text FROM _sqlx_migrations ORDER BY version";
    let history = db.query_strings(migrations);
    assert_eq!(history.len(), 2, "{history:?}");

    let catalog = "SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated::text \
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' \
           || coalesce(column_default, '') || ' ' || is_identity || ' ' || coalesce(identity_generation, '') \
           FROM information_schema.columns WHERE table_schema = 'public' \
         ORDER BY 1";
    let schema = db.query_strings(catalog);
    let state = dir.path().join("state");
    let out = ferry(&[
        "migrate",
        lite,
        &db.url,
        "--schema",
        "existing",
        "--state-dir",
        state.to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    assert_eq!(
        db.query_strings(catalog),
        schema,
        "the schema must be exactly what sqlx's migrations made"
    );

    let compared = run(&app, &["compare", lite, &db.url, &reference.url]);
    eprintln!("{compared}");
    assert!(
        compared.contains("compared 19 rows: 0 differences"),
        "{compared}"
    );
    let fresh = run(&app, &["fresh", &db.url]);
    eprintln!("{fresh}");
    // sqlx's own bookkeeping on PostgreSQL is what its migrator wrote there.
    assert_eq!(db.query_strings(migrations), history);
}
