//! One consistent state of the source for the whole run.
//!
//! ferry reads a table with several threads, each on its own connection,
//! and reads the schema, the profile and the rows at different moments. If
//! another process commits to the file meanwhile, those readers would each
//! see a different state, and the copy would be one that never existed (a
//! transfer between two accounts seen half). So a run first takes a
//! snapshot, and every source connection it opens afterwards
//! ([`open_in_snapshot`]) reads that same state:
//!
//! - **WAL mode**: a pin connection opens a read transaction and takes
//!   `sqlite3_snapshot_get`; every other connection starts its read
//!   transaction on it with `sqlite3_snapshot_open`. Writers go on; the
//!   pin's open read transaction stops checkpoints from overwriting the
//!   pages the snapshot needs. (SQLite is built with
//!   `SQLITE_ENABLE_SNAPSHOT`, see `.cargo/config.toml`.)
//! - **Rollback-journal mode**: the pin's read transaction holds a SHARED
//!   lock, so no writer can commit until the run ends: every connection
//!   sees the state of the moment the pin was taken. Writers wait (their
//!   busy timeout) or fail with "database is locked".
//!
//! Chosen over copying the file first through the backup API, which costs a
//! full extra write of the database before the first row moves (the scale-1
//! benchmark file is 404 MB) and, for a database still being written, does
//! the same thing with more I/O. Every reader keeps its read transaction
//! open until its thread ends; that is the snapshot.
//!
//! Whether the source changed after the snapshot is a separate question,
//! answered by `watch`: the target then lacks those writes, and the run says
//! so and does not report success.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, Weak};

use rusqlite::{ffi, Connection};

use super::error::{Error, Sqlite};

/// The run's snapshot of one source file. Dropping it ends the pin's read
/// transaction; connections already attached keep their own.
pub struct Snapshot {
    path: PathBuf,
    generation: u64,
    wal: Option<WalSnapshot>,
    // Declared last: dropped after the WAL snapshot object is freed. Only
    // held, never used again (the Mutex makes the snapshot shareable).
    _pin: Mutex<Connection>,
}

/// `sqlite3_snapshot*`: an immutable record of a WAL position, which SQLite
/// lets any connection to the same file open; freed once, in `Drop`.
struct WalSnapshot(*mut ffi::sqlite3_snapshot);

// SAFETY: the snapshot object is written only by sqlite3_snapshot_get,
// before it is shared; afterwards sqlite3_snapshot_open only reads it, from
// any connection, and it is freed once when the last owner drops it.
unsafe impl Send for WalSnapshot {}
unsafe impl Sync for WalSnapshot {}

static GENERATION: AtomicU64 = AtomicU64::new(1);
static ACTIVE: Mutex<Vec<Weak<Snapshot>>> = Mutex::new(Vec::new());

impl Snapshot {
    /// Pin the current state of `path`; source connections opened with
    /// [`open_in_snapshot`] read it until the returned value is dropped.
    pub fn take(path: &Path) -> Result<Arc<Snapshot>, Error> {
        let pin = super::open::open_read_only(path)?;
        let fail = |e: rusqlite::Error| Error::Open { path: path.to_path_buf(), source: Sqlite(Box::new(e)) };
        let mode: String = pin.query_row("PRAGMA journal_mode", [], |r| r.get(0)).map_err(fail)?;
        pin.execute_batch("BEGIN").map_err(fail)?;
        pin.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map_err(fail)?;
        let wal = if mode.eq_ignore_ascii_case("wal") {
            let mut snap: *mut ffi::sqlite3_snapshot = std::ptr::null_mut();
            // SAFETY: the handle is the pin's open connection, which has a
            // read transaction open (required); `snap` receives a new object.
            let rc = unsafe { ffi::sqlite3_snapshot_get(pin.handle(), c"main".as_ptr(), &mut snap) };
            // SQLite has no snapshot of a WAL that no transaction has been
            // written to since it was created (a copied file, a read-only
            // directory): the readers then see the database file, and a
            // writer that commits during the run is caught by `watch`.
            (rc == ffi::SQLITE_OK).then_some(WalSnapshot(snap))
        } else {
            None
        };
        let s = Arc::new(Snapshot {
            path: path.to_path_buf(),
            generation: GENERATION.fetch_add(1, Ordering::Relaxed),
            wal,
            _pin: Mutex::new(pin),
        });
        let mut active = ACTIVE.lock().expect("snapshot registry lock");
        active.retain(|w| w.strong_count() > 0);
        active.push(Arc::downgrade(&s));
        Ok(s)
    }

    /// Start `conn`'s read transaction on this snapshot. `conn` must be a
    /// fresh connection to the same file with no transaction open.
    fn attach(&self, conn: &Connection) -> Result<(), Error> {
        let fail = |e: rusqlite::Error| Error::Open { path: self.path.clone(), source: Sqlite(Box::new(e)) };
        conn.execute_batch("BEGIN").map_err(fail)?;
        match &self.wal {
            Some(snap) => {
                // SAFETY: `conn` is open, inside BEGIN with no read
                // transaction yet (as sqlite3_snapshot_open requires), and
                // `snap` lives as long as `self`.
                let rc = unsafe { ffi::sqlite3_snapshot_open(conn.handle(), c"main".as_ptr(), snap.0) };
                if rc != ffi::SQLITE_OK {
                    let _ = conn.execute_batch("ROLLBACK");
                    return Err(fail(rusqlite::Error::SqliteFailure(
                        ffi::Error::new(rc),
                        Some("opening the run's snapshot of the source".into()),
                    )));
                }
            }
            None => {
                conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| r.get::<_, i64>(0)).map_err(fail)?;
            }
        }
        Ok(())
    }

    /// Whether readers attach to a WAL snapshot (writers may go on).
    pub fn is_wal(&self) -> bool {
        self.wal.is_some()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        if let Some(snap) = self.wal.take() {
            // SAFETY: allocated by sqlite3_snapshot_get, freed exactly once.
            unsafe { ffi::sqlite3_snapshot_free(snap.0) };
        }
    }
}

/// The live snapshot of `path`, if a run took one.
fn active(path: &Path) -> Option<Arc<Snapshot>> {
    let active = ACTIVE.lock().expect("snapshot registry lock");
    active.iter().rev().filter_map(Weak::upgrade).find(|s| s.path == path)
}

/// The generation of the live snapshot of `path` (0: none), so that cached
/// connections made for an earlier snapshot are not reused.
pub fn generation(path: &Path) -> u64 {
    active(path).map_or(0, |s| s.generation)
}

/// Open `path` read-only, inside the run's snapshot when there is one.
pub fn open_in_snapshot(path: &Path) -> Result<(Connection, u64), Error> {
    let mut conn = super::open::open_read_only(path)?;
    // Ctrl-C/SIGTERM stop a long statement (a profile, a plan's duplicate
    // search) too, not only the row loops that check the flag.
    let _ = conn.progress_handler(100_000, Some(crate::interrupt::requested));
    match active(path) {
        Some(s) => {
            s.attach(&conn)?;
            Ok((conn, s.generation))
        }
        None => Ok((conn, 0)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn count(c: &Connection) -> i64 {
        c.query_row("SELECT count(*) FROM t", [], |r| r.get(0)).unwrap()
    }

    #[test]
    fn wal_readers_see_the_snapshot_while_a_writer_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let snap = Snapshot::take(&path).unwrap();
        assert!(snap.is_wal());
        w.execute("INSERT INTO t VALUES (2)", []).unwrap();
        // Opened after the commit, still the state of the snapshot.
        let (r, generation) = open_in_snapshot(&path).unwrap();
        assert_eq!(generation, snap.generation);
        assert_eq!(count(&r), 1);
        // A checkpoint cannot take the snapshot's pages away.
        w.execute_batch("PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
        let (r2, _) = open_in_snapshot(&path).unwrap();
        assert_eq!(count(&r2), 1);
        drop((r, r2, snap));
        assert_eq!(super::generation(&path), 0);
        let (fresh, _) = open_in_snapshot(&path).unwrap();
        assert_eq!(count(&fresh), 2, "without a snapshot, the latest state");
    }

    #[test]
    fn rollback_mode_writers_wait_for_the_run() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.db");
        let w = Connection::open(&path).unwrap();
        w.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        let snap = Snapshot::take(&path).unwrap();
        assert!(!snap.is_wal());
        w.busy_timeout(std::time::Duration::from_millis(50)).unwrap();
        assert!(w.execute("INSERT INTO t VALUES (2)", []).is_err(), "the pin's lock holds writers off");
        let (r, _) = open_in_snapshot(&path).unwrap();
        assert_eq!(count(&r), 1);
        drop((r, snap));
        w.execute("INSERT INTO t VALUES (2)", []).unwrap();
    }

    #[test]
    fn a_wal_file_with_no_transaction_yet_is_read_without_a_wal_snapshot() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("copied.db");
        {
            let w = Connection::open(&path).unwrap();
            w.execute_batch("PRAGMA journal_mode = WAL; CREATE TABLE t (x); INSERT INTO t VALUES (1);").unwrap();
        }
        // Closing the last connection checkpointed and removed the WAL.
        assert!(!dir.path().join("copied.db-wal").exists());
        let snap = Snapshot::take(&path).unwrap();
        assert!(!snap.is_wal());
        let (r, _) = open_in_snapshot(&path).unwrap();
        assert_eq!(count(&r), 1);
    }
}
