//! Column defaults in create mode: the `DEFAULT` clauses of the SQLite
//! schema, carried to PostgreSQL where PostgreSQL can produce the value
//! SQLite would have stored, and listed by column where it cannot.
//!
//! The rule is the load's own rule applied to a row that is not there yet:
//! the value SQLite stores for the default, read through the converter the
//! plan chose for the column, is what PostgreSQL must store. So:
//!
//! * a constant is evaluated by SQLite itself (an in-memory table with the
//!   column's declared type, so affinity applies: `DEFAULT '5'` in an
//!   INTEGER column is the integer 5), converted like any value, and written
//!   as a typed literal (`0` in a boolean column becomes `false`);
//! * "now" (`CURRENT_TIMESTAMP`, `CURRENT_DATE`, `CURRENT_TIME`,
//!   `datetime('now')`, `date('now')`, `time('now')`, `strftime(fmt, 'now')`,
//!   `unixepoch()`, with `'localtime'`/`'utc'`) is the text SQLite would
//!   format, produced by `to_char` from the statement's time in UTC (as
//!   SQLite's `'now'` is), then read as the column's type: text columns get
//!   SQLite's format, not PostgreSQL's; a `timestamptz` column reads the
//!   naive text in the mapping's time zone, as the load does. A sample of
//!   what SQLite stores now is run through the converter first, so a
//!   default the column's type could not hold is listed, never carried
//!   wrong;
//! * anything else (`randomblob`, arithmetic, other functions) is listed.
//!
//! The defaults are set after the load (post-data, `ALTER … SET DEFAULT`):
//! COPY names every column, so defaults do not matter to it, and by then
//! the column types are final (create mode may widen a column after the
//! first attempt; a default set on the old type would have to be changed
//! with it). Setting a default again is harmless, so `--resume` repeats it.

use rusqlite::types::ValueRef;

use crate::mapping::convert::{Converter, Scratch, TimeInput, Value};
use crate::mapping::datetime::{self, Zone};
use crate::mapping::resolve::ColumnMap;
use crate::mapping::types::PgType;
use crate::model::Column;
use crate::plan::TablePlan;
use crate::postgres::ident;

/// The defaults of one table: `(target column, PostgreSQL expression)` for
/// those carried, and a note for each one that is not.
pub fn table_defaults(tp: &TablePlan) -> (Vec<(String, String)>, Vec<String>) {
    let mut carried = Vec::new();
    let mut notes = Vec::new();
    let Ok(conn) = rusqlite::Connection::open_in_memory() else {
        notes.push(format!(
            "table {:?}: column defaults not carried (no in-memory SQLite to evaluate them)",
            tp.source.name
        ));
        return (carried, notes);
    };
    for cm in &tp.map.columns {
        if tp.identity.as_deref() == Some(cm.target.as_str()) {
            continue; // the identity fills it
        }
        let col = &tp.source.columns[cm.source_index];
        let Some(text) = col.default.as_deref() else {
            continue;
        };
        match column_default(&conn, col, cm) {
            Ok(None) => {}
            Ok(Some(expr)) => carried.push((cm.target.clone(), expr)),
            Err(why) => notes.push(format!(
                "table {:?}, column {:?}: default {text} not carried to PostgreSQL: {why}; the application must supply the value (or set a default with ALTER TABLE … SET DEFAULT)",
                tp.source.name, col.name
            )),
        }
    }
    (carried, notes)
}

/// The PostgreSQL default expression for one column: None when there is
/// no default to carry (`DEFAULT NULL`), an error saying why not.
pub fn column_default(
    conn: &rusqlite::Connection,
    col: &Column,
    cm: &ColumnMap,
) -> Result<Option<String>, String> {
    let Some(text) = col.default.as_deref() else {
        return Ok(None);
    };
    let expr = strip_parens(text.trim());
    let sample = stored(conn, col, text).map_err(|e| format!("SQLite cannot evaluate it ({e})"))?;
    let mut scratch = Scratch::default();
    if let Some(now) = Now::parse(expr) {
        let value = ValueRef::from(&sample);
        cm.converter.convert(value, &mut scratch).map_err(|e| {
            format!(
                "SQLite stores {} for it, which {} cannot hold ({})",
                show(&sample),
                cm.pg_type,
                e.reason
            )
        })?;
        return now.render(&sample, cm).map(Some);
    }
    if !is_literal(expr) {
        return Err("it is an expression with no PostgreSQL equivalent ferry knows".into());
    }
    let v = cm
        .converter
        .convert(ValueRef::from(&sample), &mut scratch)
        .map_err(|e| {
            format!(
                "SQLite stores {} for it, which {} cannot hold ({})",
                show(&sample),
                cm.pg_type,
                e.reason
            )
        })?;
    literal(&v, &cm.pg_type)
}

/// What SQLite stores for the default in a column of this declared type
/// (affinity applied), from a one-row table in memory.
fn stored(
    conn: &rusqlite::Connection,
    col: &Column,
    default: &str,
) -> rusqlite::Result<rusqlite::types::Value> {
    // SQLite's pragma gives an expression without its parentheses; a
    // double-quoted string is a string only where no parentheses make it
    // an expression (a column name).
    let default = default.trim();
    let clause = if default.starts_with('"') {
        default.to_string()
    } else {
        format!("({default})")
    };
    conn.execute_batch(&format!(
        "DROP TABLE IF EXISTS temp.ferry_default; CREATE TEMP TABLE ferry_default (c {} DEFAULT {clause}); INSERT INTO ferry_default DEFAULT VALUES;",
        col.decl_type
    ))?;
    conn.query_row("SELECT c FROM temp.ferry_default", [], |r| r.get(0))
}

fn show(v: &rusqlite::types::Value) -> String {
    use rusqlite::types::Value as V;
    match v {
        V::Null => "NULL".into(),
        V::Integer(i) => format!("the integer {i}"),
        V::Real(f) => format!("the real {f:?}"),
        V::Text(t) => format!("the text {t:?}"),
        V::Blob(b) => format!("a {}-byte blob", b.len()),
    }
}

/// `((x))` → `x`, only when the outer parentheses enclose everything.
fn strip_parens(mut s: &str) -> &str {
    while s.starts_with('(') && s.ends_with(')') {
        let inner = &s[1..s.len() - 1];
        // The first '(' must close at the very end, outside string literals.
        let (mut depth, mut quoted, mut closes_early) = (0i32, false, false);
        for c in inner.chars() {
            match c {
                '\'' => quoted = !quoted,
                '(' if !quoted => depth += 1,
                ')' if !quoted => {
                    depth -= 1;
                    if depth < 0 {
                        closes_early = true;
                        break;
                    }
                }
                _ => {}
            }
        }
        if closes_early || depth != 0 {
            break;
        }
        s = inner.trim();
    }
    s
}

/// A number (signed), a string, a blob, NULL, TRUE or FALSE.
fn is_literal(s: &str) -> bool {
    let lower = s.to_ascii_lowercase();
    if matches!(lower.as_str(), "null" | "true" | "false") {
        return true;
    }
    let body = lower.trim_start_matches(['+', '-']).trim_start();
    let quoted = |q: &str| {
        q.len() >= 2
            && q.starts_with('\'')
            && q.ends_with('\'')
            && !q[1..q.len() - 1].replace("''", "").contains('\'')
    };
    // SQLite still reads a double-quoted default as a string (its legacy
    // rule); it is evaluated by SQLite like any constant.
    let dquoted = s.len() >= 2
        && s.starts_with('"')
        && s.ends_with('"')
        && !s[1..s.len() - 1].replace("\"\"", "").contains('"');
    if quoted(s) || dquoted || (lower.starts_with("x'") && quoted(&s[1..])) {
        return true;
    }
    !body.is_empty()
        && (body.starts_with("0x") && body[2..].chars().all(|c| c.is_ascii_hexdigit())
            || body
                .chars()
                .all(|c| c.is_ascii_digit() || matches!(c, '.' | 'e' | '+' | '-'))
                && body.starts_with(|c: char| c.is_ascii_digit() || c == '.'))
}

/// A converted constant as a typed PostgreSQL literal.
fn literal(v: &Value<'_>, ty: &PgType) -> Result<Option<String>, String> {
    let cast = |s: String| format!("{}::{}", ident::literal(&s), ty.sql());
    Ok(Some(match v {
        Value::Null => return Ok(None),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => cast(i.to_string()),
        Value::Float(f) if f.is_nan() => cast("NaN".into()),
        Value::Float(f) if f.is_infinite() => {
            cast(if *f > 0.0 { "Infinity" } else { "-Infinity" }.into())
        }
        Value::Float(f) => cast(format!("{f:?}")),
        Value::Numeric(s) | Value::Text(s) | Value::Json(s) => cast(s.to_string()),
        Value::Bytes(b) => {
            let mut hex = String::from("\\x");
            for byte in b.iter() {
                hex.push_str(&format!("{byte:02x}"));
            }
            cast(hex)
        }
        Value::Timestamp(us) => {
            if datetime::civil_from_days(datetime::days_of(*us)).0 < 1 {
                return Err("a timestamp before year 1".into());
            }
            let mut s = String::new();
            datetime::format_micros(*us, &mut s);
            if *ty == PgType::Timestamptz {
                s.push_str("+00");
            }
            cast(s)
        }
        Value::Date(d) => {
            let (y, m, d) = datetime::civil_from_days(i64::from(*d));
            if y < 1 {
                return Err("a date before year 1".into());
            }
            cast(format!("{y:04}-{m:02}-{d:02}"))
        }
        Value::Time(us) => {
            let mut s = String::new();
            datetime::format_micros(*us, &mut s);
            cast(s[11..].to_string())
        }
        Value::Uuid(u) => cast(
            u.iter()
                .enumerate()
                .map(|(i, b)| {
                    format!(
                        "{}{b:02x}",
                        if matches!(i, 4 | 6 | 8 | 10) { "-" } else { "" }
                    )
                })
                .collect(),
        ),
        #[allow(unreachable_patterns)]
        _ => return Err(format!("ferry does not write {} defaults", ty)),
    }))
}

/// A default that reads the clock: the strftime format of what SQLite
/// writes, and whether it is local time.
#[derive(Debug, PartialEq)]
struct Now {
    format: String,
    local: bool,
}

impl Now {
    fn parse(expr: &str) -> Option<Now> {
        let lower = expr.to_ascii_lowercase();
        let simple = |f: &str| {
            Some(Now {
                format: f.into(),
                local: false,
            })
        };
        match lower.as_str() {
            "current_timestamp" => return simple("%Y-%m-%d %H:%M:%S"),
            "current_date" => return simple("%Y-%m-%d"),
            "current_time" => return simple("%H:%M:%S"),
            _ => {}
        }
        let open = expr.find('(')?;
        let name = expr[..open].trim().to_ascii_lowercase();
        let args = string_args(expr[open..].trim())?;
        let (format, rest) = match name.as_str() {
            "datetime" => ("%Y-%m-%d %H:%M:%S".to_string(), &args[..]),
            "date" => ("%Y-%m-%d".to_string(), &args[..]),
            "time" => ("%H:%M:%S".to_string(), &args[..]),
            "unixepoch" if args.is_empty() => return simple("%s"),
            "unixepoch" => ("%s".to_string(), &args[..]),
            "julianday" => ("%J".to_string(), &args[..]),
            "strftime" => (args.first()?.clone(), args.get(1..)?),
            _ => return None,
        };
        let (first, modifiers) = rest.split_first()?;
        // `datetime(CURRENT_TIMESTAMP, 'localtime')` is 'now' too.
        if !first.eq_ignore_ascii_case("now") && !first.eq_ignore_ascii_case("current_timestamp") {
            return None;
        }
        let mut local = false;
        for m in modifiers {
            match m.to_ascii_lowercase().as_str() {
                "localtime" => local = true,
                "utc" => local = false,
                _ => return None,
            }
        }
        Some(Now { format, local })
    }

    /// The PostgreSQL expression, given what SQLite stores for it now.
    fn render(&self, sample: &rusqlite::types::Value, cm: &ColumnMap) -> Result<String, String> {
        use rusqlite::types::Value as V;
        // SQLite's 'now' is the statement's time in UTC.
        let base = if self.local {
            "statement_timestamp()::timestamp"
        } else {
            "(statement_timestamp() AT TIME ZONE 'UTC')"
        };
        let ty = cm.pg_type.sql();
        if self.format == "%J" {
            // The Julian day number, a REAL (days since noon of 4714 BC).
            return match &cm.pg_type {
                PgType::Double | PgType::Real | PgType::Numeric { .. } => Ok(format!(
                    "(extract(epoch FROM {base}) / 86400.0 + 2440587.5)::{ty}"
                )),
                _ => Err(format!(
                    "a Julian day number into {} is not carried",
                    cm.pg_type
                )),
            };
        }
        if self.format == "%s" {
            let epoch = format!("floor(extract(epoch FROM {base}))");
            return match (&cm.pg_type, sample) {
                (
                    PgType::SmallInt
                    | PgType::Integer
                    | PgType::BigInt
                    | PgType::Numeric { .. }
                    | PgType::Double
                    | PgType::Real,
                    _,
                ) => Ok(format!("{epoch}::{ty}")),
                (PgType::Text | PgType::Varchar(_), V::Integer(_) | V::Text(_)) => {
                    Ok(format!("{epoch}::bigint::text"))
                }
                _ => Err(format!("Unix time into {} is not carried", cm.pg_type)),
            };
        }
        let pattern = to_char_pattern(&self.format).ok_or_else(|| {
            format!(
                "strftime format {:?} has no to_char equivalent",
                self.format
            )
        })?;
        let text = format!("to_char({base}, {})", ident::literal(&pattern));
        let zoned = self.format.contains('Z') || self.format.contains('+');
        match (&cm.pg_type, sample) {
            (PgType::Text | PgType::Varchar(_), V::Text(_)) => Ok(text),
            (PgType::Timestamp | PgType::Date | PgType::Time, V::Text(_)) => {
                Ok(format!("({text})::{ty}"))
            }
            (PgType::Timestamptz, V::Text(_)) if zoned => Ok(format!("({text})::timestamptz")),
            (PgType::Timestamptz, V::Text(_)) => {
                let zone = match &cm.converter {
                    Converter::Timestamp {
                        zone,
                        input: TimeInput::Text { .. },
                        ..
                    } => zone,
                    _ => return Err("its text is read as numbers in this column".into()),
                };
                let at = match zone {
                    Zone::Utc => "'UTC'".to_string(),
                    Zone::Fixed(secs) => format!("INTERVAL '{secs} seconds'"),
                    Zone::Named(tz) => ident::literal(tz.name()),
                };
                Ok(format!("({text})::timestamp AT TIME ZONE {at}"))
            }
            // Numeric affinity made a number of the text (`strftime('%Y')`).
            (
                PgType::SmallInt
                | PgType::Integer
                | PgType::BigInt
                | PgType::Numeric { .. }
                | PgType::Double,
                V::Integer(_) | V::Real(_),
            ) => Ok(format!("({text})::{ty}")),
            _ => Err(format!(
                "SQLite stores {} for it; ferry does not produce that in a {} column",
                show(sample),
                cm.pg_type
            )),
        }
    }
}

/// `('a', 'b')` → `["a", "b"]`: string-literal arguments, and the bare
/// keyword `CURRENT_TIMESTAMP`.
fn string_args(s: &str) -> Option<Vec<String>> {
    let inner = s.strip_prefix('(')?.strip_suffix(')')?.trim();
    let mut out = Vec::new();
    let mut rest = inner;
    while !rest.is_empty() {
        let keyword = "current_timestamp";
        if rest
            .get(..keyword.len())
            .is_some_and(|k| k.eq_ignore_ascii_case(keyword))
        {
            out.push(keyword.to_string());
            rest = rest[keyword.len()..].trim_start();
            match rest.strip_prefix(',') {
                Some(r) if !r.trim().is_empty() => rest = r.trim_start(),
                Some(_) => return None,
                None if rest.is_empty() => {}
                None => return None,
            }
            continue;
        }
        let body = rest.strip_prefix('\'')?;
        let mut value = String::new();
        let mut chars = body.char_indices().peekable();
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|&(_, d)| d == '\'') {
                    value.push('\'');
                    chars.next();
                } else {
                    end = Some(i + 1);
                    break;
                }
            } else {
                value.push(c);
            }
        }
        out.push(value);
        rest = body[end?..].trim_start();
        if let Some(r) = rest.strip_prefix(',') {
            rest = r.trim_start();
            if rest.is_empty() {
                return None;
            }
        } else if !rest.is_empty() {
            return None;
        }
    }
    Some(out)
}

/// SQLite's strftime format as a `to_char` pattern, literal text quoted.
/// None for a conversion `to_char` cannot spell the way SQLite does.
fn to_char_pattern(fmt: &str) -> Option<String> {
    let mut out = String::new();
    let mut literal = String::new();
    let flush = |out: &mut String, literal: &mut String| {
        if !literal.is_empty() {
            out.push('"');
            out.push_str(&literal.replace('\\', "\\\\").replace('"', "\\\""));
            out.push('"');
            literal.clear();
        }
    };
    let mut chars = fmt.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            literal.push(c);
            continue;
        }
        let spec = match chars.next()? {
            'Y' => "YYYY",
            'm' => "MM",
            'd' => "DD",
            'H' => "HH24",
            'M' => "MI",
            'S' => "SS",
            'f' => "SS.MS",
            'j' => "DDD",
            '%' => {
                literal.push('%');
                continue;
            }
            _ => return None,
        };
        flush(&mut out, &mut literal);
        out.push_str(spec);
    }
    flush(&mut out, &mut literal);
    Some(out)
}

#[cfg(test)]
mod tests;
