//! Tests of `mapping::numeric`: normalizing decimal text (with and without
//! a typmod), the binary `numeric` encoding against `numeric_send`, decoding.

use super::*;

fn norm(s: &str, p: Option<u32>, sc: Option<u32>) -> Result<String, String> {
    let mut out = String::from("prefix:");
    let r = normalize(s.as_bytes(), p, sc, &mut out);
    match r {
        Ok(()) => Ok(out["prefix:".len()..].to_owned()),
        Err(e) => {
            assert_eq!(out, "prefix:", "out must be untouched on error");
            Err(e)
        }
    }
}

#[test]
fn normalize_without_typmod() {
    let cases: &[(&str, &str)] = &[
        ("0", "0"),
        ("-0", "0"),
        ("+0", "0"),
        ("-0.000", "0"),
        ("000123", "123"),
        ("0.5", "0.5"),
        ("-.5", "-0.5"),
        ("5.", "5"),
        (".5", "0.5"),
        ("1.50", "1.5"),
        ("100", "100"),
        ("100.00", "100"),
        ("1e2", "100"),
        ("1E+2", "100"),
        ("1.5E1", "15"),
        ("1e-2", "0.01"),
        ("-1.25e-3", "-0.00125"),
        ("12345678901234567890.123456", "12345678901234567890.123456"),
        ("  42 \t\n", "42"),
        ("0e99", "0"),
        ("1e-30", "0.000000000000000000000000000001"),
        ("123.456e1", "1234.56"),
        ("123.456e5", "12345600"),
        ("0.000", "0"),
        ("nan", "NaN"),
        ("NaN", "NaN"),
        ("Infinity", "Infinity"),
        ("-inf", "-Infinity"),
        ("+INFINITY", "Infinity"),
    ];
    for (input, want) in cases {
        assert_eq!(norm(input, None, None).as_deref(), Ok(*want), "input {input:?}");
    }
}

#[test]
fn normalize_with_typmod_rounds_half_away_from_zero() {
    let cases: &[(&str, u32, u32, &str)] = &[
        ("1.005", 10, 2, "1.01"),
        ("1.004999", 10, 2, "1.00"),
        ("-1.005", 10, 2, "-1.01"),
        ("2.5", 10, 0, "3"),
        ("-2.5", 10, 0, "-3"),
        ("0.5", 10, 0, "1"),
        ("0.49", 10, 0, "0"),
        ("-0.001", 10, 2, "0.00"),
        ("-0.005", 10, 2, "-0.01"),
        ("9.995", 4, 2, "10.00"),
        ("99.995", 5, 2, "100.00"),
        ("0.0005", 5, 3, "0.001"),
        ("1", 5, 3, "1.000"),
        ("0", 5, 3, "0.000"),
        ("-0", 5, 3, "0.000"),
        ("1.5e1", 5, 2, "15.00"),
        ("1e-10", 5, 2, "0.00"),
        ("5e-3", 5, 2, "0.01"),
        ("12345678.994", 10, 2, "12345678.99"),
        ("0.99", 2, 2, "0.99"),
        ("NaN", 10, 2, "NaN"),
        ("00000001.10", 3, 2, "1.10"),
    ];
    for (input, p, s, want) in cases {
        assert_eq!(norm(input, Some(*p), Some(*s)).as_deref(), Ok(*want), "input {input:?} numeric({p},{s})");
    }
    // numeric(p) means scale 0; a scale alone just rounds.
    assert_eq!(norm("2.5", Some(3), None).as_deref(), Ok("3"));
    assert_eq!(norm("123456.789", None, Some(1)).as_deref(), Ok("123456.8"));
    // scale > precision (PostgreSQL 15+).
    assert_eq!(norm("0.00012", Some(2), Some(5)).as_deref(), Ok("0.00012"));
}

#[test]
fn normalize_errors() {
    let err = norm("123456789012.5", Some(10), Some(2)).unwrap_err();
    assert_eq!(err, "precision overflow: 12 digits before the point, numeric(10,2) allows 8");
    let err = norm("99.995", Some(4), Some(2)).unwrap_err();
    assert_eq!(err, "precision overflow: 3 digits before the point, numeric(4,2) allows 2");
    let err = norm("1", Some(2), Some(2)).unwrap_err();
    assert_eq!(err, "precision overflow: 1 digit before the point, numeric(2,2) allows 0");
    let err = norm("1000", Some(3), None).unwrap_err();
    assert!(err.contains("numeric(3) allows 3"), "{err}");
    let err = norm("0.001", Some(2), Some(5)).unwrap_err();
    assert!(err.contains("below 1e-3"), "{err}");
    assert!(norm("Infinity", Some(10), Some(2)).unwrap_err().contains("infinity"));
    assert!(norm("-inf", None, Some(2)).is_err());
    for bad in [
        "", " ", "-", "+", ".", "e5", "1e", "1e+", "1.2.3", "1,5", "abc", "1 2", "--1", "0x10", "1_000",
        "nan1", "-nan", "infinit", "1e5x", "١٢", "1.5e1.5",
    ] {
        assert_eq!(
            norm(bad, None, None),
            Err("not a valid decimal number".to_owned()),
            "input {bad:?}"
        );
    }
    // PostgreSQL's storage limits.
    assert_eq!(norm("1e2000000000", None, None).unwrap_err(), "value overflows numeric format");
    assert_eq!(norm("1e131072", None, None).unwrap_err(), "value overflows numeric format");
    assert!(norm("1e131071", None, None).is_ok());
    assert_eq!(norm("1e-16384", None, None).unwrap_err(), "value overflows numeric format");
    assert!(norm("1e-16383", None, None).is_ok());
    assert_eq!(norm("1e-16384", Some(10), Some(2)).as_deref(), Ok("0.00"));
    assert!(norm("1", None, Some(20000)).unwrap_err().contains("scale 20000"));
    assert_eq!(norm("0e-99999999999999999999", None, None).unwrap_err(), "value overflows numeric format");
}

#[test]
fn from_f64_shortest_round_trip() {
    let cases: &[(f64, &str)] = &[
        (0.1 + 0.2, "0.30000000000000004"),
        (0.99, "0.99"),
        (1.0, "1"),
        (-0.0, "0"),
        (0.0, "0"),
        (-2.5, "-2.5"),
        (1e-7, "0.0000001"),
        (123456789.125, "123456789.125"),
        (f64::NAN, "NaN"),
        (f64::INFINITY, "Infinity"),
        (f64::NEG_INFINITY, "-Infinity"),
    ];
    for (v, want) in cases {
        let mut s = String::new();
        from_f64(*v, &mut s);
        assert_eq!(s, *want, "value {v:?}");
    }
    let mut s = String::new();
    from_f64(1e300, &mut s);
    assert_eq!(s.len(), 301);
    assert!(s.starts_with('1') && s[1..].bytes().all(|c| c == b'0'), "{s}");
    // And it is canonical already.
    let mut n = String::new();
    normalize(s.as_bytes(), None, None, &mut n).unwrap();
    assert_eq!(n, s);
    for v in [f64::MIN_POSITIVE, 5e-324, f64::MAX, -1.7976931348623157e308, 0.3, 2.0 / 3.0] {
        let mut s = String::new();
        from_f64(v, &mut s);
        assert_eq!(s.parse::<f64>().unwrap(), v);
        let mut n = String::new();
        normalize(s.as_bytes(), None, None, &mut n).unwrap();
        assert_eq!(n, s, "from_f64 output is canonical");
    }
}

fn encode(s: &str) -> Vec<u8> {
    let mut b = BytesMut::new();
    try_encode_binary(s, &mut b).unwrap_or_else(|e| panic!("{s}: {e}"));
    b.to_vec()
}

fn wire(ndigits: u16, weight: i16, sign: u16, dscale: u16, digits: &[i16]) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ndigits.to_be_bytes());
    v.extend_from_slice(&weight.to_be_bytes());
    v.extend_from_slice(&sign.to_be_bytes());
    v.extend_from_slice(&dscale.to_be_bytes());
    for d in digits {
        v.extend_from_slice(&d.to_be_bytes());
    }
    v
}

#[test]
fn encode_matches_numeric_send() {
    let cases: &[(&str, Vec<u8>)] = &[
        ("0", wire(0, 0, 0, 0, &[])),
        ("0.00", wire(0, 0, 0, 2, &[])),
        ("1", wire(1, 0, 0, 0, &[1])),
        ("10000", wire(1, 1, 0, 0, &[1])),
        ("12345", wire(2, 1, 0, 0, &[1, 2345])),
        ("0.0001", wire(1, -1, 0, 4, &[1])),
        ("0.00001", wire(1, -2, 0, 5, &[1000])),
        ("-0.5", wire(1, -1, SIGN_NEG, 1, &[5000])),
        ("1.50", wire(2, 0, 0, 2, &[1, 5000])),
        ("123.456", wire(2, 0, 0, 3, &[123, 4560])),
        ("100000000.00000001", wire(5, 2, 0, 8, &[1, 0, 0, 0, 1])),
        ("NaN", wire(0, 0, SIGN_NAN, 0, &[])),
        ("Infinity", wire(0, 0, SIGN_PINF, 0, &[])),
        ("-Infinity", wire(0, 0, SIGN_NINF, 0, &[])),
    ];
    for (s, want) in cases {
        assert_eq!(&encode(s), want, "encoding {s}");
    }
}

#[test]
fn encode_decode_round_trip() {
    let values = [
        "0",
        "0.0",
        "-0.5",
        "0.000000000000000000000000000001",
        "12345678901234567890.123456",
        "10000",
        "0.0001",
        "NaN",
        "Infinity",
        "-Infinity",
        "1",
        "-1",
        "9999",
        "99999999",
        "100000000",
        "0.1",
        "0.12345",
        "1.000000",
        "-123456.78900",
        "5.00",
        "1000000000000000000000000000000000000000",
    ];
    for v in values {
        let bytes = encode(v);
        let mut out = String::new();
        decode_binary(&bytes, &mut out).unwrap();
        assert_eq!(out, v, "round trip of {v}");
    }
    // Round trip through normalize of arbitrary inputs.
    for (input, sc) in [("1e-30", None), ("1.5E1", Some(3)), ("-0.0049", Some(2)), ("7e20", None)] {
        let mut canon = String::new();
        normalize(input.as_bytes(), None, sc, &mut canon).unwrap();
        let mut out = String::new();
        decode_binary(&encode(&canon), &mut out).unwrap();
        assert_eq!(out, canon);
    }
}

#[test]
fn encode_binary_is_lenient_but_try_is_strict() {
    for bad in ["", "-", "1.", ".5", "+1", "1e3", "abc", "1.2.3", "--1", "0x1"] {
        let mut b = BytesMut::new();
        assert!(try_encode_binary(bad, &mut b).is_err(), "{bad:?}");
        assert!(b.is_empty());
    }
    let mut b = BytesMut::new();
    encode_binary("1e3", &mut b);
    assert_eq!(b.to_vec(), wire(1, 0, 0, 0, &[1000]));
    let mut b = BytesMut::new();
    encode_binary("garbage", &mut b);
    assert_eq!(b.to_vec(), wire(0, 0, SIGN_NAN, 0, &[]));
    // Leading zeros in the integer part are tolerated by the strict encoder.
    assert_eq!(encode("007"), wire(1, 0, 0, 0, &[7]));
}

#[test]
fn decode_prints_like_postgres() {
    let cases: &[(Vec<u8>, &str)] = &[
        (wire(0, 0, 0, 0, &[]), "0"),
        (wire(0, 0, 0, 3, &[]), "0.000"),
        (wire(1, 2, 0, 0, &[7]), "700000000"),
        (wire(1, -3, 0, 12, &[42]), "0.000000000042"),
        // Digits beyond dscale are truncated, as PostgreSQL prints them.
        (wire(2, 0, 0, 1, &[1, 5678]), "1.5"),
        (wire(1, 0, SIGN_NEG, 2, &[0]), "0.00"),
        (wire(1, 0, SIGN_NEG, 0, &[12]), "-12"),
    ];
    for (buf, want) in cases {
        let mut out = String::new();
        decode_binary(buf, &mut out).unwrap();
        assert_eq!(out, *want);
    }
}

#[test]
fn decode_errors() {
    let cases: &[(Vec<u8>, &str)] = &[
        (vec![0, 0, 0], "numeric value shorter than its header"),
        (wire(2, 0, 0, 0, &[1]), "numeric value length does not match its digit count"),
        (wire(0, 0, 0x1234, 0, &[]), "invalid sign in numeric value"),
        (wire(0, 0, 0, 0x4000, &[]), "invalid scale in numeric value"),
        (wire(1, 0, 0, 0, &[10000]), "invalid digit in numeric value"),
        (wire(1, 0, 0, 0, &[-1]), "invalid digit in numeric value"),
    ];
    for (buf, want) in cases {
        let mut out = String::from("x");
        assert_eq!(decode_binary(buf, &mut out), Err(*want));
        assert_eq!(out, "x");
    }
}

#[test]
fn keep_mode_matches_postgres_display_scale() {
    let cases: &[(&str, &str)] = &[
        ("1.50", "1.50"),
        ("1e2", "100"),
        ("1.5E1", "15"),
        ("1e-2", "0.01"),
        ("-0", "0"),
        ("0.0", "0.0"),
        ("-0.0", "0.0"),
        ("1.50e-1", "0.150"),
        ("0e-3", "0.000"),
    ];
    for (input, want) in cases {
        let Some(Number::Finite(d)) = parse_number(input.as_bytes()) else { panic!("{input}") };
        let mut out = Vec::new();
        d.plan(FracDigits::Keep, None).unwrap().write(&mut out);
        assert_eq!(String::from_utf8(out).unwrap(), *want, "{input}");
    }
}

#[test]
fn doubles_at_a_scale_are_their_exact_value() {
    let at = |v: f64, p: u32, sc: u32| {
        let (mut t, mut out) = (String::new(), String::new());
        from_f64_scaled(v, sc, &mut t);
        normalize(t.as_bytes(), Some(p), Some(sc), &mut out).map(|()| out)
    };
    assert_eq!(at(4068861093708.90625, 20, 6).unwrap(), "4068861093708.906250");
    // 2.675 is 2.67499999999999982236431605997495353221893310546875.
    assert_eq!(at(2.675, 10, 2).unwrap(), "2.67");
    // An exact tie rounds half away from zero, as PostgreSQL does.
    assert_eq!(at(0.125, 10, 2).unwrap(), "0.13");
    assert_eq!(at(-0.125, 10, 2).unwrap(), "-0.13");
    assert_eq!(at(0.1, 10, 6).unwrap(), "0.100000");
    assert_eq!(at(1e23, 30, 0).unwrap(), "99999999999999991611392");
    assert_eq!(at(-0.0, 5, 2).unwrap(), "0.00");
    assert_eq!(at(5e-324, 10, 3).unwrap(), "0.000");
    assert!(at(1e10, 5, 2).is_err());
}
