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
use super::convert::{Converter, NulPolicy, TimeInput, Utf8Policy};
use super::datetime::{self, EpochUnit};
use super::file::{normalize_type_name, BadValuePolicy, Layers, Rule};
use super::types::PgType;
use crate::model::{Affinity, Column, StorageProfile, Table};

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("table {table:?}, column {column:?}: {message}")]
    Column { table: String, column: String, message: String },
    #[error("mapping settings: {0}")]
    Settings(String),
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
    pub zone_offset_secs: i32,
    pub on_bad_value: BadValuePolicy,
    pub nul: NulPolicy,
    pub invalid_utf8: Utf8Policy,
    pub booleans: BoolSpellings,
    pub datetime_formats: Vec<String>,
}

pub struct Mapper<'l> {
    layers: &'l Layers,
    settings: Resolved,
}

impl<'l> Mapper<'l> {
    pub fn new(layers: &'l Layers) -> Result<Self, Error> {
        let tz = layers.setting(|s| s.timezone.clone()).unwrap_or_else(|| "UTC".into());
        let zone_offset_secs = parse_zone(&tz).map_err(Error::Settings)?;
        let trues = layers.setting(|s| s.boolean_true.clone());
        let falses = layers.setting(|s| s.boolean_false.clone());
        let booleans = match (trues, falses) {
            (None, None) => BoolSpellings::default(),
            (t, f) => {
                let d = BoolSpellings::default_lists();
                BoolSpellings::new(&t.unwrap_or(d.0), &f.unwrap_or(d.1)).map_err(Error::Settings)?
            }
        };
        Ok(Mapper {
            layers,
            settings: Resolved {
                zone_offset_secs,
                on_bad_value: layers.setting(|s| s.on_bad_value).unwrap_or_default(),
                nul: layers.setting(|s| s.nul).unwrap_or_default(),
                invalid_utf8: layers.setting(|s| s.invalid_utf8).unwrap_or_default(),
                booleans,
                datetime_formats: layers.setting(|s| s.datetime_formats.clone()).unwrap_or_default(),
            },
        })
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
    /// `table.columns`) enables the create-mode fit described above.
    pub fn table(&self, table: &Table, profiles: Option<&[StorageProfile]>) -> Result<TableMap, Error> {
        let mut columns = Vec::new();
        let mut excluded = Vec::new();
        let mut notes = Vec::new();
        for (idx, col) in table.columns.iter().enumerate() {
            let col_rules = self.column_rules(&table.name, &col.name);
            if col_rules.iter().rev().find_map(|r| r.exclude) == Some(true) {
                excluded.push(col.name.clone());
                continue;
            }
            let profile = profiles.and_then(|p| p.get(idx));
            let m = self.column(table, idx, col, &col_rules, profile, &mut notes)?;
            columns.push(m);
        }
        Ok(TableMap {
            source: table.name.clone(),
            target: self.table_target_name(&table.name),
            columns,
            excluded_columns: excluded,
            notes,
        })
    }

    fn column_rules(&self, table: &str, column: &str) -> Vec<&'l Rule> {
        self.layers
            .files
            .iter()
            .filter_map(|(_, f)| f.tables.get(table).and_then(|t| t.columns.get(column)))
            .collect()
    }

    fn type_rules(&self, decl: &str) -> Vec<&'l Rule> {
        let key = normalize_type_name(decl);
        self.layers.files.iter().filter_map(|(_, f)| f.types.get(&key)).collect()
    }

    fn column(
        &self,
        table: &Table,
        idx: usize,
        col: &Column,
        col_rules: &[&Rule],
        profile: Option<&StorageProfile>,
        notes: &mut Vec<String>,
    ) -> Result<ColumnMap, Error> {
        let err = |message: String| Error::Column {
            table: table.name.clone(),
            column: col.name.clone(),
            message,
        };
        let type_rules = self.type_rules(&col.decl_type);
        // Most specific first, latest file first within a level.
        let chain: Vec<&Rule> = col_rules.iter().rev().chain(type_rules.iter().rev()).copied().collect();
        let (_, params) = crate::source::affinity::parse_type_params(&col.decl_type);

        let (template, why, explicit) = if let Some(t) = col_rules.iter().rev().find_map(|r| r.pg_type.clone()) {
            (t, "column rule".to_string(), true)
        } else if let Some(t) = type_rules.iter().rev().find_map(|r| r.pg_type.clone()) {
            (t, format!("declared type {}", normalize_type_name(&col.decl_type)), false)
        } else {
            let aff = affinity_key(col.affinity);
            let t = self
                .layers
                .files
                .iter()
                .rev()
                .find_map(|(_, f)| f.affinity.get(aff).cloned())
                .unwrap_or_else(|| "text".into());
            let shown = if col.decl_type.is_empty() { "(none)".to_string() } else { col.decl_type.clone() };
            (t, format!("{aff} affinity of declared type {shown}"), false)
        };
        let mut pg = PgType::parse(&substitute(&template, &params)).map_err(err)?;
        let mut why = why;
        if !explicit {
            if let Some(p) = profile {
                if let Some((fitted, reason)) = fit_to_profile(&pg, col.affinity, p) {
                    notes.push(format!(
                        "column {:?}: {} would not hold its values ({reason}); created as {fitted}",
                        col.name, pg
                    ));
                    why = format!("{why}, widened to {fitted}: {reason}");
                    pg = fitted;
                }
            }
        }

        let converter = self.converter(&pg, &chain).map_err(err)?;
        let s = &self.settings;
        let target = col_rules.iter().rev().find_map(|r| r.rename.clone()).unwrap_or_else(|| col.name.clone());
        Ok(ColumnMap {
            source: col.name.clone(),
            source_index: idx,
            target,
            pg_type: pg,
            converter,
            on_bad_value: chain.iter().find_map(|r| r.on_bad_value).unwrap_or(s.on_bad_value),
            why,
            not_null: col.not_null || col.pk_position > 0 && table.row_key != crate::model::RowKey::Rowid,
        })
    }

    /// The converter for `pg` with the options of the rule chain (most
    /// specific first) and the settings.
    fn converter(&self, pg: &PgType, chain: &[&Rule]) -> Result<Converter, String> {
        let mut converter = Converter::for_type(pg);
        let s = &self.settings;
        match &mut converter {
            Converter::Bool(sp) => *sp = s.booleans.clone(),
            Converter::Text { nul, utf8, .. } => {
                *nul = chain.iter().find_map(|r| r.nul).unwrap_or(s.nul);
                *utf8 = chain.iter().find_map(|r| r.invalid_utf8).unwrap_or(s.invalid_utf8);
            }
            Converter::Timestamp { input, zone_offset_secs, .. } => {
                *input = self.time_input(chain)?;
                *zone_offset_secs = s.zone_offset_secs;
            }
            Converter::Date { input } => *input = self.time_input(chain)?,
            _ => {}
        }
        Ok(converter)
    }

    /// Existing-schema mode: the target column's type is the anchor. Give
    /// `cm` that type and the converter that reaches it, with the options
    /// the mapping files set for this column. `epoch_guess` is the unit
    /// inferred from the data for numbers going into a date/time column
    /// when no rule says.
    pub fn retarget(
        &self,
        table: &Table,
        cm: &mut ColumnMap,
        pg: PgType,
        epoch_guess: Option<(EpochUnit, i64)>,
    ) -> Result<(), Error> {
        let col = &table.columns[cm.source_index];
        let col_rules = self.column_rules(&table.name, &col.name);
        let type_rules = self.type_rules(&col.decl_type);
        let chain: Vec<&Rule> = col_rules.iter().rev().chain(type_rules.iter().rev()).copied().collect();
        let err = |message: String| Error::Column { table: table.name.clone(), column: col.name.clone(), message };
        let mut converter = self.converter(&pg, &chain).map_err(err)?;
        let explicit_input = chain.iter().any(|r| r.input.is_some());
        if let (false, Some((unit, origin_micros))) = (explicit_input, epoch_guess) {
            match &mut converter {
                Converter::Timestamp { input, .. } | Converter::Date { input } => {
                    *input = TimeInput::Epoch { unit, origin_micros };
                }
                _ => {}
            }
        }
        cm.why = format!("target column type {pg}");
        cm.pg_type = pg;
        cm.converter = converter;
        Ok(())
    }

    fn time_input(&self, chain: &[&Rule]) -> Result<TimeInput, String> {
        let formats = chain
            .iter()
            .find_map(|r| r.formats.clone())
            .unwrap_or_else(|| self.settings.datetime_formats.clone());
        match chain.iter().find_map(|r| r.input.clone()) {
            None => Ok(TimeInput::Text { formats }),
            Some(i) => match parse_time_input(&i)? {
                None => Ok(TimeInput::Text { formats }),
                Some((unit, origin_micros)) => Ok(TimeInput::Epoch { unit, origin_micros }),
            },
        }
    }
}

/// `input = "…"` of a date/time rule: None for text, else unit and origin.
pub fn parse_time_input(s: &str) -> Result<Option<(EpochUnit, i64)>, String> {
    Ok(Some(match s {
        "text" => return Ok(None),
        "epoch-seconds" => (EpochUnit::Seconds, datetime::UNIX),
        "epoch-milliseconds" => (EpochUnit::Millis, datetime::UNIX),
        "epoch-microseconds" => (EpochUnit::Micros, datetime::UNIX),
        "epoch-nanoseconds" => (EpochUnit::Nanos, datetime::UNIX),
        "julian-day" => (EpochUnit::JulianDay, datetime::UNIX),
        "webkit-microseconds" => (EpochUnit::Micros, datetime::WEBKIT_1601),
        "apple-seconds" => (EpochUnit::Seconds, datetime::APPLE_2001),
        other => {
            return Err(format!(
                "unknown input {other:?} (text, epoch-seconds, epoch-milliseconds, epoch-microseconds, epoch-nanoseconds, julian-day, webkit-microseconds, apple-seconds)"
            ));
        }
    }))
}

fn affinity_key(a: Affinity) -> &'static str {
    match a {
        Affinity::Integer => "INTEGER",
        Affinity::Text => "TEXT",
        Affinity::Blob => "BLOB",
        Affinity::Real => "REAL",
        Affinity::Numeric => "NUMERIC",
    }
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
        PgType::SmallInt | PgType::Integer | PgType::BigInt => !b && !((r || t) && numeric_affinity),
        PgType::Real | PgType::Double | PgType::Numeric { .. } => !b && !(t && numeric_affinity),
        PgType::Boolean => !b,
        PgType::Timestamp | PgType::Timestamptz | PgType::Date | PgType::Time => !(b || i || r),
        PgType::Json | PgType::Jsonb => !(b || i || r),
        PgType::Uuid => !(i || r),
        PgType::Enum { .. } => !b,
        PgType::Text | PgType::Varchar(_) => !b,
        PgType::Bytea => !(i || r),
    };
    if fits {
        return None;
    }
    let mut to = natural();
    if matches!(pg, PgType::Bytea) && !b {
        to = PgType::Text;
    }
    if matches!(pg, PgType::Bytea) && b {
        // Numbers next to blobs: no lossless common type but text of the numbers.
        return None;
    }
    if &to == pg {
        return None;
    }
    Some((to, format!("it holds {}", classes())))
}

fn parse_zone(tz: &str) -> Result<i32, String> {
    let t = tz.trim();
    if t.eq_ignore_ascii_case("UTC") || t.eq_ignore_ascii_case("Etc/UTC") || t == "Z" {
        return Ok(0);
    }
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => {
            return Err(format!(
                "time zone {tz:?}: give UTC or a fixed offset like +02:00 (named zones are not supported yet)"
            ));
        }
    };
    let (h, m) = rest.split_once(':').unwrap_or((rest, "0"));
    let h: i32 = h.parse().map_err(|_| format!("time zone {tz:?}: bad offset"))?;
    let m: i32 = m.parse().map_err(|_| format!("time zone {tz:?}: bad offset"))?;
    if h > 15 || m > 59 {
        return Err(format!("time zone {tz:?}: offset out of range"));
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// `*` and `?` globs, as in `--tables 'auth_*'`.
pub fn glob_match(pattern: &str, name: &str) -> bool {
    fn rec(p: &[char], n: &[char]) -> bool {
        match (p.first(), n.first()) {
            (None, None) => true,
            (Some('*'), _) => rec(&p[1..], n) || (!n.is_empty() && rec(p, &n[1..])),
            (Some('?'), Some(_)) => rec(&p[1..], &n[1..]),
            (Some(a), Some(b)) if a == b => rec(&p[1..], &n[1..]),
            _ => false,
        }
    }
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    rec(&p, &n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn substitutes_declared_parameters() {
        assert_eq!(substitute("numeric($1,$2)", &[10, 2]), "numeric(10,2)");
        assert_eq!(substitute("numeric($1,$2)", &[10]), "numeric(10)");
        assert_eq!(substitute("numeric($1,$2)", &[]), "numeric");
        assert_eq!(substitute("varchar($1)", &[]), "varchar");
        assert_eq!(substitute("bigint", &[3]), "bigint");
    }

    #[test]
    fn profile_fit_widens_only_when_needed() {
        let prof = |integer, real, text, blob| StorageProfile { null: 0, integer, real, text, blob };
        assert!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(5, 0, 0, 0)).is_none());
        assert_eq!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(1, 1, 1, 0)).unwrap().0, PgType::Text);
        assert_eq!(fit_to_profile(&PgType::BigInt, Affinity::Integer, &prof(1, 1, 0, 0)).unwrap().0, PgType::Double);
        assert!(fit_to_profile(&PgType::Timestamp, Affinity::Numeric, &prof(0, 0, 9, 0)).is_none());
        assert_eq!(fit_to_profile(&PgType::Timestamp, Affinity::Numeric, &prof(2, 0, 1, 0)).unwrap().0, PgType::Text);
        assert_eq!(fit_to_profile(&PgType::Text, Affinity::Text, &prof(0, 0, 3, 1)).unwrap().0, PgType::Bytea);
        assert_eq!(fit_to_profile(&PgType::Bytea, Affinity::Blob, &prof(1, 1, 1, 0)).unwrap().0, PgType::Text);
        assert!(fit_to_profile(&PgType::Boolean, Affinity::Numeric, &prof(2, 0, 0, 0)).is_none());
    }

    #[test]
    fn zones_and_globs() {
        assert_eq!(parse_zone("UTC").unwrap(), 0);
        assert_eq!(parse_zone("+02:00").unwrap(), 7200);
        assert_eq!(parse_zone("-05:30").unwrap(), -19800);
        assert!(parse_zone("Europe/Paris").is_err());
        assert!(glob_match("auth_*", "auth_user"));
        assert!(!glob_match("auth_*", "user"));
        assert!(glob_match("t?", "t1"));
    }
}
