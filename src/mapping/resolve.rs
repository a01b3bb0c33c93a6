//! Resolution: every column of every table becomes a PostgreSQL type and a
//! converter, once, before any row is read. The row loop never looks at a
//! rule again.
//!
//! Precedence, most specific first: a `[tables.T.columns.C]` rule, then a
//! `[types]` rule for the declared type name, then the `[affinity]` fallback;
//! within one level, later files win. Option fields (input, formats, policies)
//! resolve the same way, then fall back to `[settings]`.
//!
//! In create mode a type that came from the declared type or the affinity
//! (not from a column rule the user wrote) is checked against the column's
//! storage-class profile: SQLite only keeps text in an INTEGER column when
//! the text is not a number, so such a column cannot become `bigint`; it is
//! created with the narrowest type that holds every stored class, and the
//! plan says so. A rule the user wrote is obeyed, and values that do not fit
//! are bad values.

use serde::Serialize;

use super::boolean::BoolSpellings;
use super::convert::{Converter, NulPolicy, StorageClass, TimeInput, Utf8Policy};
use super::datetime::Zone;
use super::reading::{self, Choice, Numbers, Reading};
use super::file::{normalize_type_name, parse_time_input, parse_type_params, type_key, BadValuePolicy, Layers, Located, Options, Pos};
use super::types::PgType;
use crate::model::{Affinity, Column, StorageProfile, Table};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("table {table:?}, column {column:?}: {message}")]
    Column { table: String, column: String, message: String },
    /// A problem with a rule, named by where it was written.
    #[error("table {table:?}, column {column:?}: {message} (mapping rule at {at})")]
    Rule { table: String, column: String, at: Pos, message: String },
    #[error("mapping settings: {0}")]
    Settings(String),
    /// Columns whose stored values include a storage class their converter
    /// can never take: found from the storage-class profile, before any row
    /// moves.
    #[error(
        "table {table:?}: {} column(s) hold values that cannot convert; nothing was loaded. Change the rules (type, on_bad_value) or exclude the columns:\n{}",
        problems.len(),
        problems.iter().map(|p| format!("  - {p}")).collect::<Vec<_>>().join("\n")
    )]
    Unconvertible { table: String, problems: Vec<String> },
}

impl Error {
    /// The message without the table and column, for a caller (a misfit)
    /// that names them itself: otherwise the column would be named twice.
    pub fn detail(&self) -> String {
        match self {
            Error::Column { message, .. } => message.clone(),
            Error::Rule { at, message, .. } => format!("{message} (mapping rule at {at})"),
            other => other.to_string(),
        }
    }
}

/// How one column is carried over.
#[derive(Debug, Clone, Serialize)]
pub struct ColumnMap {
    /// Name in SQLite.
    pub source: String,
    /// Position in the SQLite table's column list.
    pub source_index: usize,
    /// Name in PostgreSQL.
    pub target: String,
    pub pg_type: PgType,
    #[serde(skip)]
    pub converter: Converter,
    pub on_bad_value: BadValuePolicy,
    /// Which rule decided, in words ("declared type DATETIME", …).
    pub why: String,
    pub not_null: bool,
    /// A rule the user wrote chose the type (never widened from the data).
    #[serde(skip)]
    pub explicit: bool,
    /// Create mode planned without a profile: the storage classes (bits of
    /// [`StorageClass::bit`]) whose presence would make the profiled plan
    /// widen this column. A value of such a class stops the load so that
    /// the run plans from the data (`pipeline::Error::NeedsWidening`).
    #[serde(skip)]
    pub widen_on: u8,
    /// How the column's numbers are read when the data chose it (no rule
    /// says `input`): see `mapping::reading`. Reported as a warning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reading: Option<Reading>,
}

#[derive(Debug, Clone, Serialize)]
pub struct TableMap {
    pub source: String,
    pub target: String,
    pub columns: Vec<ColumnMap>,
    pub excluded_columns: Vec<String>,
    /// Decisions worth telling the user (a column widened to text, …).
    pub notes: Vec<String>,
}

/// Settings resolved across layers, shared by all columns.
#[derive(Debug, Clone)]
pub struct Resolved {
    pub zone: Zone,
    pub on_bad_value: BadValuePolicy,
    pub nul: NulPolicy,
    pub invalid_utf8: Utf8Policy,
    pub booleans: BoolSpellings,
    pub datetime_formats: Vec<String>,
}

/// One rule in a column's chain, most specific first.
struct Link<'l> {
    options: &'l Options,
    pg_type: Option<&'l Located<String>>,
    /// In words, for `ColumnMap::why`.
    what: String,
    /// Written in a user's file (not the built-in default).
    user: bool,
}

pub struct Mapper<'l> {
    layers: &'l Layers,
    settings: Resolved,
}

impl<'l> Mapper<'l> {
    pub fn new(layers: &'l Layers) -> Result<Self, Error> {
        let zone = layers.setting(|s| s.timezone.as_ref().map(|z| z.value)).unwrap_or_default();
        let trues = layers.setting(|s| s.boolean_true.clone());
        let falses = layers.setting(|s| s.boolean_false.clone());
        let booleans = spellings(trues.as_ref(), falses.as_ref()).map_err(Error::Settings)?;
        Ok(Mapper {
            layers,
            settings: Resolved {
                zone,
                on_bad_value: layers.setting(|s| s.on_bad_value).unwrap_or_default(),
                nul: layers.setting(|s| s.nul).unwrap_or_default(),
                invalid_utf8: layers.setting(|s| s.invalid_utf8).unwrap_or_default(),
                booleans,
                datetime_formats: layers.setting(|s| s.formats.as_ref().map(|f| f.value.clone())).unwrap_or_default(),
            },
        })
    }

    pub fn settings(&self) -> &Resolved {
        &self.settings
    }

    /// Is this table left out by the mapping files (exclude or patterns)?
    pub fn table_excluded(&self, table: &str) -> bool {
        let files = || self.layers.files.iter().map(|(_, f)| f);
        if let Some(ex) = files().rev().find_map(|f| f.tables.get(table).and_then(|t| t.exclude)) {
            return ex;
        }
        let includes: Vec<&String> = files().flat_map(|f| f.include_tables.iter()).collect();
        if !includes.is_empty() && !includes.iter().any(|p| glob_match(p, table)) {
            return true;
        }
        files().flat_map(|f| f.exclude_tables.iter()).any(|p| glob_match(p, table))
    }

    pub fn table_target_name(&self, table: &str) -> String {
        self.layers
            .files
            .iter()
            .rev()
            .find_map(|(_, f)| f.tables.get(table).and_then(|t| t.rename.clone()))
            .unwrap_or_else(|| table.to_string())
    }

    /// Resolve one table. `profiles` (per column, same order as
    /// `table.columns`) enables the create-mode fit described above, and
    /// the check that every stored storage class can reach its converter.
    pub fn table(&self, table: &Table, profiles: Option<&[StorageProfile]>) -> Result<TableMap, Error> {
        let mut columns = Vec::new();
        let mut excluded = Vec::new();
        let mut notes = Vec::new();
        let mut problems = Vec::new();
        for (idx, col) in table.columns.iter().enumerate() {
            let excluded_by_rule = self
                .layers
                .files
                .iter()
                .rev()
                .find_map(|(_, f)| f.tables.get(&table.name).and_then(|t| t.columns.get(&col.name)).and_then(|r| r.exclude));
            if excluded_by_rule == Some(true) {
                excluded.push(col.name.clone());
                continue;
            }
            let profile = profiles.and_then(|p| p.get(idx));
            let m = self.column(table, idx, col, profile, &mut notes, &mut problems)?;
            if let (Some(p), BadValuePolicy::Abort) = (profile, m.on_bad_value) {
                for (n, class) in [
                    (p.integer, StorageClass::Integer),
                    (p.real, StorageClass::Real),
                    (p.text, StorageClass::Text),
                    (p.blob, StorageClass::Blob),
                ] {
                    if n > 0 && !m.converter.takes(class) {
                        problems.push(format!(
                            "column {:?}: {n} {} value(s), which {} cannot take ({})",
                            col.name,
                            class.name(),
                            m.pg_type,
                            m.why
                        ));
                    }
                }
            }
            columns.push(m);
        }
        if !problems.is_empty() {
            return Err(Error::Unconvertible { table: table.name.clone(), problems });
        }
        Ok(TableMap {
            source: table.name.clone(),
            target: self.table_target_name(&table.name),
            columns,
            excluded_columns: excluded,
            notes,
        })
    }

    /// The rules that apply to a column, most specific first: column rules,
    /// the table's type rules (with parameters, then by base name), the
    /// table's defaults, the global type rules (same order); within a
    /// level, later files first.
    fn chain(&self, table: &str, col: &Column) -> Vec<Link<'l>> {
        let files = &self.layers.files;
        let full = type_key(&col.decl_type);
        let base = normalize_type_name(&col.decl_type);
        let keys: Vec<&str> = if full == base { vec![&base] } else { vec![&full, &base] };
        let mut chain = Vec::new();
        for (i, (_, f)) in files.iter().enumerate().rev() {
            if let Some(r) = f.tables.get(table).and_then(|t| t.columns.get(&col.name)) {
                chain.push(Link { options: &r.options, pg_type: r.pg_type.as_ref(), what: "column rule".into(), user: i > 0 });
            }
        }
        for key in &keys {
            for (i, (_, f)) in files.iter().enumerate().rev() {
                if let Some(r) = f.tables.get(table).and_then(|t| t.types.get(*key)) {
                    chain.push(Link {
                        options: &r.options,
                        pg_type: r.pg_type.as_ref(),
                        what: format!("table rule for declared type {key}"),
                        user: i > 0,
                    });
                }
            }
        }
        for (i, (_, f)) in files.iter().enumerate().rev() {
            if let Some(t) = f.tables.get(table) {
                chain.push(Link { options: &t.options, pg_type: None, what: "table defaults".into(), user: i > 0 });
            }
        }
        for key in &keys {
            for (i, (_, f)) in files.iter().enumerate().rev() {
                if let Some(r) = f.types.get(*key) {
                    chain.push(Link {
                        options: &r.options,
                        pg_type: r.pg_type.as_ref(),
                        what: format!("declared type {key}"),
                        user: i > 0,
                    });
                }
            }
        }
        chain
    }

    fn column(
        &self,
        table: &Table,
        idx: usize,
        col: &Column,
        profile: Option<&StorageProfile>,
        notes: &mut Vec<String>,
        problems: &mut Vec<String>,
    ) -> Result<ColumnMap, Error> {
        let chain = self.chain(&table.name, col);
        let (_, params) = parse_type_params(&col.decl_type);

        let decided = chain.iter().find(|l| l.pg_type.is_some());
        let (template, why, explicit, at) = if let Some(l) = decided {
            let t = l.pg_type.expect("found by pg_type");
            let from = if l.user { format!("{} ({})", l.what, t.at) } else { l.what.clone() };
            (t.value.clone(), from, l.user, Some(t.at.clone()))
        } else {
            let aff = col.affinity.name();
            let (t, user) = self
                .layers
                .files
                .iter()
                .enumerate()
                .rev()
                .find_map(|(i, (_, f))| f.affinity.get(aff).map(|t| (t.value.clone(), i > 0)))
                .unwrap_or_else(|| ("text".into(), false));
            let shown = if col.decl_type.is_empty() { "(none)".to_string() } else { col.decl_type.clone() };
            (t, format!("{aff} affinity of declared type {shown}"), user, None)
        };
        let rule_err = |message: String| match &at {
            Some(at) => Error::Rule { table: table.name.clone(), column: col.name.clone(), at: at.clone(), message },
            None => Error::Column { table: table.name.clone(), column: col.name.clone(), message },
        };
        let mut pg = PgType::parse(&substitute(&template, &params)).map_err(rule_err)?;
        let mut why = why;
        let mut converter = self.converter(&pg, &chain).map_err(|(at, message)| self.at_err(table, col, at, message))?;
        // Numbers going into a date/time type: SQLite's conventions, chosen
        // from the data (the same choice as an existing schema's fit).
        let mut chosen = None;
        if let Some(p) = profile
            && p.text == 0
            && p.blob == 0
            && !chain.iter().any(|l| l.options.input.is_some())
        {
            match reading::choose(&Numbers::of(p, None), &pg) {
                Some(Choice::Read(r)) => {
                    set_epoch_input(&mut converter, &r);
                    chosen = Some(r);
                }
                Some(Choice::Implausible { reading, problem }) => {
                    let why = reading::refusal(&table.name, &col.name, &reading, &problem);
                    if explicit {
                        problems.push(format!("column {:?}: {why}", col.name));
                    } else {
                        notes.push(format!("column {:?}: not read as dates: {why}", col.name));
                    }
                }
                None => {}
            }
        }
        if !explicit
            && let Some(p) = profile
            && let Some((fitted, reason)) = fit_converter(&pg, &converter, col.affinity, p)
        {
            notes.push(format!("column {:?}: {} would not hold its values ({reason}); created as {fitted}", col.name, pg));
            why = format!("{why}, widened to {fitted}: {reason}");
            pg = fitted;
            converter = self.converter(&pg, &chain).map_err(|(at, message)| self.at_err(table, col, at, message))?;
        }
        if let Some(r) = &chosen {
            why.push_str(&format!("; numbers read as {} (chosen from the data)", r.input));
        }
        let s = &self.settings;
        let target = self
            .layers
            .files
            .iter()
            .rev()
            .find_map(|(_, f)| f.tables.get(&table.name).and_then(|t| t.columns.get(&col.name)).and_then(|r| r.rename.clone()))
            .unwrap_or_else(|| col.name.clone());
        Ok(ColumnMap {
            source: col.name.clone(),
            source_index: idx,
            target,
            pg_type: pg,
            converter,
            on_bad_value: chain.iter().find_map(|l| l.options.on_bad_value).unwrap_or(s.on_bad_value),
            why,
            not_null: col.not_null || col.pk_position > 0 && table.row_key != crate::model::RowKey::Rowid,
            explicit,
            widen_on: 0,
            reading: chosen,
        })
    }

    fn at_err(&self, table: &Table, col: &Column, at: Option<Pos>, message: String) -> Error {
        match at {
            Some(at) => Error::Rule { table: table.name.clone(), column: col.name.clone(), at, message },
            None => Error::Column { table: table.name.clone(), column: col.name.clone(), message },
        }
    }

    /// The converter for `pg` with the options of the rule chain (most
    /// specific first) and the settings. An error names the rule's position
    /// when one is to blame.
    fn converter(&self, pg: &PgType, chain: &[Link<'_>]) -> Result<Converter, (Option<Pos>, String)> {
        let mut converter = Converter::for_type(pg);
        let s = &self.settings;
        match &mut converter {
            Converter::Bool(sp) => {
                let t = chain.iter().find_map(|l| l.options.boolean_true.as_ref());
                let f = chain.iter().find_map(|l| l.options.boolean_false.as_ref());
                *sp = match (t, f) {
                    (None, None) => s.booleans.clone(),
                    _ => {
                        let st = self.layers.setting(|o| o.boolean_true.clone());
                        let sf = self.layers.setting(|o| o.boolean_false.clone());
                        let (t, f) = (t.or(st.as_ref()), f.or(sf.as_ref()));
                        spellings(t, f).map_err(|m| {
                            let at = [t, f].into_iter().flatten().map(|l| l.at.clone()).next_back();
                            (at, m)
                        })?
                    }
                };
            }
            Converter::Text { nul, utf8, .. } => {
                *nul = chain.iter().find_map(|l| l.options.nul).unwrap_or(s.nul);
                *utf8 = chain.iter().find_map(|l| l.options.invalid_utf8).unwrap_or(s.invalid_utf8);
            }
            Converter::Timestamp { input, zone, .. } => {
                *input = self.time_input(chain)?;
                *zone = chain.iter().find_map(|l| l.options.timezone.as_ref().map(|z| z.value)).unwrap_or(s.zone);
            }
            Converter::Date { input } | Converter::Time { input, .. } => *input = self.time_input(chain)?,
            Converter::NoArrayInput
                if chain.iter().find_map(|l| l.options.input.as_ref()).is_some_and(|i| i.value == "json-array") =>
            {
                converter = Converter::JsonTextArray;
            }
            _ => {}
        }
        Ok(converter)
    }

    /// Existing-schema mode: the target column's type is the anchor. Give
    /// `cm` that type and the converter that reaches it, with the options
    /// the mapping files set for this column. `reading` is the one chosen
    /// from the data (`mapping::reading`) for numbers going into a
    /// date/time column; it applies only when no rule says `input`.
    pub fn retarget(&self, table: &Table, cm: &mut ColumnMap, pg: PgType, reading: Option<Reading>) -> Result<(), Error> {
        let col = &table.columns[cm.source_index];
        let chain = self.chain(&table.name, col);
        let mut converter = self.converter(&pg, &chain).map_err(|(at, message)| self.at_err(table, col, at, message))?;
        cm.reading = None;
        if let (false, Some(r)) = (self.input_rule(table, cm.source_index), reading)
            && set_epoch_input(&mut converter, &r)
        {
            cm.reading = Some(r);
        }
        cm.why = format!("target column type {pg}");
        if let Some(r) = &cm.reading {
            cm.why.push_str(&format!("; numbers read as {} (chosen from the data)", r.input));
        }
        cm.pg_type = pg;
        cm.converter = converter;
        Ok(())
    }

    /// Does a mapping rule say how this column's date/time values are
    /// stored (`input`)? Then no reading is chosen from the data.
    pub fn input_rule(&self, table: &Table, idx: usize) -> bool {
        self.chain(&table.name, &table.columns[idx]).iter().any(|l| l.options.input.is_some())
    }

    fn time_input(&self, chain: &[Link<'_>]) -> Result<TimeInput, (Option<Pos>, String)> {
        let formats = chain
            .iter()
            .find_map(|l| l.options.formats.as_ref().map(|f| f.value.clone()))
            .unwrap_or_else(|| self.settings.datetime_formats.clone());
        match chain.iter().find_map(|l| l.options.input.as_ref()) {
            None => Ok(TimeInput::Text { formats }),
            Some(i) => match parse_time_input(&i.value).map_err(|m| (Some(i.at.clone()), m))? {
                None => Ok(TimeInput::Text { formats }),
                Some((unit, origin_micros)) => Ok(TimeInput::Epoch { unit, origin_micros }),
            },
        }
    }
}

/// Read a date/time converter's numbers as `r` says. False when the
/// converter is not a date/time one.
fn set_epoch_input(converter: &mut Converter, r: &Reading) -> bool {
    match converter {
        Converter::Timestamp { input, .. } | Converter::Date { input } | Converter::Time { input, .. } => {
            *input = TimeInput::Epoch { unit: r.unit, origin_micros: r.origin_micros };
            true
        }
        _ => false,
    }
}

/// Boolean spellings from optional lists (a missing side keeps the default).
fn spellings(t: Option<&Located<Vec<String>>>, f: Option<&Located<Vec<String>>>) -> Result<BoolSpellings, String> {
    if t.is_none() && f.is_none() {
        return Ok(BoolSpellings::default());
    }
    let d = BoolSpellings::default_lists();
    let t = t.map(|l| l.value.clone()).unwrap_or(d.0);
    let f = f.map(|l| l.value.clone()).unwrap_or(d.1);
    BoolSpellings::new(&t, &f)
}



/// Fill `$1`/`$2` from the declared parameters; a missing one drops the
/// parenthesised part it stands in (`numeric($1,$2)` with none → `numeric`,
/// with one → `numeric(10)`).
fn substitute(template: &str, params: &[u32]) -> String {
    let Some(open) = template.find('(') else { return template.to_string() };
    let Some(close) = template.rfind(')') else { return template.to_string() };
    let inner = &template[open + 1..close];
    let mut out = Vec::new();
    for part in inner.split(',') {
        let part = part.trim();
        let value = match part {
            "$1" => params.first().map(|p| p.to_string()),
            "$2" => params.get(1).map(|p| p.to_string()),
            literal => Some(literal.to_string()),
        };
        match value {
            Some(v) => out.push(v),
            None => break,
        }
    }
    let base = template[..open].trim_end();
    if out.is_empty() { base.to_string() } else { format!("{base}({})", out.join(",")) }
}

/// The create-mode fit: None when `pg` can take every storage class the
/// column holds, else the type to use instead and why.
pub fn fit_to_profile(pg: &PgType, affinity: Affinity, p: &StorageProfile) -> Option<(PgType, String)> {
    let (i, r, t, b) = (p.integer > 0, p.real > 0, p.text > 0, p.blob > 0);
    let classes = || {
        let mut v = Vec::new();
        for (n, name) in [(p.integer, "integer"), (p.real, "real"), (p.text, "text"), (p.blob, "blob")] {
            if n > 0 {
                v.push(format!("{n} {name}"));
            }
        }
        v.join(", ")
    };
    // The narrowest type that holds the classes present, losslessly.
    let natural = || -> PgType {
        if b {
            PgType::Bytea
        } else if t {
            PgType::Text
        } else if r {
            PgType::Double
        } else {
            PgType::BigInt
        }
    };
    // Under INTEGER, REAL and NUMERIC affinity SQLite converts numeric text
    // (and, for INTEGER and NUMERIC, integral reals) on insert: what stays
    // text is not a number, and what stays real is not an integer.
    let numeric_affinity = matches!(affinity, Affinity::Integer | Affinity::Real | Affinity::Numeric);
    let fits = match pg {
        PgType::SmallInt | PgType::Integer | PgType::BigInt | PgType::Byte => !b && !((r || t) && numeric_affinity),
        PgType::Real | PgType::Double | PgType::Numeric { .. } => !(b || (t && numeric_affinity)),
        PgType::Boolean => !b,
        PgType::Timestamp | PgType::Timestamptz | PgType::Date | PgType::Time => !(b || i || r),
        // Numbers are JSON documents; a blob may be SQLite's binary JSON
        // (one that is not is a bad value: widening would take the type
        // from every JSON document beside it).
        PgType::Json | PgType::Jsonb => true,
        PgType::Interval => !(b || r),
        PgType::Inet | PgType::Cidr => !(b || i || r),
        PgType::Uuid => !(i || r),
        PgType::Enum { .. } => !b,
        PgType::TextArray => !(b || i || r),
        PgType::Text | PgType::Varchar(_) | PgType::Char(_) => !b,
        PgType::Bytea => !(i || r),
    };
    if fits {
        return None;
    }
    // An untyped (or BLOB) column without blobs gets the narrowest type of
    // what it holds like any other: only integers make a bigint, not text.
    let to = natural();
    if matches!(pg, PgType::Bytea) && b {
        // Numbers next to blobs: no lossless common type but text of the numbers.
        return None;
    }
    if &to == pg {
        return None;
    }
    Some((to, format!("it holds {}", classes())))
}

/// [`fit_to_profile`], knowing the converter: a date/time column read as
/// epoch numbers takes integers and reals.
pub fn fit_converter(pg: &PgType, conv: &Converter, affinity: Affinity, p: &StorageProfile) -> Option<(PgType, String)> {
    if let Converter::Timestamp { input: TimeInput::Epoch { .. }, .. }
    | Converter::Date { input: TimeInput::Epoch { .. } }
    | Converter::Time { input: TimeInput::Epoch { .. }, .. } = conv
        && p.blob == 0
    {
        return None;
    }
    // Text told to replace invalid UTF-8 takes every storage class.
    if let Converter::Text { utf8: Utf8Policy::ReplaceInvalid, .. } = conv {
        return None;
    }
    fit_to_profile(pg, affinity, p)
}

/// The storage classes whose presence alone makes [`fit_converter`] widen
/// a column of type `pg` read by `conv`, as a bit set. Its conditions are
/// per class, so a profile widens the column only if it holds one of these
/// (the one exception, numbers beside blobs in a bytea column, widens less
/// with the whole profile, never more).
pub fn widening_classes(pg: &PgType, conv: &Converter, affinity: Affinity) -> u8 {
    let mut bits = 0;
    for class in [StorageClass::Integer, StorageClass::Real, StorageClass::Text, StorageClass::Blob] {
        let mut p = StorageProfile::default();
        match class {
            StorageClass::Integer => p.integer = 1,
            StorageClass::Real => p.real = 1,
            StorageClass::Text => p.text = 1,
            StorageClass::Blob => p.blob = 1,
        }
        if fit_converter(pg, conv, affinity, &p).is_some() {
            bits |= class.bit();
        }
    }
    bits
}

/// `*` and `?` globs, as in `--tables 'auth_*'`. Letters match regardless of
/// ASCII case, as SQLite matches table names (`User` and `user` are one table
/// there; SQLite folds only ASCII).
///
/// Iterative, remembering only the last `*` (the classic wildcard matcher):
/// at most `pattern × name` steps. The recursive form it replaces took
/// exponential time on patterns like `*a*a*a*a*a*a*a*a*a*a*b` (found by
/// `tests/fuzz.rs`), and patterns come from mapping files and the command line.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let (mut pi, mut ni) = (0, 0);
    // Where the last `*` was, and the name position it matched up to.
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ni));
                pi += 1;
            }
            Some(&c) if c == '?' || c.eq_ignore_ascii_case(&n[ni]) => {
                pi += 1;
                ni += 1;
            }
            _ => match star {
                // Let the last `*` take one more character and retry.
                Some((sp, sn)) => {
                    pi = sp + 1;
                    ni = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests;
