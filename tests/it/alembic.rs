//! The users' normal case (issue 4): `alembic upgrade head` creates the
//! schema from the app's SQLModel models, ferry fills it, and the app's own
//! models read the data back — types, values, counts — and insert new rows
//! (so the sequences are right). The schema is left exactly as Alembic made it.

use crate::util::cmd::{assert_code, ferry};
use crate::util::{pg, python};
use crate::util::pg::TestServer;

fn catalog(db: &pg::TestDb) -> Vec<Vec<Option<String>>> {
    db.query_strings(
        "SELECT 'con ' || conrelid::regclass || ' ' || conname || ' ' || pg_get_constraintdef(oid) || ' ' || convalidated::text \
           FROM pg_constraint WHERE connamespace = 'public'::regnamespace \
         UNION ALL SELECT 'idx ' || indexdef FROM pg_indexes WHERE schemaname = 'public' \
         UNION ALL SELECT 'col ' || table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || coalesce(column_default, '') \
           FROM information_schema.columns WHERE table_schema = 'public' \
         UNION ALL SELECT 'seq ' || sequence_name || ' ' || data_type FROM information_schema.sequences WHERE sequence_schema = 'public' \
         ORDER BY 1",
    )
}

#[test]
fn migrate_into_the_alembic_schema_and_read_back_with_the_app_models() {
    alembic_round_trip(pg::server());
}

/// The body of the test above, on any server (`pg_versions.rs` runs it on
/// every PostgreSQL version).
pub fn alembic_round_trip(server: &TestServer) {
    let db = server.fresh_db("alembic_flashcase");
    python::alembic_upgrade_head(&db.url);
    let before = catalog(&db);
    assert!(before.len() > 40, "the Alembic schema is there: {before:?}");
    let state = tempfile::tempdir().unwrap();
    let src = python::flashcase_db();
    let out = ferry(&[
        "migrate",
        src.to_str().unwrap(),
        &db.url,
        "--schema",
        "existing",
        "--state-dir",
        state.path().to_str().unwrap(),
    ]);
    assert_code(&out, 0);
    assert!(out.stderr.contains("6 tables migrated and verified"), "{}", out.stderr);
    assert_eq!(catalog(&db), before, "the schema must be exactly what Alembic created");
    // The app's own models: bools are bool, datetimes datetime, values and
    // counts equal to SQLite, and inserts through the ORM get fresh ids.
    python::check_data(&db.url).assert_success();
    // Alembic's bookkeeping is untouched.
    assert_eq!(db.query_scalar_i64("SELECT count(*) FROM alembic_version"), 1);
}
