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
//! built by `util::runtimes::sqlx_app`; `util::framework` has the round trip
//! every app of the matrix goes through.

use crate::util::framework::{App, PG, REF, Runtime, SQLITE, round_trip};

#[test]
fn sqlx_app_reads_back_every_field_it_wrote_to_sqlite() {
    round_trip(&App {
        name: "sqlx",
        runtime: Runtime::CargoSqlx,
        env: &[],
        prepare: &[
            &["sqlite-setup", SQLITE],
            &["pg-setup", PG],
            &["pg-setup", REF],
            &["pg-write", REF],
        ],
        compare: &["compare", SQLITE, PG, REF],
        create: &["fresh", PG],
        history_sql: "SELECT version::text || ' ' || description || ' ' || success::text || ' ' \
                      || installed_on::text FROM _sqlx_migrations ORDER BY version",
        history_rows: 2,
        compared: "compared 19 rows: 0 differences",
    });
}
