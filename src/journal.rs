//! The run journal: what a `ferry migrate` has finished, written as it goes,
//! so that `ferry migrate --resume` after any failure (ferry killed, server
//! restarted, network cut) skips the tables that are committed and redoes
//! the rest. A table is recorded only after its transaction committed; the
//! resumed run still ends with a full verification of every table.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct RunJournal {
    pub source: String,
    pub target: String,
    pub schema: String,
    /// `create` or `existing`.
    pub mode: String,
    /// Create mode: the tables were created (by this run or an earlier one).
    pub tables_created: bool,
    /// Committed tables: source name → rows loaded.
    pub done: BTreeMap<String, u64>,
    /// The run ended (verified or not); a finished journal is not resumed.
    pub finished: bool,
    /// Existing mode: the target's catalog (`target::catalog::snapshot`)
    /// before the first of these runs set anything aside. A resumed run
    /// restores and compares against it, not against the state an earlier
    /// stop left (foreign keys back `NOT VALID`, say).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schema_before: Option<Vec<String>>,
}

pub fn path(state_dir: &Path, target: &str, schema: &str) -> PathBuf {
    let id = blake3::hash(format!("{target}|{schema}").as_bytes()).to_hex();
    state_dir.join(format!("run-{}.json", &id[..16]))
}

pub fn read(path: &Path) -> anyhow::Result<Option<RunJournal>> {
    match std::fs::read(path) {
        Ok(b) => Ok(Some(serde_json::from_slice(&b).map_err(|e| {
            anyhow::anyhow!("the run journal {} is unreadable: {e}", path.display())
        })?)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(anyhow::anyhow!("cannot read the run journal {}: {e}", path.display())),
    }
}

/// A journal being written by a run: every update is made durable before
/// the call returns (write to a temporary file, fsync, rename). Nothing is
/// written before the first update, so a run refused before it touches
/// the target leaves an earlier run's journal as it was.
#[derive(Debug)]
pub struct Writer {
    path: PathBuf,
    state: Mutex<RunJournal>,
}

impl Writer {
    pub fn new(path: PathBuf, journal: RunJournal) -> anyhow::Result<Writer> {
        Ok(Writer { path, state: Mutex::new(journal) })
    }

    pub fn snapshot(&self) -> RunJournal {
        self.state.lock().expect("journal lock").clone()
    }

    pub fn update(&self, f: impl FnOnce(&mut RunJournal)) -> anyhow::Result<()> {
        let mut j = self.state.lock().expect("journal lock");
        f(&mut j);
        write_durably(&self.path, &serde_json::to_vec_pretty(&*j)?)
            .map_err(|e| anyhow::anyhow!("cannot write the run journal {}: {e}", self.path.display()))
    }
}

/// Replace `path` with `bytes` so that a crash leaves the old or the new
/// content, never a torn file: write a temporary file beside it, fsync,
/// rename. Both journals (runs, keys set aside) are written this way.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
