//! Declared type → SQLite column affinity, by the five rules of SQLite's
//! "Datatypes In SQLite" §3.1, applied in order on substrings of the declared
//! type, case-insensitively. The order matters and is exactly what makes
//! SQLite's behaviour surprising: `POINT` contains `INT` and is INTEGER,
//! `STRING` matches nothing and is NUMERIC, `CHARINT` is INTEGER.

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
}
