//! Mapping files: the TOML format, parsing with errors that name file, line
//! and column, and layering (built-in default, then each `--mapping` file).
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt key in a file that
//! decides how a production database is converted must not be ignored.
//! Every semantic check (unknown PostgreSQL type, unknown `input`, bad time
//! zone or strftime format, a column both excluded and renamed, a boolean
//! spelling in both lists…) is made here, at load time, and its error names
//! the file, line and column of the offending value, from the spans the
//! TOML parser keeps (`toml::Spanned`). Resolution (`resolve`) keeps the
//! positions of what it uses, so that the few checks that need several
//! layers together (boolean spellings from two files) can name them too.
//!
//! The format is documented in `mappings/README.md`.

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use super::convert::{NulPolicy, Utf8Policy};
use super::datetime::{self, EpochUnit, Zone};
pub use super::decl::{normalize_type_name, parse_type_params, type_key};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("cannot read mapping file {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// toml's message already carries line, column and a caret excerpt.
    #[error("invalid mapping file {path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid mapping file {at}: {message}")]
    Invalid { at: Pos, message: String },
}

/// Where something was written: file, 1-based line and column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pos {
    pub file: Arc<Path>,
    pub line: usize,
    pub column: usize,
}

impl fmt::Display for Pos {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}, line {}, column {}", self.file.display(), self.line, self.column)
    }
}

/// A value and where it was written.
#[derive(Debug, Clone, PartialEq)]
pub struct Located<T> {
    pub value: T,
    pub at: Pos,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadValuePolicy {
    /// Stop the run before the table commits.
    #[default]
    Abort,
    /// Leave the row out, write it to the reject file; exit code 1.
    Reject,
    /// Load NULL instead (only where the column is nullable); counted.
    Null,
}

impl BadValuePolicy {
    pub fn name(self) -> &'static str {
        match self {
            BadValuePolicy::Abort => "abort",
            BadValuePolicy::Reject => "reject",
            BadValuePolicy::Null => "null",
        }
    }
}

/// Converter options: the same keys in `[settings]` (there `formats` is
/// spelt `datetime_formats`), on a table (defaults for its columns) and on a
/// rule. Unset fields inherit from the next less specific level.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// How date/time values are stored (see [`parse_time_input`]).
    pub input: Option<Located<String>>,
    /// Extra strftime formats for date/time text.
    pub formats: Option<Located<Vec<String>>>,
    pub nul: Option<NulPolicy>,
    pub invalid_utf8: Option<Utf8Policy>,
    pub on_bad_value: Option<BadValuePolicy>,
    pub timezone: Option<Located<Zone>>,
    pub boolean_true: Option<Located<Vec<String>>>,
    pub boolean_false: Option<Located<Vec<String>>>,
}

/// One rule: what a column becomes. Every field is optional so that a more
/// specific rule can change one thing and inherit the rest.
#[derive(Debug, Clone)]
pub struct Rule {
    /// Where the rule starts.
    pub at: Pos,
    /// Target PostgreSQL type, e.g. "timestamptz", "numeric(12,2)";
    /// `$1`/`$2` stand for the declared type's parameters.
    pub pg_type: Option<Located<String>>,
    pub options: Options,
    /// Column name in PostgreSQL (column rules only).
    pub rename: Option<String>,
    /// Leave the column out (column rules only).
    pub exclude: Option<bool>,
}

#[derive(Debug, Clone)]
pub struct TableRule {
    pub at: Pos,
    pub rename: Option<String>,
    pub exclude: Option<bool>,
    /// Defaults for every column of the table.
    pub options: Options,
    /// By declared type, for this table only (keys as in `[types]`).
    pub types: BTreeMap<String, Rule>,
    pub columns: BTreeMap<String, Rule>,
}

#[derive(Debug, Clone, Default)]
pub struct MappingFile {
    /// `[settings]`: the options every column starts from.
    pub settings: Options,
    /// By declared type: base name upper-cased (`VARCHAR`), or with its
    /// parameters (`NUMERIC(10,2)`), which is more specific.
    pub types: BTreeMap<String, Rule>,
    /// By affinity name: INTEGER, REAL, TEXT, BLOB, NUMERIC.
    pub affinity: BTreeMap<String, Located<String>>,
    pub tables: BTreeMap<String, TableRule>,
    /// Only tables matching these glob patterns.
    pub include_tables: Vec<String>,
    pub exclude_tables: Vec<String>,
}

/// All mapping files laid over each other, in order: index 0 is the built-in.
#[derive(Debug, Clone)]
pub struct Layers {
    pub files: Vec<(PathBuf, MappingFile)>,
}

pub const BUILTIN_NAME: &str = "<built-in mappings/default.toml>";

impl Layers {
    pub fn load(user_files: &[PathBuf]) -> Result<Layers, Error> {
        let mut files = vec![(PathBuf::from(BUILTIN_NAME), parse(Path::new(BUILTIN_NAME), super::DEFAULT_MAPPING)?)];
        for path in user_files {
            let bundled = super::BUNDLED.iter().find(|(name, _)| Path::new(name) == path.as_path());
            let text = match (path.exists(), bundled) {
                (false, Some((name, text))) => {
                    let shown = PathBuf::from(format!("<bundled {name}>"));
                    files.push((shown.clone(), parse(&shown, text)?));
                    continue;
                }
                _ => std::fs::read_to_string(path).map_err(|source| Error::Read { path: path.clone(), source })?,
            };
            files.push((path.clone(), parse(path, &text)?));
        }
        Ok(Layers { files })
    }

    /// The last layer that sets a setting wins.
    pub fn setting<T: Clone>(&self, get: impl Fn(&Options) -> Option<T>) -> Option<T> {
        self.files.iter().rev().find_map(|(_, f)| get(&f.settings))
    }
}

// ---------------------------------------------------------------------------
// The TOML shapes, with spans.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFile {
    settings: Option<RawSettings>,
    #[serde(default)]
    types: BTreeMap<Spanned<String>, Spanned<RawRule>>,
    #[serde(default)]
    affinity: BTreeMap<Spanned<String>, Spanned<String>>,
    #[serde(default)]
    tables: BTreeMap<Spanned<String>, Spanned<RawTable>>,
    #[serde(default)]
    include_tables: Vec<String>,
    #[serde(default)]
    exclude_tables: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSettings {
    timezone: Option<Spanned<String>>,
    on_bad_value: Option<BadValuePolicy>,
    nul: Option<NulPolicy>,
    invalid_utf8: Option<Utf8Policy>,
    boolean_true: Option<Spanned<Vec<String>>>,
    boolean_false: Option<Spanned<Vec<String>>>,
    datetime_formats: Option<Spanned<Vec<String>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    #[serde(rename = "type")]
    pg_type: Option<Spanned<String>>,
    input: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<String>>>,
    nul: Option<NulPolicy>,
    invalid_utf8: Option<Utf8Policy>,
    on_bad_value: Option<BadValuePolicy>,
    timezone: Option<Spanned<String>>,
    boolean_true: Option<Spanned<Vec<String>>>,
    boolean_false: Option<Spanned<Vec<String>>>,
    rename: Option<Spanned<String>>,
    exclude: Option<Spanned<bool>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTable {
    rename: Option<Spanned<String>>,
    exclude: Option<Spanned<bool>>,
    input: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<String>>>,
    nul: Option<NulPolicy>,
    invalid_utf8: Option<Utf8Policy>,
    on_bad_value: Option<BadValuePolicy>,
    timezone: Option<Spanned<String>>,
    boolean_true: Option<Spanned<Vec<String>>>,
    boolean_false: Option<Spanned<Vec<String>>>,
    #[serde(default)]
    types: BTreeMap<Spanned<String>, Spanned<RawRule>>,
    #[serde(default)]
    columns: BTreeMap<Spanned<String>, Spanned<RawRule>>,
}

/// Turns byte spans into positions in one file's text.
struct Src<'a> {
    file: Arc<Path>,
    text: &'a str,
}

impl Src<'_> {
    fn pos(&self, span: Range<usize>) -> Pos {
        let before = &self.text[..span.start.min(self.text.len())];
        let line = before.matches('\n').count() + 1;
        let column = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        Pos { file: self.file.clone(), line, column }
    }

    fn err(&self, span: Range<usize>, message: impl Into<String>) -> Error {
        Error::Invalid { at: self.pos(span), message: message.into() }
    }

    fn located<T>(&self, s: Spanned<T>) -> Located<T> {
        let at = self.pos(s.span());
        Located { value: s.into_inner(), at }
    }
}

pub fn parse(path: &Path, text: &str) -> Result<MappingFile, Error> {
    let raw: RawFile = toml::from_str(text)
        .map_err(|e| Error::Parse { path: path.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
    let src = Src { file: Arc::from(path), text };
    let mut file = MappingFile {
        include_tables: raw.include_tables,
        exclude_tables: raw.exclude_tables,
        ..Default::default()
    };
    if let Some(s) = raw.settings {
        file.settings = options(
            &src,
            RawOptions {
                input: None,
                formats: s.datetime_formats,
                nul: s.nul,
                invalid_utf8: s.invalid_utf8,
                on_bad_value: s.on_bad_value,
                timezone: s.timezone,
                boolean_true: s.boolean_true,
                boolean_false: s.boolean_false,
            },
        )?;
    }
    file.types = type_rules(&src, raw.types, "[types]")?;
    for (k, v) in raw.affinity {
        let key = k.get_ref().to_ascii_uppercase();
        if !matches!(key.as_str(), "INTEGER" | "REAL" | "TEXT" | "BLOB" | "NUMERIC") {
            return Err(src.err(k.span(), format!("unknown affinity {:?} (INTEGER, REAL, TEXT, BLOB or NUMERIC)", k.get_ref())));
        }
        super::types::PgType::parse(v.get_ref()).map_err(|m| src.err(v.span(), m))?;
        file.affinity.insert(key, src.located(v));
    }
    for (name, t) in raw.tables {
        let span = t.span();
        let t = t.into_inner();
        let at = src.pos(span.clone());
        if t.exclude.as_ref().is_some_and(|e| *e.get_ref()) {
            let mut others = Vec::new();
            for (set, key) in [
                (t.rename.is_some(), "rename"),
                (!t.columns.is_empty(), "columns"),
                (!t.types.is_empty(), "types"),
                (t.input.is_some() || t.formats.is_some() || t.timezone.is_some(), "date/time options"),
                (t.nul.is_some() || t.invalid_utf8.is_some() || t.on_bad_value.is_some(), "value policies"),
                (t.boolean_true.is_some() || t.boolean_false.is_some(), "boolean spellings"),
            ] {
                if set {
                    others.push(key);
                }
            }
            if !others.is_empty() {
                let e = t.exclude.as_ref().expect("checked");
                return Err(src.err(
                    e.span(),
                    format!("table {:?} is excluded and also given {}: one or the other", name.get_ref(), others.join(", ")),
                ));
            }
        }
        let mut columns = BTreeMap::new();
        for (c, r) in t.columns {
            let rule = rule(&src, r, true)?;
            columns.insert(c.into_inner(), rule);
        }
        let table = TableRule {
            at,
            rename: t.rename.map(|r| r.into_inner()),
            exclude: t.exclude.map(|e| e.into_inner()),
            options: options(
                &src,
                RawOptions {
                    input: t.input,
                    formats: t.formats,
                    nul: t.nul,
                    invalid_utf8: t.invalid_utf8,
                    on_bad_value: t.on_bad_value,
                    timezone: t.timezone,
                    boolean_true: t.boolean_true,
                    boolean_false: t.boolean_false,
                },
            )?,
            types: type_rules(&src, t.types, &format!("[tables.{}.types]", name.get_ref()))?,
            columns,
        };
        file.tables.insert(name.into_inner(), table);
    }
    Ok(file)
}

fn type_rules(
    src: &Src<'_>,
    raw: BTreeMap<Spanned<String>, Spanned<RawRule>>,
    section: &str,
) -> Result<BTreeMap<String, Rule>, Error> {
    let mut out: BTreeMap<String, Rule> = BTreeMap::new();
    for (k, v) in raw {
        let key = type_key(k.get_ref());
        if key.is_empty() {
            return Err(src.err(k.span(), format!("empty declared type name in {section}")));
        }
        let rule = rule(src, v, false)?;
        if let Some(prev) = out.get(&key) {
            return Err(src.err(
                k.span(),
                format!("{:?} in {section} is the same declared type as the rule at line {} ({key})", k.get_ref(), prev.at.line),
            ));
        }
        out.insert(key, rule);
    }
    Ok(out)
}

struct RawOptions {
    input: Option<Spanned<String>>,
    formats: Option<Spanned<Vec<String>>>,
    nul: Option<NulPolicy>,
    invalid_utf8: Option<Utf8Policy>,
    on_bad_value: Option<BadValuePolicy>,
    timezone: Option<Spanned<String>>,
    boolean_true: Option<Spanned<Vec<String>>>,
    boolean_false: Option<Spanned<Vec<String>>>,
}

fn options(src: &Src<'_>, r: RawOptions) -> Result<Options, Error> {
    if let Some(i) = &r.input {
        parse_time_input(i.get_ref()).map_err(|m| src.err(i.span(), m))?;
    }
    if let Some(f) = &r.formats {
        for fmt in f.get_ref() {
            check_strftime(fmt).map_err(|m| src.err(f.span(), m))?;
        }
    }
    let timezone = match r.timezone {
        Some(t) => {
            let zone = Zone::parse(t.get_ref()).map_err(|m| src.err(t.span(), m))?;
            Some(Located { value: zone, at: src.pos(t.span()) })
        }
        None => None,
    };
    for list in [&r.boolean_true, &r.boolean_false].into_iter().flatten() {
        if list.get_ref().is_empty() {
            return Err(src.err(list.span(), "an empty list of boolean spellings"));
        }
    }
    if let (Some(t), Some(f)) = (&r.boolean_true, &r.boolean_false)
        && let Some(both) = t.get_ref().iter().find(|s| f.get_ref().iter().any(|g| g.trim().eq_ignore_ascii_case(s.trim())))
    {
        return Err(src.err(f.span(), format!("boolean spelling {both:?} is listed for both true and false")));
    }
    Ok(Options {
        input: r.input.map(|i| src.located(i)),
        formats: r.formats.map(|f| src.located(f)),
        nul: r.nul,
        invalid_utf8: r.invalid_utf8,
        on_bad_value: r.on_bad_value,
        timezone,
        boolean_true: r.boolean_true.map(|b| src.located(b)),
        boolean_false: r.boolean_false.map(|b| src.located(b)),
    })
}

fn rule(src: &Src<'_>, raw: Spanned<RawRule>, column_rule: bool) -> Result<Rule, Error> {
    let at = src.pos(raw.span());
    let r = raw.into_inner();
    if !column_rule {
        if let Some(x) = &r.rename {
            return Err(src.err(x.span(), "rename is for a column rule ([tables.T.columns.C]) or a table, not a type rule"));
        }
        if let Some(x) = &r.exclude {
            return Err(src.err(x.span(), "exclude is for a column rule ([tables.T.columns.C]) or a table, not a type rule"));
        }
    }
    let pg_type = match r.pg_type {
        Some(t) => {
            let probe = t.get_ref().replace("$1", "10").replace("$2", "2");
            let parsed = super::types::PgType::parse(&probe).map_err(|m| src.err(t.span(), m))?;
            if super::types::fraction_digits(&probe).is_some() {
                // ferry creates the type without it; a rule asking for a
                // rounding column would be ignored silently.
                return Err(src.err(t.span(), "a fractional-seconds precision below 6 is read from an existing schema's columns, not created: write the type without (p)"));
            }
            if let Some(i) = &r.input {
                use super::types::PgType as T;
                let fits = match parsed {
                    T::Timestamp | T::Timestamptz | T::Date | T::Time => i.get_ref() != "json-array",
                    T::TextArray => i.get_ref() == "json-array",
                    _ => false,
                };
                if !fits {
                    let what = if i.get_ref() == "json-array" { "text[] columns" } else { "timestamp, timestamptz, date and time columns" };
                    return Err(src.err(i.span(), format!("input = {:?} is for {what}, not {parsed}", i.get_ref())));
                }
            }
            Some(src.located(t))
        }
        None => None,
    };
    if let Some(e) = &r.exclude
        && *e.get_ref()
    {
        let mut others = Vec::new();
        for (set, key) in [
            (r.rename.is_some(), "renamed"),
            (pg_type.is_some(), "given a type"),
            (r.input.is_some() || r.formats.is_some() || r.timezone.is_some(), "given date/time options"),
            (r.nul.is_some() || r.invalid_utf8.is_some() || r.on_bad_value.is_some(), "given value policies"),
            (r.boolean_true.is_some() || r.boolean_false.is_some(), "given boolean spellings"),
        ] {
            if set {
                others.push(key);
            }
        }
        if !others.is_empty() {
            return Err(src.err(e.span(), format!("the column is both excluded and {}", others.join(", "))));
        }
    }
    if let Some(n) = &r.rename
        && n.get_ref().is_empty()
    {
        return Err(src.err(n.span(), "rename to an empty name"));
    }
    Ok(Rule {
        at,
        pg_type,
        options: options(
            src,
            RawOptions {
                input: r.input,
                formats: r.formats,
                nul: r.nul,
                invalid_utf8: r.invalid_utf8,
                on_bad_value: r.on_bad_value,
                timezone: r.timezone,
                boolean_true: r.boolean_true,
                boolean_false: r.boolean_false,
            },
        )?,
        rename: r.rename.map(|n| n.into_inner()),
        exclude: r.exclude.map(|e| e.into_inner()),
    })
}

/// A strftime format chrono can use: no unknown `%` specifier.
fn check_strftime(fmt: &str) -> Result<(), String> {
    use chrono::format::{Item, StrftimeItems};
    if StrftimeItems::new(fmt).any(|i| matches!(i, Item::Error)) {
        return Err(format!("invalid strftime format {fmt:?}"));
    }
    Ok(())
}

/// `input = "…"` of a date/time rule: None for text, else unit and origin.
pub fn parse_time_input(s: &str) -> Result<Option<(EpochUnit, i64)>, String> {
    Ok(Some(match s {
        "text" | "json-array" => return Ok(None),
        "epoch-seconds" => (EpochUnit::Seconds, datetime::UNIX),
        "epoch-milliseconds" => (EpochUnit::Millis, datetime::UNIX),
        "epoch-microseconds" => (EpochUnit::Micros, datetime::UNIX),
        "epoch-nanoseconds" => (EpochUnit::Nanos, datetime::UNIX),
        "julian-day" => (EpochUnit::JulianDay, datetime::UNIX),
        "webkit-microseconds" => (EpochUnit::Micros, datetime::WEBKIT_1601),
        "apple-seconds" => (EpochUnit::Seconds, datetime::APPLE_2001),
        other => {
            return Err(format!(
                "unknown input {other:?} (text, epoch-seconds, epoch-milliseconds, epoch-microseconds, epoch-nanoseconds, julian-day, webkit-microseconds, apple-seconds; json-array for text[])"
            ));
        }
    }))
}

#[cfg(test)]
mod tests;
