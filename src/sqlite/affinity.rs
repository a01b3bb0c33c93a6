//! Declared type → SQLite column affinity, by the five rules of SQLite's
//! "Datatypes In SQLite" §3.1, applied in order on substrings of the declared
//! type, case-insensitively. The order matters and is exactly what makes
//! SQLite's behaviour surprising: `POINT` contains `INT` and is INTEGER,
//! `STRING` matches nothing and is NUMERIC, `CHARINT` is INTEGER.
//!
//! Also [`parse_type_params`], which splits `decimal (10, 5)` into a base
//! name and its numeric parameters for the mapping rules.

use crate::model::Affinity;

/// The affinity SQLite gives a column declared as `decl`.
///
/// <https://www.sqlite.org/datatype3.html#determination_of_column_affinity>
pub fn affinity(decl: &str) -> Affinity {
    let up = decl.to_ascii_uppercase();
    let has = |s: &str| up.contains(s);
    if has("INT") {
        Affinity::Integer
    } else if has("CHAR") || has("CLOB") || has("TEXT") {
        Affinity::Text
    } else if has("BLOB") || up.trim().is_empty() {
        Affinity::Blob
    } else if has("REAL") || has("FLOA") || has("DOUB") {
        Affinity::Real
    } else {
        Affinity::Numeric
    }
}

/// Split a declared type into its base name (upper-cased, trimmed, quotes and
/// brackets removed, inner whitespace collapsed) and its parenthesised
/// numeric parameters: `decimal (10, 5)` → (`DECIMAL`, [10, 5]).
///
/// Parameters that are not unsigned integers (`VARCHAR(MAX)`, `NUMBER(-1)`)
/// give an empty list rather than a partial one. Text after the closing
/// parenthesis is kept in the base name (`NUMERIC(10) UNSIGNED` →
/// `NUMERIC UNSIGNED`).
pub fn parse_type_params(decl: &str) -> (String, Vec<u32>) {
    let (head, params, tail) = match decl.find('(') {
        Some(open) => {
            let rest = &decl[open + 1..];
            match rest.find(')') {
                Some(close) => (&decl[..open], Some(&rest[..close]), &rest[close + 1..]),
                None => (&decl[..open], Some(rest), ""),
            }
        }
        None => (decl, None, ""),
    };
    let mut base = String::with_capacity(decl.len());
    for word in head
        .split_whitespace()
        .chain(tail.split_whitespace())
        .map(|w| w.trim_matches(|c| matches!(c, '"' | '\'' | '`' | '[' | ']')))
        .filter(|w| !w.is_empty())
    {
        if !base.is_empty() {
            base.push(' ');
        }
        base.push_str(&word.to_ascii_uppercase());
    }
    let params = params
        .and_then(|p| {
            p.split(',')
                .map(|n| n.trim().trim_start_matches('+').parse::<u32>().ok())
                .collect::<Option<Vec<u32>>>()
        })
        .unwrap_or_default();
    (base, params)
}

#[cfg(test)]
mod tests {
    use super::*;
    use Affinity::*;

    #[test]
    fn affinity_rules_in_order() {
        let cases: &[(&str, Affinity)] = &[
            // rule 1: INT anywhere
            ("INTEGER", Integer),
            ("int", Integer),
            ("INTERGER", Integer),
            ("intege", Integer),
            ("INTEGER NON", Integer),
            ("integer auto_increment", Integer),
            ("smallint unsigned", Integer),
            ("short integer", Integer),
            ("BIGINT", Integer),
            ("INT64", Integer),
            ("POINT", Integer),
            ("CHARINT", Integer), // rule 1 wins over rule 2
            // rule 2: CHAR, CLOB, TEXT
            ("TEXT", Text),
            ("text nocase", Text),
            ("text(19)", Text),
            ("VARCHAR(255)", Text),
            ("NVARCHAR(40)", Text),
            ("character(20)", Text),
            ("LONGVARCHAR", Text),
            ("CLOB", Text),
            ("BLOBTEXT", Text), // rule 2 wins over rule 3
            // rule 3: BLOB or no type
            ("BLOB", Blob),
            ("", Blob),
            ("  ", Blob),
            // rule 4: REAL, FLOA, DOUB
            ("REAL", Real),
            ("float8", Real),
            ("FLOAT", Real),
            ("DOUBLE", Real),
            ("\"double precision\"", Real),
            ("double precision", Real),
            // rule 5: everything else
            ("NUMERIC", Numeric),
            ("numeric(20, 6)", Numeric),
            ("decimal (10, 5)", Numeric),
            ("BOOLEAN", Numeric),
            ("DATETIME", Numeric),
            ("TIMESTAMP", Numeric),
            ("STRING", Numeric),
            ("GUID", Numeric),
            ("LONG", Numeric),
            ("ADDRESS", Numeric),
            ("JSON", Numeric),
        ];
        for &(decl, want) in cases {
            assert_eq!(affinity(decl), want, "declared type {decl:?}");
        }
    }

    #[test]
    fn type_params() {
        let cases: &[(&str, &str, &[u32])] = &[
            ("decimal (10, 5)", "DECIMAL", &[10, 5]),
            ("VARCHAR(255)", "VARCHAR", &[255]),
            ("NVARCHAR(40)", "NVARCHAR", &[40]),
            ("numeric(20, 6)", "NUMERIC", &[20, 6]),
            ("text(19)", "TEXT", &[19]),
            ("NUMERIC(10,2)", "NUMERIC", &[10, 2]),
            ("decimal(1, 0)", "DECIMAL", &[1, 0]),
            ("  INTEGER  ", "INTEGER", &[]),
            ("", "", &[]),
            ("\"double precision\"", "DOUBLE PRECISION", &[]),
            ("double   precision", "DOUBLE PRECISION", &[]),
            ("text nocase", "TEXT NOCASE", &[]),
            ("VARCHAR(MAX)", "VARCHAR", &[]),
            ("NUMBER(-1)", "NUMBER", &[]),
            ("NUMERIC(10) UNSIGNED", "NUMERIC UNSIGNED", &[10]),
            ("character varying(+20", "CHARACTER VARYING", &[20]),
        ];
        for &(decl, base, params) in cases {
            assert_eq!(
                parse_type_params(decl),
                (base.to_string(), params.to_vec()),
                "declared type {decl:?}"
            );
        }
    }
}
