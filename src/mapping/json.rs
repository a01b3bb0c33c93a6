//! JSON: validation as PostgreSQL's `json` and `jsonb` input functions
//! apply it, and the canonical form of a `jsonb` value that both sides of
//! the verification hash.
//!
//! * [`validate`]: RFC 8259 JSON in valid UTF-8, as the `json` type accepts
//!   it. Like PostgreSQL, `\u` escapes are only checked for four hex digits.
//! * [`validate_jsonb`]: additionally what `jsonb` rejects: `\u0000`,
//!   unpaired UTF-16 surrogate escapes, numbers beyond `numeric`'s range.
//! * [`canonical`]: the bytes hashed for a `jsonb` value, the same whether
//!   computed from the SQLite text or from PostgreSQL's `jsonb` output:
//!   - no insignificant whitespace;
//!   - object keys sorted by their unescaped UTF-8 bytes (plain byte order,
//!     *not* jsonb's length-first storage order); for duplicate keys the
//!     last one wins, as in jsonb;
//!   - strings unescaped, then re-escaped one way: `"` → `\"`, `\` → `\\`,
//!     `\b \f \n \r \t` as such, other control characters as `\u00xx`
//!     (lowercase hex), everything else (including `/` and non-ASCII) raw;
//!   - numbers as PostgreSQL's `numeric` prints them: exact value, display
//!     scale `max(0, written fraction digits − exponent)` (`1.50` → `1.50`,
//!     `1e2` → `100`, `1.5E1` → `15`, `1e-2` → `0.01`, `-0` → `0`, `0.0` →
//!     `0.0`), printed by `numeric.rs`;
//!   - `true`, `false`, `null` as such.
//!
//!   A text that `canonical` accepts is valid `jsonb`.
//!
//! Nesting deeper than [`MAX_DEPTH`] is rejected. The parser is iterative
//! (no recursion, so no stack overflow on any input); validation allocates
//! nothing, canonicalization reuses per-thread buffers.

use std::cell::RefCell;

use super::numeric::{FracDigits, Number, parse_number};

/// Deepest nesting of arrays and objects accepted.
pub const MAX_DEPTH: usize = 1000;

// The depth stack is a fixed bitset.
const DEPTH_WORDS: usize = MAX_DEPTH.div_ceil(64);

/// A parse failure: where and why. Formatted only on the error path.
#[derive(Debug, Clone, Copy)]
struct Fail {
    at: usize,
    what: &'static str,
}

impl Fail {
    fn message(self) -> String {
        // Valid JSON that only jsonb refuses is not called invalid.
        if self.what.contains("jsonb") {
            format!("valid JSON that jsonb cannot hold, at byte {}: {}", self.at, self.what)
        } else {
            format!("invalid JSON at byte {}: {}", self.at, self.what)
        }
    }
}

/// A string's content: a run of the input without escapes, or decoded
/// bytes in the canonicalizer's string buffer.
#[derive(Debug, Clone, Copy)]
enum Str {
    Raw(usize, usize),
    Decoded(usize, usize),
}

#[derive(Debug, Clone, Copy)]
enum Scalar {
    Null,
    True,
    False,
    /// Input range of a number token.
    Num(usize, usize),
    Str(Str),
}

/// Receives the parse, in document order.
trait Sink {
    /// Decode strings that contain escapes into [`Sink::strbuf`].
    const DECODE: bool;
    fn strbuf(&mut self) -> &mut Vec<u8>;
    fn scalar(&mut self, v: Scalar);
    fn key(&mut self, k: Str);
    fn begin(&mut self, obj: bool);
    fn end(&mut self, obj: bool);
}

/// Validation only: ignores everything.
struct Validate(Vec<u8>);

impl Sink for Validate {
    const DECODE: bool = false;
    fn strbuf(&mut self) -> &mut Vec<u8> {
        &mut self.0
    }
    fn scalar(&mut self, _: Scalar) {}
    fn key(&mut self, _: Str) {}
    fn begin(&mut self, _: bool) {}
    fn end(&mut self, _: bool) {}
}

/// Open containers, innermost last: one bit each (1 = object).
struct Depth {
    bits: [u64; DEPTH_WORDS],
    n: usize,
}

impl Depth {
    fn push(&mut self, obj: bool) -> bool {
        if self.n >= MAX_DEPTH {
            return false;
        }
        let (w, b) = (self.n / 64, self.n % 64);
        if obj {
            self.bits[w] |= 1 << b;
        } else {
            self.bits[w] &= !(1 << b);
        }
        self.n += 1;
        true
    }
    fn pop(&mut self) {
        self.n = self.n.saturating_sub(1);
    }
    fn top(&self) -> Option<bool> {
        let k = self.n.checked_sub(1)?;
        Some(self.bits[k / 64] >> (k % 64) & 1 == 1)
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    /// Apply jsonb's rules (surrogates, `\u0000`, numeric range).
    jsonb: bool,
}

#[inline]
fn hex_val(c: u8) -> Option<u32> {
    match c {
        b'0'..=b'9' => Some(u32::from(c - b'0')),
        b'a'..=b'f' => Some(u32::from(c - b'a') + 10),
        b'A'..=b'F' => Some(u32::from(c - b'A') + 10),
        _ => None,
    }
}

impl<'a> Parser<'a> {
    #[inline]
    fn fail(&self, what: &'static str) -> Fail {
        Fail { at: self.i, what }
    }
    #[inline]
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    #[inline]
    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\n' | b'\r')) {
            self.i += 1;
        }
    }
    #[inline]
    fn digits(&mut self) -> usize {
        let start = self.i;
        while matches!(self.peek(), Some(b'0'..=b'9')) {
            self.i += 1;
        }
        self.i - start
    }

    fn run<S: Sink>(&mut self, sink: &mut S) -> Result<(), Fail> {
        let mut depth = Depth { bits: [0; DEPTH_WORDS], n: 0 };
        'value: loop {
            self.ws();
            let Some(c) = self.peek() else {
                return Err(self.fail("expected a value"));
            };
            match c {
                b'{' | b'[' => {
                    let obj = c == b'{';
                    if !depth.push(obj) {
                        return Err(self.fail("nested deeper than 1000 levels"));
                    }
                    self.i += 1;
                    sink.begin(obj);
                    self.ws();
                    if self.peek() == Some(if obj { b'}' } else { b']' }) {
                        self.i += 1;
                        depth.pop();
                        sink.end(obj);
                    } else {
                        if obj {
                            self.key(sink)?;
                        }
                        continue 'value;
                    }
                }
                b'"' => {
                    let s = self.string(sink)?;
                    sink.scalar(Scalar::Str(s));
                }
                b't' => sink.scalar(self.literal(b"true", Scalar::True)?),
                b'f' => sink.scalar(self.literal(b"false", Scalar::False)?),
                b'n' => sink.scalar(self.literal(b"null", Scalar::Null)?),
                b'-' | b'0'..=b'9' => {
                    let (a, b) = self.number()?;
                    sink.scalar(Scalar::Num(a, b));
                }
                _ => return Err(self.fail("expected a value")),
            }
            // A value is complete: what follows depends on the container.
            loop {
                self.ws();
                let Some(obj) = depth.top() else {
                    if self.i != self.s.len() {
                        return Err(self.fail("unexpected data after the JSON value"));
                    }
                    return Ok(());
                };
                match self.peek() {
                    Some(b',') => {
                        self.i += 1;
                        if obj {
                            self.ws();
                            self.key(sink)?;
                        }
                        continue 'value;
                    }
                    Some(b'}') if obj => {}
                    Some(b']') if !obj => {}
                    _ => return Err(self.fail(if obj { "expected ',' or '}'" } else { "expected ',' or ']'" })),
                }
                self.i += 1;
                depth.pop();
                sink.end(obj);
            }
        }
    }

    fn key<S: Sink>(&mut self, sink: &mut S) -> Result<(), Fail> {
        if self.peek() != Some(b'"') {
            return Err(self.fail("expected a string as object key"));
        }
        let k = self.string(sink)?;
        sink.key(k);
        self.ws();
        if self.peek() != Some(b':') {
            return Err(self.fail("expected ':'"));
        }
        self.i += 1;
        Ok(())
    }

    fn literal(&mut self, word: &'static [u8], v: Scalar) -> Result<Scalar, Fail> {
        if self.s[self.i..].starts_with(word) {
            self.i += word.len();
            Ok(v)
        } else {
            Err(self.fail("expected a value"))
        }
    }

    fn number(&mut self) -> Result<(usize, usize), Fail> {
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        match self.peek() {
            Some(b'0') => self.i += 1,
            Some(b'1'..=b'9') => {
                self.digits();
            }
            _ => return Err(self.fail("invalid number")),
        }
        if self.peek() == Some(b'.') {
            self.i += 1;
            if self.digits() == 0 {
                return Err(self.fail("invalid number: digits expected after '.'"));
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.i += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.i += 1;
            }
            if self.digits() == 0 {
                return Err(self.fail("invalid number: digits expected in exponent"));
            }
        }
        if self.jsonb {
            let ok = match parse_number(&self.s[start..self.i]) {
                Some(Number::Finite(d)) => d.plan(FracDigits::Keep, None).is_ok(),
                _ => false,
            };
            if !ok {
                return Err(Fail { at: start, what: "number out of range for jsonb (numeric)" });
            }
        }
        Ok((start, self.i))
    }

    fn hex4(&mut self) -> Result<u32, Fail> {
        let mut v = 0;
        for _ in 0..4 {
            let d = self.peek().and_then(hex_val).ok_or_else(|| self.fail("\\u must be followed by 4 hex digits"))?;
            v = v * 16 + d;
            self.i += 1;
        }
        Ok(v)
    }

    /// At the opening quote. Returns the content; with `S::DECODE`, strings
    /// with escapes are decoded into the sink's buffer.
    fn string<S: Sink>(&mut self, sink: &mut S) -> Result<Str, Fail> {
        self.i += 1;
        let start = self.i;
        // Fast path: no escapes.
        loop {
            match self.peek() {
                None => return Err(self.fail("unterminated string")),
                Some(b'"') => {
                    self.i += 1;
                    return Ok(Str::Raw(start, self.i - 1));
                }
                Some(b'\\') => break,
                Some(0..=0x1F) => return Err(self.fail("control character in string (must be escaped)")),
                Some(_) => self.i += 1,
            }
        }
        let check = self.jsonb || S::DECODE;
        let dstart = if S::DECODE {
            let buf = sink.strbuf();
            let d = buf.len();
            buf.extend_from_slice(&self.s[start..self.i]);
            d
        } else {
            0
        };
        let mut high: Option<u32> = None;
        loop {
            let Some(c) = self.peek() else {
                return Err(self.fail("unterminated string"));
            };
            let run_start = self.i;
            match c {
                b'"' => {
                    if check && high.is_some() {
                        return Err(self.fail("unpaired UTF-16 surrogate in \\u escape"));
                    }
                    self.i += 1;
                    let end = if S::DECODE { sink.strbuf().len() } else { 0 };
                    return Ok(Str::Decoded(dstart, end));
                }
                b'\\' => {
                    self.i += 1;
                    let Some(cp) = self.escape(check, &mut high)? else {
                        continue;
                    };
                    if check && high.is_some() {
                        return Err(self.fail("unpaired UTF-16 surrogate in \\u escape"));
                    }
                    if S::DECODE {
                        let ch = char::from_u32(cp).ok_or_else(|| self.fail("invalid \\u escape"))?;
                        let mut enc = [0u8; 4];
                        sink.strbuf().extend_from_slice(ch.encode_utf8(&mut enc).as_bytes());
                    }
                }
                0..=0x1F => return Err(self.fail("control character in string (must be escaped)")),
                _ => {
                    if check && high.is_some() {
                        return Err(self.fail("unpaired UTF-16 surrogate in \\u escape"));
                    }
                    while matches!(self.peek(), Some(b) if b != b'"' && b != b'\\' && b >= 0x20) {
                        self.i += 1;
                    }
                    if S::DECODE {
                        sink.strbuf().extend_from_slice(&self.s[run_start..self.i]);
                    }
                }
            }
        }
    }

    /// After a backslash: the code point the escape stands for, or None
    /// when there is nothing to write yet (a high surrogate waiting for its
    /// low half, or a `\u` escape that is neither decoded nor checked).
    #[inline]
    fn escape(&mut self, check: bool, high: &mut Option<u32>) -> Result<Option<u32>, Fail> {
        let Some(e) = self.peek() else {
            return Err(self.fail("unterminated string"));
        };
        self.i += 1;
        let cp = match e {
            b'"' => u32::from(b'"'),
            b'\\' => u32::from(b'\\'),
            b'/' => u32::from(b'/'),
            b'b' => 0x08,
            b'f' => 0x0C,
            b'n' => u32::from(b'\n'),
            b'r' => u32::from(b'\r'),
            b't' => u32::from(b'\t'),
            b'u' => {
                let v = self.hex4()?;
                if !check {
                    return Ok(None);
                }
                if (0xD800..=0xDBFF).contains(&v) {
                    if high.replace(v).is_some() {
                        return Err(self.fail("unpaired UTF-16 surrogate in \\u escape"));
                    }
                    return Ok(None);
                }
                if (0xDC00..=0xDFFF).contains(&v) {
                    let Some(h) = high.take() else {
                        return Err(self.fail("unpaired UTF-16 surrogate in \\u escape"));
                    };
                    0x10000 + ((h - 0xD800) << 10) + (v - 0xDC00)
                } else if v == 0 && self.jsonb {
                    return Err(self.fail("\\u0000 cannot be stored in jsonb"));
                } else {
                    v
                }
            }
            _ => {
                self.i -= 1;
                return Err(self.fail("invalid escape sequence"));
            }
        };
        Ok(Some(cp))
    }
}

fn check_utf8(s: &[u8]) -> Result<(), String> {
    std::str::from_utf8(s)
        .map(|_| ())
        .map_err(|e| format!("invalid JSON: not valid UTF-8 (at byte {})", e.valid_up_to()))
}

/// Is `s` valid JSON as PostgreSQL's `json` type accepts it (RFC 8259,
/// UTF-8, at most [`MAX_DEPTH`] levels)? Does not allocate on success.
pub fn validate(s: &[u8]) -> Result<(), String> {
    check_utf8(s)?;
    Parser { s, i: 0, jsonb: false }.run(&mut Validate(Vec::new())).map_err(Fail::message)
}

/// Is `s` valid as PostgreSQL's `jsonb`: [`validate`] plus no `\u0000`, no
/// unpaired surrogate escapes, every number within `numeric`'s range?
pub fn validate_jsonb(s: &[u8]) -> Result<(), String> {
    check_utf8(s)?;
    Parser { s, i: 0, jsonb: true }.run(&mut Validate(Vec::new())).map_err(Fail::message)
}

// ---------------------------------------------------------------------------
// Canonical form.

#[derive(Debug, Clone, Copy)]
enum Node {
    Scalar(Scalar),
    /// Range `first..first + len` of `arr_kids`.
    Arr(usize, usize),
    /// Range `first..first + len` of `obj_kids`, sorted and deduplicated.
    Obj(usize, usize),
}

#[derive(Debug, Clone, Copy)]
struct Frame {
    obj: bool,
    /// Where this container's children start in `items` / `pairs`.
    start: usize,
    /// The key of the member being parsed (objects).
    key: Str,
}

/// Reusable buffers for [`canonical`]; keep one per thread to avoid
/// allocating per value (the free function does exactly that).
#[derive(Debug, Default)]
pub struct JsonCanonicalizer {
    nodes: Vec<Node>,
    arr_kids: Vec<usize>,
    obj_kids: Vec<(Str, usize)>,
    items: Vec<usize>,
    pairs: Vec<(Str, usize)>,
    frames: Vec<Frame>,
    strbuf: Vec<u8>,
    emit: Vec<(usize, usize)>,
    root: Option<usize>,
}

struct Build<'a> {
    input: &'a [u8],
    c: &'a mut JsonCanonicalizer,
}

#[inline]
fn str_bytes<'a>(input: &'a [u8], strbuf: &'a [u8], s: Str) -> &'a [u8] {
    let (src, a, b) = match s {
        Str::Raw(a, b) => (input, a, b),
        Str::Decoded(a, b) => (strbuf, a, b),
    };
    src.get(a..b).unwrap_or_default()
}

impl Build<'_> {
    fn attach(&mut self, node: Node) {
        let c = &mut *self.c;
        let id = c.nodes.len();
        c.nodes.push(node);
        match c.frames.last() {
            None => c.root = Some(id),
            Some(f) if f.obj => c.pairs.push((f.key, id)),
            Some(_) => c.items.push(id),
        }
    }
}

impl Sink for Build<'_> {
    const DECODE: bool = true;
    fn strbuf(&mut self) -> &mut Vec<u8> {
        &mut self.c.strbuf
    }
    fn scalar(&mut self, v: Scalar) {
        self.attach(Node::Scalar(v));
    }
    fn key(&mut self, k: Str) {
        if let Some(f) = self.c.frames.last_mut() {
            f.key = k;
        }
    }
    fn begin(&mut self, obj: bool) {
        let start = if obj { self.c.pairs.len() } else { self.c.items.len() };
        self.c.frames.push(Frame { obj, start, key: Str::Raw(0, 0) });
    }
    fn end(&mut self, obj: bool) {
        let Some(f) = self.c.frames.pop() else { return };
        let c = &mut *self.c;
        let node = if obj {
            let input = self.input;
            let (pairs, strbuf) = (&mut c.pairs, &c.strbuf);
            let members = pairs.get_mut(f.start..).unwrap_or_default();
            // Stable: among equal keys, source order remains, so the last wins.
            members.sort_by(|a, b| str_bytes(input, strbuf, a.0).cmp(str_bytes(input, strbuf, b.0)));
            let first = c.obj_kids.len();
            for (i, m) in members.iter().enumerate() {
                let dup_follows = members
                    .get(i + 1)
                    .is_some_and(|n| str_bytes(input, strbuf, n.0) == str_bytes(input, strbuf, m.0));
                if !dup_follows {
                    c.obj_kids.push(*m);
                }
            }
            pairs.truncate(f.start);
            Node::Obj(first, c.obj_kids.len() - first)
        } else {
            let first = c.arr_kids.len();
            c.arr_kids.extend_from_slice(c.items.get(f.start..).unwrap_or_default());
            c.items.truncate(f.start);
            Node::Arr(first, c.arr_kids.len() - first)
        };
        self.attach(node);
    }
}

/// Appends `s` as a canonical JSON string literal.
fn write_string(s: &[u8], out: &mut Vec<u8>) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let mut run = 0;
    for (i, &b) in s.iter().enumerate() {
        let esc: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            0x08 => b"\\b",
            0x0C => b"\\f",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0..=0x1F => &[b'\\', b'u', b'0', b'0', HEX[usize::from(b >> 4)], HEX[usize::from(b & 0xF)]],
            _ => continue,
        };
        out.extend_from_slice(&s[run..i]);
        out.extend_from_slice(esc);
        run = i + 1;
    }
    out.extend_from_slice(&s[run..]);
    out.push(b'"');
}

impl JsonCanonicalizer {
    pub fn new() -> Self {
        Self::default()
    }

    fn reset(&mut self) {
        // Keep the buffers, but not the memory of one giant document forever.
        const KEEP: usize = 1 << 16;
        self.nodes.clear();
        self.arr_kids.clear();
        self.obj_kids.clear();
        self.items.clear();
        self.pairs.clear();
        self.frames.clear();
        self.strbuf.clear();
        self.emit.clear();
        self.root = None;
        if self.nodes.capacity() > KEEP || self.strbuf.capacity() > KEEP * 16 {
            *self = Self::default();
        }
    }

    /// See [`canonical`].
    pub fn canonical(&mut self, s: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        self.reset();
        check_utf8(s)?;
        Parser { s, i: 0, jsonb: true }.run(&mut Build { input: s, c: self }).map_err(Fail::message)?;
        let start = out.len();
        let r = self.write(s, out);
        if r.is_err() {
            out.truncate(start);
        }
        self.reset();
        r
    }

    fn write_node(&mut self, input: &[u8], id: usize, out: &mut Vec<u8>) -> Result<(), String> {
        let Some(&node) = self.nodes.get(id) else {
            return Err("internal error: dangling JSON node".to_owned());
        };
        match node {
            Node::Scalar(Scalar::Null) => out.extend_from_slice(b"null"),
            Node::Scalar(Scalar::True) => out.extend_from_slice(b"true"),
            Node::Scalar(Scalar::False) => out.extend_from_slice(b"false"),
            Node::Scalar(Scalar::Str(st)) => write_string(str_bytes(input, &self.strbuf, st), out),
            Node::Scalar(Scalar::Num(a, b)) => {
                let plan = match input.get(a..b).and_then(parse_number) {
                    Some(Number::Finite(d)) => d.plan(FracDigits::Keep, None).ok(),
                    _ => None,
                };
                let Some(plan) = plan else {
                    return Err("invalid JSON: number out of range for jsonb (numeric)".to_owned());
                };
                plan.write(out);
            }
            Node::Arr(..) => {
                out.push(b'[');
                self.emit.push((id, 0));
            }
            Node::Obj(..) => {
                out.push(b'{');
                self.emit.push((id, 0));
            }
        }
        Ok(())
    }

    fn write(&mut self, input: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
        let Some(root) = self.root else {
            return Err("invalid JSON: no value".to_owned());
        };
        self.write_node(input, root, out)?;
        while let Some(&(id, next)) = self.emit.last() {
            let child = match self.nodes.get(id) {
                Some(&Node::Arr(first, len)) if next < len => self.arr_kids.get(first + next).copied(),
                Some(&Node::Obj(first, len)) if next < len => match self.obj_kids.get(first + next) {
                    Some(&(k, v)) => {
                        if next > 0 {
                            out.push(b',');
                        }
                        write_string(str_bytes(input, &self.strbuf, k), out);
                        out.push(b':');
                        Some(v)
                    }
                    None => None,
                },
                Some(&Node::Arr(..)) => {
                    out.push(b']');
                    self.emit.pop();
                    continue;
                }
                Some(&Node::Obj(..)) => {
                    out.push(b'}');
                    self.emit.pop();
                    continue;
                }
                _ => None,
            };
            let Some(child) = child else {
                return Err("internal error: dangling JSON node".to_owned());
            };
            if let Some(top) = self.emit.last_mut() {
                top.1 += 1;
            }
            if next > 0 && matches!(self.nodes.get(id), Some(Node::Arr(..))) {
                out.push(b',');
            }
            self.write_node(input, child, out)?;
        }
        Ok(())
    }
}

thread_local! {
    static CANONICALIZER: RefCell<JsonCanonicalizer> = RefCell::new(JsonCanonicalizer::default());
}

/// Appends the canonical form of a `jsonb` value (see the module docs) to
/// `out`; errors for anything `jsonb` would reject, leaving `out` as it was.
/// Reuses per-thread buffers.
pub fn canonical(s: &[u8], out: &mut Vec<u8>) -> Result<(), String> {
    CANONICALIZER.with(|c| match c.try_borrow_mut() {
        Ok(mut c) => c.canonical(s, out),
        Err(_) => JsonCanonicalizer::default().canonical(s, out),
    })
}

#[cfg(test)]
mod tests;
