//! Exact decimals for PostgreSQL `numeric`, never through a float.
//!
//! This module owns three things:
//!
//! * [`normalize`]: decimal text (SQLite TEXT, or a REAL rendered by
//!   [`from_f64`]) to the *canonical text* of the value in a `numeric(p,s)`
//!   column. The canonical text is what ferry sends (via [`encode_binary`])
//!   and what it hashes, so the rules below are part of the hash
//!   specification:
//!   * no exponent, no `+`, no leading zeros (`0.5` keeps one zero before the
//!     point), no negative zero;
//!   * with a scale `s`: exactly `s` fraction digits, rounded half away from
//!     zero (PostgreSQL's rule for `numeric` typmods);
//!   * without a scale: trailing fraction zeros stripped (`1.50` → `1.5`,
//!     `1e2` → `100`);
//!   * `NaN`, `Infinity`, `-Infinity` as PostgreSQL prints them.
//! * [`encode_binary`] / [`decode_binary`]: PostgreSQL's binary wire format
//!   of `numeric` (as used by binary COPY), both ways.
//! * The exact-decimal printer shared with `json.rs`, which prints jsonb
//!   numbers the way PostgreSQL does (value exact, display scale kept).
//!
//! PostgreSQL limits enforced (from `numeric.c`, current major versions):
//! at most 131072 digits before the point and a display scale of at most
//! 16383 ("value overflows numeric format"); with a typmod, the number of
//! digits before the point must not exceed `precision - scale`
//! ("numeric field overflow"). `NaN` fits any numeric column, `±Infinity`
//! only an unconstrained one (PostgreSQL 14+).
//!
//! Accepted input syntax (a strict subset of what `numeric_in` accepts):
//! optional surrounding ASCII whitespace, optional sign, digits with an
//! optional `.` (`5.`, `.5` are fine), optional exponent `e±N`; or,
//! case-insensitively, `nan`, `inf`, `infinity` (the latter two optionally
//! signed). PostgreSQL 16's `0x…` literals and `1_000` digit separators are
//! deliberately not accepted: in SQLite data they are a sign of bad data.

use bytes::{BufMut, BytesMut};
use std::fmt::Write as _;

/// Most digits PostgreSQL's `numeric` stores before the decimal point
/// (weight ≤ 32767 base-10000 groups).
pub const MAX_INTEGER_DIGITS: i64 = 131_072;
/// Largest display scale PostgreSQL's `numeric` can carry (`NUMERIC_DSCALE_MAX`).
pub const MAX_DSCALE: u32 = 0x3FFF;

/// PostgreSQL rejects exponents beyond ±(INT_MAX/2) before anything else.
const MAX_EXPONENT: i64 = (i32::MAX / 2) as i64;

const SIGN_POS: u16 = 0x0000;
const SIGN_NEG: u16 = 0x4000;
const SIGN_NAN: u16 = 0xC000;
const SIGN_PINF: u16 = 0xD000;
const SIGN_NINF: u16 = 0xF000;

// ---------------------------------------------------------------------------
// Output sinks: the printer writes ASCII only, into a String or a Vec<u8>.

/// Where the decimal printer writes. Only ASCII bytes are ever pushed.
pub(crate) trait AsciiSink {
    fn push_ascii(&mut self, b: u8);
    fn reserve_bytes(&mut self, n: usize);
}

impl AsciiSink for String {
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(char::from(b));
    }
    #[inline]
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
}

impl AsciiSink for Vec<u8> {
    #[inline]
    fn push_ascii(&mut self, b: u8) {
        self.push(b);
    }
    #[inline]
    fn reserve_bytes(&mut self, n: usize) {
        self.reserve(n);
    }
}

// ---------------------------------------------------------------------------
// Parsing.

/// A finite decimal as written: `±[int].[frac] × 10^exp`, borrowing the
/// digit runs (ASCII digits) from the input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Decimal<'a> {
    pub neg: bool,
    pub int: &'a [u8],
    pub frac: &'a [u8],
    pub exp: i64,
}

/// A parsed numeric input.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Number<'a> {
    Finite(Decimal<'a>),
    NaN,
    Inf { neg: bool },
}

#[inline]
fn digit_run(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && s[i].is_ascii_digit() {
        i += 1;
    }
    i
}

/// Parses numeric text (see the module docs for the syntax). `None` means
/// "not a number". Exponents are saturated far beyond PostgreSQL's limit,
/// so the limit checks downstream see an out-of-range value, never a
/// wrapped one.
pub(crate) fn parse_number(input: &[u8]) -> Option<Number<'_>> {
    let s = input.trim_ascii();
    if s.eq_ignore_ascii_case(b"nan") {
        return Some(Number::NaN);
    }
    let (neg, body) = match s.first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if body.eq_ignore_ascii_case(b"inf") || body.eq_ignore_ascii_case(b"infinity") {
        return Some(Number::Inf { neg });
    }
    let int_end = digit_run(body, 0);
    let int = &body[..int_end];
    let mut i = int_end;
    let mut frac: &[u8] = &[];
    if body.get(i) == Some(&b'.') {
        let fs = i + 1;
        let fe = digit_run(body, fs);
        frac = &body[fs..fe];
        i = fe;
    }
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    let mut exp: i64 = 0;
    if matches!(body.get(i), Some(b'e' | b'E')) {
        i += 1;
        let eneg = match body.get(i) {
            Some(b'-') => {
                i += 1;
                true
            }
            Some(b'+') => {
                i += 1;
                false
            }
            _ => false,
        };
        let es = i;
        while let Some(&c) = body.get(i) {
            if !c.is_ascii_digit() {
                break;
            }
            // Saturate: anything past MAX_EXPONENT is an error anyway.
            exp = (exp * 10 + i64::from(c - b'0')).min(MAX_EXPONENT * 4);
            i += 1;
        }
        if i == es {
            return None;
        }
        if eneg {
            exp = -exp;
        }
    }
    if i != body.len() {
        return None;
    }
    Some(Number::Finite(Decimal { neg, int, frac, exp }))
}

// ---------------------------------------------------------------------------
// The exact printer.

/// How many fraction digits the printer writes.
#[derive(Debug, Clone, Copy)]
pub(crate) enum FracDigits {
    /// Exactly this many, rounding half away from zero (a typmod's scale).
    Round(u32),
    /// As many as the value needs: trailing zeros stripped.
    Strip,
    /// PostgreSQL's input display scale: `max(0, written fraction digits − exponent)`.
    /// Never rounds. This is how jsonb numbers print.
    Keep,
}

/// Why a decimal cannot be printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DecimalError {
    /// PostgreSQL's "value overflows numeric format".
    Overflow,
    /// PostgreSQL's "numeric field overflow": `digits` before the point
    /// (after rounding; ≤ 0 for values below 1), `allowed` by the typmod.
    Precision { digits: i64, allowed: i64 },
}

/// Everything needed to print a decimal, worked out (and limit-checked)
/// before a single byte is written.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Plan<'a> {
    d: Decimal<'a>,
    /// The result is zero (possibly after rounding).
    zero: bool,
    /// Position of the decimal point in the virtual digit string `int ++ frac`.
    point: i64,
    /// Fraction digits to print.
    fd: i64,
    round_up: bool,
    /// With `round_up`: index of the digit that is incremented; later kept digits become 0.
    carry_at: i64,
    /// Index of the first printed nonzero digit.
    first: i64,
}

impl<'a> Decimal<'a> {
    /// The ASCII digit at virtual index `i` of `int ++ frac`, with zeros on both sides.
    #[inline]
    fn digit(&self, i: i64) -> u8 {
        if i < 0 {
            return b'0';
        }
        let i = i as usize;
        if i < self.int.len() {
            self.int[i]
        } else if let Some(&c) = self.frac.get(i - self.int.len()) {
            c
        } else {
            b'0'
        }
    }

    fn first_nonzero(&self) -> Option<i64> {
        if let Some(k) = self.int.iter().position(|&c| c != b'0') {
            return Some(k as i64);
        }
        self.frac
            .iter()
            .position(|&c| c != b'0')
            .map(|k| (self.int.len() + k) as i64)
    }

    fn last_nonzero(&self) -> Option<i64> {
        if let Some(k) = self.frac.iter().rposition(|&c| c != b'0') {
            return Some((self.int.len() + k) as i64);
        }
        self.int.iter().rposition(|&c| c != b'0').map(|k| k as i64)
    }

    /// PostgreSQL's display scale of the input as written.
    fn input_dscale(&self) -> i64 {
        (self.frac.len() as i64 - self.exp).max(0)
    }

    /// Works out how to print this decimal with `frac` fraction digits,
    /// checking PostgreSQL's limits and, when `allowed_int_digits` is given,
    /// a typmod's precision.
    pub(crate) fn plan(
        self,
        frac: FracDigits,
        allowed_int_digits: Option<i64>,
    ) -> Result<Plan<'a>, DecimalError> {
        if self.exp.abs() >= MAX_EXPONENT {
            return Err(DecimalError::Overflow);
        }
        // Lengths are bounded by the input, exp by MAX_EXPONENT: no overflow in i64.
        let point = self.int.len() as i64 + self.exp;
        if !matches!(frac, FracDigits::Round(_)) && self.input_dscale() > i64::from(MAX_DSCALE) {
            return Err(DecimalError::Overflow);
        }
        let first = self.first_nonzero();
        let fd = match frac {
            FracDigits::Round(s) => {
                if s > MAX_DSCALE {
                    return Err(DecimalError::Overflow);
                }
                i64::from(s)
            }
            FracDigits::Keep => self.input_dscale(),
            FracDigits::Strip => match self.last_nonzero() {
                Some(l) => (l + 1 - point).max(0),
                None => 0,
            },
        };
        let zero_plan = Plan { d: self, zero: true, point, fd, round_up: false, carry_at: 0, first: point };
        let Some(f) = first else {
            return Ok(zero_plan);
        };
        let hi = point + fd; // first dropped digit
        let round_up = self.digit(hi) >= b'5';
        if !round_up && f >= hi {
            return Ok(zero_plan);
        }
        let mut carry_at = hi - 1;
        if round_up {
            // Terminates: digits at negative indices are '0'.
            while self.digit(carry_at) == b'9' {
                carry_at -= 1;
            }
        }
        let first = if round_up { f.min(carry_at) } else { f };
        let digits = point - first;
        if digits > MAX_INTEGER_DIGITS {
            return Err(DecimalError::Overflow);
        }
        if let Some(allowed) = allowed_int_digits
            && digits > allowed
        {
            return Err(DecimalError::Precision { digits, allowed });
        }
        Ok(Plan { d: self, zero: false, point, fd, round_up, carry_at, first })
    }
}

impl Plan<'_> {
    #[inline]
    fn out_digit(&self, i: i64) -> u8 {
        if !self.round_up || i < self.carry_at {
            self.d.digit(i)
        } else if i == self.carry_at {
            self.d.digit(i) + 1
        } else {
            b'0'
        }
    }

    /// Prints the planned decimal.
    pub(crate) fn write<S: AsciiSink>(&self, out: &mut S) {
        let int_digits = (self.point - self.first).max(1);
        out.reserve_bytes((int_digits + self.fd + 2) as usize);
        if self.zero {
            out.push_ascii(b'0');
        } else {
            if self.d.neg {
                out.push_ascii(b'-');
            }
            if self.first < self.point {
                for i in self.first..self.point {
                    out.push_ascii(self.out_digit(i));
                }
            } else {
                out.push_ascii(b'0');
            }
        }
        if self.fd > 0 {
            out.push_ascii(b'.');
            for i in self.point..self.point + self.fd {
                out.push_ascii(if self.zero { b'0' } else { self.out_digit(i) });
            }
        }
    }
}

// ---------------------------------------------------------------------------
// Public API.

fn typmod_name(precision: Option<u32>, scale: Option<u32>) -> String {
    match (precision, scale) {
        (Some(p), Some(s)) => format!("numeric({p},{s})"),
        (Some(p), None) => format!("numeric({p})"),
        (None, Some(s)) => format!("numeric with scale {s}"),
        (None, None) => "numeric".to_owned(),
    }
}

/// Normalizes decimal text to the canonical text of the value in a
/// `numeric(precision, scale)` column, appending it to `out`.
///
/// * `scale: Some(s)`: rounded half away from zero to exactly `s` fraction
///   digits. `precision: Some(p)` with `scale: None` means `numeric(p)`,
///   i.e. scale 0, as in PostgreSQL.
/// * no typmod: exact, trailing fraction zeros stripped.
/// * `precision: Some(p)`: after rounding, at most `p − s` digits before the
///   point (PostgreSQL's "numeric field overflow").
/// * `NaN` is accepted in any column, `±Infinity` only without a typmod.
///
/// On error `out` is left as it was.
pub fn normalize(
    input: &[u8],
    precision: Option<u32>,
    scale: Option<u32>,
    out: &mut String,
) -> Result<(), String> {
    let Some(num) = parse_number(input) else {
        return Err("not a valid decimal number".to_owned());
    };
    let d = match num {
        Number::NaN => {
            out.push_str("NaN");
            return Ok(());
        }
        Number::Inf { neg } => {
            if precision.is_some() || scale.is_some() {
                return Err(format!(
                    "infinity does not fit {}: only an unconstrained numeric can hold it",
                    typmod_name(precision, scale)
                ));
            }
            out.push_str(if neg { "-Infinity" } else { "Infinity" });
            return Ok(());
        }
        Number::Finite(d) => d,
    };
    let eff_scale = scale.or(precision.map(|_| 0));
    let frac = match eff_scale {
        Some(s) => FracDigits::Round(s),
        None => FracDigits::Strip,
    };
    let allowed = precision.map(|p| i64::from(p) - i64::from(eff_scale.unwrap_or(0)));
    match d.plan(frac, allowed) {
        Ok(plan) => {
            plan.write(out);
            Ok(())
        }
        Err(DecimalError::Overflow) => Err(match eff_scale {
            Some(s) if s > MAX_DSCALE => {
                format!("scale {s} is beyond PostgreSQL's maximum of {MAX_DSCALE}")
            }
            _ => "value overflows numeric format".to_owned(),
        }),
        Err(DecimalError::Precision { digits, allowed }) => {
            let name = typmod_name(precision, scale);
            Err(if allowed >= 0 {
                let unit = if digits == 1 { "digit" } else { "digits" };
                format!("precision overflow: {digits} {unit} before the point, {name} allows {allowed}")
            } else {
                format!("precision overflow: {name} needs an absolute value below 1e{allowed}")
            })
        }
    }
}

/// Writes the shortest decimal text that reads back as exactly `v`
/// (Rust's float `Display`, which never uses an exponent: `1e300` is a 1
/// followed by 300 zeros), appending to `out`. `-0.0` gives `0`; NaN and
/// ±infinity give `NaN`, `Infinity`, `-Infinity`. The text is canonical for
/// an unconstrained numeric; feed it to [`normalize`] for a typmod.
pub fn from_f64(v: f64, out: &mut String) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "Infinity" } else { "-Infinity" });
    } else if v == 0.0 {
        out.push('0');
    } else {
        // Writing to a String cannot fail.
        let _ = write!(out, "{v}");
    }
}

/// Writes a double for a column with a declared scale: its *exact*
/// binary value, rounded to `scale` fraction digits only where it has more
/// (then half away from zero, by [`normalize`], as PostgreSQL rounds
/// numerics). 4068861093708.90625 is exactly that, so at scale 6 it is
/// `…908.906250`, where its shortest round-trip text (`…908.9063` at 16
/// digits) would have made it `.906300`. This is the value an application
/// reading the REAL through SQLite formats to that scale (Python's
/// `'%.6f' % x`, which SQLAlchemy's `Numeric` does) except on exact ties
/// such as 0.125 at scale 2, where PostgreSQL's rounding (0.13) is kept.
/// PostgreSQL's own `float8::numeric` goes through 15 significant digits
/// (`….910000`) and is not followed. Feed the text to [`normalize`].
pub fn from_f64_scaled(v: f64, scale: u32, out: &mut String) {
    if !v.is_finite() || v == 0.0 {
        return from_f64(v, out);
    }
    // v = m × 2^e with m odd: its decimal expansion has max(0, −e)
    // fraction digits, the last of them a 5.
    let bits = v.to_bits();
    let (raw_exp, frac) = ((bits >> 52) & 0x7ff, bits & ((1u64 << 52) - 1));
    let (m, e) = if raw_exp == 0 { (frac, -1074i64) } else { (frac | (1u64 << 52), raw_exp as i64 - 1075) };
    let exact_digits = (-(e + i64::from(m.trailing_zeros()))).max(0) as usize;
    let scale = scale as usize;
    // Up to one digit past the scale the exact text is short, and an exact
    // tie is rounded by `normalize`; beyond it no tie is possible, and
    // formatting rounds the exact value correctly.
    let digits = if exact_digits <= scale + 1 { exact_digits } else { scale };
    let _ = write!(out, "{v:.digits$}");
}

fn put_header(out: &mut BytesMut, ndigits: u16, weight: i16, sign: u16, dscale: u16) {
    out.reserve(8 + 2 * usize::from(ndigits));
    out.put_u16(ndigits);
    out.put_i16(weight);
    out.put_u16(sign);
    out.put_u16(dscale);
}

/// Value of base-10000 group `k` of a digit string written at group
/// alignment `pad` (number of virtual zeros before the first digit).
#[inline]
fn group_value(digits: &[u8], pad: usize, k: usize) -> i16 {
    let mut v: i16 = 0;
    for pos in k * 4..k * 4 + 4 {
        let d = pos
            .checked_sub(pad)
            .and_then(|i| digits.get(i))
            .map_or(0, |&c| (c - b'0') as i16);
        v = v * 10 + d;
    }
    v
}

/// Like [`encode_binary`] but reports text that is not in canonical form
/// (as produced by [`normalize`]: `-?digits(.digits)?`, or `NaN`,
/// `Infinity`, `-Infinity`) instead of guessing.
pub fn try_encode_binary(canonical: &str, out: &mut BytesMut) -> Result<(), &'static str> {
    let b = canonical.as_bytes();
    let special = match b {
        b"NaN" => Some(SIGN_NAN),
        b"Infinity" => Some(SIGN_PINF),
        b"-Infinity" => Some(SIGN_NINF),
        _ => None,
    };
    if let Some(sign) = special {
        put_header(out, 0, 0, sign, 0);
        return Ok(());
    }
    const BAD: &str = "not canonical numeric text";
    let (neg, rest) = match b.split_first() {
        Some((b'-', r)) => (true, r),
        _ => (false, b),
    };
    let (int, frac) = match rest.iter().position(|&c| c == b'.') {
        Some(k) => {
            let f = &rest[k + 1..];
            if f.is_empty() {
                return Err(BAD);
            }
            (&rest[..k], f)
        }
        None => (rest, &[][..]),
    };
    if int.is_empty() || !int.iter().all(u8::is_ascii_digit) || !frac.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    if frac.len() > MAX_DSCALE as usize {
        return Err("value overflows numeric format");
    }
    let lead = int.iter().position(|&c| c != b'0').unwrap_or(int.len());
    let int = &int[lead..];
    if int.len() as i64 > MAX_INTEGER_DIGITS {
        return Err("value overflows numeric format");
    }
    let ig = int.len().div_ceil(4);
    let fg = frac.len().div_ceil(4);
    let ipad = ig * 4 - int.len();
    let group = |k: usize| {
        if k < ig { group_value(int, ipad, k) } else { group_value(frac, 0, k - ig) }
    };
    let dscale = frac.len() as u16; // ≤ MAX_DSCALE
    let Some(g0) = (0..ig + fg).find(|&k| group(k) != 0) else {
        put_header(out, 0, 0, SIGN_POS, dscale);
        return Ok(());
    };
    let g1 = (g0..ig + fg).rev().find(|&k| group(k) != 0).unwrap_or(g0);
    // ig ≤ 32768 and fg ≤ 4096: both fit the wire fields.
    let ndigits = (g1 - g0 + 1) as u16;
    let weight = (ig as i64 - 1 - g0 as i64) as i16;
    put_header(out, ndigits, weight, if neg { SIGN_NEG } else { SIGN_POS }, dscale);
    for k in g0..=g1 {
        out.put_i16(group(k));
    }
    Ok(())
}

/// Appends PostgreSQL's binary `numeric` (as `numeric_send` writes it) of
/// canonical text from [`normalize`] / [`from_f64`] to `out`: ndigits `i16`,
/// weight `i16`, sign `u16` (0x0000 positive, 0x4000 negative, 0xC000 NaN,
/// 0xD000 +Infinity, 0xF000 −Infinity), dscale `u16` (the number of
/// fraction digits in the text), then the base-10000 digits as big-endian
/// `i16`, without leading or trailing zero groups (zero has none).
///
/// The text must be canonical; use [`try_encode_binary`] to have that
/// checked. Here, a valid but non-canonical decimal (`1e3`, `+.5`) is
/// normalized first (no typmod) and anything that is not a number at all is
/// encoded as NaN.
pub fn encode_binary(canonical: &str, out: &mut BytesMut) {
    if try_encode_binary(canonical, out).is_ok() {
        return;
    }
    let mut fixed = String::new();
    if normalize(canonical.as_bytes(), None, None, &mut fixed).is_ok()
        && try_encode_binary(&fixed, out).is_ok()
    {
        return;
    }
    put_header(out, 0, 0, SIGN_NAN, 0);
}

fn push_group(out: &mut String, g: u16, suppress_leading: bool) {
    let ds = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
    let mut put = !suppress_leading;
    for (i, d) in ds.into_iter().enumerate() {
        put |= d > 0 || i == 3;
        if put {
            out.push(char::from(b'0' + d as u8));
        }
    }
}

/// Decodes PostgreSQL's binary `numeric` and appends its text as PostgreSQL
/// prints it: exactly `dscale` fraction digits, `NaN`, `Infinity`,
/// `-Infinity`. A negative zero (which PostgreSQL never produces) prints
/// without its sign. On error `out` is left as it was.
pub fn decode_binary(buf: &[u8], out: &mut String) -> Result<(), &'static str> {
    let Some((head, body)) = buf.split_first_chunk::<8>() else {
        return Err("numeric value shorter than its header");
    };
    let ndigits = usize::from(u16::from_be_bytes([head[0], head[1]]));
    let weight = i64::from(i16::from_be_bytes([head[2], head[3]]));
    let sign = u16::from_be_bytes([head[4], head[5]]);
    let dscale = u16::from_be_bytes([head[6], head[7]]);
    if body.len() != ndigits * 2 {
        return Err("numeric value length does not match its digit count");
    }
    match sign {
        SIGN_NAN => {
            out.push_str("NaN");
            return Ok(());
        }
        SIGN_PINF => {
            out.push_str("Infinity");
            return Ok(());
        }
        SIGN_NINF => {
            out.push_str("-Infinity");
            return Ok(());
        }
        SIGN_POS | SIGN_NEG => {}
        _ => return Err("invalid sign in numeric value"),
    }
    if u32::from(dscale) > MAX_DSCALE {
        return Err("invalid scale in numeric value");
    }
    let mut any_nonzero = false;
    for c in body.chunks_exact(2) {
        let g = i16::from_be_bytes([c[0], c[1]]);
        if !(0..=9999).contains(&g) {
            return Err("invalid digit in numeric value");
        }
        any_nonzero |= g != 0;
    }
    let group = |d: i64| -> u16 {
        if d < 0 || d >= ndigits as i64 {
            return 0;
        }
        let i = d as usize * 2;
        u16::from_be_bytes([body[i], body[i + 1]])
    };
    out.reserve(((weight.max(0) + 1) * 4) as usize + usize::from(dscale) + 2);
    if sign == SIGN_NEG && any_nonzero {
        out.push('-');
    }
    let mut d: i64;
    if weight < 0 {
        d = weight + 1;
        out.push('0');
    } else {
        d = 0;
        while d <= weight {
            push_group(out, group(d), d == 0);
            d += 1;
        }
    }
    if dscale > 0 {
        out.push('.');
        let mut left = usize::from(dscale);
        while left > 0 {
            let g = group(d);
            let ds = [g / 1000, g / 100 % 10, g / 10 % 10, g % 10];
            for x in ds.into_iter().take(left.min(4)) {
                out.push(char::from(b'0' + x as u8));
            }
            left = left.saturating_sub(4);
            d += 1;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
