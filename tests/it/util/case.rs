//! The round most integration tests make: a SQLite source from SQL text in
//! a directory of its own, a fresh PostgreSQL database (with a schema of the
//! test's when it loads into an existing one), `ferry migrate`, and the
//! target read back. [`Case`] holds the three; [`migrate`] and
//! [`migrate_in`] run ferry on any source and database.
//!
//! Every run gets `--state-dir`, so no test writes into the checkout or the
//! user's state: [`migrate`] a directory of its own, deleted afterwards,
//! [`migrate_in`] the one the caller names, for runs that resume or look at
//! the journal.

use std::path::{Path, PathBuf};

use tempfile::TempDir;

use crate::util::cmd::{Output, ferry};
use crate::util::pg::{TestDb, server};
use crate::util::sqlite::db_from_sql;

/// A source database, its directory and a fresh target database.
pub struct Case {
    /// Holds the source and the state directories; removed on drop.
    pub dir: TempDir,
    /// `dir/<name>.db`, made from the SQL text.
    pub src: PathBuf,
    pub db: TestDb,
}

impl Case {
    /// The source `dir/<name>.db` from `sql` and a fresh database for `name`.
    pub fn new(name: &str, sql: &str) -> Case {
        let dir = tempfile::tempdir().expect("creating a temporary directory");
        let src = db_from_sql(dir.path(), &format!("{name}.db"), sql);
        let db = server().fresh_db(name);
        Case { dir, src, db }
    }

    /// Runs `sql` on the target first (the schema of a `--schema existing`
    /// load, say).
    pub fn with_target(self, sql: &str) -> Case {
        self.db.query_strings(sql);
        self
    }

    /// The source's path as an argument.
    pub fn src_arg(&self) -> &str {
        self.src.to_str().expect("temporary paths are UTF-8")
    }

    /// `dir/<name>`, a state directory that stays for the whole case.
    pub fn state(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `ferry migrate SRC URL --state-dir <new directory> EXTRA`.
    pub fn migrate(&self, extra: &[&str]) -> Output {
        migrate(&self.src, &self.db, extra)
    }

    /// `ferry migrate SRC URL --state-dir <dir/state> EXTRA`: every call
    /// with the same `state` shares its journal.
    pub fn migrate_in(&self, state: &str, extra: &[&str]) -> Output {
        migrate_in(&self.src, &self.db, &self.state(state), extra)
    }
}

/// `ferry migrate SRC URL --state-dir DIR EXTRA` with a state directory of
/// its own, removed afterwards.
pub fn migrate(src: &Path, db: &TestDb, extra: &[&str]) -> Output {
    let state = tempfile::tempdir().expect("creating a temporary directory");
    migrate_in(src, db, state.path(), extra)
}

/// `ferry migrate SRC URL --state-dir STATE EXTRA`.
pub fn migrate_in(src: &Path, db: &TestDb, state: impl AsRef<Path>, extra: &[&str]) -> Output {
    let mut args = vec![
        "migrate",
        src.to_str().expect("source paths are UTF-8"),
        db.url.as_str(),
        "--state-dir",
        state.as_ref().to_str().expect("state paths are UTF-8"),
    ];
    args.extend_from_slice(extra);
    ferry(&args)
}
