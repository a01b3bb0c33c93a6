//! Tests of `mapping::json`: canonical `jsonb` forms, what PostgreSQL's
//! `json` and `jsonb` inputs refuse, the depth limit, large documents.

use super::*;

fn canon(s: &str) -> Result<String, String> {
    let mut out = b"prefix:".to_vec();
    match canonical(s.as_bytes(), &mut out) {
        Ok(()) => Ok(String::from_utf8(out[7..].to_vec()).expect("canonical output is UTF-8")),
        Err(e) => {
            assert_eq!(out, b"prefix:", "out untouched on error");
            Err(e)
        }
    }
}

#[test]
fn canonical_forms() {
    let cases: &[(&str, &str)] = &[
        ("null", "null"),
        (" true ", "true"),
        ("false", "false"),
        ("{}", "{}"),
        ("[]", "[]"),
        ("[ ]", "[]"),
        ("{ }", "{}"),
        (r#"{"b": 1, "a": 2}"#, r#"{"a":2,"b":1}"#),
        (r#"{"a":1,"a":2}"#, r#"{"a":2}"#),
        (r#"{"a":1,"b":0,"a":{"x":[1]}}"#, r#"{"a":{"x":[1]},"b":0}"#),
        (r#"{"aa":1,"b":2,"a":3}"#, r#"{"a":3,"aa":1,"b":2}"#),
        (r#"{"é":1,"z":2}"#, r#"{"z":2,"é":1}"#),
        ("[1, [2, [3, {}]], \"x\"]", r#"[1,[2,[3,{}]],"x"]"#),
        (r#"{"k":[{"b":1,"a":2},{"d":[],"c":{}}]}"#, r#"{"k":[{"a":2,"b":1},{"c":{},"d":[]}]}"#),
        // Numbers as PostgreSQL's numeric prints them.
        ("1.50", "1.50"),
        ("1e2", "100"),
        ("1.5E1", "15"),
        ("1e-2", "0.01"),
        ("-0", "0"),
        ("0.0", "0.0"),
        ("-0.0", "0.0"),
        ("1E+2", "100"),
        ("-12.5e-3", "-0.0125"),
        ("12345678901234567890123", "12345678901234567890123"),
        ("0.1", "0.1"),
        // Strings: one escaping.
        (r#""a\/b""#, r#""a/b""#),
        (r#""\u0041\u00e9""#, r#""Aé""#),
        (r#""\ud83d\ude00""#, "\"😀\""),
        (r#""\uD83D\uDE00""#, "\"😀\""),
        ("\"😀\"", "\"😀\""),
        (r#""\b\f\n\r\t\"\\""#, r#""\b\f\n\r\t\"\\""#),
        (r#""\u0001\u001F\u007f""#, "\"\\u0001\\u001f\u{7f}\""),
        (r#""tab\there""#, r#""tab\there""#),
        (r#"{"\u0062":1,"a":2}"#, r#"{"a":2,"b":1}"#),
        (r#"{"b":1,"\u0062":2}"#, r#"{"b":2}"#),
    ];
    for (input, want) in cases {
        assert_eq!(canon(input).as_deref(), Ok(*want), "input {input}");
        // Canonical form is a fixed point and valid JSON.
        assert_eq!(canon(want).as_deref(), Ok(*want), "fixed point {want}");
        assert_eq!(validate(want.as_bytes()), Ok(()));
    }
}

#[test]
fn equivalent_texts_have_identical_canonical_bytes() {
    let groups: &[&[&str]] = &[
        &[
            r#"{"a":1,"b":[true,null,"x"]}"#,
            "{ \"b\" : [ true , null , \"x\" ] ,\n\t\"a\" : 1 }",
            r#"{"b":[true,null,"\u0078"],"a":1e0}"#,
            r#"{"b":[true,null,"\u0078"],"a":0.1e1}"#,
            r#"{"a":0,"b":[true,null,"x"],"a":1}"#,
            r#"{"\u0061":1,"b":[true,null,"x"]}"#,
        ],
        &[r#""😀""#, r#""\ud83d\ude00""#, r#""\uD83D\uDE00""#],
        &[r#"{"x":"a/b"}"#, r#"{"x":"a\/b"}"#, " {\"x\" :\"a/b\"}\r\n"],
        &["100", "1e2", "1E2", "1e+2", "10e1", "0.1e3", "0.100e3"],
        &["0", "-0", "0e5", "-0e0"],
        &["1.0", "1.0e0", "0.10e1", "10e-1"],
        &["1.00", "10.0e-1", "100e-2"],
    ];
    for group in groups {
        let first = canon(group[0]).unwrap();
        for other in &group[1..] {
            assert_eq!(canon(other).unwrap(), first, "{other} vs {}", group[0]);
        }
    }
    let distinct = [
        r#"{"a":1}"#,
        r#"{"a":"1"}"#,
        r#"{"a":1.0}"#,
        r#"{"a":[1]}"#,
        r#"{"A":1}"#,
        r#"{"a":1,"b":null}"#,
        r#"[1,2]"#,
        r#"[2,1]"#,
        r#""a""#,
        r#""a ""#,
        "1",
        "1.00",
        "true",
        "null",
    ];
    let all: Vec<String> = distinct.iter().map(|s| canon(s).unwrap()).collect();
    for i in 0..all.len() {
        for j in i + 1..all.len() {
            assert_ne!(all[i], all[j], "{} vs {}", distinct[i], distinct[j]);
        }
    }
}

#[test]
fn invalid_json_is_rejected_everywhere() {
    let bad: &[&str] = &[
        "",
        "   ",
        "{",
        "}",
        "[1,]",
        "[,1]",
        "[1 2]",
        "{\"a\"}",
        "{\"a\":}",
        "{\"a\":1,}",
        "{a:1}",
        "{'a':1}",
        "{\"a\" 1}",
        "{1:2}",
        "\"unterminated",
        "\"bad escape \\x\"",
        "\"\\u12\"",
        "\"\\u12G4\"",
        "\"raw\ttab\"",
        "\"raw\nnewline\"",
        "01",
        "-",
        "+1",
        ".5",
        "1.",
        "1e",
        "1e+",
        "-01",
        "0x10",
        "NaN",
        "Infinity",
        "-Infinity",
        "tru",
        "truex",
        "nul",
        "True",
        "[1]]",
        "1 2",
        "{}{}",
        "\u{feff}{}",
        "[1,\u{a0}2]",
        "//comment\n1",
    ];
    for s in bad {
        assert!(validate(s.as_bytes()).is_err(), "validate {s:?}");
        assert!(validate_jsonb(s.as_bytes()).is_err(), "validate_jsonb {s:?}");
        assert!(canon(s).is_err(), "canonical {s:?}");
    }
    // Invalid UTF-8, inside and outside strings.
    for s in [&b"\"\xff\""[..], b"[\"\xc3\"]", b"\xff", b"{\"a\xed\xa0\x80\":1}"] {
        assert!(validate(s).unwrap_err().contains("UTF-8"));
        assert!(validate_jsonb(s).is_err());
        assert!(canonical(s, &mut Vec::new()).is_err());
    }
    let err = validate(b"[1, 2,, 3]").unwrap_err();
    assert_eq!(err, "invalid JSON at byte 6: expected a value");
}

#[test]
fn json_versus_jsonb_rules() {
    // Accepted by `json` (escapes only checked for syntax), rejected by `jsonb`.
    for s in [
        r#""\u0000""#,
        r#"{"a\u0000":1}"#,
        r#""\ud83d""#,
        r#""\ude00""#,
        r#""\ud83d\ud83d""#,
        r#""\ud83dx""#,
        r#""\ud83d\n""#,
        r#""\ude00\ud83d""#,
        "1e1000000000",
        "1e-20000",
        "1e200000",
    ] {
        assert_eq!(validate(s.as_bytes()), Ok(()), "validate {s}");
        assert!(validate_jsonb(s.as_bytes()).is_err(), "validate_jsonb {s}");
        assert!(canon(s).is_err(), "canonical {s}");
    }
    for s in [r#""\u0001""#, r#""\ud83d\ude00""#, "1e131071", "1e-16383", r#"{"a":[{"b":"\u00e9"}]}"#] {
        assert_eq!(validate_jsonb(s.as_bytes()), Ok(()), "validate_jsonb {s}");
        assert!(canon(s).is_ok());
    }
}

#[test]
fn depth_limit() {
    let ok = format!("{}{}", "[".repeat(MAX_DEPTH), "]".repeat(MAX_DEPTH));
    assert_eq!(validate(ok.as_bytes()), Ok(()));
    assert_eq!(canon(&ok).unwrap(), ok);
    let deep = format!("{}{}", "[".repeat(MAX_DEPTH + 1), "]".repeat(MAX_DEPTH + 1));
    assert!(validate(deep.as_bytes()).unwrap_err().contains("nested deeper"));
    assert!(canon(&deep).is_err());
    let objs = format!("{}1{}", "{\"a\":".repeat(MAX_DEPTH), "}".repeat(MAX_DEPTH));
    assert!(canon(&objs).is_ok());
    // Far beyond the limit: an error, never a stack overflow.
    let huge = "[{\"a\":".repeat(200_000);
    assert!(validate(huge.as_bytes()).is_err());
    assert!(canon(&huge).is_err());
}

#[test]
fn canonicalizer_is_reusable() {
    let mut c = JsonCanonicalizer::new();
    let mut out = Vec::new();
    c.canonical(br#"{"b":{"y":1,"x":2},"a":"\u00e9"}"#, &mut out).unwrap();
    assert_eq!(out, r#"{"a":"é","b":{"x":2,"y":1}}"#.as_bytes());
    assert!(c.canonical(b"[1,", &mut out).is_err());
    out.clear();
    c.canonical(br#"["z",{"q":null}]"#, &mut out).unwrap();
    assert_eq!(out, br#"["z",{"q":null}]"#);
    // Appends.
    c.canonical(b"7", &mut out).unwrap();
    assert_eq!(out, br#"["z",{"q":null}]7"#);
}

#[test]
fn large_documents() {
    let mut doc = String::from("{");
    for i in (0..5000).rev() {
        if i != 4999 {
            doc.push(',');
        }
        doc.push_str(&format!("\"k{i:05}\":[{i},\"v\\n{i}\"]"));
    }
    doc.push('}');
    let c = canon(&doc).unwrap();
    assert!(c.starts_with(r#"{"k00000":[0,"v\n0"],"k00001":[1,"v\n1"]"#), "{}", &c[..60]);
    assert_eq!(canon(&c).unwrap(), c);
}
