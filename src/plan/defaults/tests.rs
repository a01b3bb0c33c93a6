//! Tests of `plan::defaults`: which SQLite `DEFAULT` clauses become
//! PostgreSQL defaults, per target type, and which are listed instead.

use super::*;

fn column(decl: &str, default: &str) -> Column {
    Column {
        name: "c".into(),
        decl_type: decl.into(),
        affinity: crate::sqlite::affinity::affinity(decl),
        not_null: false,
        default: Some(default.into()),
        pk_position: 0,
        profile: None,
    }
}

fn map(ty: PgType) -> ColumnMap {
    ColumnMap {
        source: "c".into(),
        source_index: 0,
        target: "c".into(),
        converter: Converter::for_type(&ty),
        pg_type: ty,
        on_bad_value: Default::default(),
        why: String::new(),
        not_null: false,
        explicit: false,
        widen_on: 0,
        reading: None,
    }
}

fn carry(decl: &str, default: &str, ty: PgType) -> Result<Option<String>, String> {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    column_default(&conn, &column(decl, default), &map(ty))
}

#[test]
fn constants_become_typed_literals_read_as_the_load_reads_them() {
    assert_eq!(
        carry("BOOLEAN", "0", PgType::Boolean),
        Ok(Some("false".into()))
    );
    assert_eq!(
        carry("BOOLEAN", "TRUE", PgType::Boolean),
        Ok(Some("true".into()))
    );
    assert_eq!(
        carry("INTEGER", "-1", PgType::BigInt),
        Ok(Some("'-1'::bigint".into()))
    );
    assert_eq!(
        carry("INTEGER", "'5'", PgType::BigInt),
        Ok(Some("'5'::bigint".into())),
        "affinity applies"
    );
    assert_eq!(
        carry("REAL", "(-1.5)", PgType::Double),
        Ok(Some("'-1.5'::double precision".into()))
    );
    assert_eq!(
        carry("TEXT", "'it''s'", PgType::Text),
        Ok(Some("'it''s'::text".into()))
    );
    assert_eq!(
        carry("BLOB", "X'00fF'", PgType::Bytea),
        Ok(Some("'\\x00ff'::bytea".into()))
    );
    assert_eq!(carry("TEXT", "NULL", PgType::Text), Ok(None));
    assert_eq!(
        carry("TEXT", "\"draft\"", PgType::Text),
        Ok(Some("'draft'::text".into()))
    );
    let n = PgType::Numeric {
        precision: Some(10),
        scale: Some(2),
    };
    assert_eq!(
        carry("NUMERIC(10,2)", "0", n),
        Ok(Some("'0.00'::numeric(10,2)".into()))
    );
    assert!(
        carry("BOOLEAN", "'maybe'", PgType::Boolean)
            .unwrap_err()
            .contains("cannot hold")
    );
}

#[test]
fn clock_defaults_keep_sqlite_s_format_per_target_type() {
    let utc = "(statement_timestamp() AT TIME ZONE 'UTC')";
    assert_eq!(
        carry("DATETIME", "CURRENT_TIMESTAMP", PgType::Timestamp),
        Ok(Some(format!(
            "(to_char({utc}, 'YYYY\"-\"MM\"-\"DD\" \"HH24\":\"MI\":\"SS'))::timestamp"
        )))
    );
    assert_eq!(
        carry(
            "TEXT",
            "(strftime('%Y-%m-%d %H:%M:%f', 'now'))",
            PgType::Text
        ),
        Ok(Some(format!(
            "to_char({utc}, 'YYYY\"-\"MM\"-\"DD\" \"HH24\":\"MI\":\"SS.MS')"
        )))
    );
    assert_eq!(
        carry("DATE", "(date('now'))", PgType::Date),
        Ok(Some(format!(
            "(to_char({utc}, 'YYYY\"-\"MM\"-\"DD'))::date"
        )))
    );
    assert!(
        carry(
            "DATETIME",
            "(datetime('now','localtime'))",
            PgType::Timestamptz
        )
        .unwrap()
        .unwrap()
        .contains("statement_timestamp()::timestamp")
    );
    assert_eq!(
        carry("INTEGER", "(strftime('%s','now'))", PgType::BigInt),
        Ok(Some(format!("floor(extract(epoch FROM {utc}))::bigint")))
    );
    assert!(
        carry("BOOLEAN", "CURRENT_TIMESTAMP", PgType::Boolean)
            .unwrap_err()
            .contains("cannot hold")
    );
}

#[test]
fn julian_day_now_into_a_double() {
    let conn = rusqlite::Connection::open_in_memory().unwrap();
    let expr = carry("REAL", "(julianday('now'))", PgType::Double)
        .unwrap()
        .unwrap();
    assert!(
        expr.contains("2440587.5") && expr.ends_with("::double precision"),
        "{expr}"
    );
    // The constant is right: 1970-01-01 00:00 UTC is Julian day 2440587.5.
    let jd: f64 = conn
        .query_row("SELECT julianday('1970-01-01 00:00:00')", [], |r| r.get(0))
        .unwrap();
    assert_eq!(jd, 2440587.5);
    assert!(carry("TEXT", "(julianday('now'))", PgType::Text).is_err());
}

#[test]
fn other_expressions_are_listed() {
    assert!(
        carry("TEXT", "(lower(hex(randomblob(16))))", PgType::Text)
            .unwrap_err()
            .contains("no PostgreSQL equivalent")
    );
    assert!(carry("INTEGER", "(1 + 1)", PgType::BigInt).is_err());
    assert!(carry("DATETIME", "(datetime('now', '+1 day'))", PgType::Timestamp).is_err());
}

#[test]
fn parentheses_and_arguments() {
    assert_eq!(strip_parens("((1))"), "1");
    assert_eq!(strip_parens("(a) + (b)"), "(a) + (b)");
    assert_eq!(
        string_args("('%Y', 'now')"),
        Some(vec!["%Y".to_string(), "now".to_string()])
    );
    assert_eq!(string_args("('a''b')"), Some(vec!["a'b".to_string()]));
    assert_eq!(string_args("(x)"), None);
    assert_eq!(
        string_args("(CURRENT_TIMESTAMP, 'localtime')"),
        Some(vec![
            "current_timestamp".to_string(),
            "localtime".to_string()
        ])
    );
    assert_eq!(
        Now::parse("STRFTIME('%Y-%m-%d %H:%M:%f', 'NOW')"),
        Some(Now {
            format: "%Y-%m-%d %H:%M:%f".into(),
            local: false
        }),
        "Rails 7 writes it in capitals"
    );
    assert_eq!(
        Now::parse("datetime(CURRENT_TIMESTAMP, 'localtime')"),
        Some(Now {
            format: "%Y-%m-%d %H:%M:%S".into(),
            local: true
        })
    );
    assert_eq!(
        to_char_pattern("%Y-%m-%dT%H:%M:%fZ").as_deref(),
        Some("YYYY\"-\"MM\"-\"DD\"T\"HH24\":\"MI\":\"SS.MS\"Z\"")
    );
    assert_eq!(to_char_pattern("%w"), None);
}
