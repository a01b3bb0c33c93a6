//! SQLite inputs for the tests: small databases built from SQL text, and the
//! shared corpus of real-world files.
//!
//! Most tests describe their source database inline as SQL, which keeps the
//! oddity under test next to the assertion. The corpus (`../shared/corpus`,
//! beside the crate) holds files other people wrote; it is shared and must
//! never be written next to: SQLite creates `-wal` and `-shm` files beside a
//! WAL-mode database even when it is opened read-only, so tests that open a
//! corpus file should use [`corpus_copy`].

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Creates `dir/name` (replacing any file there) by running `sql` on a new
/// SQLite database, and returns its path.
pub fn db_from_sql(dir: &Path, name: &str, sql: &str) -> PathBuf {
    let path = dir.join(name);
    for suffix in ["", "-journal", "-wal", "-shm"] {
        let file = PathBuf::from(format!("{}{suffix}", path.display()));
        if file.exists() {
            fs::remove_file(&file).unwrap_or_else(|e| panic!("removing {}: {e}", file.display()));
        }
    }
    let conn = rusqlite::Connection::open(&path)
        .unwrap_or_else(|e| panic!("creating {}: {e}", path.display()));
    if let Err(e) = conn.execute_batch(sql) {
        panic!(
            "building {}: {e}\n---- sql ----\n{sql}\n-------------",
            path.display()
        );
    }
    conn.close()
        .unwrap_or_else(|(_, e)| panic!("closing {}: {e}", path.display()));
    path
}

/// The corpus file at `rel` (e.g. `"chinook/Chinook_Sqlite.sqlite"`). Open it
/// only with `?immutable=1`; prefer [`corpus_copy`].
///
/// # Panics
///
/// When the file is missing, naming where it was looked for.
pub fn corpus(rel: &str) -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    let path = root.join(rel);
    if !path.is_file() {
        panic!(
            "corpus file {rel:?} not found at {}; the shared corpus is expected at {} \
             (see its README.md and MANIFEST.tsv)",
            path.display(),
            root.display()
        );
    }
    path.canonicalize().unwrap_or(path)
}

/// Copies the corpus file at `rel` into `dir` (keeping its file name, which
/// may contain spaces) and returns the copy, writable so SQLite can put its
/// journal files beside it.
pub fn corpus_copy(rel: &str, dir: &Path) -> PathBuf {
    let source = corpus(rel);
    let copy = dir.join(source.file_name().expect("a corpus file has a name"));
    fs::copy(&source, &copy)
        .unwrap_or_else(|e| panic!("copying {} to {}: {e}", source.display(), copy.display()));
    fs::set_permissions(&copy, fs::Permissions::from_mode(0o644))
        .unwrap_or_else(|e| panic!("chmod {}: {e}", copy.display()));
    copy
}

/// Rows of `sql` on the SQLite file as text (None for NULL, "blob" for a
/// blob), for comparing with what PostgreSQL prints for the same query.
pub fn text_rows(path: &Path, sql: &str) -> Vec<Vec<Option<String>>> {
    let conn = rusqlite::Connection::open(path).expect("open source");
    let mut stmt = conn.prepare(sql).expect("prepare");
    let n = stmt.column_count();
    let rows = stmt
        .query_map([], |r| {
            (0..n)
                .map(|i| {
                    Ok(match r.get_ref(i)? {
                        rusqlite::types::ValueRef::Null => None,
                        rusqlite::types::ValueRef::Integer(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Real(v) => Some(v.to_string()),
                        rusqlite::types::ValueRef::Text(t) => Some(String::from_utf8_lossy(t).into_owned()),
                        rusqlite::types::ValueRef::Blob(_) => Some("blob".into()),
                    })
                })
                .collect()
        })
        .expect("query");
    rows.map(|r| r.expect("row")).collect()
}
