//! Fuzzing in `cargo test` (issue 8): the value converters (date/time,
//! boolean, numeric, UUID, JSON, and every `Converter` with the COPY encoder
//! and the canonical hash behind it) and the mapping-file parser get
//! millions of generated and mutated inputs within a fixed time, and must
//! neither panic nor hang. Where a converter has an inverse, the round trip
//! is checked too (a value that parses must format and parse back the same).
//!
//! How it works, per target: first every file in `tests/fuzz_corpus/TARGET/`
//! is replayed (seeds and inputs that once failed: a deterministic
//! regression test; files named `slow-*` are replayed but not mutated), then inputs are generated for `FERRY_FUZZ_SECS` seconds
//! (default 7 per target; 8 targets run two at a time, about 30 s in all),
//! and until at least 125,000 inputs per target, a million in all
//! (`FERRY_FUZZ_MIN_INPUTS`):
//! mutations of the corpus (bit flips, byte edits, splices, dictionary
//! tokens, extreme numbers) and structured inputs from small grammars. Tests
//! are built with debug assertions, so an arithmetic overflow is a panic and
//! is caught. A watchdog fails the run when one input takes longer than
//! `FERRY_FUZZ_HANG_SECS` (default 5).
//!
//! On a failure the input is written to `target/fuzz-failures/TARGET/` and
//! the message says how to replay it: fix the bug, then copy the file into
//! `tests/fuzz_corpus/TARGET/` so it is replayed forever. The generator's
//! seed is printed; `FERRY_FUZZ_SEED=N` repeats a run.
//!
//! This is not coverage-guided (cargo-fuzz needs a nightly toolchain this
//! project does not require); the grammars and dictionaries stand in for it.

use std::io::Write;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rusqlite::types::ValueRef;

use ferry::mapping::boolean::{self, BoolSpellings};
use ferry::mapping::convert::{Converter, Scratch, TimeInput, Value};
use ferry::mapping::datetime::{self, EpochUnit, Zone};
use ferry::mapping::types::PgType;
use ferry::mapping::{file, json, numeric, uuid};

// ---------------------------------------------------------------------------
// The targets.

#[test]
fn fuzz_datetime() {
    run("datetime", DATETIME_DICT, gen_datetime, |input| {
        let s = String::from_utf8_lossy(input);
        if let Ok(p) = datetime::parse_iso(input) {
            // What parses formats and parses back to the same instant.
            if p.offset_secs.is_none() && datetime::check_pg_timestamp(p.micros).is_ok() {
                let mut out = String::new();
                datetime::format_micros(p.micros, &mut out);
                let again = datetime::parse_iso(out.as_bytes())
                    .unwrap_or_else(|e| panic!("{out:?} (formatted from {s:?}) does not parse: {e}"));
                assert_eq!(again.micros, p.micros, "{s:?} → {out:?}");
            }
            let _ = p.utc_micros();
        }
        let _ = datetime::parse_time(input);
        let _ = Zone::parse(&s).map(|z| {
            let _ = z.local_to_utc(int_from(input));
            let _ = z.to_string();
        });
        // The text as a strftime format, and as text for a few formats.
        let _ = datetime::parse_with_format("2024-01-15 10:30:00", &s);
        for fmt in ["%d/%m/%Y %H:%M", "%Y%m%d", "%s", "%Y-%m-%dT%H:%M:%S%.f%z", "%b %e %Y"] {
            let _ = datetime::parse_with_format(&s, fmt);
        }
        let i = int_from(input);
        let f = f64::from_bits(i as u64);
        let f2 = float_from(input);
        for unit in [EpochUnit::Seconds, EpochUnit::Millis, EpochUnit::Micros, EpochUnit::Nanos, EpochUnit::JulianDay] {
            for origin in [datetime::UNIX, datetime::WEBKIT_1601, datetime::APPLE_2001, i] {
                let _ = datetime::from_epoch_i64(i, unit, origin);
                let _ = datetime::from_epoch_f64(f, unit, origin);
                let _ = datetime::from_epoch_f64(f2, unit, origin);
            }
        }
        if let Ok(m) = datetime::check_pg_timestamp(i) {
            let mut out = String::new();
            datetime::format_micros(m, &mut out);
            let back = datetime::parse_iso(out.as_bytes()).unwrap_or_else(|e| panic!("{out:?} does not parse: {e}"));
            assert_eq!(back.micros, m, "{out:?}");
        }
        let _ = datetime::check_pg_date(i);
    });
}

#[test]
fn fuzz_boolean() {
    run("boolean", BOOLEAN_DICT, gen_words, |input| {
        let b = BoolSpellings::default();
        let _ = b.parse_text(input);
        let _ = b.from_i64(int_from(input));
        let _ = b.from_f64(float_from(input));
        let _ = boolean::from_i64(int_from(input));
        let _ = boolean::from_f64(float_from(input));
        // User spellings from the input itself: lists split at `|` and `,`.
        let s = String::from_utf8_lossy(input);
        let (t, f) = s.split_once('|').unwrap_or((&s, ""));
        let list = |x: &str| x.split(',').map(str::to_owned).collect::<Vec<_>>();
        if let Ok(custom) = BoolSpellings::new(&list(t), &list(f)) {
            for w in t.split(',').chain(f.split(',')) {
                let _ = custom.parse_text(w.as_bytes());
            }
        }
    });
}

#[test]
fn fuzz_numeric() {
    run("numeric", NUMERIC_DICT, gen_number, |input| {
        let b = input.first().copied().unwrap_or(0);
        let typmods = [(None, None), (Some(10), Some(2)), (Some(1000), Some(0)), (Some(u32::from(b % 40) + 1), Some(u32::from(b % 7)))];
        for (p, s) in typmods {
            let mut out = String::new();
            if numeric::normalize(input, p, s, &mut out).is_ok() {
                check_numeric_round_trip(&out, p, s);
            }
        }
        let mut out = String::new();
        let f = float_from(input);
        numeric::from_f64(f, &mut out);
        let mut again = String::new();
        numeric::normalize(out.as_bytes(), None, None, &mut again)
            .unwrap_or_else(|e| panic!("from_f64({f:?}) = {out:?} does not normalize: {e}"));
        let mut text = String::new();
        let _ = numeric::decode_binary(input, &mut text);
        let _ = numeric::try_encode_binary(&String::from_utf8_lossy(input), &mut BytesMut::new());
    });
}

/// A normalized number survives PostgreSQL's binary form: encode, decode,
/// normalize again, same text.
fn check_numeric_round_trip(canonical: &str, p: Option<u32>, s: Option<u32>) {
    let mut bin = BytesMut::new();
    if numeric::try_encode_binary(canonical, &mut bin).is_err() {
        return; // beyond what binary numeric can carry: reported as a bad value
    }
    let mut decoded = String::new();
    numeric::decode_binary(&bin, &mut decoded).unwrap_or_else(|e| panic!("{canonical:?}: encoded, then {e}"));
    let mut again = String::new();
    numeric::normalize(decoded.as_bytes(), p, s, &mut again)
        .unwrap_or_else(|e| panic!("{canonical:?} → binary → {decoded:?} does not normalize: {e}"));
    assert_eq!(again, canonical, "binary round trip of {canonical:?} (via {decoded:?})");
}

#[test]
fn fuzz_uuid() {
    run("uuid", UUID_DICT, gen_uuid, |input| {
        if let Ok(u) = uuid::parse_text(input) {
            let mut s = String::new();
            uuid::format(&u, &mut s);
            assert_eq!(uuid::parse_text(s.as_bytes()), Ok(u), "{s:?}");
        }
        if let Ok(u) = uuid::from_blob(input) {
            assert_eq!(&u[..], input);
        }
    });
}

#[test]
fn fuzz_json() {
    run("json", JSON_DICT, gen_json, |input| {
        let plain = json::validate(input);
        let jsonb = json::validate_jsonb(input);
        if jsonb.is_ok() {
            assert!(plain.is_ok(), "valid jsonb but not json: {:?}", String::from_utf8_lossy(input));
        }
        let mut out = Vec::new();
        let canon = json::canonical(input, &mut out);
        assert_eq!(canon.is_ok(), jsonb.is_ok(), "canonical and validate_jsonb disagree on {:?}", String::from_utf8_lossy(input));
        if canon.is_ok() {
            // Canonical form is a fixed point, and valid.
            let mut twice = Vec::new();
            json::canonical(&out, &mut twice).unwrap_or_else(|e| panic!("canonical output {:?} rejected: {e}", String::from_utf8_lossy(&out)));
            assert_eq!(twice, out, "canonical form is not stable for {:?}", String::from_utf8_lossy(input));
        }
    });
}

#[test]
fn fuzz_converters() {
    let types: Vec<PgType> = [
        "boolean", "smallint", "integer", "bigint", "real", "double precision", "numeric", "numeric(10,2)",
        "numeric(5,0)", "text", "varchar(5)", "bytea", "timestamp", "timestamptz", "date", "time", "json",
        "jsonb", "uuid", "interval", "inet", "cidr", "character(5)", "\"char\"",
    ]
    .iter()
    .map(|t| PgType::parse(t).unwrap_or_else(|e| panic!("{t}: {e}")))
    .collect();
    let mut converters: Vec<(PgType, Converter)> = types.iter().map(|t| (t.clone(), Converter::for_type(t))).collect();
    // Date/time converters with the other inputs a mapping file can ask for.
    for unit in [EpochUnit::Seconds, EpochUnit::Millis, EpochUnit::Nanos, EpochUnit::JulianDay] {
        for (pg, zoned) in [(PgType::Timestamp, false), (PgType::Timestamptz, true)] {
            let input = TimeInput::Epoch { unit, origin_micros: datetime::APPLE_2001 };
            let zone = Zone::parse("Europe/Paris").unwrap_or(Zone::Utc);
            converters.push((pg, Converter::Timestamp { input, zoned, zone, precision: 6 }));
        }
        converters.push((PgType::Date, Converter::Date { input: TimeInput::Epoch { unit, origin_micros: 0 } }));
    }
    converters.push((
        PgType::Timestamp,
        Converter::Timestamp {
            input: TimeInput::Text { formats: vec!["%d/%m/%Y %H:%M".into(), "%Y%m%d".into()] },
            zoned: false,
            zone: Zone::Utc,
            precision: 6,
        },
    ));
    let converters = Arc::new(converters);
    let dict: Vec<&[u8]> = [DATETIME_DICT, NUMERIC_DICT, JSON_DICT, UUID_DICT, BOOLEAN_DICT].concat();
    run("convert", &dict, gen_any, move |input| {
        let (kind, body) = input.split_first().unwrap_or((&0, &[]));
        let v = match kind % 5 {
            0 => ValueRef::Null,
            1 => ValueRef::Integer(int_from(body)),
            2 => ValueRef::Real(float_from(body)),
            3 => ValueRef::Text(body),
            _ => ValueRef::Blob(body),
        };
        let mut scratch = Scratch::default();
        let mut buf = BytesMut::new();
        let mut hash_scratch = Vec::new();
        for (pg, conv) in converters.iter() {
            if let Ok(value) = conv.convert(v, &mut scratch) {
                ferry::postgres::encode::write_value(&mut buf, pg, &value);
                let mut h = blake3::Hasher::new();
                ferry::hash::digest::hash_value(&mut h, pg, &value, &mut hash_scratch);
                // What the verification decodes from the server's copy of
                // these types is the send format written here.
                if let Value::Net(b) = value {
                    ferry::mapping::inet::check_send_bytes(b).unwrap_or_else(|e| panic!("{pg:?} accepted {v:?} as {b:?}: {e}"));
                }
                if let Value::Timestamp(m) = value {
                    datetime::check_pg_timestamp(m).unwrap_or_else(|e| panic!("{pg:?} accepted {v:?} as {m}: {e}"));
                }
            }
            buf.clear();
        }
    });
}

#[test]
fn fuzz_mapping_file() {
    run("mapping_file", MAPPING_DICT, gen_mapping, |input| {
        let text = String::from_utf8_lossy(input);
        if let Err(e) = file::parse(Path::new("fuzz.toml"), &text) {
            let _ = e.to_string();
        }
        let _ = PgType::parse(&text);
        let _ = file::normalize_type_name(&text);
    });
}

#[test]
fn fuzz_table_patterns() {
    // `--tables`/`include_tables` globs against names: no exponential backtracking.
    run("glob", &[b"*", b"?", b"a", b"*a", b"a*", b"**", b"\xc3\xbc"], gen_words, |input| {
        let s = String::from_utf8_lossy(input);
        let (p, n) = s.split_once('|').unwrap_or((&s, "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab"));
        assert_eq!(ferry::mapping::resolve::glob_match(p, n), glob_reference(p, n), "glob {p:?} against {n:?}");
    });
}

/// Dynamic-programming wildcard match, the reference for `glob_match`
/// (letters match regardless of ASCII case, as SQLite's table names do).
fn glob_reference(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // m[j]: does p[..i] match n[..j]?
    let mut m = vec![false; n.len() + 1];
    m[0] = true;
    for &c in &p {
        let mut next = vec![false; n.len() + 1];
        if c == '*' {
            next[0] = m[0];
            for j in 1..=n.len() {
                next[j] = m[j] || next[j - 1];
            }
        } else {
            for j in 1..=n.len() {
                next[j] = m[j - 1] && (c == '?' || c.eq_ignore_ascii_case(&n[j - 1]));
            }
        }
        m = next;
    }
    m[n.len()]
}

// ---------------------------------------------------------------------------
// Dictionaries: tokens the mutator splices in.

const DATETIME_DICT: &[&[u8]] = &[
    b"2024-01-15", b"10:30:00", b"T", b" ", b"Z", b"+02:00", b"-05:30", b"+14:00", b"-0800", b".123456",
    b".1234567", b"24:00:00", b"23:59:60", b"0000-01-01", b"-4713-11-24", b"294276-12-31", b"99999-12-31",
    b"02-29", b"1970-01-01 00:00:00", b"UTC", b"Europe/Paris", b"America/New_York", b"%Y", b"%m", b"%d",
    b"%H", b"%M", b"%S", b"%f", b"%z", b"%:z", b"%s", b"%%", b"9223372036854775807", b"-9223372036854775808",
];
const BOOLEAN_DICT: &[&[u8]] = &[b"t", b"f", b"true", b"FALSE", b"yes", b"no", b"on", b"off", b"1", b"0", b"2", b" ", b",", b"|"];
const NUMERIC_DICT: &[&[u8]] = &[
    b"0", b"-", b"+", b".", b"e", b"E", b"e-", b"e+", b"NaN", b"Infinity", b"-Infinity", b"inf", b"1e308",
    b"1e-324", b"99999999999999999999", b"0.000000000000000001", b"e2147483647", b"e-2147483648", b"_", b" ",
    b"131072", b"16383",
];
const UUID_DICT: &[&[u8]] = &[
    b"0b7c7bd5-3f5c-4a4b-9b1e-2f1e0e6f8a11", b"0B7C7BD53F5C4A4B9B1E2F1E0E6F8A11", b"{", b"}", b"-", b"urn:uuid:",
    b"g", b"\xff",
];
const JSON_DICT: &[&[u8]] = &[
    b"{", b"}", b"[", b"]", b":", b",", b"\"", b"\\u0000", b"\\ud800", b"\\udc00", b"\\ud83d\\ude00", b"true",
    b"false", b"null", b"1e400", b"-0", b"1.0e-400", b"\"k\"", b"\\", b"\xed\xa0\x80", b"1E+2",
];
const MAPPING_DICT: &[&[u8]] = &[
    b"[settings]\n", b"[types]\n", b"[affinity]\n", b"[tables.t]\n", b"[tables.t.columns.c]\n", b"type = ",
    b"\"timestamptz\"", b"\"numeric(10,2)\"", b"\"varchar(99999999999)\"", b"input = ", b"\"epoch-milliseconds\"",
    b"\"julian-day\"", b"formats = [\"%d/%m/%Y\"]", b"timezone = \"Europe/Paris\"", b"on_bad_value = \"reject\"",
    b"nul = \"strip-nul\"", b"invalid_utf8 = \"replace-invalid\"", b"rename = \"x\"", b"exclude = true",
    b"boolean_true = [\"y\"]", b"boolean_false = [\"y\"]", b"include_tables = [\"*\"]", b"\n", b"=", b"\"",
    b"'", b"{", b"}", b"[", b"]", b",", b"DATETIME", b"INTEGER", b"\"\"",
];

// ---------------------------------------------------------------------------
// Grammars: structured inputs.

fn gen_datetime(r: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    let year = match r.below(6) {
        0 => r.below(10_000) as i64,
        1 => -(r.below(5000) as i64),
        2 => 294_000 + r.below(1000) as i64,
        3 => r.next() as i64,
        _ => 1900 + r.below(200) as i64,
    };
    s.push_str(&format!("{year:04}-{:02}-{:02}", r.below(14), r.below(33)));
    if r.below(4) > 0 {
        s.push(if r.below(2) == 0 { 'T' } else { ' ' });
        s.push_str(&format!("{:02}:{:02}", r.below(26), r.below(62)));
        if r.below(3) > 0 {
            s.push_str(&format!(":{:02}", r.below(62)));
            if r.below(2) == 0 {
                let digits = 1 + r.below(9) as usize;
                s.push('.');
                for _ in 0..digits {
                    s.push(char::from(b'0' + r.below(10) as u8));
                }
            }
        }
        match r.below(5) {
            0 => s.push('Z'),
            1 => s.push_str(&format!("{}{:02}:{:02}", if r.below(2) == 0 { '+' } else { '-' }, r.below(20), r.below(61))),
            2 => s.push_str(&format!("+{:04}", r.below(2400))),
            _ => {}
        }
    }
    if r.below(10) == 0 {
        s = format!(" {s} ");
    }
    s.into_bytes()
}

fn gen_number(r: &mut Rng) -> Vec<u8> {
    let mut s = String::new();
    match r.below(3) {
        0 => s.push('-'),
        1 => s.push('+'),
        _ => {}
    }
    let int_digits = r.sized(50, 1200, 25);
    for _ in 0..int_digits {
        s.push(char::from(b'0' + r.below(10) as u8));
    }
    if r.below(2) == 0 {
        s.push('.');
        for _ in 0..r.sized(50, 17_000, 20) {
            s.push(char::from(b'0' + r.below(10) as u8));
        }
    }
    if r.below(3) == 0 {
        s.push(if r.below(2) == 0 { 'e' } else { 'E' });
        // Huge exponents expand to huge digit strings: rare, or they eat the budget.
        let e: i64 = match r.below(40) {
            0 => r.next() as i32 as i64,
            1 => r.below(140_000) as i64 - 70_000,
            _ => r.below(40) as i64 - 20,
        };
        s.push_str(&e.to_string());
    }
    s.into_bytes()
}

fn gen_uuid(r: &mut Rng) -> Vec<u8> {
    let bytes: Vec<u8> = (0..16).map(|_| r.next() as u8).collect();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    match r.below(4) {
        0 => bytes,
        1 => hex.into_bytes(),
        _ => format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..]).into_bytes(),
    }
}

fn gen_json(r: &mut Rng) -> Vec<u8> {
    fn value(r: &mut Rng, depth: u32, out: &mut String) {
        match if depth > 6 { r.below(5) } else { r.below(7) } {
            0 => out.push_str("null"),
            1 => out.push_str(if r.below(2) == 0 { "true" } else { "false" }),
            2 => out.push_str(&String::from_utf8_lossy(&gen_number(r))),
            3 | 4 => {
                out.push('"');
                for _ in 0..r.below(8) {
                    match r.below(6) {
                        0 => out.push_str(&format!("\\u{:04x}", r.below(0x10000))),
                        1 => out.push_str(["\\n", "\\\"", "\\\\", "\\/", "é", "😀"][r.below(6) as usize]),
                        _ => out.push(char::from(b'a' + r.below(26) as u8)),
                    }
                }
                out.push('"');
            }
            5 => {
                out.push('[');
                for i in 0..r.below(5) {
                    if i > 0 {
                        out.push(',');
                    }
                    value(r, depth + 1, out);
                }
                out.push(']');
            }
            _ => {
                out.push('{');
                for i in 0..r.below(5) {
                    if i > 0 {
                        out.push_str(", ");
                    }
                    out.push_str(&format!("\"k{}\": ", r.below(4)));
                    value(r, depth + 1, out);
                }
                out.push('}');
            }
        }
    }
    let mut s = String::new();
    if r.below(50) == 0 {
        // Deep nesting: must not overflow the stack.
        let n = 10_000 + r.below(100_000) as usize;
        s.push_str(&"[".repeat(n));
        s.push_str(&"]".repeat(n));
        return s.into_bytes();
    }
    value(r, 0, &mut s);
    s.into_bytes()
}

fn gen_words(r: &mut Rng) -> Vec<u8> {
    let words = ["t", "f", "yes", "no", "*", "?", "a", "b", "ü", "*a", ",", "|", " ", "aaaa"];
    (0..1 + r.below(12)).flat_map(|_| words[r.below(words.len() as u64) as usize].bytes()).collect()
}

fn gen_mapping(r: &mut Rng) -> Vec<u8> {
    let types = ["timestamptz", "timestamp", "date", "numeric(12,2)", "text", "varchar(3)", "bytea", "jsonb", "uuid", "boolean", "bigint", "geometry", "numeric(0,5)", "varchar(0)"];
    let inputs = ["text", "epoch-seconds", "epoch-milliseconds", "julian-day", "apple-seconds", "epoch-years"];
    let mut s = String::new();
    if r.below(2) == 0 {
        s.push_str("[settings]\n");
        if r.below(2) == 0 {
            s.push_str(["timezone = \"UTC\"\n", "timezone = \"+25:00\"\n", "timezone = \"Mars/Base\"\n"][r.below(3) as usize]);
        }
        if r.below(2) == 0 {
            s.push_str("boolean_true = [\"y\", \"1\"]\nboolean_false = [\"n\", \"y\"]\n");
        }
    }
    for _ in 0..r.below(3) {
        s.push_str(&format!(
            "[types.\"{}\"]\ntype = \"{}\"\n",
            ["DATETIME", "INT", "MONEY", ""][r.below(4) as usize],
            types[r.below(types.len() as u64) as usize]
        ));
        if r.below(2) == 0 {
            s.push_str(&format!("input = \"{}\"\n", inputs[r.below(inputs.len() as u64) as usize]));
        }
    }
    for t in 0..r.below(3) {
        s.push_str(&format!("[tables.t{t}]\n"));
        if r.below(3) == 0 {
            s.push_str("exclude = true\n");
        }
        for c in 0..r.below(3) {
            s.push_str(&format!("[tables.t{t}.columns.c{c}]\ntype = \"{}\"\n", types[r.below(types.len() as u64) as usize]));
            match r.below(4) {
                0 => s.push_str("rename = \"x\"\nexclude = true\n"),
                1 => s.push_str("formats = [\"%d/%m/%Y\", \"%Q\"]\n"),
                2 => s.push_str("on_bad_value = \"null\"\n"),
                _ => {}
            }
        }
    }
    s.into_bytes()
}

fn gen_any(r: &mut Rng) -> Vec<u8> {
    let mut v = vec![r.next() as u8];
    let body = match r.below(6) {
        0 => gen_datetime(r),
        1 => gen_number(r),
        2 => gen_uuid(r),
        3 => gen_json(r),
        4 => gen_words(r),
        _ => (0..r.below(40)).map(|_| r.next() as u8).collect(),
    };
    v.extend(body);
    v
}

// ---------------------------------------------------------------------------
// Input helpers.

fn int_from(b: &[u8]) -> i64 {
    let mut a = [0u8; 8];
    for (i, x) in b.iter().take(8).enumerate() {
        a[i] = *x;
    }
    match b.len() % 4 {
        0 => i64::from_le_bytes(a),
        1 => i64::from_le_bytes(a) % 100_000_000_000,
        2 => i64::from_le_bytes(a) >> (b.len() % 60),
        _ => std::str::from_utf8(b).ok().and_then(|s| s.trim().parse().ok()).unwrap_or(0),
    }
}

fn float_from(b: &[u8]) -> f64 {
    if let Some(f) = std::str::from_utf8(b).ok().and_then(|s| s.trim().parse::<f64>().ok()) {
        return f;
    }
    let i = int_from(b);
    if b.len().is_multiple_of(3) { f64::from_bits(i as u64) } else { i as f64 / 1000.0 }
}

// ---------------------------------------------------------------------------
// The engine.

/// SplitMix64: small, fast, good enough, reproducible from a seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 { 0 } else { self.next() % n }
    }

    /// Below `big` once in `rare` draws, else below `small`.
    fn sized(&mut self, rare: u64, big: u64, small: u64) -> u64 {
        let n = if self.below(rare) == 0 { big } else { small };
        self.below(n)
    }
}

const MAX_LEN: usize = 4096;

fn mutate(r: &mut Rng, input: &mut Vec<u8>, dict: &[&[u8]], pool: &[Vec<u8>]) {
    for _ in 0..1 + r.below(6) {
        let len = input.len() as u64;
        match r.below(11) {
            0 if len > 0 => {
                let i = r.below(len) as usize;
                input[i] ^= 1 << r.below(8);
            }
            1 if len > 0 => {
                let i = r.below(len) as usize;
                input[i] = [0u8, 0x7f, 0x80, 0xff, b'9', b'-', b'.', b'e', b' ', b'"'][r.below(10) as usize];
            }
            2 => {
                let i = r.below(len + 1) as usize;
                input.insert(i, r.next() as u8);
            }
            3 if len > 0 => {
                let i = r.below(len) as usize;
                let n = 1 + r.below((len - i as u64).min(16)) as usize;
                input.drain(i..i + n);
            }
            4 | 5 if !dict.is_empty() => {
                let tok = dict[r.below(dict.len() as u64) as usize];
                let i = r.below(len + 1) as usize;
                input.splice(i..i, tok.iter().copied());
            }
            6 if len > 0 => {
                // Duplicate a slice (repetition finds quadratic and worse).
                let i = r.below(len) as usize;
                let n = 1 + r.below((len - i as u64).min(64)) as usize;
                let slice = input[i..i + n].to_vec();
                for _ in 0..1 + r.sized(20, 200, 4) {
                    input.splice(i..i, slice.iter().copied());
                }
            }
            7 if !pool.is_empty() => {
                // Splice with another input.
                let other = &pool[r.below(pool.len() as u64) as usize];
                let cut = r.below(len + 1) as usize;
                let from = r.below(other.len() as u64 + 1) as usize;
                input.truncate(cut);
                input.extend_from_slice(&other[from..]);
            }
            8 if len > 0 => {
                // Replace a run of digits by an extreme number.
                let extremes: [&[u8]; 6] = [b"9223372036854775807", b"-9223372036854775808", b"0", b"99999999999999999999999", b"00000000000000000000001", b"4294967296"];
                let i = r.below(len) as usize;
                let end = (i..input.len()).find(|&j| !input[j].is_ascii_digit()).unwrap_or(input.len());
                input.splice(i..end.max(i), extremes[r.below(6) as usize].iter().copied());
            }
            9 if len > 0 => input.truncate(r.below(len) as usize),
            _ => {
                let i = r.below(len + 1) as usize;
                let n = 1 + r.below(8) as usize;
                let byte = r.next() as u8;
                input.splice(i..i, std::iter::repeat_n(byte, n));
            }
        }
    }
    input.truncate(MAX_LEN * 64);
}

fn corpus_dir(target: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz_corpus").join(target)
}

/// The seed CI uses; see `run`.
const CI_SEED: u64 = 20_261_122;

/// Fuzz targets in this file (the `#[test] fn fuzz_*`), and the inputs each
/// takes at least, so that a run of them all is at least a million inputs
/// (README, "What ferry guarantees"). Fast targets pass the floor within
/// their time budget; the slow ones (the mapping-file parser) run on until
/// they reach it. `FERRY_FUZZ_MIN_INPUTS` changes it (0: time budget only).
const TARGETS: u64 = 8;
const MIN_INPUTS_PER_TARGET: u64 = 125_000;
const _: () = assert!(TARGETS * MIN_INPUTS_PER_TARGET >= 1_000_000);

#[test]
fn every_fuzz_target_is_counted() {
    let text = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz.rs")).unwrap();
    let targets = text.lines().filter(|l| l.starts_with("fn fuzz_")).count() as u64;
    assert_eq!(targets, TARGETS, "TARGETS must count every fuzz target, so that the floor adds up to a million");
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// Replay the corpus, then generate inputs for the time budget, calling `f`
/// on each; fail on the first panic or hang with the input saved.
fn run<F>(target: &str, dict: &[&[u8]], generate: fn(&mut Rng) -> Vec<u8>, f: F)
where
    F: Fn(&[u8]) + Send + Sync + 'static,
{
    // Under CI the seed is fixed (and was run for longer than CI's budget
    // before it was chosen), so a submission cannot fail by the luck of
    // the draw; everywhere else every run explores new inputs.
    let default_seed = if std::env::var("CI").is_ok_and(|v| v == "true") {
        CI_SEED
    } else {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1)
    };
    let seed = env_u64("FERRY_FUZZ_SEED", default_seed);
    let budget = Duration::from_secs_f64(std::env::var("FERRY_FUZZ_SECS").ok().and_then(|v| v.parse().ok()).unwrap_or(7.0));
    let hang = Duration::from_secs(env_u64("FERRY_FUZZ_HANG_SECS", 5));
    let min_inputs = env_u64("FERRY_FUZZ_MIN_INPUTS", MIN_INPUTS_PER_TARGET);

    let mut corpus: Vec<(String, Vec<u8>)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir(corpus_dir(target)) {
        for e in entries.flatten() {
            if e.path().is_file() {
                corpus.push((e.file_name().to_string_lossy().into_owned(), std::fs::read(e.path()).unwrap()));
            }
        }
    }
    corpus.sort();
    assert!(!corpus.is_empty(), "no seeds in {}", corpus_dir(target).display());

    // The watchdog sees the input in flight and when it started.
    let current: Arc<Mutex<(Vec<u8>, Instant)>> = Arc::new(Mutex::new((Vec::new(), Instant::now())));
    let done = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let watchdog = {
        let (current, done, target) = (current.clone(), done.clone(), target.to_owned());
        std::thread::spawn(move || {
            while !done.load(Ordering::SeqCst) {
                std::thread::sleep(Duration::from_millis(100));
                let stuck = {
                    let c = current.lock().unwrap_or_else(|p| p.into_inner());
                    (c.1.elapsed() > hang && !done.load(Ordering::SeqCst)).then(|| c.0.clone())
                };
                if let Some(input) = stuck {
                    let path = save_failure(&target, &input);
                    // Straight to stderr: the test harness's capture would swallow eprintln!.
                    let _ = writeln!(
                        std::io::stderr(),
                        "fuzz target {target}: one input ran for more than {hang:?} (a hang); saved to {}\n  input: {}\n  seed: FERRY_FUZZ_SEED={seed}",
                        path.display(),
                        show(&input)
                    );
                    std::process::exit(101);
                }
            }
        })
    };

    let f = Arc::new(f);
    let call = |input: &[u8], origin: &str| {
        {
            let mut c = current.lock().unwrap_or_else(|p| p.into_inner());
            c.0.clear();
            c.0.extend_from_slice(input);
            c.1 = Instant::now();
        }
        let f = f.clone();
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| f(input))) {
            done.store(true, Ordering::SeqCst);
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            let path = save_failure(target, input);
            panic!(
                "fuzz target {target} panicked on {origin}: {msg}\n  input: {}\n  saved to {}: once fixed, copy it into {}/ so it is replayed on every run\n  seed: FERRY_FUZZ_SEED={seed}",
                show(input),
                path.display(),
                corpus_dir(target).display()
            );
        }
        count.fetch_add(1, Ordering::Relaxed);
    };

    // 1. Replay the corpus.
    for (name, input) in &corpus {
        call(input, &format!("corpus file {name}"));
    }
    // 2. Generate and mutate until the budget is spent.
    let mut r = Rng(seed ^ target.bytes().fold(0u64, |h, b| h.wrapping_mul(31).wrapping_add(u64::from(b))));
    // Files named `slow-*` are replayed but not mutated: an input that
    // legitimately takes milliseconds (a 131,071-digit number) would eat
    // the budget if thousands of variants were made of it.
    let mut pool: Vec<Vec<u8>> =
        corpus.iter().filter(|(name, _)| !name.starts_with("slow-")).map(|(_, i)| i.clone()).collect();
    let start = Instant::now();
    let mut input = Vec::new();
    while start.elapsed() < budget || count.load(Ordering::Relaxed) < min_inputs {
        for _ in 0..256 {
            input.clear();
            match r.below(4) {
                0 => input.extend(generate(&mut r)),
                _ => input.extend_from_slice(&pool[r.below(pool.len() as u64) as usize]),
            }
            if r.below(4) > 0 {
                mutate(&mut r, &mut input, dict, &pool);
            }
            call(&input, "a generated input");
            // Keep a few inputs as material for later splices.
            if r.below(512) == 0 && input.len() <= MAX_LEN {
                if pool.len() < 256 {
                    pool.push(input.clone());
                } else {
                    let i = r.below(pool.len() as u64) as usize;
                    pool[i] = input.clone();
                }
            }
        }
    }
    done.store(true, Ordering::SeqCst);
    let _ = watchdog.join();
    let n = count.load(Ordering::Relaxed);
    assert!(n >= min_inputs, "fuzz target {target}: {n} inputs, fewer than the {min_inputs} promised");
    eprintln!(
        "fuzz target {target}: {} inputs in {:.1}s ({} corpus files), seed {seed}",
        count.load(Ordering::Relaxed),
        start.elapsed().as_secs_f64(),
        corpus.len()
    );
}

fn save_failure(target: &str, input: &[u8]) -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/fuzz-failures").join(target);
    let _ = std::fs::create_dir_all(&dir);
    let path = dir.join(format!("crash-{}", &blake3::hash(input).to_hex()[..16]));
    let _ = std::fs::write(&path, input);
    path
}

fn show(input: &[u8]) -> String {
    let text = String::from_utf8_lossy(&input[..input.len().min(300)]).into_owned();
    format!("{} bytes, {text:?}{}", input.len(), if input.len() > 300 { "…" } else { "" })
}
