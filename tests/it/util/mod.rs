//! Helpers shared by the integration tests, one module per outside party:
//! `pg` (a throwaway PostgreSQL and a database per test), `cmd` (the built
//! `ferry` binary), `sqlite` (source databases from SQL text or the corpus), `case` (a
//! source from SQL text, a fresh database and `ferry migrate` on them),
//! `python` (the FlashCase app in `fixtures/alembic_app`: its venv, Alembic
//! migrations and data checks; the framework matrix's venv), `framework`
//! (the one round trip of every app of the framework matrix in
//! `fixtures/frameworks`), `runtimes` (Ruby, Node and the cargo-built sqlx
//! app of the matrix), `cluster`
//! (a cluster of its own), `embedded_pg` (server binaries of other
//! PostgreSQL versions).
//!
//! Not every test module uses every helper, hence `dead_code` is allowed here.
#![allow(dead_code)]

pub mod case;
pub mod cluster;
pub mod cmd;
pub mod embedded_pg;
pub mod framework;
pub mod pg;
pub mod python;
pub mod runtimes;
pub mod sqlite;
