//! The password file, as libpq reads it: `PGPASSFILE` (or the `passfile`
//! connection key), else `~/.pgpass`.
//!
//! A password there, or in `PGPASSWORD`, keeps it out of the command line,
//! where every user of the machine can read it with `ps`. The format and the
//! rules are libpq's (PostgreSQL docs, "The Password File"): one
//! `hostname:port:database:username:password` per line, `*` matches
//! anything in the first four fields, `\` escapes `:` and `\`, lines starting
//! with `#` are comments, the first matching line wins. A connection over a
//! Unix socket matches the host name `localhost`. The file is ignored, with a
//! warning, when it is not a plain file or when group or others may read it
//! (mode must be 0600 or stricter), as libpq does.

use std::path::{Path, PathBuf};

/// What a lookup is for: the connection's host, port, database and user.
#[derive(Debug, Clone, Copy)]
pub struct Key<'a> {
    pub host: &'a str,
    pub port: u16,
    pub dbname: &'a str,
    pub user: &'a str,
}

/// The file libpq would read: `explicit` (the `passfile` key), else
/// `PGPASSFILE`, else `$HOME/.pgpass`.
pub fn default_path(explicit: Option<&str>) -> Option<PathBuf> {
    if let Some(p) = explicit.filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    if let Some(p) = std::env::var_os("PGPASSFILE").filter(|p| !p.is_empty()) {
        return Some(PathBuf::from(p));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".pgpass"))
}

/// The password for `key` in `path`. `Ok(None)` when the file does not
/// exist or has no matching line; `Err` carries a warning to show (the file
/// is ignored, as libpq ignores it).
pub fn lookup(path: &Path, key: Key<'_>) -> Result<Option<String>, String> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(format!("password file {path:?} cannot be read ({e}); ignored")),
    };
    if !meta.is_file() {
        return Err(format!("password file {path:?} is not a plain file; ignored"));
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        if meta.permissions().mode() & 0o077 != 0 {
            return Err(format!(
                "password file {path:?} has group or world access; permissions should be u=rw (0600) or less; ignored"
            ));
        }
    }
    let text = std::fs::read(path).map_err(|e| format!("password file {path:?} cannot be read ({e}); ignored"))?;
    Ok(find(&String::from_utf8_lossy(&text), key))
}

/// The first line of `text` matching `key`.
pub fn find(text: &str, key: Key<'_>) -> Option<String> {
    // A Unix-socket directory (or no host) matches `localhost`.
    let host = if key.host.is_empty() || key.host.starts_with('/') { "localhost" } else { key.host };
    let port = key.port.to_string();
    let wanted = [host, port.as_str(), key.dbname, key.user];
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let Some(fields) = fields(line) else { continue };
        let matches = fields[..4].iter().zip(wanted).all(|(f, w)| f == "*" || f == w);
        if matches {
            return Some(fields[4].clone());
        }
    }
    None
}

/// The five fields of a line, unescaped; `None` if there are fewer.
fn fields(line: &str) -> Option<[String; 5]> {
    let mut out: [String; 5] = Default::default();
    let mut i = 0;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(n) = chars.next() {
                    out[i].push(n);
                }
            }
            ':' if i < 4 => i += 1,
            // libpq ends the password at an unescaped colon too.
            ':' => break,
            c => out[i].push(c),
        }
    }
    (i == 4).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key<'a>(host: &'a str, port: u16, dbname: &'a str, user: &'a str) -> Key<'a> {
        Key { host, port, dbname, user }
    }

    #[test]
    fn matching_follows_libpq() {
        let file = "# comment\n\
                    db.example:5432:app:bob:first\n\
                    *:5433:*:bob:second\n\
                    localhost:*:*:alice:sock\\:et\n\
                    h\\:x:*:*:*:escaped\\\\pw\n\
                    short:line\n\
                    *:*:*:*:fallback:with:colons\n";
        assert_eq!(find(file, key("db.example", 5432, "app", "bob")).as_deref(), Some("first"));
        assert_eq!(find(file, key("db.example", 5433, "app", "bob")).as_deref(), Some("second"));
        assert_eq!(find(file, key("/run/postgresql", 5432, "x", "alice")).as_deref(), Some("sock:et"));
        assert_eq!(find(file, key("", 5432, "x", "alice")).as_deref(), Some("sock:et"));
        assert_eq!(find(file, key("h:x", 1, "d", "u")).as_deref(), Some("escaped\\pw"));
        assert_eq!(find(file, key("other", 1, "d", "u")).as_deref(), Some("fallback"));
        assert_eq!(find("db:5432:app:bob:pw\n", key("db", 5432, "app", "carol")), None);
        assert_eq!(find("db:5432:app:bob:pw\r\n", key("db", 5432, "app", "bob")).as_deref(), Some("pw"));
    }

    #[cfg(unix)]
    #[test]
    fn loose_permissions_are_refused() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("pgpass");
        std::fs::write(&p, "*:*:*:*:pw\n").unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        let k = key("h", 1, "d", "u");
        assert!(lookup(&p, k).unwrap_err().contains("group or world access"));
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
        assert_eq!(lookup(&p, k).unwrap().as_deref(), Some("pw"));
        assert_eq!(lookup(&dir.path().join("none"), k).unwrap(), None);
        assert!(lookup(dir.path(), k).unwrap_err().contains("not a plain file"));
    }
}
