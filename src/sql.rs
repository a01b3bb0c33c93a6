//! SQL text both sides share: SQLite and PostgreSQL quote identifiers the
//! same way (the SQL standard's `"…"` with inner `"` doubled), so there is
//! one quoter for both. `postgres::ident` re-exports it as `quote` beside
//! its name shortening; `sqlite` uses it for the few statements it builds.

/// `name` as a quoted identifier: `"` doubled, the whole in `"…"`. The only
/// way ferry splices an identifier into SQL (values are bound parameters).
pub fn quote_ident(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 2);
    out.push('"');
    for c in name.chars() {
        if c == '"' {
            out.push('"');
        }
        out.push(c);
    }
    out.push('"');
    out
}

