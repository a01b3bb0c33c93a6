//! Booleans: which SQLite values mean `true` and `false`.
//!
//! SQLite has no boolean type; applications store `0`/`1`, `'t'`/`'f'`,
//! `'true'`/`'false'`, `'yes'`/`'no'`… This module owns the spellings and
//! the rule that anything else is a *bad value*, never silently `false`:
//! integers must be exactly 0 or 1, reals exactly 0.0 or 1.0, text one of
//! the configured spellings. Text is compared ASCII-case-insensitively
//! after trimming surrounding ASCII whitespace, without allocating.

/// Accepted text spellings of `true` and `false`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoolSpellings {
    trues: Vec<Box<[u8]>>,
    falses: Vec<Box<[u8]>>,
}

const DEFAULT_TRUES: [&str; 6] = ["1", "t", "true", "y", "yes", "on"];
const DEFAULT_FALSES: [&str; 6] = ["0", "f", "false", "n", "no", "off"];

impl Default for BoolSpellings {
    /// true: `1 t true y yes on`; false: `0 f false n no off`.
    fn default() -> Self {
        let conv = |l: &[&str]| l.iter().map(|s| Box::from(s.as_bytes())).collect();
        BoolSpellings { trues: conv(&DEFAULT_TRUES), falses: conv(&DEFAULT_FALSES) }
    }
}

impl BoolSpellings {
    /// The default spellings as lists, e.g. to replace only one side.
    pub fn default_lists() -> (Vec<String>, Vec<String>) {
        let conv = |l: &[&str]| l.iter().map(|s| (*s).to_owned()).collect();
        (conv(&DEFAULT_TRUES), conv(&DEFAULT_FALSES))
    }

    /// Custom spellings. Each is trimmed of surrounding ASCII whitespace and
    /// matched ASCII-case-insensitively; an empty spelling matches empty
    /// text. Both lists must be non-empty, and a spelling in both (up to
    /// case) is an error. Duplicates within a list are dropped.
    pub fn new(trues: &[String], falses: &[String]) -> Result<Self, String> {
        fn conv(l: &[String]) -> Vec<Box<[u8]>> {
            let mut out: Vec<Box<[u8]>> = Vec::with_capacity(l.len());
            for s in l {
                let t = s.as_bytes().trim_ascii();
                if !out.iter().any(|o| o.eq_ignore_ascii_case(t)) {
                    out.push(Box::from(t));
                }
            }
            out
        }
        let (trues, falses) = (conv(trues), conv(falses));
        if trues.is_empty() || falses.is_empty() {
            return Err("boolean spellings need at least one spelling for true and one for false".to_owned());
        }
        if let Some(both) = trues.iter().find(|t| falses.iter().any(|f| f.eq_ignore_ascii_case(t))) {
            return Err(format!(
                "boolean spelling {:?} is listed for both true and false",
                String::from_utf8_lossy(both)
            ));
        }
        Ok(BoolSpellings { trues, falses })
    }

    /// Text to a boolean, or an error for anything that is not a spelling.
    #[inline]
    pub fn parse_text(&self, s: &[u8]) -> Result<bool, &'static str> {
        let s = s.trim_ascii();
        if self.trues.iter().any(|t| t.eq_ignore_ascii_case(s)) {
            Ok(true)
        } else if self.falses.iter().any(|f| f.eq_ignore_ascii_case(s)) {
            Ok(false)
        } else {
            Err("not a recognised boolean spelling")
        }
    }

    /// Same as the free function [`from_i64`] (the spellings don't apply to numbers).
    #[allow(clippy::wrong_self_convention)]
    #[inline]
    pub fn from_i64(&self, v: i64) -> Result<bool, &'static str> {
        from_i64(v)
    }

    /// Same as the free function [`from_f64`].
    #[allow(clippy::wrong_self_convention)]
    #[inline]
    pub fn from_f64(&self, v: f64) -> Result<bool, &'static str> {
        from_f64(v)
    }
}

/// 0 → false, 1 → true, anything else is an error.
#[inline]
pub fn from_i64(v: i64) -> Result<bool, &'static str> {
    match v {
        0 => Ok(false),
        1 => Ok(true),
        _ => Err("integer is neither 0 nor 1"),
    }
}

/// 0.0 (or -0.0) → false, 1.0 → true, anything else (NaN too) is an error.
#[inline]
pub fn from_f64(v: f64) -> Result<bool, &'static str> {
    if v == 0.0 {
        Ok(false)
    } else if v == 1.0 {
        Ok(true)
    } else {
        Err("real is neither 0.0 nor 1.0")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn strings(l: &[&str]) -> Vec<String> {
        l.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn default_spellings() {
        let b = BoolSpellings::default();
        let cases: &[(&[u8], Result<bool, &str>)] = &[
            (b"1", Ok(true)),
            (b"t", Ok(true)),
            (b"T", Ok(true)),
            (b"true", Ok(true)),
            (b"TRUE", Ok(true)),
            (b"True", Ok(true)),
            (b"y", Ok(true)),
            (b"Yes", Ok(true)),
            (b"on", Ok(true)),
            (b" ON\t", Ok(true)),
            (b"0", Ok(false)),
            (b"f", Ok(false)),
            (b"False", Ok(false)),
            (b"n", Ok(false)),
            (b"NO", Ok(false)),
            (b"off", Ok(false)),
            (b"\n0\n", Ok(false)),
            (b"", Err("not a recognised boolean spelling")),
            (b"   ", Err("not a recognised boolean spelling")),
            (b"2", Err("not a recognised boolean spelling")),
            (b"-1", Err("not a recognised boolean spelling")),
            (b"1.0", Err("not a recognised boolean spelling")),
            (b"tru", Err("not a recognised boolean spelling")),
            (b"truee", Err("not a recognised boolean spelling")),
            (b"yes please", Err("not a recognised boolean spelling")),
            (b"null", Err("not a recognised boolean spelling")),
            (b"\xff", Err("not a recognised boolean spelling")),
            (b"t\0", Err("not a recognised boolean spelling")),
        ];
        for (s, want) in cases {
            assert_eq!(b.parse_text(s), *want, "{:?}", String::from_utf8_lossy(s));
        }
        let (t, f) = BoolSpellings::default_lists();
        assert_eq!(BoolSpellings::new(&t, &f).unwrap(), b);
    }

    #[test]
    fn custom_spellings() {
        let b = BoolSpellings::new(&strings(&["Ja", " J ", "ja"]), &strings(&["Nein", "", "N"])).unwrap();
        assert_eq!(b.parse_text(b"JA"), Ok(true));
        assert_eq!(b.parse_text(b"j"), Ok(true));
        assert_eq!(b.parse_text(b"nein "), Ok(false));
        assert_eq!(b.parse_text(b"  "), Ok(false));
        assert!(b.parse_text(b"yes").is_err());
        assert!(b.parse_text(b"1").is_err());
        // Non-ASCII spellings match exactly (ASCII-case-insensitively only).
        let b = BoolSpellings::new(&strings(&["sí"]), &strings(&["no"])).unwrap();
        assert_eq!(b.parse_text("SÍ".as_bytes()).ok(), None);
        assert_eq!(b.parse_text("Sí".as_bytes()), Ok(true));
    }

    #[test]
    fn custom_spelling_errors() {
        let err = BoolSpellings::new(&strings(&["yes", "Y"]), &strings(&["no", "y"])).unwrap_err();
        assert!(err.contains("\"Y\"") && err.contains("both"), "{err}");
        assert!(BoolSpellings::new(&[], &strings(&["no"])).is_err());
        assert!(BoolSpellings::new(&strings(&["yes"]), &[]).is_err());
        assert!(BoolSpellings::new(&strings(&[" x"]), &strings(&["X "])).is_err());
    }

    #[test]
    fn numbers() {
        let b = BoolSpellings::default();
        for (v, want) in [(0, Ok(false)), (1, Ok(true)), (2, Err(())), (-1, Err(())), (i64::MAX, Err(())), (i64::MIN, Err(()))] {
            assert_eq!(from_i64(v).map_err(|_| ()), want, "{v}");
            assert_eq!(b.from_i64(v).map_err(|_| ()), want, "{v}");
        }
        for (v, want) in [
            (0.0, Ok(false)),
            (-0.0, Ok(false)),
            (1.0, Ok(true)),
            (0.5, Err(())),
            (1.0000000000000002, Err(())),
            (2.0, Err(())),
            (f64::NAN, Err(())),
            (f64::INFINITY, Err(())),
        ] {
            assert_eq!(from_f64(v).map_err(|_| ()), want, "{v}");
            assert_eq!(b.from_f64(v).map_err(|_| ()), want, "{v}");
        }
    }
}
