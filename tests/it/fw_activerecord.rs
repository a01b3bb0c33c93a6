//! The framework matrix (issue 13), Rails: the ActiveRecord app in
//! `fixtures/frameworks/activerecord` makes its SQLite schema and,
//! separately, its PostgreSQL schema with its own migration (every column
//! type a Rails migration offers on both), writes a dataset of edge values
//! through its models into SQLite, ferry loads that file into the
//! PostgreSQL schema (`--schema existing`), and the app reads every object
//! back from both and compares every attribute (the app's `compare`: times
//! as instants, decimals by value, JSON by value and type, floats bit for
//! bit; where PostgreSQL keeps another form of a value, as the same dataset
//! seeded straight into a reference PostgreSQL database holds it). Then it
//! creates new objects on PostgreSQL, whose keys must come after the loaded
//! ones.
//!
//! The migration-history tables (`schema_migrations`, `ar_internal_metadata`)
//! are on both sides, as after any Rails deploy: ferry must handle them
//! itself (issue 13 point 5), so the run is not given `--exclude`.

use crate::util::framework::{App, PG, REF, Runtime, SQLITE, round_trip};

#[test]
fn activerecord_app_reads_back_from_postgresql_what_it_wrote_to_sqlite() {
    round_trip(&App {
        name: "activerecord",
        runtime: Runtime::Ruby,
        // A zone far from UTC with a 45-minute offset, so that a value read
        // or written in local time anywhere shows.
        env: &[("TZ", "Pacific/Chatham")],
        prepare: &[
            &["app.rb", "schema", SQLITE],
            &["app.rb", "seed", SQLITE],
            &["app.rb", "schema", PG],
            &["app.rb", "schema", REF],
            &["app.rb", "seed", REF],
        ],
        compare: &["app.rb", "compare", SQLITE, PG, REF],
        create: &["app.rb", "create", PG],
        history_sql: "SELECT version FROM schema_migrations ORDER BY version",
        history_rows: 1,
        compared: "compared 46 objects: ",
    });
}
