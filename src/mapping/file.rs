//! Mapping files: the TOML format, parsing with errors that name file, line
//! and column, and layering (built-in default, then each `--mapping` file).
//!
//! Parsing is strict (`deny_unknown_fields`): a misspelt key in a file that
//! decides how a production database is converted must not be ignored.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::convert::{NulPolicy, Utf8Policy};

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
    #[error("invalid mapping file {path}: {message}")]
    Invalid { path: PathBuf, message: String },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum BadValuePolicy {
    #[default]
    Abort,
    Reject,
    Null,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub timezone: Option<String>,
    pub on_bad_value: Option<BadValuePolicy>,
    pub nul: Option<NulPolicy>,
    pub invalid_utf8: Option<Utf8Policy>,
    pub boolean_true: Option<Vec<String>>,
    pub boolean_false: Option<Vec<String>>,
    pub datetime_formats: Option<Vec<String>>,
}

/// One rule: what a column becomes. Every field is optional so that a more
/// specific rule can change one thing and inherit the rest.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rule {
    /// Target PostgreSQL type, e.g. "timestamptz", "numeric(12,2)".
    #[serde(rename = "type")]
    pub pg_type: Option<String>,
    /// How date/time values are stored: "text", "epoch-seconds",
    /// "epoch-milliseconds", "epoch-microseconds", "epoch-nanoseconds",
    /// "julian-day", "webkit-microseconds", "apple-seconds".
    pub input: Option<String>,
    /// Extra strftime formats for date/time text.
    pub formats: Option<Vec<String>>,
    pub nul: Option<NulPolicy>,
    pub invalid_utf8: Option<Utf8Policy>,
    pub on_bad_value: Option<BadValuePolicy>,
    /// Column name in PostgreSQL.
    pub rename: Option<String>,
    pub exclude: Option<bool>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TableRule {
    pub rename: Option<String>,
    pub exclude: Option<bool>,
    #[serde(default)]
    pub columns: BTreeMap<String, Rule>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MappingFile {
    #[serde(default)]
    pub settings: Settings,
    /// By declared type base name (upper-cased when loaded).
    #[serde(default)]
    pub types: BTreeMap<String, Rule>,
    /// By affinity name: INTEGER, REAL, TEXT, BLOB, NUMERIC.
    #[serde(default)]
    pub affinity: BTreeMap<String, String>,
    #[serde(default)]
    pub tables: BTreeMap<String, TableRule>,
    /// Only tables matching these glob patterns.
    #[serde(default)]
    pub include_tables: Vec<String>,
    #[serde(default)]
    pub exclude_tables: Vec<String>,
}

/// All mapping files laid over each other, in order: index 0 is the built-in.
#[derive(Debug, Clone)]
pub struct Layers {
    pub files: Vec<(PathBuf, MappingFile)>,
}

impl Layers {
    pub fn load(user_files: &[PathBuf]) -> Result<Layers, Error> {
        let mut files = vec![(
            PathBuf::from("<built-in mappings/default.toml>"),
            parse(Path::new("<built-in mappings/default.toml>"), super::DEFAULT_MAPPING)?,
        )];
        for path in user_files {
            let text = std::fs::read_to_string(path)
                .map_err(|source| Error::Read { path: path.clone(), source })?;
            files.push((path.clone(), parse(path, &text)?));
        }
        Ok(Layers { files })
    }

    /// The last layer that sets a setting wins.
    pub fn setting<T: Clone>(&self, get: impl Fn(&Settings) -> Option<T>) -> Option<T> {
        self.files.iter().rev().find_map(|(_, f)| get(&f.settings))
    }
}

pub fn parse(path: &Path, text: &str) -> Result<MappingFile, Error> {
    let mut file: MappingFile = toml::from_str(text)
        .map_err(|e| Error::Parse { path: path.to_path_buf(), message: e.to_string().trim_end().to_string() })?;
    // Declared type names match case-insensitively; normalise once here.
    file.types = std::mem::take(&mut file.types)
        .into_iter()
        .map(|(k, v)| (normalize_type_name(&k), v))
        .collect();
    for (name, rule) in file.types.iter().chain(file.tables.values().flat_map(|t| t.columns.iter())) {
        if let Some(t) = &rule.pg_type {
            let probe = t.replace("$1", "10").replace("$2", "2");
            super::types::PgType::parse(&probe).map_err(|message| Error::Invalid {
                path: path.to_path_buf(),
                message: format!("rule {name:?}: {message}"),
            })?;
        }
        if let Some(i) = &rule.input {
            super::resolve::parse_time_input(i).map_err(|message| Error::Invalid {
                path: path.to_path_buf(),
                message: format!("rule {name:?}: {message}"),
            })?;
        }
    }
    for (k, v) in &file.affinity {
        if !matches!(k.as_str(), "INTEGER" | "REAL" | "TEXT" | "BLOB" | "NUMERIC") {
            return Err(Error::Invalid {
                path: path.to_path_buf(),
                message: format!("unknown affinity {k:?} (INTEGER, REAL, TEXT, BLOB or NUMERIC)"),
            });
        }
        super::types::PgType::parse(v).map_err(|message| Error::Invalid {
            path: path.to_path_buf(),
            message: format!("affinity {k}: {message}"),
        })?;
    }
    Ok(file)
}

/// `decimal (10, 5)` → `DECIMAL`; `"double precision"` → `DOUBLE PRECISION`.
pub fn normalize_type_name(decl: &str) -> String {
    let base = match decl.find('(') {
        Some(i) => &decl[..i],
        None => decl,
    };
    base.trim()
        .trim_matches(|c| c == '"' || c == '\'' || c == '`' || c == '[' || c == ']')
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_ascii_uppercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses() {
        let layers = Layers::load(&[]).unwrap();
        assert!(layers.files[0].1.types.contains_key("DATETIME"));
    }

    #[test]
    fn unknown_key_is_an_error_with_line_and_column() {
        let err = parse(Path::new("m.toml"), "[settings]\ntimezone = \"UTC\"\ntimezon = 1\n").unwrap_err();
        let msg = err.to_string();
        assert!(msg.contains("m.toml"), "{msg}");
        assert!(msg.contains("line 3"), "{msg}");
        assert!(msg.contains("timezon"), "{msg}");
    }

    #[test]
    fn unknown_type_is_an_error() {
        let err = parse(Path::new("m.toml"), "[types]\nFOO = { type = \"geometry\" }\n").unwrap_err();
        assert!(err.to_string().contains("geometry"), "{err}");
    }

    #[test]
    fn type_names_normalise() {
        assert_eq!(normalize_type_name("decimal (10, 5)"), "DECIMAL");
        assert_eq!(normalize_type_name("\"double precision\""), "DOUBLE PRECISION");
        assert_eq!(normalize_type_name("integer  auto_increment"), "INTEGER AUTO_INCREMENT");
    }
}
