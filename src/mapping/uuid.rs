//! UUIDs: SQLite stores them as text (36-character hyphenated or 32 hex
//! digits, sometimes in braces) or as a 16-byte BLOB; PostgreSQL's `uuid`
//! is 16 bytes on the wire and in the canonical hash.
//!
//! Text must be exactly one of `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`,
//! 32 hex digits, or either of those in `{}`; hex is case-insensitive.
//! Unlike the other parsers, no whitespace is trimmed (PostgreSQL's `uuid`
//! input trims none either). Parsing and formatting never allocate beyond
//! the caller's buffer.

const INVALID: u8 = 0xFF;

/// Hex digit value per byte, `INVALID` for non-hex bytes.
const HEX: [u8; 256] = {
    let mut t = [INVALID; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};

const E_SYNTAX: &str = "not a UUID (expected 36-character hyphenated or 32 hex digits)";

/// Parses a textual UUID (see the module docs for the accepted forms).
pub fn parse_text(s: &[u8]) -> Result<[u8; 16], &'static str> {
    let s = match s {
        [b'{', inner @ .., b'}'] => inner,
        _ => s,
    };
    let mut out = [0u8; 16];
    let mut nib = 0usize; // hex digits consumed
    match s.len() {
        36 => {
            for (i, &c) in s.iter().enumerate() {
                if matches!(i, 8 | 13 | 18 | 23) {
                    if c != b'-' {
                        return Err(E_SYNTAX);
                    }
                    continue;
                }
                let v = HEX[usize::from(c)];
                if v == INVALID {
                    return Err(E_SYNTAX);
                }
                out[nib / 2] |= v << if nib.is_multiple_of(2) { 4 } else { 0 };
                nib += 1;
            }
        }
        32 => {
            for &c in s {
                let v = HEX[usize::from(c)];
                if v == INVALID {
                    return Err(E_SYNTAX);
                }
                out[nib / 2] |= v << if nib.is_multiple_of(2) { 4 } else { 0 };
                nib += 1;
            }
        }
        _ => return Err(E_SYNTAX),
    }
    Ok(out)
}

/// A UUID from a BLOB, which must be exactly 16 bytes (RFC 4122 byte order,
/// as Python's `uuid.UUID.bytes` and most ORMs write it).
pub fn from_blob(b: &[u8]) -> Result<[u8; 16], &'static str> {
    <[u8; 16]>::try_from(b).map_err(|_| "a UUID blob must be exactly 16 bytes")
}

/// Appends the hyphenated lowercase form, as PostgreSQL prints it.
pub fn format(u: &[u8; 16], out: &mut String) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    out.reserve(36);
    for (i, &b) in u.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            out.push('-');
        }
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xF)]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const U: [u8; 16] = [
        0xa0, 0xee, 0xbc, 0x99, 0x9c, 0x0b, 0x4e, 0xf8, 0xbb, 0x6d, 0x6b, 0xb9, 0xbd, 0x38, 0x0a, 0x11,
    ];

    #[test]
    fn parses_accepted_forms() {
        for s in [
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11",
            "a0EEbc99-9c0B-4eF8-bb6D-6bb9BD380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a11",
            "A0EEBC999C0B4EF8BB6D6BB9BD380A11",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "{a0eebc999c0b4ef8bb6d6bb9bd380a11}",
        ] {
            assert_eq!(parse_text(s.as_bytes()), Ok(U), "{s}");
        }
        assert_eq!(parse_text(b"00000000-0000-0000-0000-000000000000"), Ok([0; 16]));
        assert_eq!(parse_text(b"ffffffffffffffffffffffffffffffff"), Ok([0xff; 16]));
    }

    #[test]
    fn rejects_malformed() {
        for s in [
            "",
            "{}",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a111",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1g",
            "a0eebc999-c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d6-bb9bd380a11",
            "a0eebc99+9c0b+4ef8+bb6d+6bb9bd380a11",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1",
            "a0eebc999c0b4ef8bb6d6bb9bd380a1z",
            " a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11 ",
            "{a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11}",
            "{{a0eebc999c0b4ef8bb6d6bb9bd380a11}}",
            "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a1\u{e9}",
            "0xa0eebc999c0b4ef8bb6d6bb9bd380a11",
        ] {
            assert!(parse_text(s.as_bytes()).is_err(), "{s:?}");
        }
        assert!(parse_text(&[0xff; 36]).is_err());
    }

    #[test]
    fn blobs() {
        assert_eq!(from_blob(&U), Ok(U));
        for len in [0, 1, 15, 17, 32, 36] {
            assert!(from_blob(&vec![7u8; len]).is_err(), "{len}");
        }
    }

    #[test]
    fn formats_lowercase_hyphenated() {
        let mut s = String::from(">");
        format(&U, &mut s);
        assert_eq!(s, ">a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
        let mut s = String::new();
        format(&[0; 16], &mut s);
        assert_eq!(s, "00000000-0000-0000-0000-000000000000");
        // Round trip.
        for u in [U, [0xff; 16], [0x01; 16]] {
            let mut s = String::new();
            format(&u, &mut s);
            assert_eq!(parse_text(s.as_bytes()), Ok(u));
        }
    }
}
