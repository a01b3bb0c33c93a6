//! Tests of `plan::history`: which tables are recognised as migration
//! history, and how their revisions compare.

use super::*;

fn table(name: &str, cols: &[&str]) -> crate::model::Table {
    crate::model::Table {
        name: name.into(),
        columns: cols
            .iter()
            .map(|c| crate::model::Column {
                name: c.to_string(),
                decl_type: "TEXT".into(),
                affinity: crate::model::Affinity::Text,
                not_null: false,
                default: None,
                pk_position: 0,
                profile: None,
            })
            .collect(),
        primary_key: vec![],
        row_key: crate::model::RowKey::Rowid,
        autoincrement: false,
        sqlite_sequence: None,
        foreign_keys: vec![],
        indexes: vec![],
        row_count: 0,
        strict: false,
    }
}

#[test]
fn recognised_by_name_and_shape() {
    let t = table("django_migrations", &["id", "app", "name", "applied"]);
    assert_eq!(recognise(&t).map(|k| k.framework), Some("Django"));
    // A table of the application that is only called `migrations`.
    assert!(recognise(&table("migrations", &["id", "bird", "km"])).is_none());
    assert_eq!(
        recognise(&table("migrations", &["id", "migration", "batch"])).map(|k| k.framework),
        Some("Laravel")
    );
    assert_eq!(
        recognise(&table("migrations", &["id", "timestamp", "name"])).map(|k| k.framework),
        Some("TypeORM")
    );
    assert_eq!(
        recognise(&table("schema_migrations", &["version"])).map(|k| k.framework),
        Some("Rails/Ecto")
    );
    assert_eq!(
        recognise(&table("schema_migrations", &["version", "dirty"])).map(|k| k.framework),
        Some("golang-migrate")
    );
    // Names are exact: PostgreSQL keeps the case of a quoted name.
    assert!(recognise(&table("sequelizemeta", &["name"])).is_none());
    assert!(
        recognise(&table("_prisma_migrations", &["migration_name"])).is_none(),
        "needs its applied columns"
    );
}

#[test]
fn one_entry_per_name_and_shape() {
    for (i, a) in KNOWN.iter().enumerate() {
        for b in &KNOWN[i + 1..] {
            assert!(
                !(a.table == b.table && a.key == b.key),
                "{} listed twice",
                a.table
            );
        }
    }
}

#[test]
fn booleans_compare_as_numbers() {
    assert_eq!(normalize_bool(Some("TRUE".into())).as_deref(), Some("1"));
    assert_eq!(normalize_bool(Some("0".into())).as_deref(), Some("0"));
    assert_eq!(normalize_bool(None), None);
}

#[test]
fn a_difference_names_revisions_and_caps_the_list() {
    let c = HistoryCheck {
        table: "alembic_version".into(),
        target: "alembic_version".into(),
        framework: "Alembic",
        kind: Kind::Revisions,
        revision_columns: vec!["version_num"],
        source_rows: 1,
        target_rows: 1,
        target_empty: false,
        only_source: vec!["version_num=\"abc\"".into()],
        only_source_count: 1,
        only_target: (0..LISTED)
            .map(|i| format!("version_num=\"{i}\""))
            .collect(),
        only_target_count: 12,
    };
    assert!(c.refuses());
    let d = c.describe();
    assert!(
        d.contains("different versions")
            && d.contains("version_num=\"abc\"")
            && d.contains("and 2 more"),
        "{d}"
    );
}
