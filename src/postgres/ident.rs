//! PostgreSQL identifiers: quoted in one place, shortened in one place.
//!
//! Names are kept exactly as in SQLite (`user`, `Album`, `order items`, a
//! name with a `"` in it) and always double-quoted. PostgreSQL silently cuts
//! identifiers to 63 bytes, which can merge two distinct names; ferry instead
//! shortens a longer name deterministically (a prefix plus 8 hex digits of
//! its blake3 hash) and the planner refuses the run if two names still meet.

/// PostgreSQL's NAMEDATALEN - 1.
pub const MAX_IDENT_BYTES: usize = 63;

/// `name` as a quoted identifier: `"` doubled, the whole in `"…"` (the one
/// quoter, shared with the SQLite side).
pub use crate::sql::quote_ident as quote;

/// `schema.name`, both quoted.
pub fn qualified(schema: &str, name: &str) -> String {
    format!("{}.{}", quote(schema), quote(name))
}

/// A string literal for SQL text (standard_conforming_strings is on in every
/// supported server): `'` doubled.
pub fn literal(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

/// The name PostgreSQL will store: unchanged when it fits in 63 bytes,
/// otherwise a prefix cut at a character boundary, `_`, and 8 hex digits of
/// the full name's hash.
pub fn shorten(name: &str) -> String {
    if name.len() <= MAX_IDENT_BYTES {
        return name.to_string();
    }
    let hash = blake3::hash(name.as_bytes()).to_hex();
    let mut cut = MAX_IDENT_BYTES - 9;
    while !name.is_char_boundary(cut) {
        cut -= 1;
    }
    format!("{}_{}", &name[..cut], &hash[..8])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_every_awkward_name() {
        assert_eq!(quote("user"), "\"user\"");
        assert_eq!(quote("order items"), "\"order items\"");
        assert_eq!(quote("a\"; DROP TABLE x; --"), "\"a\"\"; DROP TABLE x; --\"");
        assert_eq!(literal("it's"), "'it''s'");
    }

    #[test]
    fn shortens_long_names_without_collisions() {
        let a = format!("{}_a", "x".repeat(70));
        let b = format!("{}_b", "x".repeat(70));
        let (sa, sb) = (shorten(&a), shorten(&b));
        assert!(sa.len() <= MAX_IDENT_BYTES && sb.len() <= MAX_IDENT_BYTES);
        assert_ne!(sa, sb);
        assert_eq!(shorten(&a), sa, "deterministic");
        assert_eq!(shorten("short"), "short");
        let multibyte = "é".repeat(40);
        assert!(shorten(&multibyte).len() <= MAX_IDENT_BYTES);
    }
}
