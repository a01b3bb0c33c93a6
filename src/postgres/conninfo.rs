//! The connection-string keys ferry handles itself, taken out of the string
//! before tokio-postgres parses the rest.
//!
//! tokio-postgres knows `sslmode` only as `disable`/`prefer`/`require` and
//! rejects `sslrootcert`, `sslcert`, `sslkey` and `passfile` as unknown
//! options; libpq users write all of them. So both forms of connection
//! string, `postgresql://…?k=v&…` and libpq's `k=v k='v w'`, are split here
//! into those keys and the remainder, which is handed on unchanged (URL) or
//! re-quoted (keyword string). The password is also found here, so that an
//! error about a malformed string can be scrubbed of it even when the string
//! does not parse.

/// Keys ferry interprets itself (see `postgres::tls` and `postgres::pgpass`).
pub const OWN_KEYS: &[&str] = &["sslmode", "sslrootcert", "sslcert", "sslkey", "passfile"];

/// A connection string with ferry's own keys taken out.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Split {
    /// What is left, for `tokio_postgres::Config::from_str`.
    pub rest: String,
    /// `(key, value)` of ferry's keys, values decoded, in order of appearance.
    pub own: Vec<(String, String)>,
}

impl Split {
    /// The last value given for `key` (libpq: a later setting wins).
    pub fn get(&self, key: &str) -> Option<&str> {
        self.own.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
    }
}

pub fn is_url(text: &str) -> bool {
    text.starts_with("postgresql://") || text.starts_with("postgres://")
}

/// Split `text` (a URL or a keyword string; empty is allowed).
///
/// # Errors
///
/// A keyword string libpq would not parse (a key without `=`, an unclosed
/// quote), described without echoing values.
pub fn split(text: &str) -> Result<Split, String> {
    if is_url(text) {
        return Ok(split_url(text));
    }
    let pairs = parse_keywords(text)?;
    let mut out = Split::default();
    let mut kept = Vec::new();
    for (k, v) in pairs {
        if OWN_KEYS.contains(&k.as_str()) {
            out.own.push((k, v));
        } else {
            kept.push(format!("{k}={}", quote(&v)));
        }
    }
    out.rest = kept.join(" ");
    Ok(out)
}

fn split_url(text: &str) -> Split {
    let Some(q) = text.find('?') else {
        return Split { rest: text.to_string(), own: Vec::new() };
    };
    let (head, query) = (&text[..q], &text[q + 1..]);
    let mut own = Vec::new();
    let mut kept = Vec::new();
    for piece in query.split('&') {
        let (k, v) = piece.split_once('=').unwrap_or((piece, ""));
        let key = percent_decode(k);
        if OWN_KEYS.contains(&key.as_str()) {
            own.push((key, percent_decode(v)));
        } else if !piece.is_empty() {
            kept.push(piece);
        }
    }
    let rest = if kept.is_empty() { head.to_string() } else { format!("{head}?{}", kept.join("&")) };
    Split { rest, own }
}

/// The password written in `text`, if any: the URL's userinfo or the
/// `password` keyword. Best effort; used only to scrub error messages.
pub fn password(text: &str) -> Option<String> {
    if is_url(text) {
        let after = &text[text.find("://")? + 3..];
        let authority = &after[..after.find(['/', '?']).unwrap_or(after.len())];
        let userinfo = &authority[..authority.rfind('@')?];
        let (_, pw) = userinfo.split_once(':')?;
        return Some(percent_decode(pw)).filter(|p| !p.is_empty());
    }
    match parse_keywords(text) {
        Ok(pairs) => pairs.into_iter().rev().find(|(k, _)| k == "password").map(|(_, v)| v),
        // Unparseable: take what follows `password=` up to white space.
        Err(_) => {
            let i = text.find("password")?;
            let rest = text[i + "password".len()..].trim_start().strip_prefix('=')?.trim_start();
            let rest = rest.trim_start_matches('\'');
            let end = rest.find(|c: char| c.is_whitespace() || c == '\'').unwrap_or(rest.len());
            Some(rest[..end].to_string()).filter(|p| !p.is_empty())
        }
    }
    .filter(|p| !p.is_empty())
}

/// libpq's keyword/value syntax: `key = value` pairs separated by white
/// space; a value is single-quoted (with `\'` and `\\`) or runs to the next
/// white space (with backslash escapes).
fn parse_keywords(text: &str) -> Result<Vec<(String, String)>, String> {
    let mut out = Vec::new();
    let mut it = text.chars().peekable();
    loop {
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.peek().is_none() {
            return Ok(out);
        }
        let mut key = String::new();
        while let Some(c) = it.next_if(|c| !c.is_whitespace() && *c != '=') {
            key.push(c);
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        if it.next() != Some('=') {
            return Err(format!("missing \"=\" after {key:?} in the connection string"));
        }
        while it.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if it.next_if_eq(&'\'').is_some() {
            loop {
                match it.next() {
                    None => return Err(format!("unterminated quoted value for {key:?} in the connection string")),
                    Some('\'') => break,
                    Some('\\') => {
                        if let Some(c) = it.next() {
                            value.push(c);
                        }
                    }
                    Some(c) => value.push(c),
                }
            }
        } else {
            while let Some(c) = it.next_if(|c| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some(c) = it.next() {
                        value.push(c);
                    }
                } else {
                    value.push(c);
                }
            }
        }
        out.push((key, value));
    }
}

/// Single-quoted for a keyword string, as tokio-postgres reads it back.
fn quote(v: &str) -> String {
    let mut s = String::with_capacity(v.len() + 2);
    s.push('\'');
    for c in v.chars() {
        if c == '\'' || c == '\\' {
            s.push('\\');
        }
        s.push(c);
    }
    s.push('\'');
    s
}

/// `%XX` → byte; invalid escapes are kept as written; invalid UTF-8 is
/// replaced (these are file names and mode words, not passwords).
fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok().and_then(|h| u8::from_str_radix(h, 16).ok());
            if let Some(v) = hex {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_keys_are_taken_out() {
        let s = split("postgresql://u:p@h:5/d?sslmode=verify-full&application_name=x&sslrootcert=%2Ftmp%2Fca.pem").unwrap();
        assert_eq!(s.rest, "postgresql://u:p@h:5/d?application_name=x");
        assert_eq!(s.get("sslmode"), Some("verify-full"));
        assert_eq!(s.get("sslrootcert"), Some("/tmp/ca.pem"));
        let s = split("postgres://h/d?sslmode=require").unwrap();
        assert_eq!(s.rest, "postgres://h/d");
        assert_eq!(split("postgres://h/d").unwrap().rest, "postgres://h/d");
    }

    #[test]
    fn keyword_strings_are_requoted() {
        let s = split("host=h  user = u password='it''s' sslmode=verify-ca dbname='my db' sslrootcert=/x\\ y").unwrap_err();
        assert!(s.contains("missing"), "{s}");
        let s = split(r"host=h user = u password='it\'s \\ok' sslmode=verify-ca dbname='my db' sslrootcert=/x\ y")
            .unwrap();
        assert_eq!(s.rest, r"host='h' user='u' password='it\'s \\ok' dbname='my db'");
        assert_eq!(s.get("sslmode"), Some("verify-ca"));
        assert_eq!(s.get("sslrootcert"), Some("/x y"));
        assert!(split("host='h").unwrap_err().contains("unterminated"));
        assert_eq!(split("").unwrap(), Split::default());
    }

    #[test]
    fn passwords_are_found() {
        assert_eq!(password("postgresql://u:p%40ss@h/d").as_deref(), Some("p@ss"));
        assert_eq!(password("postgresql://u@h/d"), None);
        assert_eq!(password("postgresql://h/d?x=a:b@c"), None);
        assert_eq!(password("host=h password='a b'").as_deref(), Some("a b"));
        assert_eq!(password("host=h password=abc oops").as_deref(), Some("abc"));
    }
}
