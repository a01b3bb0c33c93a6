//! The framework matrix, Django (issue 13): `fixtures/frameworks/django` has a
//! model for every built-in field that works on SQLite and PostgreSQL
//! (including DurationField, UUIDField, JSONField, GenericIPAddressField,
//! DecimalField, TimeField, BinaryField, a stored GeneratedField), a foreign
//! key, a one-to-one, a many-to-many, a UUID and a composite primary key.
//! Django's migrations make both schemas; see `util::framework` for the flow.
//!
//! Nothing is set aside for ferry: `django_migrations`, `interval` and `inet`
//! columns are part of the test, so it fails until ferry handles them
//! (`fixtures/frameworks/README.md` has the matrix).

use crate::util::framework::run_matrix;

#[test]
fn django_app_reads_back_from_postgresql_what_it_wrote_to_sqlite() {
    run_matrix("django");
}
