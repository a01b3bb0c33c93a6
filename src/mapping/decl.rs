//! SQLite declared types as the mapping rules read them: `decimal (10, 5)`
//! is base name `DECIMAL` with parameters 10 and 5, and rule key
//! `DECIMAL(10,5)`. (Affinity, SQLite's own reading of the same text, is
//! `sqlite::affinity`.)

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

/// The key of a declared type with its parameters: `decimal (10, 5)` →
/// `DECIMAL(10,5)`; without parameters the same as [`normalize_type_name`].
pub fn type_key(decl: &str) -> String {
    let base = normalize_type_name(decl);
    match (decl.find('('), decl.rfind(')')) {
        (Some(a), Some(b)) if b > a => {
            let params: Vec<String> =
                decl[a + 1..b].split(',').map(|p| p.split_whitespace().collect::<Vec<_>>().join(" ")).collect();
            format!("{base}({})", params.join(","))
        }
        _ => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn type_names_normalise() {
        assert_eq!(normalize_type_name("decimal (10, 5)"), "DECIMAL");
        assert_eq!(normalize_type_name("\"double precision\""), "DOUBLE PRECISION");
        assert_eq!(normalize_type_name("integer  auto_increment"), "INTEGER AUTO_INCREMENT");
        assert_eq!(type_key("decimal (10, 5)"), "DECIMAL(10,5)");
        assert_eq!(type_key("varchar"), "VARCHAR");
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
