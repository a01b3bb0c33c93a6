//! Opening the SQLite source read-only, with errors a person can act on.
//!
//! We look at the file before SQLite does: SQLite reports a missing file, a
//! directory or a text file in its own vague words, and it *creates* an empty
//! database out of a zero-byte file. After those checks the file is opened
//! through a `file:` URI we build ourselves (every byte outside the URI
//! unreserved set percent-encoded, so spaces, `?`, `#` and `%` in paths work;
//! the bundled SQLite treats any `file:`-prefixed name as a URI, so handing
//! it plain paths would misread a file literally named `file:x`).
//!
//! No `immutable=1`: that would ignore a live `-wal` file and read a stale
//! snapshot. The price is that SQLite may create `-shm`/`-wal` files beside a
//! WAL-mode database, so tests copy the corpus files into a temp dir first.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::error::{Error, Sqlite, is_corrupt, is_not_a_database};

/// The 16 bytes every SQLite 3 database file starts with.
const SQLITE_MAGIC: &[u8; 16] = b"SQLite format 3\0";

/// No memory map: mapped pages of a multi-GB file count in ferry's
/// resident memory, once per connection, and the readers walk each page
/// once, so the kernel's read path costs little. On the scale-1 FlashCase
/// file (404 MB) peak RSS is 85 MiB this way, against 780 MiB with a 1 GiB
/// map (scripts/bench.sh, README).
const MMAP_SIZE: i64 = 0;

/// Page cache per connection, in KiB when negative (8 MiB): a sequential
/// scan needs little, and there is one connection per reader thread.
const CACHE_SIZE_KIB: i64 = -8_192;

/// Open `path` read-only for introspection or reading.
///
/// The connection has `query_only` set, a large mmap window and page cache,
/// and has already read the schema, so a file that is not a database fails
/// here and not in the middle of a later step.
pub fn open_read_only(path: &Path) -> Result<Connection, Error> {
    precheck(path)?;
    let uri = file_uri(path)?;
    let flags = OpenFlags::SQLITE_OPEN_READ_ONLY
        | OpenFlags::SQLITE_OPEN_URI
        | OpenFlags::SQLITE_OPEN_NO_MUTEX;
    let conn = Connection::open_with_flags(&uri, flags).map_err(|e| classify(path, e))?;
    // A concurrent writer may hold a lock for a moment; wait instead of failing.
    conn.busy_timeout(Duration::from_secs(10))
        .map_err(|e| classify(path, e))?;
    conn.execute_batch(&format!(
        "PRAGMA query_only = 1; PRAGMA mmap_size = {MMAP_SIZE}; PRAGMA cache_size = {CACHE_SIZE_KIB};"
    ))
    .map_err(|e| classify(path, e))?;
    conn.query_row("SELECT count(*) FROM sqlite_schema", [], |r| {
        r.get::<_, i64>(0)
    })
    .map_err(|e| classify(path, e))?;
    Ok(conn)
}

/// Existence, kind, size and header, checked before SQLite opens the file.
fn precheck(path: &Path) -> Result<(), Error> {
    let owned = || path.to_path_buf();
    let meta = std::fs::metadata(path).map_err(|source| io_error(path, source))?;
    if meta.is_dir() {
        return Err(Error::IsDirectory { path: owned() });
    }
    if !meta.is_file() {
        return Err(Error::NotAFile { path: owned() });
    }
    if meta.len() == 0 {
        // A WAL database whose content has not been checkpointed yet is
        // still a database; anything else of zero bytes is a mistake.
        if !wal_has_content(path) {
            return Err(Error::Empty { path: owned() });
        }
        return Ok(());
    }
    let mut head = Vec::with_capacity(512);
    std::fs::File::open(path)
        .and_then(|f| f.take(512).read_to_end(&mut head))
        .map_err(|source| io_error(path, source))?;
    if head.starts_with(SQLITE_MAGIC) {
        return check_length(path, &head, meta.len());
    }
    let reason = if looks_like_text(&head) {
        "it is a text file"
    } else {
        "no SQLite header; an encrypted database (e.g. SQLCipher) also looks like this"
    };
    Err(Error::NotADatabase {
        path: owned(),
        reason,
    })
}

/// A file shorter than its header says (a copy cut short, a download
/// that stopped) is refused by name, before SQLite calls it "malformed".
///
/// The header's page count (offset 28) is trusted only when it is marked
/// valid (the version-valid-for number at 92 equals the change counter at
/// 24), as SQLite does; a non-empty `-wal` file may hold the newer pages, so
/// then the check is left to SQLite.
fn check_length(path: &Path, head: &[u8], len: u64) -> Result<(), Error> {
    let owned = || path.to_path_buf();
    if head.len() < 100 {
        return Err(Error::Truncated { path: owned(), detail: format!("the file ends inside the 100-byte header ({len} bytes)") });
    }
    let be32 = |at: usize| u32::from_be_bytes([head[at], head[at + 1], head[at + 2], head[at + 3]]);
    let page_size = match u16::from_be_bytes([head[16], head[17]]) {
        1 => 65_536u64,
        n => u64::from(n),
    };
    let pages = u64::from(be32(28));
    let valid = be32(24) == be32(92) && pages > 0 && page_size.is_power_of_two() && (512..=65_536).contains(&page_size);
    if valid && len < pages * page_size && !wal_has_content(path) {
        return Err(Error::Truncated {
            path: owned(),
            detail: format!(
                "its header says {pages} pages of {page_size} bytes ({} bytes), the file has {len} bytes",
                pages * page_size
            ),
        });
    }
    Ok(())
}

fn io_error(path: &Path, source: std::io::Error) -> Error {
    let path = path.to_path_buf();
    match source.kind() {
        std::io::ErrorKind::NotFound => Error::NotFound { path },
        std::io::ErrorKind::PermissionDenied => Error::PermissionDenied { path, io: source },
        _ => Error::Io { path, source },
    }
}

fn wal_has_content(path: &Path) -> bool {
    std::fs::metadata(beside(path, "-wal")).is_ok_and(|m| m.is_file() && m.len() > 0)
}

/// `path` with `suffix` appended: `x.db` → `x.db-wal`.
fn beside(path: &Path, suffix: &str) -> PathBuf {
    let mut p = path.as_os_str().to_owned();
    p.push(suffix);
    PathBuf::from(p)
}

/// Why SQLite could not open a database in WAL mode, when the reason is one
/// of its side files: an unreadable `-wal`, or no `-shm` and a directory
/// SQLite may not create it in. `None` when neither applies.
fn wal_side_file_problem(path: &Path) -> Option<Error> {
    let owned = || path.to_path_buf();
    let wal = beside(path, "-wal");
    if wal.exists() && let Err(e) = std::fs::File::open(&wal) {
        return Some(Error::WalUnreadable { path: owned(), wal, source: e });
    }
    let shm = beside(path, "-shm");
    let is_wal_mode = {
        let mut head = [0u8; 20];
        std::fs::File::open(path).and_then(|mut f| f.read_exact(&mut head)).is_ok() && head[18] == 2
    };
    if is_wal_mode && !shm.exists() {
        let dir = std::path::absolute(path).ok()?.parent()?.to_path_buf();
        if !dir_writable(&dir) {
            return Some(Error::WalNeedsShm { path: owned(), dir });
        }
    }
    None
}

/// Can this process create a file in `dir`? Asked of the kernel (access(2)
/// semantics through a probe), since permission bits do not tell for root,
/// ACLs or read-only mounts.
fn dir_writable(dir: &Path) -> bool {
    let probe = dir.join(format!(".ferry-probe-{}", std::process::id()));
    match std::fs::OpenOptions::new().write(true).create_new(true).open(&probe) {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            true
        }
        Err(e) => e.kind() == std::io::ErrorKind::AlreadyExists,
    }
}

/// No NUL bytes and valid UTF-8 (allowing a character cut at the end of the
/// sample): a text file such as a SQL dump or a CSV.
fn looks_like_text(head: &[u8]) -> bool {
    if head.contains(&0) {
        return false;
    }
    match std::str::from_utf8(head) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}

/// Map a SQLite failure while opening to what it means for this file.
fn classify(path: &Path, source: rusqlite::Error) -> Error {
    let path = path.to_path_buf();
    if is_not_a_database(&source) {
        Error::Unsupported {
            path,
            source: Sqlite(Box::new(source)),
        }
    } else if is_corrupt(&source) {
        Error::Corrupt {
            path,
            source: Sqlite(Box::new(source)),
        }
    } else if let Some(e) = (source.sqlite_error_code() == Some(rusqlite::ErrorCode::CannotOpen))
        .then(|| wal_side_file_problem(&path))
        .flatten()
    {
        e
    } else {
        Error::Open {
            path,
            source: Sqlite(Box::new(source)),
        }
    }
}

/// `file:` URI for `path`: absolute, with every byte outside the URI
/// unreserved set (and `/`) percent-encoded.
pub fn file_uri(path: &Path) -> Result<String, Error> {
    let abs = std::path::absolute(path).map_err(|source| io_error(path, source))?;
    let mut uri = String::from("file://");
    for &b in path_bytes(&abs).iter() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~' | b'/') {
            uri.push(b as char);
        } else {
            uri.push_str(&format!("%{b:02X}"));
        }
    }
    Ok(uri)
}

#[cfg(unix)]
fn path_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    use std::os::unix::ffi::OsStrExt;
    std::borrow::Cow::Borrowed(p.as_os_str().as_bytes())
}

#[cfg(not(unix))]
fn path_bytes(p: &Path) -> std::borrow::Cow<'_, [u8]> {
    // SQLite URIs use `/`; on Windows `file:///C:/dir/x.db`.
    let s = p.to_string_lossy().replace('\\', "/");
    let s = if s.starts_with('/') {
        s
    } else {
        format!("/{s}")
    };
    std::borrow::Cow::Owned(s.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uri_escapes_everything_but_unreserved() {
        let uri = file_uri(Path::new("/tmp/my db?#%.sqlite")).unwrap();
        assert_eq!(uri, "file:///tmp/my%20db%3F%23%25.sqlite");
        let uri = file_uri(Path::new("/tmp/file:x")).unwrap();
        assert_eq!(uri, "file:///tmp/file%3Ax");
    }

    #[test]
    fn text_detection() {
        assert!(looks_like_text(b"CREATE TABLE t(x);\n"));
        assert!(looks_like_text("caf\u{e9}".as_bytes()));
        assert!(looks_like_text(&"é".as_bytes()[..1])); // cut at the sample end
        assert!(!looks_like_text(b"\x00\x01\x02"));
        assert!(!looks_like_text(b"\xff\xfe\x00a"));
    }

    #[test]
    fn odd_file_names_open() {
        let dir = tempfile::tempdir().unwrap();
        for name in ["my db.sqlite", "a?b#c%d.db", "file:x.db", "ü n i.db"] {
            let p = dir.path().join(name);
            let c = Connection::open(&p).unwrap();
            c.execute_batch("CREATE TABLE t(x); INSERT INTO t VALUES (1);")
                .unwrap();
            drop(c);
            let c = open_read_only(&p).unwrap();
            let n: i64 = c
                .query_row("SELECT count(*) FROM t", [], |r| r.get(0))
                .unwrap();
            assert_eq!(n, 1, "{name}");
            assert!(c.execute("INSERT INTO t VALUES (2)", []).is_err());
        }
    }

    #[test]
    fn not_databases() {
        let dir = tempfile::tempdir().unwrap();
        let empty = dir.path().join("empty.db");
        std::fs::write(&empty, b"").unwrap();
        assert!(matches!(open_read_only(&empty), Err(Error::Empty { .. })));
        assert_eq!(
            std::fs::metadata(&empty).unwrap().len(),
            0,
            "left untouched"
        );
        let text = dir.path().join("dump.sql");
        std::fs::write(&text, b"CREATE TABLE t(x);\n").unwrap();
        assert!(matches!(
            open_read_only(&text),
            Err(Error::NotADatabase {
                reason: "it is a text file",
                ..
            })
        ));
        let noise = dir.path().join("noise.db");
        std::fs::write(
            &noise,
            (0..4096u32)
                .map(|i| (i * 7919 % 251) as u8)
                .collect::<Vec<_>>(),
        )
        .unwrap();
        assert!(matches!(
            open_read_only(&noise),
            Err(Error::NotADatabase { .. })
        ));
        assert!(matches!(
            open_read_only(dir.path()),
            Err(Error::IsDirectory { .. })
        ));
        assert!(matches!(
            open_read_only(&dir.path().join("missing.db")),
            Err(Error::NotFound { .. })
        ));
        // Right magic, garbage after it.
        let bad = dir.path().join("bad.db");
        let mut bytes = SQLITE_MAGIC.to_vec();
        bytes.extend(std::iter::repeat_n(0xA5u8, 4096));
        std::fs::write(&bad, bytes).unwrap();
        let e = open_read_only(&bad).unwrap_err();
        assert!(
            matches!(e, Error::Unsupported { .. } | Error::Corrupt { .. }),
            "{e:?}"
        );
    }
}
