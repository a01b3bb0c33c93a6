//! JSON documents SQLite holds as something other than JSON text, written
//! out as the JSON text PostgreSQL's `json`/`jsonb` input reads.
//!
//! * **Numbers.** An application writes a JSON value with `json.dumps`
//!   (SQLAlchemy, Django); the value `5` is the text `5`, and a column
//!   declared `JSON` has NUMERIC affinity, so SQLite stores the INTEGER 5
//!   (and `1.5` as the REAL 1.5; `1e300` too). A number is a JSON document:
//!   an INTEGER is written in decimal, a REAL as Python's `repr` writes it
//!   (the shortest text that reads back as the same double, `1.5`, `5.0`,
//!   `1e+300`, `1e-05`), which is the text the application would have sent
//!   for that value. NaN and ±Infinity are not JSON: bad values.
//! * **SQLite's binary JSON** (`jsonb()`, SQLite 3.45): a BLOB in SQLite's
//!   JSONB format is rendered as JSON text, as SQLite's `json()` renders it
//!   (JSON5 forms such as hex integers or single-quoted strings become their
//!   JSON equivalents), except that JSON5's `Infinity`, which SQLite keeps
//!   as the float `9e999`, is a bad value rather than a 1000-digit number
//!   (SQLite itself already turned a JSON5 `NaN` into `null`). A blob that
//!   is not valid JSONB is a bad value.
//!
//! Both write into a caller's reused buffer: nothing is allocated per value.

use std::fmt::Write as _;

/// Append the JSON text of a REAL to `out`, as Python's `repr`:
/// positional for decimal exponents −4 ≤ e < 16 (with `.0` on whole
/// numbers), else `d[.ddd]e±XX`. `tmp` is scratch space.
pub fn write_real(f: f64, out: &mut String, tmp: &mut String) -> Result<(), &'static str> {
    if !f.is_finite() {
        return Err("NaN and Infinity are not JSON numbers");
    }
    tmp.clear();
    // Rust's `{:e}` writes the shortest round-trip digits: `1.5e300`, `1e-5`, `-0e0`.
    let _ = write!(tmp, "{f:e}");
    let Some((mantissa, exp)) = tmp.split_once('e') else {
        return Err("a real without a decimal exponent");
    };
    let Ok(exp) = exp.parse::<i32>() else {
        return Err("a real without a decimal exponent");
    };
    let (neg, mantissa) = match mantissa.strip_prefix('-') {
        Some(m) => (true, m),
        None => (false, mantissa),
    };
    if neg {
        out.push('-');
    }
    let (first, rest) = mantissa.split_at(1);
    let rest = rest.strip_prefix('.').unwrap_or(rest);
    if (-4..16).contains(&exp) {
        if exp < 0 {
            out.push_str("0.");
            for _ in 0..(-exp - 1) {
                out.push('0');
            }
            out.push_str(first);
            out.push_str(rest);
        } else {
            let int_digits = exp as usize + 1;
            out.push_str(first);
            let digits = rest.as_bytes();
            for i in 0..int_digits - 1 {
                out.push(digits.get(i).map_or('0', |&d| d as char));
            }
            out.push('.');
            match rest.get(int_digits - 1..) {
                Some(frac) if !frac.is_empty() => out.push_str(frac),
                _ => out.push('0'),
            }
        }
    } else {
        out.push_str(first);
        if !rest.is_empty() {
            out.push('.');
            out.push_str(rest);
        }
        let _ = write!(
            out,
            "e{}{:02}",
            if exp < 0 { '-' } else { '+' },
            exp.unsigned_abs()
        );
    }
    Ok(())
}

/// Deepest nesting rendered (SQLite's own limit is 1000).
const MAX_DEPTH: usize = 1000;

/// Render a blob in SQLite's JSONB format as JSON text, appended to `out`.
pub fn render_jsonb(blob: &[u8], out: &mut String) -> Result<(), String> {
    if blob.is_empty() {
        return Err("an empty blob is not SQLite JSONB".into());
    }
    let end = element(blob, 0, out, 0)?;
    if end != blob.len() {
        return Err(format!(
            "not SQLite JSONB: {} byte(s) after the value",
            blob.len() - end
        ));
    }
    Ok(())
}

const NOT_JSONB: &str = "a blob that is not SQLite JSONB (jsonb()) in a JSON column";

/// Header at `at`: (type, payload start, payload end).
fn header(b: &[u8], at: usize) -> Result<(u8, usize, usize), String> {
    let h = *b.get(at).ok_or(NOT_JSONB)?;
    let (ty, sz) = (h & 0x0f, h >> 4);
    let (len, start) = match sz {
        0..=11 => (u64::from(sz), at + 1),
        12..=15 => {
            let n = 1usize << (sz - 12);
            let bytes = b.get(at + 1..at + 1 + n).ok_or(NOT_JSONB)?;
            (
                bytes.iter().fold(0u64, |a, &x| (a << 8) | u64::from(x)),
                at + 1 + n,
            )
        }
        _ => unreachable!("four bits"),
    };
    let end = usize::try_from(len)
        .ok()
        .and_then(|l| start.checked_add(l))
        .filter(|&e| e <= b.len())
        .ok_or(NOT_JSONB)?;
    Ok((ty, start, end))
}

/// Render the element at `at`; returns where the next one starts.
fn element(b: &[u8], at: usize, out: &mut String, depth: usize) -> Result<usize, String> {
    let (ty, start, end) = header(b, at)?;
    let payload = &b[start..end];
    let text = || std::str::from_utf8(payload).map_err(|_| NOT_JSONB.to_string());
    match ty {
        0 | 1 | 2 if !payload.is_empty() => return Err(NOT_JSONB.into()),
        0 => out.push_str("null"),
        1 => out.push_str("true"),
        2 => out.push_str("false"),
        // SQLite writes JSON5's Infinity as the float 9e999.
        5 if matches!(payload, b"9e999" | b"-9e999") => {
            return Err(
                "JSON5 Infinity (SQLite's 9e999) has no JSON form that PostgreSQL keeps".into(),
            );
        }
        3 | 5 => out.push_str(text()?),
        4 => int5(text()?, out)?,
        6 => float5(text()?, out)?,
        7 | 10 => escape_raw(text()?, out),
        8 => {
            out.push('"');
            out.push_str(text()?);
            out.push('"');
        }
        9 => text5(text()?, out)?,
        11 | 12 => {
            if depth >= MAX_DEPTH {
                return Err(format!("JSONB nested deeper than {MAX_DEPTH}"));
            }
            let obj = ty == 12;
            out.push(if obj { '{' } else { '[' });
            let mut pos = start;
            let mut n = 0usize;
            while pos < end {
                if n > 0 {
                    out.push(if obj && n % 2 == 1 { ':' } else { ',' });
                }
                if obj && n % 2 == 0 && !matches!(header(b, pos)?.0, 7..=10) {
                    return Err("SQLite JSONB object key that is not a string".into());
                }
                pos = element(b, pos, out, depth + 1)?;
                n += 1;
            }
            if pos != end || (obj && n % 2 == 1) {
                return Err(NOT_JSONB.into());
            }
            out.push(if obj { '}' } else { ']' });
        }
        _ => return Err(NOT_JSONB.into()),
    }
    Ok(end)
}

/// A string without escapes, quoted and escaped for JSON.
fn escape_raw(s: &str, out: &mut String) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

/// A JSON5 string body: its escapes made JSON ones (`\'` → `'`, `\xHH`
/// and `\v` → `\u00HH`, line continuations removed), raw control
/// characters escaped.
fn text5(s: &str, out: &mut String) -> Result<(), String> {
    out.push('"');
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('\'') => out.push('\''),
                Some('v') => out.push_str("\\u000b"),
                Some('0') => out.push_str("\\u0000"),
                Some('x') => {
                    let (Some(a), Some(b)) = (chars.next(), chars.next()) else {
                        return Err("bad \\x escape in a SQLite JSONB string".into());
                    };
                    if !a.is_ascii_hexdigit() || !b.is_ascii_hexdigit() {
                        return Err("bad \\x escape in a SQLite JSONB string".into());
                    }
                    out.push_str("\\u00");
                    out.push(a.to_ascii_lowercase());
                    out.push(b.to_ascii_lowercase());
                }
                Some('\r') => {
                    if chars.peek() == Some(&'\n') {
                        chars.next();
                    }
                }
                Some('\n' | '\u{2028}' | '\u{2029}') => {}
                Some(e @ ('"' | '\\' | '/' | 'b' | 'f' | 'n' | 'r' | 't')) => {
                    out.push('\\');
                    out.push(e);
                }
                Some('u') => out.push_str("\\u"),
                Some(other) => {
                    // JSON5: any other escaped character stands for itself.
                    escape_raw_char(other, out);
                }
                None => return Err("a SQLite JSONB string ends in a backslash".into()),
            },
            c => escape_raw_char(c, out),
        }
    }
    out.push('"');
    Ok(())
}

fn escape_raw_char(c: char, out: &mut String) {
    match c {
        '"' => out.push_str("\\\""),
        '\\' => out.push_str("\\\\"),
        c if (c as u32) < 0x20 => {
            let _ = write!(out, "\\u{:04x}", c as u32);
        }
        c => out.push(c),
    }
}

/// A JSON5 integer (`+5`, `0x1F`, `-0XFF`) in decimal.
fn int5(s: &str, out: &mut String) -> Result<(), String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if neg {
        out.push('-');
    }
    match body.strip_prefix("0x").or_else(|| body.strip_prefix("0X")) {
        Some(hex) => {
            let v = u128::from_str_radix(hex, 16)
                .map_err(|_| format!("JSON5 integer {s:?} out of range"))?;
            let _ = write!(out, "{v}");
        }
        None => out.push_str(body),
    }
    Ok(())
}

/// A JSON5 float (`+1.5`, `.5`, `5.`) as a JSON number; `Infinity` and
/// `NaN` have none.
fn float5(s: &str, out: &mut String) -> Result<(), String> {
    let (neg, body) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case("infinity")
        || body.eq_ignore_ascii_case("inf")
        || body.eq_ignore_ascii_case("nan")
    {
        return Err(format!(
            "JSON5 {s} has no JSON form (PostgreSQL's json cannot hold it)"
        ));
    }
    if neg {
        out.push('-');
    }
    if body.starts_with('.') {
        out.push('0');
    }
    let mut prev_dot = false;
    for c in body.chars() {
        if prev_dot && !c.is_ascii_digit() {
            out.push('0');
        }
        out.push(c);
        prev_dot = c == '.';
    }
    if prev_dot {
        out.push('0');
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn real(f: f64) -> String {
        let (mut out, mut tmp) = (String::new(), String::new());
        write_real(f, &mut out, &mut tmp).unwrap();
        out
    }

    #[test]
    fn reals_as_python_repr() {
        // What Python 3 prints for repr(x).
        for (f, want) in [
            (1.5, "1.5"),
            (5.0, "5.0"),
            (-0.0, "-0.0"),
            (0.1, "0.1"),
            (1e300, "1e+300"),
            (1.5e300, "1.5e+300"),
            (1e16, "1e+16"),
            (1e15, "1000000000000000.0"),
            (123456789.125, "123456789.125"),
            (1e-5, "1e-05"),
            (1.25e-5, "1.25e-05"),
            (0.0001, "0.0001"),
            (-2.5e-7, "-2.5e-07"),
            (1.7976931348623157e308, "1.7976931348623157e+308"),
            (5e-324, "5e-324"),
            (1.1805916207174113e21, "1.1805916207174113e+21"),
        ] {
            assert_eq!(real(f), want, "{f:e}");
        }
        assert!(write_real(f64::NAN, &mut String::new(), &mut String::new()).is_err());
    }

    fn render(b: &[u8]) -> Result<String, String> {
        let mut out = String::new();
        render_jsonb(b, &mut out).map(|()| out)
    }

    /// Every document through SQLite's own `jsonb()`, rendered here, must
    /// read as what SQLite's `json()` gives for it.
    #[test]
    fn renders_what_sqlite_json_renders() {
        let db = rusqlite::Connection::open_in_memory().unwrap();
        for doc in [
            r#"{"a":[1,2.5,"x"],"b":null,"c":true,"d":false}"#,
            r#"[]"#,
            r#"{}"#,
            r#""tab\there \"q\" \\ \u00e9 \ud83d\ude00""#,
            r#"-12345678901234567890123"#,
            r#"1e300"#,
            r#"[[[[{"deep":{"er":[1]}}]]]]"#,
            r#"{"k":"ünïcödé","long":"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"}"#,
            // JSON5 input, which jsonb() keeps in JSON5 element types.
            r#"{a: 0x1F, b: .5, c: 'it\'s', d: +7, e: 5., f: "\x41\v"}"#,
        ] {
            let (blob, json): (Vec<u8>, String) = db
                .query_row("SELECT jsonb(?1), json(?1)", [doc], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })
                .unwrap();
            let mine = render(&blob).unwrap_or_else(|e| panic!("{doc}: {e}"));
            let a: serde_json::Value =
                serde_json::from_str(&mine).unwrap_or_else(|e| panic!("{doc} → {mine}: {e}"));
            let b: serde_json::Value = serde_json::from_str(&json).unwrap();
            assert_eq!(a, b, "{doc}");
        }
        for bad in ["Infinity", "[-Infinity]"] {
            let blob: Vec<u8> = db
                .query_row("SELECT jsonb(?1)", [bad], |r| r.get(0))
                .unwrap();
            assert!(
                render(&blob).is_err(),
                "{bad}: {blob:02x?} → {:?}",
                render(&blob)
            );
        }
        for bad in [&b""[..], b"\x13", b"\x0d", b"\x33", b"hello", b"\x0b\x13"] {
            assert!(render(bad).is_err(), "{bad:?}");
        }
    }
}
