//! The framework matrix, Django (issue 13): `fixtures/frameworks/django` has a
//! model for every built-in field that works on SQLite and PostgreSQL
//! (including DurationField, UUIDField, JSONField, GenericIPAddressField,
//! DecimalField, TimeField, BinaryField, a stored GeneratedField), a foreign
//! key, a one-to-one, a many-to-many, a UUID and a composite primary key.
//! Django's migrations make both schemas; `util::framework` has the round trip
//! every app of the matrix goes through.
//!
//! Nothing is set aside for ferry: `django_migrations`, `interval` and `inet`
//! columns are part of the test, so it fails until ferry handles them
//! (`fixtures/frameworks/README.md` has the matrix).

use crate::util::cmd::assert_code;
use crate::util::framework::{App, Runtime, round_trip, run_limits};

/// `python run.py prepare|check|create` (the databases come as `FW_*`).
const DJANGO: App = App {
    name: "django",
    runtime: Runtime::Python,
    env: &[],
    prepare: &[&["run.py", "prepare"]],
    compare: &["run.py", "check"],
    create: &["run.py", "create"],
    history_sql: "SELECT app || ' ' || name || ' ' || applied::text FROM django_migrations ORDER BY id",
    history_rows: 1,
    compared: "django: 452 values compared, 0 differences",
};

#[test]
fn django_app_reads_back_from_postgresql_what_it_wrote_to_sqlite() {
    round_trip(&DJANGO);
}

/// Django stores a NUL character in a TextField and U+0000 inside a JSONField
/// on SQLite; PostgreSQL's `text` and `jsonb` cannot hold either, so there is
/// no lossless load: `plan` must name both, and `migrate` must refuse with the
/// table, column, row and reason, leaving the table empty.
#[test]
fn django_values_postgresql_cannot_hold_are_refused_by_name() {
    let (plan, migrate, target) = run_limits(&DJANGO, &["run.py", "limits"]);
    assert_code(&plan, 1);
    let said = format!("{}{}", plan.stdout, plan.stderr);
    for needle in [
        r#"table "matrix_scalar", column "text""#,
        "NUL byte",
        r#"table "matrix_scalar", column "doc""#,
        r"\u0000 cannot be stored in jsonb",
    ] {
        assert!(
            said.contains(needle),
            "plan does not say {needle:?}\n{plan}"
        );
    }
    assert_code(&migrate, 2);
    assert!(
        migrate
            .stderr
            .contains(r#"table "matrix_scalar", column "text", rowid 1"#)
            && migrate.stderr.contains("NUL byte"),
        "{migrate}"
    );
    assert_eq!(
        target.query_scalar_i64("SELECT count(*) FROM matrix_scalar"),
        0,
        "nothing of the refused table may be left on PostgreSQL"
    );
}
