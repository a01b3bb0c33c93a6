//! Did the source change while ferry read it?
//!
//! Every reader reads the run's snapshot (`snapshot`), so the copy is one
//! state of the source; but a process still writing to the file during the
//! run means the target lacks what it wrote after the snapshot. A witness
//! connection opened before the snapshot remembers `PRAGMA data_version`,
//! which SQLite changes whenever another connection commits; checked after
//! the load, a change means the run must not report success. (The fix is to
//! stop the application first; a maintenance window exists for that.)

use std::path::Path;

use rusqlite::Connection;

pub struct Watch {
    conn: Connection,
    version: i64,
    counter: Option<u32>,
    path: std::path::PathBuf,
}

impl Watch {
    pub fn start(path: &Path) -> Result<Watch, super::Error> {
        let conn = super::open::open_read_only(path)?;
        let version = data_version(&conn);
        Ok(Watch { conn, version, counter: change_counter(path), path: path.to_path_buf() })
    }

    /// A description of the change, if the source changed since `start`.
    pub fn changed(&self) -> Option<String> {
        let now = data_version(&self.conn);
        if now != self.version {
            return Some(format!(
                "the source {} changed during the run (another process committed to it)",
                self.path.display()
            ));
        }
        let counter = change_counter(&self.path);
        if counter != self.counter {
            return Some(format!(
                "the source {} changed during the run (its file change counter moved from {:?} to {:?})",
                self.path.display(),
                self.counter,
                counter
            ));
        }
        None
    }
}

fn data_version(conn: &Connection) -> i64 {
    // Read outside any transaction so SQLite looks at the file again.
    conn.query_row("PRAGMA data_version", [], |r| r.get(0)).unwrap_or(-1)
}

/// Bytes 24..28 of the header: incremented by every commit in rollback
/// journal mode (in WAL mode only at checkpoints; data_version covers WAL).
fn change_counter(path: &Path) -> Option<u32> {
    use std::io::Read;
    let mut f = std::fs::File::open(path).ok()?;
    let mut header = [0u8; 28];
    f.read_exact(&mut header).ok()?;
    Some(u32::from_be_bytes([header[24], header[25], header[26], header[27]]))
}
