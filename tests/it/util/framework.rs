//! The framework matrix (issue 13): one round trip for every application
//! under `fixtures/frameworks/<app>`, whatever language it is written in.
//! An [`App`] says how to run the app (its [`Runtime`]) and which of its own
//! commands do each step; [`round_trip`] runs the steps and makes the same
//! assertions for every app:
//!
//! 1. *prepare*: the framework's own migrations make the SQLite schema (a
//!    file in a temporary directory), the PostgreSQL schema ferry loads into
//!    and a reference PostgreSQL database; the dataset of edge values is
//!    written through the framework into SQLite and into the reference. The
//!    framework's migration history on the target must then hold
//!    [`App::history_rows`] rows; it and the target's catalog (columns,
//!    constraints, indexes) are kept.
//! 2. `ferry migrate SQLITE URL --schema existing`: exit 0 with every table
//!    verified; nothing is excluded and no mapping is given. The catalog and
//!    the history must be exactly what the framework made (the history is
//!    on both sides, as after any deploy: ferry must leave the target's own);
//!    a separate `ferry verify` must find the two databases equal.
//! 3. *compare*: the framework reads every object back from the three
//!    databases and compares every attribute; its summary must contain
//!    [`App::compared`] (how much it compared: a dataset read back empty
//!    would otherwise pass).
//! 4. *create*: one new object of each model on PostgreSQL, whose integer
//!    keys must come after every migrated one (the app checks). The history
//!    is still the framework's, and `ferry verify` must now see the new
//!    objects as differences (exit 1).
//!
//! An app command gets the databases both as arguments (the placeholders
//! [`SQLITE`], [`PG`], [`REF`] in its argument lists) and as the variables
//! `FW_SQLITE` (a path), `FW_PG`, `FW_REF` (`postgresql://` URLs). Every
//! step panics with the command's full output unless it exits 0.

use std::path::{Path, PathBuf};

use crate::util::cmd::{Output, assert_code, ferry};
use crate::util::python::{self, run_python};
use crate::util::{pg, runtimes};

/// Placeholder for the SQLite file in an app's arguments.
pub const SQLITE: &str = "{sqlite}";
/// Placeholder for the target database's URL.
pub const PG: &str = "{pg}";
/// Placeholder for the reference database's URL.
pub const REF: &str = "{ref}";

/// How an app of the matrix runs; its files are `fixtures/frameworks/<name>`.
pub enum Runtime {
    /// `python ARGS` in the matrix's venv ([`python::framework_venv`]).
    Python,
    /// `ruby ARGS` with ActiveRecord ([`runtimes::run_ruby`]).
    Ruby,
    /// `node ARGS` with the app's npm packages ([`runtimes::run_node`]).
    Node,
    /// The app's own executable, built with cargo ([`runtimes::sqlx_app`]).
    CargoSqlx,
}

/// One application of the matrix and its commands for the steps of
/// [`round_trip`]; every command is an argument list for the runtime.
pub struct App {
    /// The folder under `fixtures/frameworks`, also the databases' prefix.
    pub name: &'static str,
    pub runtime: Runtime,
    /// Variables the app runs with (its time zone, say).
    pub env: &'static [(&'static str, &'static str)],
    /// Makes the three schemas and writes the dataset into SQLite and the reference.
    pub prepare: &'static [&'static [&'static str]],
    /// Reads everything back from the three databases and compares.
    pub compare: &'static [&'static str],
    /// Creates new objects on the target.
    pub create: &'static [&'static str],
    /// The framework's migration history on the target, one text row per migration,
    /// with what tells two runs apart (when it was applied), so a history copied from
    /// SQLite shows.
    pub history_sql: &'static str,
    /// How many rows [`App::history_sql`] returns after the framework's migrations.
    pub history_rows: usize,
    /// Text the summary of [`App::compare`] must contain.
    pub compared: &'static str,
}

/// The target's catalog in the public schema: every column with its type,
/// nullability, default and identity; every constraint with its definition
/// and validity; every index.
const CATALOG: &str = "\
    SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) \
           || ' ' || convalidated::text \
      FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
    UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
    UNION ALL SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' \
           || is_nullable || ' ' || coalesce(column_default, '') || ' ' || is_identity || ' ' \
           || coalesce(identity_generation, '') \
      FROM information_schema.columns WHERE table_schema = 'public' \
    ORDER BY 1";

/// The three databases of one run.
struct Dbs<'a> {
    sqlite: &'a str,
    pg: &'a str,
    reference: &'a str,
}

impl App {
    /// `fixtures/frameworks/<name>`.
    pub fn dir(&self) -> PathBuf {
        runtimes::app_dir(self.name)
    }

    /// Runs one command of the app with the placeholders filled in; panics
    /// unless it exits 0. Returns its stdout, which is also printed (shown
    /// with `--nocapture`: the notes say which values passed as
    /// PostgreSQL's form).
    fn step(&self, args: &[&str], dbs: &Dbs) -> String {
        let args: Vec<&str> = args
            .iter()
            .map(|a| match *a {
                SQLITE => dbs.sqlite,
                PG => dbs.pg,
                REF => dbs.reference,
                other => other,
            })
            .collect();
        let mut env = vec![
            ("FW_SQLITE", dbs.sqlite),
            ("FW_PG", dbs.pg),
            ("FW_REF", dbs.reference),
        ];
        env.extend_from_slice(self.env);
        let out = self.run(&args, &env);
        out.assert_success();
        eprintln!("{}", out.stdout.trim_end());
        out.stdout
    }

    fn run(&self, args: &[&str], env: &[(&str, &str)]) -> python::Output {
        let dir = self.dir();
        match self.runtime {
            Runtime::Python => run_python(&python::framework_venv(), args, &dir, env),
            Runtime::Ruby => runtimes::run_ruby(args, &dir, env),
            Runtime::Node => runtimes::run_node(self.name, args, &dir, env),
            Runtime::CargoSqlx => runtimes::run_program(runtimes::sqlx_app(), args, &dir, env),
        }
    }
}

/// Runs the round trip of the module docs for `app`.
pub fn round_trip(app: &App) {
    let server = pg::server();
    let target = server.fresh_db(&format!("fw_{}", app.name));
    let reference = server.fresh_db(&format!("fw_{}_ref", app.name));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join(format!("{}.db", app.name));
    let dbs = Dbs {
        sqlite: sqlite.to_str().expect("temporary paths are UTF-8"),
        pg: &target.url,
        reference: &reference.url,
    };

    for command in app.prepare {
        app.step(command, &dbs);
    }
    let history = target.query_strings(app.history_sql);
    assert_eq!(
        history.len(),
        app.history_rows,
        "the framework's migration history on the target: {history:?}"
    );
    let catalog = target.query_strings(CATALOG);

    let out = migrate(dbs.sqlite, &target.url, dir.path());
    assert_code(&out, 0);
    assert!(out.stderr.contains("tables migrated and verified"), "{out}");
    assert_eq!(
        target.query_strings(CATALOG),
        catalog,
        "the schema must be exactly what the framework's migrations made"
    );
    assert_eq!(
        target.query_strings(app.history_sql),
        history,
        "the target's migration history must be the one the framework wrote there"
    );
    assert_code(&ferry(&["verify", dbs.sqlite, &target.url]), 0);

    let compared = app.step(app.compare, &dbs);
    assert!(
        compared.contains(app.compared),
        "the comparison's summary does not say {:?}:\n{compared}",
        app.compared
    );

    app.step(app.create, &dbs);
    assert_eq!(target.query_strings(app.history_sql), history);
    // The new objects are differences `verify` must see.
    assert_code(&ferry(&["verify", dbs.sqlite, &target.url]), 1);
}

/// `ferry migrate SQLITE URL --schema existing` with its state under `dir`.
fn migrate(sqlite: &str, url: &str, dir: &Path) -> Output {
    let state = dir.join("state");
    ferry(&[
        "migrate",
        sqlite,
        url,
        "--schema",
        "existing",
        "--state-dir",
        state.to_str().expect("temporary paths are UTF-8"),
    ])
}

/// Runs `command` of `app` (the framework writes into SQLite only the values
/// PostgreSQL cannot hold; the target gets the schema), then `ferry plan`
/// and `ferry migrate --schema existing`. Returns the plan's and the
/// migration's output and the target database, for the caller to judge.
pub fn run_limits(app: &App, command: &[&str]) -> (Output, Output, pg::TestDb) {
    let target = pg::server().fresh_db(&format!("fw_{}_limits", app.name));
    let dir = tempfile::tempdir().unwrap();
    let sqlite = dir.path().join(format!("{}_limits.db", app.name));
    let sqlite = sqlite.to_str().expect("temporary paths are UTF-8");
    let dbs = Dbs {
        sqlite,
        pg: &target.url,
        // No reference: the app writes only into SQLite and makes the target's schema.
        reference: "",
    };
    app.step(command, &dbs);
    let plan = ferry(&["plan", sqlite, &target.url, "--schema", "existing"]);
    let migrate = migrate(sqlite, &target.url, dir.path());
    (plan, migrate, target)
}
