//! Per-value conversion: a borrowed SQLite value in, a typed PostgreSQL value
//! out, or a reason why not.
//!
//! The [`Converter`] of a column is chosen once by `mapping::resolve`; the
//! row loop only calls [`Converter::convert`], a `match` on the converter and
//! on the SQLite storage class. Conversions that produce new text (a number
//! written as text, a rounded decimal) write into a caller-owned scratch
//! `String`, so the steady state allocates nothing.

use std::borrow::Cow;
use std::fmt::Write as _;

use rusqlite::types::ValueRef;
use serde::Serialize;

use super::boolean::BoolSpellings;
use super::datetime::{self, EpochUnit, Zone};
use super::types::PgType;
use super::interval::{self, Interval};
use super::{inet, json, json_sqlite, numeric, timeofday, uuid};

/// A converted value, ready to be encoded for COPY and hashed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Value<'a> {
    Null,
    Bool(bool),
    /// Any integer type, already range-checked for the column.
    Int(i64),
    Float(f64),
    /// Canonical decimal text (see `numeric::normalize`).
    Numeric(&'a str),
    Text(&'a str),
    Bytes(&'a [u8]),
    /// Microseconds since 1970-01-01 00:00 (UTC for `timestamptz`).
    Timestamp(i64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since midnight.
    Time(i64),
    /// JSON text, validated.
    Json(&'a str),
    Uuid([u8; 16]),
    /// `text[]` in PostgreSQL's binary array format (what `array_send`
    /// writes, so the same bytes come back when read): see [`encode_text_array`].
    TextArray(&'a [u8]),
    Interval(Interval),
    /// `inet` / `cidr` in PostgreSQL's binary form (see `inet`).
    Net(&'a [u8]),
}

/// Why a value could not be converted. The caller adds table, column and row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BadValue {
    pub reason: Cow<'static, str>,
}

impl BadValue {
    fn new(reason: impl Into<Cow<'static, str>>) -> Self {
        BadValue { reason: reason.into() }
    }
}

fn bad<E: ToString>(e: E) -> BadValue {
    BadValue::new(e.to_string())
}

/// What to do with a NUL byte in text (PostgreSQL text cannot hold one).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum NulPolicy {
    #[default]
    Error,
    StripNul,
}

/// What to do with text that is not valid UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Utf8Policy {
    #[default]
    Error,
    ReplaceInvalid,
}

/// How a date/time column's numbers or text are read.
#[derive(Debug, Clone, PartialEq)]
pub enum TimeInput {
    /// ISO 8601 / SQL text, then any extra strftime formats in order.
    /// Numbers are bad values: their unit is ambiguous.
    Text { formats: Vec<String> },
    /// Numbers since an epoch (text is parsed as ISO as well).
    Epoch { unit: EpochUnit, origin_micros: i64 },
}

#[derive(Debug, Clone)]
pub enum Converter {
    Bool(BoolSpellings),
    Int { min: i64, max: i64 },
    Float { single: bool },
    Numeric { precision: Option<u32>, scale: Option<u32> },
    Text { max_chars: Option<u32>, nul: NulPolicy, utf8: Utf8Policy },
    Bytea,
    /// `zone`: where naive values are read (timestamptz only).
    /// `precision`: fractional-second digits the column keeps
    /// (`timestamp(3)`); a finer value is a bad value, never rounded.
    Timestamp { input: TimeInput, zoned: bool, zone: Zone, precision: u8 },
    Date { input: TimeInput },
    /// Text is a time of day, or a time on a placeholder date
    /// (`timeofday`); numbers, when `input` says how, the instant's time of
    /// day. `precision`: fractional-second digits the column keeps.
    Time { input: TimeInput, precision: u8 },
    /// `jsonb`: what PostgreSQL's jsonb input takes (no `\u0000`, numbers
    /// within numeric's range); else `json`, which keeps any valid JSON text.
    Json { jsonb: bool },
    Uuid,
    /// JSON text holding an array of strings, into `text[]`.
    JsonTextArray,
    /// The target wants an array but no rule said how to read one.
    NoArrayInput,
    /// A PostgreSQL enum: the text must be one of the labels, exactly.
    Enum { labels: Vec<String> },
    Interval,
    Inet { cidr: bool },
}

/// What a conversion did beyond converting, for the report's counts. Set
/// by [`Converter::convert_counted`]; the caller resets it per value.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Change {
    /// An opt-in lossy policy changed the value (`strip-nul`, `replace-invalid`).
    pub altered: bool,
    /// Rounded to float4 as PostgreSQL's assignment cast rounds: the
    /// relative change |rounded − value| / |value| (> 0).
    pub rounded: Option<f64>,
    /// With `rounded`: the value before rounding.
    pub rounded_from: f64,
}

impl Converter {
    /// The natural converter for a PostgreSQL type, with default options.
    pub fn for_type(pg: &PgType) -> Converter {
        let text_input = TimeInput::Text { formats: Vec::new() };
        match pg {
            PgType::Boolean => Converter::Bool(BoolSpellings::default()),
            PgType::SmallInt => Converter::Int { min: i16::MIN as i64, max: i16::MAX as i64 },
            PgType::Integer => Converter::Int { min: i32::MIN as i64, max: i32::MAX as i64 },
            PgType::BigInt => Converter::Int { min: i64::MIN, max: i64::MAX },
            PgType::Real => Converter::Float { single: true },
            PgType::Double => Converter::Float { single: false },
            PgType::Numeric { precision, scale } => {
                Converter::Numeric { precision: *precision, scale: *scale }
            }
            PgType::Text => {
                Converter::Text { max_chars: None, nul: NulPolicy::Error, utf8: Utf8Policy::Error }
            }
            // character(n): the server pads; the length is checked here.
            PgType::Varchar(n) | PgType::Char(n) => {
                Converter::Text { max_chars: *n, nul: NulPolicy::Error, utf8: Utf8Policy::Error }
            }
            PgType::Bytea => Converter::Bytea,
            PgType::Timestamp => {
                Converter::Timestamp { input: text_input, zoned: false, zone: Zone::Utc, precision: 6 }
            }
            PgType::Timestamptz => {
                Converter::Timestamp { input: text_input, zoned: true, zone: Zone::Utc, precision: 6 }
            }
            PgType::Date => Converter::Date { input: text_input },
            PgType::Time => Converter::Time { input: text_input, precision: 6 },
            PgType::Json => Converter::Json { jsonb: false },
            PgType::Jsonb => Converter::Json { jsonb: true },
            PgType::Uuid => Converter::Uuid,
            PgType::Enum { labels, .. } => Converter::Enum { labels: labels.clone() },
            PgType::TextArray => Converter::NoArrayInput,
            PgType::Interval => Converter::Interval,
            PgType::Byte => Converter::Int { min: i8::MIN as i64, max: i8::MAX as i64 },
            PgType::Inet => Converter::Inet { cidr: false },
            PgType::Cidr => Converter::Inet { cidr: true },
        }
    }

    /// Convert one value. `scratch` is reused across calls by the caller.
    #[inline]
    pub fn convert<'a>(
        &self,
        v: ValueRef<'a>,
        scratch: &'a mut Scratch,
    ) -> Result<Value<'a>, BadValue> {
        let mut change = Change::default();
        self.convert_counted(v, scratch, &mut change)
    }

    /// [`Converter::convert`], telling in `change` when an opt-in lossy
    /// policy changed the value (`strip-nul`, `replace-invalid`) or a real
    /// was rounded to float4, so the caller can count it.
    ///
    /// One arm per converter, most of them a call: the table of cases the
    /// row loop dispatches on for every value, kept as one match (longer
    /// than ~100 lines on purpose) so the dispatch stays a single jump.
    #[inline]
    pub fn convert_counted<'a>(
        &self,
        v: ValueRef<'a>,
        scratch: &'a mut Scratch,
        change: &mut Change,
    ) -> Result<Value<'a>, BadValue> {
        if let ValueRef::Null = v {
            return Ok(Value::Null);
        }
        match self {
            Converter::Int { min, max } => convert_int(v, *min, *max),
            Converter::Float { single: false } => convert_float(v, false),
            Converter::Float { single: true } => convert_float4(v, change),
            Converter::Text { max_chars, nul, utf8 } => {
                convert_text(v, *max_chars, *nul, *utf8, &mut scratch.out, &mut change.altered)
            }
            Converter::Bytea => match v {
                ValueRef::Blob(b) => Ok(Value::Bytes(b)),
                ValueRef::Text(t) => Ok(Value::Bytes(t)),
                _ => Err(BadValue::new(
                    "a number in a bytea column; map the column to a numeric or text type",
                )),
            },
            Converter::Bool(sp) => match v {
                ValueRef::Integer(i) => sp.from_i64(i).map(Value::Bool).map_err(bad),
                ValueRef::Real(f) => sp.from_f64(f).map(Value::Bool).map_err(bad),
                ValueRef::Text(t) => sp.parse_text(t).map(Value::Bool).map_err(bad),
                _ => Err(BadValue::new("a blob is not a boolean")),
            },
            Converter::Numeric { precision, scale } => {
                let Scratch { out, tmp, .. } = scratch;
                out.clear();
                tmp.clear();
                match v {
                    ValueRef::Integer(i) => {
                        let _ = write!(tmp, "{i}");
                        numeric::normalize(tmp.as_bytes(), *precision, *scale, out).map_err(bad)?;
                    }
                    ValueRef::Real(f) => {
                        // With a scale: the double's exact value at that
                        // scale; without: its shortest round-trip text.
                        match scale.or(precision.map(|_| 0)) {
                            Some(s) => numeric::from_f64_scaled(f, s, tmp),
                            None => numeric::from_f64(f, tmp),
                        }
                        numeric::normalize(tmp.as_bytes(), *precision, *scale, out).map_err(bad)?;
                    }
                    ValueRef::Text(t) => {
                        numeric::normalize(t, *precision, *scale, out).map_err(bad)?
                    }
                    _ => return Err(BadValue::new("a blob is not a number")),
                }
                Ok(Value::Numeric(out.as_str()))
            }
            Converter::Timestamp { input, zoned, zone, precision } => {
                let micros = read_instant(v, input, *zoned, *zone)?;
                datetime::check_pg_timestamp(micros).map_err(bad)?;
                datetime::check_precision(micros, *precision).map_err(bad)?;
                Ok(Value::Timestamp(micros))
            }
            Converter::Date { input } => {
                let micros = read_instant(v, input, false, Zone::Utc)?;
                let days = micros.div_euclid(86_400_000_000);
                if micros.rem_euclid(86_400_000_000) != 0 {
                    return Err(BadValue::new("has a time of day; a date column would lose it"));
                }
                let days = i32::try_from(days).map_err(|_| BadValue::new("date out of range"))?;
                datetime::check_pg_date(days).map_err(bad)?;
                Ok(Value::Date(days))
            }
            Converter::Time { input, precision } => match v {
                ValueRef::Text(t) => {
                    let us = timeofday::parse(t).map_err(bad)?;
                    datetime::check_precision(us, *precision).map_err(bad)?;
                    Ok(Value::Time(us))
                }
                ValueRef::Integer(_) | ValueRef::Real(_) if matches!(input, TimeInput::Epoch { .. }) => {
                    let us = datetime::time_of_day_micros(read_instant(v, input, false, Zone::Utc)?);
                    datetime::check_precision(us, *precision).map_err(bad)?;
                    Ok(Value::Time(us))
                }
                _ => Err(BadValue::new("a time of day must be text HH:MM[:SS[.ffffff]]")),
            },
            Converter::Json { jsonb } => match v {
                ValueRef::Text(t) => {
                    if *jsonb { json::validate_jsonb(t) } else { json::validate(t) }.map_err(bad)?;
                    // validate_jsonb accepted it, so it is UTF-8.
                    crate::mapping::utf8(t).map(Value::Json).map_err(|_| BadValue::new("not UTF-8"))
                }
                // A number is a JSON document (see `json_sqlite`).
                ValueRef::Integer(i) => {
                    scratch.out.clear();
                    let _ = write!(scratch.out, "{i}");
                    Ok(Value::Json(scratch.out.as_str()))
                }
                ValueRef::Real(f) => {
                    let Scratch { out, tmp, .. } = scratch;
                    out.clear();
                    json_sqlite::write_real(f, out, tmp).map_err(bad)?;
                    Ok(Value::Json(out.as_str()))
                }
                ValueRef::Blob(b) => {
                    scratch.out.clear();
                    json_sqlite::render_jsonb(b, &mut scratch.out).map_err(bad)?;
                    let out = scratch.out.as_bytes();
                    if *jsonb { json::validate_jsonb(out) } else { json::validate(out) }.map_err(bad)?;
                    Ok(Value::Json(scratch.out.as_str()))
                }
                ValueRef::Null => Ok(Value::Null),
            },
            Converter::Interval => match v {
                ValueRef::Integer(us) => Ok(Value::Interval(interval::from_micros(us))),
                ValueRef::Text(t) => interval::parse_text(t).map(Value::Interval).map_err(bad),
                ValueRef::Real(_) => Err(BadValue::new(
                    "a real in an interval column has no stated unit (integers are read as microseconds)",
                )),
                _ => Err(BadValue::new("a blob is not a duration")),
            },
            Converter::Inet { cidr } => match v {
                ValueRef::Text(t) => {
                    inet::parse(t, *cidr, &mut scratch.bytes).map_err(bad)?;
                    Ok(Value::Net(&scratch.bytes))
                }
                _ => Err(BadValue::new("an IP address must be text")),
            },
            Converter::JsonTextArray => match v {
                ValueRef::Text(t) => {
                    encode_text_array(t, &mut scratch.bytes)?;
                    Ok(Value::TextArray(&scratch.bytes))
                }
                _ => Err(BadValue::new("a text[] value must be JSON text")),
            },
            Converter::NoArrayInput => Err(BadValue::new(
                "a text[] column is filled from JSON arrays only when a mapping rule says input = \"json-array\"",
            )),
            Converter::Enum { labels } => match v {
                ValueRef::Text(t) => match labels.iter().any(|l| l.as_bytes() == t) {
                    // Equal to a label, so valid UTF-8.
                    true => crate::mapping::utf8(t).map(Value::Text).map_err(|_| BadValue::new("not UTF-8")),
                    false => Err(BadValue::new(format!("not one of the enum's labels {labels:?}"))),
                },
                _ => Err(BadValue::new("an enum value must be text")),
            },
            Converter::Uuid => match v {
                ValueRef::Text(t) => uuid::parse_text(t).map(Value::Uuid).map_err(bad),
                ValueRef::Blob(b) => uuid::from_blob(b).map(Value::Uuid).map_err(bad),
                _ => Err(BadValue::new("a number is not a UUID")),
            },
        }
    }
}

/// A SQLite storage class of a non-NULL value (`typeof`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StorageClass {
    Integer,
    Real,
    Text,
    Blob,
}

impl StorageClass {
    /// One bit per class, for class sets.
    #[inline]
    pub fn bit(self) -> u8 {
        match self {
            StorageClass::Integer => 1,
            StorageClass::Real => 2,
            StorageClass::Text => 4,
            StorageClass::Blob => 8,
        }
    }

    pub fn of(v: ValueRef<'_>) -> Option<StorageClass> {
        match v {
            ValueRef::Null => None,
            ValueRef::Integer(_) => Some(StorageClass::Integer),
            ValueRef::Real(_) => Some(StorageClass::Real),
            ValueRef::Text(_) => Some(StorageClass::Text),
            ValueRef::Blob(_) => Some(StorageClass::Blob),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            StorageClass::Integer => "integer",
            StorageClass::Real => "real",
            StorageClass::Text => "text",
            StorageClass::Blob => "blob",
        }
    }
}

impl Converter {
    /// Can any value of this storage class convert? False when every value
    /// of the class is a bad value (a blob into an integer, a number into
    /// bytea or into a date/time column read as text…), which is known
    /// from the storage-class profile before any row is read.
    pub fn takes(&self, class: StorageClass) -> bool {
        use StorageClass::*;
        match self {
            Converter::Int { .. } | Converter::Float { .. } | Converter::Numeric { .. } | Converter::Bool(_) => class != Blob,
            Converter::Text { .. } => true,
            Converter::Bytea => matches!(class, Text | Blob),
            Converter::Timestamp { input, .. } | Converter::Date { input } => match input {
                TimeInput::Text { .. } => class == Text,
                TimeInput::Epoch { .. } => class != Blob,
            },
            Converter::Time { input: TimeInput::Epoch { .. }, .. } => class != Blob,
            Converter::Time { .. } | Converter::Enum { .. } | Converter::Inet { .. } => class == Text,
            // Numbers are JSON documents; blobs may be SQLite's JSONB.
            Converter::Json { .. } => true,
            Converter::Interval => matches!(class, Integer | Text),
            Converter::Uuid => matches!(class, Text | Blob),
            Converter::JsonTextArray => class == Text,
            Converter::NoArrayInput => false,
        }
    }
}

/// Reusable text buffers for conversions that produce text; one per reader.
#[derive(Debug, Default)]
pub struct Scratch {
    pub out: String,
    pub tmp: String,
    pub bytes: Vec<u8>,
}

/// A JSON array of strings (and nulls) as PostgreSQL's binary `text[]`:
/// ndim, has-nulls flag, element type (text, OID 25), then for one
/// dimension its length and lower bound 1, then each element as a length
/// (−1 for NULL) and its bytes. An empty array has no dimension.
pub fn encode_text_array(json: &[u8], out: &mut Vec<u8>) -> Result<(), BadValue> {
    let v: serde_json::Value =
        serde_json::from_slice(json).map_err(|e| BadValue::new(format!("not valid JSON: {e}")))?;
    let serde_json::Value::Array(items) = v else {
        return Err(BadValue::new("not a JSON array"));
    };
    out.clear();
    let ndim: i32 = if items.is_empty() { 0 } else { 1 };
    let has_null = items.iter().any(|i| i.is_null()) as i32;
    out.extend_from_slice(&ndim.to_be_bytes());
    out.extend_from_slice(&has_null.to_be_bytes());
    out.extend_from_slice(&25u32.to_be_bytes());
    if items.is_empty() {
        return Ok(());
    }
    out.extend_from_slice(&(items.len() as i32).to_be_bytes());
    out.extend_from_slice(&1i32.to_be_bytes());
    for item in &items {
        match item {
            serde_json::Value::Null => out.extend_from_slice(&(-1i32).to_be_bytes()),
            serde_json::Value::String(s) => {
                if s.contains('\0') {
                    return Err(BadValue::new("an element contains a NUL character"));
                }
                out.extend_from_slice(&(s.len() as i32).to_be_bytes());
                out.extend_from_slice(s.as_bytes());
            }
            _ => return Err(BadValue::new("a text[] element must be a JSON string or null")),
        }
    }
    Ok(())
}

fn convert_int<'a>(v: ValueRef<'a>, min: i64, max: i64) -> Result<Value<'a>, BadValue> {
    let i = match v {
        ValueRef::Integer(i) => i,
        ValueRef::Real(f) => {
            if f.fract() != 0.0 || !f.is_finite() {
                return Err(BadValue::new("a real with a fraction is not an integer"));
            }
            if !(-9.223_372_036_854_776e18..9.223_372_036_854_776e18).contains(&f) {
                return Err(BadValue::new("out of range for a 64-bit integer"));
            }
            f as i64
        }
        ValueRef::Text(t) => crate::mapping::utf8(t)
            .ok()
            .and_then(|s| s.trim().parse::<i64>().ok())
            .ok_or_else(|| BadValue::new("text that is not an integer"))?,
        ValueRef::Blob(_) => return Err(BadValue::new("a blob is not an integer")),
        ValueRef::Null => return Ok(Value::Null),
    };
    if i < min || i > max {
        return Err(BadValue::new(format!("out of range: {min} to {max}")));
    }
    Ok(Value::Int(i))
}

fn convert_float<'a>(v: ValueRef<'a>, single: bool) -> Result<Value<'a>, BadValue> {
    let f = match v {
        ValueRef::Real(f) => f,
        ValueRef::Integer(i) => {
            let f = i as f64;
            // Exact only up to 2^53; a larger integer would be rounded.
            if f as i128 != i as i128 {
                return Err(BadValue::new(
                    "integer too large for double precision without rounding; map to numeric",
                ));
            }
            f
        }
        ValueRef::Text(t) => crate::mapping::utf8(t)
            .ok()
            .and_then(|s| parse_float_text(s.trim()))
            .ok_or_else(|| BadValue::new("text that is not a number"))?,
        ValueRef::Blob(_) => return Err(BadValue::new("a blob is not a number")),
        ValueRef::Null => return Ok(Value::Null),
    };
    debug_assert!(!single, "float4 goes through convert_float4");
    Ok(Value::Float(f))
}

/// Into `real` (float4): what PostgreSQL's assignment cast stores, rounded
/// to the nearest float4 (a REAL as `float8::float4` rounds it, an integer
/// as `int8::float4`, text as `float4in` reads it: each rounded once).
/// A change is reported in `change`; a finite value beyond float4's range,
/// or one so small that it would become 0, is a bad value, as PostgreSQL
/// refuses both ("value out of range: overflow / underflow").
fn convert_float4<'a>(v: ValueRef<'a>, change: &mut Change) -> Result<Value<'a>, BadValue> {
    let (exact, single): (f64, f32) = match v {
        ValueRef::Real(f) => (f, f as f32),
        ValueRef::Integer(i) => (i as f64, i as f32),
        ValueRef::Text(t) => {
            let s = crate::mapping::utf8(t).ok().map(str::trim).ok_or_else(|| BadValue::new("text that is not a number"))?;
            let exact = parse_float_text(s).ok_or_else(|| BadValue::new("text that is not a number"))?;
            (exact, if exact.is_finite() { s.parse::<f32>().unwrap_or(exact as f32) } else { exact as f32 })
        }
        ValueRef::Blob(_) => return Err(BadValue::new("a blob is not a number")),
        ValueRef::Null => return Ok(Value::Null),
    };
    if single.is_infinite() && exact.is_finite() {
        return Err(BadValue::new("out of range for real (float4): it would overflow to infinity"));
    }
    if single == 0.0 && exact != 0.0 {
        return Err(BadValue::new("too small for real (float4): it would underflow to 0"));
    }
    let widened = f64::from(single);
    // An integer beyond 2^53 is inexact as f64 already: compare exactly.
    let changed = match v {
        ValueRef::Integer(i) => widened as i128 != i as i128 || widened.fract() != 0.0,
        _ => widened != exact && !(exact.is_nan() && widened.is_nan()),
    };
    if changed {
        let rel = ((widened - exact) / exact).abs();
        change.rounded = Some(if rel > 0.0 { rel } else { f64::MIN_POSITIVE });
        change.rounded_from = exact;
    }
    Ok(Value::Float(widened))
}

fn parse_float_text(s: &str) -> Option<f64> {
    match s.to_ascii_lowercase().as_str() {
        "inf" | "infinity" | "+inf" | "+infinity" => Some(f64::INFINITY),
        "-inf" | "-infinity" => Some(f64::NEG_INFINITY),
        "nan" => Some(f64::NAN),
        _ => {
            // Rust's parser accepts "inf"/"nan" spellings handled above and
            // nothing else non-numeric.
            s.parse::<f64>().ok()
        }
    }
}

fn convert_text<'a>(
    v: ValueRef<'a>,
    max_chars: Option<u32>,
    nul: NulPolicy,
    utf8: Utf8Policy,
    scratch: &'a mut String,
    altered: &mut bool,
) -> Result<Value<'a>, BadValue> {
    let s: &'a str = match v {
        ValueRef::Text(t) | ValueRef::Blob(t) => {
            let is_blob = matches!(v, ValueRef::Blob(_));
            let has_nul = memchr_nul(t);
            match crate::mapping::utf8(t) {
                Ok(s) if !has_nul => s,
                Ok(s) => match nul {
                    NulPolicy::Error => {
                        return Err(BadValue::new("text contains a NUL byte, which PostgreSQL cannot store"));
                    }
                    NulPolicy::StripNul => {
                        *altered = true;
                        scratch.clear();
                        scratch.extend(s.chars().filter(|&c| c != '\0'));
                        scratch.as_str()
                    }
                },
                Err(_) => match utf8 {
                    Utf8Policy::Error => {
                        return Err(BadValue::new(if is_blob {
                            "a blob that is not valid UTF-8 text in a text column"
                        } else {
                            "text is not valid UTF-8"
                        }));
                    }
                    Utf8Policy::ReplaceInvalid => {
                        *altered = true;
                        scratch.clear();
                        let lossy = String::from_utf8_lossy(t);
                        match nul {
                            NulPolicy::StripNul => scratch.extend(lossy.chars().filter(|&c| c != '\0')),
                            NulPolicy::Error if lossy.contains('\0') => {
                                return Err(BadValue::new("text contains a NUL byte, which PostgreSQL cannot store"));
                            }
                            NulPolicy::Error => scratch.push_str(&lossy),
                        }
                        scratch.as_str()
                    }
                },
            }
        }
        ValueRef::Integer(i) => {
            scratch.clear();
            let _ = write!(scratch, "{i}");
            scratch.as_str()
        }
        ValueRef::Real(f) => {
            scratch.clear();
            write_real_as_text(f, scratch);
            scratch.as_str()
        }
        ValueRef::Null => return Ok(Value::Null),
    };
    if let Some(n) = max_chars {
        // Byte length is an upper bound of the character count: cheap test first.
        if s.len() > n as usize && s.chars().count() > n as usize {
            return Err(BadValue::new(format!(
                "too long: {} characters, the column allows {n}",
                s.chars().count()
            )));
        }
    }
    Ok(Value::Text(s))
}

/// A REAL written as text: the shortest text that reads back as the same
/// double, with a `.0` for whole numbers so it still reads as a real.
pub fn write_real_as_text(f: f64, out: &mut String) {
    if f.is_nan() {
        out.push_str("NaN");
    } else if f.is_infinite() {
        out.push_str(if f > 0.0 { "Infinity" } else { "-Infinity" });
    } else if f.fract() == 0.0 && f.abs() < 1e16 {
        let _ = write!(out, "{f:.1}");
    } else {
        let _ = write!(out, "{f}");
    }
}

#[inline]
fn memchr_nul(t: &[u8]) -> bool {
    t.contains(&0)
}

fn read_instant(
    v: ValueRef<'_>,
    input: &TimeInput,
    zoned: bool,
    zone: Zone,
) -> Result<i64, BadValue> {
    match v {
        ValueRef::Text(t) => {
            let parsed = match datetime::parse_iso(t) {
                Ok(p) => p,
                Err(e) => {
                    let formats: &[String] = match input {
                        TimeInput::Text { formats } => formats,
                        TimeInput::Epoch { .. } => &[],
                    };
                    let text = crate::mapping::utf8(t).map_err(|_| BadValue::new("not UTF-8"))?;
                    let mut found = None;
                    for f in formats {
                        if let Ok(p) = datetime::parse_with_format(text, f) {
                            found = Some(p);
                            break;
                        }
                    }
                    match found {
                        Some(p) => p,
                        None if formats.is_empty() => return Err(bad(e)),
                        None => {
                            return Err(BadValue::new(format!(
                                "{e}, and matches none of the formats {formats:?}"
                            )));
                        }
                    }
                }
            };
            // Values with an offset are instants: stored in UTC. Naive values
            // are wall-clock times: kept as they are in `timestamp`, and read
            // in the configured zone for `timestamptz`.
            match parsed.offset_secs {
                Some(o) => parsed
                    .micros
                    .checked_sub(o as i64 * 1_000_000)
                    .ok_or_else(|| BadValue::new("timestamp out of range")),
                None if zoned => zone.local_to_utc(parsed.micros).map_err(bad),
                None => Ok(parsed.micros),
            }
        }
        ValueRef::Integer(i) => match input {
            TimeInput::Epoch { unit, origin_micros } => {
                datetime::from_epoch_i64(i, *unit, *origin_micros).map_err(bad)
            }
            TimeInput::Text { .. } => Err(BadValue::new(
                "a number in a date/time column; its unit is ambiguous (set input = \"epoch-seconds\", \"epoch-milliseconds\", … in a mapping file)",
            )),
        },
        ValueRef::Real(f) => match input {
            TimeInput::Epoch { unit, origin_micros } => {
                datetime::from_epoch_f64(f, *unit, *origin_micros).map_err(bad)
            }
            TimeInput::Text { .. } => Err(BadValue::new(
                "a number in a date/time column; its unit is ambiguous (set input = \"epoch-seconds\", \"julian-day\", … in a mapping file)",
            )),
        },
        ValueRef::Blob(_) => Err(BadValue::new("a blob is not a date/time")),
        ValueRef::Null => Ok(0),
    }
}
